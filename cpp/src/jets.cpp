#include "recast/jets.hpp"
#include "recast/parallel.hpp"

#include <fastjet/ClusterSequence.hh>

#include <algorithm>
#include <cmath>
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

void cluster_range(const EventView& ev, const std::uint8_t* inputs, const std::uint8_t* ghosts,
                   const fastjet::JetDefinition& jd, double pt_min, std::size_t first, std::size_t last, JetBatch& out) {
    std::vector<fastjet::PseudoJet> particles;
    struct Jet {
        fastjet::PseudoJet p;
        std::vector<std::int32_t> constituents, ghosts;
    };
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
            for (const auto& j : cs.inclusive_jets(pt_min)) {
                Jet jet{j, {}, {}};
                for (const auto& c : j.constituents()) {
                    if (c.user_index() >= 0) jet.constituents.push_back(c.user_index());
                    else jet.ghosts.push_back(-1 - c.user_index());
                }
                if (jet.constituents.empty()) continue;  // a jet of ghosts only is no jet
                std::sort(jet.constituents.begin(), jet.constituents.end());
                std::sort(jet.ghosts.begin(), jet.ghosts.end());
                jets.push_back(std::move(jet));
            }
        }
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
        }
        out.jet_offsets.push_back(static_cast<std::int64_t>(out.pt.size()));
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
        cluster_range(events, inputs, ghosts, jd, def.pt_min, first, last, parts[t]);
    });
    JetBatch out;
    for (auto& p : parts) out.append(p);
    return out;
}

}  // namespace recast::jets
