// ONNX Runtime loaded with dlopen; see recast/onnx.hpp.
#define ORT_API_MANUAL_INIT
#include <onnxruntime_cxx_api.h>
#undef ORT_API_MANUAL_INIT

#include <dlfcn.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <mutex>
#include <sstream>

#include "recast/errors.hpp"
#include "recast/onnx.hpp"

namespace recast::onnx {

std::string to_string(ElementType t) {
    switch (t) {
        case ElementType::Float32: return "float32";
        case ElementType::Float64: return "float64";
        case ElementType::Int64: return "int64";
        case ElementType::Int32: return "int32";
        case ElementType::Other: return "other";
    }
    return "?";
}

std::size_t element_size(ElementType t) {
    switch (t) {
        case ElementType::Float32:
        case ElementType::Int32: return 4;
        case ElementType::Float64:
        case ElementType::Int64: return 8;
        case ElementType::Other: return 0;
    }
    return 0;
}

std::size_t Tensor::size() const {
    std::size_t n = 1;
    for (auto d : shape) n *= static_cast<std::size_t>(d);
    return n;
}

int header_api_version() noexcept { return ORT_API_VERSION; }

namespace {

struct Runtime {
    std::mutex mutex;
    std::string requested;  // from set_runtime_library
    void* handle = nullptr;
    RuntimeInfo info;
    std::unique_ptr<Ort::Env> env;
};

Runtime& state() {
    static Runtime r;
    return r;
}

void load_locked(Runtime& r) {
    std::vector<std::string> candidates;
    if (!r.requested.empty()) {
        candidates.push_back(r.requested);
    } else {
        if (const char* p = std::getenv("RECAST_ONNXRUNTIME_LIBRARY"); p && *p) candidates.emplace_back(p);
        if (const char* root = std::getenv("ONNXRUNTIME_ROOT"); root && *root) {
            candidates.push_back(std::string(root) + "/lib/libonnxruntime.so");
            candidates.push_back(std::string(root) + "/lib64/libonnxruntime.so");
        }
        candidates.emplace_back("libonnxruntime.so.1");
    }
    std::ostringstream tried;
    for (const auto& c : candidates) {
        dlerror();
        void* h = dlopen(c.c_str(), RTLD_NOW | RTLD_LOCAL);
        if (h == nullptr) {
            const char* e = dlerror();
            tried << "\n  " << c << ": " << (e ? e : "dlopen failed");
            continue;
        }
        using GetApiBase = const OrtApiBase* (*)();
        auto get_base = reinterpret_cast<GetApiBase>(dlsym(h, "OrtGetApiBase"));
        if (get_base == nullptr) {
            tried << "\n  " << c << ": no symbol OrtGetApiBase (not an ONNX Runtime library)";
            dlclose(h);
            continue;
        }
        const OrtApiBase* base = get_base();
        const char* ver_c = base->GetVersionString();
        const std::string ver = ver_c ? ver_c : "?";  // copy: the string lives in the library
        const OrtApi* api = base->GetApi(ORT_API_VERSION);
        if (api == nullptr) {
            dlclose(h);
            throw DependencyError("ONNX Runtime " + ver + " at " + c +
                                  " is older than the C API version " + std::to_string(ORT_API_VERSION) +
                                  " recast was built with; install onnxruntime >= 1." +
                                  std::to_string(ORT_API_VERSION));
        }
        Ort::InitApi(api);
        std::string where = c;
        if (void* sym = dlsym(h, "OrtGetApiBase")) {
            Dl_info dli{};
            if (dladdr(sym, &dli) != 0 && dli.dli_fname != nullptr) where = dli.dli_fname;
        }
        r.handle = h;
        r.info = RuntimeInfo{where, ver, ORT_API_VERSION};
        r.env = std::make_unique<Ort::Env>(ORT_LOGGING_LEVEL_ERROR, "recast");
        return;
    }
    throw DependencyError(
        "could not load the ONNX Runtime library (install the 'onnxruntime' Python package, or set "
        "RECAST_ONNXRUNTIME_LIBRARY or ONNXRUNTIME_ROOT); tried:" + tried.str());
}

ElementType from_onnx(ONNXTensorElementDataType t) {
    switch (t) {
        case ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT: return ElementType::Float32;
        case ONNX_TENSOR_ELEMENT_DATA_TYPE_DOUBLE: return ElementType::Float64;
        case ONNX_TENSOR_ELEMENT_DATA_TYPE_INT64: return ElementType::Int64;
        case ONNX_TENSOR_ELEMENT_DATA_TYPE_INT32: return ElementType::Int32;
        default: return ElementType::Other;
    }
}

ONNXTensorElementDataType to_onnx(ElementType t) {
    switch (t) {
        case ElementType::Float32: return ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT;
        case ElementType::Float64: return ONNX_TENSOR_ELEMENT_DATA_TYPE_DOUBLE;
        case ElementType::Int64: return ONNX_TENSOR_ELEMENT_DATA_TYPE_INT64;
        case ElementType::Int32: return ONNX_TENSOR_ELEMENT_DATA_TYPE_INT32;
        case ElementType::Other: break;
    }
    return ONNX_TENSOR_ELEMENT_DATA_TYPE_UNDEFINED;
}

std::string onnx_type_name(ONNXTensorElementDataType t) {
    switch (t) {
        case ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT: return "float";
        case ONNX_TENSOR_ELEMENT_DATA_TYPE_DOUBLE: return "double";
        case ONNX_TENSOR_ELEMENT_DATA_TYPE_INT64: return "int64";
        case ONNX_TENSOR_ELEMENT_DATA_TYPE_INT32: return "int32";
        case ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT16: return "float16";
        case ONNX_TENSOR_ELEMENT_DATA_TYPE_BOOL: return "bool";
        case ONNX_TENSOR_ELEMENT_DATA_TYPE_STRING: return "string";
        default: return "tensor(" + std::to_string(static_cast<int>(t)) + ")";
    }
}

TensorInfo describe(const std::string& name, const Ort::TypeInfo& ti) {
    TensorInfo out;
    out.name = name;
    const ONNXType kind = ti.GetONNXType();
    if (kind != ONNX_TYPE_TENSOR) {
        out.type = ElementType::Other;
        out.type_name = kind == ONNX_TYPE_SEQUENCE ? "sequence" : kind == ONNX_TYPE_MAP ? "map" : "non-tensor";
        return out;
    }
    auto info = ti.GetTensorTypeAndShapeInfo();
    out.type = from_onnx(info.GetElementType());
    out.type_name = onnx_type_name(info.GetElementType());
    out.shape = info.GetShape();
    const std::size_t rank = out.shape.size();
    std::vector<const char*> dims(rank, nullptr);
    if (rank > 0) info.GetSymbolicDimensions(dims.data(), rank);
    for (auto* d : dims) out.dim_names.emplace_back(d ? d : "");
    return out;
}

std::string shape_str(const std::vector<std::int64_t>& s) {
    std::string out = "(";
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (i) out += ", ";
        out += s[i] < 0 ? "N" : std::to_string(s[i]);
    }
    if (s.size() == 1) out += ",";
    return out + ")";
}

}  // namespace

