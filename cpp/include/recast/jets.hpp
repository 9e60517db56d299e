// Jet clustering of columnar events with FastJet (spec §2.7, §8.1): all events of a batch in one
// call, optionally on several threads, with deterministic output (events in input order, jets by
// descending pT, ties broken by the smallest constituent index as §14.4 requires).
#pragma once

#include <cstdint>
#include <vector>

#include "recast/event.hpp"

namespace recast::jets {

enum class Algorithm { AntiKt, Kt, CambridgeAachen };

struct Definition {
    Algorithm algorithm = Algorithm::AntiKt;
    double R = 0.4;
    double pt_min = 0.0;  ///< inclusive jets with pT >= pt_min (GeV)
};

/// Jets of many events as flat columns + offsets; constituents are event-local particle indices.
struct JetBatch {
    std::vector<std::int64_t> jet_offsets{0};  ///< n_events + 1
    std::vector<double> px, py, pz, e, pt, eta, phi, mass;  ///< E-scheme four-momenta; phi in (-pi, pi]
    std::vector<std::int64_t> constituent_offsets{0};  ///< n_jets + 1
    std::vector<std::int32_t> constituents;
    std::vector<std::int64_t> ghost_offsets{0};  ///< n_jets + 1: ghost-associated particles (§9.1)
    std::vector<std::int32_t> ghosts;

    std::size_t n_events() const noexcept { return jet_offsets.size() - 1; }
    std::size_t n_jets() const noexcept { return pt.size(); }
    void append(const JetBatch& other);
};

/// Clusters, per event, the particles with `inputs[i] != 0` (global particle index i; if
/// `inputs` is null: all particles with status 1). Particles with `ghosts[i] != 0` (may be null)
/// are added as ghosts (momentum x 1e-20, which leaves the jets unchanged at double precision)
/// and reported per jet in `ghosts`, not among the constituents. Throws std::invalid_argument
/// for R <= 0.
JetBatch cluster(const EventView& events, const std::uint8_t* inputs, const Definition& def, int n_threads = 1,
                 const std::uint8_t* ghosts = nullptr);

}  // namespace recast::jets
