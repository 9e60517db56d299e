#include <pybind11/numpy.h>
#include <pybind11/stl.h>

#include "recast/stats.hpp"

#include "register.hpp"

#include <algorithm>
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

/// The optional per-SR signal uncertainties (None: 0), checked against the SR count.
struct Systematics {
    Array up, down;
    bool present = false;
    const double* up_data() const { return present ? up.data() : nullptr; }
    const double* down_data() const { return present ? down.data() : nullptr; }
};

Systematics systematics(const char* what, py::ssize_t count, const py::object& s_up, const py::object& s_down) {
    Systematics out;
    if (s_up.is_none() && s_down.is_none()) return out;
    const auto zeros = [&] {
        Array z(count);
        std::fill(z.mutable_data(), z.mutable_data() + count, 0.0);
        return py::object(std::move(z));
    };
    const py::object up = s_up.is_none() ? zeros() : s_up;
    const py::object down = s_down.is_none() ? zeros() : s_down;
    auto a = same_length(what, {{"s_up", up}, {"s_down", down}});
    if (a[0].size() != count)
        throw py::value_error(std::string(what) + ": s_up/s_down have " + std::to_string(a[0].size()) +
                              " entries, expected " + std::to_string(count) + " (one per SR)");
    out.up = std::move(a[0]);
    out.down = std::move(a[1]);
    out.present = true;
    return out;
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
        [](const py::handle& n, const py::handle& b, const py::handle& b_err, const py::handle& s,
           const py::object& s_up, const py::object& s_down) {
            auto a = same_length("cls_values", {{"n", n}, {"b", b}, {"b_err", b_err}, {"s", s}});
            const py::ssize_t count = a[0].size();
            const Systematics sys = systematics("cls_values", count, s_up, s_down);
            Array obs(count), exp(count);
            const double *pn = a[0].data(), *pb = a[1].data(), *pe = a[2].data(), *ps = a[3].data();
            const double *pu = sys.up_data(), *pd = sys.down_data();
            double *po = obs.mutable_data(), *px = exp.mutable_data();
            each("cls_values", count, [&](py::ssize_t i) {
                const auto c = pu ? st::cls(pn[i], pb[i], pe[i], ps[i], pu[i], pd[i]) : st::cls(pn[i], pb[i], pe[i], ps[i]);
                po[i] = c.obs;
                px[i] = c.exp;
            });
            return py::make_tuple(obs, exp);
        },
        py::arg("n"), py::arg("b"), py::arg("b_err"), py::arg("s"), py::arg("s_up") = py::none(),
        py::arg("s_down") = py::none(),
        "(CLs_obs, CLs_exp) per SR: pyhf's uncorrelated-background model, q~_mu, asymptotic (closed form); "
        "with s_up/s_down (relative signal uncertainties per SR, None = 0) a normsys nuisance on the signal");
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
        [](const py::handle& n, const py::handle& b, const py::handle& b_err, const py::handle& s,
           const py::object& s_up, const py::object& s_down) {
            auto a = same_length("profile_log_likelihoods", {{"n", n}, {"b", b}, {"b_err", b_err}, {"s", s}});
            const py::ssize_t count = a[0].size();
            const Systematics sys = systematics("profile_log_likelihoods", count, s_up, s_down);
            Array out(count);
            const double *pn = a[0].data(), *pb = a[1].data(), *pe = a[2].data(), *ps = a[3].data();
            const double *pu = sys.up_data(), *pd = sys.down_data();
            double* po = out.mutable_data();
            each("profile_log_likelihoods", count, [&](py::ssize_t i) {
                po[i] = pu ? st::profile_log_likelihood(pn[i], pb[i], pe[i], ps[i], pu[i], pd[i])
                           : st::profile_log_likelihood(pn[i], pb[i], pe[i], ps[i]);
            });
            return out;
        },
        py::arg("n"), py::arg("b"), py::arg("b_err"), py::arg("s"), py::arg("s_up") = py::none(),
        py::arg("s_down") = py::none(),
        "ln L per SR in pyhf's uncorrelated-background model, background nuisance profiled within its bounds "
        "(with s_up/s_down: and the signal normsys nuisance, pyhf's logpdf incl. its Gaussian constraint)");
    m.def(
        "qtilde_values",
        [](double n, double b, double b_err, double s, double s_up, double s_down) {
            const auto t = st::test_statistics(n, b, b_err, s, s_up, s_down);
            return py::make_tuple(t.q, t.q_asimov);
        },
        py::arg("n"), py::arg("b"), py::arg("b_err"), py::arg("s"), py::arg("s_up") = 0.0, py::arg("s_down") = 0.0,
        "(q~_mu, q~_mu on the Asimov data) of one SR for signal yield s (relative signal uncertainties s_up/s_down)");
}
