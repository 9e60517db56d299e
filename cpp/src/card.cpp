// Detector-card loading and validation; see recast/card.hpp.
#define TOML_HEADER_ONLY 1
#define TOML_EXCEPTIONS 1
#include <toml++/toml.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <set>
#include <sstream>

#include "recast/card.hpp"
#include "recast/card_expr.hpp"
#include "recast/errors.hpp"

namespace recast::card {

namespace {

const char* const kReferenceCards[] = {"atlas_run2.toml", "cms_run2.toml"};

// Fields a function object (§13.3) may carry, whatever its kind.
const std::set<std::string> kFunctionFields = {
    "kind", "value", "var", "edges", "values", "wp", "underflow", "overflow", "xvar", "yvar", "xedges", "yedges",
    "x", "y", "below", "above", "expr", "nested", "nested_families", "smear", "regions", "sigma_max", "target",
    "applies_to", "start", "slope", "floor", "source", "enabled"};

// Required fields per function-object kind ("a|b": one of them).
const std::vector<std::pair<std::string, std::vector<std::string>>> kKinds = {
    {"constant", {"value"}},
    {"binned1d", {"var", "edges", "values|wp"}},
    {"binned2d", {"xvar", "yvar", "xedges", "yedges", "values|wp"}},
    {"piecewise_linear", {"var", "x", "y"}},
    {"expr", {"expr"}},
    {"wp_tables", {"wp"}},
    {"per_prong_binned1d", {"var", "edges", "wp"}},
    {"calo_nsc", {"smear", "regions"}},
    {"expr_sigma", {"smear", "expr"}},
    {"rel_binned", {"smear", "var", "edges", "values"}},
    {"curvature_quad", {"regions", "sigma_max"}},
    {"same_as", {"target"}},
    {"linear_decline", {"start", "slope", "floor"}},
    {"none", {}},
};

// Tables whose `kind` is not a function-object kind (isolation type, grooming, MET soft term).
bool non_function_kind(const std::string& dotted) {
    return dotted.rfind("isolation.", 0) == 0 || dotted == "large_r_jet.grooming" || dotted == "met.soft_term";
}

// Last path segments of function objects whose values are efficiencies (must lie in [0, 1]).
const std::set<std::string> kEfficiencyTables = {"reco", "id", "isolation_map", "charge_flip", "jvt",
                                                 "track_efficiency"};

std::vector<std::string> split_dirs(const std::vector<std::string>& dirs) {
    if (!dirs.empty()) return dirs;
    std::vector<std::string> out;
    if (const char* env = std::getenv("RECAST_CARDS_PATH")) {
        std::stringstream ss(env);
        std::string d;
        while (std::getline(ss, d, ':'))
            if (!d.empty()) out.push_back(d);
    }
    return out;
}

std::string find_in(const std::vector<std::string>& dirs, const std::string& file) {
    for (const auto& d : dirs) {
        const std::string p = d + "/" + file;
        if (std::ifstream(p)) return p;
    }
    return {};
}

toml::table parse_toml(const std::string& text, const std::string& source) {
    try {
        return toml::parse(text, source);
    } catch (const toml::parse_error& e) {
        throw ConfigError(source, e.source().begin.line, e.source().begin.column,
                          "TOML syntax error: " + std::string(e.description()));
    }
}

std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw FileNotFound(path, "cannot open detector card");
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

// Normalised schema path of a key: names of working points and isolation variables are free.
std::string child_path(const std::string& parent, const std::string& parent_last, const std::string& key,
                       bool top_isolation) {
    const bool free_name = parent_last == "wp" || top_isolation;
    const std::string seg = free_name ? "*" : key;
    return parent.empty() ? seg : parent + "." + seg;
}

void collect_schema(const toml::table& t, const std::string& path, const std::string& last, std::set<std::string>& out) {
    for (auto&& [k, node] : t) {
        const std::string key(k.str());
        const std::string p = child_path(path, last, key, path == "isolation");
        out.insert(p);
        if (const auto* sub = node.as_table()) {
            collect_schema(*sub, p, path == "isolation" || last == "wp" ? "*" : key, out);
        } else if (const auto* arr = node.as_array()) {
            for (auto&& el : *arr)
                if (const auto* et = el.as_table()) collect_schema(*et, p + "[]", key, out);
        }
    }
}

const std::set<std::string>& schema_for(const std::vector<std::string>& dirs) {
    static std::mutex mutex;
    static std::vector<std::pair<std::vector<std::string>, std::set<std::string>>> cache;
    std::lock_guard<std::mutex> lock(mutex);
    for (auto& [d, s] : cache)
        if (d == dirs) return s;
    std::set<std::string> keys;
    for (const char* f : kReferenceCards) {
        const std::string path = find_in(dirs, f);
        if (path.empty())
            throw ConfigError(f, 0, 0,
                              "reference card not found (needed as the card schema); searched: " +
                                  (dirs.empty() ? std::string("<no directories; set RECAST_CARDS_PATH>") : [&] {
                                      std::string s;
                                      for (auto& d : dirs) s += (s.empty() ? "" : ", ") + d;
                                      return s;
                                  }()));
        collect_schema(parse_toml(read_file(path), path), "", "", keys);
    }
    keys.insert("extends");  // root key of override cards (§13.9)
    cache.emplace_back(dirs, std::move(keys));
    return cache.back().second;
}

std::size_t edit_distance(const std::string& a, const std::string& b) {
    std::vector<std::size_t> prev(b.size() + 1), cur(b.size() + 1);
    for (std::size_t j = 0; j <= b.size(); ++j) prev[j] = j;
    for (std::size_t i = 1; i <= a.size(); ++i) {
        cur[0] = i;
        for (std::size_t j = 1; j <= b.size(); ++j)
            cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)});
        std::swap(prev, cur);
    }
    return prev[b.size()];
}

