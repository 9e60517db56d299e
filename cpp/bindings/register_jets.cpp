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

py::dict jet_columns(recast::jets::JetBatch&& jets) {
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
    out["n_tau"] = jets.n_tau;
    out["tau"] = take(std::move(jets.tau));
    return out;
}

using Mask = py::array_t<std::uint8_t, py::array::c_style | py::array::forcecast>;
using F64 = py::array_t<double, py::array::c_style | py::array::forcecast>;

}  // namespace

void register_jets(py::module_& m) {
    m.def(
        "cluster_jets",
        [](const py::object& events, const py::object& inputs, const std::string& algorithm, double R, double pt_min,
           int threads, const std::string& grooming, double r_sub, double f_cut, double beta, double z_cut, double R0,
           int n_subjettiness) {
            const recast::EventView ev = event_view(events);
            py::array_t<std::uint8_t, py::array::c_style | py::array::forcecast> mask;
            if (!inputs.is_none()) {
                mask = py::array_t<std::uint8_t, py::array::c_style | py::array::forcecast>::ensure(inputs);
                if (!mask || mask.ndim() != 1 || static_cast<std::size_t>(mask.size()) != ev.n_particles())
                    throw py::value_error("inputs must be a 1-d mask with one entry per particle");
            }
            recast::jets::Definition def{algorithm_from(algorithm), R, pt_min};
            if (grooming == "trimming") {
                def.grooming.kind = recast::jets::Grooming::Kind::Trimming;
                def.grooming.r_sub = r_sub, def.grooming.f_cut = f_cut;
            } else if (grooming == "softdrop") {
                def.grooming.kind = recast::jets::Grooming::Kind::SoftDrop;
                def.grooming.beta = beta, def.grooming.z_cut = z_cut, def.grooming.R0 = R0;
            } else if (grooming != "none") {
                throw py::value_error("unknown grooming '" + grooming + "' (expected none, trimming or softdrop)");
            }
            if (n_subjettiness < 0 || n_subjettiness > 8) throw py::value_error("n_subjettiness must be in 0..8");
            def.n_subjettiness = n_subjettiness;
            recast::jets::JetBatch jets;
            {
                py::gil_scoped_release release;
                jets = recast::jets::cluster(ev, inputs.is_none() ? nullptr : mask.data(), def, threads);
            }
            return jet_columns(std::move(jets));
        },
        py::arg("events"), py::arg("inputs") = py::none(), py::arg("algorithm") = "antikt", py::arg("R") = 0.4,
        py::arg("pt_min") = 0.0, py::arg("threads") = 1, py::arg("grooming") = "none", py::arg("r_sub") = 0.2,
        py::arg("f_cut") = 0.05, py::arg("beta") = 0.0, py::arg("z_cut") = 0.1, py::arg("R0") = 0.8,
        py::arg("n_subjettiness") = 0);
    m.def(
        "recluster_jets",
        [](const py::array_t<std::int64_t, py::array::c_style | py::array::forcecast>& offsets, const F64& px,
           const F64& py_, const F64& pz, const F64& e, const py::object& use, double R, double pt_min, double f_cut) {
            Mask mask;
            if (!use.is_none()) {
                mask = Mask::ensure(use);
                if (!mask || mask.ndim() != 1 || mask.size() != px.size())
                    throw py::value_error("use must be a 1-d mask with one entry per input object");
            }
            using recast::Span;
            recast::jets::JetBatch jets;
            {
                py::gil_scoped_release release;
                jets = recast::jets::recluster(
                    Span<std::int64_t>(offsets.data(), static_cast<std::size_t>(offsets.size())),
                    Span<double>(px.data(), static_cast<std::size_t>(px.size())),
                    Span<double>(py_.data(), static_cast<std::size_t>(py_.size())),
                    Span<double>(pz.data(), static_cast<std::size_t>(pz.size())),
                    Span<double>(e.data(), static_cast<std::size_t>(e.size())), use.is_none() ? nullptr : mask.data(),
                    R, pt_min, f_cut);
            }
            return jet_columns(std::move(jets));
        },
        py::arg("offsets"), py::arg("px"), py::arg("py"), py::arg("pz"), py::arg("e"), py::arg("use") = py::none(),
        py::arg("R") = 1.0, py::arg("pt_min") = 0.0, py::arg("f_cut") = 0.0);
}
