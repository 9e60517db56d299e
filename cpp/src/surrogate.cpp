#include "recast/surrogate.hpp"

#include "json_reader.hpp"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <limits>
#include <sstream>

#include <nlohmann/json.hpp>

namespace recast::surrogate {
namespace {

using json = nlohmann::ordered_json;  // keeps the order of the regions
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
/// Barycentric weights down to -kTolerance count as inside (points on an edge, rounding).
constexpr double kTolerance = 1e-10;

using Reader = detail::JsonReader;

using detail::parse_json;

std::string format_point(const std::vector<std::string>& names, const std::vector<double>& x) {
    std::ostringstream s;
    s.precision(10);
    s << "(";
    for (std::size_t k = 0; k < x.size(); ++k) s << (k ? ", " : "") << (k < names.size() ? names[k] + "=" : "") << x[k];
    s << ")";
    return s.str();
}

/// Inverts the d x d row-major matrix a in place (Gauss-Jordan, partial pivoting); false if it is
/// singular relative to its scale.
bool invert(std::vector<double>& a, std::size_t d) {
    std::vector<double> inv(d * d, 0.0);
    for (std::size_t i = 0; i < d; ++i) inv[i * d + i] = 1;
    double scale = 0;
    for (double v : a) scale = std::max(scale, std::fabs(v));
    if (!(scale > 0)) return false;
    for (std::size_t c = 0; c < d; ++c) {
        std::size_t p = c;
        for (std::size_t r = c + 1; r < d; ++r)
            if (std::fabs(a[r * d + c]) > std::fabs(a[p * d + c])) p = r;
        if (std::fabs(a[p * d + c]) <= 1e-12 * scale) return false;
        if (p != c)
            for (std::size_t k = 0; k < d; ++k) {
                std::swap(a[p * d + k], a[c * d + k]);
                std::swap(inv[p * d + k], inv[c * d + k]);
            }
        const double piv = a[c * d + c];
        for (std::size_t k = 0; k < d; ++k) {
            a[c * d + k] /= piv;
            inv[c * d + k] /= piv;
        }
        for (std::size_t r = 0; r < d; ++r) {
            if (r == c) continue;
            const double f = a[r * d + c];
            if (f == 0) continue;
            for (std::size_t k = 0; k < d; ++k) {
                a[r * d + k] -= f * a[c * d + k];
                inv[r * d + k] -= f * inv[c * d + k];
            }
        }
    }
    a = std::move(inv);
    return true;
}

constexpr std::size_t kMaxDimension = 8;

}  // namespace

Mode parse_mode(const std::string& name) {
    if (name == "best") return Mode::best;
    if (name == "combined") return Mode::combined;
    if (name == "per_sr") return Mode::per_sr;
    throw ConfigError("loglike", 0, 0, "mode must be \"best\", \"combined\" or \"per_sr\", got \"" + name + "\"");
}

Statistic parse_statistic(const std::string& name) {
    if (name == "gaussian") return Statistic::gaussian;
    if (name == "pyhf") return Statistic::pyhf;
    throw ConfigError("loglike", 0, 0, "statistic must be \"gaussian\" or \"pyhf\", got \"" + name + "\"");
}

EfficiencyMap EfficiencyMap::load(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw FileNotFound(path, "cannot open efficiency map");
    std::ostringstream text;
    text << in.rdbuf();
    return parse(text.str(), path);
}

EfficiencyMap EfficiencyMap::parse(const std::string& text, const std::string& source) {
    const Reader R(source);
    const json doc = parse_json(text, source);
    R.object(doc, "",
             {"format", "format_version", "analysis", "luminosity_fb", "model", "parameters", "points", "triangles",
              "regions"},
             {"sqrt_s", "units", "conventions", "interpolation", "provenance"});
    const std::string format = R.str(doc["format"], "/format");
    if (format != kMapFormat) R.fail("/format", std::string("expected \"") + kMapFormat + "\", got \"" + format + "\"");
    const auto version = R.integer(doc["format_version"], "/format_version");
    if (version != kMapFormatVersion)
        R.fail("/format_version", "this recast reads version " + std::to_string(kMapFormatVersion) + ", the file is version " +
                                      std::to_string(version));
    EfficiencyMap m;
    m.source_ = source;
    m.analysis_ = R.str(doc["analysis"], "/analysis");
    m.model_ = R.str(doc["model"], "/model");
    m.luminosity_fb_ = R.number(doc["luminosity_fb"], "/luminosity_fb", 0.0);
    if (!(m.luminosity_fb_ > 0)) R.fail("/luminosity_fb", "expected a positive number");
    if (doc.contains("sqrt_s") && !doc["sqrt_s"].is_null()) m.sqrt_s_ = R.number(doc["sqrt_s"], "/sqrt_s", 0.0);
    if (doc.contains("units") && R.str(doc["units"], "/units") != "GeV")
        R.fail("/units", "expected \"GeV\", got \"" + doc["units"].get<std::string>() + "\"");

    std::size_t k = 0;
    for (const auto& p : R.array(doc["parameters"], "/parameters"))
        m.parameters_.push_back(R.str(p, "/parameters/" + std::to_string(k++)));
    if (m.parameters_.empty() || m.parameters_.size() > kMaxDimension)
        R.fail("/parameters", "expected 1 to " + std::to_string(kMaxDimension) + " parameter names");
    m.dim_ = m.parameters_.size();
    const std::size_t d = m.dim_;

    const json& points = R.array(doc["points"], "/points");
    if (points.size() < d + 1)
        R.fail("/points", "expected at least " + std::to_string(d + 1) + " points for " + std::to_string(d) +
                              " parameter(s), got " + std::to_string(points.size()));
    const std::size_t n = points.size();
    m.points_.reserve(n * d);
    for (std::size_t i = 0; i < n; ++i) {
        const auto x = R.numbers(points[i], "/points/" + std::to_string(i), d, -INFINITY);
        m.points_.insert(m.points_.end(), x.begin(), x.end());
    }

    const json& simplices = R.array(doc["triangles"], "/triangles");
    if (simplices.empty()) R.fail("/triangles", "expected at least one simplex");
    m.simplices_.reserve(simplices.size() * (d + 1));
    for (std::size_t t = 0; t < simplices.size(); ++t) {
        const std::string path = "/triangles/" + std::to_string(t);
        const json& s = R.array(simplices[t], path, d + 1);
        for (std::size_t v = 0; v <= d; ++v) {
            const auto idx = R.integer(s[v], path + "/" + std::to_string(v));
            if (idx < 0 || static_cast<std::size_t>(idx) >= n)
                R.fail(path + "/" + std::to_string(v),
                       "expected a point index in [0, " + std::to_string(n) + "), got " + std::to_string(idx));
            m.simplices_.push_back(static_cast<std::size_t>(idx));
        }
    }

    const json& regions = doc["regions"];
    if (!regions.is_object() || regions.empty())
        R.fail("/regions", std::string("expected an object with one entry per signal region, got ") + detail::json_kind(regions));
    for (const auto& item : regions.items()) {
        const std::string path = "/regions/" + item.key();
        const json& r = item.value();
        R.object(r, path, {"n_obs", "b", "b_err", "efficiency", "efficiency_error"},
                 {"mc_events", "interpolation_residual"});
        MapRegion region;
        region.name = item.key();
        region.published.n_obs = R.number(r["n_obs"], path + "/n_obs", 0.0);
        region.published.b = R.number(r["b"], path + "/b", 0.0);
        region.published.b_err = R.number(r["b_err"], path + "/b_err", 0.0);
        region.efficiency = R.numbers(r["efficiency"], path + "/efficiency", n, 0.0);
        region.efficiency_error = R.numbers(r["efficiency_error"], path + "/efficiency_error", n, 0.0);
        if (r.contains("interpolation_residual"))
            region.interpolation_residual =
                R.numbers(r["interpolation_residual"], path + "/interpolation_residual", n, 0.0);
        else
            region.interpolation_residual.assign(n, 0.0);
        region.mc_events.assign(n, -1);
        if (r.contains("mc_events")) {
            const json& mc = R.array(r["mc_events"], path + "/mc_events", n);
            for (std::size_t i = 0; i < n; ++i)
                if (!mc[i].is_null()) region.mc_events[i] = R.integer(mc[i], path + "/mc_events/" + std::to_string(i));
        }
        m.published_.push_back(region.published);
        m.background_ll_gaussian_.push_back(
            stats::log_likelihood(region.published.n_obs, region.published.b, region.published.b_err, 0.0));
        m.background_ll_pyhf_.push_back(
            stats::profile_log_likelihood(region.published.n_obs, region.published.b, region.published.b_err, 0.0));
        m.background_ll_asimov_.push_back(
            stats::log_likelihood(region.published.b, region.published.b, region.published.b_err, 0.0));
        m.regions_.push_back(std::move(region));
    }

    // per simplex: the inverse of the edge matrix (barycentric coordinates in a few flops)
    const std::size_t ns = m.n_simplices();
    m.inverse_.resize(ns * d * d);
    std::vector<double> a(d * d);
    for (std::size_t t = 0; t < ns; ++t) {
        const std::size_t* v = &m.simplices_[t * (d + 1)];
        const double* last = &m.points_[v[d] * d];
        for (std::size_t r = 0; r < d; ++r)        // row r = coordinate r
            for (std::size_t c = 0; c < d; ++c)    // column c = edge v_c - v_d
                a[r * d + c] = m.points_[v[c] * d + r] - last[r];
        if (!invert(a, d))
            R.fail("/triangles/" + std::to_string(t), "degenerate simplex (its vertices are collinear or coincide)");
        std::copy(a.begin(), a.end(), m.inverse_.begin() + static_cast<std::ptrdiff_t>(t * d * d));
    }
    m.build_index();
    return m;
}

void EfficiencyMap::build_index() {
    const std::size_t d = dim_, n = n_points(), ns = n_simplices();
    lo_.assign(d, INFINITY);
    hi_.assign(d, -INFINITY);
    for (std::size_t i = 0; i < n; ++i)
        for (std::size_t k = 0; k < d; ++k) {
            lo_[k] = std::min(lo_[k], points_[i * d + k]);
            hi_[k] = std::max(hi_[k], points_[i * d + k]);
        }
    // about one simplex per cell
    const auto per_dim = static_cast<std::size_t>(
        std::max(1.0, std::floor(std::pow(static_cast<double>(ns), 1.0 / static_cast<double>(d)))));
    cells_per_dim_.assign(d, per_dim);
    cell_size_.resize(d);
    std::size_t n_cells = 1;
    for (std::size_t k = 0; k < d; ++k) {
        const double width = hi_[k] - lo_[k];
        if (!(width > 0)) cells_per_dim_[k] = 1;
        cell_size_[k] = width > 0 ? width / static_cast<double>(cells_per_dim_[k]) : 1.0;
        n_cells *= cells_per_dim_[k];
    }
    auto cell_of = [&](std::size_t k, double x) {
        const double c = std::floor((x - lo_[k]) / cell_size_[k]);
        return static_cast<std::size_t>(std::clamp(c, 0.0, static_cast<double>(cells_per_dim_[k] - 1)));
    };
    // counting sort of (cell, simplex) pairs into CSR arrays
    std::vector<std::vector<std::size_t>> lists(n_cells);
    std::vector<std::size_t> first(d), last(d), idx(d);
    for (std::size_t t = 0; t < ns; ++t) {
        for (std::size_t k = 0; k < d; ++k) {
            double smin = INFINITY, smax = -INFINITY;
            for (std::size_t v = 0; v <= d; ++v) {
                const double x = points_[simplices_[t * (d + 1) + v] * d + k];
                smin = std::min(smin, x);
                smax = std::max(smax, x);
            }
            const double pad = kTolerance * (hi_[k] - lo_[k]);
            first[k] = cell_of(k, smin - pad);
            last[k] = cell_of(k, smax + pad);
            idx[k] = first[k];
        }
        while (true) {  // every cell of the simplex's bounding box
            std::size_t cell = 0;
            for (std::size_t k = d; k-- > 0;) cell = cell * cells_per_dim_[k] + idx[k];
            lists[cell].push_back(t);
            std::size_t k = 0;
            while (k < d && idx[k] == last[k]) idx[k] = first[k], ++k;
            if (k == d) break;
            ++idx[k];
        }
    }
    cell_start_.assign(n_cells + 1, 0);
    cell_items_.clear();
    for (std::size_t c = 0; c < n_cells; ++c) {
        cell_items_.insert(cell_items_.end(), lists[c].begin(), lists[c].end());
        cell_start_[c + 1] = cell_items_.size();
    }
}

bool EfficiencyMap::find(const double* x, std::size_t& simplex, double* weights) const {
    const std::size_t d = dim_;
    std::size_t cell = 0;
    for (std::size_t k = d; k-- > 0;) {
        const double width = hi_[k] - lo_[k];
        const double pad = kTolerance * (width > 0 ? width : 1.0);
        if (!(x[k] >= lo_[k] - pad && x[k] <= hi_[k] + pad)) return false;  // also NaN
        const double c = std::floor((x[k] - lo_[k]) / cell_size_[k]);
        cell = cell * cells_per_dim_[k] +
               static_cast<std::size_t>(std::clamp(c, 0.0, static_cast<double>(cells_per_dim_[k] - 1)));
    }
    double best_min = -INFINITY;
    double lam[kMaxDimension + 1];
    for (std::size_t j = cell_start_[cell]; j < cell_start_[cell + 1]; ++j) {
        const std::size_t t = cell_items_[j];
        const std::size_t* v = &simplices_[t * (d + 1)];
        const double* last = &points_[v[d] * d];
        const double* inv = &inverse_[t * d * d];
        double sum = 0, lowest = INFINITY;
        for (std::size_t r = 0; r < d; ++r) {
            double l = 0;
            for (std::size_t c = 0; c < d; ++c) l += inv[r * d + c] * (x[c] - last[c]);
            lam[r] = l;
            sum += l;
            lowest = std::min(lowest, l);
        }
        lam[d] = 1 - sum;
        lowest = std::min(lowest, lam[d]);
        if (lowest >= 0) {  // strictly inside (or on an edge): done
            simplex = t;
            std::copy(lam, lam + d + 1, weights);
            return true;
        }
        if (lowest >= -kTolerance && lowest > best_min) {  // within rounding of an edge of the hull
            best_min = lowest;
            simplex = t;
            std::copy(lam, lam + d + 1, weights);
        }
    }
    if (best_min == -INFINITY) return false;
    // clip the rounding: weights >= 0, sum 1
    double sum = 0;
    for (std::size_t v = 0; v <= d; ++v) sum += (weights[v] = std::max(weights[v], 0.0));
    for (std::size_t v = 0; v <= d; ++v) weights[v] /= sum;
    return true;
}

void EfficiencyMap::check_point(const std::vector<double>& x) const {
    if (x.size() != dim_) {
        std::string names;
        for (const auto& p : parameters_) names += (names.empty() ? "" : ", ") + p;
        throw ConfigError(source_, 0, 0,
                          "expected " + std::to_string(dim_) + " parameter value(s) (" + names + "), got " +
                              std::to_string(x.size()));
    }
    for (double v : x)
        if (!std::isfinite(v))
            throw ConfigError(source_, 0, 0, "parameter values must be finite, got " + format_point(parameters_, x));
}

bool EfficiencyMap::weights_at(const std::vector<double>& x, std::size_t* vertices, double* weights,
                               std::size_t* simplex) const {
    check_point(x);
    std::size_t t = 0;
    if (!find(x.data(), t, weights)) return false;
    const std::size_t d = dim_;
    if (simplex != nullptr) *simplex = t;
    for (std::size_t v = 0; v <= d; ++v) vertices[v] = simplices_[t * (d + 1) + v];
    // exactly at a grid point: its own value, bit for bit
    for (std::size_t v = 0; v <= d; ++v) {
        if (std::equal(x.begin(), x.end(), points_.begin() + static_cast<std::ptrdiff_t>(vertices[v] * d))) {
            for (std::size_t u = 0; u <= d; ++u) weights[u] = u == v ? 1.0 : 0.0;
            break;
        }
    }
    return true;
}

void EfficiencyMap::outside_error(const std::vector<double>& x) const {
    throw OutsideHull(source_, "point " + format_point(parameters_, x) + " is outside the convex hull of the " +
                                   std::to_string(n_points()) + " points of the efficiency map (" + analysis_ + ", " +
                                   model_ + "): no extrapolation");
}

std::size_t EfficiencyMap::region_index(const std::string& name) const {
    for (std::size_t i = 0; i < regions_.size(); ++i)
        if (regions_[i].name == name) return i;
    throw ConfigError(source_, 0, 0, "no signal region \"" + name + "\" in the efficiency map");
}

Location EfficiencyMap::locate(const std::vector<double>& x) const {
    Location loc;
    std::size_t vertices[kMaxDimension + 1];
    double weights[kMaxDimension + 1];
    std::size_t t = 0;
    if (!weights_at(x, vertices, weights, &t)) return loc;
    loc.inside = true;
    loc.simplex = t;
    loc.vertices.assign(vertices, vertices + dim_ + 1);
    loc.weights.assign(weights, weights + dim_ + 1);
    return loc;
}

std::vector<Efficiency> EfficiencyMap::efficiencies(const std::vector<double>& x, Outside outside) const {
    std::size_t vertices[kMaxDimension + 1];
    double weights[kMaxDimension + 1];
    std::vector<Efficiency> out(regions_.size());
    if (!weights_at(x, vertices, weights)) {
        if (outside == Outside::raise) outside_error(x);
        for (auto& e : out) e = {kNaN, kNaN, kNaN, kNaN};
        return out;
    }
    double sum_w2 = 0;
    for (std::size_t v = 0; v <= dim_; ++v) sum_w2 += weights[v] * weights[v];
    const double shape = std::max(0.0, 1.0 - sum_w2);
    for (std::size_t i = 0; i < regions_.size(); ++i) {
        const MapRegion& r = regions_[i];
        double value = 0, var_mc = 0, residual = 0;
        for (std::size_t v = 0; v <= dim_; ++v) {
            const double w = weights[v];
            if (w == 0) continue;
            value += w * r.efficiency[vertices[v]];
            var_mc += w * w * r.efficiency_error[vertices[v]] * r.efficiency_error[vertices[v]];
            residual += w * r.interpolation_residual[vertices[v]];
        }
        Efficiency& e = out[i];
        e.value = std::max(value, 0.0);
        e.mc_error = std::sqrt(var_mc);
        e.interpolation_error = shape * residual;
        e.error = std::hypot(e.mc_error, e.interpolation_error);
    }
    return out;
}

std::vector<double> EfficiencyMap::yields(const std::vector<double>& x, double cross_section_pb, Outside outside) const {
    if (!(cross_section_pb >= 0) || !std::isfinite(cross_section_pb))
        throw ConfigError(source_, 0, 0, "cross section must be a finite number >= 0 (pb)");
    std::size_t vertices[kMaxDimension + 1];
    double weights[kMaxDimension + 1];
    std::vector<double> s(regions_.size());
    if (!weights_at(x, vertices, weights)) {
        if (outside == Outside::raise) outside_error(x);
        std::fill(s.begin(), s.end(), kNaN);
        return s;
    }
    const double scale = cross_section_pb * 1000.0 * luminosity_fb_;
    for (std::size_t i = 0; i < regions_.size(); ++i) {
        double value = 0;
        for (std::size_t v = 0; v <= dim_; ++v)
            if (weights[v] != 0) value += weights[v] * regions_[i].efficiency[vertices[v]];
        s[i] = std::max(value, 0.0) * scale;
    }
    return s;
}

std::size_t EfficiencyMap::best_region(const std::vector<double>& s) const {
    // = stats::best_expected_region(published_, s) (the same arithmetic and tie-breaking, asserted
    // by the tests), with ln L(0) on the Asimov data n = b computed once at load
    std::size_t best = 0;
    double best_value = INFINITY;
    for (std::size_t i = 0; i < s.size(); ++i) {
        const auto& p = published_[i];
        const double d = stats::log_likelihood(p.b, p.b, p.b_err, s[i]) - background_ll_asimov_[i];
        if (d < best_value) best_value = d, best = i;
    }
    return best;
}

LogLikelihood EfficiencyMap::loglike(const std::vector<double>& x, double cross_section_pb, Mode mode,
                                     Statistic statistic, Outside outside) const {
    LogLikelihood out;
    const std::vector<double> s = yields(x, cross_section_pb, outside);
    if (!s.empty() && std::isnan(s.front())) {  // outside, Outside::nan
        out.value = kNaN;
        out.per_region.assign(s.size(), kNaN);
        return out;
    }
    out.per_region.resize(s.size());
    const std::vector<double>& ll0 = statistic == Statistic::gaussian ? background_ll_gaussian_ : background_ll_pyhf_;
    for (std::size_t i = 0; i < s.size(); ++i) {
        const auto& p = published_[i];
        // = stats::delta_log_likelihood(p, s[i]) for `gaussian`, with ln L(0) computed once at load
        const double ll = statistic == Statistic::gaussian ? stats::log_likelihood(p.n_obs, p.b, p.b_err, s[i])
                                                           : stats::profile_log_likelihood(p.n_obs, p.b, p.b_err, s[i]);
        out.per_region[i] = ll - ll0[i];
    }
    out.best_region = best_region(s);
    if (mode == Mode::best) {
        out.value = out.per_region[out.best_region];
    } else {
        double sum = 0;
        for (double v : out.per_region) sum += v;
        out.value = sum;
    }
    return out;
}

double EfficiencyMap::loglike_value(const std::vector<double>& x, double cross_section_pb, Mode mode,
                                    Statistic statistic, Outside outside) const {
    const std::vector<double> s = yields(x, cross_section_pb, outside);
    if (!s.empty() && std::isnan(s.front())) return kNaN;
    const std::vector<double>& ll0 = statistic == Statistic::gaussian ? background_ll_gaussian_ : background_ll_pyhf_;
    auto delta = [&](std::size_t i) {
        const auto& p = published_[i];
        const double ll = statistic == Statistic::gaussian ? stats::log_likelihood(p.n_obs, p.b, p.b_err, s[i])
                                                           : stats::profile_log_likelihood(p.n_obs, p.b, p.b_err, s[i]);
        return ll - ll0[i];
    };
    if (mode == Mode::best) return delta(best_region(s));
    double sum = 0;
    for (std::size_t i = 0; i < s.size(); ++i) sum += delta(i);
    return sum;
}

}  // namespace recast::surrogate
