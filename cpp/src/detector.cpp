#include "recast/detector.hpp"

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>

#include "recast/errors.hpp"
#include "recast/jets.hpp"
#include "recast/kinematics.hpp"
#include "recast/working_points.hpp"
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
    cat(isolation, o.isolation);
    cat(n_tracks, o.n_tracks), cat(track_pt, o.track_pt), cat(jvt, o.jvt), cat(tau, o.tau);
}

void Met::append(const Met& o) {
    for (auto [a, b] : {std::pair{&x, &o.x}, {&y, &o.y}, {&set, &o.set}, {&truth_x, &o.truth_x},
                        {&truth_y, &o.truth_y}, {&truth_set, &o.truth_set}})
        a->insert(a->end(), b->begin(), b->end());
}

std::vector<std::pair<std::string, double>> Profile::stages() const {
    return {{"truth", truth},         {"inputs", inputs},       {"jets", jets},
            {"large_r", large_r},     {"labels", labels},       {"btag", btag},
            {"kinematics", kinematics}, {"dressing", dressing}, {"leptons", leptons},
            {"isolation", isolation}, {"taus", taus},           {"jet_objects", jet_objects},
            {"fake_taus", fake_taus}, {"met", met},             {"fake_electrons", fake_electrons},
            {"large_r_objects", large_r_objects}, {"merge", merge}};
}

Profile& Profile::operator+=(const Profile& o) {
    for (auto [a, b] : {std::pair{&truth, o.truth}, {&inputs, o.inputs}, {&jets, o.jets}, {&large_r, o.large_r},
                        {&labels, o.labels}, {&btag, o.btag}, {&kinematics, o.kinematics}, {&dressing, o.dressing},
                        {&leptons, o.leptons}, {&isolation, o.isolation}, {&taus, o.taus},
                        {&jet_objects, o.jet_objects}, {&fake_taus, o.fake_taus}, {&met, o.met},
                        {&fake_electrons, o.fake_electrons}, {&large_r_objects, o.large_r_objects},
                        {&merge, o.merge}})
        *a += b;
    events += o.events;
    return *this;
}

namespace {

/// Adds the time since the previous lap to a Profile slot; reads no clock when profiling is off.
class Lap {
public:
    explicit Lap(bool on) : on_(on) {
        if (on_) t_ = Clock::now();
    }
    void operator()(double& slot) {
        if (!on_) return;
        const auto now = Clock::now();
        slot += std::chrono::duration<double>(now - t_).count();
        t_ = now;
    }

private:
    using Clock = std::chrono::steady_clock;
    bool on_;
    Clock::time_point t_{};
};

struct MetConfig {
    bool object_based = true;
    double visible_abs_eta_max = 4.9, hard_jet_pt_min = 20.0, hard_jet_abs_eta_max = 4.5, overlap_dr = 0.2;
    bool track_soft_term = true;  // ATLAS "track"; else "pf_unclustered"
    double soft_pt_min = 0.4, soft_abs_eta_max = 2.5, response = 1.0, noise = 5.0, tracker_abs_eta_max = 2.5;
    std::shared_ptr<card::Function> track_efficiency;
    std::shared_ptr<card::Expression> smeared_resolution;  // truth_smeared mode
};

struct Isolation {  // §2.8
    std::string name;
    enum Kind { Track, Calo, PF } kind = Track;
    bool variable = false, relative = true;
    double r = 0.2, r_min = 0, r_max = 0.2, k = 10.0, pt_min = 0, abs_eta_max = 2.5;
    std::vector<int> exclude;
};

struct Lepton {
    std::string name;
    int abs_pid;
    rng::Stream stream;
    bool prompt_only;
    double pt_min, abs_eta_max, crack_lo = 0, crack_hi = 0;
    bool crack_drop = false;
    std::vector<std::string> wps;
    std::vector<std::vector<std::size_t>> families;
    std::vector<card::Efficiency> efficiency;  // per WP
    std::shared_ptr<card::Function> resolution;
    std::string smear;
    bool curvature = false;  // smear == "curvature"
    bool dressed = false;                         // §2.4
    std::shared_ptr<card::Function> charge_flip;  // §4.5 (electrons)
};

}  // namespace

