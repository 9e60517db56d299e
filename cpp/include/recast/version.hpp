#pragma once

#include <string>

namespace recast {

/// Version of the recast core library.
std::string version();
/// Version of the FastJet library the core is linked against.
std::string fastjet_version();

}  // namespace recast
