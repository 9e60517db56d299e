// Jet flavour labels and b-tagging (shared/specs/detector-emulation.md §9).
//
// Labels: "cone_exclusive" (ATLAS, §9.1): weakly-decaying b hadrons with pT > label_hadron_pt_min
// are assigned to the nearest jet within label_dr; jets with one are b, else the same with c
// hadrons, else a hadronic tau (visible pT > label_hadron_pt_min) within label_dr gives tau, else
// light. "ghost" (CMS): weakly-decaying b and c hadrons are clustered as ghosts (jets::cluster
// with `ghosts`, those with pT > label_hadron_pt_min); a jet with a b ghost is b, else with a c
// ghost c, else light (taus are light; label_dr is not used). Records without hadrons use the
// parton fallback of §2.6 unless truth.heavy_flavour.parton_fallback = false (then all light).
// Tagging (§9.2): eps_f = min(1, base_f(WP) * shape_f(pT) * decline_f(pT)), 0 outside |eta| <
// abs_eta_max or below jet_pt_min; nested families enforce eps_tight <= eps_loose (§3.2); one
// uniform per jet (stream jet_btag, block 0, object = jet index) decides every working point.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "recast/card.hpp"
#include "recast/event.hpp"
#include "recast/jets.hpp"
#include "recast/truth.hpp"

namespace recast::btag {

enum Label : std::int8_t { kLight = 0, kCharm = 4, kBottom = 5, kTau = 15 };
/// ΔR of the parton-fallback label (§9.1: last b/c quark, nearest jet only, records without hadrons).
inline constexpr double kPartonDr = 0.3;

class Tagger {
public:
    explicit Tagger(const card::Card& card);

    /// Working-point names in bit order (card order).
    const std::vector<std::string>& working_points() const { return wps_; }
    /// Tag probabilities of a jet with `label`, truth pT and |eta| at every working point (bit
    /// order), nesting enforced.
    std::vector<double> probabilities(Label label, double pt, double abs_eta) const;
    /// The same at one working point (index).
    double probability(std::size_t wp, Label label, double pt, double abs_eta) const;
    /// Whether the jets must be clustered with the b/c hadrons as ghosts (ghost scheme).
    bool needs_ghosts() const { return ghost_; }
    /// Hadrons (and taus) at or below this pT do not label jets (`btag.label_hadron_pt_min`; ghost
    /// scheme: they are not ghosts).
    double hadron_pt_min() const { return hadron_pt_min_; }
    /// Truth labels of all jets.
    std::vector<std::int8_t> labels(const EventView& events, const truth::Classification& truth,
                                    const jets::JetBatch& jets) const;
    /// Working-point bit masks of all jets; event keys are first_event_key + event index.
    std::vector<std::uint32_t> tag(const jets::JetBatch& jets, const std::vector<std::int8_t>& labels,
                                   std::uint64_t run_seed, std::uint64_t first_event_key) const;

private:
    struct Base {
        double b, c, tau, light;
    };
    std::vector<std::string> wps_;
    std::vector<Base> base_;
    std::vector<std::vector<std::size_t>> families_;  // indices, loosest first
    std::vector<std::shared_ptr<card::Function>> shape_;  // b, c, tau, light (null = 1)
    std::shared_ptr<card::Function> decline_;
    std::vector<Label> decline_applies_;
    double dr_ = 0.3, hadron_pt_min_ = 5.0, abs_eta_max_ = 2.5, jet_pt_min_ = 20.0;
    bool ghost_ = false;
    bool parton_fallback_ = true;  // truth.heavy_flavour.parton_fallback (§2.6)
};

}  // namespace recast::btag