struct Detector::Impl {
    std::vector<Lepton> leptons;
    truth::Config truth;
    btag::Tagger tagger;
    std::shared_ptr<card::Function> jer, jes;
    MetConfig met;
    double dressing_dr = 0.1;
    struct TauConfig {
        double pt_min = 20, abs_eta_max = 2.5, crack_lo = 0, crack_hi = 0;
        bool crack_drop = false;
        std::vector<int> prongs_allowed{1, 3};
        std::vector<std::string> wps;
        std::vector<std::vector<std::size_t>> nested;  // one family, loosest first
        std::vector<card::Function> id;   // per WP
        std::shared_ptr<card::Function> resolution;
        // jet -> tau fakes (§7.5)
        bool fakes = false, any_jet = false;
        double fake_jet_pt_min = 20, track_dr = 0.2, track_pt_min = 1.0, track_abs_eta_max = 2.5;
        std::vector<std::array<double, 3>> fake_rate;  // per WP: one_track, three_track, any
    } tau;
    std::vector<Isolation> isolation;
    std::vector<std::string> isolation_names;
    bool remove_dressing_photons = true;
    double jet_R, jet_truth_pt_min;
    double jet_reco_pt_min = 15.0, jet_abs_eta_max = 4.5;  // §8.1 output cuts (smeared pT, eta)
    bool exclusive_inputs = false;  // jet.inputs.mode = "exclusive" (§2.7)
    double track_pt_min = 0.5, track_abs_eta_max = 2.5;  // jet.track_count (§8.5)
    struct Jvt {
        bool enabled = false;
        double pt_min = 20, pt_max = 60, abs_eta_max = 2.4, efficiency = 1.0;
    } jvt;
    struct ElectronFakes {  // §4.6
        bool enabled = false;
        double rate = 0.0;
    } electron_fakes;
    struct LargeR {  // §8.6
        bool enabled = false;
        jets::Definition def;
        double abs_eta_max = 2.0, pt_resolution = 0.05, mass_resolution = 0.10, label_dr = 1.0;
    } large_r;
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
        for (const auto& wp : l.wps) l.efficiency.push_back(c.efficiency(n, wp));
        l.resolution = std::make_shared<card::Function>(c.function(n + ".resolution"));
        l.smear = pid == 13 ? "curvature" : c.string(n + ".resolution.smear", "energy");
        l.curvature = l.smear == "curvature";
        const auto dress = c.strings("truth.dressing.apply_to");
        l.dressed = pid != 22 && std::find(dress.begin(), dress.end(), n) != dress.end();
        if (c.has(n + ".charge_flip") && c.boolean(n + ".charge_flip.enabled", true))
            l.charge_flip = std::make_shared<card::Function>(c.function(n + ".charge_flip"));
        I.leptons.push_back(std::move(l));
    }
    I.jer = std::make_shared<card::Function>(c.function("jet.resolution"));
    if (c.has("jet.jes")) I.jes = std::make_shared<card::Function>(c.function("jet.jes"));
    I.jet_R = c.number("jet.R", 0.4);
    I.dressing_dr = c.number("truth.dressing.dr", I.dressing_dr);
    {
        auto& T = I.tau;
        T.pt_min = c.number("tau.pt_min", T.pt_min);
        T.abs_eta_max = c.number("tau.abs_eta_max", T.abs_eta_max);
        if (c.has("tau.crack")) {
            T.crack_lo = c.number("tau.crack.abs_eta_min", 0.0);
            T.crack_hi = c.number("tau.crack.abs_eta_max", 0.0);
            T.crack_drop = c.string("tau.crack.policy", "keep") == "drop";
        }
        if (c.has("tau.prongs_allowed")) {
            T.prongs_allowed.clear();
            for (double x : c.numbers("tau.prongs_allowed")) T.prongs_allowed.push_back(static_cast<int>(x));
        }
        T.wps = c.working_points("tau.id");
        for (const auto& w : T.wps) T.id.push_back(c.function("tau.id", w));
        T.nested.emplace_back();
        for (const auto& w : c.strings("tau.nested")) {
            const auto it = std::find(T.wps.begin(), T.wps.end(), w);
            if (it != T.wps.end()) T.nested.back().push_back(static_cast<std::size_t>(it - T.wps.begin()));
        }
        T.resolution = std::make_shared<card::Function>(c.function("tau.resolution"));
        T.fakes = c.boolean("tau.fake_from_jet.enabled", false);
        T.any_jet = c.string("tau.fake_from_jet.mode", "track_count") == "any_jet";
        T.fake_jet_pt_min = c.number("tau.fake_from_jet.jet_pt_min", T.fake_jet_pt_min);
        T.track_dr = c.number("tau.fake_from_jet.track_dr", T.track_dr);
        T.track_pt_min = c.number("tau.fake_from_jet.track_pt_min", T.track_pt_min);
        T.track_abs_eta_max = c.number("tau.fake_from_jet.track_abs_eta_max", T.track_abs_eta_max);
        for (const auto& w : T.wps) {
            const std::string k = "tau.fake_from_jet.wp." + w;
            T.fake_rate.push_back({c.number(k + ".one_track", 0.0), c.number(k + ".three_track", 0.0),
                                   c.number(k + ".any", 0.0)});
        }
    }
    for (const auto& name : c.children("isolation")) {
        const std::string k = "isolation." + name;
        Isolation iso;
        iso.name = name;
        const std::string kind = c.string(k + ".kind", "track");
        iso.kind = kind == "calo" ? Isolation::Calo : kind == "pf" ? Isolation::PF : Isolation::Track;
        if (kind != "track" && kind != "calo" && kind != "pf")
            c.fail(k + ".kind", "must be track, calo or pf, got '" + kind + "'");
        iso.variable = c.string(k + ".cone", "fixed") == "variable";
        iso.r = c.number(k + ".r", 0.2);
        iso.r_max = c.number(k + ".r_max", iso.r);
        iso.r_min = c.number(k + ".r_min", 0.0);
        iso.k = c.number(k + ".k_GeV", 10.0);
        iso.pt_min = c.number(k + ".particle_pt_min", 0.0);
        iso.abs_eta_max = c.number(k + ".particle_abs_eta_max", 5.0);
        iso.relative = c.boolean(k + ".relative", true);
        for (double x : c.numbers(k + ".exclude_abs_pdg")) iso.exclude.push_back(static_cast<int>(x));
        I.isolation.push_back(iso);
        I.isolation_names.push_back(name);
    }
    I.remove_dressing_photons = c.boolean("truth.dressing.remove_dressing_photons_from_photon_list", true);
    auto& M = I.met;
    const std::string mode = c.string("met.mode", "object_based");
    if (mode != "object_based" && mode != "truth_smeared")
        c.fail("met.mode", "must be \"object_based\" or \"truth_smeared\", got '" + mode + "'");
    M.object_based = mode == "object_based";
    M.visible_abs_eta_max = c.number("met.visible_abs_eta_max", c.number("truth.final_state_abs_eta_max", 4.9));
    M.hard_jet_pt_min = c.number("met.hard_jet_pt_min", M.hard_jet_pt_min);
    M.hard_jet_abs_eta_max = c.number("met.hard_jet_abs_eta_max", M.hard_jet_abs_eta_max);
    M.overlap_dr = c.number("met.jet_object_overlap_dr", M.overlap_dr);
    M.track_soft_term = c.string("met.soft_term.kind", "track") == "track";
    M.soft_pt_min = c.number("met.soft_term.particle_pt_min", M.soft_pt_min);
    M.soft_abs_eta_max = c.number("met.soft_term.particle_abs_eta_max", M.soft_abs_eta_max);
    M.response = c.number("met.soft_term.response", 1.0);
    M.noise = c.number("met.soft_term.noise_sigma_xy", M.noise);
    if (c.has("met.soft_term.track_efficiency"))
        M.track_efficiency = std::make_shared<card::Function>(c.function("met.soft_term.track_efficiency"));
    if (!M.object_based)
        M.smeared_resolution = std::make_shared<card::Expression>(c.string("met.truth_smeared.resolution", "0"),
                                                                  c.source() + " met.truth_smeared.resolution");
    I.jet_truth_pt_min = c.number("jet.truth_pt_min", 10.0);
    // §8.1: only anti-kt; jets are emitted after smearing above reco_pt_min within abs_eta_max
    if (const auto algo = c.string("jet.algorithm", "antikt"); algo != "antikt")
        c.fail("jet.algorithm", "only \"antikt\" is supported, got '" + algo + "'");
    I.jet_reco_pt_min = c.number("jet.reco_pt_min", I.jet_reco_pt_min);
    I.jet_abs_eta_max = c.number("jet.abs_eta_max", I.jet_abs_eta_max);
    const std::string input_mode = c.string("jet.inputs.mode", "inclusive");
    if (input_mode != "inclusive" && input_mode != "exclusive")
        c.fail("jet.inputs.mode", "must be \"inclusive\" or \"exclusive\", got '" + input_mode + "'");
    I.exclusive_inputs = input_mode == "exclusive";
    I.track_pt_min = c.number("jet.track_count.particle_pt_min", I.track_pt_min);
    I.track_abs_eta_max = c.number("jet.track_count.particle_abs_eta_max", I.track_abs_eta_max);
    I.jvt.enabled = c.boolean("jet.jvt.enabled", false);
    I.jvt.pt_min = c.number("jet.jvt.pt_min", I.jvt.pt_min);
    I.jvt.pt_max = c.number("jet.jvt.pt_max", I.jvt.pt_max);
    I.jvt.abs_eta_max = c.number("jet.jvt.abs_eta_max", I.jvt.abs_eta_max);
    I.jvt.efficiency = c.number("jet.jvt.efficiency", I.jvt.efficiency);
    I.electron_fakes.enabled = c.boolean("electron.fake_from_jet.enabled", false);
    I.electron_fakes.rate = c.number("electron.fake_from_jet.rate", 0.0);
    if (I.electron_fakes.rate < 0 || I.electron_fakes.rate > 1)
        c.fail("electron.fake_from_jet.rate", "must be in [0, 1]");
    auto& L = I.large_r;
    L.enabled = c.has("large_r_jet") && c.boolean("large_r_jet.enabled", true);
    if (L.enabled) {
        const std::string algo = c.string("large_r_jet.algorithm", "antikt");
        if (algo != "antikt")
            c.fail("large_r_jet.algorithm", "only \"antikt\" is supported, got '" + algo + "'");
        L.def.R = c.number("large_r_jet.R", 1.0);
        L.def.pt_min = c.number("large_r_jet.truth_pt_min", 100.0);
        L.def.n_subjettiness = 3;
        const std::string g = c.string("large_r_jet.grooming.kind", "none");
        auto& G = L.def.grooming;
        if (g == "trimming") {
            G.kind = jets::Grooming::Kind::Trimming;
            G.r_sub = c.number("large_r_jet.grooming.r_sub", G.r_sub);
            G.f_cut = c.number("large_r_jet.grooming.f_cut", G.f_cut);
        } else if (g == "softdrop") {
            G.kind = jets::Grooming::Kind::SoftDrop;
            G.beta = c.number("large_r_jet.grooming.beta", G.beta);
            G.z_cut = c.number("large_r_jet.grooming.z_cut", G.z_cut);
            G.R0 = c.number("large_r_jet.grooming.R0", L.def.R);
        } else if (g != "none") {
            c.fail("large_r_jet.grooming.kind", "must be \"trimming\", \"softdrop\" or \"none\", got '" + g + "'");
        }
        L.abs_eta_max = c.number("large_r_jet.abs_eta_max", L.abs_eta_max);
        L.pt_resolution = c.number("large_r_jet.pt_resolution", L.pt_resolution);
        L.mass_resolution = c.number("large_r_jet.mass_resolution", L.mass_resolution);
        L.label_dr = c.number("large_r_jet.boson_label_dr", L.def.R);
    }
}