class Validator {
public:
    Validator(const std::string& source, const std::set<std::string>& schema) : source_(source), schema_(schema) {}

    [[noreturn]] void fail(const toml::node& n, const std::string& key, const std::string& what) const {
        throw ConfigError(source_, n.source().begin.line, n.source().begin.column,
                          (key.empty() ? std::string() : "'" + key + "': ") + what);
    }

    void check_keys(const toml::table& t, const std::string& dotted, const std::string& path, const std::string& last,
                    bool in_function) {
        const bool fo_here = in_function || (t.contains("kind") && !non_function_kind(dotted)) ||
                             (path.size() >= 4 && path.substr(path.size() - 4) == ".wp.*");
        for (auto&& [k, node] : t) {
            const std::string key(k.str());
            const std::string full = dotted.empty() ? key : dotted + "." + key;
            const std::string p = child_path(path, last, key, path == "isolation");
            const bool known = schema_.count(p) || (fo_here && kFunctionFields.count(key));
            if (!known) fail(node, full, "unknown key" + suggestion(path, last, key));
            const std::string sub_last = path == "isolation" || last == "wp" ? "*" : key;
            if (const auto* sub = node.as_table()) {
                check_keys(*sub, full, p, sub_last, fo_here && key == "wp");
            } else if (const auto* arr = node.as_array()) {
                for (auto&& el : *arr)
                    if (const auto* et = el.as_table()) check_keys(*et, full + "[]", p + "[]", key, false);
            }
        }
    }

    std::string suggestion(const std::string& path, const std::string& last, const std::string& key) const {
        std::string best;
        std::size_t best_d = 3;
        const std::string prefix = path.empty() ? "" : path + ".";
        for (const auto& s : schema_) {
            if (s.compare(0, prefix.size(), prefix) != 0) continue;
            const std::string rest = s.substr(prefix.size());
            if (rest.find('.') != std::string::npos || rest.find('[') != std::string::npos) continue;
            const auto d = edit_distance(rest, key);
            if (d < best_d) best_d = d, best = rest;
        }
        (void)last;
        if (best.empty()) {
            for (const auto& f : kFunctionFields) {
                const auto d = edit_distance(f, key);
                if (d < best_d) best_d = d, best = f;
            }
        }
        return best.empty() ? "" : " (did you mean '" + best + "'?)";
    }

    std::vector<double> numbers(const toml::node& n, const std::string& key) const {
        const auto* arr = n.as_array();
        if (!arr) fail(n, key, "expected an array of numbers");
        std::vector<double> out;
        for (auto&& el : *arr) {
            if (auto v = el.value<double>()) out.push_back(*v);
            else fail(el, key, "expected a number");
        }
        return out;
    }

    const toml::node& need(const toml::table& t, const std::string& dotted, const std::string& field) const {
        const auto* n = t.get(field);
        if (!n) fail(t, dotted, "missing required key '" + field + "'");
        return *n;
    }

    void increasing(const toml::node& n, const std::string& key, const std::vector<double>& e) const {
        if (e.size() < 2) fail(n, key, "needs at least two edges");
        for (std::size_t i = 1; i < e.size(); ++i)
            if (!(e[i] > e[i - 1])) fail(n, key, "edges must be strictly increasing (" + fmt(e[i - 1]) + " then " + fmt(e[i]) + ")");
    }

    static std::string fmt(double x) {
        std::ostringstream s;
        s << x;
        return s.str();
    }

