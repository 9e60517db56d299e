// Truth classification of the particles of an event (shared/specs/detector-emulation.md §2):
// stable final state, invisibles (explicit list + automatic neutral colour-singlet rule), lost
// particles beyond the calorimeter, promptness (no hadron ancestor; tau/muon switches), jet inputs,
// weakly-decaying b/c hadrons, hadronic taus with visible momentum, prongs and charge.
// Also: last b/c quarks (parton fallback, §2.6) and hadronically decaying W/Z/H/top for large-R
// jet labels (§8.6). Dressing and isolation are computed in the detector (they need the card).
#pragma once

#include <cstdint>
#include <vector>

#include "recast/event.hpp"

namespace recast::card {
class Card;
}

namespace recast::truth {

struct Config {
    double final_state_abs_eta_max = 4.9;
    std::vector<int> invisible_pdg_ids = {12, 14, 16, 1000012, 1000014, 1000016, 1000022, 1000039,
                                          2000012, 2000014, 2000016, 5000012, 5000022, 52};
    bool auto_invisible = true;     ///< invisible_rule = "list_and_auto"
    bool allow_from_tau = true;     ///< truth.prompt.allow_from_tau
    bool allow_from_muon = false;   ///< truth.prompt.allow_from_muon
    bool tau_require_prompt = true; ///< truth.hadronic_tau.require_prompt
    std::vector<int> jet_exclude_abs_pdg = {13};  ///< jet.inputs.exclude_abs_pdg
    double jet_abs_eta_max = 4.9;   ///< jet.inputs.abs_eta_max

    static Config from_card(const card::Card& card);
};

/// Per-particle classification bits.
enum Flag : std::uint16_t {
    kStable = 1 << 0,      ///< status 1 with pT > 1e-10 GeV
    kInvisible = 1 << 1,   ///< stable and invisible (§2.2)
    kLost = 1 << 2,        ///< stable, visible, beyond final_state_abs_eta_max (counts as missing momentum)
    kPrompt = 1 << 3,      ///< stable lepton/photon without hadron ancestor (§2.3)
    kJetInput = 1 << 4,    ///< enters truth jets (§2.7, inclusive mode)
    kBHadron = 1 << 5,     ///< weakly decaying b hadron (§2.6)
    kCHadron = 1 << 6,     ///< weakly decaying c hadron
    kHadronicTau = 1 << 7, ///< last tau of its chain, decaying hadronically, prompt if required (§2.5)
    kFromHadronicTau = 1 << 8,  ///< stable descendant of a hadronic tau
    kHeavyCharged = 1 << 9,     ///< stable charged BSM particle (not covered in v1: reported)
    kLastBQuark = 1 << 10,      ///< b quark without b-quark children (parton fallback, §2.6)
    kLastCQuark = 1 << 11,      ///< c quark without c-quark children
    kHadronicBoson = 1 << 12,   ///< last W/Z/H of its chain decaying to quarks/gluons, not from t or H,
                                ///< mass above pole - 20 GeV (§8.6, GAMBIT convention)
    kHadronicTop = 1 << 13,     ///< last top of its chain whose W decays to quarks
};

/// Hadronic taus of many events (flat + offsets).
struct Taus {
    std::vector<std::int64_t> offsets{0};
    std::vector<std::int32_t> index;   ///< event-local index of the (last) tau
    std::vector<double> px, py, pz, e; ///< visible momentum (sum of visible stable descendants)
    std::vector<std::int32_t> prongs;  ///< charged stable descendants (K0S and Lambda count as stable)
    std::vector<std::int32_t> charge3;
};

struct Classification {
    std::vector<std::uint16_t> flags;  ///< one per particle (global index)
    Taus taus;
    std::int64_t heavy_charged = 0;    ///< number of stable charged BSM particles met
    std::vector<std::uint8_t> hadron_free;  ///< per event: the record has no hadrons (parton level, §2.6)
    /// With classify(..., kinematics = true): pT = hypot(px, py) and eta = asinh(pz / pT) of every
    /// kStable particle (global index; 0 for the others), as computed for the classification;
    /// empty otherwise.
    std::vector<double> pt, eta;
};

/// Classifies all particles of all events (events split over `n_threads`; output identical for any
/// thread count). `kinematics` also keeps the pT and eta of the stable particles.
Classification classify(const EventView& events, const Config& config, int n_threads = 1, bool kinematics = false);

/// True for |id| of quarks, gluons, diquarks, squarks and gluinos (colour-charged).
bool is_coloured(int pid) noexcept;

}  // namespace recast::truth
