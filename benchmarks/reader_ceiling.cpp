// Where the time of recast's HepMC3 reader goes, and what bounds it: one plain HepMC3 file timed
// (best of N, in one run) as
//   read      the bytes into memory (page cache warm)
//   lines     + every line end found (memchr): the least any line parser does
//   numbers   + every number of every P line converted (std::from_chars, as the reader does; the
//             line scan included): the least a parser of the particle lines does
//   recast    open_events + read() in batches of 100, 1 thread and 2 threads
// Build and run (from the repository root; Release flags as the package):
//   g++ -O3 -DNDEBUG -std=c++17 -Icpp/include -Icpp/src benchmarks/reader_ceiling.cpp cpp/src/readers.cpp
//       cpp/src/line_source.cpp cpp/src/event.cpp cpp/src/pdg.cpp -lz -pthread -o /tmp/reader_ceiling
//   /tmp/reader_ceiling file.hepmc3 [repeat]
#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "recast/io.hpp"

namespace {
double best(int repeat, const std::function<void()>& fn) {
    double t_best = 1e300;
    for (int i = 0; i < repeat; ++i) {
        const auto t0 = std::chrono::steady_clock::now();
        fn();
        const double t = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        if (t < t_best) t_best = t;
    }
    return t_best;
}

std::vector<char> slurp(const char* path) {
    std::vector<char> buf;
    std::FILE* f = std::fopen(path, "rb");
    if (!f) {
        std::perror(path);
        std::exit(1);
    }
    std::fseek(f, 0, SEEK_END);
    buf.resize(static_cast<std::size_t>(std::ftell(f)));
    std::fseek(f, 0, SEEK_SET);
    if (std::fread(buf.data(), 1, buf.size(), f) != buf.size()) std::exit(1);
    std::fclose(f);
    return buf;
}

volatile double g_sink = 0;
}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) {
        std::fprintf(stderr, "usage: %s file.hepmc3 [repeat]\n", argv[0]);
        return 2;
    }
    const char* path = argv[1];
    const int repeat = argc > 2 ? std::atoi(argv[2]) : 3;
    std::vector<char> buf = slurp(path);
    const double mb = static_cast<double>(buf.size()) / 1e6;

    const double t_read = best(repeat, [&] { buf = slurp(path); });
    const double t_lines = best(repeat, [&] {
        buf = slurp(path);
        const char *p = buf.data(), *e = p + buf.size();
        std::size_t n = 0;
        while (const void* q = std::memchr(p, '\n', static_cast<std::size_t>(e - p))) {
            p = static_cast<const char*>(q) + 1;
            ++n;
        }
        g_sink = g_sink + static_cast<double>(n);
    });
    const double t_numbers = best(repeat, [&] {
        buf = slurp(path);
        const char *p = buf.data(), *e = p + buf.size();
        double sum = 0;
        while (p < e) {
            const char* q = static_cast<const char*>(std::memchr(p, '\n', static_cast<std::size_t>(e - p)));
            if (!q) q = e;
            if (*p == 'P') {  // P id ref pid px py pz e m status
                const char* s = p + 2;
                auto skip = [&] {
                    while (s < q && *s == ' ') ++s;
                };
                for (int k = 0; k < 9; ++k) {
                    skip();
                    if (k >= 3 && k < 8) {
                        double v = 0;
                        s = std::from_chars(s, q, v).ptr;
                        sum += v;
                    } else {
                        std::int64_t v = 0;
                        s = std::from_chars(s, q, v).ptr;
                        sum += static_cast<double>(v);
                    }
                }
            }
            p = q + 1;
        }
        g_sink = g_sink + sum;
    });
    std::size_t n_events = 0;
    auto recast = [&](unsigned threads) {
        return best(repeat, [&] {
            auto r = recast::io::open_events(path, recast::io::Format::Auto, threads);
            recast::EventBatch b;
            n_events = 0;
            while (std::size_t k = r->read(b, 100)) {
                n_events += k;
                b.clear();
            }
        });
    };
    const double t1 = recast(1), t2 = recast(2);
    std::printf("%s: %.1f MB, %zu events\n\n| step | MB/s | time / recast (1 thread) |\n|---|---:|---:|\n", path, mb,
                n_events);
    const struct {
        const char* name;
        double t;
    } rows[] = {{"read (page cache)", t_read},
                {"read + line scan (memchr)", t_lines},
                {"read + line scan + from_chars of every P-line number", t_numbers},
                {"recast reader, 1 thread", t1},
                {"recast reader, 2 threads", t2}};
    for (const auto& r : rows) std::printf("| %s | %.0f | %.2f |\n", r.name, mb / r.t, r.t / t1);
    return 0;
}
