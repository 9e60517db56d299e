#include "recast/analysis/analysis.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <stdexcept>

#include "recast/errors.hpp"
#include "recast/onnx.hpp"
#include "recast/parallel.hpp"

namespace recast::analysis {

void Result::merge(const Result& o) {
    if (o.region_names != region_names || o.variable_names != variable_names || o.cutflows.size() != cutflows.size() ||
        o.bins.size() != bins.size())
        throw std::invalid_argument("cannot merge results of different analyses");
    for (std::size_t r = 0; r < bins.size(); ++r)
        if (bins[r].has_value() != o.bins[r].has_value())
            throw std::invalid_argument("cannot merge results of different analyses (region '" + region_names[r] +
                                        "' is binned in only one)");
    if (has_event_columns() != o.has_event_columns())
        throw std::invalid_argument("cannot merge a result with per-event columns and one without (a reweighted "
                                    "result)");
    for (std::size_t r = 0; r < cutflows.size(); ++r) {
        cutflows[r].merge(o.cutflows[r]);
        if (bins[r]) bins[r]->merge(*o.bins[r]);
    }
    // the order of the sums, for reweighted(): this one's, the other's, then their addition
    std::vector<std::int64_t> other_order = o.sum_order;  // `o` may be this result
    if (other_order.empty()) other_order.push_back(static_cast<std::int64_t>(o.n_events));
    if (sum_order.empty()) sum_order.push_back(static_cast<std::int64_t>(n_events));
    sum_order.insert(sum_order.end(), other_order.begin(), other_order.end());
    sum_order.push_back(-1);
    n_events += o.n_events;
    // `o` may be this result: append copies of the original sizes, not ranges of a growing vector
    const std::size_t nv = o.variables.size(), np = o.passed.size(), ns = o.steps_passed.size(),
                      nb = o.bin_index.size();
    variables.reserve(variables.size() + nv);
    passed.reserve(passed.size() + np);
    steps_passed.reserve(steps_passed.size() + ns);
    bin_index.reserve(bin_index.size() + nb);
    for (std::size_t i = 0; i < nv; ++i) variables.push_back(o.variables[i]);
    for (std::size_t i = 0; i < np; ++i) passed.push_back(o.passed[i]);
    for (std::size_t i = 0; i < ns; ++i) steps_passed.push_back(o.steps_passed[i]);
    for (std::size_t i = 0; i < nb; ++i) bin_index.push_back(o.bin_index[i]);
}

bool Result::has_event_columns() const noexcept {
    const std::size_t cells = n_events * region_names.size();
    return steps_passed.size() == cells && bin_index.size() == cells && passed.size() == cells &&
           variables.size() == n_events * variable_names.size();
}

namespace {

constexpr std::size_t kBlock = Result::kBlock;  // events per partial sum: results independent of threads

struct CompiledStep {
    ObjectStep def;
    std::optional<Expression> select, only, against;
};

struct CompiledRegion {
    RegionDef def;
    std::vector<Expression> cuts;
    std::optional<Expression> bin_variable;
};

struct CompiledModel {
    const ModelDef* def = nullptr;
    std::optional<Expression> route;
    std::vector<std::vector<Expression>> inputs;  // per tensor, per input
    std::map<std::int64_t, std::shared_ptr<const onnx::Model>> files;
    struct OutputRef {
        std::size_t output;  // index among the ONNX outputs requested
        std::size_t column;
    };
    std::vector<std::string> onnx_outputs;  // distinct ONNX output names to request
    std::vector<OutputRef> outputs;         // per ModelOutput
};

}  // namespace

struct Analysis::Impl {
    Spec spec;
    Schema input, schema;
    std::vector<CompiledStep> steps;
    std::vector<Expression> variables;
    std::vector<bool> late;  // variable uses model outputs: evaluated after the models
    std::vector<CompiledModel> models;
    std::vector<CompiledRegion> regions;
    /// All expressions are compiled into one pool: identical sub-expressions (including whole
    /// cuts a region inherits from its parent) are evaluated once per event.
    std::shared_ptr<ExpressionPool> pool = std::make_shared<ExpressionPool>();
};

Schema Analysis::schema_of(const EventTable& t) {
    Schema s;
    for (const auto& [name, c] : t.collections) {
        s.collections[name] = c.field_names;
        if (!c.bool_fields.empty()) s.bool_fields[name] = c.bool_fields;
    }
    for (const auto& [name, r] : t.records) {
        s.records[name] = r.field_names;
        if (!r.bool_fields.empty()) s.bool_fields[name] = r.bool_fields;
    }
    return s;
}

Analysis::Analysis(Spec spec, const Schema& input) : impl_(std::make_unique<Impl>()) {
    auto& I = *impl_;
    I.spec = std::move(spec);
    I.input = input;
    I.schema = input;
    const std::string& src = I.spec.source;
    auto located_error = [&](const Located& at, const std::string& msg) { throw ConfigError(src, at.line, at.col, msg); };
    auto taken = [&](const std::string& name) {
        return I.schema.collections.count(name) || I.schema.records.count(name) || I.schema.variables.count(name);
    };
    for (const char* reserved : {"event", "parameters"})
        if (I.schema.records.count(reserved) || I.schema.collections.count(reserved))
            throw ConfigError(src, 1, 1, std::string("the input must not define '") + reserved + "' (reserved record)");
    I.schema.records["event"] = {"number", "index", "weight"};
    {
        std::vector<std::string> names;
        for (const auto& [name, value] : I.spec.parameters) {
            if (std::find(names.begin(), names.end(), name) != names.end())
                throw ConfigError(src, 1, 1, "parameter '" + name + "' is defined twice");
            names.push_back(name);
        }
        I.schema.records["parameters"] = names;
    }
    std::set<std::string> model_names;
    for (const auto& m : I.spec.models) {
        if (taken(m.name) || model_names.count(m.name))
            throw ConfigError(src, m.line, 1, "model '" + m.name + "' clashes with an existing name");
        model_names.insert(m.name);
    }
    for (const auto& step : I.spec.objects) {
        CompiledStep c{step, std::nullopt, std::nullopt, std::nullopt};
        if (step.kind == ObjectStep::Kind::Define) {
            const auto& o = step.define;
            if (!o.merge.empty()) {
                if (taken(o.name)) located_error(o.select, "object '" + o.name + "' is defined twice");
                std::vector<std::string> fields, flags;
                for (std::size_t k = 0; k < o.merge.size(); ++k) {
                    const auto& m = o.merge[k];
                    if (!I.schema.collections.count(m))
                        located_error(o.select, "object '" + o.name + "': unknown collection '" + m + "' to merge");
                    const auto& f = I.schema.collections.at(m);
                    const auto& b = I.schema.bool_fields.count(m) ? I.schema.bool_fields.at(m) : std::vector<std::string>{};
                    if (k == 0) {
                        fields = f, flags = b;
                    } else {
                        std::vector<std::string> keep, keep_flags;
                        for (const auto& x : fields)
                            if (std::find(f.begin(), f.end(), x) != f.end()) keep.push_back(x);
                        for (const auto& x : flags)
                            if (std::find(b.begin(), b.end(), x) != b.end()) keep_flags.push_back(x);
                        fields = keep, flags = keep_flags;
                    }
                }
                if (std::find(fields.begin(), fields.end(), "pt") == fields.end())
                    located_error(o.select, "object '" + o.name + "': the merged collections have no common field 'pt'");
                fields.emplace_back("origin");
                I.schema.collections[o.name] = fields;
                I.schema.bool_fields[o.name] = flags;
                if (!o.select.text.empty())
                    c.select = Expression::predicate(o.select.text, I.schema, o.name, src, o.select.line, o.select.col, I.pool);
                I.steps.push_back(std::move(c));
                continue;
            }
            if (!I.schema.collections.count(o.from))
                located_error(o.select, "object '" + o.name + "': unknown source collection '" + o.from + "'");
            if (o.name != o.from && taken(o.name)) located_error(o.select, "object '" + o.name + "' is defined twice");
            if (!o.select.text.empty())
                c.select = Expression::predicate(o.select.text, I.schema, o.from, src, o.select.line, o.select.col, I.pool);
            I.schema.collections[o.name] = I.schema.collections.at(o.from);
            if (I.schema.bool_fields.count(o.from)) I.schema.bool_fields[o.name] = I.schema.bool_fields.at(o.from);
        } else {
            const auto& ov = step.overlap;
            for (const auto& name : {ov.remove, ov.near}) {
                if (!I.schema.collections.count(name))
                    throw ConfigError(src, ov.line, 1, "overlap removal: unknown collection '" + name + "'");
                const auto& f = I.schema.collections.at(name);
                for (const char* x : {"pt", "eta", "phi", "mass"}) {
                    if (std::string(x) == "mass" && !ov.cone.use_rapidity) continue;  // only rapidity needs it
                    if (std::find(f.begin(), f.end(), x) == f.end())
                        throw ConfigError(src, ov.line, 1, "overlap removal: collection '" + name + "' has no field '" + x +
                                                               "'" + (std::string(x) == "mass" ? " (needed for rapidity)" : ""));
                }
            }
            if (!ov.only.text.empty())
                c.only = Expression::predicate(ov.only.text, I.schema, ov.remove, src, ov.only.line, ov.only.col, I.pool);
            if (!ov.against.text.empty())
                c.against = Expression::predicate(ov.against.text, I.schema, ov.near, src, ov.against.line, ov.against.col, I.pool);
        }
        I.steps.push_back(std::move(c));
    }
    // model outputs are records; variables that use them (directly or through other variables)
    // are evaluated after the models
    for (const auto& m : I.spec.models) {
        std::vector<std::string> fields;
        for (const auto& o : m.outputs) fields.push_back(o.name);
        I.schema.records[m.name] = fields;
    }
    std::set<std::string> late_names(model_names);
    for (const auto& v : I.spec.variables) {
        if (taken(v.name) || model_names.count(v.name))
            located_error(v.expr, "variable '" + v.name + "' clashes with an existing name");
        Expression e(v.expr.text, I.schema, src, v.expr.line, v.expr.col, I.pool);
        bool late = false;
        for (const auto& r : e.references()) late = late || late_names.count(r);
        if (late) late_names.insert(v.name);
        I.late.push_back(late);
        if (e.type() != Type::Number && e.type() != Type::Bool)
            located_error(v.expr, "variable '" + v.name + "' must be a number or a bool, this is a " +
                                      type_name(e.type()) + " (use count(...), sum(...), [index].field, ...)");
        I.schema.variables[v.name] = e.type();
        I.schema.variable_order.push_back(v.name);
        I.variables.push_back(std::move(e));
    }
    for (const auto& m : I.spec.models) compile_model(m, late_names);
    for (const auto& r : I.spec.regions) {
        CompiledRegion c{r, {}, std::nullopt};
        if (r.cuts.size() + 1 > Result::kMaxSteps)
            throw ConfigError(src, r.cuts.empty() ? 0 : r.cuts.front().expr.line, 0,
                              "region '" + r.name + "' has " + std::to_string(r.cuts.size()) + " cuts; at most " +
                                  std::to_string(Result::kMaxSteps - 1) + " are supported");
        for (const auto& cut : r.cuts) {
            Expression e(cut.expr.text, I.schema, src, cut.expr.line, cut.expr.col, I.pool);
            if (e.type() != Type::Bool)
                located_error(cut.expr, "cut '" + cut.name + "' of region '" + r.name + "' must be a bool, this is a " +
                                            type_name(e.type()));
            c.cuts.push_back(std::move(e));
        }
        if (r.bin_variable) {
            Expression e(r.bin_variable->text, I.schema, src, r.bin_variable->line, r.bin_variable->col, I.pool);
            if (e.type() != Type::Number) located_error(*r.bin_variable, "the binning variable must be a number");
            if (r.bin_edges.size() < 2) located_error(*r.bin_variable, "a binned region needs at least two edges");
            for (std::size_t i = 0; i + 1 < r.bin_edges.size(); ++i)
                if (!(r.bin_edges[i] < r.bin_edges[i + 1])) located_error(*r.bin_variable, "bin edges must increase");
            if (r.bin_edges.size() - 1 > static_cast<std::size_t>(std::numeric_limits<std::int32_t>::max()))
                located_error(*r.bin_variable, "too many bins");
            c.bin_variable = std::move(e);
        }
        I.regions.push_back(std::move(c));
    }
}

void Analysis::compile_model(const ModelDef& m, const std::set<std::string>& late_names) {
    auto& I = *impl_;
    const std::string& src = I.spec.source;
    CompiledModel c;
    c.def = &m;
    auto check_early = [&](const Expression& e, const Located& at, const std::string& what) {
        for (const auto& r : e.references())
            if (late_names.count(r))
                throw ConfigError(src, at.line, at.col,
                                  "model '" + m.name + "': " + what + " uses '" + r +
                                      "', which needs model outputs (models see only variables without them)");
    };
    if (m.files.empty()) throw ConfigError(src, m.line, 1, "model '" + m.name + "' has no files");
    if (!m.route.text.empty()) {
        c.route.emplace(m.route.text, I.schema, src, m.route.line, m.route.col, I.pool);
        if (c.route->type() != Type::Number)
            throw ConfigError(src, m.route.line, m.route.col, "model '" + m.name + "': the route must be a number");
        check_early(*c.route, m.route, "the route");
    }
    if (m.block_size == 0) throw ConfigError(src, m.line, 1, "model '" + m.name + "': block_size must be > 0");
    for (const auto& f : m.files) {
        if (c.files.count(f.route))
            throw ConfigError(src, m.line, 1, "model '" + m.name + "': two files for route " + std::to_string(f.route));
        onnx::ModelOptions opt;
        auto model = f.bytes.empty() ? std::make_shared<const onnx::Model>(f.path, opt)
                                     : std::make_shared<const onnx::Model>(f.bytes.data(), f.bytes.size(), f.path, opt);
        // every tensor must be a float32 input of rank 2 with the right width
        if (model->inputs().size() != m.tensors.size())
            throw ModelError(f.path + ": the model has " + std::to_string(model->inputs().size()) +
                             " inputs, the model card of '" + m.name + "' defines " + std::to_string(m.tensors.size()));
        for (const auto& t : m.tensors) {
            const auto it = std::find_if(model->inputs().begin(), model->inputs().end(),
                                         [&](const onnx::TensorInfo& i) { return i.name == t.name; });
            if (it == model->inputs().end()) throw ModelError(f.path + ": no input tensor '" + t.name + "'");
            if (it->type != onnx::ElementType::Float32)
                throw ModelError(f.path + ": input '" + t.name + "' is " + it->type_name + ", only float32 is supported");
            if (it->shape.size() != 2 || (it->shape[1] >= 0 && it->shape[1] != static_cast<std::int64_t>(t.inputs.size())))
                throw ModelError(f.path + ": input '" + t.name + "' has " +
                                 (it->shape.size() == 2 ? std::to_string(it->shape[1]) + " features"
                                                        : "rank " + std::to_string(it->shape.size())) +
                                 ", the model card of '" + m.name + "' gives " + std::to_string(t.inputs.size()) +
                                 " inputs (shape [N, k] expected)");
        }
        for (const auto& o : m.outputs) {
            const auto it = std::find_if(model->outputs().begin(), model->outputs().end(),
                                         [&](const onnx::TensorInfo& i) { return i.name == o.tensor; });
            if (it == model->outputs().end()) throw ModelError(f.path + ": no output tensor '" + o.tensor + "'");
            if (it->type != onnx::ElementType::Float32 && it->type != onnx::ElementType::Float64)
                throw ModelError(f.path + ": output '" + o.tensor + "' is " + it->type_name + ", expected a float tensor");
        }
        c.files[f.route] = std::move(model);
    }
    for (const auto& t : m.tensors) {
        c.inputs.emplace_back();
        for (const auto& in : t.inputs) {
            Expression e(in.expr.text, I.schema, src, in.expr.line, in.expr.col, I.pool);
            if (e.type() != Type::Number && e.type() != Type::Bool)
                throw ConfigError(src, in.expr.line, in.expr.col,
                                  "model '" + m.name + "' input '" + in.name + "' must be a number, this is a " +
                                      type_name(e.type()));
            check_early(e, in.expr, "input '" + in.name + "'");
            c.inputs.back().push_back(std::move(e));
        }
    }
    for (const auto& o : m.outputs) {
        auto it = std::find(c.onnx_outputs.begin(), c.onnx_outputs.end(), o.tensor);
        if (it == c.onnx_outputs.end()) it = c.onnx_outputs.insert(c.onnx_outputs.end(), o.tensor);
        c.outputs.push_back({static_cast<std::size_t>(it - c.onnx_outputs.begin()), o.index});
    }
    I.models.push_back(std::move(c));
}

Analysis::~Analysis() = default;
Analysis::Analysis(Analysis&&) noexcept = default;
const Spec& Analysis::spec() const noexcept { return impl_->spec; }
const Schema& Analysis::schema() const noexcept { return impl_->schema; }
ExpressionPool::Stats Analysis::compiled_stats() const { return impl_->pool->stats(); }

bool Analysis::uses(const std::string& input) const {
    const auto& I = *impl_;
    auto in = [&](const std::vector<std::string>& names) {
        return std::find(names.begin(), names.end(), input) != names.end();
    };
    auto expr = [&](const std::optional<Expression>& e) { return e && in(e->references()); };
    for (const auto& st : I.steps) {
        const auto& d = st.def;
        if (d.kind == ObjectStep::Kind::Define && (d.define.from == input || in(d.define.merge))) return true;
        if (d.kind == ObjectStep::Kind::Overlap && (d.overlap.remove == input || d.overlap.near == input)) return true;
        if (expr(st.select) || expr(st.only) || expr(st.against)) return true;
    }
    for (const auto& v : I.variables)
        if (in(v.references())) return true;
    for (const auto& m : I.models) {
        if (expr(m.route)) return true;
        for (const auto& t : m.inputs)
            for (const auto& e : t)
                if (in(e.references())) return true;
    }
    for (const auto& r : I.regions) {
        if (expr(r.bin_variable)) return true;
        for (const auto& c : r.cuts)
            if (in(c.references())) return true;
    }
    return false;
}

namespace {

using Collections = std::map<std::string, const CollectionColumns*>;
using Records = std::map<std::string, const RecordColumns*>;

CollectionColumns filter(const CollectionColumns& c, const std::vector<std::uint8_t>& keep) {
    CollectionColumns out;
    out.field_names = c.field_names;
    out.bool_fields = c.bool_fields;
    out.fields.resize(c.fields.size());
    out.offsets.assign(1, 0);
    for (std::size_t e = 0; e < c.n_events(); ++e) {
        for (auto i = c.offsets[e]; i < c.offsets[e + 1]; ++i)
            if (keep[static_cast<std::size_t>(i)])
                for (std::size_t f = 0; f < c.fields.size(); ++f) out.fields[f].push_back(c.fields[f][static_cast<std::size_t>(i)]);
        out.offsets.push_back(static_cast<std::int64_t>(out.fields.empty() ? 0 : out.fields[0].size()));
    }
    if (out.fields.empty()) {  // no fields: count kept objects
        out.offsets.assign(1, 0);
        for (std::size_t e = 0; e < c.n_events(); ++e) {
            std::int64_t k = 0;
            for (auto i = c.offsets[e]; i < c.offsets[e + 1]; ++i) k += keep[static_cast<std::size_t>(i)];
            out.offsets.push_back(out.offsets.back() + k);
        }
    }
    return out;
}

/// The union of several collections, per event ordered by descending pT (ties: list order).
CollectionColumns merge_collections(const std::vector<std::string>& names, const Collections& cols,
                                    const std::vector<std::string>& fields, const std::vector<std::string>& flags,
                                    std::size_t n_events) {
    CollectionColumns out;
    out.field_names = fields;
    out.bool_fields = flags;
    out.fields.resize(fields.size());
    const std::size_t n_common = fields.size() - 1;  // the last is `origin`
    std::vector<std::vector<int>> index(names.size());
    for (std::size_t k = 0; k < names.size(); ++k)
        for (std::size_t f = 0; f < n_common; ++f) index[k].push_back(cols.at(names[k])->field(fields[f]));
    const auto ipt = static_cast<std::size_t>(std::find(fields.begin(), fields.end(), "pt") - fields.begin());
    struct Item {
        std::size_t source;
        std::int64_t i;
        double pt;
    };
    std::vector<Item> items;
    for (std::size_t e = 0; e < n_events; ++e) {
        items.clear();
        for (std::size_t k = 0; k < names.size(); ++k) {
            const CollectionColumns& c = *cols.at(names[k]);
            for (auto i = c.offsets[e]; i < c.offsets[e + 1]; ++i)
                items.push_back({k, i, c.fields[static_cast<std::size_t>(index[k][ipt])][static_cast<std::size_t>(i)]});
        }
        std::stable_sort(items.begin(), items.end(), [](const Item& a, const Item& b) { return a.pt > b.pt; });
        for (const auto& it : items) {
            const CollectionColumns& c = *cols.at(names[it.source]);
            for (std::size_t f = 0; f < n_common; ++f)
                out.fields[f].push_back(c.fields[static_cast<std::size_t>(index[it.source][f])][static_cast<std::size_t>(it.i)]);
            out.fields[n_common].push_back(static_cast<double>(it.source));
        }
        out.offsets.push_back(out.offsets.back() + static_cast<std::int64_t>(items.size()));
    }
    return out;
}

/// An error while evaluating expression `x` on an event, located at the sub-expression that
/// failed (at the expression for errors of custom functions) in the definition file.
[[noreturn]] void rethrow(const std::exception& e, const std::string& source, std::size_t event, const std::string& what,
                          const Expression& x) {
    const auto* at = dynamic_cast<const EvaluationError*>(&e);
    const auto* known = dynamic_cast<const Error*>(&e);
    throw InputError(source, at ? at->line() : x.line(), at ? at->column() : x.column(), static_cast<std::int64_t>(event),
                     what + " '" + x.text() + "': " + (known ? known->message() : std::string(e.what())));
}

/// Per-object predicate mask over a whole collection (parallel over events).
std::vector<std::uint8_t> object_mask(const Expression& pred, const CollectionColumns& c, const EventTable& table,
                                      const Collections& cols, const Records& recs, int n_threads,
                                      const std::string& source, const std::string& what) {
    std::vector<std::uint8_t> keep(c.size(), 0);
    const std::size_t ne = table.n_events;
    for_each_range(ne, n_ranges(ne, n_threads), [&](std::size_t, std::size_t first, std::size_t last) {
        EventContext ctx;
        ctx.table = &table;
        ctx.collections = &cols;
        ctx.records = &recs;
        for (std::size_t e = first; e < last; ++e) {
            ctx.event = e;
            for (auto i = c.offsets[e]; i < c.offsets[e + 1]; ++i) {
                Value self;
                self.type = Type::Object;
                self.coll = &c;
                self.obj = i;
                ctx.scope.assign(1, self);
                try {
                    const Value& v = pred.evaluate_ref(ctx);
                    keep[static_cast<std::size_t>(i)] = !v.missing && v.x != 0;
                } catch (const std::runtime_error& err) {
                    rethrow(err, source, e, what, pred);
                }
            }
        }
    });
    return keep;
}

/// The feature an input value gives the model (x: the value, or the pad for a missing one): the one
/// rule of the block-wise and the event-by-event gathering, which must agree bit for bit.
float input_feature(const ModelInput& in, double x) { return static_cast<float>((x + in.add) * in.multiply); }

/// The file a route value picks: none (nullopt) for a missing or non-integer value.
std::optional<std::int64_t> route_of(double x) {
    if (std::isnan(x) || x != std::floor(x)) return std::nullopt;  // no model for this event
    return static_cast<std::int64_t>(x);
}

}  // namespace

/// Events per slice of a block whose model inputs are evaluated together: bounds the memory of the
/// expressions' columns (one per node) whatever the card's block_size; as fast as whole blocks of
/// 1024 in benchmarks/bench_models.py.
constexpr std::size_t kInputSlice = 128;

void Analysis::run_model(std::size_t mi, const EventTable& table, const Collections& cols, const Records& recs,
                         Result& r, RecordColumns& out, int n_threads) const {
    const auto& I = *impl_;
    const auto& M = I.models[mi];
    const ModelDef& D = *M.def;
    const std::string& src = I.spec.source;
    const std::size_t ne = table.n_events, nv = I.variables.size();
    const std::size_t n_blocks = (ne + D.block_size - 1) / D.block_size;
    for_each_range(n_blocks, n_ranges(n_blocks, n_threads), [&](std::size_t, std::size_t b0, std::size_t b1) {
        EventContext ctx;
        ctx.table = &table;
        ctx.collections = &cols;
        ctx.records = &recs;
        struct Group {
            std::vector<std::size_t> events;
            std::vector<std::vector<float>> features;  // per tensor, row-major
            // events whose rows are in `features` (= events.size() between slices; features[t]
            // has filled x width(t) values then)
            std::size_t filled = 0;
        };
        std::map<std::int64_t, Group> groups;
        // the inputs of the current slice of events, column-wise: per tensor and input, the values
        // (where the expressions computed them) and the features made of them
        std::vector<std::vector<Expression::BlockView>> xs(D.tensors.size());
        std::vector<std::vector<std::vector<float>>> fs(D.tensors.size());
        for (std::size_t t = 0; t < D.tensors.size(); ++t) {
            xs[t].resize(D.tensors[t].inputs.size());
            fs[t].resize(D.tensors[t].inputs.size());
        }
        std::vector<float> row;
        std::vector<std::uint8_t> drop;
        std::vector<const float*> fcols;
        const auto file_route = [&](std::size_t e) {  // no route expression: event number modulo files
            const auto n = static_cast<std::int64_t>(M.files.size());
            const auto number = table.event_number.empty() ? static_cast<std::int64_t>(e) : table.event_number[e];
            return ((number % n) + n) % n;
        };
        // Event by event, for slices where an input or the route failed: the error is reported for
        // the first event that needs the value (the route first, then the inputs in order, up to
        // the first missing one without pad). `columns`: the inputs' column values in xs are valid
        // (else every input is evaluated again here).
        const auto gather_events = [&](std::size_t s0, std::size_t s1, bool columns) {
            for (std::size_t e = s0; e < s1; ++e) {
                ctx.event = e;
                ctx.variables = r.variables.data() + e * nv;
                std::int64_t route;
                try {
                    if (M.route) {
                        const auto picked = route_of(M.route->scalar(ctx));
                        if (!picked) continue;
                        route = *picked;
                    } else {
                        route = file_route(e);
                    }
                } catch (const std::runtime_error& err) {
                    rethrow(err, src, e, "route of model '" + D.name + "'", *M.route);
                }
                if (!M.files.count(route)) continue;
                Group& g = groups[route];
                if (g.features.empty()) g.features.resize(D.tensors.size());
                bool complete = true;
                for (std::size_t t = 0; t < D.tensors.size() && complete; ++t) {
                    row.clear();
                    for (std::size_t k = 0; k < D.tensors[t].inputs.size(); ++k) {
                        const ModelInput& in = D.tensors[t].inputs[k];
                        const Expression::BlockView& v = xs[t][k];
                        double x = columns ? v.values[e - s0] : 0.0;
                        if (!columns || (v.failed && v.failed[e - s0])) {
                            try {
                                ctx.event = e;
                                ctx.variables = r.variables.data() + e * nv;
                                x = M.inputs[t][k].scalar(ctx);
                            } catch (const std::runtime_error& err) {
                                rethrow(err, src, e, "input '" + in.name + "' of model '" + D.name + "'", M.inputs[t][k]);
                            }
                        }
                        if (std::isnan(x)) {
                            if (!in.pad) {
                                complete = false;
                                break;
                            }
                            x = *in.pad;
                        }
                        row.push_back(input_feature(in, x));
                    }
                    if (complete) g.features[t].insert(g.features[t].end(), row.begin(), row.end());
                }
                if (!complete) {  // undo the tensors already appended for this event
                    for (std::size_t t = 0; t < D.tensors.size(); ++t)
                        g.features[t].resize(g.events.size() * D.tensors[t].inputs.size());
                    continue;
                }
                g.events.push_back(e);
                g.filled = g.events.size();
            }
        };
        // Evaluates the inputs and the route of events [s0, s1) column-wise and appends the
        // events with a model and all their inputs (missing ones padded) to their route's group.
        const auto gather = [&](std::size_t s0, std::size_t s1) {
            const std::size_t m = s1 - s0;
            bool any_failed = false;
            try {  // an error outside the per-event evaluation (none known): reported event by event
                for (std::size_t t = 0; t < D.tensors.size(); ++t)
                    for (std::size_t k = 0; k < D.tensors[t].inputs.size(); ++k) {
                        ctx.event = s0;
                        xs[t][k] = M.inputs[t][k].scalar_block_view(ctx, s0, s1, r.variables.data(), nv);
                        any_failed = any_failed || xs[t][k].failed;
                    }
            } catch (const std::exception&) {
                gather_events(s0, s1, false);
                return;
            }
            const double* route_x = nullptr;  // where the route's expression left its values
            if (M.route && !any_failed) {
                ctx.event = s0;
                try {
                    const auto view = M.route->scalar_block_view(ctx, s0, s1, r.variables.data(), nv);
                    route_x = view.values;
                    any_failed = view.failed != nullptr;
                } catch (const std::exception&) {
                    any_failed = true;
                }
            }
            if (any_failed) {
                gather_events(s0, s1, true);
                return;
            }
            // no evaluation error: the features column by column (a missing input without pad
            // drops the event), the events grouped by route, then their rows
            drop.assign(m, 0);
            for (std::size_t t = 0; t < D.tensors.size(); ++t)
                for (std::size_t k = 0; k < D.tensors[t].inputs.size(); ++k) {
                    const ModelInput& in = D.tensors[t].inputs[k];
                    const double* x = xs[t][k].values;
                    fs[t][k].resize(m);
                    float* f = fs[t][k].data();
                    if (!in.pad)
                        for (std::size_t i = 0; i < m; ++i) drop[i] |= std::isnan(x[i]) ? 1 : 0;
                    const double pad = in.pad ? *in.pad : 0.0;
                    for (std::size_t i = 0; i < m; ++i) f[i] = input_feature(in, std::isnan(x[i]) ? pad : x[i]);
                }
            std::int64_t last_route = 0;
            Group* last = nullptr;
            for (std::size_t e = s0; e < s1; ++e) {
                if (drop[e - s0]) continue;
                std::int64_t route;
                if (M.route) {
                    const auto picked = route_of(route_x[e - s0]);
                    if (!picked) continue;
                    route = *picked;
                } else {
                    route = file_route(e);
                }
                if (!last || route != last_route) {
                    if (!M.files.count(route)) continue;
                    last = &groups[route];
                    last->features.resize(D.tensors.size());
                    last_route = route;
                }
                last->events.push_back(e);
            }
            for (auto& [route, g] : groups) {
                const std::size_t n = g.events.size();
                for (std::size_t t = 0; t < D.tensors.size(); ++t) {
                    const std::size_t width = D.tensors[t].inputs.size();
                    fcols.resize(width);
                    for (std::size_t k = 0; k < width; ++k) fcols[k] = fs[t][k].data();
                    std::vector<float>& f = g.features[t];
                    f.resize(n * width);
                    float* to = f.data() + g.filled * width;
                    for (std::size_t j = g.filled; j < n; ++j, to += width) {  // row by row
                        const std::size_t i = g.events[j] - s0;
                        for (std::size_t k = 0; k < width; ++k) to[k] = fcols[k][i];
                    }
                }
                g.filled = n;
            }
        };
        for (std::size_t blk = b0; blk < b1; ++blk) {
            groups.clear();
            const std::size_t e0 = blk * D.block_size;
            const std::size_t e1 = std::min(ne, (blk + 1) * D.block_size);
            ctx.block_end = e1;
            // the inputs in slices (the ORT call stays one per block and file)
            for (std::size_t s0 = e0; s0 < e1; s0 += kInputSlice) gather(s0, std::min(e1, s0 + kInputSlice));
            for (auto& [route, g] : groups) {
                if (g.events.empty()) continue;
                const auto& model = *M.files.at(route);
                const auto n = static_cast<std::int64_t>(g.events.size());
                std::vector<onnx::TensorView> views;
                for (std::size_t t = 0; t < D.tensors.size(); ++t)
                    views.push_back({D.tensors[t].name, onnx::ElementType::Float32,
                                     {n, static_cast<std::int64_t>(D.tensors[t].inputs.size())}, g.features[t].data()});
                const auto results = model.run(views, M.onnx_outputs);
                for (std::size_t o = 0; o < D.outputs.size(); ++o) {
                    const auto& res = results[M.outputs[o].output];
                    const std::size_t width = res.shape.size() >= 2 ? static_cast<std::size_t>(res.shape.back()) : 1;
                    if (res.size() != static_cast<std::size_t>(n) * width || M.outputs[o].column >= width)
                        throw ModelError(model.path() + ": output '" + D.outputs[o].tensor + "' has " +
                                         std::to_string(res.size()) + " values for " + std::to_string(n) +
                                         " events; column " + std::to_string(M.outputs[o].column) + " requested");
                    for (std::int64_t i = 0; i < n; ++i) {
                        const std::size_t at = static_cast<std::size_t>(i) * width + M.outputs[o].column;
                        const double v = res.type == onnx::ElementType::Float64 ? res.data<double>()[at]
                                                                                : static_cast<double>(res.data<float>()[at]);
                        out.fields[o][g.events[static_cast<std::size_t>(i)]] = v;
                    }
                }
            }
        }
    });
}

Result Analysis::run(const EventTable& table, int n_threads,
                     const std::vector<std::pair<std::string, double>>& parameters) const {
    const auto& I = *impl_;
    table.validate();
    for (const auto& [name, fields] : I.input.collections) {
        auto it = table.collections.find(name);
        if (it == table.collections.end()) throw InputError("<analysis input>", 0, -1, "missing collection '" + name + "'");
        if (it->second.field_names != fields)
            throw InputError("<analysis input>", 0, -1, "collection '" + name + "' has other fields than the analysis was compiled for");
    }
    for (const auto& [name, fields] : I.input.records) {
        auto it = table.records.find(name);
        if (it == table.records.end() || it->second.field_names != fields)
            throw InputError("<analysis input>", 0, -1, "record '" + name + "' missing or with other fields");
    }
    const std::string& src = I.spec.source;
    // records: the input's, `event`, `parameters` and one per model (its outputs)
    std::map<std::string, const RecordColumns*> recs;
    for (const auto& [name, rec] : table.records) recs[name] = &rec;
    RecordColumns event_rec;
    event_rec.field_names = {"number", "index", "weight"};
    event_rec.fields.resize(3);
    for (std::size_t e = 0; e < table.n_events; ++e) {
        event_rec.fields[0].push_back(table.event_number.empty() ? static_cast<double>(e)
                                                                 : static_cast<double>(table.event_number[e]));
        event_rec.fields[1].push_back(static_cast<double>(e));
        event_rec.fields[2].push_back(table.weight[e]);
    }
    recs["event"] = &event_rec;
    RecordColumns params;
    for (const auto& [name, value] : I.spec.parameters) {
        params.field_names.push_back(name);
        params.fields.emplace_back(table.n_events, value);
    }
    for (const auto& [name, value] : parameters) {
        const int f = params.field(name);
        if (f < 0) throw ConfigError(src, 1, 1, "unknown parameter '" + name + "' (not in the analysis' parameters)");
        params.fields[static_cast<std::size_t>(f)].assign(table.n_events, value);
    }
    recs["parameters"] = &params;
    std::vector<RecordColumns> model_out(I.models.size());
    for (std::size_t m = 0; m < I.models.size(); ++m) {
        for (const auto& o : I.models[m].def->outputs) {
            model_out[m].field_names.push_back(o.name);
            model_out[m].fields.emplace_back(table.n_events, std::numeric_limits<double>::quiet_NaN());
        }
        recs[I.models[m].def->name] = &model_out[m];
    }
    // objects and overlap removal (derived collections owned here)
    std::map<std::string, CollectionColumns> derived;
    Collections cols;
    for (const auto& [name, c] : table.collections) cols[name] = &c;
    for (const auto& step : I.steps) {
        if (step.def.kind == ObjectStep::Kind::Define) {
            const auto& o = step.def.define;
            if (!o.merge.empty()) {
                CollectionColumns merged = merge_collections(o.merge, cols, I.schema.collections.at(o.name),
                                                             I.schema.bool_fields.at(o.name), table.n_events);
                if (step.select)
                    merged = filter(merged, object_mask(*step.select, merged, table, cols, recs, n_threads, src,
                                                        "object '" + o.name + "' selection"));
                derived[o.name] = std::move(merged);
                cols[o.name] = &derived[o.name];
                continue;
            }
            const CollectionColumns& from = *cols.at(o.from);
            CollectionColumns made = step.select ? filter(from, object_mask(*step.select, from, table, cols, recs, n_threads, src,
                                                                             "object '" + o.name + "' selection"))
                                                 : from;
            derived[o.name] = std::move(made);
            cols[o.name] = &derived[o.name];
            continue;
        }
        const auto& ov = step.def.overlap;
        const CollectionColumns& a = *cols.at(ov.remove);
        const CollectionColumns& b = *cols.at(ov.near);
        std::vector<std::uint8_t> only, against;
        if (step.only) only = object_mask(*step.only, a, table, cols, recs, n_threads, src, "overlap 'only' predicate");
        if (step.against) against = object_mask(*step.against, b, table, cols, recs, n_threads, src, "overlap 'against' predicate");
        auto col = [](const CollectionColumns& c, const char* f) -> Span<double> {
            const int k = c.field(f);
            if (k < 0) return {};
            return Span<double>(c.fields[static_cast<std::size_t>(k)]);
        };
        overlap::Collection ca{Span<std::int64_t>(a.offsets), col(a, "pt"), col(a, "eta"), col(a, "phi"), col(a, "mass")};
        overlap::Collection cb{Span<std::int64_t>(b.offsets), col(b, "pt"), col(b, "eta"), col(b, "phi"), col(b, "mass")};
        const auto keep = overlap::remove_overlaps(ca, cb, ov.cone, only.empty() ? nullptr : only.data(),
                                                   against.empty() ? nullptr : against.data());
        CollectionColumns made = filter(a, keep);
        derived[ov.remove] = std::move(made);  // may replace the collection `a` refers to: done with it
        cols[ov.remove] = &derived[ov.remove];
    }
    // variables, models and regions
    Result r;
    r.n_events = table.n_events;
    const std::size_t ne = table.n_events;
    const std::size_t nv = I.variables.size(), nr = I.regions.size();
    for (const auto& v : I.spec.variables) r.variable_names.push_back(v.name);
    r.variables.assign(ne * nv, std::numeric_limits<double>::quiet_NaN());
    r.passed.assign(ne * nr, 0);
    r.steps_passed.assign(ne * nr, 1);
    r.bin_index.assign(ne * nr, -1);
    r.sum_order.assign(1, static_cast<std::int64_t>(ne));
    auto evaluate_variables = [&](EventContext& ctx, std::size_t e, bool late) {
        ctx.event = e;
        double* vars = r.variables.data() + e * nv;
        ctx.variables = vars;
        for (std::size_t v = 0; v < nv; ++v) {
            if (I.late[v] != late) continue;
            try {
                vars[v] = I.variables[v].scalar(ctx);
            } catch (const std::runtime_error& err) {
                rethrow(err, src, e, "variable '" + I.spec.variables[v].name + "'", I.variables[v]);
            }
        }
    };
    auto context = [&]() {
        EventContext ctx;
        ctx.table = &table;
        ctx.collections = &cols;
        ctx.records = &recs;
        return ctx;
    };
    // without models, variables are evaluated with the regions (one pass: sub-expressions shared
    // by variables and cuts are computed once per event)
    const bool one_pass = I.models.empty();
    if (!one_pass)
        for_each_range(ne, n_ranges(ne, n_threads), [&](std::size_t, std::size_t first, std::size_t last) {
            EventContext ctx = context();
            ctx.block_end = last;
            for (std::size_t e = first; e < last; ++e) evaluate_variables(ctx, e, false);
        });
    for (std::size_t m = 0; m < I.models.size(); ++m) run_model(m, table, cols, recs, r, model_out[m], n_threads);
    std::vector<std::vector<std::string>> step_names(nr);
    for (std::size_t k = 0; k < nr; ++k) {
        step_names[k].push_back("all events");
        for (const auto& c : I.regions[k].def.cuts) step_names[k].push_back(c.name);
        r.region_names.push_back(I.regions[k].def.name);
    }
    const std::size_t n_blocks = (ne + kBlock - 1) / kBlock;
    struct Partial {
        std::vector<Cutflow> cutflows;
        std::vector<std::optional<BinnedYield>> bins;
    };
    std::vector<Partial> partial(n_blocks);
    for_each_range(n_blocks, n_ranges(n_blocks, n_threads), [&](std::size_t, std::size_t b0, std::size_t b1) {
        EventContext ctx = context();
        for (std::size_t blk = b0; blk < b1; ++blk) {
            Partial& p = partial[blk];
            for (std::size_t k = 0; k < nr; ++k) {
                p.cutflows.emplace_back(step_names[k]);
                if (I.regions[k].bin_variable) p.bins.emplace_back(BinnedYield(I.regions[k].def.bin_edges));
                else p.bins.emplace_back(std::nullopt);
            }
            const std::size_t e1 = std::min(ne, (blk + 1) * kBlock);
            ctx.block_end = e1;
            for (std::size_t e = blk * kBlock; e < e1; ++e) {
                if (one_pass) evaluate_variables(ctx, e, false);
                evaluate_variables(ctx, e, true);
                const double w = table.weight[e];
                for (std::size_t k = 0; k < nr; ++k) {
                    const auto& reg = I.regions[k];
                    auto& cf = p.cutflows[k];
                    cf.fill(0, w);
                    bool pass = true;
                    for (std::size_t c = 0; c < reg.cuts.size() && pass; ++c) {
                        double x;
                        try {
                            x = reg.cuts[c].scalar(ctx);
                        } catch (const std::runtime_error& err) {
                            rethrow(err, src, e, "cut '" + reg.def.cuts[c].name + "'", reg.cuts[c]);
                        }
                        pass = !std::isnan(x) && x != 0;
                        if (pass) cf.fill(c + 1, w);
                        else r.steps_passed[e * nr + k] = static_cast<std::uint16_t>(c + 1);
                    }
                    if (!pass) continue;
                    r.steps_passed[e * nr + k] = static_cast<std::uint16_t>(reg.cuts.size() + 1);
                    r.passed[e * nr + k] = 1;
                    if (reg.bin_variable) {
                        double x;
                        try {
                            x = reg.bin_variable->scalar(ctx);
                        } catch (const std::runtime_error& err) {
                            rethrow(err, src, e, "binning of region '" + reg.def.name + "'", *reg.bin_variable);
                        }
                        r.bin_index[e * nr + k] = static_cast<std::int32_t>(p.bins[k]->fill(x, w));
                    }
                }
            }
        }
    });
    for (std::size_t k = 0; k < nr; ++k) {
        r.cutflows.emplace_back(step_names[k]);
        if (I.regions[k].bin_variable) r.bins.emplace_back(BinnedYield(I.regions[k].def.bin_edges));
        else r.bins.emplace_back(std::nullopt);
    }
    for (const auto& p : partial)
        for (std::size_t k = 0; k < nr; ++k) {
            r.cutflows[k].merge(p.cutflows[k]);
            if (r.bins[k]) r.bins[k]->merge(*p.bins[k]);
        }
    return r;
}

}  // namespace recast::analysis
