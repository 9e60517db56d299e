#include "recast/btag.hpp"

#include <algorithm>
#include <cmath>

#include "recast/errors.hpp"
#include "recast/kinematics.hpp"
#include "recast/working_points.hpp"
#include "recast/rng.hpp"

namespace recast::btag {

namespace {
int flavour_slot(Label l) { return l == kBottom ? 0 : l == kCharm ? 1 : l == kTau ? 2 : 3; }
}  // namespace

Tagger::Tagger(const card::Card& card) {
    const std::string scheme = card.string("btag.label_scheme", "cone_exclusive");
    if (scheme != "cone_exclusive" && scheme != "ghost")
        card.fail("btag.label_scheme", "must be 'cone_exclusive' or 'ghost', got '" + scheme + "'");
    ghost_ = scheme == "ghost";
    parton_fallback_ = card.boolean("truth.heavy_flavour.parton_fallback", true);
    dr_ = card.number("btag.label_dr", dr_);
    hadron_pt_min_ = card.number("btag.label_hadron_pt_min", hadron_pt_min_);
    abs_eta_max_ = card.number("btag.abs_eta_max", abs_eta_max_);
    jet_pt_min_ = card.number("btag.jet_pt_min", jet_pt_min_);
    wps_ = card.working_points("btag");
    if (wps_.size() > 32) card.fail("btag.wp", "at most 32 b-tag working points");
    for (const auto& wp : wps_) {
        const std::string k = "btag.wp." + wp;
        auto inv = [&](const char* rej, const char* eff) {
            if (card.has(k + "." + eff)) return card.number(k + "." + eff, 0.0);
            const double r = card.number(k + "." + rej, 0.0);
            return r > 0 ? 1.0 / r : 0.0;
        };
        base_.push_back({card.number(k + ".eff_b", 0.0), inv("rej_c", "eff_c"), inv("rej_tau", "eff_tau"),
                         inv("rej_light", "eff_light")});
    }
    for (const auto& fam : card.string_lists("btag.nested_families")) {
        families_.emplace_back();
        for (const auto& name : fam) {
            const auto it = std::find(wps_.begin(), wps_.end(), name);
            if (it == wps_.end())
                card.fail("btag.nested_families", "names unknown working point '" + name + "'");
            families_.back().push_back(static_cast<std::size_t>(it - wps_.begin()));
        }
    }
    for (const char* f : {"b", "c", "tau", "light"}) {
        const std::string key = std::string("btag.shape.") + f;
        shape_.push_back(card.has(key) ? std::make_shared<card::Function>(card.function(key)) : nullptr);
    }
    if (card.has("btag.high_pt")) {
        decline_ = std::make_shared<card::Function>(card.function("btag.high_pt"));
        for (const auto& f : card.strings("btag.high_pt.applies_to"))
            decline_applies_.push_back(f == "b" ? kBottom : f == "c" ? kCharm : f == "tau" ? kTau : kLight);
    }
}

std::vector<double> Tagger::probabilities(Label label, double pt, double abs_eta) const {
    std::vector<double> eff(wps_.size(), 0.0);
    if (!(abs_eta < abs_eta_max_) || pt < jet_pt_min_) return eff;
    card::Values v{};
    v[static_cast<int>(card::Var::pt)] = pt;
    v[static_cast<int>(card::Var::et)] = pt;
    v[static_cast<int>(card::Var::abs_eta)] = abs_eta;
    v[static_cast<int>(card::Var::eta)] = abs_eta;
    const int slot = flavour_slot(label);
    const double shape = shape_[slot] ? (*shape_[slot])(v) : 1.0;
    const bool declines =
        decline_ && std::find(decline_applies_.begin(), decline_applies_.end(), label) != decline_applies_.end();
    const double decline = declines ? (*decline_)(v) : 1.0;
    for (std::size_t w = 0; w < wps_.size(); ++w) {
        const auto& bs = base_[w];
        const double base = slot == 0 ? bs.b : slot == 1 ? bs.c : slot == 2 ? bs.tau : bs.light;
        eff[w] = std::min(1.0, base * shape * decline);
    }
    enforce_nesting(eff, families_);  // §3.2
    return eff;
}

double Tagger::probability(std::size_t wp, Label label, double pt, double abs_eta) const {
    return probabilities(label, pt, abs_eta).at(wp);
}

std::vector<std::int8_t> Tagger::labels(const EventView& ev, const truth::Classification& truth,
                                        const jets::JetBatch& jets) const {
    std::vector<std::int8_t> out(jets.n_jets(), kLight);
    const bool have_ghosts = jets.ghost_offsets.size() == jets.n_jets() + 1;
    if (ghost_ && !have_ghosts)
        throw std::invalid_argument("ghost labelling needs jets clustered with the b/c hadrons as ghosts");
    for (std::size_t iev = 0; iev < ev.n_events(); ++iev) {
        const auto j0 = jets.jet_offsets[iev], j1 = jets.jet_offsets[iev + 1];
        if (j0 == j1) continue;
        // nearest jet within `dr` of a direction, or -1
        auto nearest = [&](double px, double py, double pz, double dr) -> std::int64_t {
            const double pt = std::hypot(px, py);
            if (!(pt > 0)) return -1;
            const double eta = std::asinh(pz / pt), phi = std::atan2(py, px);
            std::int64_t best = -1;
            double best_dr = dr;
            for (auto j = j0; j < j1; ++j) {
                const double d = delta_r(eta, phi, jets.eta[j], jets.phi[j]);
                if (d < best_dr) best_dr = d, best = j;
            }
            return best;
        };
        const auto b = ev.particle_offsets[iev], e = ev.particle_offsets[iev + 1];
        const bool partons = parton_fallback_ && !truth.hadron_free.empty() && truth.hadron_free[iev];
        if (partons) {
            // §2.6/§9.1 parton fallback: last b (then c) quark within dR < 0.3, nearest jet only
            for (const auto [flag, label] : {std::pair{truth::kLastBQuark, kBottom}, {truth::kLastCQuark, kCharm}})
                for (auto i = b; i < e; ++i) {
                    if (!(truth.flags[i] & flag)) continue;
                    const auto j = nearest(ev.px[i], ev.py[i], ev.pz[i], kPartonDr);
                    if (j >= 0 && out[j] == kLight) out[j] = label;
                }
        } else if (ghost_) {
            for (auto j = j0; j < j1; ++j)
                for (auto k = jets.ghost_offsets[j]; k < jets.ghost_offsets[j + 1]; ++k) {
                    const auto f = truth.flags[b + jets.ghosts[k]];
                    if (f & truth::kBHadron) out[j] = kBottom;
                    else if ((f & truth::kCHadron) && out[j] != kBottom) out[j] = kCharm;
                }
            continue;
        } else {
            for (const auto [flag, label] : {std::pair{truth::kBHadron, kBottom}, {truth::kCHadron, kCharm}}) {
                for (auto i = b; i < e; ++i) {
                    if (!(truth.flags[i] & flag) || std::hypot(ev.px[i], ev.py[i]) <= hadron_pt_min_) continue;
                    const auto j = nearest(ev.px[i], ev.py[i], ev.pz[i], dr_);
                    if (j >= 0 && (out[j] == kLight || out[j] == kTau)) out[j] = label;
                }
            }
        }
        if (ghost_) continue;  // CMS: tau jets are light
        const auto& t = truth.taus;
        for (auto k = t.offsets[iev]; k < t.offsets[iev + 1]; ++k) {
            if (std::hypot(t.px[k], t.py[k]) <= hadron_pt_min_) continue;
            const auto j = nearest(t.px[k], t.py[k], t.pz[k], dr_);
            if (j >= 0 && out[j] == kLight) out[j] = kTau;
        }
    }
    return out;
}

std::vector<std::uint32_t> Tagger::tag(const jets::JetBatch& jets, const std::vector<std::int8_t>& labels,
                                       std::uint64_t run_seed, std::uint64_t first_event_key) const {
    std::vector<std::uint32_t> masks(jets.n_jets(), 0);
    for (std::size_t iev = 0; iev < jets.n_events(); ++iev) {
        const rng::EventRandom random(run_seed, first_event_key + iev);
        for (auto j = jets.jet_offsets[iev]; j < jets.jet_offsets[iev + 1]; ++j) {
            const auto object = static_cast<std::uint32_t>(j - jets.jet_offsets[iev]);
            const double u = random.uniforms(rng::Stream::jet_btag, 0, object).first;
            masks[j] = wp_mask(u, probabilities(static_cast<Label>(labels[j]), jets.pt[j], std::fabs(jets.eta[j])));
        }
    }
    return masks;
}

}  // namespace recast::btag
