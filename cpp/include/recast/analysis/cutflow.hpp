// Cutflows with named steps: raw counts, sum of weights and sum of squared weights per step
// (Rivet-style), mergeable across threads, batches and processes (addition, names must match).
// Step 0 is "all events" of the region's input.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace recast::analysis {

struct Cutflow {
    std::vector<std::string> names;
    std::vector<std::int64_t> n;
    std::vector<double> sumw, sumw2;

    explicit Cutflow(std::vector<std::string> step_names = {});
    void fill(std::size_t step, double w) noexcept {
        ++n[step];
        sumw[step] += w;
        sumw2[step] += w * w;
    }
    /// Adds another cutflow of the same steps; throws std::invalid_argument otherwise.
    void merge(const Cutflow& other);
    /// sumw[i] / sumw[0] (0 if sumw[0] == 0).
    double cumulative_efficiency(std::size_t step) const noexcept;
    /// sumw[i] / sumw[i - 1] (1 for step 0; 0 if the previous step is empty).
    double relative_efficiency(std::size_t step) const noexcept;
};

/// Yields of a multi-bin region: events passing all cuts, binned in one variable; bin i is
/// [edges[i], edges[i+1]) (the last edge may be +inf). Values outside the edges or missing go to
/// no bin (counted in `outside`).
struct BinnedYield {
    std::vector<double> edges;
    std::vector<std::int64_t> n;
    std::vector<double> sumw, sumw2;
    std::int64_t outside = 0;

    explicit BinnedYield(std::vector<double> bin_edges = {});
    /// Fills the bin of x; returns its index, or -1 if x is outside the edges or NaN.
    std::int64_t fill(double x, double w) noexcept;
    void merge(const BinnedYield& other);
};

}  // namespace recast::analysis
