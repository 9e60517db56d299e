#include <algorithm>
#include <pybind11/numpy.h>
#include <pybind11/stl.h>

#include "recast/card.hpp"
#include "recast/card_expr.hpp"

#include "register.hpp"

namespace {

// Broadcasts the keyword arguments (variable name -> scalar or array) and evaluates `fn` on every
// point; variables the expression `needs` reads must be given (others default to 0).
template <class Fn>
py::array_t<double> evaluate_vectorised(const py::kwargs& kw, Fn fn, const recast::card::Expression* needs) {
    const auto& names = recast::card::var_names();
    std::vector<py::array_t<double, py::array::c_style | py::array::forcecast>> cols(recast::card::kNumVars);
    py::list to_broadcast;
    std::vector<std::size_t> slot;
    for (auto item : kw) {
        const auto name = py::str(item.first).cast<std::string>();
        std::size_t v = 0;
        while (v < recast::card::kNumVars && name != names[v]) ++v;
        if (v == recast::card::kNumVars) throw py::key_error("unknown variable '" + name + "'");
        to_broadcast.append(item.second);
        slot.push_back(v);
    }
    if (needs != nullptr)
        for (std::size_t v = 0; v < recast::card::kNumVars; ++v)
            if (needs->uses(static_cast<recast::card::Var>(v)) && std::find(slot.begin(), slot.end(), v) == slot.end())
                throw py::key_error(std::string("expression '") + needs->text() + "' needs variable '" + names[v] + "'");
    py::object np = py::module_::import("numpy");
    py::tuple b = to_broadcast.empty() ? py::tuple() : py::tuple(np.attr("broadcast_arrays")(*to_broadcast));
    std::vector<py::ssize_t> shape;
    py::ssize_t n = 1;
    if (!b.empty()) {
        auto first = py::array::ensure(b[0]);
        shape.assign(first.shape(), first.shape() + first.ndim());
        n = first.size();
    }
    for (std::size_t k = 0; k < slot.size(); ++k)
        cols[slot[k]] = py::array_t<double, py::array::c_style | py::array::forcecast>::ensure(
            np.attr("ascontiguousarray")(b[k], "float64"));
    py::array_t<double> out(shape);
    auto* o = out.mutable_data();
    {
        py::gil_scoped_release release;
        recast::card::Values vals{};
        for (py::ssize_t i = 0; i < n; ++i) {
            for (std::size_t k : slot) vals[k] = cols[k].data()[i];
            o[i] = fn(vals);
        }
    }
    return out;
}

}  // namespace

void register_card(py::module_& m) {
    using recast::card::Card;
    py::class_<Card>(m, "DetectorCard", "Validated detector card (spec §13)")
        .def_static("load", &Card::load, py::arg("path"), py::arg("search_dirs") = std::vector<std::string>{},
                    py::call_guard<py::gil_scoped_release>())
        .def_static("parse", &Card::parse, py::arg("text"), py::arg("source"),
                    py::arg("search_dirs") = std::vector<std::string>{}, py::call_guard<py::gil_scoped_release>())
        .def_property_readonly("source", &Card::source)
        .def_property_readonly("profile_name", &Card::profile_name)
        .def("to_json", &Card::to_json)
        .def_property_readonly("hash", &Card::hash)
        .def_property_readonly("warnings", &Card::warnings)
        .def("working_points", &Card::working_points, py::arg("key"))
        .def("function", &Card::function, py::arg("key"), py::arg("wp") = "")
        .def("efficiency", [](const Card& c, const std::string& object, const std::string& wp, const py::kwargs& kw) {
            const auto eff = c.efficiency(object, wp);
            return evaluate_vectorised(kw, [&](const recast::card::Values& v) { return eff(v); }, nullptr);
        }, py::arg("object"), py::arg("wp"));

    py::class_<recast::card::Function>(m, "CardFunction", "A card function object at one working point")
        .def_property_readonly("kind", &recast::card::Function::kind)
        .def("evaluate", [](const recast::card::Function& f, int prongs, const py::kwargs& kw) {
            return evaluate_vectorised(kw, [&](const recast::card::Values& v) { return f(v, prongs); }, nullptr);
        }, py::arg("prongs") = 1);

    using recast::card::Expression;
    py::class_<Expression>(m, "CardExpression", "Compiled detector-card expression (spec §13.4)")
        .def(py::init<std::string, std::string>(), py::arg("text"), py::arg("where") = "<expression>")
        .def_property_readonly("text", &Expression::text)
        .def_property_readonly("variables", [](const Expression& e) {
            std::vector<std::string> out;
            const auto& names = recast::card::var_names();
            for (std::size_t v = 0; v < recast::card::kNumVars; ++v)
                if (e.uses(static_cast<recast::card::Var>(v))) out.emplace_back(names[v]);
            return out;
        })
        .def_property_readonly("divisions_by_zero", &Expression::divisions_by_zero)
        .def("evaluate", [](const Expression& e, const py::kwargs& kw) {
            return evaluate_vectorised(kw, [&](const recast::card::Values& v) { return e.evaluate(v); }, &e);
        });
}