    void range(const toml::node& n, const std::string& key, const std::vector<double>& v, bool efficiency) const {
        for (double x : v) {
            if (std::isnan(x)) fail(n, key, "NaN is not allowed");
            if (efficiency && (x < 0 || x > 1)) fail(n, key, "efficiency " + fmt(x) + " outside [0, 1]");
            if (!efficiency && x < 0) fail(n, key, "negative value " + fmt(x));
        }
    }

    // binned values (1-D list or 2-D nested lists) against the binning
    void check_values(const toml::node& n, const std::string& key, std::size_t nx, std::size_t ny, bool eff) const {
        const auto* arr = n.as_array();
        if (!arr) fail(n, key, "expected an array");
        if (ny == 0) {
            const auto v = numbers(n, key);
            if (v.size() != nx)
                fail(n, key, "has " + std::to_string(v.size()) + " values for " + std::to_string(nx) + " bins");
            range(n, key, v, eff);
            return;
        }
        if (arr->size() != nx) fail(n, key, "has " + std::to_string(arr->size()) + " rows for " + std::to_string(nx) + " x bins");
        for (auto&& row : *arr) {
            const auto v = numbers(row, key);
            if (v.size() != ny) fail(row, key, "row has " + std::to_string(v.size()) + " values for " + std::to_string(ny) + " y bins");
            range(row, key, v, eff);
        }
    }

    void check_function(const toml::table& t, const std::string& key, const std::string& last) {
        const auto kind_node = t.get("kind");
        const auto kind = kind_node ? kind_node->value<std::string>() : std::nullopt;
        if (!kind) fail(t, key, "'kind' must be a string");
        auto it = std::find_if(kKinds.begin(), kKinds.end(), [&](auto& k) { return k.first == *kind; });
        if (it == kKinds.end()) {
            std::string known;
            for (auto& k : kKinds) known += (known.empty() ? "" : ", ") + k.first;
            fail(*kind_node, key + ".kind", "unknown function kind '" + *kind + "' (known: " + known + ")");
        }
        for (const auto& req : it->second) {
            const auto bar = req.find('|');
            if (bar == std::string::npos) {
                need(t, key, req);
            } else if (!t.contains(req.substr(0, bar)) && !t.contains(req.substr(bar + 1))) {
                fail(t, key, "needs '" + req.substr(0, bar) + "' or '" + req.substr(bar + 1) + "'");
            }
        }
        const bool eff = kEfficiencyTables.count(last) > 0;
        auto binned_values = [&](std::size_t nx, std::size_t ny) {
            if (const auto* v = t.get("values")) check_values(*v, key + ".values", nx, ny, eff);
            if (const auto* wp = t.get_as<toml::table>("wp"))
                for (auto&& [name, node] : *wp) {
                    const std::string wk = key + ".wp." + std::string(name.str());
                    if (const auto* sub = node.as_table()) check_function(*sub, wk, last);
                    else check_values(node, wk, nx, ny, eff);
                }
        };
        if (*kind == "binned1d" || *kind == "rel_binned" || *kind == "per_prong_binned1d") {
            const auto& en = need(t, key, "edges");
            const auto e = numbers(en, key + ".edges");
            increasing(en, key + ".edges", e);
            if (*kind == "per_prong_binned1d") {
                for (auto&& [name, node] : *t.get_as<toml::table>("wp"))
                    if (const auto* sub = node.as_table())
                        for (const char* prong : {"one_prong", "three_prong"}) {
                            const std::string pk = key + ".wp." + std::string(name.str()) + "." + prong;
                            const auto* vals = sub->get(prong);
                            if (!vals) fail(*sub, pk, "missing required per-prong efficiencies");
                            check_values(*vals, pk, e.size() - 1, 0, true);
                        }
            } else {
                binned_values(e.size() - 1, 0);
            }
        } else if (*kind == "binned2d") {
            const auto& xn = need(t, key, "xedges");
            const auto& yn = need(t, key, "yedges");
            const auto xe = numbers(xn, key + ".xedges"), ye = numbers(yn, key + ".yedges");
            increasing(xn, key + ".xedges", xe);
            increasing(yn, key + ".yedges", ye);
            binned_values(xe.size() - 1, ye.size() - 1);
        } else if (*kind == "piecewise_linear") {
            const auto& xn = need(t, key, "x");
            const auto x = numbers(xn, key + ".x");
            increasing(xn, key + ".x", x);
            const auto& yn = need(t, key, "y");
            const auto y = numbers(yn, key + ".y");
            if (y.size() != x.size()) fail(yn, key + ".y", "needs one value per knot (" + std::to_string(x.size()) + ")");
            range(yn, key + ".y", y, eff);
        } else if (*kind == "expr" || *kind == "expr_sigma") {
            const auto& en = need(t, key, "expr");
            const auto text = en.value<std::string>();
            if (!text) fail(en, key + ".expr", "expected a string");
            try {
                Expression expr(*text, source_ + " " + key + ".expr");
            } catch (const ConfigError& e) {
                fail(en, key + ".expr", e.what());
            }
        } else if (*kind == "wp_tables") {
            for (auto&& [name, node] : *t.get_as<toml::table>("wp")) {
                const auto* sub = node.as_table();
                if (!sub) fail(node, key + ".wp." + std::string(name.str()), "expected a function-object table");
                check_function(*sub, key + ".wp." + std::string(name.str()), last);
            }
        }
    }

