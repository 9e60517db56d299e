#include <pybind11/numpy.h>
#include <pybind11/stl.h>

#include "event_access.hpp"
#include "numpy_util.hpp"
#include "recast/detector.hpp"

#include "register.hpp"

namespace {

py::dict columns(recast::detector::Objects&& o) {
    py::dict d;
    d["offsets"] = take(std::move(o.offsets));
    d["truth_index"] = take(std::move(o.truth_index));
    d["pt"] = take(std::move(o.pt));
    d["eta"] = take(std::move(o.eta));
    d["phi"] = take(std::move(o.phi));
    d["mass"] = take(std::move(o.mass));
    d["truth_pt"] = take(std::move(o.truth_pt));
    d["truth_eta"] = take(std::move(o.truth_eta));
    d["truth_phi"] = take(std::move(o.truth_phi));
    d["charge3"] = take(std::move(o.charge3));
    d["mask"] = take(std::move(o.mask));
    d["lost"] = take(std::move(o.lost));
    d["label"] = take(std::move(o.label));
    d["isolation"] = take(std::move(o.isolation));
    d["n_tracks"] = take(std::move(o.n_tracks));
    d["track_pt"] = take(std::move(o.track_pt));
    d["jvt"] = take(std::move(o.jvt));
    d["tau"] = take(std::move(o.tau));
    return d;
}
}  // namespace

void register_detector(py::module_& m) {
    using recast::detector::Detector;
    py::class_<Detector>(m, "Detector", "Detector emulation of a card (spec §1)")
        .def(py::init<const recast::card::Card&>(), py::arg("card"), py::keep_alive<1, 2>())
        .def("working_points", &Detector::working_points, py::arg("object"))
        .def_property_readonly("isolation_names", &Detector::isolation_names)
        .def_property_readonly("run_seed", &Detector::run_seed)
        .def_property_readonly("large_r_enabled", &Detector::large_r_enabled)
        .def("reconstruct", [](const Detector& d, const py::object& events, std::uint64_t first_event_key, int threads,
                               bool large_r, bool profile) {
            const recast::EventView ev = event_view(events);
            recast::detector::Output out;
            recast::detector::Profile prof;
            {
                py::gil_scoped_release release;
                out = d.reconstruct(ev, first_event_key, threads, large_r, profile ? &prof : nullptr);
            }
            py::dict r;
            r["electrons"] = columns(std::move(out.electrons));
            r["muons"] = columns(std::move(out.muons));
            r["photons"] = columns(std::move(out.photons));
            r["taus"] = columns(std::move(out.taus));
            r["jets"] = columns(std::move(out.jets));
            r["large_r_jets"] = columns(std::move(out.large_r_jets));
            py::dict met;
            met["x"] = take(std::move(out.met.x));
            met["y"] = take(std::move(out.met.y));
            met["set"] = take(std::move(out.met.set));
            met["truth_x"] = take(std::move(out.met.truth_x));
            met["truth_y"] = take(std::move(out.met.truth_y));
            met["truth_set"] = take(std::move(out.met.truth_set));
            r["met"] = met;
            if (profile) {
                py::dict p;
                for (const auto& [stage, seconds] : prof.stages()) p[py::str(stage)] = seconds;
                r["profile"] = p;
            }
            return r;
        }, py::arg("events"), py::arg("first_event_key") = 0, py::arg("threads") = 1, py::arg("large_r") = true,
           py::arg("profile") = false,
           "Columns of the reconstructed objects; large_r = False skips the large-R jets (empty collection); "
           "profile = True adds 'profile': {stage: seconds} (worker-thread stages summed over threads).");
}
