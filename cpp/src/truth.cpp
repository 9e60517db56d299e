#include "recast/truth.hpp"

#include <algorithm>
#include <cmath>
#include <cstdlib>

#include "recast/card.hpp"
#include "recast/parallel.hpp"
#include "recast/pdg.hpp"

namespace recast::truth {

Config Config::from_card(const card::Card& c) {
    Config cfg;
    cfg.final_state_abs_eta_max = c.number("truth.final_state_abs_eta_max", cfg.final_state_abs_eta_max);
    const auto ids = c.numbers("truth.invisible_pdg_ids");
    if (!ids.empty()) {
        cfg.invisible_pdg_ids.clear();
        for (double x : ids) cfg.invisible_pdg_ids.push_back(static_cast<int>(x));
    }
    cfg.auto_invisible = c.string("truth.invisible_rule", "list_and_auto") == "list_and_auto";
    cfg.allow_from_tau = c.boolean("truth.prompt.allow_from_tau", cfg.allow_from_tau);
    cfg.allow_from_muon = c.boolean("truth.prompt.allow_from_muon", cfg.allow_from_muon);
    cfg.tau_require_prompt = c.boolean("truth.hadronic_tau.require_prompt", cfg.tau_require_prompt);
    if (c.has("jet.inputs.exclude_abs_pdg")) {  // else the default: all muons (§2.7)
        cfg.jet_exclude_abs_pdg.clear();
        for (double x : c.numbers("jet.inputs.exclude_abs_pdg")) cfg.jet_exclude_abs_pdg.push_back(static_cast<int>(x));
    }
    cfg.jet_abs_eta_max = c.number("jet.inputs.abs_eta_max", cfg.final_state_abs_eta_max);
    return cfg;
}

bool is_coloured(int pid) noexcept {
    const int a = std::abs(pid);
    if ((a >= 1 && a <= 8) || a == 21) return true;                           // quarks, gluon
    if (a >= 1101 && a <= 5503 && (a / 10) % 10 == 0) return true;           // diquarks (nq3 = 0)
    if ((a >= 1000001 && a <= 1000006) || (a >= 2000001 && a <= 2000006)) return true;  // squarks
    return a == 1000021;                                                      // gluino
}

namespace {

bool has_quark(int pid, int q) {
    const int a = std::abs(pid);
    return (a / 10) % 10 == q || (a / 100) % 10 == q || (a / 1000) % 10 == q;
}

struct EventWork {
    std::vector<std::int64_t> child_off;
    std::vector<std::int32_t> children;
    std::vector<std::uint8_t> anc, state;  // ancestor bits: 1 hadron, 2 tau, 4 muon
    std::vector<std::int32_t> stack;
    std::vector<std::int64_t> fill;
    std::vector<std::uint8_t> hadron, own;  // pdg::is_hadron and own ancestor bits of each particle
    std::vector<std::uint32_t> seen;  // walk markers: seen[i] == stamp (no per-walk allocation)
    std::uint32_t stamp = 0;
    std::uint32_t next_stamp(std::size_t n) {
        if (seen.size() < n || stamp == 0xffffffffu) seen.assign(std::max(n, seen.size()), 0), stamp = 0;
        return ++stamp;
    }
};

void classify_event(const EventView& ev, std::size_t iev, const Config& cfg, std::uint16_t* flags, Taus& taus,
                    std::int64_t& heavy, std::uint8_t& hadron_free, EventWork& w, double* pt_out, double* eta_out) {
    const auto b = ev.particle_offsets[iev];
    const auto n = static_cast<std::size_t>(ev.particle_offsets[iev + 1] - b);
    auto parents_of = [&](std::size_t i) {
        return std::pair<std::int64_t, std::int64_t>{ev.parent_offsets[b + i], ev.parent_offsets[b + i + 1]};
    };
    // children (CSR)
    w.child_off.assign(n + 1, 0);
    for (std::size_t i = 0; i < n; ++i) {
        auto [p0, p1] = parents_of(i);
        for (auto k = p0; k < p1; ++k) ++w.child_off[ev.parents[k] + 1];
    }
    for (std::size_t i = 0; i < n; ++i) w.child_off[i + 1] += w.child_off[i];
    w.children.assign(w.child_off[n], 0);
    {
        auto& fill = w.fill;
        fill.assign(w.child_off.begin(), w.child_off.end() - 1);
        for (std::size_t i = 0; i < n; ++i) {
            auto [p0, p1] = parents_of(i);
            for (auto k = p0; k < p1; ++k) w.children[fill[ev.parents[k]]++] = static_cast<std::int32_t>(i);
        }
    }
    auto pid = [&](std::size_t i) { return ev.pid[b + i]; };
    auto apid = [&](std::size_t i) { return std::abs(ev.pid[b + i]); };
    // hadron test and own ancestor bits once per particle (not once per parent link)
    w.hadron.resize(n), w.own.resize(n);
    for (std::size_t i = 0; i < n; ++i) {
        const int a = apid(i);
        w.hadron[i] = pdg::is_hadron(pid(i)) ? 1 : 0;
        w.own[i] = static_cast<std::uint8_t>(((w.hadron[i] || a == 91 || a == 92) ? 1 : 0) | (a == 15 ? 2 : 0) |
                                             (a == 13 ? 4 : 0));
    }
    auto own_bits = [&](std::size_t i) { return w.own[i]; };
    // ancestor bits by iterative DFS with memoisation (beam particles are skipped)
    w.anc.assign(n, 0);
    w.state.assign(n, 0);  // 0 new, 1 in progress, 2 done
    for (std::size_t root = 0; root < n; ++root) {
        if (w.state[root] == 2) continue;
        {  // usual case (parents recorded before their children): all parents done, no walk needed;
           // the same as the walk below, which would push no parent
            bool ready = true;
            std::uint8_t bits = 0;
            auto [p0, p1] = parents_of(root);
            for (auto k = p0; k < p1 && ready; ++k) {
                const auto p = static_cast<std::size_t>(ev.parents[k]);
                if (ev.status[b + p] == 4) continue;
                if (w.state[p] != 2) ready = false;
                else bits |= own_bits(p) | w.anc[p];
            }
            if (ready) {
                w.anc[root] = bits;
                w.state[root] = 2;
                continue;
            }
        }
        w.stack.assign(1, static_cast<std::int32_t>(root));
        while (!w.stack.empty()) {
            const auto i = static_cast<std::size_t>(w.stack.back());
            if (w.state[i] == 0) {
                w.state[i] = 1;
                auto [p0, p1] = parents_of(i);
                for (auto k = p0; k < p1; ++k) {
                    const auto p = static_cast<std::size_t>(ev.parents[k]);
                    if (ev.status[b + p] != 4 && w.state[p] == 0) w.stack.push_back(static_cast<std::int32_t>(p));
                }
                continue;
            }
            w.stack.pop_back();
            if (w.state[i] == 2) continue;
            std::uint8_t bits = 0;
            auto [p0, p1] = parents_of(i);
            for (auto k = p0; k < p1; ++k) {
                const auto p = static_cast<std::size_t>(ev.parents[k]);
                if (ev.status[b + p] == 4) continue;
                bits |= own_bits(p) | w.anc[p];  // a parent still in progress (cycle) adds its own bits only
            }
            w.anc[i] = bits;
            w.state[i] = 2;
        }
    }
    const auto& inv = cfg.invisible_pdg_ids;
    auto is_invisible = [&](std::size_t i) {
        const int a = apid(i);
        if (std::find(inv.begin(), inv.end(), a) != inv.end()) return true;
        return cfg.auto_invisible && ev.charge3[b + i] == 0 && a != 22 && !is_coloured(a) && !w.hadron[i];
    };
    for (std::size_t i = 0; i < n; ++i) {
        const auto g = b + i;
        std::uint16_t f = 0;
        const double pt = ev.status[g] == 1 ? std::hypot(ev.px[g], ev.py[g]) : 0.0;
        if (ev.status[g] == 1 && pt > 1e-10) {
            f |= kStable;
            const double eta = std::asinh(ev.pz[g] / pt);
            if (pt_out) pt_out[i] = pt, eta_out[i] = eta;
            const double abs_eta = std::fabs(eta);
            const int a = apid(i);
            if (is_invisible(i)) {
                f |= kInvisible;
            } else {
                if (abs_eta > cfg.final_state_abs_eta_max) f |= kLost;
                const auto& ex = cfg.jet_exclude_abs_pdg;
                if (abs_eta <= cfg.jet_abs_eta_max && std::find(ex.begin(), ex.end(), a) == ex.end()) f |= kJetInput;
            }
            if (a == 11 || a == 13 || a == 22) {
                const auto anc = w.anc[i];
                if (!(anc & 1) && (cfg.allow_from_tau || !(anc & 2)) && (cfg.allow_from_muon || !(anc & 4))) f |= kPrompt;
            }
            if (ev.charge3[g] != 0 && a > 1000000) {
                f |= kHeavyCharged;
                ++heavy;
            }
        }
        // weakly decaying heavy-flavour hadrons
        if (w.hadron[i]) {
            const bool is_b = has_quark(pid(i), 5), is_c = !is_b && has_quark(pid(i), 4);
            if (is_b || is_c) {
                bool heavier_child = false;
                for (auto k = w.child_off[i]; k < w.child_off[i + 1]; ++k) {
                    const int c = pid(static_cast<std::size_t>(w.children[k]));
                    if (pdg::is_hadron(c) && has_quark(c, is_b ? 5 : 4)) heavier_child = true;
                }
                if (!heavier_child) f |= is_b ? kBHadron : kCHadron;
            }
        }
        flags[i] = f;
    }
    hadron_free = 1;
    for (std::size_t i = 0; i < n && hadron_free; ++i)
        if (ev.status[b + i] != 4 && w.hadron[i]) hadron_free = 0;  // beams do not count
    auto last_of_chain = [&](std::size_t i) {
        for (auto k = w.child_off[i]; k < w.child_off[i + 1]; ++k)
            if (pid(static_cast<std::size_t>(w.children[k])) == pid(i)) return false;
        return true;
    };
    // follows copies (same id) down to the last one
    auto last_copy = [&](std::size_t i) {
        for (bool more = true; more;) {
            more = false;
            for (auto k = w.child_off[i]; k < w.child_off[i + 1]; ++k) {
                const auto c = static_cast<std::size_t>(w.children[k]);
                if (pid(c) == pid(i)) {
                    i = c, more = true;
                    break;
                }
            }
        }
        return i;
    };
    auto decays_to_partons = [&](std::size_t i, bool gluons) {
        for (auto k = w.child_off[i]; k < w.child_off[i + 1]; ++k) {
            const int a = apid(static_cast<std::size_t>(w.children[k]));
            if ((a >= 1 && a <= 5) || (gluons && a == 21)) return true;
        }
        return false;
    };
    // ancestor other than own copies with |id| 6 or 25 (iterative walk; records may have cycles)
    auto from_top_or_higgs = [&](std::size_t i) {
        const std::uint32_t mark = w.next_stamp(n);
        auto& seen = w.seen;
        w.stack.assign(1, static_cast<std::int32_t>(i));
        while (!w.stack.empty()) {
            const auto j = static_cast<std::size_t>(w.stack.back());
            w.stack.pop_back();
            auto [p0, p1] = parents_of(j);
            for (auto k = p0; k < p1; ++k) {
                const auto p = static_cast<std::size_t>(ev.parents[k]);
                if (seen[p] == mark || ev.status[b + p] == 4) continue;
                seen[p] = mark;
                if (pid(p) != pid(i) && (apid(p) == 6 || apid(p) == 25)) return true;
                w.stack.push_back(static_cast<std::int32_t>(p));
            }
        }
        return false;
    };
    for (std::size_t i = 0; i < n; ++i) {
        const int a = apid(i);
        if ((a == 5 || a == 4) && last_of_chain(i)) {
            bool same_flavour_child = false;
            for (auto k = w.child_off[i]; k < w.child_off[i + 1]; ++k)
                if (apid(static_cast<std::size_t>(w.children[k])) == a) same_flavour_child = true;
            if (!same_flavour_child) flags[i] |= a == 5 ? kLastBQuark : kLastCQuark;
        }
        if ((a == 23 || a == 24 || a == 25) && w.child_off[i] != w.child_off[i + 1] && last_of_chain(i)) {
            const auto g = b + i;
            const double m2 = ev.e[g] * ev.e[g] - ev.px[g] * ev.px[g] - ev.py[g] * ev.py[g] - ev.pz[g] * ev.pz[g];
            const double pole = a == 23 ? 91.1876 : a == 24 ? 80.379 : 125.0;
            if (std::sqrt(std::max(m2, 0.0)) > pole - 20.0 && decays_to_partons(i, a == 25) && !from_top_or_higgs(i))
                flags[i] |= kHadronicBoson;
        }
        if (a == 6 && w.child_off[i] != w.child_off[i + 1] && last_of_chain(i)) {
            for (auto k = w.child_off[i]; k < w.child_off[i + 1]; ++k) {
                const auto c = static_cast<std::size_t>(w.children[k]);
                if (apid(c) == 24 && decays_to_partons(last_copy(c), false)) flags[i] |= kHadronicTop;
            }
        }
    }
    // hadronic taus
    for (std::size_t i = 0; i < n; ++i) {
        if (apid(i) != 15 || w.child_off[i] == w.child_off[i + 1]) continue;
        bool last = true, leptonic = false;
        for (auto k = w.child_off[i]; k < w.child_off[i + 1]; ++k) {
            const int a = apid(static_cast<std::size_t>(w.children[k]));
            if (a == 15) last = false;
            if (a == 11 || a == 13) leptonic = true;
        }
        if (!last || leptonic || (cfg.tau_require_prompt && (w.anc[i] & 1))) continue;
        flags[i] |= kHadronicTau;
        double vis[4] = {0, 0, 0, 0};
        int prongs = 0;
        // One walk over the descendants: visible momentum = all visible stable descendants; prongs =
        // charged stable descendants, K0S and Lambda counting as stable (their pions add none).
        constexpr std::int32_t kBelowK0 = 1 << 30;  // stack entries below a K0S/Lambda carry this bit
        w.stack.assign(1, static_cast<std::int32_t>(i));
        const std::uint32_t mark = w.next_stamp(n);
        auto& seen = w.seen;
        while (!w.stack.empty()) {
            const auto top = w.stack.back();
            w.stack.pop_back();
            const auto j = static_cast<std::size_t>(top & ~kBelowK0);
            for (auto k = w.child_off[j]; k < w.child_off[j + 1]; ++k) {
                const auto c = static_cast<std::size_t>(w.children[k]);
                if (seen[c] == mark) continue;
                seen[c] = mark;
                const auto gc = b + c;
                const int a = apid(c);
                const bool below = (top & kBelowK0) || a == 310 || a == 3122;
                if (flags[c] & kStable) {
                    flags[c] |= kFromHadronicTau;
                    if (!(flags[c] & kInvisible)) {
                        vis[0] += ev.px[gc], vis[1] += ev.py[gc], vis[2] += ev.pz[gc], vis[3] += ev.e[gc];
                    }
                    if (!below && ev.charge3[gc] != 0) ++prongs;
                }
                w.stack.push_back(static_cast<std::int32_t>(c) | (below ? kBelowK0 : 0));
            }
        }
        taus.index.push_back(static_cast<std::int32_t>(i));
        taus.px.push_back(vis[0]);
        taus.py.push_back(vis[1]);
        taus.pz.push_back(vis[2]);
        taus.e.push_back(vis[3]);
        taus.prongs.push_back(prongs);
        taus.charge3.push_back(ev.charge3[b + i]);
    }
    taus.offsets.push_back(static_cast<std::int64_t>(taus.index.size()));
}

void append(Taus& a, const Taus& o) {
    const auto shift = a.offsets.back();
    for (std::size_t i = 1; i < o.offsets.size(); ++i) a.offsets.push_back(o.offsets[i] + shift);
    a.index.insert(a.index.end(), o.index.begin(), o.index.end());
    for (auto [d, s] : {std::pair{&a.px, &o.px}, {&a.py, &o.py}, {&a.pz, &o.pz}, {&a.e, &o.e}})
        d->insert(d->end(), s->begin(), s->end());
    a.prongs.insert(a.prongs.end(), o.prongs.begin(), o.prongs.end());
    a.charge3.insert(a.charge3.end(), o.charge3.begin(), o.charge3.end());
}

}  // namespace

Classification classify(const EventView& ev, const Config& cfg, int n_threads, bool kinematics) {
    Classification out;
    out.flags.assign(ev.n_particles(), 0);
    if (kinematics) out.pt.assign(ev.n_particles(), 0.0), out.eta.assign(ev.n_particles(), 0.0);
    const std::size_t ne = ev.n_events();
    const std::size_t nt = n_ranges(ne, n_threads);
    std::vector<Taus> taus(nt);
    std::vector<std::int64_t> heavy(nt, 0);
    out.hadron_free.assign(ne, 0);
    for_each_range(ne, nt, [&](std::size_t t, std::size_t first, std::size_t last) {
        EventWork w;
        for (std::size_t iev = first; iev < last; ++iev)
            classify_event(ev, iev, cfg, out.flags.data() + ev.particle_offsets[iev], taus[t], heavy[t],
                           out.hadron_free[iev], w, kinematics ? out.pt.data() + ev.particle_offsets[iev] : nullptr,
                           kinematics ? out.eta.data() + ev.particle_offsets[iev] : nullptr);
    });
    for (std::size_t t = 0; t < nt; ++t) {
        append(out.taus, taus[t]);
        out.heavy_charged += heavy[t];
    }
    return out;
}

}  // namespace recast::truth
