#pragma once

#include <cmath>

namespace recast {

/// Angular distance sqrt(d_eta^2 + d_phi^2) with d_phi folded into [0, pi].
inline double delta_r(double eta1, double phi1, double eta2, double phi2) {
    constexpr double kPi = 3.14159265358979323846;
    double dphi = std::fabs(phi1 - phi2);
    if (dphi > kPi) dphi = 2 * kPi - dphi;
    return std::hypot(eta1 - eta2, dphi);
}

}  // namespace recast