void set_runtime_library(const std::string& path) {
    auto& r = state();
    std::lock_guard<std::mutex> lock(r.mutex);
    if (r.handle != nullptr) {
        if (path == r.requested || path == r.info.library_path) return;
        throw DependencyError("ONNX Runtime is already loaded from " + r.info.library_path +
                              "; cannot switch to " + path);
    }
    r.requested = path;
}

const RuntimeInfo& runtime() {
    auto& r = state();
    std::lock_guard<std::mutex> lock(r.mutex);
    if (r.handle == nullptr) load_locked(r);
    return r.info;
}

struct Model::Impl {
    std::string path;
    ModelOptions options;
    std::unique_ptr<Ort::Session> session;
    std::vector<TensorInfo> inputs, outputs;
    std::vector<const char*> input_cnames, output_cnames;
};

Model::Model(const std::string& path, ModelOptions options) : impl_(std::make_unique<Impl>()) {
    {
        std::ifstream probe(path, std::ios::binary);
        if (!probe) throw FileNotFound(path, "cannot open ONNX model");
    }
    open(path, nullptr, 0, options);
}

Model::Model(const void* bytes, std::size_t size, const std::string& name, ModelOptions options)
    : impl_(std::make_unique<Impl>()) {
    if (!bytes || size == 0) throw ModelError(name + ": empty ONNX model");
    open(name, bytes, size, options);
}

void Model::open(const std::string& path, const void* bytes, std::size_t size, ModelOptions options) {
    impl_->path = path;
    impl_->options = options;
    runtime();  // loads the library and creates the environment
    if (options.intra_op_threads < 1) throw ModelError(path + ": intra_op_threads must be >= 1");
    try {
        Ort::SessionOptions so;
        so.SetIntraOpNumThreads(options.intra_op_threads);
        so.SetInterOpNumThreads(1);
        so.SetExecutionMode(ORT_SEQUENTIAL);
        so.SetGraphOptimizationLevel(GraphOptimizationLevel::ORT_ENABLE_ALL);
        impl_->session = bytes ? std::make_unique<Ort::Session>(*state().env, bytes, size, so)
                               : std::make_unique<Ort::Session>(*state().env, path.c_str(), so);
        Ort::AllocatorWithDefaultOptions alloc;
        const std::size_t ni = impl_->session->GetInputCount(), no = impl_->session->GetOutputCount();
        for (std::size_t i = 0; i < ni; ++i) {
            auto name = impl_->session->GetInputNameAllocated(i, alloc);
            impl_->inputs.push_back(describe(name.get(), impl_->session->GetInputTypeInfo(i)));
        }
        for (std::size_t i = 0; i < no; ++i) {
            auto name = impl_->session->GetOutputNameAllocated(i, alloc);
            impl_->outputs.push_back(describe(name.get(), impl_->session->GetOutputTypeInfo(i)));
        }
    } catch (const Ort::Exception& e) {
        throw ModelError(path + ": ONNX Runtime cannot load the model: " + e.what());
    }
    for (auto& t : impl_->inputs) impl_->input_cnames.push_back(t.name.c_str());
    for (auto& t : impl_->outputs) impl_->output_cnames.push_back(t.name.c_str());
}

