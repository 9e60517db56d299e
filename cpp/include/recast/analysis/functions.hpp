// Kinematic functions of the analysis language, with their formulas. All momenta in GeV; objects
// are given by (pT, eta, phi, m); a record like MET has eta = 0, m = 0.
#pragma once

#include <cstddef>

namespace recast::analysis::fn {

struct P4 {
    double px = 0, py = 0, pz = 0, e = 0;
    static P4 from_pt_eta_phi_m(double pt, double eta, double phi, double m);
    P4& operator+=(const P4& o) noexcept { px += o.px, py += o.py, pz += o.pz, e += o.e; return *this; }
    double pt() const noexcept;
    /// sqrt(max(E^2 - |p|^2, 0))
    double m() const noexcept;
};

/// |phi1 - phi2| folded into [0, pi].
double delta_phi(double phi1, double phi2) noexcept;
/// sqrt(d_eta^2 + d_phi^2).
double delta_r(double eta1, double phi1, double eta2, double phi2) noexcept;

/// Transverse mass of two objects: mT^2 = m1^2 + m2^2 + 2 (ET1 ET2 - pT1 . pT2), ET = sqrt(m^2 + pT^2).
/// For a massless lepton and MET: mT^2 = 2 pT pTmiss (1 - cos dphi).
double mt(double pt1, double phi1, double m1, double pt2, double phi2, double m2) noexcept;

/// Stransverse mass mT2 (Lester & Zhang, hep-ph/9906349) of visible systems a, b and missing
/// transverse momentum (mex, mey) shared by two invisible particles of masses chi_a, chi_b:
///   mT2 = min over q_a + q_b = pTmiss of max(mT(a, q_a), mT(b, q_b)).
/// Computed with the Lester-Nachman bisection (arXiv:1411.4312, `lester_mt2_bisect_v7.h`),
/// exact for massive and massless visible and invisible particles, precision 1e-9 relative.
double mt2(double m_a, double px_a, double py_a, double m_b, double px_b, double py_b, double mex, double mey,
           double chi_a, double chi_b);

/// Sphericity and aplanarity from the momentum tensor S^ab = sum_i p_i^a p_i^b / sum_i |p_i|^2
/// with eigenvalues l1 >= l2 >= l3 (l1 + l2 + l3 = 1): sphericity = 3/2 (l2 + l3),
/// aplanarity = 3/2 l3. Both 0 for fewer than one object with momentum.
struct EventShape {
    double sphericity = 0, aplanarity = 0;
};
EventShape event_shape(const double* px, const double* py, const double* pz, std::size_t n);

/// Eigenvalues of a symmetric 3x3 matrix (row-major), descending (Jacobi rotations).
void symmetric_eigenvalues(const double a[9], double out[3]);

}  // namespace recast::analysis::fn
