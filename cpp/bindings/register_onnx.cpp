#include <pybind11/numpy.h>
#include <pybind11/stl.h>

#include "recast/errors.hpp"
#include "recast/onnx.hpp"

#include "numpy_util.hpp"
#include "register.hpp"

namespace {

using recast::onnx::ElementType;

ElementType element_type_of(const py::array& a, const recast::onnx::Model& model, const std::string& name) {
    const auto dt = a.dtype();
    if (dt.is(py::dtype::of<float>())) return ElementType::Float32;
    if (dt.is(py::dtype::of<double>())) return ElementType::Float64;
    if (dt.is(py::dtype::of<std::int64_t>())) return ElementType::Int64;
    if (dt.is(py::dtype::of<std::int32_t>())) return ElementType::Int32;
    throw recast::ModelError(model.path() + ": input '" + name + "' has unsupported dtype " +
                             py::str(dt).cast<std::string>() + " (float32, float64, int32 or int64 expected)");
}

py::array to_numpy(recast::onnx::Tensor&& t) {
    py::dtype dt;
    switch (t.type) {
        case ElementType::Float32: dt = py::dtype::of<float>(); break;
        case ElementType::Float64: dt = py::dtype::of<double>(); break;
        case ElementType::Int64: dt = py::dtype::of<std::int64_t>(); break;
        case ElementType::Int32: dt = py::dtype::of<std::int32_t>(); break;
        default: throw recast::ModelError("unsupported output type");
    }
    std::vector<py::ssize_t> shape(t.shape.begin(), t.shape.end());
    auto [capsule, data] = own(std::move(t.bytes));
    return py::array(dt, shape, data, capsule);
}

py::dict info_dict(const recast::onnx::TensorInfo& t) {
    py::dict d;
    d["name"] = t.name;
    d["dtype"] = recast::onnx::to_string(t.type);
    d["onnx_type"] = t.type_name;
    py::list shape;
    for (std::size_t i = 0; i < t.shape.size(); ++i) {
        if (t.shape[i] < 0) {
            shape.append(i < t.dim_names.size() && !t.dim_names[i].empty() ? py::object(py::str(t.dim_names[i])) : py::none());
        } else {
            shape.append(t.shape[i]);
        }
    }
    d["shape"] = py::tuple(shape);
    return d;
}

}  // namespace

void register_onnx(py::module_& m) {
    using recast::onnx::Model;
    m.def("onnxruntime_set_library", &recast::onnx::set_runtime_library, py::arg("path"),
          "Choose the libonnxruntime.so to dlopen (before first use).");
    m.def("onnxruntime_info", []() {
        const auto& r = recast::onnx::runtime();
        py::dict d;
        d["library"] = r.library_path;
        d["version"] = r.version;
        d["api_version"] = r.api_version;
        return d;
    }, "Load the ONNX Runtime library if needed and describe it.");
    m.def("onnxruntime_header_api_version", &recast::onnx::header_api_version);

    py::class_<Model, std::shared_ptr<Model>>(m, "OnnxModel")
        .def(py::init([](const std::string& path, int threads) {
                 return std::make_shared<Model>(path, recast::onnx::ModelOptions{threads});
             }),
             py::arg("path"), py::arg("intra_op_threads") = 1)
        .def_property_readonly("path", &Model::path)
        .def_property_readonly("intra_op_threads", [](const Model& mo) { return mo.options().intra_op_threads; })
        .def_property_readonly("inputs", [](const Model& mo) {
            py::list l;
            for (auto& t : mo.inputs()) l.append(info_dict(t));
            return l;
        })
        .def_property_readonly("outputs", [](const Model& mo) {
            py::list l;
            for (auto& t : mo.outputs()) l.append(info_dict(t));
            return l;
        })
        .def("run", [](const Model& mo, const py::dict& feeds, const std::vector<std::string>& outputs) {
            std::vector<py::array> keep;
            std::vector<recast::onnx::TensorView> views;
            for (auto item : feeds) {
                const auto name = py::str(item.first).cast<std::string>();
                py::array a = py::array::ensure(item.second);
                if (!a) throw recast::ModelError(mo.path() + ": input '" + name + "' is not array-like");
                const ElementType t = element_type_of(a, mo, name);
                a = py::array::ensure(a, py::array::c_style);  // contiguous, same dtype
                recast::onnx::TensorView v;
                v.name = name;
                v.type = t;
                v.shape.assign(a.shape(), a.shape() + a.ndim());
                v.data = a.data();
                keep.push_back(a);
                views.push_back(std::move(v));
            }
            std::vector<recast::onnx::Tensor> result;
            {
                py::gil_scoped_release release;
                result = mo.run(views, outputs);
            }
            py::dict out;
            for (auto& t : result) {
                const std::string name = t.name;
                out[py::str(name)] = to_numpy(std::move(t));
            }
            return out;
        }, py::arg("feeds"), py::arg("outputs") = std::vector<std::string>{});
}
