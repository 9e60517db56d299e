// Detector-card loading and validation; see recast/card.hpp.
#define TOML_HEADER_ONLY 1
#define TOML_EXCEPTIONS 1
#include <toml++/toml.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <map>
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

// The message of a ConfigError without its "where:line:column: " prefix.
std::string bare_message(const ConfigError& e) {
    std::string prefix = e.where();
    if (e.line() > 0) prefix += ":" + std::to_string(e.line());
    if (e.column() > 0) prefix += ":" + std::to_string(e.column());
    prefix += ": ";
    const std::string all = e.what();
    return all.compare(0, prefix.size(), prefix) == 0 ? all.substr(prefix.size()) : all;
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

    // The file a node comes from (a merged override card holds nodes of two files).
    const std::string& file_of(const toml::node& n) const { return n.source().path ? *n.source().path : source_; }

    [[noreturn]] void fail(const toml::node& n, const std::string& key, const std::string& what) const {
        throw ConfigError(file_of(n), n.source().begin.line, n.source().begin.column,
                          (key.empty() ? std::string() : "'" + key + "': ") + what);
    }

    // An expression error (column within the expression) placed at its column in the card file.
    [[noreturn]] void fail_expression(const toml::node& n, const std::string& key, const ConfigError& e) const {
        const auto col = n.source().begin.column + std::max<std::int64_t>(e.column(), 1);
        throw ConfigError(file_of(n), n.source().begin.line, col, "'" + key + "': " + bare_message(e));
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
            if (!std::isfinite(x)) fail(n, key, "expected a finite number, got " + fmt(x));
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
        check_function_fields(t, key, *kind, eff);
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
                Expression expr(*text, key + ".expr");
            } catch (const ConfigError& e) {
                fail_expression(en, key + ".expr", e);
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

    // ---- scalar keys (§13.2; §13.8 (1)-(3)): the type and range of every value outside the
    // function objects, the choices of every string, and the cross references (working points,
    // efficiency_product, ...). Every key of the reference cards has a rule here; a key without
    // one is reported rather than ignored.
    struct Rule {
        enum Type { Number, Integer, Boolean, String, Strings, Integers, StringLists } type = Number;
        double lo = -std::numeric_limits<double>::infinity(), hi = std::numeric_limits<double>::infinity();
        bool lo_open = false;  // lo < x instead of lo <= x
        bool finite = true;    // inf is not allowed
        std::vector<std::string> choices;  // strings (and string lists): the allowed values
    };

    static const std::map<std::string, Rule>& scalar_rules() {
        static const std::map<std::string, Rule> rules = [] {
            using T = Rule::Type;
            const double inf = std::numeric_limits<double>::infinity();
            auto num = [](double lo, double hi) { Rule r; r.lo = lo, r.hi = hi; return r; };
            auto ge0 = [&] { return num(0, inf); };                                 // finite, >= 0
            auto eff = [&] { return num(0, 1); };                                   // [0, 1]
            auto eta_max = [&] { Rule r = num(0, inf); r.lo_open = true, r.finite = false; return r; };  // > 0, inf = no cut
            auto positive = [&] { Rule r = num(0, inf); r.lo_open = true; return r; };
            auto typed = [](T t) { Rule r; r.type = t; return r; };
            auto one_of = [](std::vector<std::string> c) { Rule r; r.type = T::String; r.choices = std::move(c); return r; };
            auto flag = [](std::vector<std::string> c) { Rule r; r.type = T::Boolean; r.choices = std::move(c); return r; };
            std::map<std::string, Rule> m;
            m["schema"] = one_of({"recast_ml/detector-card"});
            m["schema_version"] = typed(T::Integer);
            m["extends"] = typed(T::String);
            m["profile.name"] = typed(T::String);
            for (const char* k : {"profile.experiment", "profile.run", "profile.description"}) m[k] = typed(T::String);
            m["profile.sqrt_s_TeV"] = positive();
            m["conventions.momentum_unit"] = one_of({"GeV"});
            m["conventions.bin_convention"] = one_of({"lower_inclusive"});
            m["conventions.underflow"] = one_of({"zero"});
            m["conventions.overflow"] = one_of({"clamp"});
            m["conventions.efficiency_evaluated_on"] = one_of({"truth"});
            m["conventions.cap_efficiency_at_one"] = flag({"true"});
            m["rng.generator"] = one_of({"philox4x32-10"});
            m["rng.run_seed"] = typed(T::Integer);
            m["rng.run_seed"].lo = 0;
            m["rng.event_key"] = one_of({"ordinal"});
            m["truth.final_state_abs_eta_max"] = eta_max();
            m["truth.invisible_rule"] = one_of({"list_and_auto", "list"});
            m["truth.invisible_pdg_ids"] = typed(T::Integers);
            m["truth.prompt.definition"] = one_of({"no_hadron_ancestor"});
            m["truth.prompt.allow_from_tau"] = typed(T::Boolean);
            m["truth.prompt.allow_from_muon"] = typed(T::Boolean);
            m["truth.dressing.dr"] = ge0();
            m["truth.dressing.apply_to"] = typed(T::Strings);
            m["truth.dressing.apply_to"].choices = {"electron", "muon"};
            m["truth.dressing.photon_source"] = one_of({"prompt"});
            m["truth.dressing.remove_dressing_photons_from_photon_list"] = typed(T::Boolean);
            m["truth.hadronic_tau.require_prompt"] = typed(T::Boolean);
            m["truth.hadronic_tau.visible_momentum"] = one_of({"sum_visible_descendants"});
            m["truth.hadronic_tau.prong_particle_pt_min"] = num(0, 0);  // prongs count every charged descendant
            m["truth.heavy_flavour.hadron_definition"] = one_of({"weakly_decaying"});
            m["truth.heavy_flavour.parton_fallback"] = typed(T::Boolean);
            m["isolation.*.kind"] = one_of({"track", "calo", "pf"});
            m["isolation.*.cone"] = one_of({"fixed", "variable"});
            for (const char* k : {"isolation.*.r", "isolation.*.r_max", "isolation.*.r_min", "isolation.*.k_GeV",
                                  "isolation.*.particle_pt_min"})
                m[k] = ge0();
            m["isolation.*.particle_abs_eta_max"] = eta_max();
            m["isolation.*.relative"] = typed(T::Boolean);
            m["isolation.*.exclude_abs_pdg"] = typed(T::Integers);
            for (const std::string o : {"electron", "muon", "photon", "tau"}) {
                if (o != "tau") m[o + ".candidates"] = one_of({"prompt", "all"});
                if (o != "tau") m[o + ".efficiency_product"] = typed(T::Strings);
                m[o + ".pt_min"] = ge0();
                m[o + ".abs_eta_max"] = eta_max();
                m[o + ".crack.abs_eta_min"] = ge0();
                m[o + ".crack.abs_eta_max"] = ge0();
                m[o + ".crack.policy"] = one_of({"keep", "drop"});
                m[o + ".default_wp"] = typed(T::String);
            }
            m["electron.fake_from_jet.enabled"] = typed(T::Boolean);
            m["electron.fake_from_jet.rate"] = eff();
            m["tau.prongs_allowed"] = typed(T::Integers);
            m["tau.prongs_allowed"].lo = 1;
            m["tau.nested"] = typed(T::Strings);
            m["tau.fake_from_jet.enabled"] = typed(T::Boolean);
            m["tau.fake_from_jet.mode"] = one_of({"track_count", "any_jet"});
            m["tau.fake_from_jet.track_dr"] = ge0();
            m["tau.fake_from_jet.track_pt_min"] = ge0();
            m["tau.fake_from_jet.track_abs_eta_max"] = eta_max();
            m["tau.fake_from_jet.jet_pt_min"] = ge0();
            for (const char* k : {"one_track", "three_track", "any"}) m[std::string("tau.fake_from_jet.wp.*.") + k] = eff();
            m["jet.algorithm"] = one_of({"antikt"});
            m["jet.R"] = positive();
            m["jet.truth_pt_min"] = ge0();
            m["jet.reco_pt_min"] = ge0();
            m["jet.abs_eta_max"] = eta_max();
            m["jet.inputs.mode"] = one_of({"inclusive", "exclusive"});
            m["jet.inputs.exclude_abs_pdg"] = typed(T::Integers);
            m["jet.inputs.exclude_invisible"] = flag({"true"});
            m["jet.inputs.abs_eta_max"] = eta_max();
            m["jet.jvt.enabled"] = typed(T::Boolean);
            m["jet.jvt.pt_min"] = ge0();
            m["jet.jvt.pt_max"] = num(0, inf);
            m["jet.jvt.pt_max"].finite = false;
            m["jet.jvt.abs_eta_max"] = eta_max();
            m["jet.jvt.efficiency"] = eff();
            m["jet.track_count.particle_pt_min"] = ge0();
            m["jet.track_count.particle_abs_eta_max"] = eta_max();
            m["large_r_jet.enabled"] = typed(T::Boolean);
            m["large_r_jet.algorithm"] = one_of({"antikt"});
            m["large_r_jet.R"] = positive();
            m["large_r_jet.grooming.kind"] = one_of({"trimming", "softdrop", "none"});
            m["large_r_jet.grooming.r_sub"] = positive();
            m["large_r_jet.grooming.f_cut"] = eff();
            m["large_r_jet.grooming.beta"] = ge0();
            m["large_r_jet.grooming.z_cut"] = eff();
            m["large_r_jet.grooming.R0"] = positive();
            m["large_r_jet.truth_pt_min"] = ge0();
            m["large_r_jet.abs_eta_max"] = eta_max();
            m["large_r_jet.pt_resolution"] = ge0();
            m["large_r_jet.mass_resolution"] = ge0();
            m["large_r_jet.boson_label_dr"] = ge0();
            m["btag.label_scheme"] = one_of({"cone_exclusive", "ghost"});
            m["btag.label_dr"] = ge0();
            m["btag.label_hadron_pt_min"] = ge0();
            m["btag.label_priority"] = typed(T::Strings);
            m["btag.abs_eta_max"] = eta_max();
            m["btag.jet_pt_min"] = ge0();
            m["btag.default_wp"] = typed(T::String);
            m["btag.nested_families"] = typed(T::StringLists);
            for (const char* f : {"b", "c", "tau", "light"}) {
                m[std::string("btag.wp.*.eff_") + f] = eff();
                Rule rej = num(1, inf);  // efficiency = 1 / rejection; inf: never tagged
                rej.finite = false;
                if (std::string(f) != "b") m[std::string("btag.wp.*.rej_") + f] = rej;
            }
            m["met.mode"] = one_of({"object_based", "truth_smeared"});
            m["met.visible_abs_eta_max"] = eta_max();
            m["met.hard_jet_pt_min"] = ge0();
            m["met.hard_jet_abs_eta_max"] = eta_max();
            m["met.hard_objects"] = typed(T::Strings);
            m["met.hard_objects"].choices = {"electron", "photon", "muon", "tau", "jet"};
            m["met.object_wp"] = one_of({"loosest"});
            m["met.jet_object_overlap_dr"] = ge0();
            m["met.soft_term.kind"] = one_of({"track", "pf_unclustered"});
            m["met.soft_term.particle_pt_min"] = ge0();
            m["met.soft_term.particle_abs_eta_max"] = eta_max();
            m["met.soft_term.noise_sigma_xy"] = ge0();
            m["met.soft_term.response"] = ge0();
            m["met.truth_smeared.sumet_definition"] = one_of({"scalar_sum_visible_pt"});
            m["met.truth_smeared.resolution"] = typed(T::String);
            m["met.truth_smeared.apply_linearity"] = flag({"false"});
            return m;
        }();
        return rules;
    }

    static std::string join(const std::vector<std::string>& v, const char* sep = ", ") {
        std::string s;
        for (const auto& x : v) s += (s.empty() ? "" : sep) + x;
        return s;
    }

    // Checks one value against its rule.
    void check_value(const toml::node& n, const std::string& key, const Rule& r) const {
        using T = Rule::Type;
        auto number = [&](const toml::node& x) {
            if (x.is_boolean() || !(x.is_floating_point() || x.is_integer())) fail(x, key, "expected a number");
            const double v = *x.value<double>();
            if (std::isnan(v)) fail(x, key, "expected a number, got nan");
            if (r.finite && std::isinf(v)) fail(x, key, "expected a finite number, got " + fmt(v));
            const bool below = r.lo_open ? !(v > r.lo) : !(v >= r.lo);
            if (below || v > r.hi) {
                std::string want;
                if (r.lo == r.hi) want = "only " + fmt(r.lo) + " is supported";
                else if (std::isinf(r.hi)) want = std::string("expected a number ") + (r.lo_open ? "> " : ">= ") + fmt(r.lo);
                else want = "expected a number in [" + fmt(r.lo) + ", " + fmt(r.hi) + "]";
                fail(x, key, want + ", got " + fmt(v));
            }
        };
        auto integer = [&](const toml::node& x) {
            if (!x.is_integer()) fail(x, key, "expected an integer");
            const auto v = *x.value<std::int64_t>();
            if (static_cast<double>(v) < r.lo) fail(x, key, "expected an integer >= " + fmt(r.lo) + ", got " + std::to_string(v));
        };
        auto string = [&](const toml::node& x) {
            if (!x.is_string()) fail(x, key, "expected a string");
            const auto s = *x.value<std::string>();
            if (!r.choices.empty() && std::find(r.choices.begin(), r.choices.end(), s) == r.choices.end())
                fail(x, key, r.choices.size() == 1 ? "only \"" + r.choices[0] + "\" is supported, got \"" + s + "\""
                                                   : "expected one of " + join(r.choices) + ", got \"" + s + "\"");
        };
        auto array = [&]() -> const toml::array& {
            const auto* a = n.as_array();
            if (!a) fail(n, key, "expected an array");
            return *a;
        };
        switch (r.type) {
            case T::Number: return number(n);
            case T::Integer: return integer(n);
            case T::Boolean: {
                if (!n.is_boolean()) fail(n, key, "expected true or false");
                const std::string v = *n.value<bool>() ? "true" : "false";
                if (!r.choices.empty() && v != r.choices[0]) fail(n, key, "only " + r.choices[0] + " is supported");
                return;
            }
            case T::String: return string(n);
            case T::Strings:
                for (auto&& el : array()) string(el);
                return;
            case T::Integers:
                for (auto&& el : array()) integer(el);
                return;
            case T::StringLists:
                for (auto&& el : array()) {
                    const auto* inner = el.as_array();
                    if (!inner) fail(el, key, "expected an array of string arrays");
                    for (auto&& s : *inner) string(s);
                }
                return;
        }
    }

    // Walks the tables outside function objects; every leaf needs a rule.
    void check_scalars(const toml::table& t, const std::string& dotted, const std::string& path, const std::string& last) {
        for (auto&& [k, node] : t) {
            const std::string key(k.str());
            const std::string full = dotted.empty() ? key : dotted + "." + key;
            const std::string p = child_path(path, last, key, path == "isolation");
            if (const auto* sub = node.as_table()) {
                if (sub->contains("kind") && !non_function_kind(full)) continue;  // check_function
                check_scalars(*sub, full, p, path == "isolation" || last == "wp" ? "*" : key);
                continue;
            }
            if (key == "source") {  // free text, preserved in provenance (§13.2)
                if (!node.is_string()) fail(node, full, "expected a string");
                continue;
            }
            const auto& rules = scalar_rules();
            const auto it = rules.find(p);
            if (it == rules.end()) fail(node, full, "key without a validation rule (not supported by this recast_ml)");
            check_value(node, full, it->second);
        }
    }

    static const toml::node* find(const toml::table& root, const std::string& dotted) {
        const toml::node* n = &root;
        std::size_t a = 0;
        while (n && a <= dotted.size()) {
            const auto b = std::min(dotted.find('.', a), dotted.size());
            const auto* t = n->as_table();
            n = t ? t->get(dotted.substr(a, b - a)) : nullptr;
            a = b + 1;
        }
        return n;
    }

    static std::vector<std::string> names_in(const toml::node* n) {
        std::vector<std::string> out;
        if (const auto* t = n ? n->as_table() : nullptr)
            for (auto&& [k, v] : *t) out.emplace_back(k.str());
        return out;
    }

    void names_known(const toml::node* n, const std::string& key, const std::vector<std::string>& known,
                     const std::string& what) const {
        if (!n) return;
        auto one = [&](const toml::node& x) {
            const auto s = x.value<std::string>();
            if (s && std::find(known.begin(), known.end(), *s) == known.end())
                fail(x, key, "'" + *s + "' names no " + what + " (known: " + join(known) + ")");
        };
        if (const auto* a = n->as_array()) {
            for (auto&& el : *a) {
                if (const auto* inner = el.as_array()) for (auto&& s : *inner) one(s);
                else one(el);
            }
        } else {
            one(*n);
        }
    }

    // The reference card an override extends ("" otherwise): its keys cannot be removed by the
    // override, so a switch the override flips does not make them errors.
    std::string base_path_;
    void set_base(const std::string& path) { base_path_ = path; }
    bool inherited(const toml::node& n) const {
        if (base_path_.empty()) return false;
        if (const auto* t = n.as_table(); t && !t->empty()) {  // a merged table: all its values from the base
            for (auto&& [k, v] : *t)
                if (!inherited(v)) return false;
            return true;
        }
        return n.source().path && *n.source().path == base_path_;
    }

    // Where a (merged) value was written: its first value from the override, else itself.
    const toml::node& own(const toml::node& n) const {
        if (const auto* t = n.as_table())
            for (auto&& [k, v] : *t)
                if (!inherited(v)) return own(v);
        return n;
    }

    // Keys that only one setting of a switch reads: the other settings reject them (never ignore),
    // unless they come from the base card of an override.
    void exclusive(const toml::table& t, const std::string& dotted, const std::string& setting,
                   const std::vector<std::string>& needed, const std::vector<std::string>& refused) const {
        for (const auto& k : needed)
            if (!t.contains(k)) fail(t, dotted, "missing required key '" + k + "' (" + setting + ")");
        for (const auto& k : refused)
            if (const auto* n = t.get(k); n && !inherited(*n)) fail(own(*n), dotted + "." + k, "not used with " + setting);
    }

    // Cross references and switch-dependent keys of the (merged) card.
    void check_references(const toml::table& root) const {
        for (const std::string o : {"electron", "muon", "photon", "tau"}) {
            const auto* obj = root.get_as<toml::table>(o);
            if (!obj) continue;
            const auto wps = names_in(find(root, o + ".id.wp"));
            names_known(obj->get("default_wp"), o + ".default_wp", wps, "working point of " + o + ".id");
            if (o == "tau") names_known(obj->get("nested"), "tau.nested", wps, "working point of tau.id");
            if (const auto* product = obj->get_as<toml::array>("efficiency_product"))
                for (auto&& el : *product) {
                    const auto name = el.value_or(std::string());
                    const auto* fn = obj->get_as<toml::table>(name);
                    if (!fn || !fn->contains("kind"))
                        fail(el, o + ".efficiency_product", "'" + name + "' is not a function object of [" + o + "]");
                }
            if (const auto* crack = obj->get_as<toml::table>("crack")) {
                const double lo = (*crack)["abs_eta_min"].value_or(0.0), hi = (*crack)["abs_eta_max"].value_or(0.0);
                exclusive(*crack, o + ".crack", "a crack", {"abs_eta_min", "abs_eta_max", "policy"}, {});
                if (!(lo < hi)) fail(*crack, o + ".crack", "abs_eta_min must be below abs_eta_max");
            }
        }
        if (const auto* fake = find(root, "tau.fake_from_jet") ? find(root, "tau.fake_from_jet")->as_table() : nullptr) {
            const auto wps = names_in(find(root, "tau.id.wp"));
            const bool any_jet = (*fake)["mode"].value_or(std::string("track_count")) == "any_jet";
            const std::vector<std::string> tracks = {"track_dr", "track_pt_min", "track_abs_eta_max"};
            exclusive(*fake, "tau.fake_from_jet", any_jet ? "mode = \"any_jet\"" : "mode = \"track_count\"", {},
                      any_jet ? tracks : std::vector<std::string>{});
            if (const auto* wp = fake->get_as<toml::table>("wp"))
                for (auto&& [name, node] : *wp) {
                    const std::string k = "tau.fake_from_jet.wp." + std::string(name.str());
                    if (std::find(wps.begin(), wps.end(), std::string(name.str())) == wps.end())
                        fail(node, k, "names no working point of tau.id (known: " + join(wps) + ")");
                    const auto* rates = node.as_table();
                    if (!rates) fail(node, k, "expected a table of rates");
                    exclusive(*rates, k, any_jet ? "mode = \"any_jet\"" : "mode = \"track_count\"",
                              any_jet ? std::vector<std::string>{"any"} : std::vector<std::string>{"one_track", "three_track"},
                              any_jet ? std::vector<std::string>{"one_track", "three_track"} : std::vector<std::string>{"any"});
                }
        }
        if (const auto* btag = root.get_as<toml::table>("btag")) {
            const auto wps = names_in(btag->get("wp"));
            names_known(btag->get("default_wp"), "btag.default_wp", wps, "b-tagging working point");
            names_known(btag->get("nested_families"), "btag.nested_families", wps, "b-tagging working point");
            const bool ghost = (*btag)["label_scheme"].value_or(std::string("cone_exclusive")) == "ghost";
            // the labelling of §9.1: b before c before tau before light; the ghost scheme has no tau label
            const std::vector<std::string> order = ghost ? std::vector<std::string>{"b", "c", "light"}
                                                         : std::vector<std::string>{"b", "c", "tau", "light"};
            if (const auto* pr = btag->get("label_priority")) {
                std::vector<std::string> got;
                if (const auto* a = pr->as_array())
                    for (auto&& s : *a) got.push_back(s.value_or(std::string()));
                if (got != order)
                    fail(*pr, "btag.label_priority", "the " + std::string(ghost ? "ghost" : "cone_exclusive") +
                                                         " labelling implements [" + join(order) + "] only");
            }
            if (const auto* wp = btag->get_as<toml::table>("wp"))
                for (auto&& [name, node] : *wp) {
                    const std::string k = "btag.wp." + std::string(name.str());
                    const auto* w = node.as_table();
                    if (!w) fail(node, k, "expected a working-point table");
                    if (!w->contains("eff_b")) fail(*w, k, "missing required key 'eff_b'");
                    for (const std::string f : {"c", "tau", "light"}) {
                        const bool e = w->contains("eff_" + f), r = w->contains("rej_" + f);
                        // eff_ wins over rej_; both are allowed only when an override's eff_ replaces a base rej_
                        if (e && r && !(inherited(*w->get("rej_" + f)) && !inherited(*w->get("eff_" + f))))
                            fail(*w->get("rej_" + f), k + ".rej_" + f, "give eff_" + f + " or rej_" + f + ", not both");
                        if (!e && !r && !(f == "tau" && ghost))
                            fail(*w, k, "missing required key 'eff_" + f + "' or 'rej_" + f + "'");
                    }
                }
        }
        if (const auto* soft = find(root, "met.soft_term") ? find(root, "met.soft_term")->as_table() : nullptr) {
            const bool track = (*soft)["kind"].value_or(std::string("track")) == "track";
            exclusive(*soft, "met.soft_term", track ? "kind = \"track\"" : "kind = \"pf_unclustered\"", {},
                      {track ? "response" : "track_efficiency"});
        }
        if (const auto* hard = find(root, "met.hard_objects")) {
            std::set<std::string> got;
            if (const auto* a = hard->as_array())
                for (auto&& s : *a) got.insert(s.value_or(std::string()));
            if (got != std::set<std::string>{"electron", "photon", "muon", "tau", "jet"})
                fail(*hard, "met.hard_objects", "this recast_ml counts all of electron, photon, muon, tau and jet (section 10.3)");
        }
        if (const auto* iso = root.get_as<toml::table>("isolation"))
            for (auto&& [name, node] : *iso) {
                const auto* t = node.as_table();
                const std::string k = "isolation." + std::string(name.str());
                if (!t) fail(node, k, "expected a table");
                const bool variable = (*t)["cone"].value_or(std::string("fixed")) == "variable";
                exclusive(*t, k, variable ? "cone = \"variable\"" : "cone = \"fixed\"",
                          variable ? std::vector<std::string>{"r_max", "k_GeV"} : std::vector<std::string>{"r"},
                          variable ? std::vector<std::string>{"r"} : std::vector<std::string>{"r_max", "r_min", "k_GeV"});
            }
        if (const auto* g = find(root, "large_r_jet.grooming") ? find(root, "large_r_jet.grooming")->as_table() : nullptr) {
            const auto kind = (*g)["kind"].value_or(std::string("none"));
            const std::vector<std::string> trim = {"r_sub", "f_cut"}, sd = {"beta", "z_cut", "R0"};
            std::vector<std::string> refused = kind == "trimming" ? sd : kind == "softdrop" ? trim : sd;
            if (kind == "none") refused.insert(refused.end(), trim.begin(), trim.end());
            exclusive(*g, "large_r_jet.grooming", "grooming kind \"" + kind + "\"",
                      kind == "trimming" ? trim : kind == "softdrop" ? std::vector<std::string>{"beta", "z_cut"}
                                                                     : std::vector<std::string>{},
                      refused);
        }
    }

    const toml::table* root_ = nullptr;  // the (merged) card, for same_as targets
    void set_root(const toml::table& root) { root_ = &root; }

    // The scalar fields of a function object (§13.3).
    void check_function_fields(const toml::table& t, const std::string& key, const std::string& kind, bool eff) const {
        using T = Rule::Type;
        auto field = [&](const char* f, Rule r) {
            if (const auto* n = t.get(f)) check_value(*n, key + "." + f, r);
        };
        auto num = [](double lo, double hi, bool finite = true) { Rule r; r.lo = lo, r.hi = hi, r.finite = finite; return r; };
        auto one_of = [](std::vector<std::string> c) { Rule r; r.type = T::String; r.choices = std::move(c); return r; };
        const double inf = std::numeric_limits<double>::infinity();
        field("value", eff ? num(0, 1) : num(-inf, inf));
        if (const auto* n = t.get("enabled")) {
            Rule r;
            r.type = T::Boolean;
            check_value(*n, key + ".enabled", r);
            if (*n->value<bool>() && key.size() >= 14 && key.compare(key.size() - 14, 14, ".isolation_map") == 0)
                fail(*n, key + ".enabled", "isolation-efficiency maps are not implemented (section 2.8: truth isolation "
                                           "variables are computed); only false is supported");
        }
        field("underflow", one_of({"zero", "clamp"}));
        field("overflow", one_of({"clamp"}));
        field("below", one_of({"zero", "clamp"}));
        field("above", one_of({"clamp"}));
        for (const char* v : {"var", "xvar", "yvar"}) {
            std::vector<std::string> names;
            for (const char* n : var_names()) names.emplace_back(n);
            field(v, one_of(names));
        }
        if (const auto* n = t.get("smear")) {
            const std::string object = key.substr(0, key.find('.'));
            const std::string want = object == "jet" ? "three_momentum_scale" : "energy";
            check_value(*n, key + ".smear", one_of({want}));
        }
        field("sigma_max", num(0, inf));
        field("start", num(0, inf));
        field("slope", num(0, inf));
        field("floor", num(0, 1));
        if (const auto* n = t.get("applies_to")) {
            Rule r = one_of({"b", "c", "tau", "light"});
            r.type = T::Strings;
            check_value(*n, key + ".applies_to", r);
        }
        if (const auto* n = t.get("target")) {
            check_value(*n, key + ".target", one_of({}));
            const std::string target = *n->value<std::string>() + ".resolution";
            const auto* tt = root_ ? find(*root_, target) : nullptr;
            if (root_ && !(tt && tt->is_table() && tt->as_table()->contains("kind")))
                fail(*n, key + ".target", "'" + target + "' is not a resolution function object");
            if (tt && (*tt->as_table())["kind"].value_or(std::string()) == "same_as")
                fail(*n, key + ".target", "'" + target + "' is itself same_as");
        }
        if (const auto* regs = t.get("regions")) {
            const auto* arr = regs->as_array();
            if (!arr || arr->empty()) fail(*regs, key + ".regions", "expected a non-empty array of tables");
            const bool calo = kind == "calo_nsc";
            const std::vector<std::string> params = calo ? std::vector<std::string>{"N", "S", "C"} : std::vector<std::string>{"a", "b"};
            double previous_hi = 0.0;
            for (auto&& el : *arr) {
                const auto* r = el.as_table();
                if (!r) fail(el, key + ".regions", "expected a table {abs_eta_min, abs_eta_max, ...}");
                std::vector<std::string> need = {"abs_eta_min", "abs_eta_max"};
                need.insert(need.end(), params.begin(), params.end());
                for (const auto& p : need) {
                    const auto* v = r->get(p);
                    if (!v) fail(*r, key + ".regions", "missing required key '" + p + "'");
                    check_value(*v, key + ".regions[]." + p, num(0, inf, p != "abs_eta_max"));
                }
                for (auto&& [k, v] : *r)
                    if (std::find(need.begin(), need.end(), std::string(k.str())) == need.end())
                        fail(v, key + ".regions[]." + std::string(k.str()), "unknown key for kind " + kind);
                const double lo = (*r)["abs_eta_min"].value_or(0.0), hi = (*r)["abs_eta_max"].value_or(0.0);
                if (!(lo < hi)) fail(*r, key + ".regions", "abs_eta_min must be below abs_eta_max");
                // contiguous from 0 (outside the last region, the last one applies)
                if (lo != previous_hi)
                    fail(*r->get("abs_eta_min"), key + ".regions[].abs_eta_min",
                         "regions must cover |eta| from 0 without gaps or overlaps: expected " + fmt(previous_hi) +
                             ", got " + fmt(lo));
                previous_hi = hi;
            }
        }
        const auto wps = names_in(t.get("wp"));
        if (const auto* n = t.get("nested")) {
            Rule r = one_of({});
            r.type = T::Strings;
            check_value(*n, key + ".nested", r);
            names_known(n, key + ".nested", wps, "working point of " + key);
        }
        if (const auto* n = t.get("nested_families")) {
            Rule r;
            r.type = T::StringLists;
            check_value(*n, key + ".nested_families", r);
            names_known(n, key + ".nested_families", wps, "working point of " + key);
        }
    }

private:
    const std::string& source_;
    const std::set<std::string>& schema_;
};

// Moves (not copies) the override's nodes: toml++ keeps source regions on moves only, and errors
// name the file and line of each value.
void merge_into(toml::table& base, toml::table& over) {
    for (auto&& [k, node] : over) {
        auto* b = base.get(k);
        if (b && b->is_table() && node.is_table()) {
            merge_into(*b->as_table(), *node.as_table());
        } else {
            base.insert_or_assign(k, std::move(node));
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
    v.set_root(t);
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
        t.erase("extends");
        merge_into(merged, t);
        t = std::move(merged);
        v.set_root(t);
        v.set_base(base_path);
        v.check_functions(t, "", "");  // e.g. new edges against the base values
    } else {
        for (const char* required : {"profile", "conventions", "rng", "truth", "electron", "muon", "photon", "tau", "jet",
                                     "btag", "met"})
            if (!t.contains(required))
                throw ConfigError(source, 1, 1, std::string("missing required table [") + required +
                                                    "] (or use `extends = \"<profile>\"` for an override card)");
        if (!t["profile"]["name"].value<std::string>())
            throw ConfigError(source, 1, 1, "missing required key 'profile.name'");
    }
    v.check_scalars(t, "", "", "");
    v.check_references(t);
    // A plain-string expression outside function objects (§10.4).
    if (const auto* res = t["met"]["truth_smeared"]["resolution"].node()) {
        const auto text = res->value<std::string>();
        if (!text) v.fail(*res, "met.truth_smeared.resolution", "expected an expression string");
        try {
            Expression e(*text, "met.truth_smeared.resolution");
        } catch (const ConfigError& e) {
            v.fail_expression(*res, "met.truth_smeared.resolution", e);
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

// A ConfigError at a node of the card (file, line and column of its source region).
[[noreturn]] void fail_at(const toml::node& n, const std::string& key, const std::string& what) {
    const auto& src = n.source();
    throw ConfigError(src.path ? *src.path : std::string("<card>"), src.begin.line, src.begin.column,
                      "'" + key + "': " + what);
}

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
    fail_at(n ? *n : static_cast<const toml::node&>(t), key + "." + field, "unknown variable '" + name.value_or("") + "'");
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
    if (depth > 4) fail_at(t, key, "same_as chain too deep");
    auto n = std::make_shared<Node>();
    n->kind = t["kind"].value_or(std::string());
    const auto* wps = t.get_as<toml::table>("wp");
    auto need_wp = [&]() -> const toml::node& {
        if (wp.empty()) fail_at(t, key, "has working points: choose one");
        const auto* w = wps ? wps->get(wp) : nullptr;
        if (!w) fail_at(t, key, "has no working point '" + wp + "'");
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
        if (!tt) fail_at(t, key, "same_as target '" + target + "' does not exist");
        n->target = build(root, *tt, target, "", depth + 1);
    } else if (n->kind != "none") {
        fail_at(t, key, "is not a function object");
    }
    return n;
}

}  // namespace

Function Card::function(const std::string& key, const std::string& wp) const {
    const auto* t = table_at(impl_->table, key);
    if (!t || !t->contains("kind")) fail(key, "no function object here");
    return Function(build(impl_->table, *t, key, wp));
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
    if (!product) fail(object, "has no efficiency_product");
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

void Card::fail(const std::string& key, const std::string& what) const {
    // the key's own line, else that of the nearest enclosing table that exists
    std::string k = key;
    const toml::node* n = node_at(impl_->table, k);
    while (!n && k.find('.') != std::string::npos) {
        k = k.substr(0, k.rfind('.'));
        n = node_at(impl_->table, k);
    }
    if (n && n->source().begin.line > 0) {
        const auto& src = n->source();
        throw ConfigError(src.path ? *src.path : impl_->source, src.begin.line, src.begin.column, "'" + key + "': " + what);
    }
    throw ConfigError(impl_->source, 0, 0, "'" + key + "': " + what);
}

double Card::number(const std::string& key, double fallback) const {
    const auto* n = node_at(impl_->table, key);
    if (!n) return fallback;
    if (auto v = n->value<double>()) return *v;
    fail_at(*n, key, "expected a number");
}

bool Card::boolean(const std::string& key, bool fallback) const {
    const auto* n = node_at(impl_->table, key);
    if (!n) return fallback;
    if (auto v = n->value<bool>()) return *v;
    fail_at(*n, key, "expected true or false");
}

std::string Card::string(const std::string& key, const std::string& fallback) const {
    const auto* n = node_at(impl_->table, key);
    if (!n) return fallback;
    if (auto v = n->value<std::string>()) return *v;
    fail_at(*n, key, "expected a string");
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
                        fail_at(*(*t)["expr"].node(), key + ".expr",
                                "is not finite at pT=" + Validator::fmt(pt) + " |eta|=" + Validator::fmt(ae));
        }
        for (auto&& [k, node] : *t)
            if (const auto* sub = node.as_table()) stack.push_back({key.empty() ? std::string(k.str()) : key + "." + std::string(k.str()), sub});
    }
}

}  // namespace recast::card
