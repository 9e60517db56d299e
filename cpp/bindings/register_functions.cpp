// Custom functions of the expression language written in Python (vectorised: called once per
// block of events with numpy columns), and compile statistics of analyses (shared sub-expressions).
#include <pybind11/numpy.h>
#include <pybind11/stl.h>

#include <memory>
#include <string>
#include <vector>

#include "analysis_schema.hpp"
#include "recast/analysis/analysis.hpp"
#include "recast/analysis/expression.hpp"
#include "register.hpp"

namespace an = recast::analysis;

namespace {

an::Type type_from(const std::string& s) {
    if (s == "number") return an::Type::Number;
    if (s == "bool") return an::Type::Bool;
    if (s == "number list") return an::Type::NumberList;
    if (s == "bool list") return an::Type::BoolList;
    throw std::invalid_argument("unknown argument type '" + s + "' (number, bool, number list, bool list)");
}

py::dict stats_dict(const an::ExpressionPool::Stats& s) {
    py::dict d;
    d["nodes"] = s.nodes;
    d["slots"] = s.slots;
    d["shared"] = s.shared;
    return d;
}

}  // namespace

void register_functions(py::module_& m) {
    m.def(
        "register_function",
        [](const std::string& name, const py::function& fn, const std::vector<std::string>& args,
           const std::string& result, const std::string& doc) {
            an::CustomFunction f;
            for (const auto& a : args) f.args.push_back(type_from(a));
            f.result = type_from(result);
            f.doc = doc;
            // the callable outlives neither the interpreter nor the GIL: released under the GIL,
            // leaked if the interpreter is already gone
            std::shared_ptr<py::object> holder(new py::object(fn), [](py::object* o) {
                if (Py_IsInitialized()) {
                    py::gil_scoped_acquire gil;
                    delete o;
                }
            });
            f.block = [holder, name](const std::vector<an::ArgColumn>& cols, std::size_t n, double* out) {
                std::string error;
                {
                    py::gil_scoped_acquire gil;  // the event loop runs without the GIL
                    try {
                        py::tuple pyargs(cols.size());
                        for (std::size_t i = 0; i < cols.size(); ++i) {
                            const auto& c = cols[i];
                            if (c.offsets) {
                                const auto total = static_cast<py::ssize_t>(c.offsets[n]);
                                py::array_t<double> values(total, c.values);
                                py::array_t<std::int64_t> offsets(static_cast<py::ssize_t>(n + 1), c.offsets);
                                pyargs[i] = py::make_tuple(values, offsets);
                            } else {
                                pyargs[i] = py::array_t<double>(static_cast<py::ssize_t>(n), c.values);
                            }
                        }
                        py::object r = (*holder)(py::int_(n), *pyargs);
                        auto a = py::array_t<double, py::array::c_style | py::array::forcecast>::ensure(r);
                        if (!a || a.ndim() != 1 || static_cast<std::size_t>(a.shape(0)) != n) {
                            error = "returned " + std::string(py::str(py::type::of(r).attr("__name__"))) +
                                    " instead of one value per event (" + std::to_string(n) + ")";
                        } else {
                            for (std::size_t i = 0; i < n; ++i) out[i] = a.at(static_cast<py::ssize_t>(i));
                        }
                    } catch (py::error_already_set& e) {
                        error = std::string(py::str(e.type().attr("__name__"))) + ": " + std::string(py::str(e.value()));
                    } catch (const std::exception& e) {
                        error = e.what();
                    }
                }
                if (!error.empty()) throw std::runtime_error(error);
            };
            an::register_function(name, std::move(f));
        },
        py::arg("name"), py::arg("fn"), py::arg("args"), py::arg("result"), py::arg("doc") = "",
        "Registers a vectorised Python function fn(n, *columns) -> n values (see recast_ml.functions).");
    m.def("unregister_function", &an::unregister_function, py::arg("name"));
    m.def("custom_functions", &an::custom_functions_list);
    m.def(
        "analysis_compiled_stats", [](const an::Analysis& a) { return stats_dict(a.compiled_stats()); },
        py::arg("analysis"));
    m.def(
        "expression_pool_stats",
        [](const std::vector<std::string>& texts, const py::dict& schema) {
            const an::Schema s = schema_from(schema);
            auto pool = std::make_shared<an::ExpressionPool>();
            for (const auto& t : texts) an::Expression e(t, s, "<expression>", 1, 1, pool);
            return stats_dict(pool->stats());
        },
        py::arg("texts"), py::arg("schema"));
}
