#include <pybind11/numpy.h>
#include <pybind11/stl.h>

#include "recast/stats.hpp"

#include "register.hpp"

void register_stats(py::module_& m) {
    namespace st = recast::stats;
    m.def("log_likelihood", &st::log_likelihood, py::arg("n"), py::arg("b"), py::arg("b_err"), py::arg("s"),
          "ln L of one counting SR, background nuisance profiled analytically");
    m.def(
        "delta_log_likelihoods",
        [](const std::vector<double>& n, const std::vector<double>& b, const std::vector<double>& b_err,
           const std::vector<double>& s) {
            if (n.size() != b.size() || n.size() != b_err.size())
                throw py::value_error("n, b and b_err must have the same length");
            std::vector<st::SignalRegion> regions;
            for (std::size_t i = 0; i < n.size(); ++i) regions.push_back({n[i], b[i], b_err[i]});
            const auto d = st::delta_log_likelihoods(regions, s);
            return py::make_tuple(d, st::best_expected_region(regions, s));
        },
        py::arg("n"), py::arg("b"), py::arg("b_err"), py::arg("s"));
}
