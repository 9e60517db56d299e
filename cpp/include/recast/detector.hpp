// The detector emulation event loop (shared/specs/detector-emulation.md §1), first stage:
// truth classification -> electron, muon and photon candidates with working-point bit masks from
// one counter-based uniform each (§3.2) and smeared kinematics (§3.3: energy for e/gamma,
// curvature for muons, charge from the smeared curvature) -> truth jets (anti-kt, §2.7 inputs)
// with JES/JER three-momentum smearing, flavour labels and b-tag masks (§9).
// -> missing transverse momentum (§10: object-based with track or particle-flow soft term and
// noise, or truth-smeared).
// Also: lepton dressing (§2.4), truth isolation (§2.8), electron charge flip (§4.5).
// Hadronic taus (§7.1-7.4): visible momentum, per-prong WP masks, jet-resolution smearing.
// Jet -> tau fakes (§7.5) by track counting (ATLAS) or any jet (CMS).
// Small-R jet attributes n_tracks / track_pt (§8.5), optional JVT decision (§8.4), jet -> electron
// fakes (§4.6, off by default). Large-R jets (§8.6): anti-kt, trimmed or soft-dropped, pT and mass
// smearing, N-subjettiness, W/Z/H/top labels.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "recast/btag.hpp"
#include "recast/card.hpp"
#include "recast/event.hpp"

namespace recast::detector {

/// Objects of one kind for many events (flat + offsets).
struct Objects {
    std::vector<std::int64_t> offsets{0};
    std::vector<std::int32_t> truth_index;  ///< event-local record index; jets: -1; fake taus: -1 - jet index
    std::vector<double> pt, eta, phi, mass;  ///< smeared
    std::vector<double> truth_pt, truth_eta, truth_phi;
    std::vector<std::int32_t> charge3;
    std::vector<std::uint32_t> mask;  ///< working-point bits (b-tag bits for jets)
    std::vector<std::uint8_t> lost;   ///< smearing made the object unphysical (§3.3): mask cleared
    std::vector<std::int8_t> label;   ///< jets: flavour label (0, 4, 5, 15); taus: prong count; others: 0
    std::vector<double> isolation;    ///< e/mu/gamma: n_objects x n_isolation (row-major), §2.8
    // small-R jets only (empty for other objects)
    std::vector<std::int32_t> n_tracks;  ///< charged stable constituents above jet.track_count thresholds (§8.5)
    std::vector<double> track_pt;        ///< their scalar pT sum
    std::vector<std::uint8_t> jvt;       ///< passes the hard-scatter JVT efficiency (1 when JVT is disabled) (§8.4)
    // large-R jets only
    std::vector<double> tau;             ///< N-subjettiness tau1, tau2, tau3 (n_objects x 3, row-major)
    void append(const Objects& o);
};

/// Missing transverse momentum per event (§10): reconstructed (object-based or truth-smeared
/// per the card), its scalar sum SET, and the truth reference (§10.1).
struct Met {
    std::vector<double> x, y, set, truth_x, truth_y, truth_set;
    void append(const Met& o);
};

/// Time spent per stage of Detector::reconstruct (seconds), filled only when a Profile is passed
/// (no clock is read otherwise). Stages running on worker threads are summed over the threads, so
/// with one thread the sum is the wall time; profile with one thread for per-event costs.
struct Profile {
    double truth = 0;        ///< truth classification (§2)
    double inputs = 0;       ///< jet-input and ghost masks (§2.7, §9.1), exclusive-mode removal
    double jets = 0;         ///< small-R clustering (FastJet)
    double large_r = 0;      ///< large-R clustering, grooming, N-subjettiness (§8.6)
    double labels = 0;       ///< jet flavour labels (§9.1)
    double btag = 0;         ///< b-tag working-point masks (§9.2)
    double kinematics = 0;   ///< per-particle pT, eta, phi of the stable particles
    double dressing = 0;     ///< lepton dressing (§2.4)
    double leptons = 0;      ///< e/mu/gamma candidates: efficiencies, smearing (§3-§6), isolation excluded
    double isolation = 0;    ///< truth isolation cones (§2.8)
    double taus = 0;         ///< hadronic taus (§7.1-7.4)
    double jet_objects = 0;  ///< jet smearing, track counts, JVT (§8)
    double fake_taus = 0;    ///< jet -> tau fakes (§7.5)
    double met = 0;          ///< missing transverse momentum (§10)
    double fake_electrons = 0;   ///< jet -> electron fakes (§4.6)
    double large_r_objects = 0;  ///< large-R smearing and labels (§8.6)
    double merge = 0;        ///< concatenating the per-thread outputs
    std::size_t events = 0;
    /// (stage name, seconds) in pipeline order.
    std::vector<std::pair<std::string, double>> stages() const;
    Profile& operator+=(const Profile& o);
};

struct Output {
    Objects electrons, muons, photons, taus, jets;
    Objects large_r_jets;  ///< label: |PDG id| of the matched hadronic W/Z/H/top, else 0; empty if disabled
    Met met;
};

class Detector {
public:
    /// Everything needed is taken from `card` here (function objects are copied).
    explicit Detector(const card::Card& card);
    ~Detector();
    /// Working-point names in bit order for "electron", "muon", "photon", "tau" and "btag".
    const std::vector<std::string>& working_points(const std::string& object) const;
    /// Names of the truth-isolation variables (columns of Objects::isolation), card order.
    const std::vector<std::string>& isolation_names() const;
    bool large_r_enabled() const;
    std::uint64_t run_seed() const;
    /// Reconstructs all events; event keys are first_event_key + index (§14.4 "ordinal"). Output is
    /// identical for any thread count.
    /// `large_r = false` skips the large-R jets (half the time with the default cards) for callers
    /// that do not use them; everything else is unchanged (their random numbers have their own stream).
    /// `profile` (may be null) receives the time per stage, added to what it holds. One Detector may
    /// reconstruct on several threads at once (random numbers come from the event keys, not from
    /// a shared state); a `profile` is then one per thread.
    Output reconstruct(const EventView& events, std::uint64_t first_event_key, int n_threads = 1,
                       bool large_r = true, Profile* profile = nullptr) const;

    struct Impl;

private:
    std::unique_ptr<Impl> impl_;
};

}  // namespace recast::detector
