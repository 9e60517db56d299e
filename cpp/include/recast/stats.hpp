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


// ---------------------------------------------------------------------------------------------
// CLs, S95 and ln L of one counting SR in pyhf's uncorrelated-background simplified model
// (pyhf.simplemodels.uncorrelated_background: what recast_ml gave pyhf before this fast path),
// reproduced exactly and in closed form:
//   L(mu, gamma) = Pois(n | mu s + gamma b) * Pois(tau | gamma tau),  tau = (b / max(b_err, 1e-9))^2
// (shapesys: Poisson auxiliary constraint, continuous Poisson via lgamma), gamma in [1e-10, 10],
// mu in [0, 10]. For fixed mu the profiled gamma is the positive root of a quadratic (convex NLL,
// clamped to its bounds), and the unconditional fit is closed form (lambda = n, gamma = aux/tau), so
// there is no iterative minimiser and nothing that can fail to converge. Test statistic q~_mu
// (0 where mu_hat > mu), Asimov data from the mu = 0 fit to the observed data (pyhf's
// generate_asimov_data, auxiliary datum included), and pyhf's asymptotic p-values:
//   t = sqrt(q) - sqrt(qA)  if sqrt(q) <= sqrt(qA),  else (q - qA) / (2 sqrt(qA))
//   CLs_obs = Phi(-(t + sqrt(qA))) / Phi(-t),     CLs_exp (median, mu' = 0) = 2 Phi(-sqrt(qA))
// The signal enters only through its yield: the test is at the given yield s (mu = 1); pyhf's POI
// range cannot matter for q~ (mu_hat beyond mu gives q~ = 0 either way).

struct ClsValues {
    double obs = 1;  ///< observed CLs
    double exp = 1;  ///< expected (median, background-only) CLs
};

/// Observed and expected CLs of one SR for signal yield s (s = 0: 1, 1). Any finite n, b, b_err,
/// s >= 0 gives a number in [0, 1] (huge s: the ratio of tail probabilities is taken in log space,
/// so CLs underflows to 0 rather than becoming 0/0). Throws std::invalid_argument otherwise.
ClsValues cls(double n, double b, double b_err, double s);

/// Model-independent upper limits on the signal yield at confidence level `cl` (0.95: S95): the
/// s where CLs_obs(s) (resp. CLs_exp(s)) = 1 - cl, to 1e-10 relative (bracketing + bisection on a
/// monotone function). `obs`/`exp` hold the two limits.
ClsValues upper_limits(double n, double b, double b_err, double cl = 0.95);

/// ln L of the same model at signal yield s with gamma profiled within its bounds: pyhf's
/// model.logpdf at the conditional fit (all normalisations included; for b_err = 0 the 1e-9 floor
/// of the uncertainty makes the constraint term -0.5 ln(2 pi tau), a constant).
double profile_log_likelihood(double n, double b, double b_err, double s);

/// q~_mu for signal yield s on the observed data and on the Asimov data (diagnostics, tests).
struct TestStatistics {
    double q = 0;
    double q_asimov = 0;
};
TestStatistics test_statistics(double n, double b, double b_err, double s);


// ---------------------------------------------------------------------------------------------
// The same model with a signal-modelling uncertainty (issue 18: the envelope of generator
// variations per SR, a relative up and down uncertainty): ONE more nuisance theta with a unit
// Gaussian constraint (auxiliary datum 0, pyhf's normsys: theta in [-5, 5]) scaling the signal,
//   L(mu, gamma, theta) = Pois(n | mu s f(theta) + gamma b) Pois(tau | gamma tau) N(0 | theta, 1),
// f = pyhf's normsys factor with hi = 1 + up, lo = 1 - down (up >= 0, 0 <= down < 1), in the
// interpolation pyhf 0.7 uses for normsys by default (_ModelConfig's modifier_settings:
// normsys -> code4): for |theta| < 1 the degree-6 polynomial 1 + sum_i a_i theta^i whose value,
// first and second derivatives match the exponentials at theta = +-1; f = (1 + up)^theta for
// theta >= 1 and (1 - down)^(-theta) for theta <= -1. (f need not be monotone for asymmetric
// up/down, e.g. up = 0, down = 0.2 dips to 0.987 at theta > 0.) This is pyhf's model with a normsys
// modifier on the signal sample (statistics.py: pyhf_signal_systematic_model).
//   Conditional fit (mu fixed): gamma is profiled in closed form at the effective signal
// s f(theta) (the quadratic above); theta by a 1-D minimisation of the profiled NLL
// g(theta) = NLL(s f(theta), gamma_hat) + theta^2 / 2: a grid of step 1/4 on the part of [-5, 5]
// where theta^2 / 2 <= g(0) (the minimum cannot lie outside it), then Brent's method (golden
// section + parabolic steps) on the two grid cells around the best grid point, to |dtheta| <=
// 1e-9 + 1.5e-8 |theta| (g is then exact to ~1e-16 relative, CLs to far below 1e-4; a second
// local minimum shallower by less than what a 1/4 grid resolves would be missed).
//   Unconditional fit: the saturated one, lambda = n, gamma = aux / tau, theta = its aux datum 0,
// mu_hat s = n - gamma b (each factor at its own maximum, so nothing is better; mu_hat > 1 gives
// q~ = 0 whatever pyhf's upper POI bound). Where mu_hat < 0 the fit sits at mu = 0, where theta has
// no effect (theta_hat = 0) and the fit is the one without the systematic, exactly.
//   Asimov data: pyhf's generate_asimov_data from the mu = 0 fit to the observed data, which does
// not involve theta: the same main and gamma auxiliary data as without the systematic, and
// auxiliary datum 0 for theta. So only the conditional fits change, and the systematic can only
// lower q~ and q~_A (theta = 0 is one of the choices): the exclusion weakens.
// up = down = 0 calls the functions above (bit-identical results).

/// Observed and expected CLs with the signal systematic (up, down: relative uncertainties).
/// Throws std::invalid_argument for invalid inputs (negative, NaN, down >= 1).
ClsValues cls(double n, double b, double b_err, double s, double s_up, double s_down);

/// ln L of the model with the signal systematic at signal yield s, gamma and theta profiled:
/// pyhf's model.logpdf at the conditional fit, including the Gaussian constraint's
/// -0.5 ln(2 pi). Note: up = down = 0 returns the value of the model WITHOUT the nuisance
/// (bit-identical to the 4-argument function), which lacks that constant, so ln L jumps by
/// 0.5 ln(2 pi) = 0.919 between up = down = 0 and up, down -> 0; differences ln L(s) - ln L(s')
/// in one SR are continuous (the constant cancels).
double profile_log_likelihood(double n, double b, double b_err, double s, double s_up, double s_down);

/// q~_mu on the observed and the Asimov data with the signal systematic (diagnostics, tests).
TestStatistics test_statistics(double n, double b, double b_err, double s, double s_up, double s_down);

}  // namespace recast::stats
