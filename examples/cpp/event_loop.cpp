// Minimal event loop on the recast C++ core: read an event file in batches, count final-state
// (status 1) charged particles and sum their pT, and (optionally) evaluate an ONNX model with one
// input of shape (N, k) on the first two of k features per event (count / 100, pT sum / 100 GeV,
// the rest 0), printing the first output of each event. The ONNX Runtime library is found as described in
// recast/onnx.hpp (e.g. RECAST_ONNXRUNTIME_LIBRARY=/path/to/libonnxruntime.so.1.x).
#include <cmath>
#include <cstdio>
#include <exception>
#include <vector>

#include "recast/errors.hpp"
#include "recast/event.hpp"
#include "recast/io.hpp"
#include "recast/onnx.hpp"

int main(int argc, char** argv) {
    if (argc < 2) {
        std::fprintf(stderr, "usage: %s EVENTS [MODEL.onnx]\n", argv[0]);
        return 2;
    }
    try {
        auto reader = recast::io::open_events(argv[1]);
        recast::EventBatch batch;
        long events = 0, charged = 0;
        double charged_pt = 0;
        std::vector<float> features;
        for (;;) {
            batch.clear();
            if (reader->read(batch, 100) == 0) break;
            for (std::size_t ev = 0; ev < batch.n_events(); ++ev) {
                long n = 0;
                double sum_pt = 0;
                for (auto i = batch.particle_offsets[ev]; i < batch.particle_offsets[ev + 1]; ++i) {
                    if (batch.status[i] == 1 && batch.charge3[i] != 0) {
                        ++n;
                        sum_pt += std::hypot(batch.px[i], batch.py[i]);
                    }
                }
                charged += n;
                charged_pt += sum_pt;
                features.push_back(static_cast<float>(n));
                features.push_back(static_cast<float>(sum_pt));
                ++events;
            }
        }
        std::printf("format %s events %ld charged_final %ld charged_pt %.6f\n",
                    recast::io::to_string(reader->format()).c_str(), events, charged, charged_pt);
        if (argc > 2) {
            recast::onnx::Model model(argv[2]);
            const auto& in = model.inputs().at(0);
            const std::int64_t k = in.shape.at(1);
            std::vector<float> x(static_cast<std::size_t>(events * k), 0.f);
            for (long e = 0; e < events; ++e)
                for (std::int64_t j = 0; j < k && j < 2; ++j) x[e * k + j] = features[2 * e + j] / 100.f;
            auto out = model.run({{in.name, recast::onnx::ElementType::Float32, {events, k}, x.data()}});
            std::printf("onnx %s outputs %zu scores", recast::onnx::runtime().version.c_str(), out[0].size());
            for (std::size_t i = 0; i < out[0].size(); ++i) std::printf(" %.9g", out[0].data<float>()[i]);
            std::printf("\n");
        }
    } catch (const recast::Error& e) {
        std::fprintf(stderr, "error: %s\n", e.what());
        return 1;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "unexpected error: %s\n", e.what());
        return 1;
    }
    return 0;
}
