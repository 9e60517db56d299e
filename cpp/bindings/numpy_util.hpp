#pragma once
// numpy arrays that take ownership of a std::vector (no copy): the vector moves into a capsule.
#include <pybind11/numpy.h>

#include <utility>
#include <vector>

#include "register.hpp"

/// A capsule owning a vector (moved in) and a pointer to its data, for arrays viewing it.
template <class T>
std::pair<py::capsule, T*> own(std::vector<T>&& v) {
    auto* owner = new std::vector<T>(std::move(v));
    return {py::capsule(owner, [](void* p) { delete static_cast<std::vector<T>*>(p); }), owner->data()};
}

/// 1-d array of a vector's elements, without copying.
template <class T>
py::array_t<T> take(std::vector<T>&& v) {
    const auto n = static_cast<py::ssize_t>(v.size());
    auto [capsule, data] = own(std::move(v));
    return py::array_t<T>({n}, {static_cast<py::ssize_t>(sizeof(T))}, data, capsule);
}
