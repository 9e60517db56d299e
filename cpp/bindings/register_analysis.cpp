// Analysis layer bindings: the spec arrives as plain Python containers (built by the YAML loader
// in recast_ml.analysis), tables as dicts of flat numpy columns + offsets.
#include <pybind11/numpy.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "event_access.hpp"
#include "numpy_util.hpp"
#include "recast/analysis/analysis.hpp"
#include "recast/analysis/functions.hpp"
#include "recast/detector.hpp"
#include "recast/errors.hpp"

#include "register.hpp"

namespace an = recast::analysis;

namespace {

an::Located located(const py::handle& h) {
    an::Located l;
    if (h.is_none()) return l;
    auto d = h.cast<py::dict>();
    l.text = d["text"].cast<std::string>();
    l.line = d.contains("line") ? d["line"].cast<int>() : 1;
    l.col = d.contains("col") ? d["col"].cast<int>() : 1;
    return l;
}

an::Spec spec_from(const py::dict& d) {
    an::Spec s;
    s.id = d["id"].cast<std::string>();
    s.source = d["source"].cast<std::string>();
    for (const auto& h : d["objects"].cast<py::list>()) {
        auto o = h.cast<py::dict>();
        an::ObjectStep step;
        if (o.contains("overlap")) {
            step.kind = an::ObjectStep::Kind::Overlap;
            auto v = o["overlap"].cast<py::dict>();
            auto& ov = step.overlap;
            ov.remove = v["remove"].cast<std::string>();
            ov.near = v["near"].cast<std::string>();
            ov.cone.dr = v["dr"].cast<double>();
            ov.cone.shrinking = v["shrinking"].cast<bool>();
            ov.cone.c = v["c"].cast<double>();
            ov.cone.k_gev = v["k_gev"].cast<double>();
            ov.cone.dr_max = v["dr_max"].cast<double>();
            ov.cone.use_rapidity = v["rapidity"].cast<bool>();
            ov.cone.pt_of_b = v["cone_pt_of_near"].cast<bool>();
            ov.only = located(v["only"]);
            ov.against = located(v["against"]);
            ov.line = v["line"].cast<int>();
        } else {
            step.define.name = o["name"].cast<std::string>();
            step.define.from = o.contains("from") ? o["from"].cast<std::string>() : std::string();
            if (o.contains("merge")) step.define.merge = o["merge"].cast<std::vector<std::string>>();
            step.define.select = located(o["select"]);
        }
        s.objects.push_back(std::move(step));
    }
    for (const auto& h : d["variables"].cast<py::list>()) {
        auto v = h.cast<py::dict>();
        s.variables.push_back({v["name"].cast<std::string>(), located(v["expr"])});
    }
    if (d.contains("parameters"))
        for (const auto& [k, v] : d["parameters"].cast<py::dict>())
            s.parameters.emplace_back(k.cast<std::string>(), v.cast<double>());
    if (d.contains("models"))
        for (const auto& h : d["models"].cast<py::list>()) {
            auto md = h.cast<py::dict>();
            an::ModelDef m;
            m.name = md["name"].cast<std::string>();
            m.line = md.contains("line") ? md["line"].cast<int>() : 1;
            if (md.contains("route")) m.route = located(md["route"]);
            if (md.contains("block_size")) m.block_size = md["block_size"].cast<std::size_t>();
            for (const auto& fh : md["files"].cast<py::list>()) {
                auto fd = fh.cast<py::dict>();
                an::ModelFile f;
                f.route = fd["route"].cast<std::int64_t>();
                f.path = fd["path"].cast<std::string>();
                if (fd.contains("bytes") && !fd["bytes"].is_none()) {
                    const std::string b = fd["bytes"].cast<py::bytes>();
                    f.bytes.assign(b.begin(), b.end());
                }
                m.files.push_back(std::move(f));
            }
            for (const auto& th : md["tensors"].cast<py::list>()) {
                auto td = th.cast<py::dict>();
                an::ModelTensor t;
                t.name = td["name"].cast<std::string>();
                for (const auto& ih : td["inputs"].cast<py::list>()) {
                    auto id = ih.cast<py::dict>();
                    an::ModelInput in;
                    in.name = id["name"].cast<std::string>();
                    in.expr = located(id["expr"]);
                    in.add = id["add"].cast<double>();
                    in.multiply = id["multiply"].cast<double>();
                    if (id.contains("pad") && !id["pad"].is_none()) in.pad = id["pad"].cast<double>();
                    t.inputs.push_back(std::move(in));
                }
                m.tensors.push_back(std::move(t));
            }
            for (const auto& oh : md["outputs"].cast<py::list>()) {
                auto od = oh.cast<py::dict>();
                m.outputs.push_back({od["name"].cast<std::string>(), od["tensor"].cast<std::string>(),
                                     od["index"].cast<std::size_t>()});
            }
            s.models.push_back(std::move(m));
        }
    for (const auto& h : d["regions"].cast<py::list>()) {
        auto r = h.cast<py::dict>();
        an::RegionDef reg;
        reg.name = r["name"].cast<std::string>();
        for (const auto& c : r["cuts"].cast<py::list>()) {
            auto cd = c.cast<py::dict>();
            reg.cuts.push_back({cd["name"].cast<std::string>(), located(cd["expr"])});
        }
        if (r.contains("bins") && !r["bins"].is_none()) {
            auto b = r["bins"].cast<py::dict>();
            reg.bin_variable = located(b["variable"]);
            reg.bin_edges = b["edges"].cast<std::vector<double>>();
        }
        s.regions.push_back(std::move(reg));
    }
    return s;
}

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

an::Schema schema_from(const py::dict& d) {
    an::Schema s;
    for (const auto& [k, v] : d["collections"].cast<py::dict>())
        s.collections[k.cast<std::string>()] = v.cast<std::vector<std::string>>();
    for (const auto& [k, v] : d["records"].cast<py::dict>())
        s.records[k.cast<std::string>()] = v.cast<std::vector<std::string>>();
    if (d.contains("bool_fields"))
        for (const auto& [k, v] : d["bool_fields"].cast<py::dict>())
            s.bool_fields[k.cast<std::string>()] = v.cast<std::vector<std::string>>();
    return s;
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

py::dict result_dict(an::Result&& r) {
    py::dict d;
    d["region_names"] = r.region_names;
    py::list cutflows, bins;
    for (std::size_t k = 0; k < r.cutflows.size(); ++k) {
        auto& c = r.cutflows[k];
        py::dict cf;
        cf["names"] = c.names;
        cf["n"] = take(std::move(c.n));
        cf["sumw"] = take(std::move(c.sumw));
        cf["sumw2"] = take(std::move(c.sumw2));
        cutflows.append(cf);
        if (r.bins[k]) {
            auto& b = *r.bins[k];
            py::dict bd;
            bd["edges"] = take(std::move(b.edges));
            bd["n"] = take(std::move(b.n));
            bd["sumw"] = take(std::move(b.sumw));
            bd["sumw2"] = take(std::move(b.sumw2));
            bd["outside"] = b.outside;
            bins.append(bd);
        } else {
            bins.append(py::none());
        }
    }
    d["cutflows"] = cutflows;
    d["bins"] = bins;
    d["variable_names"] = r.variable_names;
    d["n_events"] = r.n_events;
    d["variables"] = take(std::move(r.variables));
    d["passed"] = take(std::move(r.passed));
    return d;
}

}  // namespace

void register_analysis(py::module_& m) {
    py::class_<an::Analysis>(m, "Analysis", "A compiled analysis definition (objects, variables, regions)")
        .def(py::init([](const py::dict& spec, const py::dict& schema) {
                 return an::Analysis(spec_from(spec), schema_from(schema));
             }),
             py::arg("spec"), py::arg("input_schema"))
        .def_property_readonly("schema", [](const an::Analysis& a) { return schema_dict(a.schema()); })
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
                return result_dict(std::move(r));
            },
            py::arg("table"), py::arg("threads") = 1, py::arg("parameters") = py::dict())
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
                return result_dict(std::move(r));
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
