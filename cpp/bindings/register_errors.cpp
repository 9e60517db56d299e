// C++ errors -> the Python classes of recast_ml.errors (RecastError and its subclasses, with
// .message/.file/.line/.column and .event), and recast::FileNotFound -> FileNotFoundError. Texts
// are decoded as UTF-8 with backslash escapes for anything else, so that a stray byte of a bad
// input line never loses the message.
#include <Python.h>

#include <cerrno>
#include <string>

#include "recast/errors.hpp"

#include "register.hpp"

namespace {

py::object text(const std::string& s) {
    PyObject* o = PyUnicode_DecodeUTF8(s.data(), static_cast<Py_ssize_t>(s.size()), "backslashreplace");
    if (!o) throw py::error_already_set();
    return py::reinterpret_steal<py::object>(o);
}

py::object optional_text(const std::string& s) { return s.empty() ? py::object(py::none()) : text(s); }
py::object positive(std::int64_t x) { return x > 0 ? py::object(py::int_(x)) : py::object(py::none()); }

/// Raises `cls(message, **kwargs)` as the current Python error.
void raise(const py::object& cls, const std::string& message, const py::dict& kwargs) {
    py::object err = cls(text(message), **kwargs);
    PyErr_SetObject(cls.ptr(), err.ptr());
}

}  // namespace

void register_errors(py::module_& m) {
    py::module_ errors = py::module_::import("recast_ml.errors");
    for (const char* name : {"RecastError", "InputError", "ConfigError", "ModelError", "DependencyError"})
        m.attr(name) = errors.attr(name);
    py::register_exception_translator([](std::exception_ptr p) {
        try {
            if (p) std::rethrow_exception(p);
        } catch (const recast::Error& e) {
            // building the Python exception may itself fail (memory): report that error instead
            try {
                py::module_ errors = py::module_::import("recast_ml.errors");
                py::dict kw;
                if (const auto* f = dynamic_cast<const recast::FileNotFound*>(&e)) {
                    // (errno, strerror, filename): str() reads "[Errno 2] <message>: '<path>'"
                    py::object err = py::reinterpret_borrow<py::object>(PyExc_FileNotFoundError)(
                        ENOENT, text(e.message()), text(f->path()));
                    PyErr_SetObject(PyExc_FileNotFoundError, err.ptr());
                } else if (const auto* in = dynamic_cast<const recast::InputError*>(&e)) {
                    kw["file"] = optional_text(in->source());
                    kw["line"] = positive(in->line());
                    kw["column"] = in->line() > 0 ? positive(in->column()) : py::none();
                    kw["event"] = in->event() >= 0 ? py::object(py::int_(in->event())) : py::object(py::none());
                    raise(errors.attr("InputError"), e.message(), kw);
                } else if (const auto* c = dynamic_cast<const recast::ConfigError*>(&e)) {
                    kw["file"] = optional_text(c->where());
                    kw["line"] = positive(c->line());
                    kw["column"] = c->line() > 0 ? positive(c->column()) : py::none();
                    raise(errors.attr("ConfigError"), e.message(), kw);
                } else if (dynamic_cast<const recast::ModelError*>(&e)) {
                    raise(errors.attr("ModelError"), e.message(), kw);
                } else if (dynamic_cast<const recast::DependencyError*>(&e)) {
                    raise(errors.attr("DependencyError"), e.message(), kw);
                } else {
                    raise(errors.attr("RecastError"), e.message(), kw);
                }
            } catch (py::error_already_set& err) {
                err.restore();
            }
        }
    });
}
