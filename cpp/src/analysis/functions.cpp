#include "recast/analysis/functions.hpp"

#include <algorithm>
#include <cmath>
#include <utility>

#define DISABLE_COPYRIGHT_PRINTING  // cited in functions.hpp, the docs and the results metadata
#include <lester_mt2_bisect_v7.h>

namespace recast::analysis::fn {

namespace {
constexpr double kPi = 3.14159265358979323846;
}

P4 P4::from_pt_eta_phi_m(double pt, double eta, double phi, double m) {
    P4 p;
    p.px = pt * std::cos(phi);
    p.py = pt * std::sin(phi);
    p.pz = pt * std::sinh(eta);
    p.e = std::sqrt(p.px * p.px + p.py * p.py + p.pz * p.pz + m * m);
    return p;
}

double P4::pt() const noexcept { return std::hypot(px, py); }

double P4::m() const noexcept { return std::sqrt(std::max(e * e - px * px - py * py - pz * pz, 0.0)); }

double delta_phi(double phi1, double phi2) noexcept {
    double d = std::fmod(std::fabs(phi1 - phi2), 2 * kPi);
    if (d > kPi) d = 2 * kPi - d;
    return d;
}

double delta_r(double eta1, double phi1, double eta2, double phi2) noexcept {
    return std::hypot(eta1 - eta2, delta_phi(phi1, phi2));
}

double mt(double pt1, double phi1, double m1, double pt2, double phi2, double m2) noexcept {
    const double et1 = std::sqrt(m1 * m1 + pt1 * pt1), et2 = std::sqrt(m2 * m2 + pt2 * pt2);
    const double dot = pt1 * pt2 * std::cos(phi1 - phi2);
    return std::sqrt(std::max(m1 * m1 + m2 * m2 + 2.0 * (et1 * et2 - dot), 0.0));
}

double mt2(double m_a, double px_a, double py_a, double m_b, double px_b, double py_b, double mex, double mey,
           double chi_a, double chi_b) {
    return asymm_mt2_lester_bisect::get_mT2(m_a, px_a, py_a, m_b, px_b, py_b, mex, mey, chi_a, chi_b, 0.0);
}

void symmetric_eigenvalues(const double in[9], double out[3]) {
    double a[3][3];
    for (int i = 0; i < 3; ++i)
        for (int j = 0; j < 3; ++j) a[i][j] = in[3 * i + j];
    for (int sweep = 0; sweep < 50; ++sweep) {
        const double off = a[0][1] * a[0][1] + a[0][2] * a[0][2] + a[1][2] * a[1][2];
        if (off < 1e-30) break;
        for (int p = 0; p < 2; ++p)
            for (int q = p + 1; q < 3; ++q) {
                if (std::fabs(a[p][q]) < 1e-300) continue;
                const double theta = (a[q][q] - a[p][p]) / (2 * a[p][q]);
                const double t = (theta >= 0 ? 1.0 : -1.0) / (std::fabs(theta) + std::sqrt(theta * theta + 1));
                const double c = 1 / std::sqrt(t * t + 1), s = t * c;
                for (int k = 0; k < 3; ++k) {  // A <- A J
                    const double akp = a[k][p], akq = a[k][q];
                    a[k][p] = c * akp - s * akq;
                    a[k][q] = s * akp + c * akq;
                }
                for (int k = 0; k < 3; ++k) {  // A <- J^T A
                    const double apk = a[p][k], aqk = a[q][k];
                    a[p][k] = c * apk - s * aqk;
                    a[q][k] = s * apk + c * aqk;
                }
            }
    }
    out[0] = a[0][0], out[1] = a[1][1], out[2] = a[2][2];
    std::sort(out, out + 3, [](double x, double y) { return x > y; });
}

EventShape event_shape(const double* px, const double* py, const double* pz, std::size_t n) {
    double s[9] = {0, 0, 0, 0, 0, 0, 0, 0, 0};
    double norm = 0;
    for (std::size_t i = 0; i < n; ++i) {
        const double p[3] = {px[i], py[i], pz[i]};
        for (int a = 0; a < 3; ++a)
            for (int b = 0; b < 3; ++b) s[3 * a + b] += p[a] * p[b];
        norm += p[0] * p[0] + p[1] * p[1] + p[2] * p[2];
    }
    EventShape r;
    if (!(norm > 0)) return r;
    for (double& x : s) x /= norm;
    double l[3];
    symmetric_eigenvalues(s, l);
    r.sphericity = 1.5 * (std::max(l[1], 0.0) + std::max(l[2], 0.0));
    r.aplanarity = 1.5 * std::max(l[2], 0.0);
    return r;
}

}  // namespace recast::analysis::fn
