#include <pybind11/numpy.h>

#include "numpy_util.hpp"
#include "recast/overlap.hpp"

#include "register.hpp"

namespace {

using F64 = py::array_t<double, py::array::c_style | py::array::forcecast>;
using I64 = py::array_t<std::int64_t, py::array::c_style | py::array::forcecast>;
using U8 = py::array_t<std::uint8_t, py::array::c_style | py::array::forcecast>;

template <typename T>
recast::Span<T> span(const py::array_t<T, py::array::c_style | py::array::forcecast>& a) {
    if (a.ndim() != 1) throw py::value_error("overlap removal: columns must be 1-d");
    return {a.data(), static_cast<std::size_t>(a.size())};
}

}  // namespace

void register_overlap(py::module_& m) {
    m.def(
        "remove_overlaps",
        [](const I64& a_off, const F64& a_pt, const F64& a_eta, const F64& a_phi, const F64& a_mass, const I64& b_off,
           const F64& b_pt, const F64& b_eta, const F64& b_phi, const F64& b_mass, double dr, bool shrinking, double c,
           double k_gev, double dr_max, bool use_rapidity, bool pt_of_b, const py::object& candidate_a,
           const py::object& active_b) {
            recast::overlap::Collection a{span(a_off), span(a_pt), span(a_eta), span(a_phi), span(a_mass)};
            recast::overlap::Collection b{span(b_off), span(b_pt), span(b_eta), span(b_phi), span(b_mass)};
            recast::overlap::Cone cone{dr, shrinking, c, k_gev, dr_max, use_rapidity, pt_of_b};
            U8 ca, ab;
            if (!candidate_a.is_none()) {
                ca = U8::ensure(candidate_a);
                if (!ca || ca.ndim() != 1 || ca.size() != a_pt.size())
                    throw py::value_error("overlap removal: 'only' must have one entry per object of A");
            }
            if (!active_b.is_none()) {
                ab = U8::ensure(active_b);
                if (!ab || ab.ndim() != 1 || ab.size() != b_pt.size())
                    throw py::value_error("overlap removal: 'against' must have one entry per object of B");
            }
            std::vector<std::uint8_t> keep;
            {
                py::gil_scoped_release release;
                keep = recast::overlap::remove_overlaps(a, b, cone, candidate_a.is_none() ? nullptr : ca.data(),
                                                        active_b.is_none() ? nullptr : ab.data());
            }
            return take(std::move(keep));
        },
        py::arg("a_offsets"), py::arg("a_pt"), py::arg("a_eta"), py::arg("a_phi"), py::arg("a_mass"),
        py::arg("b_offsets"), py::arg("b_pt"), py::arg("b_eta"), py::arg("b_phi"), py::arg("b_mass"),
        py::arg("dr") = 0.4, py::arg("shrinking") = false, py::arg("c") = 0.04, py::arg("k_gev") = 10.0,
        py::arg("dr_max") = 0.4, py::arg("use_rapidity") = false, py::arg("pt_of_b") = false,
        py::arg("candidate_a") = py::none(), py::arg("active_b") = py::none());
}
