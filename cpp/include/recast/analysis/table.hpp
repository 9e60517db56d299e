// Columnar input of the analysis layer: named object collections (flat fields + offsets) and
// per-event records (e.g. `met`), all numeric fields stored as double. Built from the detector
// output (`from_detector`) or from user arrays (Python: numpy/awkward columns).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace recast::detector {
struct Output;
class Detector;
}  // namespace recast::detector

namespace recast::analysis {

struct CollectionColumns {
    std::vector<std::int64_t> offsets{0};     ///< n_events + 1
    std::vector<std::string> field_names;     ///< fixed order (the schema's)
    std::vector<std::vector<double>> fields;  ///< one column per field, offsets.back() entries each
    std::vector<std::string> bool_fields;     ///< fields holding 0/1 flags (typed bool in expressions)

    int field(const std::string& name) const noexcept;  ///< index or -1
    std::size_t n_events() const noexcept { return offsets.size() - 1; }
    std::size_t size() const noexcept { return static_cast<std::size_t>(offsets.back()); }
};

struct RecordColumns {
    std::vector<std::string> field_names;
    std::vector<std::vector<double>> fields;  ///< one value per event each
    std::vector<std::string> bool_fields;
    int field(const std::string& name) const noexcept;
};

struct EventTable {
    std::size_t n_events = 0;
    std::vector<double> weight;             ///< per event (1 if the sample is unweighted)
    std::vector<std::int64_t> event_number; ///< generator event numbers (k-fold routing)
    std::map<std::string, CollectionColumns> collections;
    std::map<std::string, RecordColumns> records;

    /// Checks sizes and offsets; throws InputError naming the collection/field.
    void validate() const;
};

/// The detector output as a table: collections electrons, muons, photons, taus, jets,
/// large_r_jets and the record met. Object fields: pt, eta, phi, mass, charge (= charge3/3),
/// truth_pt, truth_eta, truth_phi, truth_index, lost, label, one 0/1 field per working point
/// (electrons/muons/photons/taus: `wp_<name>`, jets: `btag_<name>`), iso_<name> (e/mu/gamma),
/// n_tracks, track_pt, jvt (jets), tau1..tau3 (large-R jets). met: pt, phi, x, y, set, truth_pt,
/// truth_phi. Weights and event numbers are taken from the events.
EventTable from_detector(detector::Output&& out, const detector::Detector& det, const std::vector<double>& weight,
                         const std::vector<std::int64_t>& event_number);

}  // namespace recast::analysis
