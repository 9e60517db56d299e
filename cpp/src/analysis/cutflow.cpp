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

void BinnedYield::fill(double x, double w) noexcept {
    if (std::isnan(x) || n.empty() || x < edges.front() || x >= edges.back()) {
        ++outside;
        return;
    }
    const auto k = static_cast<std::size_t>(std::upper_bound(edges.begin(), edges.end(), x) - edges.begin()) - 1;
    ++n[k];
    sumw[k] += w;
    sumw2[k] += w * w;
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
    for (std::size_t k = 1; k < parts.size(); ++k) out.merge(*parts[k]);
    return out;
}

}  // namespace recast::analysis
