#include "recast/analysis/cutflow.hpp"

#include "recast/analysis/analysis.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace recast::analysis {

Cutflow::Cutflow(std::vector<std::string> step_names)
    : names(std::move(step_names)), n(names.size(), 0), sumw(names.size(), 0.0), sumw2(names.size(), 0.0) {}

void Cutflow::merge(const Cutflow& o) {
    if (o.names != names) throw std::invalid_argument("cannot merge cutflows with different steps");
    for (std::size_t i = 0; i < names.size(); ++i) {
        n[i] += o.n[i];
        sumw[i] += o.sumw[i];
        sumw2[i] += o.sumw2[i];
    }
}

double Cutflow::cumulative_efficiency(std::size_t step) const noexcept {
    return sumw.empty() || sumw[0] == 0 ? 0.0 : sumw[step] / sumw[0];
}

double Cutflow::relative_efficiency(std::size_t step) const noexcept {
    if (step == 0) return 1.0;
    return sumw[step - 1] == 0 ? 0.0 : sumw[step] / sumw[step - 1];
}

BinnedYield::BinnedYield(std::vector<double> bin_edges)
    : edges(std::move(bin_edges)),
      n(edges.size() > 1 ? edges.size() - 1 : 0, 0),
      sumw(n.size(), 0.0),
      sumw2(n.size(), 0.0) {
    for (std::size_t i = 0; i + 1 < edges.size(); ++i)
        if (!(edges[i] < edges[i + 1])) throw std::invalid_argument("bin edges must increase");
}

std::int64_t BinnedYield::fill(double x, double w) noexcept {
    if (std::isnan(x) || n.empty() || x < edges.front() || x >= edges.back()) {
        ++outside;
        return -1;
    }
    const auto k = static_cast<std::size_t>(std::upper_bound(edges.begin(), edges.end(), x) - edges.begin()) - 1;
    ++n[k];
    sumw[k] += w;
    sumw2[k] += w * w;
    return static_cast<std::int64_t>(k);
}

void BinnedYield::merge(const BinnedYield& o) {
    if (o.edges != edges) throw std::invalid_argument("cannot merge binned yields with different edges");
    for (std::size_t i = 0; i < n.size(); ++i) {
        n[i] += o.n[i];
        sumw[i] += o.sumw[i];
        sumw2[i] += o.sumw2[i];
    }
    outside += o.outside;
}

}  // namespace recast::analysis

// ---- Result::combine (Result::merge is in analysis.cpp) --------------------------------------------
namespace recast::analysis {

Result Result::combine(const std::vector<const Result*>& parts) {
    if (parts.empty() || parts.front() == nullptr) throw std::invalid_argument("nothing to combine");
    Result out = *parts.front();
    std::size_t nv = 0, np = 0;
    for (const Result* p : parts) {
        if (p == nullptr) throw std::invalid_argument("cannot combine a missing result");
        nv += p->variables.size();
        np += p->passed.size();
    }
    out.variables.reserve(nv);
    out.passed.reserve(np);
    out.steps_passed.reserve(np);
    out.bin_index.reserve(np);
    for (std::size_t k = 1; k < parts.size(); ++k) out.merge(*parts[k]);
    return out;
}

}  // namespace recast::analysis

