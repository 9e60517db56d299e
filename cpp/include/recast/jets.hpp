// Jet clustering of columnar events with FastJet (spec §2.7, §8.1): all events of a batch in one
// call, optionally on several threads, with deterministic output (events in input order, jets by
// descending pT, ties broken by the smallest constituent index as §14.4 requires).
#pragma once

#include <cstdint>
#include <vector>

#include "recast/event.hpp"

namespace recast::jets {

enum class Algorithm { AntiKt, Kt, CambridgeAachen };

/// Grooming of (large-R) jets (§8.6), written with FastJet core only:
///  * trimming: recluster the jet's constituents with kt, R = r_sub; keep the subjets with
///    pT > f_cut * pT(ungroomed jet) (FastJet's Filter(kt r_sub, SelectorPtFractionMin(f_cut)));
///  * soft drop: recluster with Cambridge/Aachen, decluster following the harder branch until
///    min(pT1, pT2)/(pT1 + pT2) > z_cut (dR12/R0)^beta (fjcontrib SoftDrop defaults: scalar_z,
///    larger-pT recursion, rapidity-phi distances).
struct Grooming {
    enum class Kind { None, Trimming, SoftDrop } kind = Kind::None;
    double r_sub = 0.2, f_cut = 0.05;
    double beta = 0.0, z_cut = 0.1, R0 = 0.8;
};

struct Definition {
    Algorithm algorithm = Algorithm::AntiKt;
    double R = 0.4;
    double pt_min = 0.0;  ///< inclusive jets with pT >= pt_min (GeV), after grooming
    Grooming grooming{};
    /// N-subjettiness tau_1..tau_N (beta = 1, normalised by sum pT * R) of the (groomed) jets,
    /// exclusive-kt axes with winner-take-all recombination (fjcontrib WTA_KT_Axes); 0 = none.
    int n_subjettiness = 0;
};

/// Jets of many events as flat columns + offsets; constituents are event-local particle indices.
struct JetBatch {
    std::vector<std::int64_t> jet_offsets{0};  ///< n_events + 1
    std::vector<double> px, py, pz, e, pt, eta, phi, mass;  ///< E-scheme four-momenta; phi in (-pi, pi]
    std::vector<std::int64_t> constituent_offsets{0};  ///< n_jets + 1
    std::vector<std::int32_t> constituents;
    std::vector<std::int64_t> ghost_offsets{0};  ///< n_jets + 1: ghost-associated particles (§9.1)
    std::vector<std::int32_t> ghosts;
    int n_tau = 0;            ///< Definition::n_subjettiness
    std::vector<double> tau;  ///< n_jets x n_tau, row-major: tau_1 .. tau_N

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

/// N-subjettiness tau_1..tau_n of one set of constituents (see Definition::n_subjettiness);
/// tau_N = 0 when there are at most N constituents.
std::vector<double> nsubjettiness(const std::vector<double>& px, const std::vector<double>& py,
                                  const std::vector<double>& pz, const std::vector<double>& e, int n, double R0);

/// Reclustering (analysis-side, e.g. ATLAS RC jets): per event, the input four-momenta (typically
/// calibrated small-R jets, flat + offsets) with `use[i] != 0` (null: all) are clustered with
/// anti-kt radius R; inputs with pT < f_cut * pT(reclustered jet) are then dropped (trimming; 0 =
/// keep all) and jets below pt_min removed. Constituents are event-local input indices.
JetBatch recluster(Span<std::int64_t> offsets, Span<double> px, Span<double> py, Span<double> pz, Span<double> e,
                   const std::uint8_t* use, double R, double pt_min, double f_cut);

}  // namespace recast::jets
