// Likelihood surrogates for global fits: an exported efficiency map (acceptance x efficiency per
// signal region on a grid of model parameters, format "recast_ml/efficiency_map" version 1, written
// by recast_ml.effmap.export_efficiency_maps) interpolated at new parameter points, turned into
// signal yields and ln L with the native statistics of recast/stats.hpp. No Python involved: a C++
// global-fit code links recast::recast and calls EfficiencyMap::load(...).loglike(...).
//
// Interpolation: barycentric (piecewise linear) in the simplices stored in the file (a Delaunay
// triangulation of the points: triangles in 2-D, segments in 1-D, tetrahedra in 3-D); the point is
// located with a uniform bucket grid over the simplices' bounding boxes (O(1) on average). At a
// grid point the stored value is returned exactly.
//
// Uncertainty of an interpolated efficiency with barycentric weights lambda_i at the vertices i:
//   MC:            sigma_mc^2  = sum_i lambda_i^2 sigma_i^2            (independent vertex MC errors)
//   interpolation: sigma_int   = (1 - sum_i lambda_i^2) * sum_i lambda_i r_i
// where r_i is the vertex's stored `interpolation_residual` (the leave-one-out residual of the
// exporter: |linear interpolation at x_i without x_i - value at x_i|). sigma_int vanishes at the
// vertices and is largest inside a simplex (2/3 of the weighted residual at a triangle's centroid,
// 1/2 at a segment's midpoint); for an efficiency that is quadratic in the parameters this is ~2x
// the actual linearisation error (the leave-one-out residual spans twice the grid spacing, the
// error grows with its square), and the residual also contains MC noise: a conservative estimate.
// Total: sigma^2 = sigma_mc^2 + sigma_int^2.
//
// ln L: Delta ln L = ln L(s) - ln L(0) of each SR (the quantity a global fit adds up; 0 for no
// signal, negative when disfavoured), for the interpolated yields s = eff * sigma * L. The signal's
// own uncertainty is not profiled (as in SModelS). Modes: the SR with the best expected
// sensitivity (recast::stats::best_expected_region on the interpolated yields), the sum over SRs
// (treats SRs as uncorrelated and non-overlapping: an approximation, usually an overestimate of
// the sensitivity where SRs share events), or one value per SR.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "recast/errors.hpp"
#include "recast/stats.hpp"

namespace recast::surrogate {

inline constexpr const char* kMapFormat = "recast_ml/efficiency_map";
inline constexpr int kMapFormatVersion = 1;

/// A parameter point outside the convex hull of the map's points (no extrapolation). An
/// InputError naming the map file.
class OutsideHull : public InputError {
public:
    OutsideHull(const std::string& source, const std::string& what) : InputError(source, 0, -1, what) {}
};

/// What to do with a point outside the convex hull: throw OutsideHull, or return NaN values.
enum class Outside { raise, nan };

/// How the SRs' likelihoods are combined (see the file comment).
enum class Mode { best, combined, per_sr };

/// Which per-SR likelihood: `gaussian` = recast::stats::delta_log_likelihood (Poisson x Gaussian
/// background constraint, profiled analytically; recast_ml.statistics.LogLikelihood), `pyhf` =
/// stats::profile_log_likelihood(s) - profile_log_likelihood(0) (pyhf's uncorrelated-background
/// model; recast_ml.statistics.profile_log_likelihoods).
enum class Statistic { gaussian, pyhf };

/// One signal region of the map: its published numbers and its values at the map's points.
struct MapRegion {
    std::string name;
    stats::SignalRegion published;
    std::vector<double> efficiency;              ///< acceptance x efficiency per point
    std::vector<double> efficiency_error;        ///< its MC error per point
    std::vector<double> interpolation_residual;  ///< leave-one-out residual per point (0 if absent)
    std::vector<std::int64_t> mc_events;         ///< unweighted MC events passing (-1 if unknown)
};

/// Where a parameter point lies: the simplex and the barycentric weights of its vertices.
struct Location {
    bool inside = false;
    std::size_t simplex = 0;
    std::vector<std::size_t> vertices;  ///< point indices (dimension + 1)
    std::vector<double> weights;        ///< barycentric weights (sum 1; one-hot at a grid point)
};

/// An interpolated efficiency and its uncertainties (all NaN outside the hull with Outside::nan).
struct Efficiency {
    double value = 0;
    double error = 0;                ///< sqrt(mc_error^2 + interpolation_error^2)
    double mc_error = 0;
    double interpolation_error = 0;
};

/// ln L of a point: `value` is the Delta ln L of the mode (best: of the best expected SR;
/// combined: the sum; per_sr: the sum too), `per_region` every SR's Delta ln L.
struct LogLikelihood {
    double value = 0;
    std::size_t best_region = 0;
    std::vector<double> per_region;
};

class EfficiencyMap {
public:
    /// Reads a map file. Throws FileNotFound, or ConfigError naming the file, the JSON path and
    /// what was expected.
    static EfficiencyMap load(const std::string& path);
    /// Parses the JSON text of a map (`source` names it in errors).
    static EfficiencyMap parse(const std::string& text, const std::string& source = "<efficiency map>");

