#include "recast/event.hpp"

#include <cmath>
#include <limits>
#include <utility>

#include "recast/errors.hpp"
#include "recast/pdg.hpp"

namespace recast {

void EventBatch::clear() {
    event_number.clear();
    weight.clear();
    particle_offsets.assign(1, 0);
    px.clear();
    py.clear();
    pz.clear();
    e.clear();
    mass.clear();
    pid.clear();
    status.clear();
    charge3.clear();
    parent_offsets.assign(1, 0);
    parents.clear();
    extra_weight_names.clear();
    extra_weights.clear();
    extra_weights_dropped = false;
}

namespace {
template <class T>
void extend(std::vector<T>& a, Span<T> b) {
    a.insert(a.end(), b.begin(), b.end());
}
template <class T>
void extend_shifted(std::vector<T>& a, Span<T> b, T shift) {
    if (b.empty()) return;
    a.reserve(a.size() + b.size() - 1);
    for (std::size_t i = 1; i < b.size(); ++i) a.push_back(b[i] + shift);
}

// Adds the further weights of `n_new` events (names, row-major values) appended after `n_before`
// events: kept when the names match the batch's (or the batch had no events), else all dropped.
void merge_extra_weights(EventBatch& b, std::size_t n_before, std::size_t n_new,
                         const std::vector<std::string>& names, Span<double> values, bool dropped) {
    if (n_new == 0) return;
    if (n_before == 0) {
        b.extra_weight_names = names;
        b.extra_weights.assign(values.begin(), values.end());
        b.extra_weights_dropped = dropped;
    } else if (names == b.extra_weight_names) {
        b.extra_weights.insert(b.extra_weights.end(), values.begin(), values.end());
        b.extra_weights_dropped = b.extra_weights_dropped || dropped;
    } else {
        b.extra_weight_names.clear();
        b.extra_weights.clear();
        b.extra_weights_dropped = true;
    }
}

void append_columns(EventBatch& b, const EventView& o) {
    auto& event_number = b.event_number;
    auto& weight = b.weight;
    auto& particle_offsets = b.particle_offsets;
    auto &px = b.px, &py = b.py, &pz = b.pz, &e = b.e, &mass = b.mass;
    auto &pid = b.pid, &status = b.status, &charge3 = b.charge3;
    auto& parent_offsets = b.parent_offsets;
    auto& parents = b.parents;
    extend(event_number, o.event_number);
    extend(weight, o.weight);
    extend_shifted(particle_offsets, o.particle_offsets, particle_offsets.back());
    extend(px, o.px);
    extend(py, o.py);
    extend(pz, o.pz);
    extend(e, o.e);
    extend(mass, o.mass);
    extend(pid, o.pid);
    extend(status, o.status);
    extend(charge3, o.charge3);
    extend_shifted(parent_offsets, o.parent_offsets, parent_offsets.back());
    extend(parents, o.parents);  // event-local indices need no shift
}
}  // namespace

void EventBatch::append(const EventView& o) {
    static const std::vector<std::string> no_names;
    merge_extra_weights(*this, n_events(), o.n_events(), no_names, {}, false);
    append_columns(*this, o);
}

void EventBatch::append(const EventBatch& o) {
    merge_extra_weights(*this, n_events(), o.n_events(), o.extra_weight_names, o.extra_weights,
                        o.extra_weights_dropped);
    append_columns(*this, o.view());
    if (!std::isnan(o.cross_section_pb)) {
        cross_section_pb = o.cross_section_pb;
        cross_section_error_pb = o.cross_section_error_pb;
    }
}

void EventBatch::begin_event(std::int64_t number, double w) {
    static const std::vector<std::string> no_names;
    begin_event(number, w, no_names, {});
}

void EventBatch::begin_event(std::int64_t number, double w, const std::vector<std::string>& names,
                             Span<double> values) {
    merge_extra_weights(*this, event_number.size(), 1, names, values, false);
    event_number.push_back(number);
    weight.push_back(w);
}

void EventBatch::add_particle(double px_, double py_, double pz_, double e_, double m_,
                              std::int32_t pid_, std::int32_t status_) {
    px.push_back(px_);
    py.push_back(py_);
    pz.push_back(pz_);
    e.push_back(e_);
    mass.push_back(m_);
    pid.push_back(pid_);
    status.push_back(status_);
    charge3.push_back(safe_charge3(pid_));
    parent_offsets.push_back(parent_offsets.back());
}

EventView EventBatch::view() const {
    EventView v;
    v.event_number = event_number;
    v.weight = weight;
    v.particle_offsets = particle_offsets;
    v.px = px;
    v.py = py;
    v.pz = pz;
    v.e = e;
    v.mass = mass;
    v.pid = pid;
    v.status = status;
    v.charge3 = charge3;
    v.parent_offsets = parent_offsets;
    v.parents = parents;
    v.source = source;
    return v;
}

namespace {
std::string num(double v) {
    if (std::isnan(v)) return "nan";
    if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
    std::string s = std::to_string(v);
    return s;
}
}  // namespace

int safe_charge3(std::int32_t pid) noexcept {
    // |INT32_MIN| is not representable: pdg::charge3 must never see it (EventView::validate rejects it)
    return pid == std::numeric_limits<std::int32_t>::min() ? 0 : pdg::charge3(pid);
}

void EventView::validate() const {
    const std::string src = source.empty() ? "<arrays>" : source;
    auto fail = [&](std::int64_t ev, const std::string& what) { throw InputError(src, 0, ev, what); };
    const auto str = [](auto v) { return std::to_string(v); };
    // ---- sizes and offsets (checked before any of them is used as an index) --------------------
    if (particle_offsets.empty())
        fail(-1, "offsets is empty: expected n_events + 1 entries starting with 0");
    if (particle_offsets[0] != 0) fail(-1, "particle offsets must start with 0, got offsets[0] = " + str(particle_offsets[0]));
    const std::size_t ne = n_events();
    const std::size_t np = n_particles();
    const std::pair<const char*, std::size_t> per_particle[] = {{"px", px.size()}, {"py", py.size()}, {"pz", pz.size()},
                                                                {"e", e.size()},   {"mass", mass.size()},
                                                                {"status", status.size()},
                                                                {"charge3", charge3.size()}};
    for (const auto& [name, size] : per_particle)
        if (size != np)
            fail(-1, std::string("all particle columns must have the length of pid (") + str(np) + "): " + name + " has " +
                         str(size));
    for (std::size_t ev = 0; ev < ne; ++ev) {
        const auto b = particle_offsets[ev], en = particle_offsets[ev + 1];
        if (en < b)
            fail(static_cast<std::int64_t>(ev), "particle offsets must be non-decreasing: offsets[" + str(ev + 1) + "] = " +
                                                    str(en) + " < offsets[" + str(ev) + "] = " + str(b));
        if (static_cast<std::uint64_t>(en) > np && ev + 1 < ne)  // the last one: see below
            fail(static_cast<std::int64_t>(ev), "offsets[" + str(ev + 1) + "] = " + str(en) +
                                                    " exceeds the number of particles (" + str(np) + ")");
    }
    if (static_cast<std::size_t>(particle_offsets.back()) != np)
        fail(-1, "last particle offset (" + str(particle_offsets.back()) + ") must equal the number of particles (" +
                     str(np) + ")");
    if (weight.size() != ne)
        fail(-1, "event_number/weight must have one entry per event (" + str(ne) + "): weight has " + str(weight.size()));
    if (event_number.size() != ne)
        fail(-1, "event_number/weight must have one entry per event (" + str(ne) + "): event_number has " +
                     str(event_number.size()));
    if (parent_offsets.size() != np + 1)
        fail(-1, "parent offsets must have n_particles+1 entries (" + str(np + 1) + "), got " + str(parent_offsets.size()));
    if (parent_offsets[0] != 0)
        fail(-1, "parent offsets must start with 0, got parent_offsets[0] = " + str(parent_offsets[0]));
    const std::size_t nparents = parents.size();
    // ---- per event and particle ------------------------------------------------------------
    for (std::size_t ev = 0; ev < ne; ++ev) {
        const auto evi = static_cast<std::int64_t>(ev);
        if (!std::isfinite(weight[ev])) fail(evi, "weight is " + num(weight[ev]) + ", expected a finite number");
        const auto b = particle_offsets[ev], en = particle_offsets[ev + 1];
        for (auto i = b; i < en; ++i) {
            const auto who = [&] { return "particle " + str(i - b); };  // only built on failure
            if (pid[i] == std::numeric_limits<std::int32_t>::min())
                fail(evi, who() + ": pid " + str(pid[i]) + " is not a PDG id (expected |pid| < 2^31)");
            const std::pair<const char*, double> values[] = {{"px", px[i]}, {"py", py[i]}, {"pz", pz[i]},
                                                             {"e", e[i]},   {"mass", mass[i]}};
            for (const auto& [name, v] : values)
                if (std::isinf(v))
                    fail(evi, who() + ": " + name + " is " + num(v) +
                                  ", expected a finite number (NaN marks a missing value)");
            const auto p0 = parent_offsets[i], p1 = parent_offsets[i + 1];
            if (p1 < p0)
                fail(evi, who() + ": parent offsets must be non-decreasing: parent_offsets[" + str(i + 1) + "] = " +
                              str(p1) + " < parent_offsets[" + str(i) + "] = " + str(p0));
            if (static_cast<std::uint64_t>(p1) > nparents)
                fail(evi, who() + ": parent_offsets[" + str(i + 1) + "] = " + str(p1) + " exceeds the length of parents (" +
                              str(nparents) + ")");
            for (auto k = p0; k < p1; ++k)
                if (parents[k] < 0 || parents[k] >= en - b)
                    fail(evi, who() + " has parent index " + str(parents[k]) + " outside [0, " + str(en - b) + ")");
        }
    }
    if (static_cast<std::size_t>(parent_offsets.back()) != nparents)
        fail(-1, "parent offsets must have n_particles+1 entries from 0 to len(parents) (" + str(nparents) +
                     "), last is " + str(parent_offsets.back()));
}

}  // namespace recast
