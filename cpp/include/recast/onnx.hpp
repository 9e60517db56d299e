// ONNX Runtime inference for the event loop.
//
// The ONNX Runtime shared library is not linked: it is loaded at run time with dlopen (normally the
// libonnxruntime.so.1.* shipped in the PyPI `onnxruntime` wheel) and its C API is obtained through
// OrtGetApiBase, with the C++ API in ORT_API_MANUAL_INIT mode. The API version used is the one of
// the headers the core was compiled with (Debian's libonnxruntime-dev 1.21: C API v21); a runtime
// older than that is refused with a clear message.
//
// Where the library comes from, in order: set_runtime_library(); $RECAST_ONNXRUNTIME_LIBRARY;
// $ONNXRUNTIME_ROOT/lib; the dynamic loader's search path ("libonnxruntime.so.1").
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace recast::onnx {

enum class ElementType { Float32, Float64, Int64, Int32, Other };
std::string to_string(ElementType t);
std::size_t element_size(ElementType t);

struct RuntimeInfo {
    std::string library_path;  ///< the file that was loaded
    std::string version;       ///< ONNX Runtime version reported by the library
    int api_version = 0;       ///< C API version in use (= the headers')
};

/// Chooses the ONNX Runtime library to load. Must be called before the runtime is first used;
/// throws DependencyError if a different library is already loaded.
void set_runtime_library(const std::string& path);
/// Loads the runtime if necessary; throws DependencyError (saying what was tried) on failure.
const RuntimeInfo& runtime();
/// C API version of the headers the core was compiled with.
int header_api_version() noexcept;

struct TensorInfo {
    std::string name;
    ElementType type = ElementType::Other;
    std::string type_name;        ///< ONNX type name, e.g. "float", "double", "int64", "seq(map)"
    std::vector<std::int64_t> shape;  ///< -1 for dynamic (batch) dimensions
    std::vector<std::string> dim_names;  ///< symbolic dimension names ("" if none)
};

/// Input tensor, not owned (row-major, contiguous).
struct TensorView {
    std::string name;
    ElementType type = ElementType::Float32;
    std::vector<std::int64_t> shape;
    const void* data = nullptr;
};

/// Output tensor, owned (row-major, contiguous).
struct Tensor {
    std::string name;
    ElementType type = ElementType::Float32;
    std::vector<std::int64_t> shape;
    std::vector<unsigned char> bytes;
    std::size_t size() const;  ///< number of elements
    template <class T>
    const T* data() const { return reinterpret_cast<const T*>(bytes.data()); }
};

struct ModelOptions {
    int intra_op_threads = 1;  ///< threads ORT may use inside one run() call
};

/// A loaded ONNX model. run() may be called concurrently from several threads.
class Model {
public:
    explicit Model(const std::string& path, ModelOptions options = {});
    /// A model held in memory (e.g. converted from TMVA/lwtnn); `name` labels it in messages.
    Model(const void* bytes, std::size_t size, const std::string& name, ModelOptions options = {});
    ~Model();
    Model(Model&&) noexcept;
    Model& operator=(Model&&) noexcept;

    const std::string& path() const;
    const std::vector<TensorInfo>& inputs() const;
    const std::vector<TensorInfo>& outputs() const;
    const ModelOptions& options() const;

    /// Runs the model. Every model input must be given exactly once with the model's element type,
    /// rank and fixed dimensions; returns the requested outputs (all if `output_names` is empty)
    /// in the requested order. Throws ModelError naming the model file and the offending input.
    std::vector<Tensor> run(const std::vector<TensorView>& inputs,
                            const std::vector<std::string>& output_names = {}) const;

private:
    void open(const std::string& path, const void* bytes, std::size_t size, ModelOptions options);
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace recast::onnx
