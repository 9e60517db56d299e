#pragma once
// The analysis input schema from its Python form (a dict of collections, records and optional
// bool_fields, each name -> field names), shared by register_analysis.cpp and register_functions.cpp.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <string>
#include <vector>

#include "recast/analysis/expression.hpp"

inline recast::analysis::Schema schema_from(const pybind11::dict& d) {
    namespace py = pybind11;
    recast::analysis::Schema s;
    for (const auto& [k, v] : d["collections"].cast<py::dict>())
        s.collections[k.cast<std::string>()] = v.cast<std::vector<std::string>>();
    for (const auto& [k, v] : d["records"].cast<py::dict>())
        s.records[k.cast<std::string>()] = v.cast<std::vector<std::string>>();
    if (d.contains("bool_fields"))
        for (const auto& [k, v] : d["bool_fields"].cast<py::dict>())
            s.bool_fields[k.cast<std::string>()] = v.cast<std::vector<std::string>>();
    return s;
}