    const std::string& source() const noexcept { return source_; }
    const std::string& analysis() const noexcept { return analysis_; }
    const std::string& model() const noexcept { return model_; }
    const std::vector<std::string>& parameters() const noexcept { return parameters_; }
    std::size_t dimension() const noexcept { return dim_; }
    double sqrt_s() const noexcept { return sqrt_s_; }
    double luminosity_fb() const noexcept { return luminosity_fb_; }
    std::size_t n_points() const noexcept { return points_.size() / dim_; }
    std::size_t n_simplices() const noexcept { return simplices_.size() / (dim_ + 1); }
    const std::vector<double>& points() const noexcept { return points_; }        ///< row-major n x d
    const std::vector<std::size_t>& simplices() const noexcept { return simplices_; }  ///< n x (d+1)
    const std::vector<MapRegion>& regions() const noexcept { return regions_; }
    /// Index of an SR by name; throws ConfigError if the map has no such SR.
    std::size_t region_index(const std::string& name) const;

    /// The simplex containing x (x.size() == dimension(), else ConfigError).
    Location locate(const std::vector<double>& x) const;
    /// Interpolated efficiencies of all SRs (map order).
    std::vector<Efficiency> efficiencies(const std::vector<double>& x, Outside outside = Outside::raise) const;
    /// Signal yields s = eff * sigma[pb] * 1000 * L[fb^-1] (map order).
    std::vector<double> yields(const std::vector<double>& x, double cross_section_pb,
                               Outside outside = Outside::raise) const;
    /// Delta ln L at x for the given cross section (see LogLikelihood and Mode).
    LogLikelihood loglike(const std::vector<double>& x, double cross_section_pb, Mode mode = Mode::best,
                          Statistic statistic = Statistic::gaussian, Outside outside = Outside::raise) const;
    /// Just the number of loglike(): the hot path of a global fit.
    double loglike_value(const std::vector<double>& x, double cross_section_pb, Mode mode = Mode::best,
                         Statistic statistic = Statistic::gaussian, Outside outside = Outside::raise) const;

private:
    EfficiencyMap() = default;
    void build_index();
    bool find(const double* x, std::size_t& simplex, double* weights) const;
    [[noreturn]] void outside_error(const std::vector<double>& x) const;
    void check_point(const std::vector<double>& x) const;
    /// Interpolation weights into (vertices, weights); false outside the hull.
    bool weights_at(const std::vector<double>& x, std::size_t* vertices, double* weights,
                    std::size_t* simplex = nullptr) const;

    std::string source_, analysis_, model_;
    std::vector<std::string> parameters_;
    std::size_t dim_ = 1;
    double sqrt_s_ = 0, luminosity_fb_ = 0;
    std::vector<double> points_;
    std::vector<std::size_t> simplices_;
    std::vector<MapRegion> regions_;
    std::vector<stats::SignalRegion> published_;
    std::vector<double> background_ll_gaussian_;  ///< ln L(0) per SR (observed), precomputed
    std::vector<double> background_ll_pyhf_;
    std::vector<double> background_ll_asimov_;  ///< ln L(0) per SR on the Asimov data n = b
    std::size_t best_region(const std::vector<double>& s) const;
    // per simplex: inverse of [v_0 - v_d, ..., v_{d-1} - v_d] (d x d, row-major) -> lambda_0..d-1
    std::vector<double> inverse_;
    // bucket grid over the bounding box of the points
    std::vector<double> lo_, hi_, cell_size_;
    std::vector<std::size_t> cells_per_dim_;
    std::vector<std::size_t> cell_start_, cell_items_;
};

/// Mode and Statistic names as used by the bindings and the example ("best", "combined",
/// "per_sr"; "gaussian", "pyhf"); ConfigError for anything else.
Mode parse_mode(const std::string& name);
Statistic parse_statistic(const std::string& name);

}  // namespace recast::surrogate
