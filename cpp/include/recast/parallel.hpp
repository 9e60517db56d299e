// Splitting a batch of events over threads with deterministic results: events [0, n) are cut into
// contiguous ranges, range t goes to thread t, and callers concatenate per-range outputs in range
// order, so the result does not depend on the thread count. Exceptions are re-thrown in the caller.
#pragma once

#include <algorithm>
#include <cstddef>
#include <exception>
#include <thread>
#include <vector>

namespace recast {

/// Number of ranges (threads) used for n items and a requested thread count.
inline std::size_t n_ranges(std::size_t n, int n_threads) {
    return std::max<std::size_t>(1, std::min<std::size_t>(n_threads < 1 ? 1 : static_cast<std::size_t>(n_threads), n));
}

/// Calls fn(range, first, last) for every range, on its own thread when there are several.
template <class Fn>
void for_each_range(std::size_t n, std::size_t ranges, Fn&& fn) {
    std::vector<std::exception_ptr> errors(ranges);
    auto work = [&](std::size_t t) {
        try {
            fn(t, n * t / ranges, n * (t + 1) / ranges);
        } catch (...) {
            errors[t] = std::current_exception();
        }
    };
    if (ranges == 1) {
        work(0);
    } else {
        std::vector<std::thread> threads;
        threads.reserve(ranges);
        for (std::size_t t = 0; t < ranges; ++t) threads.emplace_back(work, t);
        for (auto& th : threads) th.join();
    }
    for (auto& e : errors)
        if (e) std::rethrow_exception(e);
}

}  // namespace recast
