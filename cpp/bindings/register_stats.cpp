#include <pybind11/numpy.h>
#include <pybind11/stl.h>

#include "recast/stats.hpp"

#include "register.hpp"

#include <stdexcept>
#include <string>

namespace {

using Array = py::array_t<double, py::array::c_style | py::array::forcecast>;

/// Flat 1-D float64 views of equally long arrays (the SRs of a vectorised call).
std::vector<Array> same_length(const char* what, std::initializer_list<std::pair<const char*, py::handle>> args) {
    std::vector<Array> out;
    for (const auto& [name, h] : args) {
        Array a = Array::ensure(h);
        if (!a || a.ndim() != 1)
            throw py::value_error(std::string(what) + ": " + name + " must be a 1-D array of numbers");
        if (!out.empty() && a.size() != out.front().size())
            throw py::value_error(std::string(what) + ": " + name + " has " + std::to_string(a.size()) +
                                  " entries, expected " + std::to_string(out.front().size()) + " (one per SR)");
        out.push_back(std::move(a));
    }
    return out;
}

/// Runs fn(i) for every entry with the GIL released; an invalid entry names its index.
template <class Fn>
void each(const char* what, py::ssize_t count, Fn fn) {
    std::string error;
    {
        py::gil_scoped_release release;
        for (py::ssize_t i = 0; i < count; ++i) {
            try {
                fn(i);
            } catch (const std::invalid_argument& e) {
                error = std::string(what) + ": entry " + std::to_string(i) + ": " + e.what();
                break;
            }
        }
    }
    if (!error.empty()) throw py::value_error(error);
}

}  // namespace

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

    m.def(
        "cls_values",
        [](const py::handle& n, const py::handle& b, const py::handle& b_err, const py::handle& s) {
            auto a = same_length("cls_values", {{"n", n}, {"b", b}, {"b_err", b_err}, {"s", s}});
            const py::ssize_t count = a[0].size();
            Array obs(count), exp(count);
            const double *pn = a[0].data(), *pb = a[1].data(), *pe = a[2].data(), *ps = a[3].data();
            double *po = obs.mutable_data(), *px = exp.mutable_data();
            each("cls_values", count, [&](py::ssize_t i) {
                const auto c = st::cls(pn[i], pb[i], pe[i], ps[i]);
                po[i] = c.obs;
                px[i] = c.exp;
            });
            return py::make_tuple(obs, exp);
        },
        py::arg("n"), py::arg("b"), py::arg("b_err"), py::arg("s"),
        "(CLs_obs, CLs_exp) per SR: pyhf's uncorrelated-background model, q~_mu, asymptotic (closed form)");
    m.def(
        "upper_limits",
        [](const py::handle& n, const py::handle& b, const py::handle& b_err, double cl) {
            auto a = same_length("upper_limits", {{"n", n}, {"b", b}, {"b_err", b_err}});
            const py::ssize_t count = a[0].size();
            Array obs(count), exp(count);
            const double *pn = a[0].data(), *pb = a[1].data(), *pe = a[2].data();
            double *po = obs.mutable_data(), *px = exp.mutable_data();
            each("upper_limits", count, [&](py::ssize_t i) {
                const auto c = st::upper_limits(pn[i], pb[i], pe[i], cl);
                po[i] = c.obs;
                px[i] = c.exp;
            });
            return py::make_tuple(obs, exp);
        },
        py::arg("n"), py::arg("b"), py::arg("b_err"), py::arg("cl") = 0.95,
        "(S_obs, S_exp) per SR: signal yields where CLs_obs / CLs_exp = 1 - cl (S95 for cl = 0.95)");
    m.def(
        "profile_log_likelihoods",
        [](const py::handle& n, const py::handle& b, const py::handle& b_err, const py::handle& s) {
            auto a = same_length("profile_log_likelihoods", {{"n", n}, {"b", b}, {"b_err", b_err}, {"s", s}});
            const py::ssize_t count = a[0].size();
            Array out(count);
            const double *pn = a[0].data(), *pb = a[1].data(), *pe = a[2].data(), *ps = a[3].data();
            double* po = out.mutable_data();
            each("profile_log_likelihoods", count,
                 [&](py::ssize_t i) { po[i] = st::profile_log_likelihood(pn[i], pb[i], pe[i], ps[i]); });
            return out;
        },
        py::arg("n"), py::arg("b"), py::arg("b_err"), py::arg("s"),
        "ln L per SR in pyhf's uncorrelated-background model, background nuisance profiled within its bounds");
    m.def(
        "qtilde_values",
        [](double n, double b, double b_err, double s) {
            const auto t = st::test_statistics(n, b, b_err, s);
            return py::make_tuple(t.q, t.q_asimov);
        },
        py::arg("n"), py::arg("b"), py::arg("b_err"), py::arg("s"),
        "(q~_mu, q~_mu on the Asimov data) of one SR for signal yield s");
}