// ---- Result::reweighted --------------------------------------------------------------------------
namespace recast::analysis {

namespace {

/// The sums of all regions' cutflow steps and bins, flat (region k's steps from step_at[k], its
/// bins from bin_at[k]).
struct Sums {
    std::vector<std::int64_t> n, bn, outside;
    std::vector<double> sumw, sumw2, bsumw, bsumw2;
    Sums(std::size_t steps, std::size_t bins, std::size_t regions)
        : n(steps, 0), bn(bins, 0), outside(regions, 0), sumw(steps, 0.0), sumw2(steps, 0.0), bsumw(bins, 0.0),
          bsumw2(bins, 0.0) {}
    void zero() {
        std::fill(n.begin(), n.end(), 0);
        std::fill(bn.begin(), bn.end(), 0);
        std::fill(outside.begin(), outside.end(), 0);
        std::fill(sumw.begin(), sumw.end(), 0.0);
        std::fill(sumw2.begin(), sumw2.end(), 0.0);
        std::fill(bsumw.begin(), bsumw.end(), 0.0);
        std::fill(bsumw2.begin(), bsumw2.end(), 0.0);
    }
    /// The same additions as Cutflow::merge and BinnedYield::merge, element by element.
    void add(const Sums& o) {
        for (std::size_t i = 0; i < n.size(); ++i) {
            n[i] += o.n[i];
            sumw[i] += o.sumw[i];
            sumw2[i] += o.sumw2[i];
        }
        for (std::size_t i = 0; i < bn.size(); ++i) {
            bn[i] += o.bn[i];
            bsumw[i] += o.bsumw[i];
            bsumw2[i] += o.bsumw2[i];
        }
        for (std::size_t i = 0; i < outside.size(); ++i) outside[i] += o.outside[i];
    }
};

}  // namespace

Result Result::reweighted(const double* weights, std::size_t n_weights) const {
    if (n_weights != n_events)
        throw std::invalid_argument("expected one weight per event (" + std::to_string(n_events) + "), got " +
                                    std::to_string(n_weights));
    if (!has_event_columns())
        throw std::invalid_argument(
            "this result has no per-event columns (steps_passed, bin_index): reweight the result of a run");
    for (std::size_t e = 0; e < n_weights; ++e)
        if (!std::isfinite(weights[e]))
            throw InvalidWeight(e, "weight of event " + std::to_string(e) + " is not finite (" +
                                       std::to_string(weights[e]) + ")");
    const std::size_t nr = region_names.size();
    if (cutflows.size() != nr || bins.size() != nr) throw std::invalid_argument("malformed result (regions)");
    std::vector<std::size_t> step_at(nr + 1, 0), bin_at(nr + 1, 0);
    for (std::size_t k = 0; k < nr; ++k) {
        step_at[k + 1] = step_at[k] + cutflows[k].names.size();
        bin_at[k + 1] = bin_at[k] + (bins[k] ? bins[k]->n.size() : 0);
    }
    // checked once here so that the loops below can index without checks
    for (std::size_t i = 0; i < steps_passed.size(); ++i) {
        const std::size_t k = i % nr;
        if (steps_passed[i] < 1 || steps_passed[i] > step_at[k + 1] - step_at[k] ||
            bin_index[i] >= static_cast<std::int64_t>(bin_at[k + 1] - bin_at[k]) || bin_index[i] < -1)
            throw std::invalid_argument("malformed result: event " + std::to_string(i / nr) + ", region '" +
                                        region_names[k] + "': per-event columns out of range");
    }
    std::vector<std::int64_t> order = sum_order;
    if (order.empty()) order.push_back(static_cast<std::int64_t>(n_events));
    const std::size_t n_steps = step_at[nr], n_bins = bin_at[nr];
    Sums block(n_steps, n_bins, nr);
    std::vector<Sums> stack;  // partial sums of the postfix program (depth 2 for merges in order)
    std::size_t next = 0;     // first event of the next run
    for (const std::int64_t op : order) {
        if (op < 0) {
            if (stack.size() < 2) throw std::invalid_argument("malformed result (sum_order)");
            stack[stack.size() - 2].add(stack.back());
            stack.pop_back();
            continue;
        }
        const auto len = static_cast<std::size_t>(op);
        if (len > n_events - next) throw std::invalid_argument("malformed result (sum_order longer than the events)");
        stack.emplace_back(n_steps, n_bins, nr);
        Sums& run = stack.back();
        // as Analysis::run: blocks of kBlock events from the run's first one, each summed from zero
        // and added to the run's sums in order
        for (std::size_t b0 = next; b0 < next + len; b0 += kBlock) {
            const std::size_t b1 = std::min(next + len, b0 + kBlock);
            block.zero();
            for (std::size_t e = b0; e < b1; ++e) {
                const double w = weights[e], w2 = w * w;
                const std::uint16_t* sp = steps_passed.data() + e * nr;
                const std::int32_t* bi = bin_index.data() + e * nr;
                for (std::size_t k = 0; k < nr; ++k) {
                    const std::size_t at = step_at[k], s = sp[k];
                    for (std::size_t j = at; j < at + s; ++j) {
                        ++block.n[j];
                        block.sumw[j] += w;
                        block.sumw2[j] += w2;
                    }
                    if (!bins[k] || s != step_at[k + 1] - at) continue;
                    if (bi[k] < 0) {
                        ++block.outside[k];
                    } else {
                        const std::size_t j = bin_at[k] + static_cast<std::size_t>(bi[k]);
                        ++block.bn[j];
                        block.bsumw[j] += w;
                        block.bsumw2[j] += w2;
                    }
                }
            }
            run.add(block);
        }
        next += len;
    }
    if (stack.size() != 1 || next != n_events) throw std::invalid_argument("malformed result (sum_order)");
    const Sums& total = stack.front();
    Result out;
    out.region_names = region_names;
    out.variable_names = variable_names;
    out.n_events = n_events;
    out.sum_order = order;
    out.cutflows.reserve(nr);
    out.bins.reserve(nr);
    for (std::size_t k = 0; k < nr; ++k) {
        Cutflow c(cutflows[k].names);
        for (std::size_t j = 0; j < c.names.size(); ++j) {
            c.n[j] = total.n[step_at[k] + j];
            c.sumw[j] = total.sumw[step_at[k] + j];
            c.sumw2[j] = total.sumw2[step_at[k] + j];
        }
        out.cutflows.push_back(std::move(c));
        if (!bins[k]) {
            out.bins.emplace_back(std::nullopt);
            continue;
        }
        BinnedYield y(bins[k]->edges);
        for (std::size_t j = 0; j < y.n.size(); ++j) {
            y.n[j] = total.bn[bin_at[k] + j];
            y.sumw[j] = total.bsumw[bin_at[k] + j];
            y.sumw2[j] = total.bsumw2[bin_at[k] + j];
        }
        y.outside = total.outside[k];
        out.bins.push_back(std::move(y));
    }
    return out;
}

}  // namespace recast::analysis
