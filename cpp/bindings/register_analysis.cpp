// Analysis layer bindings: the definition arrives as a resolved definition (JSON text written by the
// YAML loader in recast_ml.analysis, parsed by recast/analysis/definition.hpp), tables as dicts of
// flat numpy columns + offsets or as ObjectTables of a detector pass; results are bound C++ objects
// with numpy views.
#include <pybind11/numpy.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "analysis_schema.hpp"
#include "event_access.hpp"
#include "numpy_util.hpp"
#include "object_table.hpp"
#include "recast/analysis/analysis.hpp"
#include "recast/analysis/definition.hpp"
#include "recast/analysis/functions.hpp"
#include "recast/detector.hpp"
#include "recast/errors.hpp"

#include "register.hpp"

namespace an = recast::analysis;

namespace {

// ---- tables: every malformed piece is an InputError naming it -----------------------------------

[[noreturn]] void bad_table(const std::string& what) { throw recast::InputError("<analysis input>", 0, -1, what); }

std::string type_name(const py::handle& h) { return py::str(py::type::of(h).attr("__name__")).cast<std::string>(); }

py::dict as_dict(const py::handle& h, const std::string& what) {
    if (py::isinstance<py::dict>(h)) return py::reinterpret_borrow<py::dict>(h);
    try {
        return py::dict(py::reinterpret_borrow<py::object>(h));
    } catch (py::error_already_set&) {
        bad_table(what + " must be a dict, got " + type_name(h));
    }
}

py::object entry(const py::dict& d, const char* key, const std::string& what) {
    if (!d.contains(key))
        bad_table(what + " has no '" + key + "' entry (see recast_ml.analysis.table_from_arrays for the layout)");
    return d[key];
}

std::string key_name(const py::handle& k, const std::string& what) {
    if (!py::isinstance<py::str>(k)) bad_table(what + ": names must be strings, got " + type_name(k));
    return k.cast<std::string>();
}

std::vector<std::string> names(const py::handle& h, const std::string& what) {
    try {
        return h.cast<std::vector<std::string>>();
    } catch (py::cast_error&) {
        bad_table(what + " must be a list of field names (strings), got " + type_name(h));
    }
}

py::array one_d(const py::handle& h, const std::string& what, const char* expected) {
    auto a = py::array::ensure(h);
    if (!a) bad_table(what + " cannot be read as an array of " + expected + " (got " + type_name(h) + ")");
    if (a.ndim() != 1) bad_table(what + " must be a 1-d array of " + expected + ", got " + std::to_string(a.ndim()) + " dimensions");
    return a;
}

std::vector<double> doubles(const py::handle& h, const std::string& what) {
    py::array a = one_d(h, what, "numbers");
    const char kind = a.dtype().kind();
    if (kind != 'f' && kind != 'i' && kind != 'u' && kind != 'b')
        bad_table(what + " must be a 1-d numeric array, got dtype " + py::str(a.dtype()).cast<std::string>());
    auto f = py::array_t<double, py::array::c_style | py::array::forcecast>::ensure(a);
    if (!f) bad_table(what + " cannot be converted to float64");
    return std::vector<double>(f.data(), f.data() + f.size());
}

std::vector<std::int64_t> int64s(const py::handle& h, const std::string& what) {
    py::array a = one_d(h, what, "integers");
    const char kind = a.dtype().kind();
    std::vector<std::int64_t> out(static_cast<std::size_t>(a.size()));
    if (kind == 'f') {  // integral floats are fine (e.g. from JSON), others are not
        auto f = py::array_t<double, py::array::c_style | py::array::forcecast>::ensure(a);
        for (std::size_t k = 0; k < out.size(); ++k) {
            const double v = f.data()[k];
            if (!(v == std::floor(v) && std::abs(v) < 9.0e18))
                bad_table(what + "[" + std::to_string(k) + "] is " + py::repr(py::float_(v)).cast<std::string>() +
                          ", expected an integer");
            out[k] = static_cast<std::int64_t>(v);
        }
        return out;
    }
    if (kind != 'i' && kind != 'u' && kind != 'b')
        bad_table(what + " must be a 1-d integer array, got dtype " + py::str(a.dtype()).cast<std::string>());
    if (kind == 'u' && a.itemsize() == 8) {
        auto u = py::array_t<std::uint64_t, py::array::c_style | py::array::forcecast>::ensure(a);
        for (std::size_t k = 0; k < out.size(); ++k) {
            if (u.data()[k] > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
                bad_table(what + "[" + std::to_string(k) + "] is " + std::to_string(u.data()[k]) + ", outside the int64 range");
            out[k] = static_cast<std::int64_t>(u.data()[k]);
        }
        return out;
    }
    auto i = py::array_t<std::int64_t, py::array::c_style | py::array::forcecast>::ensure(a);
    std::copy(i.data(), i.data() + i.size(), out.begin());
    return out;
}

std::vector<std::string> bool_fields(const py::dict& c, const std::vector<std::string>& fields, const std::string& what) {
    if (!c.contains("bool_fields") || c["bool_fields"].is_none()) return {};
    auto out = names(c["bool_fields"], what + ": bool_fields");
    for (const auto& b : out)
        if (std::find(fields.begin(), fields.end(), b) == fields.end())
            bad_table(what + ": bool field '" + b + "' is not one of its fields");
    return out;
}

an::EventTable table_from(const py::dict& d) {
    an::EventTable t;
    {
        const py::object n = entry(d, "n_events", "the table");
        long long v = -1;
        if (PyObject* idx = PyNumber_Index(n.ptr())) {  // ints and numpy integers, not floats
            v = PyLong_AsLongLong(idx);
            Py_DECREF(idx);
        }
        if (PyErr_Occurred()) PyErr_Clear();
        if (v < 0) bad_table("n_events must be a non-negative integer, got " + py::repr(n).cast<std::string>());
        t.n_events = static_cast<std::size_t>(v);
    }
    if (d.contains("weight") && !d["weight"].is_none()) {
        t.weight = doubles(d["weight"], "weight");
        for (std::size_t k = 0; k < t.weight.size(); ++k)
            if (!std::isfinite(t.weight[k]))
                throw recast::InputError("<analysis input>", 0, static_cast<std::int64_t>(k),
                                         "weight is " + py::repr(py::float_(t.weight[k])).cast<std::string>() +
                                             ", expected a finite number");
    } else {
        t.weight.assign(t.n_events, 1.0);
    }
    if (d.contains("event_number") && !d["event_number"].is_none()) t.event_number = int64s(d["event_number"], "event_number");
    for (const auto& [k, v] : as_dict(entry(d, "collections", "the table"), "collections")) {
        const auto name = key_name(k, "collections");
        const std::string what = "collection '" + name + "'";
        auto c = as_dict(v, what);
        an::CollectionColumns cc;
        cc.offsets = int64s(entry(c, "offsets", what), what + ": offsets");
        for (const auto& [fk, fv] : as_dict(entry(c, "fields", what), what + ": fields")) {
            cc.field_names.push_back(key_name(fk, what + ": fields"));
            cc.fields.push_back(doubles(fv, what + ", field '" + cc.field_names.back() + "'"));
        }
        cc.bool_fields = bool_fields(c, cc.field_names, what);
        t.collections[name] = std::move(cc);
    }
    for (const auto& [k, v] : as_dict(entry(d, "records", "the table"), "records")) {
        const auto name = key_name(k, "records");
        const std::string what = "record '" + name + "'";
        auto c = as_dict(v, what);
        an::RecordColumns rc;
        for (const auto& [fk, fv] : as_dict(entry(c, "fields", what), what + ": fields")) {
            rc.field_names.push_back(key_name(fk, what + ": fields"));
            rc.fields.push_back(doubles(fv, what + ", field '" + rc.field_names.back() + "'"));
        }
        rc.bool_fields = bool_fields(c, rc.field_names, what);
        t.records[name] = std::move(rc);
    }
    return t;
}

std::vector<std::pair<std::string, double>> parameter_list(const py::dict& d) {
    std::vector<std::pair<std::string, double>> out;
    for (const auto& [k, v] : d) out.emplace_back(k.cast<std::string>(), v.cast<double>());
    return out;
}

py::dict schema_dict(const an::Schema& s) {
    py::dict d;
    d["collections"] = s.collections;
    d["records"] = s.records;
    d["bool_fields"] = s.bool_fields;
    py::dict vars;
    for (const auto& name : s.variable_order) vars[py::str(name)] = an::type_name(s.variables.at(name));
    d["variables"] = vars;
    return d;
}

/// A read-only view of a result's storage (no copy), keeping the Result object alive.
py::array view(const py::dtype& dt, std::vector<py::ssize_t> shape, const void* data, const py::handle& owner) {
    std::vector<py::ssize_t> strides(shape.size(), dt.itemsize());
    for (std::size_t k = shape.size(); k-- > 1;) strides[k - 1] = strides[k] * shape[k];
    py::array a(dt, shape, strides, data, owner);
    py::detail::array_proxy(a.ptr())->flags &= ~py::detail::npy_api::NPY_ARRAY_WRITEABLE_;
    return a;
}

template <class T>
py::array view1(const std::vector<T>& v, const py::handle& owner) {
    return view(py::dtype::of<T>(), {static_cast<py::ssize_t>(v.size())}, v.data(), owner);
}

std::map<std::string, std::vector<unsigned char>> model_bytes(const py::dict& models) {
    std::map<std::string, std::vector<unsigned char>> out;
    for (const auto& [k, v] : models) {
        const std::string b = v.cast<py::bytes>();
        out[k.cast<std::string>()].assign(b.begin(), b.end());
    }
    return out;
}

py::object wrap(an::Result&& r) { return py::cast(std::move(r)); }

/// Shape of a per-event column of `size` values with `cols` columns: (n_events, cols) when it is
/// complete, (0, cols) when the result has none (a reweighted result); never a view past the data.
std::vector<py::ssize_t> rows_of(std::size_t n_events, std::size_t size, std::size_t cols) {
    const std::size_t rows = size == n_events * cols ? n_events : 0;
    return {static_cast<py::ssize_t>(rows), static_cast<py::ssize_t>(cols)};
}

std::vector<py::ssize_t> event_shape(const an::Result& r, std::size_t size) {
    return rows_of(r.n_events, size, r.region_names.size());
}

}  // namespace

void register_analysis(py::module_& m) {
    py::class_<an::Result>(m, "Result",
                           "Cutflows, binned yields, per-event variables and region decisions of an analysis run "
                           "(arrays are read-only views of the C++ storage)")
        .def_readonly("region_names", &an::Result::region_names)
        .def_readonly("variable_names", &an::Result::variable_names)
        .def_readonly("n_events", &an::Result::n_events)
        .def(
            "cutflow",
            [](const py::object& self, std::size_t k) {
                const auto& r = self.cast<const an::Result&>();
                if (k >= r.cutflows.size()) throw py::index_error("no region " + std::to_string(k));
                const auto& c = r.cutflows[k];
                return py::make_tuple(c.names, view1(c.n, self), view1(c.sumw, self), view1(c.sumw2, self));
            },
            py::arg("region"), "(step names, n, sumw, sumw2) of region number `region`")
        .def(
            "bins",
            [](const py::object& self, std::size_t k) -> py::object {
                const auto& r = self.cast<const an::Result&>();
                if (k >= r.bins.size()) throw py::index_error("no region " + std::to_string(k));
                if (!r.bins[k]) return py::none();
                const auto& b = *r.bins[k];
                return py::make_tuple(view1(b.edges, self), view1(b.n, self), view1(b.sumw, self), view1(b.sumw2, self),
                                      b.outside);
            },
            py::arg("region"), "(edges, n, sumw, sumw2, outside) of a multi-bin region, else None")
        .def_property_readonly("variables",
                               [](const py::object& self) {
                                   const auto& r = self.cast<const an::Result&>();
                                   return view(py::dtype::of<double>(),
                                               rows_of(r.n_events, r.variables.size(), r.variable_names.size()),
                                               r.variables.data(), self);
                               })
        .def_property_readonly("passed",
                               [](const py::object& self) {
                                   const auto& r = self.cast<const an::Result&>();
                                   return view(py::dtype("bool"),  // 0/1 bytes
                                               event_shape(r, r.passed.size()), r.passed.data(), self);
                               })
        .def_property_readonly("steps_passed",
                               [](const py::object& self) {
                                   const auto& r = self.cast<const an::Result&>();
                                   return view(py::dtype::of<std::uint16_t>(), event_shape(r, r.steps_passed.size()),
                                               r.steps_passed.data(), self);
                               })
        .def_property_readonly("bin_index",
                               [](const py::object& self) {
                                   const auto& r = self.cast<const an::Result&>();
                                   return view(py::dtype::of<std::int32_t>(), event_shape(r, r.bin_index.size()),
                                               r.bin_index.data(), self);
                               })
        .def(
            "reweighted",
            [](const an::Result& r, const py::array_t<double, py::array::c_style | py::array::forcecast>& weights) {
                const char* where = "Result.reweighted";
                if (weights.ndim() != 1)
                    throw recast::ConfigError(where, 0, 0,
                                              "expected a 1-D array of per-event weights, got " +
                                                  std::to_string(weights.ndim()) + " dimensions");
                an::Result out;
                try {
                    py::gil_scoped_release release;
                    out = r.reweighted(weights.data(), static_cast<std::size_t>(weights.shape(0)));
                } catch (const an::InvalidWeight& e) {
                    throw recast::InputError("<weights>", 0, static_cast<std::int64_t>(e.event()), e.what());
                } catch (const std::invalid_argument& e) {
                    throw recast::ConfigError(where, 0, 0, e.what());
                }
                return out;
            },
            py::arg("weights"),
            "The cutflows and bins accumulated again with per-event `weights` (float64, n_events), in the "
            "order this result was summed (bit-identical for the original weights). The new result has no "
            "per-event columns (variables, passed, steps_passed, bin_index are empty).")
        .def_static(
            "combine",
            [](const std::vector<const an::Result*>& parts) {
                an::Result out;
                {
                    py::gil_scoped_release release;
                    out = an::Result::combine(parts);
                }
                return out;
            },
            py::arg("parts"), "A new result: the parts merged in order (Result::merge)");
    py::class_<an::Analysis>(m, "Analysis", "A compiled analysis definition (objects, variables, regions)")
        .def_static(
            "from_json",
            [](const std::string& text, const std::string& file, const py::dict& schema, const py::dict& models,
               const std::string& base_dir) {
                auto blobs = model_bytes(models);
                auto s = schema_from(schema);
                py::gil_scoped_release release;
                auto def = an::parse_definition(text, file, base_dir, blobs);
                return an::Analysis(std::move(def.spec), s);
            },
            py::arg("text"), py::arg("file"), py::arg("input_schema"), py::arg("models") = py::dict(),
            py::arg("base_dir") = "",
            "Compiles a resolved definition (JSON text; `file` names it in errors). Model paths found in "
            "`models` use those ONNX bytes, others are read relative to `base_dir`.")
        .def_property_readonly("schema", [](const an::Analysis& a) { return schema_dict(a.schema()); })
        .def_property_readonly("id", [](const an::Analysis& a) { return a.spec().id; })
        .def("uses", &an::Analysis::uses, py::arg("input"))
        .def(
            "run_table",
            [](const an::Analysis& a, const py::dict& table, int threads, const py::dict& parameters) {
                auto t = table_from(table);
                const auto params = parameter_list(parameters);
                an::Result r;
                {
                    py::gil_scoped_release release;
                    r = a.run(t, threads, params);
                }
                return wrap(std::move(r));
            },
            py::arg("table"), py::arg("threads") = 1, py::arg("parameters") = py::dict())
        .def(
            "run_objects",
            [](const an::Analysis& a, const ObjectTable& table, int threads, const py::dict& parameters) {
                if (!table.large_r && a.uses("large_r_jets"))
                    throw recast::ConfigError(a.spec().source, 0, 0,
                                              "analysis " + a.spec().id +
                                                  " uses large_r_jets, but the object table was reconstructed "
                                                  "without them (reconstruct_table(..., large_r=True))");
                const auto params = parameter_list(parameters);
                an::Result r;
                {
                    py::gil_scoped_release release;
                    r = a.run(table.table, threads, params);
                }
                return wrap(std::move(r));
            },
            py::arg("table"), py::arg("threads") = 1, py::arg("parameters") = py::dict(),
            "Runs on the objects of a detector pass (an ObjectTable of the card the analysis was compiled for)")
        .def(
            "run_events",
            [](const an::Analysis& a, const py::object& events, const recast::detector::Detector& det,
               std::uint64_t first_event_key, int threads, const py::dict& parameters) {
                const recast::EventView ev = event_view(events);
                const auto params = parameter_list(parameters);
                an::Result r;
                {
                    py::gil_scoped_release release;
                    auto out = det.reconstruct(ev, first_event_key, threads, a.uses("large_r_jets"));
                    std::vector<double> w(ev.weight.begin(), ev.weight.end());
                    std::vector<std::int64_t> num(ev.event_number.begin(), ev.event_number.end());
                    auto t = an::from_detector(std::move(out), det, w, num);
                    r = a.run(t, threads, params);
                }
                return wrap(std::move(r));
            },
            py::arg("events"), py::arg("detector"), py::arg("first_event_key") = 0, py::arg("threads") = 1,
            py::arg("parameters") = py::dict());
    m.def(
        "detector_schema",
        [](const recast::detector::Detector& det) {
            recast::EventBatch empty;
            auto out = det.reconstruct(empty.view(), 0, 1);
            return schema_dict(an::Analysis::schema_of(an::from_detector(std::move(out), det, {}, {})));
        },
        py::arg("detector"));
    m.def("table_schema", [](const py::dict& table) { return schema_dict(an::Analysis::schema_of(table_from(table))); });
    m.def(
        "check_expression",
        [](const std::string& text, const py::dict& schema, const std::string& where, int line, int col) {
            return std::string(an::type_name(an::Expression(text, schema_from(schema), where, line, col).type()));
        },
        py::arg("text"), py::arg("schema"), py::arg("where") = "<expression>", py::arg("line") = 1, py::arg("col") = 1);
    m.def("expression_builtins", &an::builtins);
    m.def(
        "mt2",
        [](double ma, double pxa, double pya, double mb, double pxb, double pyb, double mex, double mey, double chia,
           double chib) { return an::fn::mt2(ma, pxa, pya, mb, pxb, pyb, mex, mey, chia, chib); },
        py::arg("m_a"), py::arg("px_a"), py::arg("py_a"), py::arg("m_b"), py::arg("px_b"), py::arg("py_b"),
        py::arg("mex"), py::arg("mey"), py::arg("chi_a") = 0.0, py::arg("chi_b") = 0.0);
}
