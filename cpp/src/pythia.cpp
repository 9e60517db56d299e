#include "recast/pythia.hpp"

#include <cstdlib>
#include <string>

#include "recast/errors.hpp"
#include "recast/pdg.hpp"

namespace recast {

void append_pythia_events(EventBatch& out, const PythiaColumns& c, std::int64_t first_event_number) {
    const std::string src = out.source.empty() ? "<pythia>" : out.source;
    for (std::int64_t ev = 0; ev < c.n_events; ++ev) {
        const std::int64_t b = c.offsets[ev], en = c.offsets[ev + 1];
        if (en <= b || c.id[b] != 90)
            throw InputError(src, 0, ev, "a Pythia event record must start with the system entry (id 90)");
        const std::int64_t size = en - b;  // Pythia indices 0..size-1
        out.begin_event(first_event_number + ev, c.weight ? c.weight[ev] : 1.0);
        for (std::int64_t i = b + 1; i < en; ++i) {
            const std::int32_t d1 = c.daughter1[i];
            const std::int32_t dau_id = (d1 > 0 && d1 < size) ? c.id[b + d1] : 0;
            const int st = pdg::pythia_status_to_hepmc(c.status[i], c.id[i], dau_id);
            out.add_particle(c.px[i], c.py[i], c.pz[i], c.e[i], c.m[i], c.id[i], st);
            const std::int32_t m1 = c.mother1[i], m2 = c.mother2[i];
            if (m1 < 0 || m2 < 0 || m1 >= size || m2 >= size)
                throw InputError(src, 0, ev,
                                 "Pythia particle " + std::to_string(i - b) + " has mothers " + std::to_string(m1) +
                                     "," + std::to_string(m2) + " outside the record of " + std::to_string(size));
            // Particle::motherList(); index 0 (the system entry) is not a particle here.
            const int sa = std::abs(c.status[i]);
            auto add = [&](std::int32_t k) {
                if (k > 0) out.add_parent(k - 1);
            };
            if (sa == 11 || sa == 12 || (m1 == 0 && m2 == 0)) {
                // beams / system: no mothers
            } else if (m2 == 0 || m2 == m1) {
                add(m1);
            } else if ((sa > 80 && sa < 90) || (sa > 100 && sa < 107)) {
                for (std::int32_t k = m1; k <= m2; ++k) add(k);
            } else {
                add(m1);
                add(m2);
            }
        }
        out.end_event();
    }
}

}  // namespace recast
