#pragma once
// numpy arrays that take ownership of a std::vector (no copy): the vector moves into a capsule.
#include <pybind11/numpy.h>

#include <vector>

#include "register.hpp"

template <class T>
py::array_t<T> take(std::vector<T>&& v) {
    auto* owner = new std::vector<T>(std::move(v));
    py::capsule free_when_done(owner, [](void* p) { delete static_cast<std::vector<T>*>(p); });
    return py::array_t<T>({static_cast<py::ssize_t>(owner->size())}, {static_cast<py::ssize_t>(sizeof(T))},
                          owner->data(), free_when_done);
}
