#include "recast/event.hpp"

#include <cmath>

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
}  // namespace

void EventBatch::append(const EventView& o) {
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

void EventBatch::append(const EventBatch& o) {
    append(o.view());
    if (!std::isnan(o.cross_section_pb)) {
        cross_section_pb = o.cross_section_pb;
        cross_section_error_pb = o.cross_section_error_pb;
    }
}

void EventBatch::begin_event(std::int64_t number, double w) {
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
    charge3.push_back(pdg::charge3(pid_));
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

void EventView::validate() const {
    auto fail = [&](std::int64_t ev, const std::string& what) {
        throw InputError(source.empty() ? "<arrays>" : source, 0, ev, what);
    };
    if (particle_offsets.empty() || particle_offsets[0] != 0)
        fail(-1, "particle offsets must start with 0");
    const std::size_t ne = n_events();
    if (event_number.size() != ne || weight.size() != ne)
        fail(-1, "event_number/weight must have one entry per event (" + std::to_string(ne) + ")");
    const std::size_t np = n_particles();
    for (const auto* col : {&px, &py, &pz, &e, &mass})
        if (col->size() != np) fail(-1, "all particle columns must have the length of pid (" + std::to_string(np) + ")");
    if (status.size() != np || charge3.size() != np)
        fail(-1, "all particle columns must have the length of pid (" + std::to_string(np) + ")");
    if (static_cast<std::size_t>(particle_offsets.back()) != np)
        fail(-1, "last particle offset (" + std::to_string(particle_offsets.back()) +
                     ") must equal the number of particles (" + std::to_string(np) + ")");
    if (parent_offsets.size() != np + 1 || parent_offsets[0] != 0 ||
        static_cast<std::size_t>(parent_offsets.back()) != parents.size())
        fail(-1, "parent offsets must have n_particles+1 entries from 0 to len(parents)");
    for (std::size_t ev = 0; ev < ne; ++ev) {
        const auto b = particle_offsets[ev], en = particle_offsets[ev + 1];
        if (en < b) fail(static_cast<std::int64_t>(ev), "particle offsets must be non-decreasing");
        for (auto i = b; i < en; ++i) {
            if (parent_offsets[i + 1] < parent_offsets[i])
                fail(static_cast<std::int64_t>(ev), "parent offsets must be non-decreasing");
            for (auto k = parent_offsets[i]; k < parent_offsets[i + 1]; ++k)
                if (parents[k] < 0 || parents[k] >= en - b)
                    fail(static_cast<std::int64_t>(ev),
                         "particle " + std::to_string(i - b) + " has parent index " +
                             std::to_string(parents[k]) + " outside [0, " + std::to_string(en - b) + ")");
        }
    }
}

}  // namespace recast
