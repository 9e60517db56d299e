// Simplified likelihoods of counting signal regions for global fits (GAMBIT-style): one Poisson
// count per SR with an uncorrelated Gaussian background uncertainty, profiled analytically.
//   L(s) = max_theta Pois(n | s + b + theta) * Gauss(theta | 0, sigma_b)
// With lambda = s + b + theta the stationarity condition is the quadratic
//   lambda^2 + (sigma_b^2 - s - b) lambda - n sigma_b^2 = 0  (positive root),
// so one evaluation is a handful of flops: ~10 ns per SR.
#pragma once

#include <cstddef>
#include <vector>

namespace recast::stats {

struct SignalRegion {
    double n_obs = 0;   ///< observed events
    double b = 0;       ///< expected background
    double b_err = 0;   ///< its (symmetric) uncertainty
};

/// ln L of one SR for signal s (profiled background nuisance; includes the Poisson and Gaussian
/// normalisations). `n` may be non-integer (Asimov data). Throws std::invalid_argument for
/// negative inputs.
double log_likelihood(double n, double b, double b_err, double s);

/// ln L(s) - ln L(0): the quantity a global fit adds up (0 for no signal, negative when excluded).
double delta_log_likelihood(const SignalRegion& sr, double s);

/// Per-SR delta ln L for signal yields `s` (same order as `regions`).
std::vector<double> delta_log_likelihoods(const std::vector<SignalRegion>& regions, const std::vector<double>& s);

/// The SR with the largest expected sensitivity for these yields: the largest
/// -(delta ln L on Asimov data n = b), i.e. the best *expected* exclusion (the observed counts
/// are not used to choose). Returns its index.
std::size_t best_expected_region(const std::vector<SignalRegion>& regions, const std::vector<double>& s);

}  // namespace recast::stats
