#include "recast/stats.hpp"

#include <cmath>
#include <stdexcept>
#include <string>

namespace recast::stats {

double log_likelihood(double n, double b, double b_err, double s) {
    if (n < 0 || b < 0 || b_err < 0 || s < 0 || !std::isfinite(n + b + b_err + s))
        throw std::invalid_argument("log_likelihood: inputs must be finite and >= 0 (n=" + std::to_string(n) +
                                    ", b=" + std::to_string(b) + ", b_err=" + std::to_string(b_err) +
                                    ", s=" + std::to_string(s) + ")");
    constexpr double kLog2Pi = 1.8378770664093453;
    const double mu = s + b;
    if (b_err == 0) {
        if (mu == 0) return n == 0 ? 0.0 : -INFINITY;
        return n * std::log(mu) - mu - std::lgamma(n + 1);
    }
    const double v = b_err * b_err;
    const double p = v - mu;
    double lambda = 0.5 * (-p + std::sqrt(p * p + 4 * n * v));
    // the background cannot go below zero: theta >= -b
    if (lambda < s) lambda = s;
    const double theta = lambda - mu;
    double ln_pois;
    if (lambda > 0) ln_pois = n * std::log(lambda) - lambda - std::lgamma(n + 1);
    else ln_pois = n == 0 ? 0.0 : -INFINITY;
    return ln_pois - 0.5 * theta * theta / v - 0.5 * kLog2Pi - std::log(b_err);
}

double delta_log_likelihood(const SignalRegion& sr, double s) {
    return log_likelihood(sr.n_obs, sr.b, sr.b_err, s) - log_likelihood(sr.n_obs, sr.b, sr.b_err, 0.0);
}

std::vector<double> delta_log_likelihoods(const std::vector<SignalRegion>& regions, const std::vector<double>& s) {
    if (regions.size() != s.size())
        throw std::invalid_argument("delta_log_likelihoods: " + std::to_string(regions.size()) + " regions, " +
                                    std::to_string(s.size()) + " signal yields");
    std::vector<double> out(regions.size());
    for (std::size_t i = 0; i < regions.size(); ++i) out[i] = delta_log_likelihood(regions[i], s[i]);
    return out;
}

std::size_t best_expected_region(const std::vector<SignalRegion>& regions, const std::vector<double>& s) {
    if (regions.empty() || regions.size() != s.size())
        throw std::invalid_argument("best_expected_region: needs one signal yield per region (and >= 1 region)");
    std::size_t best = 0;
    double best_value = INFINITY;
    for (std::size_t i = 0; i < regions.size(); ++i) {
        SignalRegion asimov = regions[i];
        asimov.n_obs = asimov.b;
        const double d = delta_log_likelihood(asimov, s[i]);
        if (d < best_value) best_value = d, best = i;
    }
    return best;
}

}  // namespace recast::stats
