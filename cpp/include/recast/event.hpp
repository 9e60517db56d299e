// Columnar event model: the particles of many events stored as flat columns plus offsets, in the
// style of scikit-hep/fastjet's multi-event interface and pyhepmc's numpy view. No per-particle
// objects exist anywhere in the pipeline.
//
// Conventions
//  * momenta and masses in GeV (readers convert MeV input);
//  * `status` follows the HepMC convention: 1 = undecayed final state, 2 = decayed (hadrons, taus,
//    muons), 4 = beam particle, 11..200 generator specific (Pythia: |Pythia status|);
//  * `charge3` is three times the electric charge, computed from the PDG id (recast/pdg.hpp);
//  * mother information is a per-particle list of parent indices (event-local, 0-based) stored as
//    CSR: the parents of global particle i are parents[parent_offsets[i] .. parent_offsets[i+1]).
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

namespace recast {

/// Read-only view of a contiguous array (pointer + size), e.g. a numpy array or a std::vector.
template <class T>
struct Span {
    const T* ptr = nullptr;
    std::size_t len = 0;
    Span() = default;
    Span(const T* p, std::size_t n) : ptr(p), len(n) {}
    Span(const std::vector<T>& v) : ptr(v.data()), len(v.size()) {}  // NOLINT: implicit on purpose
    const T& operator[](std::size_t i) const { return ptr[i]; }
    std::size_t size() const noexcept { return len; }
    bool empty() const noexcept { return len == 0; }
    const T* begin() const noexcept { return ptr; }
    const T* end() const noexcept { return ptr + len; }
    const T& back() const { return ptr[len - 1]; }
};

/// pdg::charge3 that is defined for every int32 (0 for -2^31, which EventView::validate rejects).
int safe_charge3(std::int32_t pid) noexcept;

/// Non-owning view of a batch of events with the layout of EventBatch. This is what the event
/// loop consumes, so that columns handed in from numpy are used in place (zero copy).
struct EventView {
    Span<std::int64_t> event_number;
    Span<double> weight;
    Span<std::int64_t> particle_offsets;  ///< n_events + 1 entries
    Span<double> px, py, pz, e, mass;
    Span<std::int32_t> pid, status, charge3;
    Span<std::int64_t> parent_offsets;  ///< n_particles + 1 entries
    Span<std::int32_t> parents;
    std::string source;

    std::size_t n_events() const noexcept { return particle_offsets.empty() ? 0 : particle_offsets.size() - 1; }
    std::size_t n_particles() const noexcept { return pid.size(); }
    /// Checks all invariants (sizes, offsets, parent indices in range, pid != -2^31, no infinite
    /// momentum, mass or weight: NaN is allowed and means missing); throws InputError naming `source`,
    /// the event, the particle and the column on violation. Offsets are checked before they are used.
    void validate() const;
};

struct EventBatch {
    // ---- per event ---------------------------------------------------------------------------
    std::vector<std::int64_t> event_number;  ///< event number as given by the source
    std::vector<double> weight;              ///< nominal event weight (1 if the source has none)
    std::vector<std::int64_t> particle_offsets{0};  ///< size n_events()+1

    // ---- per particle ------------------------------------------------------------------------
    std::vector<double> px, py, pz, e, mass;  ///< GeV; `mass` is the generated mass
    std::vector<std::int32_t> pid;            ///< PDG Monte Carlo particle id
    std::vector<std::int32_t> status;         ///< HepMC status convention, see above
    std::vector<std::int32_t> charge3;        ///< 3 x electric charge
    std::vector<std::int64_t> parent_offsets{0};  ///< size n_particles()+1
    std::vector<std::int32_t> parents;            ///< event-local parent indices

    // ---- further weights per event (the generator's variation weights from an event file) ----
    /// Names of the weights an event file gives besides the nominal one (HepMC3 run-info 'W' line,
    /// HepMC2 'N' line: all names but the first), the same for all events of the batch; empty when
    /// the source gives none, or when its events do not all carry the same names (then they are
    /// dropped: `extra_weights_dropped`).
    std::vector<std::string> extra_weight_names;
    /// n_events() x extra_weight_names.size() values, row-major (event by event).
    std::vector<double> extra_weights;
    bool extra_weights_dropped = false;

    // ---- per batch ---------------------------------------------------------------------------
    double cross_section_pb = std::numeric_limits<double>::quiet_NaN();  ///< last value the source gave
    double cross_section_error_pb = std::numeric_limits<double>::quiet_NaN();
    std::string source;  ///< file name or generator description, for messages

    std::size_t n_events() const noexcept { return particle_offsets.size() - 1; }
    std::size_t n_particles() const noexcept { return pid.size(); }

    /// Removes all events (keeps `source` and the cross section).
    void clear();
    /// Appends all events of `other` (cross section: `other`'s value wins when it has one; its
    /// further weights are kept when both batches carry the same names or this one is empty).
    void append(const EventBatch& other);
    /// Appends all events of a view (copying its columns; a view has no further weights).
    void append(const EventView& other);

    // ---- incremental construction (used by the readers) -------------------------------------
    void begin_event(std::int64_t number, double w);
    /// begin_event with the event's further weights (`names`, one value each in `values`).
    void begin_event(std::int64_t number, double w, const std::vector<std::string>& names, Span<double> values);
    /// Adds a particle to the current event; its parents are added with add_parent() afterwards.
    void add_particle(double px_, double py_, double pz_, double e_, double m_, std::int32_t pid_,
                      std::int32_t status_);
    void add_parent(std::int32_t local_index) { parents.push_back(local_index); ++parent_offsets.back(); }
    /// Closes the current event.
    void end_event() { particle_offsets.push_back(static_cast<std::int64_t>(pid.size())); }

    /// View of all columns.
    EventView view() const;
    /// Same checks as EventView::validate().
    void validate() const { view().validate(); }
};

}  // namespace recast
