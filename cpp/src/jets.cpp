#include "recast/jets.hpp"
#include "recast/parallel.hpp"

#include <fastjet/ClusterSequence.hh>

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <stdexcept>

namespace recast::jets {

void JetBatch::append(const JetBatch& o) {
    const auto jet_shift = jet_offsets.back();
    for (std::size_t i = 1; i < o.jet_offsets.size(); ++i) jet_offsets.push_back(o.jet_offsets[i] + jet_shift);
    for (auto [dst, src] : {std::pair{&px, &o.px}, {&py, &o.py}, {&pz, &o.pz}, {&e, &o.e}, {&pt, &o.pt},
                            {&eta, &o.eta}, {&phi, &o.phi}, {&mass, &o.mass}})
        dst->insert(dst->end(), src->begin(), src->end());
    const auto c_shift = constituent_offsets.back();
    for (std::size_t i = 1; i < o.constituent_offsets.size(); ++i)
        constituent_offsets.push_back(o.constituent_offsets[i] + c_shift);
    constituents.insert(constituents.end(), o.constituents.begin(), o.constituents.end());
    const auto g_shift = ghost_offsets.back();
    for (std::size_t i = 1; i < o.ghost_offsets.size(); ++i) ghost_offsets.push_back(o.ghost_offsets[i] + g_shift);
    ghosts.insert(ghosts.end(), o.ghosts.begin(), o.ghosts.end());
    n_tau = std::max(n_tau, o.n_tau);
    tau.insert(tau.end(), o.tau.begin(), o.tau.end());
}

namespace {

fastjet::JetDefinition make_definition(const Definition& d) {
    if (!(d.R > 0)) throw std::invalid_argument("jet radius R must be positive");
    switch (d.algorithm) {
        case Algorithm::AntiKt: return fastjet::JetDefinition(fastjet::antikt_algorithm, d.R);
        case Algorithm::Kt: return fastjet::JetDefinition(fastjet::kt_algorithm, d.R);
        case Algorithm::CambridgeAachen: return fastjet::JetDefinition(fastjet::cambridge_algorithm, d.R);
    }
    throw std::invalid_argument("unknown jet algorithm");
}

struct Jet {
    fastjet::PseudoJet p;
    std::vector<std::int32_t> constituents, ghosts;
    std::vector<double> tau;
};

/// Sorts one event's jets (descending pT, ties: smallest constituent index, §14.4) and appends
/// them to `out`, closing the event.
void append_event(std::vector<Jet>& jets, JetBatch& out) {
    std::sort(jets.begin(), jets.end(), [](const Jet& a, const Jet& c) {
        const double pa = a.p.pt2(), pc = c.p.pt2();
        if (pa != pc) return pa > pc;
        return a.constituents.front() < c.constituents.front();
    });
    for (const auto& j : jets) {
        out.px.push_back(j.p.px());
        out.py.push_back(j.p.py());
        out.pz.push_back(j.p.pz());
        out.e.push_back(j.p.e());
        out.pt.push_back(j.p.pt());
        out.eta.push_back(j.p.pseudorapidity());
        out.phi.push_back(j.p.phi_std());
        out.mass.push_back(j.p.m());
        out.constituents.insert(out.constituents.end(), j.constituents.begin(), j.constituents.end());
        out.constituent_offsets.push_back(static_cast<std::int64_t>(out.constituents.size()));
        out.ghosts.insert(out.ghosts.end(), j.ghosts.begin(), j.ghosts.end());
        out.ghost_offsets.push_back(static_cast<std::int64_t>(out.ghosts.size()));
        out.tau.insert(out.tau.end(), j.tau.begin(), j.tau.end());
    }
    out.jet_offsets.push_back(static_cast<std::int64_t>(out.pt.size()));
}

fastjet::PseudoJet sum(const std::vector<fastjet::PseudoJet>& parts) {
    fastjet::PseudoJet s(0, 0, 0, 0);
    for (const auto& p : parts) s += p;
    return s;
}

/// The groomed jet as its constituents (ghosts included, they are harmless).
std::vector<fastjet::PseudoJet> groom(const fastjet::PseudoJet& jet, const Grooming& g) {
    auto constituents = jet.constituents();
    if (g.kind == Grooming::Kind::None || constituents.size() < 2) return constituents;
    if (g.kind == Grooming::Kind::Trimming) {
        fastjet::ClusterSequence cs(constituents, fastjet::JetDefinition(fastjet::kt_algorithm, g.r_sub));
        std::vector<fastjet::PseudoJet> kept;
        const double threshold = g.f_cut * jet.pt();
        for (const auto& sub : cs.inclusive_jets())
            if (sub.pt() >= threshold)
                for (const auto& c : sub.constituents()) kept.push_back(c);
        return kept;
    }
    // soft drop
    fastjet::ClusterSequence cs(constituents,
                                fastjet::JetDefinition(fastjet::cambridge_algorithm, fastjet::JetDefinition::max_allowable_R));
    const auto all = cs.exclusive_jets(1);
    fastjet::PseudoJet j = all.front(), j1, j2;
    while (j.has_parents(j1, j2)) {
        if (j1.pt2() < j2.pt2()) std::swap(j1, j2);
        const double p1 = j1.pt(), p2 = j2.pt();
        const double dr2 = j1.squared_distance(j2);
        if (p2 / (p1 + p2) > g.z_cut * std::pow(dr2 / (g.R0 * g.R0), 0.5 * g.beta)) break;
        j = j1;
    }
    return j.constituents();
}

}  // namespace

std::vector<double> nsubjettiness(const std::vector<double>& px, const std::vector<double>& py,
                                  const std::vector<double>& pz, const std::vector<double>& e, int n, double R0) {
    std::vector<fastjet::PseudoJet> parts;
    for (std::size_t i = 0; i < px.size(); ++i) parts.emplace_back(px[i], py[i], pz[i], e[i]);
    std::vector<double> tau(static_cast<std::size_t>(std::max(n, 0)), 0.0);
    double norm = 0;
    for (const auto& p : parts) norm += p.pt() * R0;
    if (parts.empty() || !(norm > 0)) return tau;
    fastjet::ClusterSequence::set_fastjet_banner_stream(nullptr);
    fastjet::ClusterSequence cs(parts, fastjet::JetDefinition(fastjet::kt_algorithm, fastjet::JetDefinition::max_allowable_R,
                                                              fastjet::WTA_pt_scheme, fastjet::Best));
    for (int k = 1; k <= n; ++k) {
        if (parts.size() <= static_cast<std::size_t>(k)) break;  // tau_N = 0
        const auto axes = cs.exclusive_jets(k);
        double num = 0;
        for (const auto& p : parts) {
            double best = std::numeric_limits<double>::infinity();
            for (const auto& a : axes) best = std::min(best, p.squared_distance(a));
            num += p.pt() * std::sqrt(best);
        }
        tau[static_cast<std::size_t>(k - 1)] = num / norm;
    }
    return tau;
}

namespace {

void cluster_range(const EventView& ev, const std::uint8_t* inputs, const std::uint8_t* ghosts,
                   const fastjet::JetDefinition& jd, const Definition& def, std::size_t first, std::size_t last,
                   JetBatch& out) {
    const double pt_min = def.pt_min;
    out.n_tau = def.n_subjettiness;
    std::vector<double> cx, cy, cz, ce;
    std::vector<fastjet::PseudoJet> particles;
    std::vector<Jet> jets;
    for (std::size_t iev = first; iev < last; ++iev) {
        const auto b = ev.particle_offsets[iev], en = ev.particle_offsets[iev + 1];
        particles.clear();
        for (auto i = b; i < en; ++i) {
            const bool use = inputs ? inputs[i] != 0 : ev.status[i] == 1;
            if (!use) continue;
            fastjet::PseudoJet p(ev.px[i], ev.py[i], ev.pz[i], ev.e[i]);
            p.set_user_index(static_cast<int>(i - b));
            particles.push_back(p);
        }
        if (ghosts)
            for (auto i = b; i < en; ++i) {
                if (!ghosts[i]) continue;
                constexpr double kGhost = 1e-20;
                fastjet::PseudoJet p(ev.px[i] * kGhost, ev.py[i] * kGhost, ev.pz[i] * kGhost, ev.e[i] * kGhost);
                p.set_user_index(-1 - static_cast<int>(i - b));  // negative: ghost
                particles.push_back(p);
            }
        jets.clear();
        if (!particles.empty()) {
            fastjet::ClusterSequence cs(particles, jd);
            for (const auto& ungroomed : cs.inclusive_jets(pt_min)) {
                const auto parts = groom(ungroomed, def.grooming);
                const auto j = def.grooming.kind == Grooming::Kind::None ? ungroomed : sum(parts);
                if (j.pt() < pt_min) continue;
                Jet jet{j, {}, {}, {}};
                for (const auto& c : parts) {
                    if (c.user_index() >= 0) jet.constituents.push_back(c.user_index());
                    else jet.ghosts.push_back(-1 - c.user_index());
                }
                if (jet.constituents.empty()) continue;  // a jet of ghosts only is no jet
                std::sort(jet.constituents.begin(), jet.constituents.end());
                std::sort(jet.ghosts.begin(), jet.ghosts.end());
                if (def.n_subjettiness > 0) {
                    cx.clear(), cy.clear(), cz.clear(), ce.clear();
                    for (auto c : jet.constituents) {
                        const auto g = b + c;
                        cx.push_back(ev.px[g]), cy.push_back(ev.py[g]), cz.push_back(ev.pz[g]), ce.push_back(ev.e[g]);
                    }
                    jet.tau = nsubjettiness(cx, cy, cz, ce, def.n_subjettiness, def.R);
                }
                jets.push_back(std::move(jet));
            }
        }
        append_event(jets, out);
    }
}

}  // namespace

JetBatch cluster(const EventView& events, const std::uint8_t* inputs, const Definition& def, int n_threads,
                 const std::uint8_t* ghosts) {
    const auto jd = make_definition(def);
    fastjet::ClusterSequence::set_fastjet_banner_stream(nullptr);
    const std::size_t ne = events.n_events();
    std::vector<JetBatch> parts(n_ranges(ne, n_threads));
    for_each_range(ne, parts.size(), [&](std::size_t t, std::size_t first, std::size_t last) {
        cluster_range(events, inputs, ghosts, jd, def, first, last, parts[t]);
    });
    JetBatch out;
    out.n_tau = def.n_subjettiness;
    for (auto& p : parts) out.append(p);
    return out;
}

JetBatch recluster(Span<std::int64_t> offsets, Span<double> px, Span<double> py, Span<double> pz, Span<double> e,
                   const std::uint8_t* use, double R, double pt_min, double f_cut) {
    if (!(R > 0)) throw std::invalid_argument("reclustering radius R must be positive");
    if (offsets.size() == 0) throw std::invalid_argument("reclustering: offsets must have n_events + 1 entries");
    const auto n = static_cast<std::size_t>(offsets[offsets.size() - 1]);
    if (px.size() != n || py.size() != n || pz.size() != n || e.size() != n)
        throw std::invalid_argument("reclustering: px, py, pz, e must have offsets[-1] = " + std::to_string(n) + " entries");
    fastjet::ClusterSequence::set_fastjet_banner_stream(nullptr);
    const fastjet::JetDefinition jd(fastjet::antikt_algorithm, R);
    JetBatch out;
    std::vector<fastjet::PseudoJet> inputs;
    for (std::size_t iev = 0; iev + 1 < offsets.size(); ++iev) {
        inputs.clear();
        for (auto i = offsets[iev]; i < offsets[iev + 1]; ++i) {
            if (use && !use[i]) continue;
            fastjet::PseudoJet p(px[i], py[i], pz[i], e[i]);
            p.set_user_index(static_cast<int>(i - offsets[iev]));
            inputs.push_back(p);
        }
        std::vector<Jet> jets;
        if (!inputs.empty()) {
            fastjet::ClusterSequence cs(inputs, jd);
            for (const auto& rc : cs.inclusive_jets()) {
                Jet jet{fastjet::PseudoJet(0, 0, 0, 0), {}, {}, {}};
                for (const auto& c : rc.constituents()) {
                    if (c.pt() < f_cut * rc.pt()) continue;
                    jet.p += c;
                    jet.constituents.push_back(c.user_index());
                }
                if (jet.constituents.empty() || jet.p.pt() < pt_min) continue;
                std::sort(jet.constituents.begin(), jet.constituents.end());
                jets.push_back(std::move(jet));
            }
        }
        append_event(jets, out);
    }
    return out;
}

}  // namespace recast::jets