    // Walks the card and checks every table that is a function object.
    void check_functions(const toml::table& t, const std::string& dotted, const std::string& last) {
        if (t.contains("kind") && !non_function_kind(dotted)) return check_function(t, dotted, last);
        for (auto&& [k, node] : t)
            if (const auto* sub = node.as_table())
                check_functions(*sub, dotted.empty() ? std::string(k.str()) : dotted + "." + std::string(k.str()),
                                std::string(k.str()));
    }

private:
    const std::string& source_;
    const std::set<std::string>& schema_;
};

void merge_into(toml::table& base, const toml::table& over) {
    for (auto&& [k, node] : over) {
        auto* b = base.get(k);
        if (b && b->is_table() && node.is_table()) {
            merge_into(*b->as_table(), *node.as_table());
        } else {
            base.insert_or_assign(k, node);
        }
    }
}

}  // namespace

struct Card::Impl {
    std::string source;
    std::string base_source;  // the reference card an override extends ("" otherwise)
    toml::table table;
    std::vector<std::string> warnings;
};

Card::Card(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Card::~Card() = default;
Card::Card(Card&&) noexcept = default;
Card& Card::operator=(Card&&) noexcept = default;

Card Card::load(const std::string& path, const std::vector<std::string>& search_dirs) {
    if (!search_dirs.empty()) return parse(read_file(path), path, search_dirs);
    // default: $RECAST_CARDS_PATH, then the card's own directory (where the reference cards live
    // when a bundled card is loaded by path)
    auto dirs = split_dirs({});
    const auto slash = path.find_last_of('/');
    dirs.push_back(slash == std::string::npos ? "." : path.substr(0, slash));
    return parse(read_file(path), path, dirs);
}

Card Card::parse(const std::string& text, const std::string& source, const std::vector<std::string>& search_dirs) {
    const auto dirs = split_dirs(search_dirs);
    toml::table t = parse_toml(text, source);
    Validator v(source, schema_for(dirs));

    const auto* schema = t.get("schema");
    if (!schema) throw ConfigError(source, 1, 1, "missing required key 'schema' (= \"recast_ml/detector-card\")");
    if (schema->value<std::string>() != std::optional<std::string>("recast_ml/detector-card"))
        v.fail(*schema, "schema", "must be \"recast_ml/detector-card\"");
    const auto* version = t.get("schema_version");
    if (!version) throw ConfigError(source, 1, 1, "missing required key 'schema_version' (= 1)");
    if (version->value<std::int64_t>() != std::optional<std::int64_t>(1))
        v.fail(*version, "schema_version", "unsupported schema version (this recast_ml reads version 1)");

    // `extends` is only valid at the root; check keys and function objects of this file.
    std::optional<std::string> extends;
    if (const auto* ex = t.get("extends")) {
        extends = ex->value<std::string>();
        if (!extends) v.fail(*ex, "extends", "expected a profile name");
    }
    v.check_keys(t, "", "", "", false);  // `extends` is in the schema set below
    v.check_functions(t, "", "");

    std::string base_path;
    if (extends) {
        toml::table merged;
        bool found = false;
        for (const char* f : kReferenceCards) {
            const std::string path = find_in(dirs, f);
            toml::table base = parse_toml(read_file(path), path);
            if (base["profile"]["name"].value<std::string>() == extends) {
                merged = std::move(base);
                found = true;
                base_path = path;
                break;
            }
        }
        if (!found) v.fail(*t.get("extends"), "extends", "unknown base profile '" + *extends + "' (known: ATLAS-Run2, CMS-Run2)");
        toml::table over = t;
        over.erase("extends");
        merge_into(merged, over);
        t = std::move(merged);
    } else {
        for (const char* required : {"profile", "conventions", "rng", "truth", "electron", "muon", "photon", "tau", "jet",
                                     "btag", "met"})
            if (!t.contains(required))
                throw ConfigError(source, 1, 1, std::string("missing required table [") + required +
                                                    "] (or use `extends = \"<profile>\"` for an override card)");
        if (!t["profile"]["name"].value<std::string>())
            throw ConfigError(source, 1, 1, "missing required key 'profile.name'");
    }
    // A plain-string expression outside function objects (§10.4).
    if (const auto* res = t["met"]["truth_smeared"]["resolution"].node()) {
        const auto text = res->value<std::string>();
        if (!text) v.fail(*res, "met.truth_smeared.resolution", "expected an expression string");
        try {
            Expression e(*text, source + " met.truth_smeared.resolution");
        } catch (const ConfigError& e) {
            v.fail(*res, "met.truth_smeared.resolution", e.what());
        }
    }
    auto impl = std::make_unique<Impl>();
    impl->source = source;
    impl->base_source = base_path;
    impl->table = std::move(t);
    Card card(std::move(impl));
    card.check_grid();
    return card;
}

const std::string& Card::source() const { return impl_->source; }

std::string Card::profile_name() const { return impl_->table["profile"]["name"].value_or(std::string()); }

std::string Card::to_json() const {
    std::ostringstream s;
    s << toml::json_formatter{impl_->table};
    return s.str();
}

std::string Card::hash() const {
    const std::string j = to_json();
    std::uint64_t h = 1469598103934665603ull;
    for (unsigned char c : j) {
        h ^= c;
        h *= 1099511628211ull;
    }
    char buf[17];
    std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
    return buf;
}

}  // namespace recast::card

