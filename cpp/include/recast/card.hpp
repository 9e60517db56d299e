// Detector cards (shared/specs/detector-emulation.md §13): TOML files describing a detector
// profile. Loading validates the card as §13.8 requires: TOML syntax, unknown keys (the key set
// of schema version 1 is that of the two reference cards plus the function-object fields of
// §13.3), required keys, function-object shapes (edges strictly increasing, one value per bin,
// 2-D shapes), efficiencies in [0, 1], resolutions >= 0, and expressions that compile; also the
// type and range of every scalar (finite numbers, booleans that are booleans, strings from their
// set of choices), working-point names that exist, and keys that the card's switches make unused
// (see data/cards/README.md). Errors are ConfigError "file:line:column: 'dotted.key': what". Override cards (`extends = "<profile>"`)
// are merged into their base (§13.9).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "recast/card_expr.hpp"

namespace recast::card {

/// A function object of a card (§13.3) with its working point chosen: efficiency, scale factor or
/// resolution as a function of the object's kinematics. Evaluation follows §0.2 (bins lower-edge
/// inclusive, underflow 0 unless `underflow = "clamp"`, overflow = last bin) and §13.3:
///   constant, binned1d, binned2d, piecewise_linear, expr, wp_tables, per_prong_binned1d (uses
///   `prongs`: 1 -> one_prong, otherwise three_prong), calo_nsc (absolute sigma_E),
///   expr_sigma (absolute sigma), rel_binned (relative sigma), curvature_quad (relative
///   sigma(q/pT) = min(sigma_max, sqrt(a^2 + (b pT)^2))), same_as (the target's resolution),
///   linear_decline (max(floor, 1 - slope (pT - start)) above start, 1 below), none (1).
class Function {
public:
    double operator()(const Values& v, int prongs = 1) const;
    /// Kind name, e.g. "binned1d".
    const std::string& kind() const;
    struct Node;
    explicit Function(std::shared_ptr<const Node> node) : node_(std::move(node)) {}

private:
    std::shared_ptr<const Node> node_;
};

/// An object's efficiency at one working point (§3.1): the product of the function objects named
/// in `<object>.efficiency_product` (each at the working point where it has them), capped at 1.
class Efficiency {
public:
    explicit Efficiency(std::vector<Function> factors) : factors_(std::move(factors)) {}
    double operator()(const Values& v) const {
        double eff = 1.0;
        for (const auto& f : factors_) eff *= f(v);
        return eff < 1.0 ? eff : 1.0;
    }

private:
    std::vector<Function> factors_;
};

class Card {
public:
    /// Loads and validates a card file. `search_dirs` are searched for the reference cards
    /// (atlas_run2.toml, cms_run2.toml: the schema, and the bases of `extends`); if empty,
    /// $RECAST_CARDS_PATH (colon-separated) and then the card file's own directory are used.
    static Card load(const std::string& path, const std::vector<std::string>& search_dirs = {});
    /// Same for card text; `source` names it in messages.
    static Card parse(const std::string& text, const std::string& source,
                      const std::vector<std::string>& search_dirs = {});

    ~Card();
    Card(Card&&) noexcept;
    Card& operator=(Card&&) noexcept;

    const std::string& source() const;
    /// [profile].name of the (merged) card.
    std::string profile_name() const;
    /// The merged card as JSON (inf written as Infinity), for inspection and provenance.
    std::string to_json() const;
    /// FNV-1a 64-bit hash (hex) of the merged card's canonical JSON (§13.9: recorded with results).
    std::string hash() const;

    /// The function object at a dotted key (e.g. "electron.id"), for working point `wp` (required
    /// when the object has working points). Throws ConfigError for a missing key or unknown WP.
    Function function(const std::string& key, const std::string& wp = "") const;
    /// Working points of a function object in card order ("" entries never).
    std::vector<std::string> working_points(const std::string& key) const;
    /// Names of the entries of the table at `key`, in card order (base card first for overrides).
    std::vector<std::string> children(const std::string& key) const;
    /// Efficiency of a lepton/photon for working point `wp` (§3.1), built once, evaluated often.
    Efficiency efficiency(const std::string& object, const std::string& wp) const;
    /// Typed values at dotted keys; `fallback` when absent, ConfigError when of another type.
    double number(const std::string& key, double fallback) const;
    bool boolean(const std::string& key, bool fallback) const;
    std::string string(const std::string& key, const std::string& fallback) const;
    std::vector<double> numbers(const std::string& key) const;
    std::vector<std::string> strings(const std::string& key) const;
    std::vector<std::vector<std::string>> string_lists(const std::string& key) const;
    bool has(const std::string& key) const;
    /// Throws ConfigError "file:line:column: 'key': what" at the key's line in the card (or at the
    /// nearest enclosing table that exists), for checks made by the users of the card.
    [[noreturn]] void fail(const std::string& key, const std::string& what) const;

    /// Non-fatal findings of the validation (e.g. nested working points out of order, §13.8 (5)).
    const std::vector<std::string>& warnings() const;

private:
    struct Impl;
    explicit Card(std::unique_ptr<Impl> impl);
    void check_grid();  // §13.8 (4), (5): finite expressions, nested WP order
    std::unique_ptr<Impl> impl_;
};

}  // namespace recast::card
