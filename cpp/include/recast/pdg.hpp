// PDG Monte Carlo numbering scheme helpers (RPP "Monte Carlo particle numbering scheme").
#pragma once

#include <cstdint>

namespace recast::pdg {

/// Three times the electric charge of the particle with PDG id `pid`, following the numbering
/// scheme rules for quarks, leptons, bosons, SUSY (n=1,2) and technicolor states, mesons,
/// baryons, diquarks, R-hadrons and nuclei (same algorithm as HepPID::threeCharge).
int charge3(std::int32_t pid) noexcept;

/// Pythia 8's ParticleDataEntry::isHadron(): |id| > 100 outside the 1000000-9000000 BSM block and
/// >= 9900000, with non-zero quark digits (K_L and K_S included).
bool is_hadron(std::int32_t pid) noexcept;

/// Map a Pythia 8 status code to the HepMC convention exactly as Pythia's
/// Particle::statusHepMC() does: final (status > 0) -> 1, beams (-12) -> 4, decayed hadrons,
/// muons and taus -> 2 unless their first daughter is a copy of themselves
/// (`first_daughter_pid` == `pid`), other codes in [-200, -11] -> |status|, anything else -> 0.
int pythia_status_to_hepmc(std::int32_t pythia_status, std::int32_t pid,
                           std::int32_t first_daughter_pid) noexcept;

}  // namespace recast::pdg
