#include "recast/analysis/table.hpp"

#include <algorithm>
#include <cmath>
#include <string>

#include "recast/detector.hpp"
#include "recast/errors.hpp"

namespace recast::analysis {

int CollectionColumns::field(const std::string& name) const noexcept {
    const auto it = std::find(field_names.begin(), field_names.end(), name);
    return it == field_names.end() ? -1 : static_cast<int>(it - field_names.begin());
}

int RecordColumns::field(const std::string& name) const noexcept {
    const auto it = std::find(field_names.begin(), field_names.end(), name);
    return it == field_names.end() ? -1 : static_cast<int>(it - field_names.begin());
}

void EventTable::validate() const {
    auto bad = [](const std::string& what) { throw InputError("<analysis input>", 0, -1, what); };
    if (weight.size() != n_events) bad("weight has " + std::to_string(weight.size()) + " entries for " +
                                       std::to_string(n_events) + " events");
    if (!event_number.empty() && event_number.size() != n_events)
        bad("event_number has " + std::to_string(event_number.size()) + " entries for " + std::to_string(n_events) +
            " events");
    for (const auto& [name, c] : collections) {
        if (c.offsets.size() != n_events + 1 || c.offsets.front() != 0)
            bad("collection '" + name + "': offsets must have n_events + 1 = " + std::to_string(n_events + 1) +
                " entries starting at 0");
        for (std::size_t i = 0; i + 1 < c.offsets.size(); ++i)
            if (c.offsets[i + 1] < c.offsets[i]) bad("collection '" + name + "': offsets decrease at event " + std::to_string(i));
        if (c.fields.size() != c.field_names.size()) bad("collection '" + name + "': field names and columns differ");
        for (std::size_t f = 0; f < c.fields.size(); ++f)
            if (c.fields[f].size() != c.size())
                bad("collection '" + name + "', field '" + c.field_names[f] + "': " + std::to_string(c.fields[f].size()) +
                    " values for " + std::to_string(c.size()) + " objects");
    }
    for (const auto& [name, r] : records) {
        if (r.fields.size() != r.field_names.size()) bad("record '" + name + "': field names and columns differ");
        for (std::size_t f = 0; f < r.fields.size(); ++f)
            if (r.fields[f].size() != n_events)
                bad("record '" + name + "', field '" + r.field_names[f] + "': " + std::to_string(r.fields[f].size()) +
                    " values for " + std::to_string(n_events) + " events");
    }
}

namespace {

template <typename T>
std::vector<double> as_double(const std::vector<T>& v) {
    return std::vector<double>(v.begin(), v.end());
}

CollectionColumns objects(detector::Objects&& o, const std::vector<std::string>& wps, const std::string& wp_prefix,
                          const std::vector<std::string>& iso_names, bool jets, bool large_r) {
    CollectionColumns c;
    c.offsets = std::move(o.offsets);
    auto add = [&](const char* name, std::vector<double>&& v) {
        c.field_names.emplace_back(name);
        c.fields.push_back(std::move(v));
    };
    const std::size_t n = o.pt.size();
    add("pt", std::move(o.pt));
    add("eta", std::move(o.eta));
    add("phi", std::move(o.phi));
    add("mass", std::move(o.mass));
    std::vector<double> charge(n);
    for (std::size_t i = 0; i < n; ++i) charge[i] = o.charge3[i] / 3.0;
    add("charge", std::move(charge));
    add("truth_pt", std::move(o.truth_pt));
    add("truth_eta", std::move(o.truth_eta));
    add("truth_phi", std::move(o.truth_phi));
    add("truth_index", as_double(o.truth_index));
    add("lost", as_double(o.lost));
    c.bool_fields.emplace_back("lost");
    add("label", as_double(o.label));
    for (std::size_t w = 0; w < wps.size(); ++w) {
        std::vector<double> bit(n);
        for (std::size_t i = 0; i < n; ++i) bit[i] = (o.mask[i] >> w) & 1u;
        c.field_names.push_back(wp_prefix + wps[w]);
        c.bool_fields.push_back(wp_prefix + wps[w]);
        c.fields.push_back(std::move(bit));
    }
    if (!iso_names.empty() && o.isolation.size() == n * iso_names.size())
        for (std::size_t k = 0; k < iso_names.size(); ++k) {
            std::vector<double> v(n);
            for (std::size_t i = 0; i < n; ++i) v[i] = o.isolation[i * iso_names.size() + k];
            c.field_names.push_back("iso_" + iso_names[k]);
            c.fields.push_back(std::move(v));
        }
    if (jets) {
        add("n_tracks", as_double(o.n_tracks));
        add("track_pt", std::move(o.track_pt));
        add("jvt", as_double(o.jvt));
        c.bool_fields.emplace_back("jvt");
    }
    if (large_r)
        for (std::size_t k = 0; k < 3; ++k) {
            std::vector<double> v(n);
            for (std::size_t i = 0; i < n; ++i) v[i] = o.tau[i * 3 + k];
            c.field_names.push_back("tau" + std::to_string(k + 1));
            c.fields.push_back(std::move(v));
        }
    return c;
}

}  // namespace

EventTable from_detector(detector::Output&& out, const detector::Detector& det, const std::vector<double>& weight,
                         const std::vector<std::int64_t>& event_number) {
    EventTable t;
    t.n_events = out.met.x.size();
    t.weight = weight.empty() ? std::vector<double>(t.n_events, 1.0) : weight;
    t.event_number = event_number;
    const auto& iso = det.isolation_names();
    t.collections["electrons"] = objects(std::move(out.electrons), det.working_points("electron"), "wp_", iso, false, false);
    t.collections["muons"] = objects(std::move(out.muons), det.working_points("muon"), "wp_", iso, false, false);
    t.collections["photons"] = objects(std::move(out.photons), det.working_points("photon"), "wp_", iso, false, false);
    t.collections["taus"] = objects(std::move(out.taus), det.working_points("tau"), "wp_", {}, false, false);
    t.collections["jets"] = objects(std::move(out.jets), det.working_points("btag"), "btag_", {}, true, false);
    auto& fat = out.large_r_jets;
    if (fat.offsets.size() != t.n_events + 1) fat.offsets.assign(t.n_events + 1, 0);
    t.collections["large_r_jets"] = objects(std::move(fat), {}, "", {}, false, true);
    RecordColumns met;
    const auto& m = out.met;
    std::vector<double> pt(t.n_events), phi(t.n_events), tpt(t.n_events), tphi(t.n_events);
    for (std::size_t i = 0; i < t.n_events; ++i) {
        pt[i] = std::hypot(m.x[i], m.y[i]);
        phi[i] = std::atan2(m.y[i], m.x[i]);
        tpt[i] = std::hypot(m.truth_x[i], m.truth_y[i]);
        tphi[i] = std::atan2(m.truth_y[i], m.truth_x[i]);
    }
    met.field_names = {"pt", "phi", "x", "y", "set", "truth_pt", "truth_phi"};
    met.fields = {std::move(pt), std::move(phi), m.x, m.y, m.set, std::move(tpt), std::move(tphi)};
    t.records["met"] = std::move(met);
    t.validate();
    return t;
}

}  // namespace recast::analysis
