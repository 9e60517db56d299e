#include "recast/pdg.hpp"

#include <cstdlib>

namespace recast::pdg {
namespace {

// 3 x charge of the fundamental particles with id 1..100 (HepPID ParticleIDMethods.cc).
constexpr int kCharge100[100] = {
    -1, 2,  -1, 2, -1, 2, -1, 2, 0, 0,  //
    -3, 0,  -3, 0, -3, 0, -3, 0, 0, 0,  //
    0,  0,  0,  3, 0,  0, 0,  0, 0, 0,  //
    0,  0,  0,  3, 0,  0, 3,  0, 0, 0,  //
    0,  -1, 0,  0, 0,  0, 0,  0, 0, 0,  //
    0,  6,  3,  6, 0,  0, 0,  0, 0, 0,  //
    0,  0,  0,  0, 0,  0, 0,  0, 0, 0,  //
    0,  0,  0,  0, 0,  0, 0,  0, 0, 0,  //
    0,  0,  0,  0, 0,  0, 0,  0, 0, 0,  //
    0,  0,  0,  0, 0,  0, 0,  0, 0, 0};

// Digit positions of the numbering scheme: id = +- n nr nl nq1 nq2 nq3 nj.
enum Digit { nj = 1, nq3, nq2, nq1, nl, nr, n };

int digit(int abspid, int loc) {
    int div = 1;
    for (int i = 1; i < loc; ++i) div *= 10;
    return (abspid / div) % 10;
}

int fundamental_id(int abspid) {
    if (abspid / 10000000 > 0) return 0;  // extra bits
    if (digit(abspid, nq2) == 0 && digit(abspid, nq1) == 0) return abspid % 10000;
    if (abspid <= 100) return abspid;
    return 0;
}

bool is_rhadron(int abspid) {
    // SUSY (n = 1), nr = 0, containing a gluino (9) or a squark (1-6 in the nq1/nq2 slots).
    if (digit(abspid, n) != 1 || digit(abspid, nr) != 0) return false;
    if (fundamental_id(abspid) > 0) return false;  // plain sparticle
    return digit(abspid, nq1) == 9 || digit(abspid, nq2) == 9 || digit(abspid, nq3) == 9 ||
           digit(abspid, nq2) >= 1;
}

}  // namespace

int charge3(std::int32_t pid) noexcept {
    const int a = std::abs(pid);
    if (a == 0) return 0;
    int q = 0;
    if (a >= 1000000000) {  // nucleus 10LZZZAAAI
        q = 3 * ((a / 10000) % 1000);
    } else if (a / 10000000 > 0) {
        return 0;  // unknown extra bits
    } else if (const int sid = fundamental_id(a); sid > 0 && sid <= 100) {
        q = kCharge100[sid - 1];
        if (a == 1000017 || a == 1000018 || a == 1000034 || a == 1000052 || a == 1000053 ||
            a == 1000054)
            q = 0;
        if (a == 5100061 || a == 5100062) q = 6;
    } else if (digit(a, nj) == 0) {
        return 0;  // K_L, K_S and other special codes
    } else {
        const int q1 = digit(a, nq1), q2 = digit(a, nq2), q3 = digit(a, nq3);
        auto ch = [](int quark) { return quark >= 1 && quark <= 100 ? kCharge100[quark - 1] : 0; };
        if (q1 == 0 || (q1 == 9 && is_rhadron(a))) {  // mesons (q2 q3-bar)
            q = (q2 == 3 || q2 == 5) ? ch(q3) - ch(q2) : ch(q2) - ch(q3);
        } else if (q3 == 0) {  // diquarks
            q = ch(q2) + ch(q1);
        } else {  // baryons
            q = ch(q3) + ch(q2) + ch(q1);
        }
    }
    return pid < 0 ? -q : q;
}

bool is_hadron(std::int32_t pid) noexcept {
    const int a = std::abs(pid);
    if (a <= 100 || (a >= 1000000 && a <= 9000000) || a >= 9900000) return false;
    if (a == 130 || a == 310) return true;
    if (a % 10 == 0 || (a / 10) % 10 == 0 || (a / 100) % 10 == 0) return false;
    return true;
}

int pythia_status_to_hepmc(std::int32_t s, std::int32_t pid,
                           std::int32_t first_daughter_pid) noexcept {
    if (s > 0) return 1;
    if (s == -12) return 4;
    const int a = std::abs(pid);
    if ((is_hadron(pid) || a == 13 || a == 15) && first_daughter_pid != pid) return 2;
    if (s <= -11 && s >= -200) return -s;
    return 0;
}

}  // namespace recast::pdg
