#include <pybind11/numpy.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "recast/errors.hpp"
#include "recast/event.hpp"
#include "recast/pdg.hpp"
#include "recast/pythia.hpp"

#include "event_access.hpp"
#include "register.hpp"

namespace {

using recast::EventBatch;

// Read-only numpy view of a column; the array keeps the owner (batch or borrowed arrays) alive.
template <class T>
py::array_t<T> view(recast::Span<T> v, py::handle owner) {
    py::array_t<T> a({static_cast<py::ssize_t>(v.size())}, {static_cast<py::ssize_t>(sizeof(T))}, v.begin(), owner);
    py::detail::array_proxy(a.ptr())->flags &= ~py::detail::npy_api::NPY_ARRAY_WRITEABLE_;
    return a;
}

template <class T>
py::array_t<T> view(const std::vector<T>& v, py::handle owner) {
    return view(recast::Span<T>(v), owner);
}

template <class T>
using arr = py::array_t<T, py::array::c_style | py::array::forcecast>;

std::string shape_of(const py::array& a) {
    std::string s = "(";
    for (py::ssize_t i = 0; i < a.ndim(); ++i) s += (i ? ", " : "") + std::to_string(a.shape(i));
    return s + (a.ndim() == 1 ? ",)" : ")");
}

std::string dtype_of(const py::array& a) { return py::str(a.dtype()).cast<std::string>(); }

std::string python_error(const py::error_already_set& e) {
    return py::str(e.type().attr("__name__")).cast<std::string>() + ": " + py::str(e.value()).cast<std::string>();
}

// What a flat index of a column refers to, for messages: the columns of from_arrays are converted
// (and checked) one by one, so the offsets are used only when they are already known to be sane.
struct Columns {
    std::string source;
    const std::vector<std::int64_t>* offsets = nullptr;         // particle offsets, once converted
    const std::vector<std::int64_t>* parent_offsets = nullptr;  // once converted

    static bool sane(const std::vector<std::int64_t>* off) {
        if (!off || off->empty() || (*off)[0] != 0) return false;
        for (std::size_t i = 1; i < off->size(); ++i)
            if ((*off)[i] < (*off)[i - 1]) return false;
        return true;
    }
    // (event, "particle P") of global particle k, or (-1, "") if the offsets do not say
    std::pair<std::int64_t, std::string> particle(std::size_t k) const {
        if (!sane(offsets)) return {-1, ""};
        const auto& off = *offsets;
        const auto it = std::upper_bound(off.begin(), off.end(), static_cast<std::int64_t>(k));
        if (it == off.begin() || it == off.end()) return {-1, ""};
        const auto ev = static_cast<std::int64_t>(it - off.begin()) - 1;
        return {ev, "particle " + std::to_string(static_cast<std::int64_t>(k) - off[static_cast<std::size_t>(ev)])};
    }
    // how to name entry k of a column: per "particle", per "parent" (entry of parents), per "event", or "index"
    std::pair<std::int64_t, std::string> where(const char* per, const char* name, std::size_t k) const {
        const std::string at = std::string(name) + "[" + std::to_string(k) + "]";
        if (std::string(per) == "particle") {
            auto [ev, who] = particle(k);
            return {ev, who.empty() ? at : who + " (" + at + ")"};
        }
        if (std::string(per) == "parent" && sane(parent_offsets)) {
            const auto& po = *parent_offsets;
            const auto it = std::upper_bound(po.begin(), po.end(), static_cast<std::int64_t>(k));
            if (it != po.begin() && it != po.end()) {
                auto [ev, who] = particle(static_cast<std::size_t>(it - po.begin()) - 1);
                if (!who.empty()) return {ev, who + ", " + at};
            }
        }
        if (std::string(per) == "event") return {static_cast<std::int64_t>(k), at};
        return {-1, at};
    }
    [[noreturn]] void fail(std::int64_t event, const std::string& what) const {
        throw recast::InputError(source, 0, event, what);
    }

