// Conversion of Pythia 8 event records (as columns, e.g. from pythia8mc's Pythia.nextBatch awkward
// output) into the event model, without files.
#pragma once

#include <cstdint>

#include "recast/event.hpp"

namespace recast {

/// Column pointers of a batch of Pythia 8 events, all particles of all events concatenated.
/// Each event is the full Pythia record *including* the system entry at index 0 (id 90);
/// `offsets` has n_events + 1 entries.
struct PythiaColumns {
    std::int64_t n_events = 0;
    const std::int64_t* offsets = nullptr;
    const std::int32_t *id = nullptr, *status = nullptr, *mother1 = nullptr, *mother2 = nullptr,
                       *daughter1 = nullptr;
    const double *px = nullptr, *py = nullptr, *pz = nullptr, *e = nullptr, *m = nullptr;
    const double* weight = nullptr;  ///< per event, may be null (weight 1)
};

/// Appends the events to `out`, dropping the system entry (local index = Pythia index - 1).
/// Parents follow Pythia's Particle::motherList() (ranges for string fragmentation, two mothers
/// otherwise); statuses are mapped with pdg::pythia_status_to_hepmc, as Pythia's own HepMC
/// interface does. Event numbers are first_event_number, first_event_number + 1, ...
/// Throws InputError (source `out.source`) on inconsistent columns.
void append_pythia_events(EventBatch& out, const PythiaColumns& cols, std::int64_t first_event_number);

}  // namespace recast
