#include "recast/stats.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
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

// ---------------------------------------------------------------------------------------------
// pyhf's uncorrelated-background model (see stats.hpp)

namespace {

constexpr double kGammaLo = 1e-10;  // pyhf shapesys bounds
constexpr double kGammaHi = 10.0;
constexpr double kErrFloor = 1e-9;  // statistics.py hands pyhf max(b_err, 1e-9)
constexpr double kInf = std::numeric_limits<double>::infinity();

void check_inputs(const char* what, double n, double b, double b_err, double s) {
    if (n < 0 || b < 0 || b_err < 0 || s < 0 || !std::isfinite(n + b + b_err + s))
        throw std::invalid_argument(std::string(what) + ": inputs must be finite and >= 0 (n=" + std::to_string(n) +
                                    ", b=" + std::to_string(b) + ", b_err=" + std::to_string(b_err) +
                                    ", s=" + std::to_string(s) + ")");
}

/// log(1 + x) - x, accurate for small |x| (2 atanh series in u = x / (2 + x)).
double log1pmx(double x) {
    if (std::fabs(x) < 0.5) {
        const double u = x / (2 + x), u2 = u * u;
        double term = u * u2, sum = 0;
        for (int k = 3; k < 200; k += 2) {
            const double t = term / k;
            sum += t;
            if (std::fabs(t) <= 1e-17 * std::fabs(sum)) break;
            term *= u2;
        }
        return -x * x / (2 + x) + 2 * sum;
    }
    return std::log1p(x) - x;
}

/// log Phi(-x) (upper normal tail), finite far in the tail.
double log_normal_sf(double x) {
    if (x < 30) return std::log(0.5 * std::erfc(x / std::sqrt(2.0)));
    const double x2 = x * x;
    return -0.5 * x2 - std::log(x) - 0.5 * std::log(2 * M_PI) + std::log1p(-1 / x2 + 3 / (x2 * x2) - 15 / (x2 * x2 * x2));
}

double normal_sf(double x) { return 0.5 * std::erfc(x / std::sqrt(2.0)); }

struct Model {
    double b = 0;
    double tau = 0;          ///< (b / max(b_err, 1e-9))^2: the auxiliary datum of the observed data
    bool nuisance = false;   ///< b > 0 (with b = 0 the shapesys parameter has no effect)
};

Model make_model(double b, double b_err) {
    Model m;
    m.b = b;
    m.nuisance = b > 0;
    if (m.nuisance) {
        const double r = b / std::max(b_err, kErrFloor);
        m.tau = r * r;
    }
    return m;
}

/// A data set: main count n and auxiliary datum tau * (1 + d0) (d0 = 0: observed; Asimov: the
/// fitted gamma - 1).
struct Data {
    double n = 0;
    double d0 = 0;
};

/// delta = gamma - 1 minimising the NLL at signal yield m (gamma within [1e-10, 10]).
/// Stationarity in gamma, written for delta: A d^2 + P d + Q = 0 (divided by b + tau), the
/// larger root is the minimum of the convex NLL.
double profile_delta(const Model& md, const Data& d, double m) {
    if (!md.nuisance) return 0;
    const double b = md.b, n = d.n, d0 = d.d0;
    const double w = b + md.tau, fb = b / w, ft = md.tau / w;
    const double p = fb * (2 * b + m - n) + ft * (b + m - d0 * b);
    const double q = fb * (b + m - n) - ft * d0 * (b + m);
    const double disc = std::sqrt(std::max(p * p - 4 * b * q, 0.0));
    double delta;
    if (p > 0) delta = -2 * q / (p + disc);
    else delta = (-p + disc) / (2 * b);
    if (!std::isfinite(delta)) delta = 0;
    return std::clamp(delta, kGammaLo - 1, kGammaHi - 1);
}

/// NLL relative to the saturated model (Poisson deviance / 2 of both terms; >= 0).
double deviance(const Model& md, const Data& d, double m, double delta) {
    const double lam = m + (md.nuisance ? (1 + delta) * md.b : md.b);
    double out;
    if (d.n > 0) out = lam > 0 ? -d.n * log1pmx((lam - d.n) / d.n) : kInf;
    else out = lam;
    if (md.nuisance) {
        const double g0 = 1 + d.d0, a = md.tau * g0;
        out += a > 0 ? -a * log1pmx((delta - d.d0) / g0) : md.tau * (1 + delta);
    }
    return out;
}

/// q~ at signal yield m (mu = 1 for that yield; q~ = 0 where mu_hat > mu).
double qtilde(const Model& md, const Data& d, double m) {
    const double g0 = md.nuisance ? 1 + d.d0 : 1.0;
    const double m_hat = d.n - g0 * md.b;  // unconditional fit: lambda = n, gamma = aux / tau
    if (m_hat > m) return 0;
    double free = 0;
    if (m_hat < 0) free = deviance(md, d, 0, profile_delta(md, d, 0));  // mu_hat at its bound 0
    const double q = 2 * (deviance(md, d, m, profile_delta(md, d, m)) - free);
    return q > 0 ? q : 0.0;
}

/// Asimov data of pyhf's generate_asimov_data(0, ...): expected main and auxiliary data at the
/// mu = 0 fit to the observed data.
Data asimov(const Model& md, double n) {
    Data obs{n, 0};
    const double delta = profile_delta(md, obs, 0);
    return Data{md.nuisance ? (1 + delta) * md.b : md.b, delta};
}

ClsValues cls_from(double q, double qa) {
    ClsValues out;
    const double sqa = std::sqrt(qa), sq = std::sqrt(q);
    out.exp = std::min(2 * normal_sf(sqa), 1.0);
    if (!(qa > 0)) {  // the signal does not change the Asimov likelihood: nothing to exclude
        out.obs = 1;
        return out;
    }
    const double t = sq <= sqa ? sq - sqa : (q - qa) / (2 * sqa);
    const double clb = normal_sf(t);
    double obs;
    if (clb > 1e-280) obs = normal_sf(t + sqa) / clb;
    else obs = std::exp(log_normal_sf(t + sqa) - log_normal_sf(t));
    out.obs = std::clamp(obs, 0.0, 1.0);
    return out;
}

ClsValues cls_unchecked(const Model& md, const Data& obs, const Data& asi, double s) {
    if (s <= 0) return {};
    return cls_from(qtilde(md, obs, s), qtilde(md, asi, s));
}

/// The s > 0 where the decreasing f(s) crosses `target` (f(0) = 1 > target).
template <class F>
double crossing(F f, double target, double scale) {
    double lo = 0, hi = scale;
    for (int k = 0; f(hi) > target; ++k) {
        lo = hi;
        hi *= 2;
        if (k > 1100 || !std::isfinite(hi)) return kInf;
    }
    for (int k = 0; k < 300 && hi - lo > 1e-12 * hi; ++k) {
        const double mid = 0.5 * (lo + hi);
        if (f(mid) > target) lo = mid;
        else hi = mid;
    }
    return 0.5 * (lo + hi);
}

/// ln L (pyhf's model.logpdf, all normalisations) at signal yield m and gamma = 1 + delta.
double log_likelihood_at(const Model& md, double n, double m, double delta) {
    const double lam = m + (md.nuisance ? (1 + delta) * md.b : md.b);
    double out;
    if (n > 0) out = lam > 0 ? n * std::log(lam) - lam - std::lgamma(n + 1) : -kInf;
    else out = -lam;
    if (md.nuisance) {
        const double tau = md.tau;
        // tau ln tau - tau - lgamma(tau + 1): Stirling's series where the terms cancel
        double c;
        if (tau > 100) {
            const double t2 = tau * tau;
            c = -0.5 * std::log(2 * M_PI * tau) - 1 / (12 * tau) + 1 / (360 * tau * t2) - 1 / (1260 * tau * t2 * t2);
        } else {
            c = tau * std::log(tau) - tau - std::lgamma(tau + 1);
        }
        out += c + tau * log1pmx(delta);
    }
    return out;
}

// ---- the signal systematic (see stats.hpp) ----

constexpr double kThetaLo = -5.0;  // pyhf normsys bounds
constexpr double kThetaHi = 5.0;

void check_systematic(const char* what, double up, double down) {
    if (!(up >= 0 && std::isfinite(up)) || !(down >= 0 && down < 1))
        throw std::invalid_argument(std::string(what) +
                                    ": the relative signal uncertainties must be finite with up >= 0 and 0 <= down < 1 "
                                    "(up=" + std::to_string(up) + ", down=" + std::to_string(down) + ")");
}

/// pyhf's normsys factor in its default interpolation code4 (alpha0 = 1), hi = 1 + up, lo = 1 - down.
class NormSys {
public:
    NormSys(double up, double down) : log_hi_(std::log(1 + up)), log_lo_(std::log(1 - down)) {
        const double hi = 1 + up, lo = 1 - down;
        // boundary conditions at theta = +-1: value - 1, first and second derivatives
        const double rhs[6] = {hi - 1,          lo - 1, log_hi_ * hi, -log_lo_ * lo, log_hi_ * log_hi_ * hi,
                               log_lo_ * log_lo_ * lo};
        // pyhf's A^-1 (interpolators/code4.py) at alpha0 = 1
        static constexpr double kInv[6][6] = {
            {15. / 16, -15. / 16, -7. / 16, -7. / 16, 1. / 16, -1. / 16},
            {3. / 2, 3. / 2, -9. / 16, 9. / 16, 1. / 16, 1. / 16},
            {-5. / 8, 5. / 8, 5. / 8, 5. / 8, -1. / 8, 1. / 8},
            {-3. / 2, -3. / 2, 7. / 8, -7. / 8, -1. / 8, -1. / 8},
            {3. / 16, -3. / 16, -3. / 16, -3. / 16, 1. / 16, -1. / 16},
            {1. / 2, 1. / 2, -5. / 16, 5. / 16, 1. / 16, 1. / 16},
        };
        for (int i = 0; i < 6; ++i) {
            a_[i] = 0;
            for (int j = 0; j < 6; ++j) a_[i] += kInv[i][j] * rhs[j];
        }
    }
    double operator()(double t) const {
        if (t >= 1) return std::exp(t * log_hi_);
        if (t <= -1) return std::exp(-t * log_lo_);
        return 1 + t * (a_[0] + t * (a_[1] + t * (a_[2] + t * (a_[3] + t * (a_[4] + t * a_[5])))));
    }

private:
    double log_hi_, log_lo_;
    double a_[6];
};

/// NLL (relative to the saturated model) at signal yield s f(theta), gamma profiled, plus the
/// Gaussian constraint theta^2 / 2. A negative factor (a polynomial dip for extreme asymmetric
/// up/down, where pyhf's logpdf is NaN) is excluded: +inf.
double profiled_nll(const Model& md, const NormSys& ns, const Data& d, double s, double theta) {
    const double f = ns(theta);
    if (!(f >= 0)) return kInf;
    const double m = s * f;
    return deviance(md, d, m, profile_delta(md, d, m)) + 0.5 * theta * theta;
}

struct ThetaFit {
    double theta = 0;
    double value = 0;  ///< profiled_nll at theta
};

/// Brent's minimisation (golden section + parabolic interpolation) of g on [a, b], starting at
/// x (a <= x <= b) with g(x) = fx, to |dx| <= 1e-9 + 1.5e-8 |x|.
template <class G>
ThetaFit brent_minimum(G g, double a, double b, double x, double fx) {
    constexpr double kGolden = 0.3819660112501051;  // (3 - sqrt 5) / 2
    double w = x, v = x, fw = fx, fv = fx, d = 0, e = 0;
    for (int it = 0; it < 200; ++it) {
        const double xm = 0.5 * (a + b);
        const double tol1 = 1.5e-8 * std::fabs(x) + 1e-9, tol2 = 2 * tol1;
        if (std::fabs(x - xm) <= tol2 - 0.5 * (b - a)) break;
        bool golden = true;
        if (std::fabs(e) > tol1) {  // try a parabola through x, w, v
            double r = (x - w) * (fx - fv), q = (x - v) * (fx - fw), p = (x - v) * q - (x - w) * r;
            q = 2 * (q - r);
            if (q > 0) p = -p;
            else q = -q;
            const double e_prev = e;
            e = d;
            if (std::fabs(p) < std::fabs(0.5 * q * e_prev) && p > q * (a - x) && p < q * (b - x)) {
                d = p / q;
                const double u = x + d;
                if (u - a < tol2 || b - u < tol2) d = xm >= x ? tol1 : -tol1;
                golden = false;
            }
        }
        if (golden) {
            e = (x >= xm ? a : b) - x;
            d = kGolden * e;
        }
        const double u = x + (std::fabs(d) >= tol1 ? d : (d > 0 ? tol1 : -tol1));
        const double fu = g(u);
        if (fu <= fx) {
            if (u >= x) a = x;
            else b = x;
            v = w, fv = fw, w = x, fw = fx, x = u, fx = fu;
        } else {
            if (u < x) a = u;
            else b = u;
            if (fu <= fw || w == x) v = w, fv = fw, w = u, fw = fu;
            else if (fu <= fv || v == x || v == w) v = u, fv = fu;
        }
    }
    return {x, fx};
}

/// theta minimising profiled_nll at signal yield s (gamma profiled for every theta).
ThetaFit fit_theta(const Model& md, const NormSys& ns, const Data& d, double s) {
    const auto g = [&](double t) { return profiled_nll(md, ns, d, s, t); };
    const double g0 = g(0.0);
    if (!std::isfinite(g0)) return {0.0, g0};
    // g >= theta^2 / 2 (the deviance is >= 0), so the minimum (<= g0) has |theta| <= sqrt(2 g0)
    constexpr double kStep = 0.25;
    const int k_max = std::min(static_cast<int>(std::ceil(std::sqrt(2 * g0) / kStep)), static_cast<int>(kThetaHi / kStep));
    int k_best = 0;
    double g_best = g0;
    for (int k = -k_max; k <= k_max; ++k) {
        if (k == 0) continue;
        const double v = g(k * kStep);
        if (v < g_best) g_best = v, k_best = k;
    }
    const double lo = std::max((k_best - 1) * kStep, kThetaLo), hi = std::min((k_best + 1) * kStep, kThetaHi);
    return brent_minimum(g, lo, hi, k_best * kStep, g_best);
}

/// q~ at signal yield s with the signal systematic (see qtilde).
double qtilde_systematic(const Model& md, const NormSys& ns, const Data& d, double s) {
    const double g0 = md.nuisance ? 1 + d.d0 : 1.0;
    const double m_hat = d.n - g0 * md.b;  // the saturated fit, theta_hat = 0
    if (m_hat > s) return 0;
    double free = 0;
    if (m_hat < 0) free = deviance(md, d, 0, profile_delta(md, d, 0));  // mu_hat = 0: theta has no effect
    const double q = 2 * (fit_theta(md, ns, d, s).value - free);
    return q > 0 ? q : 0.0;
}

}  // namespace