    // A 1-d numpy array of whatever dtype `obj` converts to; InputError if it does not.
    py::array array(const py::object& obj, const char* name, const std::string& expected) const {
        if (obj.is_none()) fail(-1, std::string(name) + " is missing (None): expected a 1-d array of " + expected);
        py::object a;
        try {
            a = py::module_::import("numpy").attr("asarray")(obj);
        } catch (py::error_already_set& e) {
            fail(-1, std::string(name) + " cannot be read as an array of " + expected + " (" + python_error(e) + ")");
        }
        auto arr_ = py::reinterpret_borrow<py::array>(a);
        if (arr_.ndim() != 1)
            fail(-1, std::string(name) + " must be a one-dimensional array of " + expected + ", got shape " +
                         shape_of(arr_));
        return arr_;
    }

    std::vector<double> reals(const py::object& obj, const char* name) const {
        py::array a = array(obj, name, "real numbers");
        const char kind = a.dtype().kind();
        if (kind == 'O') {
            try {
                a = py::reinterpret_borrow<py::array>(a.attr("astype")(py::dtype::of<double>()));
            } catch (py::error_already_set& e) {
                fail(-1, std::string(name) + " must hold real numbers (float64), got " + python_error(e));
            }
        } else if (kind != 'f' && kind != 'i' && kind != 'u' && kind != 'b') {
            fail(-1, std::string(name) + " must hold real numbers (float64), got dtype " + dtype_of(a));
        }
        auto f = arr<double>::ensure(a);
        if (!f) fail(-1, std::string(name) + " cannot be converted to float64");
        return std::vector<double>(f.data(), f.data() + f.size());
    }

