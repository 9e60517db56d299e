// Command-line numbers of the example programs, read whole: strtod/strtol alone would read
// "28.4fb" as 28.4 and "x" as 0; a malformed argument is a recast::ConfigError naming it.
#pragma once

#include <cmath>
#include <cstdlib>
#include <string>

#include "recast/errors.hpp"

namespace example {

inline double number_arg(const char* text, const char* name) {
    char* end = nullptr;
    const double x = std::strtod(text, &end);
    if (end == text || *end != '\0' || !std::isfinite(x))
        throw recast::ConfigError("<command line>", 0, 0,
                                  std::string(name) + ": expected a number, got '" + text + "'");
    return x;
}

inline long integer_arg(const char* text, const char* name) {
    char* end = nullptr;
    const long x = std::strtol(text, &end, 10);
    if (end == text || *end != '\0' || x < 1)
        throw recast::ConfigError("<command line>", 0, 0,
                                  std::string(name) + ": expected an integer >= 1, got '" + text + "'");
    return x;
}

}  // namespace example
