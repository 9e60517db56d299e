// A declarative analysis (ADL/CutLang style) compiled and evaluated by the core:
//   objects   -> derived collections: `from` an input (or earlier derived) collection, `select`
//                predicate per object; then ordered overlap-removal steps (§8.7 building blocks)
//   variables -> per-event numbers/bools, in order (each may use the earlier ones)
//   regions   -> ordered named cuts (inheritance already resolved by the loader), optionally
//                binned in one variable (multi-bin regions)
//   models    -> ML model cards (ONNX; TMVA/lwtnn converted by the loader): inputs are expressions,
//                outputs become the record `<model>.<output>`; evaluated batched across events
//                after the variables that do not use model outputs, before those that do
// Results: one cutflow per region (step 0 = all events) and binned yields, plus every variable and
// the pass/fail of every region per event (for distributions and validation).
// Expressions also see the records `event` (number, index, weight) and `parameters`.
// Parsing of the YAML format is done by the Python loader, which writes a resolved definition (JSON)
// that `recast/analysis/definition.hpp` loads into `Spec`; C++ users may also fill `Spec` directly.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "recast/analysis/cutflow.hpp"
#include "recast/analysis/expression.hpp"
#include "recast/analysis/table.hpp"
#include "recast/overlap.hpp"

namespace recast::analysis {

/// An expression with its position in the definition file (for error messages).
struct Located {
    std::string text;
    int line = 1, col = 1;
};

struct ObjectDef {
    std::string name, from;
    Located select;  ///< predicate over the objects of `from`; empty = keep all
    /// If not empty: the union of these collections instead of `from` (e.g. electrons and muons
    /// into leptons), ordered by descending pT, with the fields they have in common plus
    /// `origin` (index in this list); `select` then applies to the union.
    std::vector<std::string> merge;
};

struct OverlapStep {
    std::string remove, near;
    overlap::Cone cone;
    Located only;     ///< predicate on `remove` objects that may be removed; empty = all
    Located against;  ///< predicate on `near` objects that remove; empty = all
    int line = 1;
};

/// One step of the object definitions, applied in order: define a collection, or remove overlaps
/// (the `remove` collection is replaced by its survivors for all later steps).
struct ObjectStep {
    enum class Kind { Define, Overlap } kind = Kind::Define;
    ObjectDef define;
    OverlapStep overlap;
};

struct VariableDef {
    std::string name;
    Located expr;
};

struct CutDef {
    std::string name;
    Located expr;
};

struct RegionDef {
    std::string name;
    std::vector<CutDef> cuts;  ///< inherited cuts first
    std::optional<Located> bin_variable;
    std::vector<double> bin_edges;
};

/// One input of a model tensor: raw value from an expression, normalised as
/// (x + add) * multiply (lwtnn offset/scale: add = offset, multiply = scale; mean/std:
/// add = -mean, multiply = 1/std). A missing value takes `pad` (raw, normalised like any value)
/// if given, else the model is not evaluated for that event (its outputs are missing).
struct ModelInput {
    std::string name;
    Located expr;
    double add = 0.0, multiply = 1.0;
    std::optional<double> pad;
};

/// One float32 input tensor [N, inputs.size()] of the ONNX model.
struct ModelTensor {
    std::string name;  ///< ONNX input name
    std::vector<ModelInput> inputs;
};

struct ModelOutput {
    std::string name;    ///< field of the model record in expressions: <model>.<name>
    std::string tensor;  ///< ONNX output name
    std::size_t index = 0;  ///< column in the output's last dimension
};

/// A file of a model and the route value that selects it (k-fold: event.number % k; or e.g.
/// the jet multiplicity). `bytes` holds the ONNX model (converted from TMVA/lwtnn by the
/// Python loader); if empty the ONNX file at `path` is loaded.
struct ModelFile {
    std::int64_t route = 0;
    std::string path;
    std::vector<unsigned char> bytes;
};

/// A model card: ordered inputs, routing between files, outputs. Inference is batched across
/// events: per block of `block_size` events the features are gathered and each file runs once.
struct ModelDef {
    std::string name;
    std::vector<ModelFile> files;
    Located route;  ///< number expression; empty = event.number % files.size()
    std::vector<ModelTensor> tensors;
    std::vector<ModelOutput> outputs;
    std::size_t block_size = 1024;
    int line = 1;
};

struct Spec {
    std::string id;
    std::string source = "<analysis>";  ///< file name for error messages
    std::vector<ObjectStep> objects;
    std::vector<VariableDef> variables;
    std::vector<ModelDef> models;
    /// Named constants (e.g. a mass hypothesis of a parametrised network): the record
    /// `parameters` in expressions; values can be overridden per run.
    std::vector<std::pair<std::string, double>> parameters;
    std::vector<RegionDef> regions;
};

struct Result {
    std::vector<std::string> region_names;
    std::vector<Cutflow> cutflows;            ///< per region
    std::vector<std::optional<BinnedYield>> bins;  ///< per region (multi-bin regions only)
    std::vector<std::string> variable_names;
    std::size_t n_events = 0;
    std::vector<double> variables;     ///< n_events x n_variables, row-major; NaN = missing
    std::vector<std::uint8_t> passed;  ///< n_events x n_regions, row-major
    /// n_events x n_regions, row-major: the number of cutflow steps the event is counted in for
    /// the region (step 0 "all events" counts: 1 = failed the first cut, n_steps = passed all).
    std::vector<std::uint16_t> steps_passed;
    /// n_events x n_regions, row-major: the bin of a multi-bin region the event was filled into;
    /// -1 if it did not pass, fell outside the edges or had no value, or the region has no bins.
    std::vector<std::int32_t> bin_index;
    /// The order in which the cutflows and bins were summed, so that `reweighted` repeats it
    /// exactly, as a postfix program: a value n >= 0 is a run of n consecutive events summed in
    /// blocks of Result::kBlock (as Analysis::run does), -1 adds the last sum to the one before
    /// (Result::merge). Analysis::run writes {n_events}; empty is read as {n_events}.
    std::vector<std::int64_t> sum_order;

