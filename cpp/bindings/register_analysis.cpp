// Analysis layer bindings: the spec arrives as plain Python containers (built by the YAML loader
// in recast_ml.analysis), tables as dicts of flat numpy columns + offsets.
#include <pybind11/numpy.h>
#include <pybind11/stl.h>

#include "event_access.hpp"
#include "numpy_util.hpp"
#include "recast/analysis/analysis.hpp"
#include "recast/analysis/functions.hpp"
#include "recast/detector.hpp"

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

std::vector<double> doubles(const py::handle& h, const std::string& what) {
    auto a = py::array_t<double, py::array::c_style | py::array::forcecast>::ensure(h);
    if (!a || a.ndim() != 1) throw py::value_error(what + " must be a 1-d numeric array");
    return std::vector<double>(a.data(), a.data() + a.size());
}

an::EventTable table_from(const py::dict& d) {
    an::EventTable t;
    t.n_events = d["n_events"].cast<std::size_t>();
    t.weight = d.contains("weight") && !d["weight"].is_none() ? doubles(d["weight"], "weight")
                                                               : std::vector<double>(t.n_events, 1.0);
    if (d.contains("event_number") && !d["event_number"].is_none()) {
        auto a = py::array_t<std::int64_t, py::array::c_style | py::array::forcecast>::ensure(d["event_number"]);
        t.event_number.assign(a.data(), a.data() + a.size());
    }
    for (const auto& [k, v] : d["collections"].cast<py::dict>()) {
        const auto name = k.cast<std::string>();
        auto c = v.cast<py::dict>();
        an::CollectionColumns cc;
        auto off = py::array_t<std::int64_t, py::array::c_style | py::array::forcecast>::ensure(c["offsets"]);
        if (!off || off.ndim() != 1) throw py::value_error("collection '" + name + "': offsets must be a 1-d integer array");
        cc.offsets.assign(off.data(), off.data() + off.size());
        for (const auto& [fk, fv] : c["fields"].cast<py::dict>()) {
            cc.field_names.push_back(fk.cast<std::string>());
            cc.fields.push_back(doubles(fv, "collection '" + name + "', field '" + cc.field_names.back() + "'"));
        }
        if (c.contains("bool_fields")) cc.bool_fields = c["bool_fields"].cast<std::vector<std::string>>();
        t.collections[name] = std::move(cc);
    }
    for (const auto& [k, v] : d["records"].cast<py::dict>()) {
        const auto name = k.cast<std::string>();
        auto c = v.cast<py::dict>();
        an::RecordColumns rc;
        for (const auto& [fk, fv] : c["fields"].cast<py::dict>()) {
            rc.field_names.push_back(fk.cast<std::string>());
            rc.fields.push_back(doubles(fv, "record '" + name + "', field '" + rc.field_names.back() + "'"));
        }
        if (c.contains("bool_fields")) rc.bool_fields = c["bool_fields"].cast<std::vector<std::string>>();
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