TestStatistics test_statistics(double n, double b, double b_err, double s) {
    check_inputs("test_statistics", n, b, b_err, s);
    const Model md = make_model(b, b_err);
    return {qtilde(md, Data{n, 0}, s), qtilde(md, asimov(md, n), s)};
}

ClsValues cls(double n, double b, double b_err, double s) {
    check_inputs("cls", n, b, b_err, s);
    const Model md = make_model(b, b_err);
    return cls_unchecked(md, Data{n, 0}, asimov(md, n), s);
}

ClsValues upper_limits(double n, double b, double b_err, double cl) {
    check_inputs("upper_limits", n, b, b_err, 0.0);
    if (!(cl > 0 && cl < 1)) throw std::invalid_argument("upper_limits: cl must be in (0, 1), got " + std::to_string(cl));
    const Model md = make_model(b, b_err);
    const Data obs{n, 0}, asi = asimov(md, n);
    const double alpha = 1 - cl;
    const double scale = 2 * std::sqrt(b + b_err * b_err) + std::fabs(n - b) + 3;
    ClsValues out;
    out.obs = crossing([&](double s) { return cls_unchecked(md, obs, asi, s).obs; }, alpha, scale);
    out.exp = crossing([&](double s) { return std::min(2 * normal_sf(std::sqrt(qtilde(md, asi, s))), 1.0); },
                       alpha, scale);
    return out;
}

