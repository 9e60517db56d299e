// Command-line numbers of the example programs, read whole: strtod/strtol alone would read
// "28.4fb" as 28.4 and "x" as 0, skip leading blanks and saturate or underflow silently; a
// malformed or out-of-range argument is a recast::ConfigError naming it.
#pragma once

#include <cctype>
#include <cerrno>
#include <climits>
#include <cmath>
#include <cstdlib>
#include <string>

#include "recast/errors.hpp"

namespace example {

inline double number_arg(const char* text, const char* name) {
    char* end = nullptr;
    errno = 0;
    const double x = std::strtod(text, &end);
    if (end == text || *end != '\0' || std::isspace(static_cast<unsigned char>(text[0])) || errno == ERANGE ||
        !std::isfinite(x))
        throw recast::ConfigError("<command line>", 0, 0,
                                  std::string(name) + ": expected a number, got '" + text + "'");
    return x;
}

inline int integer_arg(const char* text, const char* name) {
    char* end = nullptr;
    errno = 0;
    const long x = std::strtol(text, &end, 10);
    if (end == text || *end != '\0' || std::isspace(static_cast<unsigned char>(text[0])) || errno == ERANGE ||
        x < 1 || x > INT_MAX)
        throw recast::ConfigError("<command line>", 0, 0,
                                  std::string(name) + ": expected an integer in [1, " + std::to_string(INT_MAX) +
                                      "], got '" + text + "'");
    return static_cast<int>(x);
}

}  // namespace example
