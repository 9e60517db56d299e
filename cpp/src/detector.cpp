#include "recast/detector.hpp"

#include <algorithm>
#include <cmath>

#include "recast/errors.hpp"
#include "recast/jets.hpp"
#include "recast/parallel.hpp"
#include "recast/rng.hpp"
#include "recast/truth.hpp"

namespace recast::detector {

void Objects::append(const Objects& o) {
    const auto shift = offsets.back();
    for (std::size_t i = 1; i < o.offsets.size(); ++i) offsets.push_back(o.offsets[i] + shift);
    auto cat = [](auto& a, const auto& b) { a.insert(a.end(), b.begin(), b.end()); };
    cat(truth_index, o.truth_index);
    cat(pt, o.pt), cat(eta, o.eta), cat(phi, o.phi), cat(mass, o.mass);
    cat(truth_pt, o.truth_pt), cat(truth_eta, o.truth_eta), cat(truth_phi, o.truth_phi);
    cat(charge3, o.charge3), cat(mask, o.mask), cat(lost, o.lost), cat(label, o.label);
}

namespace {

struct Lepton {
    std::string name;
    int abs_pid;
    rng::Stream stream;
    bool prompt_only;
    double pt_min, abs_eta_max, crack_lo = 0, crack_hi = 0;
    bool crack_drop = false;
    std::vector<std::string> wps;
    std::vector<std::vector<std::size_t>> families;
    std::vector<std::vector<card::Function>> efficiency;  // per WP: the efficiency_product factors
    std::shared_ptr<card::Function> resolution;
    std::string smear;
};

}  // namespace

struct Detector::Impl {
    std::vector<Lepton> leptons;
    truth::Config truth;
    btag::Tagger tagger;
    std::shared_ptr<card::Function> jer, jes;
    double jet_R, jet_truth_pt_min;
    std::uint64_t seed;
    explicit Impl(const card::Card& c) : truth(truth::Config::from_card(c)), tagger(c) {}
};

Detector::Detector(const card::Card& c) : impl_(std::make_unique<Impl>(c)) {
    auto& I = *impl_;
    const double seed = c.number("rng.run_seed", 1.0);
    I.seed = static_cast<std::uint64_t>(seed);
    for (auto [name, pid, stream] : {std::tuple{"electron", 11, rng::Stream::electron},
                                     {"muon", 13, rng::Stream::muon}, {"photon", 22, rng::Stream::photon}}) {
        Lepton l;
        l.name = name;
        l.abs_pid = pid;
        l.stream = stream;
        const std::string n(name);
        l.prompt_only = c.string(n + ".candidates", "prompt") == "prompt";
        l.pt_min = c.number(n + ".pt_min", 0.0);
        l.abs_eta_max = c.number(n + ".abs_eta_max", 2.5);
        if (c.has(n + ".crack")) {
            l.crack_lo = c.number(n + ".crack.abs_eta_min", 0.0);
            l.crack_hi = c.number(n + ".crack.abs_eta_max", 0.0);
            l.crack_drop = c.string(n + ".crack.policy", "keep") == "drop";
        }
        l.wps = c.working_points(n + ".id");
        auto fams = c.string_lists(n + ".id.nested_families");
        if (fams.empty() && c.has(n + ".id.nested")) fams.push_back(c.strings(n + ".id.nested"));
        for (const auto& f : fams) {
            l.families.emplace_back();
            for (const auto& w : f) {
                const auto it = std::find(l.wps.begin(), l.wps.end(), w);
                if (it != l.wps.end()) l.families.back().push_back(static_cast<std::size_t>(it - l.wps.begin()));
            }
        }
        // efficiency_product factors per WP, built once (§3.1: product capped at 1)
        for (const auto& wp : l.wps) {
            l.efficiency.emplace_back();
            for (const auto& comp : c.strings(n + ".efficiency_product")) {
                const std::string key = n + "." + comp;
                const bool has_wp = c.has(key + ".wp") || c.string(key + ".kind", "") == "wp_tables";
                l.efficiency.back().push_back(c.function(key, has_wp ? wp : ""));
            }
        }
        l.resolution = std::make_shared<card::Function>(c.function(n + ".resolution"));
        l.smear = pid == 13 ? "curvature" : c.string(n + ".resolution.smear", "energy");
        I.leptons.push_back(std::move(l));
    }
    I.jer = std::make_shared<card::Function>(c.function("jet.resolution"));
    if (c.has("jet.jes")) I.jes = std::make_shared<card::Function>(c.function("jet.jes"));
    I.jet_R = c.number("jet.R", 0.4);
    I.jet_truth_pt_min = c.number("jet.truth_pt_min", 10.0);
}

Detector::~Detector() = default;

std::uint64_t Detector::run_seed() const { return impl_->seed; }

const std::vector<std::string>& Detector::working_points(const std::string& object) const {
    if (object == "btag") return impl_->tagger.working_points();
    for (const auto& l : impl_->leptons)
        if (l.name == object) return l.wps;
    throw std::invalid_argument("unknown object '" + object + "' (electron, muon, photon, btag)");
}

namespace {

card::Values kinematics(double pt, double eta, double phi, double e, double m) {
    card::Values v{};
    v[static_cast<int>(card::Var::pt)] = pt;
    v[static_cast<int>(card::Var::eta)] = eta;
    v[static_cast<int>(card::Var::abs_eta)] = std::fabs(eta);
    v[static_cast<int>(card::Var::phi)] = phi;
    v[static_cast<int>(card::Var::e)] = e;
    v[static_cast<int>(card::Var::et)] = e / std::cosh(eta);
    v[static_cast<int>(card::Var::m)] = m;
    return v;
}

void reconstruct_range(const Detector::Impl& I, const EventView& ev,
                       const truth::Classification& truth, const jets::JetBatch& jets,
                       const std::vector<std::int8_t>& labels, const std::vector<std::uint32_t>& btags,
                       std::uint64_t first_key, std::size_t first, std::size_t last, Output& out) {
    for (std::size_t iev = first; iev < last; ++iev) {
        const rng::EventRandom random(I.seed, first_key + iev);
        const auto b = ev.particle_offsets[iev], e_end = ev.particle_offsets[iev + 1];
        for (std::size_t k = 0; k < I.leptons.size(); ++k) {
            const auto& L = I.leptons[k];
            Objects& o = k == 0 ? out.electrons : k == 1 ? out.muons : out.photons;
            for (auto g = b; g < e_end; ++g) {
                const auto f = truth.flags[g];
                if (!(f & truth::kStable) || std::abs(ev.pid[g]) != L.abs_pid) continue;
                if (L.prompt_only && !(f & truth::kPrompt)) continue;
                const double pt = std::hypot(ev.px[g], ev.py[g]);
                const double eta = std::asinh(ev.pz[g] / pt), phi = std::atan2(ev.py[g], ev.px[g]);
                const double ae = std::fabs(eta);
                if (pt < L.pt_min || ae >= L.abs_eta_max) continue;
                if (L.crack_drop && ae >= L.crack_lo && ae < L.crack_hi) continue;
                const auto object = static_cast<std::uint32_t>(g - b);
                const auto v = kinematics(pt, eta, phi, ev.e[g], ev.mass[g]);
                // working points: one uniform, nested families enforced (§3.2)
                const double u = random.uniforms(L.stream, 0, object).first;
                std::vector<double> eff(L.wps.size());
                for (std::size_t w = 0; w < L.wps.size(); ++w) {
                    double p = 1.0;
                    for (const auto& factor : L.efficiency[w]) p *= factor(v);
                    eff[w] = std::min(p, 1.0);
                }
                for (const auto& fam : L.families)
                    for (std::size_t a = 1; a < fam.size(); ++a) eff[fam[a]] = std::min(eff[fam[a]], eff[fam[a - 1]]);
                std::uint32_t mask = 0;
                for (std::size_t w = 0; w < eff.size(); ++w)
                    if (u < eff[w]) mask |= 1u << w;
                // smearing (§3.3), normal from block 1
                const double z = random.normals(L.stream, 1, object).first;
                double spt = pt, m = std::max(ev.mass[g], 0.0);
                int q3 = ev.charge3[g];
                bool lost = false;
                if (L.smear == "curvature") {
                    const double s = (*L.resolution)(v);
                    const double kappa = (q3 > 0 ? 1.0 : -1.0) / pt;
                    const double kp = kappa * (1.0 + s * z);
                    if (kp == 0.0) {
                        lost = true;
                    } else {
                        spt = 1.0 / std::fabs(kp);
                        q3 = kp > 0 ? std::abs(q3) : -std::abs(q3);
                    }
                } else {
                    const double sigma = (*L.resolution)(v);  // absolute sigma_E
                    const double e2 = ev.e[g] + sigma * z;
                    if (e2 <= m) lost = true;
                    else spt = std::sqrt(e2 * e2 - m * m) / std::cosh(eta);
                }
                o.truth_index.push_back(static_cast<std::int32_t>(object));
                o.pt.push_back(lost ? 0.0 : spt);
                o.eta.push_back(eta);
                o.phi.push_back(phi);
                o.mass.push_back(m);
                o.truth_pt.push_back(pt);
                o.truth_eta.push_back(eta);
                o.truth_phi.push_back(phi);
                o.charge3.push_back(q3);
                o.mask.push_back(lost ? 0u : mask);
                o.lost.push_back(lost ? 1 : 0);
                o.label.push_back(0);
            }
            o.offsets.push_back(static_cast<std::int64_t>(o.pt.size()));
        }
        // jets: three-momentum scale smearing (JES x (1 + sigma/pT z)), jet_smear block 1
        Objects& o = out.jets;
        for (auto j = jets.jet_offsets[iev]; j < jets.jet_offsets[iev + 1]; ++j) {
            const auto object = static_cast<std::uint32_t>(j - jets.jet_offsets[iev]);
            const auto v = kinematics(jets.pt[j], jets.eta[j], jets.phi[j], jets.e[j], jets.mass[j]);
            const double rel = (*I.jer)(v);
            const double z = random.normals(rng::Stream::jet_smear, 1, object).first;
            const double scale = (I.jes ? (*I.jes)(v) : 1.0) * (1.0 + rel * z);
            const bool lost = scale <= 0;
            o.truth_index.push_back(-1);
            o.pt.push_back(lost ? 0.0 : jets.pt[j] * scale);
            o.eta.push_back(jets.eta[j]);
            o.phi.push_back(jets.phi[j]);
            o.mass.push_back(lost ? 0.0 : jets.mass[j] * scale);
            o.truth_pt.push_back(jets.pt[j]);
            o.truth_eta.push_back(jets.eta[j]);
            o.truth_phi.push_back(jets.phi[j]);
            o.charge3.push_back(0);
            o.mask.push_back(lost ? 0u : btags[j]);
            o.lost.push_back(lost ? 1 : 0);
            o.label.push_back(labels[j]);
        }
        o.offsets.push_back(static_cast<std::int64_t>(o.pt.size()));
    }
}

}  // namespace

Output Detector::reconstruct(const EventView& ev, std::uint64_t first_key, int n_threads) const {
    const auto& I = *impl_;
    const auto truth = truth::classify(ev, I.truth, n_threads);
    std::vector<std::uint8_t> inputs(truth.flags.size());
    for (std::size_t i = 0; i < inputs.size(); ++i) inputs[i] = (truth.flags[i] & truth::kJetInput) != 0;
    const auto jets = jets::cluster(ev, inputs.data(), {jets::Algorithm::AntiKt, I.jet_R, I.jet_truth_pt_min}, n_threads);
    const auto labels = I.tagger.labels(ev, truth, jets);
    const auto btags = I.tagger.tag(jets, labels, I.seed, first_key);
    const std::size_t ne = ev.n_events();
    std::vector<Output> parts(n_ranges(ne, n_threads));
    for_each_range(ne, parts.size(), [&](std::size_t t, std::size_t first, std::size_t last) {
        reconstruct_range(I, ev, truth, jets, labels, btags, first_key, first, last, parts[t]);
    });
    Output out;
    for (auto& p : parts) {
        out.electrons.append(p.electrons);
        out.muons.append(p.muons);
        out.photons.append(p.photons);
        out.jets.append(p.jets);
    }
    return out;
}

}  // namespace recast::detector
