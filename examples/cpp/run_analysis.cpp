// A bundled analysis run from C++ without Python: the resolved definition written by
//   recast-ml definition resolve ATLAS-SUSY-2018-22 -o resolved/
// (definition.json + the converted ONNX models), a detector card and a HepMC/LHE file.
//   run_analysis RESOLVED_DIR CARD.toml EVENTS [CROSS_SECTION_PB [CHUNK_SIZE [THREADS]]]
// CROSS_SECTION_PB is a plain number in pb (28.4 fb is 0.0284; no unit suffix, unlike recast-ml's
// --cross-section); 0 or absent: no yields. A malformed argument is an error, not a silent 0.
// Events are read and reconstructed in chunks (the event keys continue from chunk to chunk, so the
// detector emulation does not depend on the chunk size) and the per-chunk results are merged.
// Prints (numbers with %.17g, exact):
//   analysis <id> events <n> sumw <sum of weights>
//   cut<TAB><region><TAB><step><TAB><n><TAB><sumw><TAB><sumw2>   every step of every cutflow (names may hold spaces)
//   sr <region> <n> <sumw> <sumw2>                 the region's final step (its yield in weights)
//   bin <region> <k> <n> <sumw> <sumw2>            bins of multi-bin regions
//   yield <region> <events> <MC error>             with a cross section: sigma x L x efficiency
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>
#include <vector>

#include "recast/analysis/analysis.hpp"
#include "recast/analysis/definition.hpp"
#include "recast/card.hpp"
#include "recast/detector.hpp"
#include "recast/errors.hpp"
#include "recast/io.hpp"

#include "arguments.hpp"  // number_arg, integer_arg

namespace an = recast::analysis;

int main(int argc, char** argv) {
    if (argc < 4) {
        std::fprintf(stderr, "usage: %s RESOLVED_DIR CARD.toml EVENTS [CROSS_SECTION_PB [CHUNK_SIZE [THREADS]]]\n",
                     argv[0]);
        return 2;
    }
    try {
        const double xs = argc > 4 ? example::number_arg(argv[4], "CROSS_SECTION_PB (in pb, without a unit)") : 0.0;
        if (xs < 0) throw recast::ConfigError("<command line>", 0, 0, "CROSS_SECTION_PB must be >= 0");
        const auto chunk = static_cast<std::size_t>(argc > 5 ? example::integer_arg(argv[5], "CHUNK_SIZE") : 2000);
        const int threads = argc > 6 ? example::integer_arg(argv[6], "THREADS") : 1;

        const auto definition = an::load_definition(argv[1]);
        if (xs > 0 && !(definition.luminosity_fb > 0))
            throw recast::ConfigError(argv[1], 0, 0,
                                      "/info/luminosity: needed to turn a cross section into yields; the definition has none");
        const auto card = recast::card::Card::load(argv[2]);
        const recast::detector::Detector detector(card);
        // compile against the detector's output schema (an empty pass gives the table layout)
        recast::EventBatch empty;
        const auto schema =
            an::Analysis::schema_of(an::from_detector(detector.reconstruct(empty.view(), 0, 1), detector, {}, {}));
        const an::Analysis analysis(definition.spec, schema);
        const bool large_r = analysis.uses("large_r_jets");

        auto reader = recast::io::open_events(argv[3]);
        recast::EventBatch batch;
        std::vector<an::Result> parts;
        std::uint64_t key = 0;
        for (;;) {
            batch.clear();
            if (reader->read(batch, chunk) == 0) break;
            auto reco = detector.reconstruct(batch.view(), key, threads, large_r);
            const auto table = an::from_detector(std::move(reco), detector, batch.weight, batch.event_number);
            parts.push_back(analysis.run(table, threads));
            key += batch.n_events();
        }
        if (parts.empty()) throw recast::InputError(argv[3], 0, -1, "no events");
        std::vector<const an::Result*> ptrs;
        for (const auto& p : parts) ptrs.push_back(&p);
        const an::Result result = an::Result::combine(ptrs);

        const double sumw = result.cutflows.empty() ? 0.0 : result.cutflows.front().sumw.front();
        std::printf("analysis %s events %zu sumw %.17g\n", definition.spec.id.c_str(), result.n_events, sumw);
        // events per unit weight, as recast_ml computes it: sigma [pb] x L [fb-1] x 1000 / sum w
        const double scale = xs > 0 && sumw != 0 ? xs * definition.luminosity_fb * 1000.0 / sumw : 0.0;
        for (std::size_t r = 0; r < result.region_names.size(); ++r) {
            const auto& name = result.region_names[r];
            const auto& cf = result.cutflows[r];
            for (std::size_t k = 0; k < cf.names.size(); ++k)
                std::printf("cut\t%s\t%s\t%lld\t%.17g\t%.17g\n", name.c_str(), cf.names[k].c_str(),
                            static_cast<long long>(cf.n[k]), cf.sumw[k], cf.sumw2[k]);
            std::printf("sr %s %lld %.17g %.17g\n", name.c_str(), static_cast<long long>(cf.n.back()), cf.sumw.back(),
                        cf.sumw2.back());
            if (result.bins[r]) {
                const auto& b = *result.bins[r];
                for (std::size_t k = 0; k < b.n.size(); ++k)
                    std::printf("bin %s %zu %lld %.17g %.17g\n", name.c_str(), k, static_cast<long long>(b.n[k]),
                                b.sumw[k], b.sumw2[k]);
            }
            if (scale > 0)
                std::printf("yield %s %.17g %.17g\n", name.c_str(), cf.sumw.back() * scale, std::sqrt(cf.sumw2.back()) * scale);
        }
        return 0;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "error: %s\n", e.what());
        return 1;
    }
}
