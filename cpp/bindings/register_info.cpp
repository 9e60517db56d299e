#include "recast/onnx.hpp"
#include "recast/version.hpp"

#include "register.hpp"

void register_info(py::module_& m) {
    m.def("version", &recast::version, "Version of the recast C++ core.");
    m.def("fastjet_version", &recast::fastjet_version, "Version of the FastJet library the core links.");
}
