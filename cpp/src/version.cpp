#include "recast/version.hpp"

#include <fastjet/ClusterSequence.hh>

#include "recast_config.hpp"

namespace recast {

std::string version() { return RECAST_VERSION_STRING; }

std::string fastjet_version() {
    // fastjet_version_string() is e.g. "FastJet version 3.5.1"; keep the number.
    const std::string s = fastjet::fastjet_version_string();
    const auto pos = s.find_last_of(' ');
    return pos == std::string::npos ? s : s.substr(pos + 1);
}

}  // namespace recast
