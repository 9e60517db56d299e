#include <pybind11/numpy.h>
#include <pybind11/stl.h>

#include "event_access.hpp"
#include "numpy_util.hpp"
#include "recast/btag.hpp"
#include "recast/card.hpp"
#include "recast/jets.hpp"
#include "recast/truth.hpp"

#include "register.hpp"


void register_btag(py::module_& m) {
    using recast::btag::Tagger;
    py::class_<Tagger>(m, "BTagger", "Jet flavour labels and b-tagging of a detector card (spec §9)")
        .def(py::init<const recast::card::Card&>(), py::arg("card"))
        .def_property_readonly("working_points", &Tagger::working_points)
        .def("probability", [](const Tagger& t, std::size_t wp, int label, const py::array_t<double>& pt,
                                double abs_eta) {
            if (wp >= t.working_points().size()) throw py::index_error("working point index out of range");
            auto p = pt.unchecked<1>();
            py::array_t<double> out(pt.size());
            auto* o = out.mutable_data();
            for (py::ssize_t i = 0; i < pt.size(); ++i)
                o[i] = t.probability(wp, static_cast<recast::btag::Label>(label), p(i), abs_eta);
            return out;
        }, py::arg("wp"), py::arg("label"), py::arg("pt"), py::arg("abs_eta"))
        .def("tag_jets", [](const Tagger& t, const py::object& events, const recast::card::Card& card,
                            std::uint64_t run_seed, std::uint64_t first_event_key, int threads) {
            const recast::EventView ev = event_view(events);
            py::dict out;
            recast::jets::JetBatch jets;
            std::vector<std::int8_t> labels;
            std::vector<std::uint32_t> masks;
            {
                py::gil_scoped_release release;
                const auto truth = recast::truth::classify(ev, recast::truth::Config::from_card(card), threads);
                std::vector<std::uint8_t> inputs(truth.flags.size());
                for (std::size_t i = 0; i < inputs.size(); ++i) inputs[i] = (truth.flags[i] & recast::truth::kJetInput) != 0;
                recast::jets::Definition def{recast::jets::Algorithm::AntiKt, card.number("jet.R", 0.4),
                                             card.number("jet.truth_pt_min", 10.0)};
                std::vector<std::uint8_t> ghosts;
                if (t.needs_ghosts()) {
                    ghosts.resize(truth.flags.size());
                    for (std::size_t i = 0; i < ghosts.size(); ++i)
                        ghosts[i] = (truth.flags[i] & (recast::truth::kBHadron | recast::truth::kCHadron)) != 0;
                }
                jets = recast::jets::cluster(ev, inputs.data(), def, threads, ghosts.empty() ? nullptr : ghosts.data());
                labels = t.labels(ev, truth, jets);
                masks = t.tag(jets, labels, run_seed, first_event_key);
            }
            out["jet_offsets"] = take(std::move(jets.jet_offsets));
            out["pt"] = take(std::move(jets.pt));
            out["eta"] = take(std::move(jets.eta));
            out["phi"] = take(std::move(jets.phi));
            out["mass"] = take(std::move(jets.mass));
            out["label"] = take(std::move(labels));
            out["btag"] = take(std::move(masks));
            return out;
        }, py::arg("events"), py::arg("card"), py::arg("run_seed") = 1, py::arg("first_event_key") = 0,
           py::arg("threads") = 1);
}
