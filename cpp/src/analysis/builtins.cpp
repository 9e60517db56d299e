// The built-in functions of the analysis expression language: each one is ONE record (name,
// signature, doc, type rule, evaluation). Adding a built-in = adding a record here (and a test).
// Formulas of the kinematic functions are in functions.hpp. Evaluations write into `out`, a value
// slot reused across events: they set every field their result type uses and keep scratch
// storage in thread_local buffers (no allocation per event in the steady state). A record may add
// block forms for the column-wise evaluation of model inputs: `scalar` (a one-argument math
// function) or `column` (e.g. HT over a collection's pt column); they must give eval's values bit
// for bit (tests/test_model_gathering.py).
#include <algorithm>
#include <cmath>
#include <iterator>
#include <limits>

#include "expression_internal.hpp"
#include "recast/analysis/functions.hpp"

#include <fastjet/ClusterSequence.hh>

namespace recast::analysis {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
using T = Type;

/// Unary math function element-wise on numbers and number lists; NaN results are missing.
template <double (*F)(double)>
void math_eval(const Node& n, Eval& ev, Value& out) {
    const Value& a = ev.arg(0);
    if (a.type == Type::Number) {
        if (a.missing) return set_none(out, Type::Number);
        const double r = F(a.x);
        if (std::isnan(r)) return set_none(out, Type::Number);
        return set_number(out, r);
    }
    out.type = a.type, out.missing = a.missing, out.x = a.x;
    out.list.resize(a.list.size());
    out.list_missing.assign(a.list_missing.begin(), a.list_missing.end());
    for (std::size_t i = 0; i < a.list.size(); ++i) {
        out.list[i] = F(a.list[i]);
        if (std::isnan(out.list[i])) {
            out.list_missing.resize(a.list.size(), 0);
            out.list_missing[i] = 1;
        }
    }
    (void)n;
}
void math_check(Checker& c, Node& n) {
    c.arity(1, 1);
    c.want(0, {T::Number, T::NumberList});
    n.type = n.kids[0]->type;
}
double f_abs(double x) { return std::fabs(x); }
double f_sqrt(double x) { return x < 0 ? kNaN : std::sqrt(x); }
double f_exp(double x) { return std::exp(x); }
double f_log(double x) { return x <= 0 ? kNaN : std::log(x); }
double f_sin(double x) { return std::sin(x); }
double f_cos(double x) { return std::cos(x); }
double f_tan(double x) { return std::tan(x); }
double f_sinh(double x) { return std::sinh(x); }
double f_cosh(double x) { return std::cosh(x); }
double f_tanh(double x) { return std::tanh(x); }

#define MATH(NAME, FN, DOC) \
    {NAME, NAME "(x: number | number list) -> same", DOC, math_check, math_eval<FN>, -1, false, FN}

void two_numbers(Checker& c, Node&) {
    c.arity(2, 2);
    c.want(0, {T::Number});
    c.want(1, {T::Number});
}

template <bool IsMin>
void minmax_eval(const Node& n, Eval& ev, Value& out) {
    double best = IsMin ? kInf : -kInf;
    bool any = false;
    auto consider = [&](double x) {
        best = IsMin ? std::min(best, x) : std::max(best, x);
        any = true;
    };
    if (n.kids.size() == 1) {
        const Value& l = ev.arg(0);
        for (std::size_t i = 0; i < l.list.size(); ++i) {
            if (!l.list_missing.empty() && l.list_missing[i]) return set_none(out, T::Number);
            consider(l.list[i]);
        }
    } else {
        for (std::size_t i = 0; i < n.kids.size(); ++i) {
            const Value& v = ev.arg(i);
            if (v.missing) return set_none(out, T::Number);
            consider(v.x);
        }
    }
    if (any) set_number(out, best);
    else set_none(out, T::Number);
}
void minmax_check(Checker& c, Node& n) {
    if (n.kids.size() == 1) {
        c.want(0, {T::NumberList});
    } else {
        c.arity(2, 64);
        for (std::size_t i = 0; i < n.kids.size(); ++i) c.want(i, {T::Number});
    }
}

template <bool IsAny>
void anyall_eval(const Node&, Eval& ev, Value& out) {
    const Value& a = ev.arg(0);
    bool miss = false;
    for (std::size_t i = 0; i < a.list.size(); ++i) {
        if (!a.list_missing.empty() && a.list_missing[i]) {
            miss = true;
            continue;
        }
        if (IsAny && a.list[i] != 0) return set_number(out, 1.0, T::Bool);
        if (!IsAny && a.list[i] == 0) return set_number(out, 0.0, T::Bool);
    }
    if (miss) set_none(out, T::Bool);
    else set_number(out, IsAny ? 0.0 : 1.0, T::Bool);
}
void anyall_check(Checker& c, Node& n) {
    c.arity(1, 1);
    c.want(0, {T::BoolList});
    n.type = T::Bool;
}

/// Two kinematic arguments (objects or vectors).
void two_p4(Checker& c, Node&) {
    c.arity(2, 2);
    for (std::size_t i = 0; i < 2; ++i) {
        c.want(i, {T::Object, T::Vector});
        c.need_p4(i);
    }
}
template <int Which>  // 0 dR, 1 dphi, 2 deta, 3 mT
void pair_eval(const Node&, Eval& ev, Value& out) {
    const Value& a = ev.arg(0);
    if (a.missing) {
        (void)ev.arg(1);
        return set_none(out, T::Number);
    }
    const Kin x = kin_of(a);
    const Value& b = ev.arg(1);
    if (b.missing) return set_none(out, T::Number);
    const Kin y = kin_of(b);
    switch (Which) {
        case 0: return set_number(out, fn::delta_r(x.eta, x.phi, y.eta, y.phi));
        case 1: return set_number(out, fn::delta_phi(x.phi, y.phi));
        case 2: return set_number(out, std::fabs(x.eta - y.eta));
        default: return set_number(out, fn::mt(x.pt, x.phi, x.m, y.pt, y.phi, y.m));
    }
}

void mt2_eval(const Node& n, Eval& ev, Value& out) {
    Kin k[3];
    bool miss = false;
    for (std::size_t i = 0; i < 3; ++i) {
        const Value& v = ev.arg(i);
        if (v.missing) miss = true;
        else k[i] = kin_of(v);
    }
    double chi = 0;
    if (n.kids.size() == 4) {
        const Value& c = ev.arg(3);
        if (c.missing) return set_none(out, T::Number);
        chi = c.x;
    }
    if (miss) return set_none(out, T::Number);
    const Kin &x = k[0], &y = k[1], &z = k[2];
    const double r = fn::mt2(x.m, x.pt * std::cos(x.phi), x.pt * std::sin(x.phi), y.m, y.pt * std::cos(y.phi),
                             y.pt * std::sin(y.phi), z.pt * std::cos(z.phi), z.pt * std::sin(z.phi), chi, chi);
    if (r < 0) set_none(out, T::Number);
    else set_number(out, r);
}

/// Four-momentum sum of the arguments (objects, collections, vectors).
bool sum_args(const Node& n, Eval& ev, fn::P4& sum, std::size_t first = 0) {
    bool miss = false;
    for (std::size_t i = first; i < n.kids.size(); ++i) add_p4(ev.arg(i), sum, miss);
    return !miss;
}
void p4_list_check(Checker& c, Node& n, std::size_t first = 0) {
    for (std::size_t i = first; i < n.kids.size(); ++i) {
        c.want(i, {T::Object, T::Collection, T::Vector});
        c.need_p4(i);
    }
}
/// f(x, ...) over the four-vector sum of 1..64 objects/collections/vectors (m, vpt, sum4).
void p4_sum_check(Checker& c, Node& n) {
    c.arity(1, 64);
    p4_list_check(c, n);
}
/// A number of the four-vector sum of the arguments (missing if an object is missing).
template <double (fn::P4::*Get)() const noexcept>
void p4_sum_eval(const Node& n, Eval& ev, Value& out) {
    fn::P4 sum;
    if (!sum_args(n, ev, sum)) return set_none(out, T::Number);
    set_number(out, (sum.*Get)());
}

/// The momenta of the objects of a collection value (thread_local scratch).
const std::vector<fn::P4>& momenta(const Value& c, std::vector<fn::P4>& buf, std::size_t limit = SIZE_MAX) {
    buf.clear();
    Value o;
    for (std::size_t i = 0; i < std::min(limit, c.idx.size()); ++i) {
        object_of(c, i, o);
        buf.push_back(p4_of(o));
    }
    return buf;
}

double object_pt(const Value& c, std::size_t i) {
    Value o;
    object_of(c, i, o);
    return kin_of(o).pt;
}

/// HT, meff, met_over_sqrt_ht
template <int Which>
void ht_eval(const Node& n, Eval& ev, Value& out) {
    const Value& c = ev.arg(0);
    std::size_t limit = c.idx.size();
    if (n.kids.size() == 2) {
        const Value& l = ev.arg(1);
        if (l.missing || l.x < 0) return set_none(out, T::Number);
        limit = std::min(limit, static_cast<std::size_t>(l.x));
    }
    double ht = 0;
    for (std::size_t i = 0; i < limit; ++i) ht += object_pt(c, i);
    if (Which == 0) return set_number(out, ht);
    const double met = kin_of(ev.met()).pt;
    if (Which == 1) return set_number(out, ht + met);
    if (ht > 0) set_number(out, met / std::sqrt(ht));
    else set_none(out, T::Number);
}

/// Block form of HT / meff / met_over_sqrt_ht on a collection by name (the same sums in the same
/// order as ht_eval).
template <int Which>
bool ht_column(const Node& n, ColumnEval& cv, double* out) {
    const CollectionColumns* c = n.kids.size() == 1 ? cv.collection(0) : nullptr;
    if (!c) return false;
    const int f = n.kids[0]->kin[0];
    if (f < 0) return false;
    const double* met = nullptr;
    if (Which != 0 && !(met = cv.met_pt())) return false;
    const double* pt = c->fields[static_cast<std::size_t>(f)].data();
    const std::int64_t* off = c->offsets.data() + cv.first();
    const std::size_t m = cv.size();
    for (std::size_t i = 0; i < m; ++i) {
        double ht = 0;
        for (std::int64_t j = off[i]; j < off[i + 1]; ++j) ht += pt[j];
        if (Which == 0) out[i] = ht;
        else if (Which == 1) out[i] = ht + met[i];
        else out[i] = ht > 0 ? met[i] / std::sqrt(ht) : kNaN;
    }
    return true;
}

template <bool Aplanarity>
void shape_eval(const Node&, Eval& ev, Value& out) {
    const Value& c = ev.arg(0);
    thread_local std::vector<double> px, py, pz;
    px.clear(), py.clear(), pz.clear();
    Value o;
    for (std::size_t i = 0; i < c.idx.size(); ++i) {
        object_of(c, i, o);
        const Kin k = kin_of(o);
        px.push_back(k.pt * std::cos(k.phi));
        py.push_back(k.pt * std::sin(k.phi));
        pz.push_back(k.pt * std::sinh(k.eta));
    }
    const auto s = fn::event_shape(px.data(), py.data(), pz.data(), px.size());
    set_number(out, Aplanarity ? s.aplanarity : s.sphericity);
}
void one_collection_p4(Checker& c, Node&) {
    c.arity(1, 1);
    c.want(0, {T::Collection});
    c.need_p4(0);
}

/// Splits of a collection into two groups (bit masks over at most 16 objects).
void check_split_size(const Node& n, std::size_t m, const char* name) {
    if (m > 16) runtime_fail(n, std::string(name) + " of " + std::to_string(m) + " objects (at most 16)");
}


// ---- ATLAS-SUSY-2018-30: reclustered, trimmed large-R jets (rc_jet, rc_mass_sum) ----
/// The objects of c (argument 0) re-clustered with anti-kt radius R (argument 1); constituents
/// with pT < f_cut x pT(reclustered jet) dropped (trimming, argument 2); the trimmed jets with
/// pT > pt_min (3) and |eta| < abs_eta_max (4), pT-ordered. Memoised per thread on the inputs
/// (the NN inputs ask for the same jets up to 17 times per event). False if an argument is missing.
bool reclustered(Eval& ev, std::vector<fn::P4>& jets) {
    thread_local std::vector<fn::P4> in, last_in, last_out;
    thread_local double last_par[4] = {kNaN, kNaN, kNaN, kNaN};
    const auto& p = momenta(ev.arg(0), in);
    (void)p;
    double par[4];
    for (std::size_t i = 0; i < 4; ++i) {
        const Value& v = ev.arg(i + 1);
        if (v.missing) return false;
        par[i] = v.x;
    }
    auto same = [&] {
        if (in.size() != last_in.size()) return false;
        for (std::size_t i = 0; i < 4; ++i)
            if (!(par[i] == last_par[i])) return false;
        for (std::size_t i = 0; i < in.size(); ++i)
            if (in[i].px != last_in[i].px || in[i].py != last_in[i].py || in[i].pz != last_in[i].pz || in[i].e != last_in[i].e)
                return false;
        return true;
    };
    if (!same()) {
        last_out.clear();
        if (!in.empty() && par[0] > 0) {
            fastjet::ClusterSequence::set_fastjet_banner_stream(nullptr);
            std::vector<fastjet::PseudoJet> pj;
            pj.reserve(in.size());
            for (const auto& q : in) pj.emplace_back(q.px, q.py, q.pz, q.e);
            fastjet::ClusterSequence cs(pj, fastjet::JetDefinition(fastjet::antikt_algorithm, par[0]));
            for (const auto& rc : cs.inclusive_jets()) {
                fn::P4 t;
                bool any = false;
                for (const auto& c : rc.constituents()) {
                    if (c.pt() < par[1] * rc.pt()) continue;
                    t.px += c.px(), t.py += c.py(), t.pz += c.pz(), t.e += c.e();
                    any = true;
                }
                if (!any || !(t.pt() > par[2])) continue;
                const double pabs = std::sqrt(t.px * t.px + t.py * t.py + t.pz * t.pz);
                const double eta = std::atanh(pabs > 0 ? t.pz / pabs : 0.0);
                if (!(std::fabs(eta) < par[3])) continue;
                last_out.push_back(t);
            }
            std::stable_sort(last_out.begin(), last_out.end(),
                             [](const fn::P4& a, const fn::P4& b) { return a.pt() > b.pt(); });
        }
        last_in = in;
        std::copy(par, par + 4, last_par);
    }
    jets = last_out;
    return true;
}
void rc_check(Checker& c, Node& n, Type result) {
    c.arity(6, 6);
    c.want(0, {T::Collection});
    c.need_p4(0);
    for (std::size_t i = 1; i < 6; ++i) c.want(i, {T::Number});
    n.type = result;
}
// ---- end ATLAS-SUSY-2018-30 ----
// ---- ATLAS-HIGP-2024-32 (HHH -> 6b): pairing into mass-targeted pairs, pairwise lists, list
// statistics and the generalised momentum tensor -------------------------------------------------

/// Partition of the first 2k objects into k pairs minimising sum_j |m(pair_j) - target_j|, pairs
/// ordered by the pT of their sum (descending). Returns false with fewer than 2k objects.
/// `best` receives the object indices (a0, b0, a1, b1, ...) of the pairs in that order.
/// Partitions are enumerated by pairing the lowest unpaired object with each later one in turn;
/// the first partition with the smallest distance wins (strict <).
bool mass_pairing(const Node& n, Eval& ev, std::size_t k, std::vector<std::size_t>& best) {
    const Value& c = ev.arg(0);
    thread_local std::vector<fn::P4> pbuf;
    if (c.idx.size() < 2 * k) return false;
    const auto& p = momenta(c, pbuf, 2 * k);
    thread_local std::vector<double> target;
    target.clear();
    for (std::size_t j = 0; j < k; ++j) {
        const Value& t = ev.arg(2 + j);
        if (t.missing) return false;
        target.push_back(t.x);
    }
    (void)n;
    thread_local std::vector<std::size_t> cur, order;
    thread_local std::vector<fn::P4> sums;
    cur.assign(2 * k, 0);
    best.assign(2 * k, 0);
    double best_d = kInf;
    std::uint32_t used = 0;
    // recursive enumeration over pair slots
    auto rec = [&](auto&& self, std::size_t slot) -> void {
        if (slot == k) {
            sums.assign(k, fn::P4{});
            order.resize(k);
            for (std::size_t j = 0; j < k; ++j) {
                sums[j] = p[cur[2 * j]];
                sums[j] += p[cur[2 * j + 1]];
                order[j] = j;
            }
            std::stable_sort(order.begin(), order.end(),
                             [&](std::size_t a, std::size_t b) { return sums[a].pt() > sums[b].pt(); });
            double d = 0;
            for (std::size_t j = 0; j < k; ++j) d += std::fabs(sums[order[j]].m() - target[j]);
            if (d < best_d) {
                best_d = d;
                for (std::size_t j = 0; j < k; ++j)
                    best[2 * j] = cur[2 * order[j]], best[2 * j + 1] = cur[2 * order[j] + 1];
            }
            return;
        }
        std::size_t a = 0;
        while (used >> a & 1u) ++a;
        used |= 1u << a;
        for (std::size_t b = a + 1; b < 2 * k; ++b) {
            if (used >> b & 1u) continue;
            used |= 1u << b;
            cur[2 * slot] = a, cur[2 * slot + 1] = b;
            self(self, slot + 1);
            used &= ~(1u << b);
        }
        used &= ~(1u << a);
    };
    rec(rec, 0);
    return std::isfinite(best_d);
}
void mass_pair_check(Checker& c, Node& n) {
    c.arity(3, 7);  // k = 1..5 targets
    c.want(0, {T::Collection});
    c.need_p4(0);
    for (std::size_t i = 1; i < n.kids.size(); ++i) c.want(i, {T::Number});
}
/// 0: the pair's four-vector sum; 1: dR between its two objects
template <int Which>
void mass_pair_eval(const Node& n, Eval& ev, Value& out) {
    const Type rt = Which == 0 ? T::Vector : T::Number;
    const std::size_t k = n.kids.size() - 2;
    const Value& iv = ev.arg(1);
    if (iv.missing || iv.x < 0 || iv.x != std::floor(iv.x) || iv.x >= static_cast<double>(k))
        return set_none(out, rt);
    const auto i = static_cast<std::size_t>(iv.x);
    thread_local std::vector<std::size_t> best;
    if (!mass_pairing(n, ev, k, best)) return set_none(out, rt);
    const Value& c = ev.arg(0);
    Value a, b;
    object_of(c, best[2 * i], a);
    object_of(c, best[2 * i + 1], b);
    if (Which == 0) {
        fn::P4 s = p4_of(a);
        s += p4_of(b);
        return set_vector(out, s);
    }
    const Kin x = kin_of(a), y = kin_of(b);
    set_number(out, fn::delta_r(x.eta, x.phi, y.eta, y.phi));
}

inline void set_list(Value& out) {
    out.type = T::NumberList, out.missing = false, out.x = 0.0;
    out.list.clear(), out.list_missing.clear();
}

/// 0 m, 1 dR, 2 |deta|, 3 dphi of every pair i < k of objects, in the order (0,1), (0,2), ..., (1,2), ...
template <int Which>
void pairwise_eval(const Node&, Eval& ev, Value& out) {
    const Value& c = ev.arg(0);
    thread_local std::vector<Kin> kins;
    thread_local std::vector<fn::P4> pbuf;
    kins.clear();
    Value o;
    for (std::size_t i = 0; i < c.idx.size(); ++i) {
        object_of(c, i, o);
        kins.push_back(kin_of(o));
    }
    if (Which == 0) momenta(c, pbuf);
    set_list(out);
    for (std::size_t i = 0; i < kins.size(); ++i)
        for (std::size_t j = i + 1; j < kins.size(); ++j) {
            const Kin &x = kins[i], &y = kins[j];
            double v = 0;
            switch (Which) {
                case 0: {
                    fn::P4 s = pbuf[i];
                    s += pbuf[j];
                    v = s.m();
                    break;
                }
                case 1: v = fn::delta_r(x.eta, x.phi, y.eta, y.phi); break;
                case 2: v = std::fabs(x.eta - y.eta); break;
                default: v = fn::delta_phi(x.phi, y.phi);
            }
            out.list.push_back(v);
        }
}
void pairwise_check(Checker& c, Node& n) {
    one_collection_p4(c, n);
    n.type = T::NumberList;
}

void one_number_list(Checker& c, Node&) {
    c.arity(1, 1);
    c.want(0, {T::NumberList});
}
/// The values of a number list, false if one is missing.
bool list_values(const Value& a) {
    for (std::size_t i = 0; i < a.list_missing.size(); ++i)
        if (a.list_missing[i]) return false;
    return true;
}
/// 0 mean, 1 population standard deviation, 2 skewness (population moments)
template <int Which>
void moment_eval(const Node&, Eval& ev, Value& out) {
    const Value& a = ev.arg(0);
    const std::size_t m = a.list.size();
    if (m == 0 || !list_values(a)) return set_none(out, T::Number);
    double mean = 0;
    for (double x : a.list) mean += x;
    mean /= static_cast<double>(m);
    if (Which == 0) return set_number(out, mean);
    double m2 = 0, m3 = 0;
    for (double x : a.list) {
        const double d = x - mean;
        m2 += d * d, m3 += d * d * d;
    }
    m2 /= static_cast<double>(m), m3 /= static_cast<double>(m);
    if (Which == 1) return set_number(out, std::sqrt(m2));
    if (!(m2 > 0)) return set_none(out, T::Number);
    set_number(out, m3 / (m2 * std::sqrt(m2)));
}

/// Eigenvalues (descending) of S^ab = sum |p|^(r-2) p^a p^b / sum |p|^r, optionally in the rest
/// frame of the objects' four-momentum sum.
void tensor_eval(const Node& n, Eval& ev, Value& out) {
    const Value& c = ev.arg(0);
    thread_local std::vector<fn::P4> pbuf;
    const auto& p = momenta(c, pbuf);
    const Value& rv = ev.arg(1);
    if (rv.missing || !(rv.x > 0)) return set_none(out, T::NumberList);
    const double r = rv.x;
    bool boost = false;
    if (n.kids.size() == 3) {
        const Value& bv = ev.arg(2);
        if (bv.missing) return set_none(out, T::NumberList);
        boost = bv.x != 0;
    }
    double bx = 0, by = 0, bz = 0, gamma = 1;
    if (boost) {
        fn::P4 s;
        for (const auto& q : p) s += q;
        const double mass = s.m();
        if (!(mass > 0) || !(s.e > 0)) return set_none(out, T::NumberList);
        bx = s.px / s.e, by = s.py / s.e, bz = s.pz / s.e;
        gamma = s.e / mass;
    }
    const double b2 = bx * bx + by * by + bz * bz;
    double t[9] = {0, 0, 0, 0, 0, 0, 0, 0, 0};
    double norm = 0;
    for (const auto& q : p) {
        double v[3] = {q.px, q.py, q.pz};
        if (boost && b2 > 0) {  // Lorentz boost by -beta: p' = p + ((gamma - 1) (p.beta)/beta^2 - gamma E) beta
            const double bp = v[0] * bx + v[1] * by + v[2] * bz;
            const double f = (gamma - 1) * bp / b2 - gamma * q.e;
            v[0] += f * bx, v[1] += f * by, v[2] += f * bz;
        }
        const double a = std::sqrt(v[0] * v[0] + v[1] * v[1] + v[2] * v[2]);
        if (!(a > 0)) continue;
        const double w = std::pow(a, r - 2);
        for (int i = 0; i < 3; ++i)
            for (int j = 0; j < 3; ++j) t[3 * i + j] += w * v[i] * v[j];
        norm += std::pow(a, r);
    }
    if (!(norm > 0)) return set_none(out, T::NumberList);
    for (double& x : t) x /= norm;
    double l[3];
    fn::symmetric_eigenvalues(t, l);
    set_list(out);
    for (double x : l) out.list.push_back(std::max(x, 0.0));
}

// ---- ATLAS-SUSY-2019-02: object-based E_T^miss significance (spec section 3.1) ----------------
// The SimpleAnalysis-style formula with the resolutions of the spec (condensed tables of the GAMBIT
// port of the ATLAS SimpleAnalysis METSignificance, 2019): covariance in the frame of the MET
// vector, isotropic soft term 10 GeV, rho zeroed when |rho| >= 0.9.
namespace metsig {
constexpr double kSoft = 10.0;
/// Electrons: sigma(pT)/pT = sqrt(S^2/E + N^2/E^2 + C^2 + P^2), per |eta| bin.
constexpr double kElEdges[] = {0.0, 0.2, 0.4, 0.6, 0.8, 1.0, 1.2, 1.37, 1.52, 1.56,
                               1.62, 1.72, 1.82, 1.92, 2.02, 2.12, 2.22, 2.32};  // last bin: >= 2.32
constexpr double kElS[] = {0.0886, 0.0889, 0.0923, 0.0934, 0.0985, 0.0998, 0.1765, 0.2617, 0.4280,
                           0.2345, 0.3445, 0.2239, 0.2452, 0.1954, 0.2068, 0.1890, 0.1831, 0.2005};
constexpr double kElN[] = {0.3837, 0.3790, 0.4328, 0.7835, 1.3130, 1.7018, 1.9734, 3.3660, 3.1269,
                           2.8526, 3.5197, 2.3058, 2.0078, 2.0839, 1.9587, 1.9775, 1.9063, 2.1873};
constexpr double kElC[] = {0.00530, 0.00433, 0.00360, 0.00393, 0.00416, 0.00540, 0.00226, 0.04351, 0,
                           0,       0,       0,       0,       0,       0,       0,       0,       0};
double electron_rel(double pt, double eta, double m) {
    const double aeta = std::fabs(eta);
    std::size_t b = 0;
    while (b + 1 < std::size(kElEdges) && aeta >= kElEdges[b + 1]) ++b;
    const double e = std::sqrt(pt * std::cosh(eta) * pt * std::cosh(eta) + m * m);
    const double et = std::min(50.0, std::max(5.0, pt));
    const double p = 0.001 * std::sqrt(32.0) * (60.0 + 40.0 * std::log(et / 10.0) / std::log(5.0)) / pt;
    return std::sqrt(kElS[b] * kElS[b] / e + kElN[b] * kElN[b] / (e * e) + kElC[b] * kElC[b] + p * p);
}
/// Muons: sigma/pT = sqrt(ID MS / (ID + MS)), ID = p0^2 + (p1 pT)^2, MS = (p2/pT)^2 + p3^2 + (p4 pT)^2.
double muon_rel(double pt, double eta) {
    static constexpr double kBarrel[] = {0.017386, 0.000374, 0.209431, 0.025107, 0.000125};
    static constexpr double kEndcap[] = {0.033253, 0.000546, 0.064967, 0.027646, 0.000123};
    const double* q = std::fabs(eta) < 1.05 ? kBarrel : kEndcap;
    const double id = q[0] * q[0] + (q[1] * pt) * (q[1] * pt);
    const double ms = (q[2] / pt) * (q[2] / pt) + q[3] * q[3] + (q[4] * pt) * (q[4] * pt);
    return std::sqrt(id * ms / (id + ms));
}
/// Jets: ATLAS JER (max of data, MC; AntiKt4EMTopo 2019), linear in pT between rows, clamped.
constexpr double kJetPt[] = {20, 30, 40, 50, 70, 100, 150, 200, 300, 500, 1000};
constexpr double kJetEta[] = {0.0, 0.2, 0.7, 1.3, 1.8, 2.5, 3.2, 3.5};  // last bin up to 4.5 (and beyond)
constexpr double kJer[11][8] = {
    {0.303, 0.299, 0.324, 0.324, 0.257, 0.261, 0.363, 0.276}, {0.226, 0.222, 0.240, 0.238, 0.194, 0.200, 0.268, 0.207},
    {0.181, 0.177, 0.192, 0.191, 0.157, 0.167, 0.214, 0.167}, {0.158, 0.154, 0.166, 0.167, 0.137, 0.150, 0.187, 0.145},
    {0.127, 0.124, 0.134, 0.135, 0.112, 0.126, 0.157, 0.120}, {0.103, 0.099, 0.107, 0.109, 0.091, 0.105, 0.133, 0.099},
    {0.083, 0.079, 0.086, 0.088, 0.074, 0.087, 0.111, 0.080}, {0.072, 0.068, 0.074, 0.077, 0.065, 0.076, 0.099, 0.069},
    {0.061, 0.057, 0.062, 0.066, 0.055, 0.064, 0.086, 0.057}, {0.050, 0.046, 0.050, 0.057, 0.046, 0.053, 0.072, 0.047},
    {0.041, 0.036, 0.040, 0.050, 0.038, 0.045, 0.065, 0.038}};
double jet_rel(double pt, double eta) {
    const double aeta = std::fabs(eta);
    std::size_t b = 0;
    while (b + 1 < std::size(kJetEta) && aeta >= kJetEta[b + 1]) ++b;
    const double x = std::min(1000.0, std::max(20.0, pt));
    std::size_t r = 0;
    while (r + 2 < std::size(kJetPt) && x > kJetPt[r + 1]) ++r;
    const double t = (x - kJetPt[r]) / (kJetPt[r + 1] - kJetPt[r]);
    return (1 - t) * kJer[r][b] + t * kJer[r + 1][b];
}
double jet_phi(double pt) { return pt < 50 ? 0.054 : pt < 100 ? 0.029 : 0.017; }

struct Cov {
    double ll = kSoft * kSoft, tt = kSoft * kSoft, lt = 0;
    void add(double pt, double phi, double rel, double phires, double met_phi) {
        const double a = (rel * pt) * (rel * pt), b = (phires * pt) * (phires * pt);
        const double d = met_phi - phi, c = std::cos(d), s = std::sin(d);  // signed phi(MET) - phi(object)
        ll += a * c * c + b * s * s;
        tt += a * s * s + b * c * c;
        lt += c * s * (a - b);
    }
    double significance(double met) const {
        double rho = lt / std::sqrt(ll * tt);
        if (std::fabs(rho) >= 0.9) rho = 0;
        return met / std::sqrt(ll * (1 - rho * rho));
    }
};
}  // namespace metsig

void met_significance_eval(const Node&, Eval& ev, Value& out) {
    const Kin met = kin_of(ev.met());
    metsig::Cov cov;
    Value o;
    for (std::size_t which = 0; which < 3; ++which) {
        const Value& c = ev.arg(which);
        for (std::size_t i = 0; i < c.idx.size(); ++i) {
            object_of(c, i, o);
            const Kin k = kin_of(o);
            if (which == 0) cov.add(k.pt, k.phi, metsig::electron_rel(k.pt, k.eta, k.m), 0.004, met.phi);
            else if (which == 1) cov.add(k.pt, k.phi, metsig::muon_rel(k.pt, k.eta), 0.001, met.phi);
            else cov.add(k.pt, k.phi, metsig::jet_rel(k.pt, k.eta), metsig::jet_phi(k.pt), met.phi);
        }
    }
    set_number(out, cov.significance(met.pt));
}

const std::vector<BuiltinDef> kBuiltins = {
    MATH("abs", f_abs, "|x| (numbers or element-wise on a number list)"),
    MATH("sqrt", f_sqrt, "sqrt(x) (element-wise on lists); missing for x < 0"),
    MATH("exp", f_exp, "exp(x) (element-wise on lists)"),
    MATH("log", f_log, "natural logarithm (element-wise on lists); missing for x <= 0"),
    MATH("sin", f_sin, "sin(x) (element-wise on lists)"),
    MATH("cos", f_cos, "cos(x) (element-wise on lists)"),
    MATH("tan", f_tan, "tan(x) (element-wise on lists)"),
    MATH("sinh", f_sinh, "sinh(x) (element-wise on lists)"),
    MATH("cosh", f_cosh, "cosh(x) (element-wise on lists); E = pT cosh(eta) for massless objects"),
    MATH("tanh", f_tanh, "tanh(x) (element-wise on lists)"),
    {"atan2", "atan2(y: number, x: number) -> number", "atan2(y, x)", two_numbers,
     [](const Node&, Eval& ev, Value& out) {
         const Value& a = ev.arg(0);
         const double y = a.x;
         const bool ym = a.missing;
         const Value& b = ev.arg(1);
         if (ym || b.missing) return set_none(out, T::Number);
         set_number(out, std::atan2(y, b.x));
     }},
    {"pow", "pow(x: number, y: number) -> number", "pow(x, y) = x**y", two_numbers,
     [](const Node&, Eval& ev, Value& out) {
         const Value& a = ev.arg(0);
         const double x = a.x;
         const bool xm = a.missing;
         const Value& b = ev.arg(1);
         if (xm || b.missing) return set_none(out, T::Number);
         set_number(out, std::pow(x, b.x));
     }},
    {"min", "min(a: number, b: number, ...) | min(l: number list) -> number",
     "smallest of the numbers or of the list; missing for an empty list or a missing value", minmax_check,
     minmax_eval<true>},
    {"max", "max(a: number, b: number, ...) | max(l: number list) -> number",
     "largest of the numbers or of the list; missing for an empty list or a missing value", minmax_check,
     minmax_eval<false>},
    {"count", "count(c: collection | bool list) -> number",
     "number of objects of a collection, or number of true values of a bool list",
     [](Checker& c, Node&) {
         c.arity(1, 1);
         c.want(0, {T::Collection, T::BoolList});
     },
     [](const Node&, Eval& ev, Value& out) {
         const Value& a = ev.arg(0);
         if (a.type == T::Collection) return set_number(out, static_cast<double>(a.idx.size()));
         double c = 0;
         for (std::size_t i = 0; i < a.list.size(); ++i)
             if (a.list[i] != 0 && (a.list_missing.empty() || !a.list_missing[i])) ++c;
         set_number(out, c);
     },
     -1, false, nullptr,
     [](const Node&, ColumnEval& cv, double* out) {
         const CollectionColumns* c = cv.collection(0);
         if (!c) return false;
         const std::int64_t* off = c->offsets.data() + cv.first();
         const std::size_t m = cv.size();
         for (std::size_t i = 0; i < m; ++i) out[i] = static_cast<double>(off[i + 1] - off[i]);
         return true;
     }},
    {"any", "any(l: bool list) -> bool", "whether any value is true (false for an empty list)", anyall_check,
     anyall_eval<true>},
    {"all", "all(l: bool list) -> bool", "whether all values are true (true for an empty list)", anyall_check,
     anyall_eval<false>},
    {"sum", "sum(l: number list) -> number", "sum of the values (0 for an empty list; missing if one is missing)",
     [](Checker& c, Node&) {
         c.arity(1, 1);
         c.want(0, {T::NumberList});
     },
     [](const Node&, Eval& ev, Value& out) {
         const Value& a = ev.arg(0);
         double s = 0;
         for (std::size_t i = 0; i < a.list.size(); ++i) {
             if (!a.list_missing.empty() && a.list_missing[i]) return set_none(out, T::Number);
             s += a.list[i];
         }
         set_number(out, s);
     }},
    {"select", "select(c: collection, predicate: bool) -> collection",
     "the objects for which the predicate (fields by bare name, the object as `this`) is true, order kept",
     [](Checker& c, Node& n) {
         c.arity(2, 2);
         c.want(1, {T::Bool});
         n.type = T::Collection;
         n.source = n.kids[0]->source;
     },
     [](const Node&, Eval& ev, Value& out) {
         const Value& c = ev.arg(0);
         out.type = T::Collection, out.missing = false, out.coll = c.coll, out.rec = nullptr, out.kin = c.kin;
         ev.select(c, 1, out.idx);
     },
     1},
    {"dR", "dR(a: object|vector, b: object|vector) -> number", "sqrt(d_eta^2 + d_phi^2)", two_p4, pair_eval<0>},
    {"dphi", "dphi(a: object|vector, b: object|vector) -> number",
     "|phi_a - phi_b| folded into [0, pi]; e.g. dphi(jets[0], -sum4(jets)) against the MHT vector", two_p4,
     pair_eval<1>},
    {"deta", "deta(a: object|vector, b: object|vector) -> number", "|eta_a - eta_b|", two_p4, pair_eval<2>},
    {"mT", "mT(a: object|vector, b: object|vector) -> number",
     "transverse mass: mT^2 = m_a^2 + m_b^2 + 2 (ET_a ET_b - pT_a . pT_b), ET = sqrt(m^2 + pT^2)", two_p4,
     pair_eval<3>},
    {"mT2", "mT2(a: object|vector, b: object|vector, met: object|vector[, m_invisible: number]) -> number",
     "stransverse mass of the legs a and b (any objects or vectors, e.g. megajets), Lester-Nachman bisection "
     "(arXiv:1411.4312)",
     [](Checker& c, Node& n) {
         c.arity(3, 4);
         for (std::size_t i = 0; i < 3; ++i) {
             c.want(i, {T::Object, T::Vector});
             c.need_p4(i);
         }
         if (n.kids.size() == 4) c.want(3, {T::Number});
     },
     mt2_eval},
    {"m", "m(x: object|collection|vector, ...) -> number", "invariant mass of the four-vector sum of the arguments",
     p4_sum_check, p4_sum_eval<&fn::P4::m>},
    {"vpt", "vpt(x: object|collection|vector, ...) -> number", "pT of the four-vector sum of the arguments",
     p4_sum_check, p4_sum_eval<&fn::P4::pt>},
    {"sum4", "sum4(x: object|collection|vector, ...) -> vector",
     "four-momentum sum of the arguments (records such as met: eta = m = 0); missing if an object is missing; "
     "components .pt .eta .phi .m .px .py .pz .e",
     [](Checker& c, Node& n) {
         p4_sum_check(c, n);
         n.type = T::Vector;
     },
     [](const Node& n, Eval& ev, Value& out) {
         fn::P4 sum;
         if (!sum_args(n, ev, sum)) return set_none(out, T::Vector);
         set_vector(out, sum);
     }},
    {"HT", "HT(c: collection) -> number", "scalar sum of pT", one_collection_p4, ht_eval<0>, -1, false, nullptr,
     ht_column<0>},
    {"meff", "meff(c: collection[, n: number]) -> number",
     "scalar pT sum of the first n objects (default all) + met.pt",
     [](Checker& c, Node& n) {
         c.arity(1, 2);
         c.want(0, {T::Collection});
         c.need_p4(0);
         if (n.kids.size() == 2) c.want(1, {T::Number});
         c.need_met();
     },
     ht_eval<1>, -1, true, nullptr, ht_column<1>},
    {"met_over_sqrt_ht", "met_over_sqrt_ht(c: collection) -> number", "met.pt / sqrt(HT(c)) [GeV^1/2]",
     [](Checker& c, Node& n) {
         one_collection_p4(c, n);
         c.need_met();
     },
     ht_eval<2>, -1, true, nullptr, ht_column<2>},
    {"aplanarity", "aplanarity(c: collection) -> number", "3/2 l3 of the momentum tensor sum p^a p^b / sum |p|^2",
     one_collection_p4, shape_eval<true>},
    {"sphericity", "sphericity(c: collection) -> number", "3/2 (l2 + l3) of the momentum tensor", one_collection_p4,
     shape_eval<false>},
    {"min_dphi", "min_dphi(c: collection, o: object|vector[, n: number]) -> number",
     "min over the first n objects (default all) of dphi(c_i, o); missing if there is none",
     [](Checker& c, Node& n) {
         c.arity(2, 3);
         c.want(0, {T::Collection});
         c.want(1, {T::Object, T::Vector});
         c.need_p4(0);
         c.need_p4(1);
         if (n.kids.size() == 3) c.want(2, {T::Number});
     },
     [](const Node& n, Eval& ev, Value& out) {
         const Value& c = ev.arg(0);
         const Value& o = ev.arg(1);
         std::size_t limit = c.idx.size();
         if (n.kids.size() == 3) {
             const Value& l = ev.arg(2);
             if (l.missing || l.x < 0) return set_none(out, T::Number);
             limit = std::min(limit, static_cast<std::size_t>(l.x));
         }
         if (o.missing || limit == 0) return set_none(out, T::Number);
         const double phi = kin_of(o).phi;
         double best = kInf;
         Value x;
         for (std::size_t i = 0; i < limit; ++i) {
             object_of(c, i, x);
             best = std::min(best, fn::delta_phi(kin_of(x).phi, phi));
         }
         set_number(out, best);
     }},
    {"if", "if(condition: bool, a: number|bool, b: same) -> same", "a where the condition is true, else b",
     [](Checker& c, Node& n) {
         c.arity(3, 3);
         c.want(0, {T::Bool});
         c.want(1, {T::Number, T::Bool});
         if (n.kids[2]->type != n.kids[1]->type)
             c.fail(*n.kids[2], std::string("both branches of if(...) must have one type: ") +
                                    type_name(n.kids[1]->type) + " vs " + type_name(n.kids[2]->type));
         n.type = n.kids[1]->type;
     },
     [](const Node& n, Eval& ev, Value& out) {
         const Value& c = ev.arg(0);
         if (c.missing) return set_none(out, n.type);
         const Value& v = ev.arg(c.x != 0 ? 1 : 2);
         if (v.missing) set_none(out, n.type);
         else set_number(out, v.x, n.type);
     }},
    {"max_pt_mass", "max_pt_mass(c: collection, k: number[, o: object|vector, ...]) -> number",
     "over all k-object combinations of c (plus the extra objects, e.g. a lepton and met as (px, py, 0, pT)), the "
     "invariant mass of the one with the largest vector pT; missing with fewer than k",
     [](Checker& c, Node& n) {
         c.arity(2, 16);
         c.want(0, {T::Collection});
         c.need_p4(0);
         c.want(1, {T::Number});
         for (std::size_t i = 2; i < n.kids.size(); ++i) {
             c.want(i, {T::Object, T::Vector});
             c.need_p4(i);
         }
     },
     [](const Node& n, Eval& ev, Value& out) {
         const Value& c = ev.arg(0);
         const Value& kv = ev.arg(1);
         if (kv.missing || kv.x < 1 || kv.x != std::floor(kv.x)) return set_none(out, T::Number);
         const auto k = static_cast<std::size_t>(kv.x);
         fn::P4 extra;
         if (!sum_args(n, ev, extra, 2)) return set_none(out, T::Number);
         if (c.idx.size() < k) return set_none(out, T::Number);
         thread_local std::vector<fn::P4> pbuf;
         thread_local std::vector<std::size_t> pick;
         const auto& p = momenta(c, pbuf);
         pick.resize(k);
         for (std::size_t i = 0; i < k; ++i) pick[i] = i;
         double best_pt = -1, best_m = 0;
         for (;;) {
             fn::P4 sum = extra;
             for (auto i : pick) sum += p[i];
             if (sum.pt() > best_pt) best_pt = sum.pt(), best_m = sum.m();
             std::size_t i = k;  // next combination in lexicographic order
             while (i > 0 && pick[i - 1] == p.size() - k + i - 1) --i;
             if (i == 0) break;
             ++pick[i - 1];
             for (std::size_t j = i; j < k; ++j) pick[j] = pick[j - 1] + 1;
         }
         set_number(out, best_m);
     }},
    {"minmax_mass", "minmax_mass(c: collection) -> number",
     "over all 2^N splittings into two groups (one may be empty), min of max(m(group 1), m(group 2)); N <= 16",
     one_collection_p4,
     [](const Node& n, Eval& ev, Value& out) {
         const Value& c = ev.arg(0);
         const std::size_t m = c.idx.size();
         check_split_size(n, m, "minmax_mass");
         thread_local std::vector<fn::P4> pbuf;
         const auto& p = momenta(c, pbuf);
         double best = kInf;
         for (std::uint32_t mask = 0; mask < (1u << m); ++mask) {
             fn::P4 a, b;
             for (std::size_t i = 0; i < m; ++i) ((mask >> i) & 1u ? a : b) += p[i];
             best = std::min(best, std::max(a.m(), b.m()));
         }
         set_number(out, best);
     }},
    {"min_max_pair_mass", "min_max_pair_mass(a: object, b: object, c: collection) -> number",
     "over ordered pairs i != k of objects of c, min of max(m(a + c_i), m(b + c_k)) (e.g. m_lj of 2lSS searches); "
     "missing with fewer than 2 objects",
     [](Checker& c, Node&) {
         c.arity(3, 3);
         for (std::size_t i = 0; i < 2; ++i) {
             c.want(i, {T::Object});
             c.need_p4(i);
         }
         c.want(2, {T::Collection});
         c.need_p4(2);
     },
     [](const Node&, Eval& ev, Value& out) {
         const Value& a = ev.arg(0);
         const bool am = a.missing;
         const fn::P4 pa = am ? fn::P4{} : p4_of(a);
         const Value& b = ev.arg(1);
         const bool bm = b.missing;
         const fn::P4 pb = bm ? fn::P4{} : p4_of(b);
         const Value& c = ev.arg(2);
         if (am || bm || c.idx.size() < 2) return set_none(out, T::Number);
         thread_local std::vector<fn::P4> pbuf;
         const auto& pc = momenta(c, pbuf);
         double best = kInf;
         for (std::size_t i = 0; i < pc.size(); ++i)
             for (std::size_t k = 0; k < pc.size(); ++k) {
                 if (i == k) continue;
                 fn::P4 x = pa, y = pb;
                 x += pc[i];
                 y += pc[k];
                 best = std::min(best, std::max(x.m(), y.m()));
             }
         set_number(out, best);
     }},
    {"min_dr", "min_dr(a: object|collection, b: object|collection) -> number",
     "smallest dR between objects of a and b; missing if there is no pair",
     [](Checker& c, Node&) {
         c.arity(2, 2);
         for (std::size_t i = 0; i < 2; ++i) {
             c.want(i, {T::Object, T::Collection});
             c.need_p4(i);
         }
     },
     [](const Node&, Eval& ev, Value& out) {
         thread_local std::vector<Kin> ka, kb;
         auto kins = [](const Value& v, std::vector<Kin>& k) {
             k.clear();
             if (v.type == T::Object) {
                 if (!v.missing) k.push_back(kin_of(v));
                 return;
             }
             Value o;
             for (std::size_t i = 0; i < v.idx.size(); ++i) {
                 object_of(v, i, o);
                 k.push_back(kin_of(o));
             }
         };
         kins(ev.arg(0), ka);
         kins(ev.arg(1), kb);
         double best = kInf;
         for (const Kin& x : ka)
             for (const Kin& y : kb) best = std::min(best, fn::delta_r(x.eta, x.phi, y.eta, y.phi));
         if (std::isinf(best)) set_none(out, T::Number);
         else set_number(out, best);
     }},
    {"megajet", "megajet(c: collection, i: number) -> vector",
     "razor megajet i (0: the one of larger pT, 1: the other) of the objects of c: of all 2^(N-1) splittings into "
     "two non-empty groups, the one minimising m1^2 + m2^2 (CMS razor, arXiv:1212.6961); missing with fewer than 2 "
     "objects or i not 0/1; N <= 16",
     [](Checker& c, Node& n) {
         c.arity(2, 2);
         c.want(0, {T::Collection});
         c.need_p4(0);
         c.want(1, {T::Number});
         n.type = T::Vector;
     },
     [](const Node& n, Eval& ev, Value& out) {
         const Value& iv = ev.arg(1);
         const bool im = iv.missing;
         const double which = iv.x;
         const Value& c = ev.arg(0);
         const std::size_t m = c.idx.size();
         if (im || (which != 0 && which != 1) || m < 2) return set_none(out, T::Vector);
         check_split_size(n, m, "megajet");
         thread_local std::vector<fn::P4> pbuf;
         const auto& p = momenta(c, pbuf);
         double best = kInf;
         fn::P4 ba, bb;
         // object 0 always in group a: each split once; group b non-empty
         for (std::uint32_t mask = 0; mask + 1 < (1u << (m - 1)); ++mask) {
             fn::P4 a = p[0], b;
             for (std::size_t i = 1; i < m; ++i) ((mask >> (i - 1)) & 1u ? a : b) += p[i];
             const double ma = a.m(), mb = b.m();
             const double s = ma * ma + mb * mb;
             if (s < best) best = s, ba = a, bb = b;
         }
         const bool a_first = ba.pt() >= bb.pt();
         set_vector(out, (which == 0) == a_first ? ba : bb);
     }},
    {"delta_ht", "delta_ht(c: collection) -> number",
     "min over splittings of the objects into two pseudo-jets of |HT_1 - HT_2| (the alpha_T pseudo-dijet, "
     "arXiv:1101.1628): alpha_T = (HT - delta_ht) / (2 sqrt(HT^2 - MHT^2)); 0 objects: 0; N <= 16",
     one_collection_p4,
     [](const Node& n, Eval& ev, Value& out) {
         const Value& c = ev.arg(0);
         const std::size_t m = c.idx.size();
         check_split_size(n, m, "delta_ht");
         if (m == 0) return set_number(out, 0.0);
         thread_local std::vector<double> pt;
         pt.clear();
         for (std::size_t i = 0; i < m; ++i) pt.push_back(object_pt(c, i));
         double best = kInf;
         for (std::uint32_t mask = 0; mask < (1u << (m - 1)); ++mask) {
             double d = pt[0];
             for (std::size_t i = 1; i < m; ++i) d += ((mask >> (i - 1)) & 1u) ? pt[i] : -pt[i];
             best = std::min(best, std::fabs(d));
         }
         set_number(out, best);
     }},
    // ATLAS-SUSY-2018-30
    {"rc_jet", "rc_jet(c: collection, R: number, f_cut: number, pt_min: number, abs_eta_max: number, i: number) -> vector",
     "the i-th (pT-ordered, from 0) trimmed reclustered jet: the objects of c clustered anti-kt with radius R, "
     "constituents with pT < f_cut x pT(jet) dropped, kept if pT > pt_min and |eta| < abs_eta_max (ATLAS RC jets); "
     "missing if there is no such jet",
     [](Checker& c, Node& n) { rc_check(c, n, T::Vector); },
     [](const Node&, Eval& ev, Value& out) {
         thread_local std::vector<fn::P4> jets;
         if (!reclustered(ev, jets)) {
             (void)ev.arg(5);
             return set_none(out, T::Vector);
         }
         const Value& iv = ev.arg(5);
         if (iv.missing || iv.x < 0 || iv.x != std::floor(iv.x) || iv.x >= static_cast<double>(jets.size()))
             return set_none(out, T::Vector);
         set_vector(out, jets[static_cast<std::size_t>(iv.x)]);
     }},
    {"rc_mass_sum", "rc_mass_sum(c: collection, R: number, f_cut: number, pt_min: number, abs_eta_max: number, n: number) -> number",
     "sum of the masses of the (up to) n leading jets of rc_jet(c, R, f_cut, pt_min, abs_eta_max, .) (M_J^Sigma); "
     "0 without such jets",
     [](Checker& c, Node& n) { rc_check(c, n, T::Number); },
     [](const Node&, Eval& ev, Value& out) {
         thread_local std::vector<fn::P4> jets;
         if (!reclustered(ev, jets)) {
             (void)ev.arg(5);
             return set_none(out, T::Number);
         }
         const Value& nv = ev.arg(5);
         if (nv.missing || nv.x < 0) return set_none(out, T::Number);
         double sum = 0;
         for (std::size_t i = 0; i < jets.size() && static_cast<double>(i) < nv.x; ++i) sum += jets[i].m();
         set_number(out, sum);
     }},
    // ---- ATLAS-HIGP-2024-32 ----
    {"mass_pair", "mass_pair(c: collection, i: number, m1: number, ..., mk: number) -> vector",
     "pair i (0 = largest pT) of the partition of the first 2k objects of c into k pairs (k = 1..5 target masses) "
     "minimising sum_j |m(pair j) - m_j| with the pairs ordered by the pT of their sum (e.g. HHH -> 6b: "
     "mass_pair(j, 0, 120, 115, 110)); its four-vector sum; missing with fewer than 2k objects or i not in 0..k-1",
     [](Checker& c, Node& n) {
         mass_pair_check(c, n);
         n.type = T::Vector;
     },
     mass_pair_eval<0>},
    {"mass_pair_dr", "mass_pair_dr(c: collection, i: number, m1: number, ..., mk: number) -> number",
     "dR between the two objects of pair i of mass_pair(c, i, m1, ..., mk) (same pairing, same order)",
     [](Checker& c, Node& n) {
         mass_pair_check(c, n);
         n.type = T::Number;
     },
     mass_pair_eval<1>},
    {"pair_m", "pair_m(c: collection) -> number list",
     "invariant mass of every pair i < k of objects, in the order (0,1), (0,2), ..., (1,2), ...", pairwise_check,
     pairwise_eval<0>},
    {"pair_dr", "pair_dr(c: collection) -> number list", "dR of every pair i < k of objects (order as pair_m)",
     pairwise_check, pairwise_eval<1>},
    {"pair_deta", "pair_deta(c: collection) -> number list", "|eta_i - eta_k| of every pair i < k (order as pair_m)",
     pairwise_check, pairwise_eval<2>},
    {"pair_dphi", "pair_dphi(c: collection) -> number list",
     "|phi_i - phi_k| folded into [0, pi] of every pair i < k (order as pair_m)", pairwise_check, pairwise_eval<3>},
    {"pair_prod", "pair_prod(l: number list) -> number list",
     "x_i * x_k of every pair i < k of values (order as pair_m); e.g. pair_prod(jets.pt)",
     [](Checker& c, Node& n) {
         one_number_list(c, n);
         n.type = T::NumberList;
     },
     [](const Node&, Eval& ev, Value& out) {
         const Value& a = ev.arg(0);
         if (!list_values(a)) return set_none(out, T::NumberList);
         thread_local std::vector<double> x;
         x.assign(a.list.begin(), a.list.end());
         set_list(out);
         for (std::size_t i = 0; i < x.size(); ++i)
             for (std::size_t k = i + 1; k < x.size(); ++k) out.list.push_back(x[i] * x[k]);
     }},
    {"mean", "mean(l: number list) -> number", "arithmetic mean; missing for an empty list or a missing value",
     one_number_list, moment_eval<0>},
    {"std", "std(l: number list) -> number",
     "population standard deviation sqrt(<(x - <x>)^2>) (RMS about the mean); missing for an empty list",
     one_number_list, moment_eval<1>},
    {"skewness", "skewness(l: number list) -> number",
     "population skewness <((x - mu)/sigma)^3>; missing for an empty list or sigma = 0", one_number_list,
     moment_eval<2>},
    {"tensor_eigenvalues", "tensor_eigenvalues(c: collection, r: number[, rest_frame: bool]) -> number list",
     "eigenvalues l1 >= l2 >= l3 of S^ab = sum |p|^(r-2) p^a p^b / sum |p|^r (r = 2: sphericity tensor, r = 1: "
     "linearised), with rest_frame after boosting the objects into the rest frame of their four-momentum sum; "
     "sphericity = 3/2 (l2 + l3), aplanarity = 3/2 l3; missing without momentum",
     [](Checker& c, Node& n) {
         c.arity(2, 3);
         c.want(0, {T::Collection});
         c.need_p4(0);
         c.want(1, {T::Number});
         if (n.kids.size() == 3) c.want(2, {T::Bool});
         n.type = T::NumberList;
     },
     tensor_eval},
    {"met_significance", "met_significance(electrons: collection, muons: collection, jets: collection) -> number",
     "object-based E_T^miss significance of ATLAS SimpleAnalysis (ATLAS-SUSY-2019-02 spec 3.1): covariance of the "
     "objects' pT (e: calo S/N/C + pile-up per |eta| bin, mu: ID+MS, jets: JER table) and phi resolutions in the MET "
     "frame plus a 10 GeV isotropic soft term; MET / sqrt(C_LL (1 - rho^2)), rho = 0 when |rho| >= 0.9",
     [](Checker& c, Node&) {
         c.arity(3, 3);
         for (std::size_t i = 0; i < 3; ++i) {
             c.want(i, {T::Collection});
             c.need_p4(i);
         }
         c.need_met();
     },
     met_significance_eval, -1, true},
};

}  // namespace

const std::vector<BuiltinDef>& builtin_table() { return kBuiltins; }

const BuiltinDef* find_builtin(const std::string& name) {
    for (const auto& b : kBuiltins)
        if (name == b.name) return &b;
    return nullptr;
}

}  // namespace recast::analysis
