#include <pybind11/numpy.h>
#include <pybind11/stl.h>

#include "recast/errors.hpp"
#include "recast/io.hpp"

#include "event_access.hpp"
#include "register.hpp"

void register_io(py::module_& m) {
    using recast::EventBatch;
    using recast::io::EventReader;
    py::class_<EventReader>(m, "EventReader", "Streaming reader of HepMC3/HepMC2/LHE files (plain or gzip)")
        .def("read", [](EventReader& r, std::size_t max_events) {
            auto b = std::make_shared<EventBatch>();
            b->source = r.path();
            {
                py::gil_scoped_release release;
                r.read(*b, max_events);
            }
            return b;
        }, py::arg("max_events"), "Read up to max_events events; an empty batch means end of file.")
        .def_property_readonly("format", [](const EventReader& r) { return recast::io::to_string(r.format()); })
        .def_property_readonly("path", &EventReader::path)
        .def_property_readonly("weight_names", &EventReader::weight_names)
        .def_property_readonly("tools", &EventReader::tools)
        .def_property_readonly("cross_section_pb", &EventReader::cross_section_pb)
        .def_property_readonly("cross_section_error_pb", &EventReader::cross_section_error_pb)
        .def_property_readonly("events_read", &EventReader::events_read);

    m.def("open_events", [](const std::string& path, const std::string& format, int threads, std::size_t chunk_bytes) {
        if (threads < 1) throw recast::ConfigError(path, -1, -1, "threads must be >= 1, got " + std::to_string(threads));
        const auto fmt = recast::io::format_from_string(format);
        // opening can block (a FIFO waits for its writer, which may be a Python thread)
        py::gil_scoped_release release;
        return recast::io::open_events(path, fmt, static_cast<unsigned>(threads), chunk_bytes);
    }, py::arg("path"), py::arg("format") = "auto", py::arg("threads") = 1, py::arg("chunk_bytes") = 0,
       "Open an event file; threads > 1 parses HepMC events on worker threads (same results); chunk_bytes: "
       "bytes of events per worker task (0: 1 MiB).");

    py::class_<recast::io::HepMC3Writer>(m, "HepMC3Writer")
        .def(py::init<const std::string&>(), py::arg("path"))
        .def("write", [](recast::io::HepMC3Writer& w, const py::object& events, double xs, double xs_err,
                         const std::vector<std::string>& weight_names, const py::object& weights_in) {
            const recast::EventView view = event_view(events);
            py::array_t<double, py::array::c_style | py::array::forcecast> weights;
            recast::Span<double> values;
            if (!weights_in.is_none() || !weight_names.empty()) {
                weights = py::array_t<double, py::array::c_style | py::array::forcecast>::ensure(weights_in);
                if (!weights || weights.ndim() != 2 || static_cast<std::size_t>(weights.shape(0)) != view.n_events() ||
                    static_cast<std::size_t>(weights.shape(1)) != weight_names.size())
                    throw py::value_error("weights must be an (n_events, len(weight_names)) float array");
                values = recast::Span<double>(weights.data(), static_cast<std::size_t>(weights.size()));
            }
            py::gil_scoped_release release;
            return w.write(view, xs, xs_err, weight_names, values);
        }, py::arg("events"), py::arg("cross_section_pb"), py::arg("cross_section_error_pb"),
           py::arg("weight_names") = std::vector<std::string>{},
           py::arg("weights") = py::none(),
           "Append events with further weights per event (weight_names, an (n_events, len(weight_names)) "
           "array) after the nominal; returns the number of dropped parent links.")
        .def("close", &recast::io::HepMC3Writer::close, "Write the footer and give the file its final name.")
        .def_property_readonly("is_open", &recast::io::HepMC3Writer::is_open)
        .def_property_readonly("events_written", &recast::io::HepMC3Writer::events_written)
        .def_property_readonly("path", &recast::io::HepMC3Writer::path);
}
