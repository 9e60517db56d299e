// One detector pass per chunk and card: the reconstructed objects as an opaque table
// (recast_ml._core.ObjectTable) that every analysis of the card runs on, with zero-copy numpy views
// of its flat columns and offsets (recast_ml.detector builds awkward arrays from them).
#include <pybind11/numpy.h>
#include <pybind11/stl.h>

#include <memory>

#include "event_access.hpp"
#include "object_table.hpp"
#include "recast/detector.hpp"
#include "recast/errors.hpp"

#include "register.hpp"

namespace an = recast::analysis;

namespace {

/// A read-only 1-d view of `n` elements at `data`, keeping `owner` (the ObjectTable) alive.
template <class T>
py::array view(const T* data, std::size_t n, const py::handle& owner) {
    py::array a(py::dtype::of<T>(), {static_cast<py::ssize_t>(n)}, {static_cast<py::ssize_t>(sizeof(T))}, data, owner);
    py::detail::array_proxy(a.ptr())->flags &= ~py::detail::npy_api::NPY_ARRAY_WRITEABLE_;
    return a;
}

const an::CollectionColumns& collection(const ObjectTable& t, const std::string& name) {
    auto it = t.table.collections.find(name);
    if (it == t.table.collections.end()) throw py::key_error("no collection '" + name + "' in the object table");
    return it->second;
}

const an::RecordColumns& record(const ObjectTable& t, const std::string& name) {
    auto it = t.table.records.find(name);
    if (it == t.table.records.end()) throw py::key_error("no record '" + name + "' in the object table");
    return it->second;
}

}  // namespace

void register_table(py::module_& m) {
    py::class_<ObjectTable, std::shared_ptr<ObjectTable>>(
        m, "ObjectTable",
        "The objects of a chunk of events after detector emulation (immutable; shared by the analyses "
        "run on the chunk). Columns are float64 views without copies.")
        .def_property_readonly("n_events", [](const ObjectTable& t) { return t.table.n_events; })
        .def_property_readonly("large_r", [](const ObjectTable& t) { return t.large_r; })
        .def_property_readonly("first_event_key", [](const ObjectTable& t) { return t.first_event_key; })
        .def_property_readonly("collections",
                               [](const ObjectTable& t) {
                                   std::vector<std::string> out;
                                   for (const auto& [k, v] : t.table.collections) out.push_back(k);
                                   return out;
                               })
        .def_property_readonly("records",
                               [](const ObjectTable& t) {
                                   std::vector<std::string> out;
                                   for (const auto& [k, v] : t.table.records) out.push_back(k);
                                   return out;
                               })
        .def_property_readonly("weight",
                               [](const py::object& self) {
                                   const auto& t = self.cast<const ObjectTable&>();
                                   return view(t.table.weight.data(), t.table.weight.size(), self);
                               })
        .def_property_readonly("event_number",
                               [](const py::object& self) {
                                   const auto& t = self.cast<const ObjectTable&>();
                                   return view(t.table.event_number.data(), t.table.event_number.size(), self);
                               })
        .def(
            "offsets",
            [](const py::object& self, const std::string& name) {
                const auto& c = collection(self.cast<const ObjectTable&>(), name);
                return view(c.offsets.data(), c.offsets.size(), self);
            },
            py::arg("collection"))
        .def(
            "fields",
            [](const py::object& self, const std::string& name) {
                const auto& t = self.cast<const ObjectTable&>();
                py::dict out;
                if (t.table.collections.count(name)) {
                    const auto& c = collection(t, name);
                    for (std::size_t k = 0; k < c.field_names.size(); ++k)
                        out[py::str(c.field_names[k])] = view(c.fields[k].data(), c.fields[k].size(), self);
                } else {
                    const auto& r = record(t, name);
                    for (std::size_t k = 0; k < r.field_names.size(); ++k)
                        out[py::str(r.field_names[k])] = view(r.fields[k].data(), r.fields[k].size(), self);
                }
                return out;
            },
            py::arg("name"), "Field name -> flat float64 view (a collection's objects, or a record's events), in schema order")
        .def(
            "bool_fields",
            [](const ObjectTable& t, const std::string& name) {
                if (t.table.collections.count(name)) return collection(t, name).bool_fields;
                return record(t, name).bool_fields;
            },
            py::arg("name"))
        .def("__len__", [](const ObjectTable& t) { return t.table.n_events; });
    m.def(
        "reconstruct_table",
        [](const recast::detector::Detector& det, const py::object& events, std::uint64_t first_event_key, int threads,
           bool large_r) {
            const recast::EventView ev = event_view(events);
            auto out = std::make_shared<ObjectTable>();
            {
                py::gil_scoped_release release;
                auto reco = det.reconstruct(ev, first_event_key, threads, large_r);
                std::vector<double> w(ev.weight.begin(), ev.weight.end());
                std::vector<std::int64_t> num(ev.event_number.begin(), ev.event_number.end());
                out->table = an::from_detector(std::move(reco), det, w, num);
            }
            out->large_r = large_r;
            out->first_event_key = first_event_key;
            return out;
        },
        py::arg("detector"), py::arg("events"), py::arg("first_event_key") = 0, py::arg("threads") = 1,
        py::arg("large_r") = true,
        "Detector emulation of a batch of events as an ObjectTable (large-R jets only if large_r).");
}
