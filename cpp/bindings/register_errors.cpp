#include "recast/errors.hpp"

#include "register.hpp"

void register_errors(py::module_& m) {
    // pybind11 tries translators in reverse order of registration: the base class goes first.
    static py::exception<recast::Error> base(m, "RecastError", PyExc_RuntimeError);
    static py::exception<recast::InputError> input(m, "InputError", PyExc_ValueError);
    static py::exception<recast::ModelError> model(m, "ModelError", PyExc_ValueError);
    static py::exception<recast::DependencyError> dep(m, "DependencyError", PyExc_RuntimeError);
    static py::exception<recast::ConfigError> config(m, "ConfigError", PyExc_ValueError);
    py::register_exception_translator([](std::exception_ptr p) {
        try {
            if (p) std::rethrow_exception(p);
        } catch (const recast::FileNotFound& e) {
            py::set_error(PyExc_FileNotFoundError, e.what());
        } catch (const recast::InputError& e) {
            py::set_error(input, e.what());
        } catch (const recast::ModelError& e) {
            py::set_error(model, e.what());
        } catch (const recast::ConfigError& e) {
            py::set_error(config, e.what());
        } catch (const recast::DependencyError& e) {
            py::set_error(dep, e.what());
        } catch (const recast::Error& e) {
            py::set_error(base, e.what());
        }
    });
}