// ------------------------------------------------------------------------------------------------
// Function objects
// ------------------------------------------------------------------------------------------------
namespace recast::card {

struct Function::Node {
    std::string kind;
    double value = 0;
    int var = 0, xvar = 0, yvar = 0;
    bool underflow_clamp = false, below_clamp = false;
    std::vector<double> edges, values, xedges, yedges, x, y, one_prong, three_prong;
    std::shared_ptr<Expression> expr;
    struct Region {
        double lo, hi, p0, p1, p2;
    };
    std::vector<Region> regions;
    double sigma_max = 0, start = 0, slope = 0, floor = 0;
    std::shared_ptr<const Node> target;
};

namespace {

using Node = Function::Node;

int bin_of(const std::vector<double>& e, double x, bool underflow_clamp) {
    if (!(x >= e.front())) return (underflow_clamp && !std::isnan(x)) ? 0 : -1;
    const auto it = std::upper_bound(e.begin(), e.end(), x);
    const auto i = static_cast<int>(it - e.begin()) - 1;
    return std::min(i, static_cast<int>(e.size()) - 2);  // overflow: last bin
}

const Node::Region* region_of(const std::vector<Node::Region>& r, double abs_eta) {
    for (const auto& reg : r)
        if (abs_eta >= reg.lo && abs_eta < reg.hi) return &reg;
    if (r.empty()) return nullptr;
    return abs_eta >= r.back().hi ? &r.back() : &r.front();
}

std::vector<double> nums(const toml::node* n) {
    std::vector<double> out;
    if (const auto* a = n ? n->as_array() : nullptr)
        for (auto&& el : *a) out.push_back(el.value<double>().value_or(std::nan("")));
    return out;
}

int var_index(const toml::table& t, const char* field, const std::string& key) {
    const auto name = t[field].value<std::string>();
    const auto& names = var_names();
    for (std::size_t i = 0; i < kNumVars; ++i)
        if (name && *name == names[i]) return static_cast<int>(i);
    const auto* n = t.get(field);
    throw ConfigError("card", n ? n->source().begin.line : 0, n ? n->source().begin.column : 0,
                      "'" + key + "." + field + "': unknown variable '" + name.value_or("") + "'");
}

}  // namespace

double Function::operator()(const Values& v, int prongs) const {
    const Node& n = *node_;
    const double pt = v[static_cast<int>(Var::pt)], abs_eta = v[static_cast<int>(Var::abs_eta)];
    const char k0 = n.kind[0];
    (void)k0;
    if (n.kind == "constant") return n.value;
    if (n.kind == "none") return 1.0;
    if (n.kind == "binned1d" || n.kind == "rel_binned") {
        const int i = bin_of(n.edges, v[n.var], n.underflow_clamp);
        return i < 0 ? 0.0 : n.values[i];
    }
    if (n.kind == "per_prong_binned1d") {
        const int i = bin_of(n.edges, v[n.var], n.underflow_clamp);
        return i < 0 ? 0.0 : (prongs == 1 ? n.one_prong[i] : n.three_prong[i]);
    }
    if (n.kind == "binned2d") {
        const int i = bin_of(n.xedges, v[n.xvar], n.underflow_clamp);
        const int j = bin_of(n.yedges, v[n.yvar], n.underflow_clamp);
        return (i < 0 || j < 0) ? 0.0 : n.values[static_cast<std::size_t>(i) * (n.yedges.size() - 1) + j];
    }
    if (n.kind == "piecewise_linear") {
        const double x = v[n.var];
        if (x < n.x.front()) return n.below_clamp ? n.y.front() : 0.0;
        if (x >= n.x.back()) return n.y.back();
        const auto it = std::upper_bound(n.x.begin(), n.x.end(), x);
        const auto a = static_cast<std::size_t>(it - n.x.begin()) - 1;
        const double t = (x - n.x[a]) / (n.x[a + 1] - n.x[a]);
        return n.y[a] + t * (n.y[a + 1] - n.y[a]);
    }
    if (n.kind == "expr" || n.kind == "expr_sigma") return n.expr->evaluate(v);
    if (n.kind == "calo_nsc") {
        const auto* r = region_of(n.regions, abs_eta);
        const double e = v[static_cast<int>(Var::e)];
        return r ? std::sqrt(r->p0 * r->p0 + r->p1 * r->p1 * e + r->p2 * r->p2 * e * e) : 0.0;
    }
    if (n.kind == "curvature_quad") {
        const auto* r = region_of(n.regions, abs_eta);
        return r ? std::min(n.sigma_max, std::hypot(r->p0, r->p1 * pt)) : n.sigma_max;
    }
    if (n.kind == "linear_decline") return pt <= n.start ? 1.0 : std::max(n.floor, 1.0 - n.slope * (pt - n.start));
    if (n.kind == "same_as") return Function(n.target)(v, prongs);
    return 0.0;
}

const std::string& Function::kind() const { return node_->kind; }

namespace {

const toml::table* table_at(const toml::table& root, const std::string& key) {
    const toml::table* t = &root;
    std::stringstream ss(key);
    std::string seg;
    while (std::getline(ss, seg, '.')) {
        t = t->get_as<toml::table>(seg);
        if (!t) return nullptr;
    }
    return t;
}

std::shared_ptr<const Node> build(const toml::table& root, const toml::table& t, const std::string& key,
                                  const std::string& wp, int depth = 0) {
    if (depth > 4) throw ConfigError(key, 0, 0, "same_as chain too deep");
    auto n = std::make_shared<Node>();
    n->kind = t["kind"].value_or(std::string());
    const auto* wps = t.get_as<toml::table>("wp");
    auto need_wp = [&]() -> const toml::node& {
        if (wp.empty()) throw ConfigError(key, 0, 0, "'" + key + "' has working points: choose one");
        const auto* w = wps ? wps->get(wp) : nullptr;
        if (!w) throw ConfigError(key, 0, 0, "'" + key + "' has no working point '" + wp + "'");
        return *w;
    };
    n->underflow_clamp = t["underflow"].value_or(std::string("zero")) == "clamp";
    if (n->kind == "wp_tables") {
        const auto* sub = need_wp().as_table();
        return build(root, *sub, key + ".wp." + wp, "", depth + 1);
    }
    if (n->kind == "binned1d" || n->kind == "rel_binned" || n->kind == "per_prong_binned1d") {
        n->var = var_index(t, "var", key);
        n->edges = nums(t.get("edges"));
        if (n->kind == "per_prong_binned1d") {
            const auto* sub = need_wp().as_table();
            n->one_prong = nums(sub->get("one_prong"));
            n->three_prong = nums(sub->get("three_prong"));
        } else if (wps && (!wp.empty() || !t.contains("values"))) {
            const auto& w = need_wp();
            if (const auto* sub = w.as_table()) return build(root, *sub, key + ".wp." + wp, "", depth + 1);
            n->values = nums(&w);
        } else {
            n->values = nums(t.get("values"));
        }
    } else if (n->kind == "binned2d") {
        n->xvar = var_index(t, "xvar", key);
        n->yvar = var_index(t, "yvar", key);
        n->xedges = nums(t.get("xedges"));
        n->yedges = nums(t.get("yedges"));
        const toml::node* vals = (wps && (!wp.empty() || !t.contains("values"))) ? &need_wp() : t.get("values");
        if (const auto* rows = vals ? vals->as_array() : nullptr)
            for (auto&& row : *rows) {
                const auto r = nums(&row);
                n->values.insert(n->values.end(), r.begin(), r.end());
            }
    } else if (n->kind == "piecewise_linear") {
        n->var = var_index(t, "var", key);
        n->x = nums(t.get("x"));
        n->y = nums(t.get("y"));
        n->below_clamp = t["below"].value_or(std::string("zero")) == "clamp";
    } else if (n->kind == "expr" || n->kind == "expr_sigma") {
        n->expr = std::make_shared<Expression>(t["expr"].value_or(std::string()), key + ".expr");
    } else if (n->kind == "constant") {
        n->value = t["value"].value_or(0.0);
    } else if (n->kind == "calo_nsc" || n->kind == "curvature_quad") {
        const bool calo = n->kind == "calo_nsc";
        if (const auto* regs = t.get_as<toml::array>("regions"))
            for (auto&& el : *regs) {
                const auto& r = *el.as_table();
                n->regions.push_back({r["abs_eta_min"].value_or(0.0), r["abs_eta_max"].value_or(0.0),
                                      r[calo ? "N" : "a"].value_or(0.0), r[calo ? "S" : "b"].value_or(0.0),
                                      calo ? r["C"].value_or(0.0) : 0.0});
            }
        n->sigma_max = t["sigma_max"].value_or(0.0);
    } else if (n->kind == "linear_decline") {
        n->start = t["start"].value_or(0.0);
        n->slope = t["slope"].value_or(0.0);
        n->floor = t["floor"].value_or(0.0);
    } else if (n->kind == "same_as") {
        const std::string target = t["target"].value_or(std::string()) + ".resolution";
        const auto* tt = table_at(root, target);
        if (!tt) throw ConfigError(key, 0, 0, "'" + key + "': same_as target '" + target + "' does not exist");
        n->target = build(root, *tt, target, "", depth + 1);
    } else if (n->kind != "none") {
        throw ConfigError(key, 0, 0, "'" + key + "' is not a function object");
    }
    return n;
}

}  // namespace

Function Card::function(const std::string& key, const std::string& wp) const {
    const auto* t = table_at(impl_->table, key);
    if (!t || !t->contains("kind")) throw ConfigError(impl_->source, 0, 0, "no function object '" + key + "' in the card");
    try {
        return Function(build(impl_->table, *t, key, wp));
    } catch (const ConfigError& e) {
        throw ConfigError(impl_->source, 0, 0, e.what());
    }
}

std::vector<std::string> Card::working_points(const std::string& key) const { return children(key + ".wp"); }

std::vector<std::string> Card::children(const std::string& key) const {
    const auto* t = table_at(impl_->table, key);
    std::vector<std::pair<std::tuple<int, std::uint32_t, std::uint32_t>, std::string>> order;
    if (t)
        for (auto&& [name, node] : *t) {
            const auto& src = node.source();
            // base-card entries first (card order), then those an override added (§13.5, §13.9);
            // nodes copied in by the merge carry no source region
            const bool from_override = !impl_->base_source.empty() && (!src.path || *src.path != impl_->base_source);
            order.push_back({{from_override ? 1 : 0, src.begin.line, src.begin.column}, std::string(name.str())});
        }
    std::sort(order.begin(), order.end());
    std::vector<std::string> out;
    for (auto& o : order) out.push_back(o.second);
    return out;
}

Efficiency Card::efficiency(const std::string& object, const std::string& wp) const {
    const auto* obj = table_at(impl_->table, object);
    const auto* product = obj ? obj->get_as<toml::array>("efficiency_product") : nullptr;
    if (!product) throw ConfigError(impl_->source, 0, 0, "'" + object + "' has no efficiency_product");
    std::vector<Function> factors;
    for (auto&& comp : *product) {
        const std::string key = object + "." + comp.value_or(std::string());
        const auto* t = table_at(impl_->table, key);
        const bool has_wp = t && (t->contains("wp") || (*t)["kind"].value_or(std::string()) == "wp_tables");
        factors.push_back(function(key, has_wp ? wp : ""));
    }
    return Efficiency(std::move(factors));
}

const std::vector<std::string>& Card::warnings() const { return impl_->warnings; }

namespace {
const toml::node* node_at(const toml::table& root, const std::string& key) {
    const auto dot = key.rfind('.');
    const toml::table* t = dot == std::string::npos ? &root : table_at(root, key.substr(0, dot));
    return t ? t->get(dot == std::string::npos ? key : key.substr(dot + 1)) : nullptr;
}
}  // namespace

double Card::number(const std::string& key, double fallback) const {
    const auto* n = node_at(impl_->table, key);
    if (!n) return fallback;
    if (auto v = n->value<double>()) return *v;
    throw ConfigError(impl_->source, n->source().begin.line, n->source().begin.column, "'" + key + "': expected a number");
}

bool Card::boolean(const std::string& key, bool fallback) const {
    const auto* n = node_at(impl_->table, key);
    if (!n) return fallback;
    if (auto v = n->value<bool>()) return *v;
    throw ConfigError(impl_->source, n->source().begin.line, n->source().begin.column, "'" + key + "': expected true or false");
}

std::string Card::string(const std::string& key, const std::string& fallback) const {
    const auto* n = node_at(impl_->table, key);
    if (!n) return fallback;
    if (auto v = n->value<std::string>()) return *v;
    throw ConfigError(impl_->source, n->source().begin.line, n->source().begin.column, "'" + key + "': expected a string");
}

std::vector<double> Card::numbers(const std::string& key) const { return nums(node_at(impl_->table, key)); }

bool Card::has(const std::string& key) const { return node_at(impl_->table, key) != nullptr; }

std::vector<std::string> Card::strings(const std::string& key) const {
    std::vector<std::string> out;
    if (const auto* a = node_at(impl_->table, key) ? node_at(impl_->table, key)->as_array() : nullptr)
        for (auto&& el : *a) out.push_back(el.value_or(std::string()));
    return out;
}

std::vector<std::vector<std::string>> Card::string_lists(const std::string& key) const {
    std::vector<std::vector<std::string>> out;
    if (const auto* a = node_at(impl_->table, key) ? node_at(impl_->table, key)->as_array() : nullptr)
        for (auto&& el : *a) {
            out.emplace_back();
            if (const auto* inner = el.as_array())
                for (auto&& s : *inner) out.back().push_back(s.value_or(std::string()));
        }
    return out;
}

void Card::check_grid() {
    static const double kPt[] = {3.2, 4.8, 6.5, 8, 12, 18, 22, 27, 33, 45, 55, 70, 90, 150, 300, 700, 1500, 3000};
    static const double kEta[] = {0.05, 0.5, 1.0, 1.45, 1.55, 1.9, 2.2, 2.4};
    auto kin = [](double pt, double ae) {
        Values v{};
        v[static_cast<int>(Var::pt)] = pt;
        v[static_cast<int>(Var::et)] = pt;
        v[static_cast<int>(Var::e)] = pt * std::cosh(ae);
        v[static_cast<int>(Var::eta)] = ae;
        v[static_cast<int>(Var::abs_eta)] = ae;
        v[static_cast<int>(Var::set)] = 10 * pt;
        v[static_cast<int>(Var::met)] = pt;
        return v;
    };
    for (const char* object : {"electron", "muon", "photon"}) {
        const auto* id = table_at(impl_->table, std::string(object) + ".id");
        if (!id) continue;
        std::vector<std::vector<std::string>> families;
        if (const auto* fams = id->get_as<toml::array>("nested_families")) {
            for (auto&& f : *fams) {
                std::vector<std::string> fam;
                if (const auto* a = f.as_array())
                    for (auto&& w : *a) fam.push_back(w.value_or(std::string()));
                families.push_back(fam);
            }
        } else if (const auto* nested = id->get_as<toml::array>("nested")) {
            std::vector<std::string> fam;
            for (auto&& w : *nested) fam.push_back(w.value_or(std::string()));
            families.push_back(fam);
        }
        for (const auto& fam : families)
            for (std::size_t k = 0; k + 1 < fam.size(); ++k) {
                const Efficiency eff_loose = efficiency(object, fam[k]), eff_tight = efficiency(object, fam[k + 1]);
                for (double pt : kPt)
                    for (double ae : kEta) {
                        const auto v = kin(pt, ae);
                        const double loose = eff_loose(v), tight = eff_tight(v);
                        if (tight > loose + 1e-12) {
                            std::ostringstream msg;
                            msg << object << ": working point " << fam[k + 1] << " (" << tight << ") above "
                                << fam[k] << " (" << loose << ") at pT=" << pt << " |eta|=" << ae
                                << "; the emulator uses min(tight, loose) (section 3.2)";
                            impl_->warnings.push_back(msg.str());
                        }
                    }
            }
    }
    // expressions give finite numbers on the grid (§13.8 (4))
    std::vector<std::pair<std::string, const toml::table*>> stack{{"", &impl_->table}};
    while (!stack.empty()) {
        auto [key, t] = stack.back();
        stack.pop_back();
        const auto kind = (*t)["kind"].value_or(std::string());
        if (kind == "expr" || kind == "expr_sigma") {
            Expression e((*t)["expr"].value_or(std::string()), key);
            for (double pt : kPt)
                for (double ae : kEta)
                    if (!std::isfinite(e.evaluate(kin(pt, ae))))
                        throw ConfigError(impl_->source, (*t)["expr"].node()->source().begin.line, 0,
                                          "'" + key + ".expr' is not finite at pT=" + Validator::fmt(pt) +
                                              " |eta|=" + Validator::fmt(ae));
        }
        for (auto&& [k, node] : *t)
            if (const auto* sub = node.as_table()) stack.push_back({key.empty() ? std::string(k.str()) : key + "." + std::string(k.str()), sub});
    }
}

}  // namespace recast::card
