#include "recast/overlap.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

#include "recast/kinematics.hpp"

namespace recast::overlap {

double Cone::radius(double pt) const noexcept {
    if (!shrinking) return dr;
    if (!(pt > 0)) return dr_max;
    return std::min(dr_max, c + k_gev / pt);
}

double rapidity(double pt, double eta, double mass) noexcept {
    const double mt = std::sqrt(pt * pt + mass * mass);
    if (!(mt > 0)) return eta;
    return std::asinh(pt * std::sinh(eta) / mt);  // = 0.5 ln((E + pz)/(E - pz)), stable at large |y|
}

namespace {

void check(const Collection& c, const char* name) {
    if (c.offsets.size() == 0) throw std::invalid_argument(std::string(name) + ": offsets must have n_events + 1 entries");
    const auto n = static_cast<std::size_t>(c.offsets[c.offsets.size() - 1]);
    if (c.offsets[0] != 0 || c.pt.size() != n || c.eta.size() != n || c.phi.size() != n ||
        (c.mass.size() != 0 && c.mass.size() != n))
        throw std::invalid_argument(std::string(name) + ": pt, eta, phi (and mass) must have offsets[-1] = " +
                                    std::to_string(n) + " entries starting at offsets[0] = 0");
    for (std::size_t i = 0; i + 1 < c.offsets.size(); ++i)
        if (c.offsets[i + 1] < c.offsets[i]) throw std::invalid_argument(std::string(name) + ": offsets must not decrease");
}

}  // namespace

std::vector<std::uint8_t> remove_overlaps(const Collection& a, const Collection& b, const Cone& cone,
                                          const std::uint8_t* candidate_a, const std::uint8_t* active_b) {
    check(a, "overlap removal, collection A");
    check(b, "overlap removal, collection B");
    if (a.offsets.size() != b.offsets.size())
        throw std::invalid_argument("overlap removal: collections hold " + std::to_string(a.offsets.size() - 1) +
                                    " and " + std::to_string(b.offsets.size() - 1) + " events");
    if (cone.use_rapidity && (a.mass.size() == 0 || b.mass.size() == 0))
        throw std::invalid_argument("overlap removal: rapidity needs the masses of both collections");
    auto coordinate = [&](const Collection& c, std::int64_t i) {
        return cone.use_rapidity ? rapidity(c.pt[i], c.eta[i], c.mass[i]) : c.eta[i];
    };
    std::vector<std::uint8_t> keep(a.pt.size(), 1);
    for (std::size_t iev = 0; iev + 1 < a.offsets.size(); ++iev) {
        for (auto i = a.offsets[iev]; i < a.offsets[iev + 1]; ++i) {
            if (candidate_a && !candidate_a[i]) continue;
            const double ya = coordinate(a, i);
            for (auto j = b.offsets[iev]; j < b.offsets[iev + 1]; ++j) {
                if (active_b && !active_b[j]) continue;
                const double r = cone.radius(cone.pt_of_b ? b.pt[j] : a.pt[i]);
                if (delta_r(ya, a.phi[i], coordinate(b, j), b.phi[j]) < r) {
                    keep[i] = 0;
                    break;
                }
            }
        }
    }
    return keep;
}

}  // namespace recast::overlap
