// Detector cards (shared/specs/detector-emulation.md §13): TOML files describing a detector
// profile. Loading validates the card as §13.8 requires: TOML syntax, unknown keys (the key set
// of schema version 1 is that of the two reference cards plus the function-object fields of
// §13.3), required keys, function-object shapes (edges strictly increasing, one value per bin,
// 2-D shapes), efficiencies in [0, 1], resolutions >= 0, and expressions that compile. Errors are
// ConfigError naming the file, line, column and dotted key. Override cards (`extends = "<profile>"`)
// are merged into their base (§13.9).
#pragma once

#include <memory>
#include <string>
#include <vector>

namespace recast::card {

class Card {
public:
    /// Loads and validates a card file. `search_dirs` are searched for the reference cards
    /// (atlas_run2.toml, cms_run2.toml: the schema, and the bases of `extends`); if empty,
    /// $RECAST_CARDS_PATH (colon-separated) is used.
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

private:
    struct Impl;
    explicit Card(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

}  // namespace recast::card