Detector::~Detector() = default;

std::uint64_t Detector::run_seed() const { return impl_->seed; }

const std::vector<std::string>& Detector::isolation_names() const { return impl_->isolation_names; }

bool Detector::large_r_enabled() const { return impl_->large_r.enabled; }

const std::vector<std::string>& Detector::working_points(const std::string& object) const {
    if (object == "btag") return impl_->tagger.working_points();
    if (object == "tau") return impl_->tau.wps;
    for (const auto& l : impl_->leptons)
        if (l.name == object) return l.wps;
    throw std::invalid_argument("unknown object '" + object + "' (electron, muon, photon, tau, btag)");
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

// An |eta| window this much wider than a cone holds every particle within the cone: delta_r >= |d_eta|
// up to rounding (~1e-15 here), so the exact delta_r test on the window gives the full-scan result.
constexpr double kWindowMargin = 1e-9;

// pT, eta, phi of the stable particles of one event (event-local index; other entries are stale and
// never read: every use is for a stable particle) and buffers reused from event to event by one
// thread (no per-event allocation). pT and eta are those of the truth classification; phi is
// computed only for the particles that need it (dressing, isolation, tau-fake tracks), with
// set_phi before use.
struct ParticleKinematics {
    const double* pt = nullptr;   // truth.pt of the event
    const double* eta = nullptr;  // truth.eta of the event
    const double* px = nullptr;
    const double* py = nullptr;
    std::vector<double> phi;
    void set_phi(std::size_t i) { phi[i] = std::atan2(py[i], px[i]); }
    // isolation (§2.8): stable visible particles with a finite eta, sorted by eta (ties: index)
    bool iso_ready = false;
    std::vector<std::int32_t> iso_order;
    std::vector<double> iso_eta;
    std::vector<std::int32_t> hits;
    // jet -> tau fakes (§7.5): the tracks counted around jets
    bool tracks_ready = false;
    std::vector<double> track_eta, track_phi;
    // per-event work arrays
    std::vector<std::int32_t> dressed_to;
    std::vector<std::size_t> leptons;
    std::vector<double> eff;
    std::vector<std::uint8_t> used, hard_tau;
    std::vector<std::uint32_t> seen;
    std::uint32_t stamp = 0;
    std::vector<std::int32_t> todo;
    std::vector<std::pair<double, double>> hard_eg;

    void start_event(const EventView& ev, const truth::Classification& truth, std::int64_t b, std::int64_t e_end) {
        pt = truth.pt.data() + b, eta = truth.eta.data() + b;
        px = ev.px.ptr + b, py = ev.py.ptr + b;
        phi.resize(static_cast<std::size_t>(e_end - b));
        iso_ready = tracks_ready = false;
    }
    void index_isolation(const std::uint16_t* flags, std::int64_t b, std::size_t n) {
        if (iso_ready) return;
        iso_ready = true;
        iso_order.clear();
        for (std::size_t i = 0; i < n; ++i) {
            const auto f = flags[b + static_cast<std::int64_t>(i)];
            if ((f & truth::kStable) && !(f & truth::kInvisible) && !std::isnan(eta[i]))
                iso_order.push_back(static_cast<std::int32_t>(i)), set_phi(i);
        }
        std::stable_sort(iso_order.begin(), iso_order.end(), [&](std::int32_t a, std::int32_t c) { return eta[a] < eta[c]; });
        iso_eta.resize(iso_order.size());
        for (std::size_t k = 0; k < iso_order.size(); ++k) iso_eta[k] = eta[iso_order[k]];
    }
    /// A fresh "seen" marker for a walk over the n particles of the event.
    std::uint32_t next_stamp(std::size_t n) {
        if (seen.size() < n || stamp == 0xffffffffu) seen.assign(std::max(n, seen.size()), 0), stamp = 0;
        return ++stamp;
    }
};

// §10: truth reference, then object-based or truth-smeared reconstruction of event iev (whose
// electrons, muons, photons and jets are the last entries of `out`).
void event_met(const Detector::Impl& I, const EventView& ev, const truth::Classification& truth,
               const jets::JetBatch& jets, const std::vector<std::int64_t>& jet_src, std::size_t iev,
               const rng::EventRandom& random, const std::vector<std::int32_t>& dressed_to, ParticleKinematics& k,
               Output& out) {
    const auto& M = I.met;
    const auto b = ev.particle_offsets[iev], e_end = ev.particle_offsets[iev + 1];
    const std::size_t n = static_cast<std::size_t>(e_end - b);
    auto pt_of = [&](std::int64_t g) { return k.pt[g - b]; };
    auto abs_eta_of = [&](std::int64_t g) { return std::fabs(k.eta[g - b]); };
    auto visible = [&](std::int64_t g) {
        const auto f = truth.flags[g];
        // beyond truth.final_state_abs_eta_max a particle is lost (§2.1): missing, like an invisible one
        return (f & truth::kStable) && !(f & (truth::kInvisible | truth::kLost)) && abs_eta_of(g) <= M.visible_abs_eta_max;
    };
    double tx = 0, ty = 0, tset = 0;
    for (auto g = b; g < e_end; ++g)
        if (visible(g)) tx -= ev.px[g], ty -= ev.py[g], tset += pt_of(g);
    out.met.truth_x.push_back(tx);
    out.met.truth_y.push_back(ty);
    out.met.truth_set.push_back(tset);
    if (!M.object_based) {  // §10.4: |MET_true + sigma z| along the true direction
        card::Values v{};
        const double met = std::hypot(tx, ty);
        v[static_cast<int>(card::Var::set)] = tset;
        v[static_cast<int>(card::Var::met)] = met;
        const double z = random.normals(rng::Stream::met, 1, 0).first;
        const double smeared = std::fabs(met + M.smeared_resolution->evaluate(v) * z);
        const double scale = met > 0 ? smeared / met : 0.0;
        out.met.x.push_back(tx * scale);
        out.met.y.push_back(ty * scale);
        out.met.set.push_back(tset);
        return;
    }
    // hard objects: leptons/photons passing their loosest WP (mask != 0 for nested families)
    auto& used = k.used;
    used.assign(n, 0);
    double hx = 0, hy = 0, hset = 0;
    auto& hard_eg = k.hard_eg;  // (eta, phi) of hard e/gamma for the jet overlap
    hard_eg.clear();
    for (int kind = 0; kind < 3; ++kind) {
        const Objects& o = kind == 0 ? out.electrons : kind == 1 ? out.muons : out.photons;
        for (auto i = o.offsets[o.offsets.size() - 2]; i < o.offsets.back(); ++i) {
            if (o.mask[i] == 0) continue;
            used[o.truth_index[i]] = 1;
            for (std::size_t c = 0; c < n; ++c)  // its dressing photons belong to it
                if (dressed_to[c] == o.truth_index[i]) used[c] = 1;
            hx += o.pt[i] * std::cos(o.phi[i]);
            hy += o.pt[i] * std::sin(o.phi[i]);
            hset += o.pt[i];
            if (kind != 1) hard_eg.emplace_back(o.eta[i], o.phi[i]);
        }
    }
    // hard taus: their visible products belong to them (found by climbing from each tau product)
    const Objects& T = out.taus;
    const auto t0 = T.offsets[T.offsets.size() - 2];
    auto add_hard = [&](std::int64_t i) {
        hx += T.pt[i] * std::cos(T.phi[i]);
        hy += T.pt[i] * std::sin(T.phi[i]);
        hset += T.pt[i];
        hard_eg.emplace_back(T.eta[i], T.phi[i]);
    };
    auto& hard_tau = k.hard_tau;
    hard_tau.assign(n, 0);
    bool any = false;
    for (auto i = t0; i < T.offsets.back(); ++i)
        if (T.mask[i] != 0 && T.truth_index[i] >= 0) hard_tau[T.truth_index[i]] = 1, any = true, add_hard(i);
    if (any)
        for (std::size_t i = 0; i < n; ++i) {
            if (!(truth.flags[b + static_cast<std::int64_t>(i)] & truth::kFromHadronicTau)) continue;
            auto& todo = k.todo;
            todo.assign(1, static_cast<std::int32_t>(i));
            const std::uint32_t mark = k.next_stamp(n);
            auto& seen = k.seen;
            while (!todo.empty() && !used[i]) {
                const auto j = static_cast<std::size_t>(todo.back());
                todo.pop_back();
                for (auto q = ev.parent_offsets[b + j]; q < ev.parent_offsets[b + j + 1]; ++q) {
                    const auto p = static_cast<std::size_t>(ev.parents[q]);
                    if (seen[p] == mark) continue;
                    seen[p] = mark;
                    if (hard_tau[p]) used[i] = 1;
                    todo.push_back(static_cast<std::int32_t>(p));
                }
            }
        }
    // fake taus: their jet's constituents are the tau, unless one already belongs to a hard object
    for (auto i = t0; i < T.offsets.back(); ++i) {
        if (T.mask[i] == 0 || T.truth_index[i] >= 0) continue;
        const auto jj = jet_src[static_cast<std::size_t>(-1 - T.truth_index[i])];
        bool shared = false;
        for (auto c = jets.constituent_offsets[jj]; c < jets.constituent_offsets[jj + 1]; ++c)
            shared |= used[jets.constituents[c]] != 0;
        if (shared) continue;
        for (auto c = jets.constituent_offsets[jj]; c < jets.constituent_offsets[jj + 1]; ++c)
            used[jets.constituents[c]] = 1;
        add_hard(i);
    }
    const Objects& J = out.jets;
    const auto j0 = J.offsets[J.offsets.size() - 2];
    for (auto i = j0; i < J.offsets.back(); ++i) {
        if (J.lost[i] || J.pt[i] <= M.hard_jet_pt_min || std::fabs(J.eta[i]) >= M.hard_jet_abs_eta_max) continue;
        bool overlaps = false;
        for (const auto& [eta, phi] : hard_eg) overlaps |= delta_r(eta, phi, J.eta[i], J.phi[i]) < M.overlap_dr;
        const auto jj = jet_src[static_cast<std::size_t>(i - j0)];  // the same jet in the clustering output
        // a jet holding a hard object as constituent also overlaps, so that no particle counts twice
        for (auto c = jets.constituent_offsets[jj]; c < jets.constituent_offsets[jj + 1] && !overlaps; ++c)
            overlaps = used[jets.constituents[c]] != 0;
        if (overlaps) continue;
        for (auto c = jets.constituent_offsets[jj]; c < jets.constituent_offsets[jj + 1]; ++c) used[jets.constituents[c]] = 1;
        hx += J.pt[i] * std::cos(J.phi[i]);
        hy += J.pt[i] * std::sin(J.phi[i]);
        hset += J.pt[i];
    }
    // muons outside the tracker that are not hard objects: their momentum is missing (M_lost)
    // soft term over the remaining visible particles S
    double sx = 0, sy = 0, sset = 0;
    for (auto g = b; g < e_end; ++g) {
        const auto i = static_cast<std::size_t>(g - b);
        if (used[i] || !visible(g)) continue;
        const double pt = pt_of(g), ae = abs_eta_of(g);
        if (std::abs(ev.pid[g]) == 13 && ae > M.tracker_abs_eta_max) continue;  // M_lost
        double w = 0;
        if (M.track_soft_term) {
            if (ev.charge3[g] != 0 && pt > M.soft_pt_min && ae < M.soft_abs_eta_max) {
                double eff = 1.0;
                if (M.track_efficiency) {
                    card::Values v{};
                    v[static_cast<int>(card::Var::pt)] = pt;
                    v[static_cast<int>(card::Var::abs_eta)] = ae;
                    eff = (*M.track_efficiency)(v);
                }
                const double u = random.uniforms(rng::Stream::track, 0, static_cast<std::uint32_t>(i)).first;
                w = u < eff ? 1.0 : 0.0;
            }
        } else if (pt > M.soft_pt_min && ae < M.soft_abs_eta_max) {
            w = M.response;
        }
        sx += w * ev.px[g], sy += w * ev.py[g], sset += w * pt;
    }
    const auto noise = random.normals(rng::Stream::met, 1, 0);
    out.met.x.push_back(-(hx + sx) + M.noise * noise.first);
    out.met.y.push_back(-(hy + sy) + M.noise * noise.second);
    out.met.set.push_back(hset + sset);
}

// A fake object made from jet i (local index k in its event): the jet's smeared momentum,
// truth_index = -1 - k, charge +-1 from a uniform.
void push_fake(Objects& o, const Objects& J, std::int64_t i, std::int64_t k, double mass, double u_charge,
               std::uint32_t mask, std::int8_t label) {
    o.truth_index.push_back(static_cast<std::int32_t>(-1 - k));
    o.pt.push_back(J.pt[i]);
    o.eta.push_back(J.eta[i]);
    o.phi.push_back(J.phi[i]);
    o.mass.push_back(mass);
    o.truth_pt.push_back(J.truth_pt[i]);
    o.truth_eta.push_back(J.truth_eta[i]);
    o.truth_phi.push_back(J.truth_phi[i]);
    o.charge3.push_back(u_charge < 0.5 ? 3 : -3);
    o.mask.push_back(mask);
    o.lost.push_back(0);
    o.label.push_back(label);
}

// §7.5: jets without a hadronic tau within 0.2 fake a tau with the rate of their track count
// (1 or 3 charged particles above track_pt_min within track_dr; CMS "any_jet": one rate for every
// jet). One uniform per jet (stream jet_tau_fake, block 0) against the nested rates; only jets
// passing at least one working point become (fake) taus: truth_index = -1 - (index of the jet in
// its event), smeared jet momentum,
// charge from the second uniform, prong count = track count. Appended to the event's taus.
void add_fake_taus(const Detector::Impl& I, const EventView& ev, const truth::Classification& truth,
                   const jets::JetBatch& jets, const std::vector<std::int64_t>& jet_src, std::size_t iev,
                   const rng::EventRandom& random, ParticleKinematics& k, Output& out) {
    const auto& T = I.tau;
    const Objects& J = out.jets;
    Objects& o = out.taus;
    o.offsets.pop_back();  // reopen this event's taus
    const auto j0 = J.offsets[J.offsets.size() - 2];
    const auto b = ev.particle_offsets[iev], e_end = ev.particle_offsets[iev + 1];
    for (auto i = j0; i < J.offsets.back(); ++i) {
        const auto jj = jet_src[static_cast<std::size_t>(i - j0)];
        const auto rank = static_cast<std::uint32_t>(jj - jets.jet_offsets[iev]);  // RNG object index (§14.4)
        const double ae = std::fabs(J.truth_eta[i]);
        if (J.lost[i] || J.truth_pt[i] <= T.fake_jet_pt_min || ae >= T.abs_eta_max) continue;
        if (T.crack_drop && ae >= T.crack_lo && ae < T.crack_hi) continue;
        bool near_tau = false;
        for (auto t = truth.taus.offsets[iev]; t < truth.taus.offsets[iev + 1]; ++t) {
            const double tpt = std::hypot(truth.taus.px[t], truth.taus.py[t]);
            if (tpt > 0 && delta_r(std::asinh(truth.taus.pz[t] / tpt), std::atan2(truth.taus.py[t], truth.taus.px[t]),
                                   jets.eta[jj], jets.phi[jj]) < 0.2)
                near_tau = true;
        }
        if (near_tau) continue;
        if (!k.tracks_ready) {  // the candidate tracks of the event, once
            k.tracks_ready = true;
            k.track_eta.clear(), k.track_phi.clear();
            for (auto g = b; g < e_end; ++g) {
                if (!(truth.flags[g] & truth::kStable) || ev.charge3[g] == 0) continue;
                const auto p = static_cast<std::size_t>(g - b);
                if (k.pt[p] <= T.track_pt_min || std::fabs(k.eta[p]) >= T.track_abs_eta_max) continue;
                k.set_phi(p);
                k.track_eta.push_back(k.eta[p]), k.track_phi.push_back(k.phi[p]);
            }
        }
        int tracks = 0;
        const double jeta = jets.eta[jj], jphi = jets.phi[jj], window = T.track_dr + kWindowMargin;
        for (std::size_t t = 0; t < k.track_eta.size(); ++t) {
            if (!(std::fabs(k.track_eta[t] - jeta) < window)) continue;  // outside the cone for sure (NaN: never inside)
            if (delta_r(k.track_eta[t], k.track_phi[t], jeta, jphi) < T.track_dr) ++tracks;
        }
        auto& rate = k.eff;
        rate.assign(T.wps.size(), 0.0);
        for (std::size_t w = 0; w < T.wps.size(); ++w)
            rate[w] = T.any_jet ? T.fake_rate[w][2] : tracks == 1 ? T.fake_rate[w][0] : tracks == 3 ? T.fake_rate[w][1] : 0.0;
        enforce_nesting(rate, T.nested);
        const auto [u, u_charge] = random.uniforms(rng::Stream::jet_tau_fake, 0, rank);
        const std::uint32_t mask = wp_mask(u, rate);
        if (mask == 0) continue;
        push_fake(o, J, i, i - j0, J.mass[i], u_charge, mask, static_cast<std::int8_t>(std::min(tracks, 127)));
    }
    o.offsets.push_back(static_cast<std::int64_t>(o.pt.size()));
}

// §4.6 (off by default): each jet in the electron acceptance fakes an electron with probability
// `rate` (stream jet_e_fake, block 0 u_a); the fake takes the smeared jet momentum, a random
// charge (u_b), every working point (the rate is that of the card's identification) and
// truth_index = -1 - jet index. Added after MET, which already counts the jet.
void add_fake_electrons(const Detector::Impl& I, const jets::JetBatch& jets, const std::vector<std::int64_t>& jet_src,
                        std::size_t iev, const rng::EventRandom& random, Output& out) {
    const Objects& J = out.jets;
    Objects& o = out.electrons;
    const auto& L = I.leptons[0];
    o.offsets.pop_back();
    const auto j0 = J.offsets[J.offsets.size() - 2];
    const std::uint32_t all = L.wps.empty() ? 0u : static_cast<std::uint32_t>((std::uint64_t{1} << L.wps.size()) - 1);
    for (auto i = j0; i < J.offsets.back(); ++i) {
        if (J.lost[i] || J.pt[i] < L.pt_min || std::fabs(J.eta[i]) >= L.abs_eta_max) continue;
        const auto rank = static_cast<std::uint32_t>(jet_src[static_cast<std::size_t>(i - j0)] - jets.jet_offsets[iev]);
        const auto [u, u_charge] = random.uniforms(rng::Stream::jet_e_fake, 0, rank);
        if (!(u < I.electron_fakes.rate)) continue;
        push_fake(o, J, i, i - j0, 0.000511, u_charge, all, 0);
        o.isolation.insert(o.isolation.end(), I.isolation.size(), 0.0);
    }
    o.offsets.push_back(static_cast<std::int64_t>(o.pt.size()));
}

// §8.6: groomed anti-kt jets above truth_pt_min (index = rank, §14.4) within |eta| < abs_eta_max;
// pT and mass scaled by (1 + sigma z) from stream large_r_jet block 1; label = |id| of the nearest
// hadronic W/Z/H (kHadronicBoson) or top within boson_label_dr, else 0.
void add_large_r_jets(const Detector::Impl& I, const EventView& ev, const truth::Classification& truth,
                      const jets::JetBatch& fat, std::size_t iev, const rng::EventRandom& random, Objects& o) {
    const auto& L = I.large_r;
    const auto b = ev.particle_offsets[iev], e_end = ev.particle_offsets[iev + 1];
    for (auto j = fat.jet_offsets[iev]; j < fat.jet_offsets[iev + 1]; ++j) {
        if (std::fabs(fat.eta[j]) >= L.abs_eta_max) continue;
        const auto object = static_cast<std::uint32_t>(j - fat.jet_offsets[iev]);
        const auto [z_pt, z_m] = random.normals(rng::Stream::large_r_jet, 1, object);
        const double spt = 1.0 + L.pt_resolution * z_pt, sm = 1.0 + L.mass_resolution * z_m;
        const bool lost = spt <= 0;
        int label = 0;
        double best = L.label_dr;
        for (auto g = b; g < e_end; ++g) {
            if (!(truth.flags[g] & (truth::kHadronicBoson | truth::kHadronicTop))) continue;
            const double pt = std::hypot(ev.px[g], ev.py[g]);
            if (!(pt > 0)) continue;
            const double d = delta_r(std::asinh(ev.pz[g] / pt), std::atan2(ev.py[g], ev.px[g]), fat.eta[j], fat.phi[j]);
            if (d < best) best = d, label = std::abs(ev.pid[g]);
        }
        o.truth_index.push_back(-1);
        o.pt.push_back(lost ? 0.0 : fat.pt[j] * spt);
        o.eta.push_back(fat.eta[j]);
        o.phi.push_back(fat.phi[j]);
        o.mass.push_back(lost ? 0.0 : fat.mass[j] * std::max(sm, 0.0));
        o.truth_pt.push_back(fat.pt[j]);
        o.truth_eta.push_back(fat.eta[j]);
        o.truth_phi.push_back(fat.phi[j]);
        o.charge3.push_back(0);
        o.mask.push_back(0);
        o.lost.push_back(lost ? 1 : 0);
        o.label.push_back(static_cast<std::int8_t>(label));
        for (int k = 0; k < 3; ++k) o.tau.push_back(fat.tau[static_cast<std::size_t>(j) * 3 + static_cast<std::size_t>(k)]);
    }
    o.offsets.push_back(static_cast<std::int64_t>(o.pt.size()));
}

void reconstruct_range(const Detector::Impl& I, const EventView& ev,
                       const truth::Classification& truth, const jets::JetBatch& jets, const jets::JetBatch& large_r,
                       const std::vector<std::int8_t>& labels, const std::vector<std::uint32_t>& btags,
                       std::uint64_t first_key, std::size_t first, std::size_t last, Output& out, Profile* prof) {
    Profile unused;
    Profile& P = prof ? *prof : unused;
    Lap lap(prof != nullptr);
    ParticleKinematics scratch;  // reused from event to event
    std::vector<std::int64_t> jet_src;  // clustered jet (batch index) of each emitted jet of the event
    for (std::size_t iev = first; iev < last; ++iev) {
        const rng::EventRandom random(I.seed, first_key + iev);
        const auto b = ev.particle_offsets[iev], e_end = ev.particle_offsets[iev + 1];
        // §2.4 dressing: each prompt photon within dr of prompt bare leptons joins the nearest one
        const std::size_t n_local = static_cast<std::size_t>(e_end - b);
        ParticleKinematics& kin = scratch;
        kin.start_event(ev, truth, b, e_end);
        lap(P.kinematics);
        auto& dressed_to = kin.dressed_to;
        dressed_to.assign(n_local, -1);
        {
            auto& leptons = kin.leptons;
            leptons.clear();
            for (auto g = b; g < e_end; ++g) {
                const int a = std::abs(ev.pid[g]);
                if (!(truth.flags[g] & truth::kStable) || !(truth.flags[g] & truth::kPrompt)) continue;
                if ((a == 11 && I.leptons[0].dressed) || (a == 13 && I.leptons[1].dressed))
                    leptons.push_back(static_cast<std::size_t>(g - b));
            }
            if (!leptons.empty())
                for (auto g = b; g < e_end; ++g) {
                    if (ev.pid[g] != 22 || !(truth.flags[g] & truth::kStable) || !(truth.flags[g] & truth::kPrompt)) continue;
                    const auto p = static_cast<std::size_t>(g - b);
                    double best = I.dressing_dr;
                    for (auto l : leptons) {
                        kin.set_phi(p), kin.set_phi(l);
                        const double d = delta_r(kin.eta[p], kin.phi[p], kin.eta[l], kin.phi[l]);
                        if (d < best) best = d, dressed_to[p] = static_cast<std::int32_t>(l);
                    }
                }
        }
        lap(P.dressing);
        for (std::size_t k = 0; k < I.leptons.size(); ++k) {
            const auto& L = I.leptons[k];
            Objects& o = k == 0 ? out.electrons : k == 1 ? out.muons : out.photons;
            for (auto g = b; g < e_end; ++g) {
                const auto f = truth.flags[g];
                if (!(f & truth::kStable) || std::abs(ev.pid[g]) != L.abs_pid) continue;
                if (L.prompt_only && !(f & truth::kPrompt)) continue;
                if (L.abs_pid == 22 && I.remove_dressing_photons && dressed_to[g - b] >= 0) continue;
                double p4[4] = {ev.px[g], ev.py[g], ev.pz[g], ev.e[g]};
                if (L.dressed)
                    for (std::size_t c = 0; c < n_local; ++c)
                        if (dressed_to[c] == g - b) {
                            const auto gc = b + static_cast<std::int64_t>(c);
                            p4[0] += ev.px[gc], p4[1] += ev.py[gc], p4[2] += ev.pz[gc], p4[3] += ev.e[gc];
                        }
                const double pt = std::hypot(p4[0], p4[1]);
                const double eta = std::asinh(p4[2] / pt), phi = std::atan2(p4[1], p4[0]);
                const double ae = std::fabs(eta);
                if (pt < L.pt_min || ae >= L.abs_eta_max) continue;
                if (L.crack_drop && ae >= L.crack_lo && ae < L.crack_hi) continue;
                const auto object = static_cast<std::uint32_t>(g - b);
                const double m2 = p4[3] * p4[3] - p4[0] * p4[0] - p4[1] * p4[1] - p4[2] * p4[2];
                const double mass = L.dressed ? std::sqrt(std::max(m2, 0.0)) : ev.mass[g];
                const auto v = kinematics(pt, eta, phi, p4[3], mass);
                // working points: one uniform, nested families enforced (§3.2)
                const auto [u, u_flip] = random.uniforms(L.stream, 0, object);
                auto& eff = kin.eff;
                eff.resize(L.wps.size());
                for (std::size_t w = 0; w < L.wps.size(); ++w) eff[w] = L.efficiency[w](v);
                enforce_nesting(eff, L.families);
                const std::uint32_t mask = wp_mask(u, eff);
                // smearing (§3.3), normal from block 1
                const double z = random.normals(L.stream, 1, object).first;
                double spt = pt, m = std::max(mass, 0.0);
                int q3 = ev.charge3[g];
                if (L.charge_flip && u_flip < (*L.charge_flip)(v)) q3 = -q3;  // §4.5, second uniform of block 0
                bool lost = false;
                if (L.curvature) {
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
                    const double e2 = p4[3] + sigma * z;
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
                o.lost.push_back(0);  // emitted jets are never lost (dropped instead)
                o.label.push_back(0);
                // truth isolation (§2.8): the candidate and its dressing photons are excluded
                lap(P.leptons);
                // Only the particles in an eta window around the candidate can be in its cone; those
                // inside are summed in record order, as a scan of the whole record would.
                if (!I.isolation.empty()) kin.index_isolation(truth.flags.data(), b, n_local);
                for (const auto& iso : I.isolation) {
                    const double cone = iso.variable ? std::max(iso.r_min, std::min(iso.k / pt, iso.r_max)) : iso.r;
                    double sum = 0;
                    auto& hits = kin.hits;
                    hits.clear();
                    if (!std::isnan(eta) && !std::isnan(cone)) {  // else no particle is within the cone
                        const auto lo = std::lower_bound(kin.iso_eta.begin(), kin.iso_eta.end(), eta - cone - kWindowMargin);
                        const auto hi = std::upper_bound(lo, kin.iso_eta.end(), eta + cone + kWindowMargin);
                        for (auto it = lo; it != hi; ++it) {
                            const auto p = static_cast<std::size_t>(kin.iso_order[static_cast<std::size_t>(it - kin.iso_eta.begin())]);
                            const auto h = b + static_cast<std::int64_t>(p);
                            if (h == g) continue;  // stable and visible by construction of the index
                            if (L.dressed && dressed_to[p] == g - b) continue;
                            const int a = std::abs(ev.pid[h]);
                            if (std::find(iso.exclude.begin(), iso.exclude.end(), a) != iso.exclude.end()) continue;
                            if (iso.kind == Isolation::Track && ev.charge3[h] == 0) continue;
                            if (iso.kind != Isolation::Track && a == 13) continue;
                            if (kin.pt[p] <= iso.pt_min || std::fabs(kin.eta[p]) >= iso.abs_eta_max) continue;
                            if (delta_r(eta, phi, kin.eta[p], kin.phi[p]) < cone) hits.push_back(static_cast<std::int32_t>(p));
                        }
                        std::sort(hits.begin(), hits.end());
                        for (const auto p : hits) sum += kin.pt[static_cast<std::size_t>(p)];
                    }
                    o.isolation.push_back(iso.relative ? sum / pt : sum);
                }
                lap(P.isolation);
            }
            o.offsets.push_back(static_cast<std::int64_t>(o.pt.size()));
        }
        lap(P.leptons);
        // hadronic taus (§7): visible momentum, per-prong WPs (one uniform), jet-resolution smearing
        {
            const auto& T = I.tau;
            Objects& o = out.taus;
            const auto& tt = truth.taus;
            for (auto k = tt.offsets[iev]; k < tt.offsets[iev + 1]; ++k) {
                const double pt = std::hypot(tt.px[k], tt.py[k]);
                if (!(pt > 0)) continue;
                const double eta = std::asinh(tt.pz[k] / pt), phi = std::atan2(tt.py[k], tt.px[k]);
                const double ae = std::fabs(eta);
                if (pt < T.pt_min || ae >= T.abs_eta_max) continue;
                if (T.crack_drop && ae >= T.crack_lo && ae < T.crack_hi) continue;
                const double m2 = tt.e[k] * tt.e[k] - pt * pt - tt.pz[k] * tt.pz[k];
                const double mass = std::sqrt(std::max(m2, 0.0));
                const auto v = kinematics(pt, eta, phi, tt.e[k], mass);
                const int prongs = tt.prongs[k];
                const bool allowed =
                    std::find(T.prongs_allowed.begin(), T.prongs_allowed.end(), prongs) != T.prongs_allowed.end();
                const auto object = static_cast<std::uint32_t>(tt.index[k]);
                const double u = random.uniforms(rng::Stream::tau, 0, object).first;
                auto& eff = kin.eff;
                eff.assign(T.wps.size(), 0.0);
                if (allowed)
                    for (std::size_t w = 0; w < T.wps.size(); ++w) eff[w] = std::min(1.0, T.id[w](v, prongs));
                enforce_nesting(eff, T.nested);
                const std::uint32_t mask = wp_mask(u, eff);
                const double scale = 1.0 + (*T.resolution)(v) * random.normals(rng::Stream::tau, 1, object).first;
                const bool lost = scale <= 0;
                o.truth_index.push_back(tt.index[k]);
                o.pt.push_back(lost ? 0.0 : pt * scale);
                o.eta.push_back(eta);
                o.phi.push_back(phi);
                o.mass.push_back(lost ? 0.0 : mass * scale);
                o.truth_pt.push_back(pt);
                o.truth_eta.push_back(eta);
                o.truth_phi.push_back(phi);
                o.charge3.push_back(tt.charge3[k]);
                o.mask.push_back(lost ? 0u : mask);
                o.lost.push_back(0);  // emitted jets are never lost (dropped instead)
                o.label.push_back(static_cast<std::int8_t>(std::min(prongs, 127)));
            }
            o.offsets.push_back(static_cast<std::int64_t>(o.pt.size()));
        }
        // jets: three-momentum scale smearing (JES x (1 + sigma/pT z)), jet_smear block 1; emitted
        // when the smeared pT > reco_pt_min and |eta| < abs_eta_max (§8.1; a jet with f <= 0 is
        // dropped). Random numbers keep the truth-jet rank (§14.4); fake-tau/electron indices
        // point into the emitted list.
        lap(P.taus);
        Objects& o = out.jets;
        jet_src.clear();
        for (auto j = jets.jet_offsets[iev]; j < jets.jet_offsets[iev + 1]; ++j) {
            const auto object = static_cast<std::uint32_t>(j - jets.jet_offsets[iev]);
            const auto v = kinematics(jets.pt[j], jets.eta[j], jets.phi[j], jets.e[j], jets.mass[j]);
            const double rel = (*I.jer)(v);
            const double z = random.normals(rng::Stream::jet_smear, 1, object).first;
            const double scale = (I.jes ? (*I.jes)(v) : 1.0) * (1.0 + rel * z);
            if (scale <= 0 || !(jets.pt[j] * scale > I.jet_reco_pt_min) || !(std::fabs(jets.eta[j]) < I.jet_abs_eta_max)) continue;
            jet_src.push_back(j);
            o.truth_index.push_back(-1);
            o.pt.push_back(jets.pt[j] * scale);
            o.eta.push_back(jets.eta[j]);
            o.phi.push_back(jets.phi[j]);
            o.mass.push_back(jets.mass[j] * scale);
            o.truth_pt.push_back(jets.pt[j]);
            o.truth_eta.push_back(jets.eta[j]);
            o.truth_phi.push_back(jets.phi[j]);
            o.charge3.push_back(0);
            o.mask.push_back(btags[j]);
            o.lost.push_back(0);  // emitted jets are never lost (dropped instead)
            o.label.push_back(labels[j]);
            int tracks = 0;
            double track_pt = 0;
            for (auto k = jets.constituent_offsets[j]; k < jets.constituent_offsets[j + 1]; ++k) {
                const auto c = static_cast<std::size_t>(jets.constituents[k]);
                if (ev.charge3[b + static_cast<std::int64_t>(c)] == 0) continue;
                if (kin.pt[c] <= I.track_pt_min || std::fabs(kin.eta[c]) >= I.track_abs_eta_max) continue;
                ++tracks, track_pt += kin.pt[c];
            }
            o.n_tracks.push_back(tracks);
            o.track_pt.push_back(track_pt);
            bool jvt = true;  // §8.4: first uniform of jet_smear block 0
            const auto& V = I.jvt;
            if (V.enabled && jets.pt[j] >= V.pt_min && jets.pt[j] < V.pt_max && std::fabs(jets.eta[j]) < V.abs_eta_max)
                jvt = random.uniforms(rng::Stream::jet_smear, 0, object).first < V.efficiency;
            o.jvt.push_back(jvt ? 1 : 0);
        }
        o.offsets.push_back(static_cast<std::int64_t>(o.pt.size()));
        lap(P.jet_objects);
        if (I.tau.fakes) add_fake_taus(I, ev, truth, jets, jet_src, iev, random, kin, out);
        lap(P.fake_taus);
        event_met(I, ev, truth, jets, jet_src, iev, random, dressed_to, kin, out);
        lap(P.met);
        if (I.electron_fakes.enabled) add_fake_electrons(I, jets, jet_src, iev, random, out);
        lap(P.fake_electrons);
        if (large_r.jet_offsets.size() == ev.n_events() + 1)
            add_large_r_jets(I, ev, truth, large_r, iev, random, out.large_r_jets);
        else  // not built (card or caller): an empty collection, still one entry per event
            out.large_r_jets.offsets.push_back(0);
        lap(P.large_r_objects);
    }
}

// §2.7 exclusive mode: also drop (truth) prompt electrons, their dressing photons, prompt photons
// that are candidates (photon acceptance), and every descendant of a hadronic tau.
void remove_exclusive_inputs(const Detector::Impl& I, const EventView& ev, const truth::Classification& truth,
                             std::vector<std::uint8_t>& inputs) {
    const auto& E = I.leptons[0];
    const auto& G = I.leptons[2];
    for (std::size_t iev = 0; iev < ev.n_events(); ++iev) {
        const auto b = ev.particle_offsets[iev], e_end = ev.particle_offsets[iev + 1];
        std::vector<std::int64_t> electrons;
        for (auto g = b; g < e_end; ++g) {
            const auto f = truth.flags[g];
            if (!(f & truth::kStable)) continue;
            if (f & truth::kFromHadronicTau) inputs[g] = 0;
            if ((f & truth::kPrompt) && std::abs(ev.pid[g]) == 11) inputs[g] = 0, electrons.push_back(g);
        }
        for (auto g = b; g < e_end; ++g) {
            const auto f = truth.flags[g];
            if (ev.pid[g] != 22 || !(f & truth::kStable) || !(f & truth::kPrompt)) continue;
            const double pt = std::hypot(ev.px[g], ev.py[g]);
            const double eta = std::asinh(ev.pz[g] / pt), phi = std::atan2(ev.py[g], ev.px[g]);
            if (pt >= G.pt_min && std::fabs(eta) < G.abs_eta_max) inputs[g] = 0;
            if (E.dressed)
                for (auto l : electrons) {
                    const double lpt = std::hypot(ev.px[l], ev.py[l]);
                    if (delta_r(eta, phi, std::asinh(ev.pz[l] / lpt), std::atan2(ev.py[l], ev.px[l])) < I.dressing_dr)
                        inputs[g] = 0;
                }
        }
    }
}

}  // namespace

// Output::large_r_jets has one (empty) entry per event when large-R jets are disabled by the card or
// not requested (large_r = false).
Output Detector::reconstruct(const EventView& ev, std::uint64_t first_key, int n_threads, bool with_large_r,
                             Profile* profile) const {
    const auto& I = *impl_;
    Profile unused;
    Profile& P = profile ? *profile : unused;
    Lap lap(profile != nullptr);
    const auto truth = truth::classify(ev, I.truth, n_threads, /*kinematics=*/true);
    lap(P.truth);
    std::vector<std::uint8_t> inputs(truth.flags.size());
    for (std::size_t i = 0; i < inputs.size(); ++i) inputs[i] = (truth.flags[i] & truth::kJetInput) != 0;
    std::vector<std::uint8_t> ghosts;
    if (I.tagger.needs_ghosts()) {
        ghosts.resize(truth.flags.size());
        for (std::size_t i = 0; i < ghosts.size(); ++i)
            ghosts[i] = (truth.flags[i] & (truth::kBHadron | truth::kCHadron)) != 0 &&
                        std::hypot(ev.px[i], ev.py[i]) > I.tagger.hadron_pt_min();  // §9.1 label_hadron_pt_min
    }
    if (I.exclusive_inputs) remove_exclusive_inputs(I, ev, truth, inputs);
    lap(P.inputs);
    jets::Definition small_r;
    small_r.R = I.jet_R;
    small_r.pt_min = I.jet_truth_pt_min;
    const auto jets = jets::cluster(ev, inputs.data(), small_r, n_threads, ghosts.empty() ? nullptr : ghosts.data());
    lap(P.jets);
    const auto large_r = I.large_r.enabled && with_large_r ? jets::cluster(ev, inputs.data(), I.large_r.def, n_threads)
                                                           : jets::JetBatch{};
    lap(P.large_r);
    const auto labels = I.tagger.labels(ev, truth, jets);
    lap(P.labels);
    const auto btags = I.tagger.tag(jets, labels, I.seed, first_key);
    lap(P.btag);
    const std::size_t ne = ev.n_events();
    std::vector<Output> parts(n_ranges(ne, n_threads));
    std::vector<Profile> part_profiles(profile ? parts.size() : 0);
    for_each_range(ne, parts.size(), [&](std::size_t t, std::size_t first, std::size_t last) {
        reconstruct_range(I, ev, truth, jets, large_r, labels, btags, first_key, first, last, parts[t],
                          profile ? &part_profiles[t] : nullptr);
    });
    for (const auto& p : part_profiles) P += p;
    lap(unused.merge);  // the per-event stages were timed on their threads
    Output out;
    if (parts.size() == 1) {
        out = std::move(parts.front());
    } else {
        for (auto& p : parts) {
            out.electrons.append(p.electrons);
            out.muons.append(p.muons);
            out.photons.append(p.photons);
            out.taus.append(p.taus);
            out.jets.append(p.jets);
            out.large_r_jets.append(p.large_r_jets);
            out.met.append(p.met);
        }
    }
    lap(P.merge);
    P.events += ne;
    return out;
}

}  // namespace recast::detector
