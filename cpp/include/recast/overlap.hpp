// Overlap-removal building blocks (shared/specs/detector-emulation.md §8.7). The emulator removes
// no overlaps itself: each analysis states its own sequence (e.g. the ATLAS Run-2 SUSY one) as
// ordered calls of `remove_overlaps`, each removing objects of one collection that lie within a
// cone of the (still active) objects of another. The same generic utility as GAMBIT's
// removeOverlap: fixed or pT-dependent ("shrinking") cones, pseudorapidity or rapidity distance,
// and masks to protect objects (e.g. b-tagged jets) or to restrict the other side (e.g. jets with
// fewer than three tracks).
#pragma once

#include <cstdint>
#include <vector>

#include "recast/event.hpp"

namespace recast::overlap {

/// Objects of many events as flat columns + offsets (n_events + 1 entries).
struct Collection {
    Span<std::int64_t> offsets;
    Span<double> pt, eta, phi, mass;  ///< mass only used for rapidity
};

struct Cone {
    /// Fixed cone: dR < dr. Shrinking cone: dR < min(dr_max, c + k_gev / pT).
    double dr = 0.4;
    bool shrinking = false;
    double c = 0.04, k_gev = 10.0, dr_max = 0.4;
    bool use_rapidity = false;  ///< distance in (y, phi) instead of (eta, phi)
    bool pt_of_b = false;       ///< the shrinking cone uses the pT of the B object (default: A's)
    /// The radius for an object of transverse momentum pt.
    double radius(double pt) const noexcept;
};

/// keep[i] for every object i of `a`: 0 when `candidate_a[i]` (null: every object) and some
/// object j of `b` in the same event with `active_b[j]` (null: every object) lies within the cone.
/// Throws std::invalid_argument for collections of different event counts or inconsistent sizes.
std::vector<std::uint8_t> remove_overlaps(const Collection& a, const Collection& b, const Cone& cone,
                                          const std::uint8_t* candidate_a = nullptr,
                                          const std::uint8_t* active_b = nullptr);

/// Rapidity of an object given pT, eta and mass.
double rapidity(double pt, double eta, double mass) noexcept;

}  // namespace recast::overlap
