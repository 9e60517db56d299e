// A resolved analysis definition: the JSON document the Python loader writes after validating
// the YAML definition, resolving region inheritance and converting the models to ONNX
// (`recast-ml definition resolve ID -o DIR` -> DIR/definition.json + DIR/models/*.onnx; format:
// python/recast_ml/schemas/resolved_definition.schema.json). This is the one way a definition
// reaches the core, from Python and from C++ alike:
//
//     auto def = recast::analysis::load_definition("DIR");        // or DIR/definition.json
//     recast::analysis::Analysis ana(def.spec, schema);
//
// Every problem (missing key, wrong type, unknown key, wrong format version, unreadable file) is a
// recast::ConfigError naming the JSON file and the JSON path (e.g. /models/3/tensors/0/inputs/2/add).
#pragma once

#include <map>
#include <string>
#include <vector>

#include "recast/analysis/analysis.hpp"

namespace recast::analysis {

/// The `format` and `format_version` a resolved definition must carry.
inline constexpr const char* kResolvedFormat = "recast_ml/resolved_definition";
inline constexpr int kResolvedFormatVersion = 1;

struct Definition {
    Spec spec;
    /// The `info` block of the YAML definition as JSON text (id, experiment, luminosity, ...).
    std::string info_json = "{}";
    double luminosity_fb = 0.0;  ///< info.luminosity (0 if not given)
    std::string detector;        ///< info.detector: the card the analysis is meant for ("" if not given)
    /// Regions left out of `spec` because they depend on a model whose file is not available
    /// (region name, reason): a program reports them as unavailable, with no yields.
    std::vector<std::pair<std::string, std::string>> unavailable;
};

/// Parses the JSON text of a resolved definition. `file` names it in errors; model paths that are
/// not absolute are taken relative to `base_dir`. A model path found in `models` (as written in
/// the JSON) uses those ONNX bytes instead of reading the file.
Definition parse_definition(const std::string& json_text, const std::string& file, const std::string& base_dir = "",
                            const std::map<std::string, std::vector<unsigned char>>& models = {});

/// Reads a resolved definition: a folder holding definition.json, or the JSON file itself.
Definition load_definition(const std::string& path);

}  // namespace recast::analysis
