// recast::surrogate (efficiency-map likelihood surrogates) -> recast_ml._core.EfficiencyMap, used
// by recast_ml.effmap.EfficiencyMap. A point outside the map's convex hull raises
// recast_ml.effmap.OutsideHullError (an InputError).
#include <pybind11/numpy.h>
#include <pybind11/stl.h>

#include "recast/surrogate.hpp"

#include "register.hpp"

#include <string>
#include <vector>

namespace {

namespace sg = recast::surrogate;
using Array = py::array_t<double, py::array::c_style | py::array::forcecast>;

sg::Outside outside_of(bool nan_outside) { return nan_outside ? sg::Outside::nan : sg::Outside::raise; }

}  // namespace

void register_surrogate(py::module_& m) {
    py::register_exception_translator([](std::exception_ptr p) {
        try {
            if (p) std::rethrow_exception(p);
        } catch (const sg::OutsideHull& e) {
            try {
                py::object cls = py::module_::import("recast_ml.effmap").attr("OutsideHullError");
                py::object err = cls(e.message(), py::arg("file") = e.source());
                PyErr_SetObject(cls.ptr(), err.ptr());
            } catch (py::error_already_set& err) {
                err.restore();
            }
        }
    });

    py::class_<sg::EfficiencyMap>(m, "EfficiencyMap")
        .def_static("load", &sg::EfficiencyMap::load, py::arg("path"))
        .def_static("parse", &sg::EfficiencyMap::parse, py::arg("text"), py::arg("source") = "<efficiency map>")
        .def_property_readonly("source", &sg::EfficiencyMap::source)
        .def_property_readonly("analysis", &sg::EfficiencyMap::analysis)
        .def_property_readonly("model", &sg::EfficiencyMap::model)
        .def_property_readonly("parameters", &sg::EfficiencyMap::parameters)
        .def_property_readonly("sqrt_s", &sg::EfficiencyMap::sqrt_s)
        .def_property_readonly("luminosity_fb", &sg::EfficiencyMap::luminosity_fb)
        .def_property_readonly("n_points", &sg::EfficiencyMap::n_points)
        .def_property_readonly("n_simplices", &sg::EfficiencyMap::n_simplices)
        .def_property_readonly("regions",
                               [](const sg::EfficiencyMap& map) {
                                   std::vector<std::string> names;
                                   for (const auto& r : map.regions()) names.push_back(r.name);
                                   return names;
                               })
        .def(
            "locate",
            [](const sg::EfficiencyMap& map, const std::vector<double>& x) -> py::object {
                const auto loc = map.locate(x);
                if (!loc.inside) return py::none();
                return py::make_tuple(loc.simplex, loc.vertices, loc.weights);
            },
            py::arg("x"), "(simplex, vertex indices, barycentric weights), or None outside the convex hull")
        .def(
            "efficiencies",
            [](const sg::EfficiencyMap& map, const std::vector<double>& x, bool nan_outside) {
                const auto eff = map.efficiencies(x, outside_of(nan_outside));
                const auto n = static_cast<py::ssize_t>(eff.size());
                Array value(n), error(n), mc(n), interp(n);
                double *pv = value.mutable_data(), *pe = error.mutable_data(), *pm = mc.mutable_data(),
                       *pi = interp.mutable_data();
                for (py::ssize_t i = 0; i < n; ++i) {
                    const auto& e = eff[static_cast<std::size_t>(i)];
                    pv[i] = e.value, pe[i] = e.error, pm[i] = e.mc_error, pi[i] = e.interpolation_error;
                }
                return py::make_tuple(value, error, mc, interp);
            },
            py::arg("x"), py::arg("nan_outside") = false,
            "(efficiency, error, mc_error, interpolation_error) arrays, one entry per SR (map order)")
        .def(
            "yields",
            [](const sg::EfficiencyMap& map, const std::vector<double>& x, double xs, bool nan_outside) {
                const auto s = map.yields(x, xs, outside_of(nan_outside));
                Array out(static_cast<py::ssize_t>(s.size()));
                std::copy(s.begin(), s.end(), out.mutable_data());
                return out;
            },
            py::arg("x"), py::arg("cross_section_pb"), py::arg("nan_outside") = false)
        .def(
            "loglike",
            [](const sg::EfficiencyMap& map, const std::vector<double>& x, double xs, const std::string& mode,
               const std::string& statistic, bool nan_outside) {
                return map.loglike_value(x, xs, sg::parse_mode(mode), sg::parse_statistic(statistic),
                                         outside_of(nan_outside));
            },
            py::arg("x"), py::arg("cross_section_pb"), py::arg("mode") = "best", py::arg("statistic") = "gaussian",
            py::arg("nan_outside") = false, "Delta ln L: of the best expected SR (best) or summed over SRs (combined)")
        .def(
            "loglike_regions",
            [](const sg::EfficiencyMap& map, const std::vector<double>& x, double xs, const std::string& statistic,
               bool nan_outside) {
                const auto ll = map.loglike(x, xs, sg::Mode::per_sr, sg::parse_statistic(statistic),
                                            outside_of(nan_outside));
                Array out(static_cast<py::ssize_t>(ll.per_region.size()));
                std::copy(ll.per_region.begin(), ll.per_region.end(), out.mutable_data());
                return py::make_tuple(out, ll.best_region);
            },
            py::arg("x"), py::arg("cross_section_pb"), py::arg("statistic") = "gaussian", py::arg("nan_outside") = false,
            "(Delta ln L per SR, index of the best expected SR)")
        .def(
            "loglike_many",
            [](const sg::EfficiencyMap& map, const py::handle& points, const py::handle& xs, const std::string& mode,
               const std::string& statistic) {
                // many points at once (NaN outside the hull), GIL released
                Array x = Array::ensure(points), sigma = Array::ensure(xs);
                const auto d = static_cast<py::ssize_t>(map.dimension());
                if (!x || x.ndim() != 2 || x.shape(1) != d)
                    throw py::value_error("loglike_many: points must be an (n, " + std::to_string(d) + ") array");
                if (!sigma || sigma.ndim() != 1 || sigma.shape(0) != x.shape(0))
                    throw py::value_error("loglike_many: cross_section_pb must have one entry per point");
                const sg::Mode md = sg::parse_mode(mode);
                const sg::Statistic st = sg::parse_statistic(statistic);
                const py::ssize_t n = x.shape(0);
                Array out(n);
                const double *px = x.data(), *ps = sigma.data();
                double* po = out.mutable_data();
                {
                    py::gil_scoped_release release;
                    std::vector<double> point(static_cast<std::size_t>(d));
                    for (py::ssize_t i = 0; i < n; ++i) {
                        std::copy(px + i * d, px + (i + 1) * d, point.begin());
                        po[i] = map.loglike_value(point, ps[i], md, st, sg::Outside::nan);
                    }
                }
                return out;
            },
            py::arg("points"), py::arg("cross_section_pb"), py::arg("mode") = "best",
            py::arg("statistic") = "gaussian");
}
