// Counter-based random numbers for the detector emulation (shared/specs/detector-emulation.md §14).
//
// Every random number is a pure function of (run_seed, event_key, stream, block, object_index):
// no generator state is carried between objects, events, threads or processes, so output is
// bit-identical for any thread count, batch split or event order. Generator: Philox4x32-10
// (Salmon et al., SC'11 "Parallel random numbers: as easy as 1, 2, 3"), the Random123 variant.
#pragma once

#include <array>
#include <cmath>
#include <cstdint>
#include <utility>

namespace recast::rng {

/// Stream identifiers (frozen by the spec: never renumber; new features get new ids).
enum class Stream : std::uint16_t {
    electron = 1,
    muon = 2,
    photon = 3,
    tau = 4,
    jet_smear = 5,
    jet_btag = 6,
    jet_tau_fake = 7,
    met = 8,
    large_r_jet = 9,
    jet_e_fake = 10,
    jet_gamma_fake = 11,
    track = 12,
    boson_tag = 13,
};

using Words = std::array<std::uint32_t, 4>;

/// Philox4x32 with 10 rounds: a keyed bijection of the 128-bit counter.
inline Words philox4x32_10(Words c, std::array<std::uint32_t, 2> k) noexcept {
    constexpr std::uint64_t M0 = 0xD2511F53u, M1 = 0xCD9E8D57u;
    constexpr std::uint32_t W0 = 0x9E3779B9u, W1 = 0xBB67AE85u;
    for (int round = 0; round < 10; ++round) {
        if (round != 0) {
            k[0] += W0;
            k[1] += W1;
        }
        const std::uint64_t p0 = M0 * c[0];
        const std::uint64_t p1 = M1 * c[2];
        c = {static_cast<std::uint32_t>(p1 >> 32) ^ c[1] ^ k[0], static_cast<std::uint32_t>(p1),
             static_cast<std::uint32_t>(p0 >> 32) ^ c[3] ^ k[1], static_cast<std::uint32_t>(p0)};
    }
    return c;
}

/// The four words of one block (§14.3 keying: key = run_seed, counter = event key, stream, block, object).
inline Words block_words(std::uint64_t run_seed, std::uint64_t event_key, std::uint16_t stream,
                         std::uint16_t block, std::uint32_t object_index) noexcept {
    return philox4x32_10({static_cast<std::uint32_t>(event_key), static_cast<std::uint32_t>(event_key >> 32),
                          (static_cast<std::uint32_t>(stream) << 16) | block, object_index},
                         {static_cast<std::uint32_t>(run_seed), static_cast<std::uint32_t>(run_seed >> 32)});
}

/// Two doubles strictly inside (0, 1) with 53-bit resolution from one block.
inline std::pair<double, double> to_uniforms(const Words& w) noexcept {
    constexpr double two_m53 = 1.0 / 9007199254740992.0;  // 2^-53
    const double ua = (static_cast<double>(w[0] >> 5) * 67108864.0 + static_cast<double>(w[1] >> 6) + 0.5) * two_m53;
    const double ub = (static_cast<double>(w[2] >> 5) * 67108864.0 + static_cast<double>(w[3] >> 6) + 0.5) * two_m53;
    return {ua, ub};
}

/// Box-Muller pair from the two uniforms of one block: r = sqrt(-2 ln ua), (r cos 2pi ub, r sin 2pi ub).
inline std::pair<double, double> to_normals(const Words& w) noexcept {
    const auto [ua, ub] = to_uniforms(w);
    const double r = std::sqrt(-2.0 * std::log(ua));
    const double phi = 2.0 * M_PI * ub;
    return {r * std::cos(phi), r * std::sin(phi)};
}

/// The random numbers of one event: a (run seed, event key) pair.
class EventRandom {
public:
    EventRandom(std::uint64_t run_seed, std::uint64_t event_key) noexcept : seed_(run_seed), key_(event_key) {}
    Words words(Stream s, std::uint16_t block, std::uint32_t object) const noexcept {
        return block_words(seed_, key_, static_cast<std::uint16_t>(s), block, object);
    }
    std::pair<double, double> uniforms(Stream s, std::uint16_t block, std::uint32_t object) const noexcept {
        return to_uniforms(words(s, block, object));
    }
    std::pair<double, double> normals(Stream s, std::uint16_t block, std::uint32_t object) const noexcept {
        return to_normals(words(s, block, object));
    }

private:
    std::uint64_t seed_, key_;
};

}  // namespace recast::rng
