#include <pybind11/numpy.h>
#include <pybind11/stl.h>

#include "event_access.hpp"
#include "numpy_util.hpp"
#include "recast/jets.hpp"

#include "register.hpp"

namespace {


recast::jets::Algorithm algorithm_from(const std::string& name) {
    if (name == "antikt") return recast::jets::Algorithm::AntiKt;
    if (name == "kt") return recast::jets::Algorithm::Kt;
    if (name == "cambridge") return recast::jets::Algorithm::CambridgeAachen;
    throw py::value_error("unknown jet algorithm '" + name + "' (expected antikt, kt or cambridge)");
}

}  // namespace

void register_jets(py::module_& m) {
    m.def(
        "cluster_jets",
        [](const py::object& events, const py::object& inputs, const std::string& algorithm, double R, double pt_min,
           int threads) {
            const recast::EventView ev = event_view(events);
            py::array_t<std::uint8_t, py::array::c_style | py::array::forcecast> mask;
            if (!inputs.is_none()) {
                mask = py::array_t<std::uint8_t, py::array::c_style | py::array::forcecast>::ensure(inputs);
                if (!mask || mask.ndim() != 1 || static_cast<std::size_t>(mask.size()) != ev.n_particles())
                    throw py::value_error("inputs must be a 1-d mask with one entry per particle");
            }
            recast::jets::Definition def{algorithm_from(algorithm), R, pt_min};
            recast::jets::JetBatch jets;
            {
                py::gil_scoped_release release;
                jets = recast::jets::cluster(ev, inputs.is_none() ? nullptr : mask.data(), def, threads);
            }
            py::dict out;
            out["jet_offsets"] = take(std::move(jets.jet_offsets));
            out["px"] = take(std::move(jets.px));
            out["py"] = take(std::move(jets.py));
            out["pz"] = take(std::move(jets.pz));
            out["e"] = take(std::move(jets.e));
            out["pt"] = take(std::move(jets.pt));
            out["eta"] = take(std::move(jets.eta));
            out["phi"] = take(std::move(jets.phi));
            out["mass"] = take(std::move(jets.mass));
            out["constituent_offsets"] = take(std::move(jets.constituent_offsets));
            out["constituents"] = take(std::move(jets.constituents));
            return out;
        },
        py::arg("events"), py::arg("inputs") = py::none(), py::arg("algorithm") = "antikt", py::arg("R") = 0.4,
        py::arg("pt_min") = 0.0, py::arg("threads") = 1);
}
