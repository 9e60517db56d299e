#include <pybind11/numpy.h>
#include <pybind11/stl.h>

#include "event_access.hpp"
#include "numpy_util.hpp"
#include "recast/card.hpp"
#include "recast/truth.hpp"

#include "register.hpp"


void register_truth(py::module_& m) {
    m.def(
        "classify_truth",
        [](const py::object& events, const recast::card::Card* card, int threads) {
            const recast::EventView ev = event_view(events);
            const auto cfg = card ? recast::truth::Config::from_card(*card) : recast::truth::Config{};
            recast::truth::Classification c;
            {
                py::gil_scoped_release release;
                c = recast::truth::classify(ev, cfg, threads);
            }
            py::dict out, taus;
            out["flags"] = take(std::move(c.flags));
            out["heavy_charged"] = c.heavy_charged;
            out["hadron_free"] = take(std::move(c.hadron_free));
            taus["offsets"] = take(std::move(c.taus.offsets));
            taus["index"] = take(std::move(c.taus.index));
            taus["px"] = take(std::move(c.taus.px));
            taus["py"] = take(std::move(c.taus.py));
            taus["pz"] = take(std::move(c.taus.pz));
            taus["e"] = take(std::move(c.taus.e));
            taus["prongs"] = take(std::move(c.taus.prongs));
            taus["charge3"] = take(std::move(c.taus.charge3));
            out["taus"] = taus;
            return out;
        },
        py::arg("events"), py::arg("card") = nullptr, py::arg("threads") = 1);
    py::dict flags;
    flags["stable"] = static_cast<int>(recast::truth::kStable);
    flags["invisible"] = static_cast<int>(recast::truth::kInvisible);
    flags["lost"] = static_cast<int>(recast::truth::kLost);
    flags["prompt"] = static_cast<int>(recast::truth::kPrompt);
    flags["jet_input"] = static_cast<int>(recast::truth::kJetInput);
    flags["b_hadron"] = static_cast<int>(recast::truth::kBHadron);
    flags["c_hadron"] = static_cast<int>(recast::truth::kCHadron);
    flags["hadronic_tau"] = static_cast<int>(recast::truth::kHadronicTau);
    flags["from_hadronic_tau"] = static_cast<int>(recast::truth::kFromHadronicTau);
    flags["heavy_charged"] = static_cast<int>(recast::truth::kHeavyCharged);
    flags["last_b_quark"] = static_cast<int>(recast::truth::kLastBQuark);
    flags["last_c_quark"] = static_cast<int>(recast::truth::kLastCQuark);
    flags["hadronic_boson"] = static_cast<int>(recast::truth::kHadronicBoson);
    flags["hadronic_top"] = static_cast<int>(recast::truth::kHadronicTop);
    m.attr("TRUTH_FLAGS") = flags;
}