    template <class T>
    std::vector<T> integers(const py::object& obj, const char* name, const char* per) const {
        constexpr auto lo = std::numeric_limits<T>::min(), hi = std::numeric_limits<T>::max();
        const std::string type = sizeof(T) == 4 ? "int32" : "int64";
        const std::string expected = "integers (" + type + ")";
        py::array a = array(obj, name, expected);
        auto out_of_range = [&](std::size_t k, const std::string& value) {
            auto [ev, who] = where(per, name, k);
            fail(ev, who + ": " + name + " is " + value + ", expected an integer in [" + std::to_string(lo) + ", " +
                         std::to_string(hi) + "] (" + type + ")");
        };
        std::vector<T> out(static_cast<std::size_t>(a.size()));
        char kind = a.dtype().kind();
        if (kind == 'O') {
            try {
                a = py::reinterpret_borrow<py::array>(a.attr("astype")(py::dtype::of<std::int64_t>()));
            } catch (py::error_already_set& e) {
                fail(-1, std::string(name) + " must hold " + expected + ", got " + python_error(e));
            }
            kind = 'i';
        }
        if (py::isinstance<py::array_t<T>>(a)) {  // already T: every value is in range, one copy
            auto t = arr<T>::ensure(a);
            std::copy(t.data(), t.data() + out.size(), out.begin());
        } else if (kind == 'u' && a.itemsize() == 8) {
            auto u = arr<std::uint64_t>::ensure(a);
            for (std::size_t k = 0; k < out.size(); ++k) {
                if (u.data()[k] > static_cast<std::uint64_t>(hi)) out_of_range(k, std::to_string(u.data()[k]));
                out[k] = static_cast<T>(u.data()[k]);
            }
        } else if (kind == 'i' || kind == 'u' || kind == 'b') {
            auto i = arr<std::int64_t>::ensure(a);
            for (std::size_t k = 0; k < out.size(); ++k) {
                const std::int64_t v = i.data()[k];
                if (v < lo || v > hi) out_of_range(k, std::to_string(v));
                out[k] = static_cast<T>(v);
            }
        } else if (kind == 'f') {
            auto f = arr<double>::ensure(a);
            for (std::size_t k = 0; k < out.size(); ++k) {
                const double v = f.data()[k];
                // -2^63 and 2^63 are exact doubles; hi itself may not be (int64)
                if (!(v == std::floor(v) && v >= static_cast<double>(lo) && v < -static_cast<double>(lo) &&
                      v <= static_cast<double>(hi)))
                    out_of_range(k, py::repr(py::float_(v)).cast<std::string>());
                out[k] = static_cast<T>(v);
            }
        } else {
            fail(-1, std::string(name) + " must hold " + expected + ", got dtype " + dtype_of(a));
        }
        return out;
    }
};

// The default mass sqrt(E^2 - p^2) (negative for space-like momenta). Finite momenta whose squares
// overflow (|p| > 1e154) get it from sqrt|E - p| sqrt|E + p| instead of an infinite or NaN mass.
double default_mass(double px, double py, double pz, double e) {
    const double m2 = e * e - px * px - py * py - pz * pz;
    if (!std::isfinite(m2) && std::isfinite(px) && std::isfinite(py) && std::isfinite(pz) && std::isfinite(e)) {
        const double p = std::hypot(px, py, pz);
        const double m = std::sqrt(std::abs(e - p)) * std::sqrt(std::abs(e + p));
        return std::abs(e) > p ? m : -m;
    }
    return m2 > 0 ? std::sqrt(m2) : -std::sqrt(-m2);
}

std::shared_ptr<EventBatch> from_arrays(const py::object& offsets, const py::object& px, const py::object& py_,
                                        const py::object& pz, const py::object& e, const py::object& pid,
                                        const py::object& status, const py::object& mass,
                                        const py::object& parent_offsets, const py::object& parents,
                                        const py::object& weight, const py::object& event_number,
                                        const std::string& source) {
    auto b = std::make_shared<EventBatch>();
    b->source = source;
    Columns c;
    c.source = source.empty() ? "<arrays>" : source;
    b->particle_offsets = c.integers<std::int64_t>(offsets, "offsets", "index");
    if (b->particle_offsets.empty()) c.fail(-1, "offsets is empty: expected n_events + 1 entries starting with 0");
    c.offsets = &b->particle_offsets;
    b->px = c.reals(px, "px");
    b->py = c.reals(py_, "py");
    b->pz = c.reals(pz, "pz");
    b->e = c.reals(e, "e");
    b->pid = c.integers<std::int32_t>(pid, "pid", "particle");
    b->status = c.integers<std::int32_t>(status, "status", "particle");
    const std::size_t np = b->pid.size();
    const std::size_t ne = b->particle_offsets.size() - 1;
    if (mass.is_none()) {
        b->mass.resize(b->px.size());
        for (std::size_t i = 0; i < std::min({b->px.size(), b->py.size(), b->pz.size(), b->e.size()}); ++i)
            b->mass[i] = default_mass(b->px[i], b->py[i], b->pz[i], b->e[i]);
    } else {
        b->mass = c.reals(mass, "mass");
    }
    b->charge3.resize(np);
    for (std::size_t i = 0; i < np; ++i) b->charge3[i] = recast::safe_charge3(b->pid[i]);
    if (parents.is_none() != parent_offsets.is_none())
        c.fail(-1, std::string(parents.is_none() ? "parent_offsets" : "parents") +
                       " given without " + (parents.is_none() ? "parents" : "parent_offsets") +
                       ": parents and parent_offsets must be given together");
    if (parents.is_none()) {
        b->parent_offsets.assign(np + 1, 0);
    } else {
        b->parent_offsets = c.integers<std::int64_t>(parent_offsets, "parent_offsets", "index");
        c.parent_offsets = &b->parent_offsets;
        b->parents = c.integers<std::int32_t>(parents, "parents", "parent");
    }
    if (weight.is_none()) b->weight.assign(ne, 1.0);
    else b->weight = c.reals(weight, "weight");
    if (event_number.is_none()) {
        b->event_number.resize(ne);
        for (std::size_t i = 0; i < ne; ++i) b->event_number[i] = static_cast<std::int64_t>(i);
    } else {
        b->event_number = c.integers<std::int64_t>(event_number, "event_number", "event");
    }
    b->validate();
    return b;
}

std::shared_ptr<EventBatch> from_pythia(const arr<std::int64_t>& offsets, const arr<std::int32_t>& id,
                                        const arr<std::int32_t>& status, const arr<std::int32_t>& mother1,
                                        const arr<std::int32_t>& mother2, const arr<std::int32_t>& daughter1,
                                        const arr<double>& px, const arr<double>& py_, const arr<double>& pz,
                                        const arr<double>& e, const arr<double>& m, const py::object& weight,
                                        std::int64_t first_event_number, const std::string& source) {
    const auto n = id.size();
    for (const py::ssize_t a : {status.size(), mother1.size(), mother2.size(), daughter1.size(), px.size(), py_.size(),
                    pz.size(), e.size(), m.size()})
        if (a != n) throw py::value_error("all Pythia particle columns must have the same length");
    if (offsets.size() < 1 || offsets.data()[0] != 0 || offsets.data()[offsets.size() - 1] != n)
        throw py::value_error("offsets must run from 0 to the number of particles");
    recast::PythiaColumns c;
    c.n_events = offsets.size() - 1;
    c.offsets = offsets.data();
    c.id = id.data();
    c.status = status.data();
    c.mother1 = mother1.data();
    c.mother2 = mother2.data();
    c.daughter1 = daughter1.data();
    c.px = px.data();
    c.py = py_.data();
    c.pz = pz.data();
    c.e = e.data();
    c.m = m.data();
    arr<double> w;
    if (!weight.is_none()) {
        w = arr<double>::ensure(weight);
        if (w.size() != c.n_events) throw py::value_error("weight must have one entry per event");
        c.weight = w.data();
    }
    auto b = std::make_shared<EventBatch>();
    b->source = source;
    {
        py::gil_scoped_release release;
        recast::append_pythia_events(*b, c, first_event_number);
    }
    return b;
}

// Columns handed in from numpy and used in place (zero copy). Derived columns that the caller
// did not give (charge3, defaults) are computed and owned here.
struct EventArrays {
    std::vector<py::array> keep;  // the borrowed numpy arrays
    std::vector<std::int32_t> own_charge3, own_parents;
    std::vector<std::int64_t> own_parent_offsets, own_event_number;
    std::vector<double> own_mass, own_weight;
    recast::EventView v;
};

template <class T>
recast::Span<T> borrow(EventArrays& ea, const py::object& obj, const char* name) {
    const std::string& source = ea.v.source.empty() ? std::string("<arrays>") : ea.v.source;
    if (!py::isinstance<py::array>(obj))
        throw recast::InputError(source, 0, -1,
                                 std::string(name) + " must be a contiguous 1-d " +
                                     py::str(py::dtype::of<T>()).cast<std::string>() +
                                     " numpy array for zero-copy input, got " +
                                     py::str(py::type::of(obj).attr("__name__")).cast<std::string>());
    auto a = py::reinterpret_borrow<py::array>(obj);
    if (!a.dtype().is(py::dtype::of<T>()) || a.ndim() != 1 || !(a.flags() & py::array::c_style))
        throw recast::InputError(source, 0, -1,
                                 std::string(name) + " must be a contiguous 1-d " +
                                     py::str(py::dtype::of<T>()).cast<std::string>() + " array for zero-copy input, got " +
                                     py::str(a.dtype()).cast<std::string>() + " with shape " +
                                     py::str(py::tuple(py::cast(std::vector<py::ssize_t>(a.shape(), a.shape() + a.ndim())))).cast<std::string>());
    ea.keep.push_back(a);
    return {static_cast<const T*>(a.data()), static_cast<std::size_t>(a.size())};
}

std::shared_ptr<EventArrays> arrays_in_place(const py::object& offsets, const py::object& px, const py::object& py_,
                                             const py::object& pz, const py::object& e, const py::object& pid,
                                             const py::object& status, const py::object& mass,
                                             const py::object& parent_offsets, const py::object& parents,
                                             const py::object& weight, const py::object& event_number,
                                             const std::string& source) {
    auto ea = std::make_shared<EventArrays>();
    auto& v = ea->v;
    v.source = source;
    v.particle_offsets = borrow<std::int64_t>(*ea, offsets, "offsets");
    v.px = borrow<double>(*ea, px, "px");
    v.py = borrow<double>(*ea, py_, "py");
    v.pz = borrow<double>(*ea, pz, "pz");
    v.e = borrow<double>(*ea, e, "e");
    v.pid = borrow<std::int32_t>(*ea, pid, "pid");
    v.status = borrow<std::int32_t>(*ea, status, "status");
    const std::size_t np = v.pid.size(), ne = v.n_events();
    ea->own_charge3.resize(np);
    for (std::size_t i = 0; i < np; ++i) ea->own_charge3[i] = recast::safe_charge3(v.pid[i]);
    v.charge3 = ea->own_charge3;
    if (mass.is_none()) {
        const std::size_t n = std::min({v.px.size(), v.py.size(), v.pz.size(), v.e.size()});
        ea->own_mass.resize(v.px.size());
        for (std::size_t i = 0; i < n; ++i) ea->own_mass[i] = default_mass(v.px[i], v.py[i], v.pz[i], v.e[i]);
        v.mass = ea->own_mass;
    } else {
        v.mass = borrow<double>(*ea, mass, "mass");
    }
    if (parents.is_none() != parent_offsets.is_none())
        throw recast::InputError(v.source.empty() ? "<arrays>" : v.source, 0, -1,
                                 std::string(parents.is_none() ? "parent_offsets" : "parents") + " given without " +
                                     (parents.is_none() ? "parents" : "parent_offsets") +
                                     ": parents and parent_offsets must be given together");
    if (parents.is_none()) {
        ea->own_parent_offsets.assign(np + 1, 0);
        v.parent_offsets = ea->own_parent_offsets;
        v.parents = ea->own_parents;
    } else {
        v.parent_offsets = borrow<std::int64_t>(*ea, parent_offsets, "parent_offsets");
        v.parents = borrow<std::int32_t>(*ea, parents, "parents");
    }
    if (weight.is_none()) {
        ea->own_weight.assign(ne, 1.0);
        v.weight = ea->own_weight;
    } else {
        v.weight = borrow<double>(*ea, weight, "weight");
    }
    if (event_number.is_none()) {
        ea->own_event_number.resize(ne);
        for (std::size_t i = 0; i < ne; ++i) ea->own_event_number[i] = static_cast<std::int64_t>(i);
        v.event_number = ea->own_event_number;
    } else {
        v.event_number = borrow<std::int64_t>(*ea, event_number, "event_number");
    }
    v.validate();
    return ea;
}

// The column properties shared by EventBatch and EventArrays: read-only numpy views that keep
// the owner alive. `get` returns the owner's EventView.
template <class Cls, class Get>
void def_columns(Cls& cls, Get get) {
#define RECAST_COLUMN(name) \
    cls.def_property_readonly(#name, [get](py::object s) { return view(get(s).name, s); })
    RECAST_COLUMN(event_number);
    RECAST_COLUMN(weight);
    RECAST_COLUMN(particle_offsets);
    RECAST_COLUMN(px);
    RECAST_COLUMN(py);
    RECAST_COLUMN(pz);
    RECAST_COLUMN(e);
    RECAST_COLUMN(mass);
    RECAST_COLUMN(pid);
    RECAST_COLUMN(status);
    RECAST_COLUMN(charge3);
    RECAST_COLUMN(parent_offsets);
    RECAST_COLUMN(parents);
#undef RECAST_COLUMN
}

}  // namespace

recast::EventView event_view(const py::object& events) {
    if (py::isinstance<EventBatch>(events)) return events.cast<const EventBatch&>().view();
    if (py::isinstance<EventArrays>(events)) return events.cast<const EventArrays&>().v;
    throw py::type_error("expected recast_ml._core.EventBatch or EventArrays");
}

void register_events(py::module_& m) {
    py::class_<EventBatch, std::shared_ptr<EventBatch>> batch(m, "EventBatch", "Columnar batch of events (see recast/event.hpp)");
    def_columns(batch, [](py::object s) { return s.cast<const EventBatch&>().view(); });
    batch
        .def(py::init<>())
        .def_property_readonly("n_events", &EventBatch::n_events)
        .def_property_readonly("n_particles", &EventBatch::n_particles)
        .def_readwrite("cross_section_pb", &EventBatch::cross_section_pb)
        .def_readwrite("cross_section_error_pb", &EventBatch::cross_section_error_pb)
        .def_readwrite("source", &EventBatch::source)
        .def("append", py::overload_cast<const EventBatch&>(&EventBatch::append), py::arg("other"))
        .def("append", [](EventBatch& b, const EventArrays& o) { b.append(o.v); }, py::arg("other"))
        .def("validate", &EventBatch::validate)
        .def_readonly("extra_weight_names", &EventBatch::extra_weight_names,
                      "Names of the further weights per event an event file gave (besides the nominal one)")
        .def_property_readonly(
            "extra_weights",
            [](const EventBatch& b) {
                const auto k = static_cast<py::ssize_t>(b.extra_weight_names.size());
                const auto n = static_cast<py::ssize_t>(b.extra_weight_names.empty() ? 0 : b.n_events());
                py::array_t<double> a({n, k});
                std::copy(b.extra_weights.begin(), b.extra_weights.end(), a.mutable_data());
                return a;
            },
            "The further weights: a new (n_events, len(extra_weight_names)) float64 array")
        .def_readonly("extra_weights_dropped", &EventBatch::extra_weights_dropped,
                      "Further weights were dropped: the events did not all carry the same names")
        .def_static("from_arrays", &from_arrays, py::arg("offsets"), py::arg("px"), py::arg("py"), py::arg("pz"),
                    py::arg("e"), py::arg("pid"), py::arg("status"), py::kw_only(), py::arg("mass") = py::none(),
                    py::arg("parent_offsets") = py::none(), py::arg("parents") = py::none(),
                    py::arg("weight") = py::none(), py::arg("event_number") = py::none(),
                    py::arg("source") = "<arrays>")
        .def_static("from_pythia", &from_pythia, py::arg("offsets"), py::arg("id"), py::arg("status"),
                    py::arg("mother1"), py::arg("mother2"), py::arg("daughter1"), py::arg("px"), py::arg("py"),
                    py::arg("pz"), py::arg("e"), py::arg("m"), py::kw_only(), py::arg("weight") = py::none(),
                    py::arg("first_event_number") = 0, py::arg("source") = "<pythia>");

    py::class_<EventArrays, std::shared_ptr<EventArrays>> arrays(
        m, "EventArrays", "Event columns borrowed from numpy arrays (zero copy), same layout as EventBatch");
    def_columns(arrays, [](py::object s) -> const recast::EventView& { return s.cast<const EventArrays&>().v; });
    arrays
        .def_static("from_arrays", &arrays_in_place, py::arg("offsets"), py::arg("px"), py::arg("py"), py::arg("pz"),
                    py::arg("e"), py::arg("pid"), py::arg("status"), py::kw_only(), py::arg("mass") = py::none(),
                    py::arg("parent_offsets") = py::none(), py::arg("parents") = py::none(),
                    py::arg("weight") = py::none(), py::arg("event_number") = py::none(),
                    py::arg("source") = "<arrays>")
        .def_property_readonly("n_events", [](const EventArrays& a) { return a.v.n_events(); })
        .def_property_readonly("n_particles", [](const EventArrays& a) { return a.v.n_particles(); })
        .def_property_readonly("source", [](const EventArrays& a) { return a.v.source; })
        .def_property_readonly("cross_section_pb", [](const EventArrays&) { return std::numeric_limits<double>::quiet_NaN(); })
        .def_property_readonly("cross_section_error_pb", [](const EventArrays&) { return std::numeric_limits<double>::quiet_NaN(); });

    m.def("charge3", [](const arr<std::int32_t>& pid) {
        py::array_t<std::int32_t> out(pid.size());
        auto* o = out.mutable_data();
        for (py::ssize_t i = 0; i < pid.size(); ++i) o[i] = recast::safe_charge3(pid.data()[i]);
        return out;
    }, py::arg("pid"), "Three times the electric charge for each PDG id.");
}
