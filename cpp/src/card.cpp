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
    toml::table table;
};

Card::Card(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Card::~Card() = default;
Card::Card(Card&&) noexcept = default;
Card& Card::operator=(Card&&) noexcept = default;

Card Card::load(const std::string& path, const std::vector<std::string>& search_dirs) {
    return parse(read_file(path), path, search_dirs);
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

    if (extends) {
        toml::table merged;
        bool found = false;
        for (const char* f : kReferenceCards) {
            const std::string path = find_in(dirs, f);
            toml::table base = parse_toml(read_file(path), path);
            if (base["profile"]["name"].value<std::string>() == extends) {
                merged = std::move(base);
                found = true;
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
    auto impl = std::make_unique<Impl>();
    impl->source = source;
    impl->table = std::move(t);
    return Card(std::move(impl));
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
