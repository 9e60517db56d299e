#include "recast/analysis/definition.hpp"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <limits>
#include <sstream>

#include <nlohmann/json.hpp>

#include "recast/errors.hpp"
#include "../json_reader.hpp"

namespace recast::analysis {
namespace {

using json = nlohmann::ordered_json;  // keeps the order of `parameters` and `info`
namespace fs = std::filesystem;

/// Walks the document with the JSON path of every value for error messages.
class Reader : public detail::JsonReader {
public:
    using JsonReader::JsonReader;

    Located located(const json& j, const std::string& path) const {
        if (j.is_null()) return {};
        object(j, path, {"text"}, {"line", "col"});
        Located l;
        l.text = str(j["text"], path + "/text");
        if (j.contains("line")) l.line = small_int(j["line"], path + "/line", 1);
        if (j.contains("col")) l.col = small_int(j["col"], path + "/col", 1);
        return l;
    }
    /// A bin edge: a number or "inf"/"-inf" (JSON has no infinities).
    double edge(const json& j, const std::string& path) const {
        if (j.is_string()) {
            const auto s = j.get<std::string>();
            if (s == "inf" || s == "+inf") return std::numeric_limits<double>::infinity();
            if (s == "-inf") return -std::numeric_limits<double>::infinity();
            fail(path, "expected a number, \"inf\" or \"-inf\", got \"" + s + "\"");
        }
        return number(j, path);
    }
};

std::string at(const std::string& path, std::size_t k) { return path + "/" + std::to_string(k); }

ObjectStep object_step(const Reader& R, const json& o, const std::string& p) {
    ObjectStep step;
    if (o.is_object() && o.contains("overlap")) {
        R.object(o, p, {"overlap"});
        const std::string q = p + "/overlap";
        const json& v = R.object(o["overlap"], q,
                                 {"remove", "near", "dr", "shrinking", "c", "k_gev", "dr_max", "rapidity",
                                  "cone_pt_of_near"},
                                 {"only", "against", "line"});
        step.kind = ObjectStep::Kind::Overlap;
        auto& ov = step.overlap;
        ov.remove = R.str(v["remove"], q + "/remove");
        ov.near = R.str(v["near"], q + "/near");
        ov.cone.dr = R.number(v["dr"], q + "/dr");
        ov.cone.shrinking = R.boolean(v["shrinking"], q + "/shrinking");
        ov.cone.c = R.number(v["c"], q + "/c");
        ov.cone.k_gev = R.number(v["k_gev"], q + "/k_gev");
        ov.cone.dr_max = R.number(v["dr_max"], q + "/dr_max");
        ov.cone.use_rapidity = R.boolean(v["rapidity"], q + "/rapidity");
        ov.cone.pt_of_b = R.boolean(v["cone_pt_of_near"], q + "/cone_pt_of_near");
        if (v.contains("only")) ov.only = R.located(v["only"], q + "/only");
        if (v.contains("against")) ov.against = R.located(v["against"], q + "/against");
        if (v.contains("line")) ov.line = R.small_int(v["line"], q + "/line", 1);
        return step;
    }
    R.object(o, p, {"name"}, {"from", "select", "merge"});
    step.define.name = R.str(o["name"], p + "/name");
    if (o.contains("from")) step.define.from = R.str(o["from"], p + "/from");
    if (o.contains("select")) step.define.select = R.located(o["select"], p + "/select");
    if (o.contains("merge")) step.define.merge = R.strings(o["merge"], p + "/merge");
    return step;
}

ModelDef model(const Reader& R, const json& md, const std::string& p, const std::string& base_dir,
               const std::map<std::string, std::vector<unsigned char>>& blobs) {
    R.object(md, p, {"name", "files", "tensors", "outputs"}, {"line", "route", "block_size"});
    ModelDef m;
    m.name = R.str(md["name"], p + "/name");
    if (md.contains("line")) m.line = R.small_int(md["line"], p + "/line", 1);
    if (md.contains("route")) m.route = R.located(md["route"], p + "/route");
    if (md.contains("block_size")) m.block_size = static_cast<std::size_t>(R.small_int(md["block_size"], p + "/block_size", 1));
    std::size_t k = 0;
    for (const auto& fd : R.array(md["files"], p + "/files")) {
        const std::string q = at(p + "/files", k++);
        R.object(fd, q, {"route", "path"});
        ModelFile f;
        f.route = R.integer(fd["route"], q + "/route");
        const std::string path = R.str(fd["path"], q + "/path");
        if (path.empty()) R.fail(q + "/path", "empty model path");
        const auto blob = blobs.find(path);
        if (blob != blobs.end()) {
            f.path = path;
            f.bytes = blob->second;
        } else {
            const fs::path file = fs::path(path).is_absolute() || base_dir.empty() ? fs::path(path) : fs::path(base_dir) / path;
            std::error_code ec;
            if (!fs::is_regular_file(file, ec)) R.fail(q + "/path", "model file " + file.string() + " not found");
            f.path = file.string();
        }
        m.files.push_back(std::move(f));
    }
    if (m.files.empty()) R.fail(p + "/files", "a model needs at least one file");
    k = 0;
    for (const auto& td : R.array(md["tensors"], p + "/tensors")) {
        const std::string q = at(p + "/tensors", k++);
        R.object(td, q, {"name", "inputs"});
        ModelTensor t;
        t.name = R.str(td["name"], q + "/name");
        std::size_t i = 0;
        for (const auto& id : R.array(td["inputs"], q + "/inputs")) {
            const std::string r = at(q + "/inputs", i++);
            R.object(id, r, {"name", "expr"}, {"add", "multiply", "pad"});
            ModelInput in;
            in.name = R.str(id["name"], r + "/name");
            in.expr = R.located(id["expr"], r + "/expr");
            if (in.expr.text.empty()) R.fail(r + "/expr", "a model input needs an expression");
            if (id.contains("add")) in.add = R.number(id["add"], r + "/add");
            if (id.contains("multiply")) in.multiply = R.number(id["multiply"], r + "/multiply");
            if (id.contains("pad") && !id["pad"].is_null()) in.pad = R.number(id["pad"], r + "/pad");
            t.inputs.push_back(std::move(in));
        }
        m.tensors.push_back(std::move(t));
    }
    k = 0;
    for (const auto& od : R.array(md["outputs"], p + "/outputs")) {
        const std::string q = at(p + "/outputs", k++);
        R.object(od, q, {"name", "tensor"}, {"index"});
        ModelOutput o;
        o.name = R.str(od["name"], q + "/name");
        o.tensor = R.str(od["tensor"], q + "/tensor");
        if (od.contains("index")) o.index = static_cast<std::size_t>(R.small_int(od["index"], q + "/index", 0));
        m.outputs.push_back(std::move(o));
    }
    return m;
}

}  // namespace

Definition parse_definition(const std::string& text, const std::string& file, const std::string& base_dir,
                            const std::map<std::string, std::vector<unsigned char>>& blobs) {
    const Reader R(file);
    json doc = detail::parse_json(text, file);
    R.object(doc, "", {"format", "format_version", "id", "source", "objects", "variables", "regions"},
             {"info", "models", "parameters", "unavailable"});
    if (R.str(doc["format"], "/format") != kResolvedFormat)
        R.fail("/format", std::string("expected \"") + kResolvedFormat + "\", got \"" + doc["format"].get<std::string>() + "\"");
    const auto version = R.integer(doc["format_version"], "/format_version");
    if (version != kResolvedFormatVersion)
        R.fail("/format_version", "this core reads version " + std::to_string(kResolvedFormatVersion) + ", the file is version " +
                                      std::to_string(version) + " (resolve the definition again with this recast_ml)");
    Definition def;
    Spec& s = def.spec;
    s.id = R.str(doc["id"], "/id");
    s.source = R.str(doc["source"], "/source");
    if (doc.contains("info") && !doc["info"].is_object())
        R.fail("/info", std::string("expected an object, got ") + detail::json_kind(doc["info"]));  // free-form metadata
    std::size_t k = 0;
    for (const auto& o : R.array(doc["objects"], "/objects")) s.objects.push_back(object_step(R, o, at("/objects", k++)));
    k = 0;
    for (const auto& v : R.array(doc["variables"], "/variables")) {
        const std::string p = at("/variables", k++);
        R.object(v, p, {"name", "expr"});
        s.variables.push_back({R.str(v["name"], p + "/name"), R.located(v["expr"], p + "/expr")});
    }
    if (doc.contains("parameters"))
        for (const auto& item : R.object_any(doc["parameters"], "/parameters").items())
            s.parameters.emplace_back(item.key(), R.number(item.value(), "/parameters/" + item.key()));
    k = 0;
    if (doc.contains("models"))
        for (const auto& m : R.array(doc["models"], "/models")) s.models.push_back(model(R, m, at("/models", k++), base_dir, blobs));
    k = 0;
    for (const auto& r : R.array(doc["regions"], "/regions")) {
        const std::string p = at("/regions", k++);
        R.object(r, p, {"name", "cuts"}, {"bins"});
        RegionDef reg;
        reg.name = R.str(r["name"], p + "/name");
        std::size_t c = 0;
        for (const auto& cd : R.array(r["cuts"], p + "/cuts")) {
            const std::string q = at(p + "/cuts", c++);
            R.object(cd, q, {"name", "expr"});
            reg.cuts.push_back({R.str(cd["name"], q + "/name"), R.located(cd["expr"], q + "/expr")});
        }
        if (r.contains("bins") && !r["bins"].is_null()) {
            const std::string q = p + "/bins";
            R.object(r["bins"], q, {"variable", "edges"}, {"names"});
            reg.bin_variable = R.located(r["bins"]["variable"], q + "/variable");
            std::size_t e = 0;
            for (const auto& x : R.array(r["bins"]["edges"], q + "/edges")) reg.bin_edges.push_back(R.edge(x, at(q + "/edges", e++)));
            if (reg.bin_edges.size() < 2) R.fail(q + "/edges", "expected at least two bin edges");
            for (std::size_t i = 0; i + 1 < reg.bin_edges.size(); ++i)
                if (!(reg.bin_edges[i] < reg.bin_edges[i + 1])) R.fail(at(q + "/edges", i + 1), "bin edges must increase");
            if (r["bins"].contains("names")) {
                const auto names = R.strings(r["bins"]["names"], q + "/names");
                if (names.size() + 1 != reg.bin_edges.size())
                    R.fail(q + "/names", std::to_string(names.size()) + " names for " + std::to_string(reg.bin_edges.size() - 1) + " bins");
            }
        }
        s.regions.push_back(std::move(reg));
    }
    k = 0;
    if (doc.contains("unavailable"))
        for (const auto& u : R.array(doc["unavailable"], "/unavailable")) {
            const std::string p = at("/unavailable", k++);
            R.object(u, p, {"region", "reason"});
            def.unavailable.emplace_back(R.str(u["region"], p + "/region"), R.str(u["reason"], p + "/reason"));
        }
    if (doc.contains("info")) {
        const json& info = doc["info"];
        def.info_json = info.dump();
        if (info.contains("luminosity")) def.luminosity_fb = R.number(info["luminosity"], "/info/luminosity");
        if (info.contains("detector")) def.detector = R.str(info["detector"], "/info/detector");
    }
    return def;
}

Definition load_definition(const std::string& path) {
    fs::path file = path;
    std::error_code ec;
    if (fs::is_directory(file, ec)) file /= "definition.json";
    std::ifstream in(file, std::ios::binary);
    if (!in) throw ConfigError(file.string(), 0, 0, "cannot read the resolved definition (a folder with definition.json, or the JSON file)");
    std::ostringstream text;
    text << in.rdbuf();
    return parse_definition(text.str(), file.string(), file.parent_path().string());
}

}  // namespace recast::analysis
