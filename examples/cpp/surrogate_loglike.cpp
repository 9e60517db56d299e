// A global fit's likelihood call in C++ without Python: an efficiency map exported by
// `recast_ml.effmap.export_efficiency_maps` (or the scan driver) interpolated at a parameter point.
//   surrogate_loglike MAP.json CROSS_SECTION_PB M1 [M2 ...]          print efficiencies and ln L
//   surrogate_loglike --bench N MAP.json CROSS_SECTION_PB M1 [M2 ...]  time N loglike calls per mode
// Output (numbers with %.17g):
//   map <analysis> <model> points <n> simplices <n> regions <n>
//   efficiency <SR> <value> <error> <mc_error> <interpolation_error>     (one line per SR)
//   loglike best <value> <best SR>
//   loglike combined <value>
//   loglike_sr <SR> <value>                                               (one line per SR)
//   bench <mode> <calls> <microseconds per call>                          (--bench)
// A point outside the map's convex hull: "error: ..." on stderr, exit status 1.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>
#include <vector>

#include "recast/errors.hpp"
#include "recast/surrogate.hpp"

#include "arguments.hpp"  // number_arg

namespace sg = recast::surrogate;

int main(int argc, char** argv) {
    int arg = 1;
    long bench = 0;
    if (argc > 2 && std::string(argv[1]) == "--bench") {
        bench = std::strtol(argv[2], nullptr, 10);
        arg = 3;
    }
    if (argc - arg < 3 || bench < 0) {
        std::fprintf(stderr, "usage: %s [--bench N] MAP.json CROSS_SECTION_PB M1 [M2 ...]\n", argv[0]);
        return 2;
    }
    try {
        const sg::EfficiencyMap map = sg::EfficiencyMap::load(argv[arg]);
        const double xs = example::number_arg(argv[arg + 1], "CROSS_SECTION_PB (in pb, without a unit)");
        std::vector<double> x;
        for (int k = arg + 2; k < argc; ++k) x.push_back(example::number_arg(argv[k], "parameter"));
        std::printf("map %s %s points %zu simplices %zu regions %zu\n", map.analysis().c_str(), map.model().c_str(),
                    map.n_points(), map.n_simplices(), map.regions().size());
        if (bench > 0) {
            double sink = 0;
            for (const char* name : {"best", "combined"}) {
                const sg::Mode mode = sg::parse_mode(name);
                const auto t0 = std::chrono::steady_clock::now();
                for (long i = 0; i < bench; ++i) sink += map.loglike_value(x, xs, mode);
                const std::chrono::duration<double, std::micro> dt = std::chrono::steady_clock::now() - t0;
                std::printf("bench %s %ld %.6g\n", name, bench, dt.count() / static_cast<double>(bench));
            }
            std::printf("checksum %.17g\n", sink);
            return 0;
        }
        const auto eff = map.efficiencies(x);
        for (std::size_t i = 0; i < eff.size(); ++i)
            std::printf("efficiency %s %.17g %.17g %.17g %.17g\n", map.regions()[i].name.c_str(), eff[i].value,
                        eff[i].error, eff[i].mc_error, eff[i].interpolation_error);
        const sg::LogLikelihood best = map.loglike(x, xs, sg::Mode::best);
        std::printf("loglike best %.17g %s\n", best.value, map.regions()[best.best_region].name.c_str());
        std::printf("loglike combined %.17g\n", map.loglike_value(x, xs, sg::Mode::combined));
        for (std::size_t i = 0; i < best.per_region.size(); ++i)
            std::printf("loglike_sr %s %.17g\n", map.regions()[i].name.c_str(), best.per_region[i]);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "error: %s\n", e.what());
        return 1;
    }
    return 0;
}
