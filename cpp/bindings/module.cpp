#include "register.hpp"

PYBIND11_MODULE(_core, m) {
    m.doc() = "recast_ml compiled core (thin bindings of the recast C++ library)";
    register_errors(m);
    register_info(m);
    register_events(m);
    register_io(m);
    register_onnx(m);
    register_rng(m);
    register_card(m);
    register_jets(m);
    register_truth(m);
    register_btag(m);
    register_detector(m);
    register_overlap(m);
    register_table(m);
    register_analysis(m);
    register_functions(m);
    register_stats(m);
    register_surrogate(m);
}