Model::~Model() = default;
Model::Model(Model&&) noexcept = default;
Model& Model::operator=(Model&&) noexcept = default;

const std::string& Model::path() const { return impl_->path; }
const std::vector<TensorInfo>& Model::inputs() const { return impl_->inputs; }
const std::vector<TensorInfo>& Model::outputs() const { return impl_->outputs; }
const ModelOptions& Model::options() const { return impl_->options; }

std::vector<Tensor> Model::run(const std::vector<TensorView>& given,
                               const std::vector<std::string>& output_names) const {
    const auto& I = *impl_;
    auto fail = [&](const std::string& what) -> ModelError { return ModelError(I.path + ": " + what); };
    auto names_of = [](const std::vector<TensorInfo>& v) {
        std::string s;
        for (auto& t : v) s += (s.empty() ? "'" : ", '") + t.name + "'";
        return s;
    };

    // Match the given inputs to the model's, check type, rank and fixed dimensions.
    std::vector<const TensorView*> ordered(I.inputs.size(), nullptr);
    for (const auto& g : given) {
        auto it = std::find_if(I.inputs.begin(), I.inputs.end(), [&](const TensorInfo& t) { return t.name == g.name; });
        if (it == I.inputs.end())
            throw fail("unknown input '" + g.name + "'; the model's inputs are " + names_of(I.inputs));
        const auto k = static_cast<std::size_t>(it - I.inputs.begin());
        if (ordered[k] != nullptr) throw fail("input '" + g.name + "' given twice");
        if (g.type != it->type)
            throw fail("input '" + g.name + "' must be " + to_string(it->type) + ", got " + to_string(g.type));
        if (g.shape.size() != it->shape.size())
            throw fail("input '" + g.name + "' must have shape " + shape_str(it->shape) + ", got " + shape_str(g.shape));
        for (std::size_t d = 0; d < g.shape.size(); ++d)
            if (g.shape[d] < 0 || (it->shape[d] >= 0 && it->shape[d] != g.shape[d]))
                throw fail("input '" + g.name + "' must have shape " + shape_str(it->shape) + ", got " + shape_str(g.shape));
        if (g.data == nullptr) throw fail("input '" + g.name + "' has no data");
        ordered[k] = &g;
    }
    for (std::size_t k = 0; k < ordered.size(); ++k)
        if (ordered[k] == nullptr) throw fail("missing input '" + I.inputs[k].name + "'");

    std::vector<const char*> out_names;
    std::vector<const TensorInfo*> out_info;
    if (output_names.empty()) {
        out_names = I.output_cnames;
        for (auto& t : I.outputs) out_info.push_back(&t);
    } else {
        for (const auto& n : output_names) {
            auto it = std::find_if(I.outputs.begin(), I.outputs.end(), [&](const TensorInfo& t) { return t.name == n; });
            if (it == I.outputs.end())
                throw fail("unknown output '" + n + "'; the model's outputs are " + names_of(I.outputs));
            out_names.push_back(it->name.c_str());
            out_info.push_back(&*it);
        }
    }
    for (auto* t : out_info)
        if (t->type == ElementType::Other)
            throw fail("output '" + t->name + "' is a " + t->type_name + " (only float32/float64/int32/int64 tensors are supported)");

    try {
        auto mem = Ort::MemoryInfo::CreateCpu(OrtArenaAllocator, OrtMemTypeDefault);
        std::vector<Ort::Value> in_values;
        in_values.reserve(ordered.size());
        for (const auto* g : ordered) {
            std::size_t n = 1;
            for (auto d : g->shape) n *= static_cast<std::size_t>(d);
            in_values.push_back(Ort::Value::CreateTensor(mem, const_cast<void*>(g->data), n * element_size(g->type),
                                                         g->shape.data(), g->shape.size(), to_onnx(g->type)));
        }
        auto outs = I.session->Run(Ort::RunOptions{nullptr}, I.input_cnames.data(), in_values.data(),
                                   in_values.size(), out_names.data(), out_names.size());
        std::vector<Tensor> result;
        result.reserve(outs.size());
        for (std::size_t k = 0; k < outs.size(); ++k) {
            auto info = outs[k].GetTensorTypeAndShapeInfo();
            Tensor t;
            t.name = out_names[k];
            t.type = from_onnx(info.GetElementType());
            t.shape = info.GetShape();
            const std::size_t nbytes = info.GetElementCount() * element_size(t.type);
            t.bytes.resize(nbytes);
            if (nbytes) std::memcpy(t.bytes.data(), outs[k].GetTensorRawData(), nbytes);
            result.push_back(std::move(t));
        }
        return result;
    } catch (const Ort::Exception& e) {
        throw fail(std::string("ONNX Runtime error: ") + e.what());
    }
}

}  // namespace recast::onnx