double profile_log_likelihood(double n, double b, double b_err, double s) {
    check_inputs("profile_log_likelihood", n, b, b_err, s);
    const Model md = make_model(b, b_err);
    return log_likelihood_at(md, n, s, profile_delta(md, Data{n, 0}, s));
}

ClsValues cls(double n, double b, double b_err, double s, double s_up, double s_down) {
    check_inputs("cls", n, b, b_err, s);
    check_systematic("cls", s_up, s_down);
    if (s_up == 0 && s_down == 0) return cls(n, b, b_err, s);
    if (s <= 0) return {};
    const Model md = make_model(b, b_err);
    const NormSys ns(s_up, s_down);
    return cls_from(qtilde_systematic(md, ns, Data{n, 0}, s), qtilde_systematic(md, ns, asimov(md, n), s));
}

TestStatistics test_statistics(double n, double b, double b_err, double s, double s_up, double s_down) {
    check_inputs("test_statistics", n, b, b_err, s);
    check_systematic("test_statistics", s_up, s_down);
    if (s_up == 0 && s_down == 0) return test_statistics(n, b, b_err, s);
    const Model md = make_model(b, b_err);
    const NormSys ns(s_up, s_down);
    return {qtilde_systematic(md, ns, Data{n, 0}, s), qtilde_systematic(md, ns, asimov(md, n), s)};
}

double profile_log_likelihood(double n, double b, double b_err, double s, double s_up, double s_down) {
    check_inputs("profile_log_likelihood", n, b, b_err, s);
    check_systematic("profile_log_likelihood", s_up, s_down);
    if (s_up == 0 && s_down == 0) return profile_log_likelihood(n, b, b_err, s);
    const Model md = make_model(b, b_err);
    const NormSys ns(s_up, s_down);
    const Data obs{n, 0};
    const double theta = fit_theta(md, ns, obs, s).theta;
    const double m = s * ns(theta);
    constexpr double kHalfLog2Pi = 0.9189385332046728;
    return log_likelihood_at(md, n, m, profile_delta(md, obs, m)) - 0.5 * theta * theta - kHalfLog2Pi;
}

}  // namespace recast::stats