    /// Events per partial sum of Analysis::run (results independent of the thread count).
    static constexpr std::size_t kBlock = 256;
    /// The most cutflow steps a region may have (steps_passed is 16 bits).
    static constexpr std::size_t kMaxSteps = 65535;

    /// Whether the per-event columns (variables, passed, steps_passed, bin_index) are present for
    /// all n_events (results of `reweighted` have none).
    bool has_event_columns() const noexcept;

    /// Adds the cutflows and yields of another result of the same analysis and appends its
    /// per-event columns (events in call order). Throws std::invalid_argument if the results
    /// are not of the same analysis (regions, steps, bins or variables differ); `other` may be
    /// this result itself.
    void merge(const Result& other);
    /// The parts of one sample (batches, files, jobs) merged in order: a copy of the first with
    /// the others merged into it (storage for the per-event columns reserved once).
    static Result combine(const std::vector<const Result*>& parts);
    /// The cutflows and bins accumulated again with `weights[e]` as the weight of event e (the
    /// selection does not depend on the weight: steps_passed and bin_index say how far each event
    /// got and which bin it went to), summed in the same order as this result was (blocks of
    /// kBlock per run, then the merges: `sum_order`), so that the original weights reproduce
    /// this result's cutflows and bins bit for bit; raw counts and `outside` are unchanged.
    /// The returned result holds n_events, region and variable names, cutflows, bins and
    /// sum_order, but NO per-event columns (variables, passed, steps_passed, bin_index are empty).
    /// Throws std::invalid_argument if weights.size() != n_events, if this result has no
    /// per-event columns, or (InvalidWeight, naming the event) for a non-finite weight.
    /// Cost: one pass over the per-event columns plus one addition per step an event reaches.
    Result reweighted(const double* weights, std::size_t n) const;
    Result reweighted(const std::vector<double>& weights) const { return reweighted(weights.data(), weights.size()); }
};

/// A non-finite per-event weight given to Result::reweighted; `event` is its index.
class InvalidWeight : public std::invalid_argument {
public:
    InvalidWeight(std::size_t event, const std::string& what) : std::invalid_argument(what), event_(event) {}
    std::size_t event() const noexcept { return event_; }

private:
    std::size_t event_;
};

class Analysis {
public:
    /// Compiles every expression against `input` (+ derived collections and variables); throws
    /// ConfigError naming the file, line and column of the first problem.
    Analysis(Spec spec, const Schema& input);
    ~Analysis();
    Analysis(Analysis&&) noexcept;

    const Spec& spec() const noexcept;
    /// The schema expressions see (inputs, derived collections, variables).
    const Schema& schema() const noexcept;
    /// Sub-expressions compiled, value slots and shared sub-expressions (computed once per event
    /// for all their uses) over all expressions of the analysis.
    ExpressionPool::Stats compiled_stats() const;
    /// Whether the analysis reads this input collection or record (e.g. "large_r_jets"), so that
    /// producers can skip what no expression or object step uses.
    bool uses(const std::string& input) const;

    /// Runs on a table whose collections/records match the input schema. Identical results for
    /// any thread count (sums are accumulated in fixed blocks of events). `parameters`
    /// overrides values of Spec::parameters by name. One Analysis may run on several threads at
    /// once (e.g. one chunk each; scratch is per thread, models are shared read-only), with the
    /// results of the same calls made in turn (tests/test_shared_detector.py); a custom function
    /// (CustomFunction) is then called from those threads too and must allow it.
    Result run(const EventTable& table, int n_threads = 1,
               const std::vector<std::pair<std::string, double>>& parameters = {}) const;

    /// The input schema of a table (collection/record names and fields).
    static Schema schema_of(const EventTable& table);

private:
    void compile_model(const ModelDef& m, const std::set<std::string>& late_names);
    void run_model(std::size_t m, const EventTable& table, const std::map<std::string, const CollectionColumns*>& cols,
                   const std::map<std::string, const RecordColumns*>& recs, Result& r, RecordColumns& out,
                   int n_threads) const;
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace recast::analysis
