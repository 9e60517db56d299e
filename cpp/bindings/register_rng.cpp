#include <pybind11/numpy.h>
#include <pybind11/stl.h>

#include "recast/rng.hpp"

#include "register.hpp"

namespace {
template <class T>
using arr = py::array_t<T, py::array::c_style | py::array::forcecast>;

// Vectorised over (event_key, object_index) pairs (broadcast by the caller); returns (n, 4) words.
py::array_t<std::uint32_t> words(std::uint64_t seed, const arr<std::uint64_t>& keys, std::uint16_t stream,
                                 std::uint16_t block, const arr<std::uint32_t>& objects) {
    if (keys.size() != objects.size()) throw py::value_error("event_key and object_index must have equal length");
    const auto n = keys.size();
    py::array_t<std::uint32_t> out({n, static_cast<py::ssize_t>(4)});
    auto* o = out.mutable_data();
    {
        py::gil_scoped_release release;
        for (py::ssize_t i = 0; i < n; ++i) {
            const auto w = recast::rng::block_words(seed, keys.data()[i], stream, block, objects.data()[i]);
            for (int j = 0; j < 4; ++j) o[4 * i + j] = w[j];
        }
    }
    return out;
}

template <bool Normal>
std::pair<py::array_t<double>, py::array_t<double>> pairs(std::uint64_t seed, const arr<std::uint64_t>& keys,
                                                          std::uint16_t stream, std::uint16_t block,
                                                          const arr<std::uint32_t>& objects) {
    if (keys.size() != objects.size()) throw py::value_error("event_key and object_index must have equal length");
    const auto n = keys.size();
    py::array_t<double> a(n), b(n);
    auto *pa = a.mutable_data(), *pb = b.mutable_data();
    {
        py::gil_scoped_release release;
        for (py::ssize_t i = 0; i < n; ++i) {
            const auto w = recast::rng::block_words(seed, keys.data()[i], stream, block, objects.data()[i]);
            const auto v = Normal ? recast::rng::to_normals(w) : recast::rng::to_uniforms(w);
            pa[i] = v.first;
            pb[i] = v.second;
        }
    }
    return {a, b};
}
}  // namespace

void register_rng(py::module_& m) {
    m.def("philox4x32_10", [](const std::array<std::uint32_t, 4>& ctr, const std::array<std::uint32_t, 2>& key) {
        return recast::rng::philox4x32_10(ctr, key);
    }, py::arg("counter"), py::arg("key"));
    m.def("rng_words", &words, py::arg("run_seed"), py::arg("event_key"), py::arg("stream"), py::arg("block"),
          py::arg("object_index"));
    m.def("rng_uniforms", &pairs<false>, py::arg("run_seed"), py::arg("event_key"), py::arg("stream"),
          py::arg("block"), py::arg("object_index"));
    m.def("rng_normals", &pairs<true>, py::arg("run_seed"), py::arg("event_key"), py::arg("stream"),
          py::arg("block"), py::arg("object_index"));
    py::dict streams;
    for (auto [name, id] : std::initializer_list<std::pair<const char*, recast::rng::Stream>>{
             {"electron", recast::rng::Stream::electron}, {"muon", recast::rng::Stream::muon},
             {"photon", recast::rng::Stream::photon}, {"tau", recast::rng::Stream::tau},
             {"jet_smear", recast::rng::Stream::jet_smear}, {"jet_btag", recast::rng::Stream::jet_btag},
             {"jet_tau_fake", recast::rng::Stream::jet_tau_fake}, {"met", recast::rng::Stream::met},
             {"large_r_jet", recast::rng::Stream::large_r_jet}, {"jet_e_fake", recast::rng::Stream::jet_e_fake},
             {"jet_gamma_fake", recast::rng::Stream::jet_gamma_fake}, {"track", recast::rng::Stream::track},
             {"boson_tag", recast::rng::Stream::boson_tag}})
        streams[name] = static_cast<int>(id);
    m.attr("RNG_STREAMS") = streams;
}
