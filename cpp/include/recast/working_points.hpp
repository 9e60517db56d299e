// Working-point decisions shared by every object (shared/specs/detector-emulation.md §3.2): nested
// families are enforced pointwise (a tighter WP never exceeds the looser ones), and one uniform u
// per object decides all WPs, bit w of the mask set iff u < eps_w.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

namespace recast {

/// eps[tighter] = min(eps[tighter], eps[looser]) along each family (indices, loosest first).
inline void enforce_nesting(std::vector<double>& eff, const std::vector<std::vector<std::size_t>>& families) {
    for (const auto& fam : families)
        for (std::size_t a = 1; a < fam.size(); ++a) eff[fam[a]] = std::min(eff[fam[a]], eff[fam[a - 1]]);
}

/// Bit mask of the working points passed by an object with uniform `u`.
inline std::uint32_t wp_mask(double u, const std::vector<double>& eff) {
    std::uint32_t mask = 0;
    for (std::size_t w = 0; w < eff.size(); ++w)
        if (u < eff[w]) mask |= 1u << w;
    return mask;
}

}  // namespace recast
