#pragma once

#include <pybind11/pybind11.h>

namespace py = pybind11;

void register_errors(py::module_& m);
void register_events(py::module_& m);
void register_io(py::module_& m);
void register_onnx(py::module_& m);
void register_info(py::module_& m);
void register_rng(py::module_& m);
void register_card(py::module_& m);
void register_jets(py::module_& m);
void register_truth(py::module_& m);
void register_btag(py::module_& m);
void register_detector(py::module_& m);
void register_overlap(py::module_& m);
void register_table(py::module_& m);
void register_analysis(py::module_& m);
void register_functions(py::module_& m);
void register_stats(py::module_& m);
void register_surrogate(py::module_& m);
