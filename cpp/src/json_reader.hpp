// Internal: checked access to a JSON document (nlohmann) with the JSON path of every value in
// error messages — the resolved analysis definition (analysis/definition.cpp) and the efficiency
// maps of the surrogate (surrogate.cpp) are read with it. Errors are recast::ConfigError naming
// the file and the path ("/regions/3/cuts/0/text: expected a string, got an integer").
#pragma once

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <initializer_list>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include "recast/errors.hpp"

namespace recast::detail {

using ordered_json = nlohmann::ordered_json;

/// "an object", "a string", ... for messages.
inline const char* json_kind(const ordered_json& j) {
    switch (j.type()) {
        case ordered_json::value_t::null: return "null";
        case ordered_json::value_t::object: return "an object";
        case ordered_json::value_t::array: return "an array";
        case ordered_json::value_t::string: return "a string";
        case ordered_json::value_t::boolean: return "a boolean";
        case ordered_json::value_t::number_integer:
        case ordered_json::value_t::number_unsigned: return "an integer";
        case ordered_json::value_t::number_float: return "a number";
        default: return "an unsupported value";
    }
}

/// `text` parsed; a syntax error is a ConfigError naming `file` and the line:column of the error.
inline ordered_json parse_json(const std::string& text, const std::string& file) {
    try {
        return ordered_json::parse(text);
    } catch (const ordered_json::parse_error& e) {
        // nlohmann reports a byte offset: turn it into line:column
        const std::size_t pos = std::min<std::size_t>(e.byte == 0 ? 0 : e.byte - 1, text.size());
        std::int64_t line = 1, col = 1;
        for (std::size_t i = 0; i < pos; ++i) {
            if (text[i] == '\n') {
                ++line;
                col = 1;
            } else {
                ++col;
            }
        }
        std::string what = e.what();
        const auto at = what.find("syntax error");
        throw ConfigError(file, line, col, "invalid JSON: " + (at == std::string::npos ? what : what.substr(at)));
    }
}

class JsonReader {
public:
    using json = ordered_json;
    explicit JsonReader(std::string file) : file_(std::move(file)) {}

    [[noreturn]] void fail(const std::string& path, const std::string& what) const {
        throw ConfigError(file_, 0, 0, (path.empty() ? std::string("/") : path) + ": " + what);
    }
    /// An object with the `required` keys and no keys but those and the `optional` ones.
    const json& object(const json& j, const std::string& path, std::initializer_list<const char*> required,
                       std::initializer_list<const char*> optional = {}) const {
        object_any(j, path);
        for (const char* k : required)
            if (!j.contains(k)) fail(path, std::string("missing key '") + k + "'");
        for (const auto& item : j.items()) {
            bool known = false;
            for (const char* k : required) known = known || item.key() == k;
            for (const char* k : optional) known = known || item.key() == k;
            if (!known) {
                std::string allowed;
                for (const char* k : required) allowed += (allowed.empty() ? "" : ", ") + std::string(k);
                for (const char* k : optional) allowed += (allowed.empty() ? "" : ", ") + std::string(k);
                fail(path + "/" + item.key(), "unknown key (allowed: " + allowed + ")");
            }
        }
        return j;
    }
    const json& object_any(const json& j, const std::string& path) const {
        if (!j.is_object()) fail(path, std::string("expected an object, got ") + json_kind(j));
        return j;
    }
    /// An array (of `size` entries unless SIZE_MAX).
    const json& array(const json& j, const std::string& path, std::size_t size = SIZE_MAX) const {
        if (!j.is_array()) fail(path, std::string("expected an array, got ") + json_kind(j));
        if (size != SIZE_MAX && j.size() != size)
            fail(path, "expected " + std::to_string(size) + " entries, got " + std::to_string(j.size()));
        return j;
    }
    std::string str(const json& j, const std::string& path) const {
        if (!j.is_string()) fail(path, std::string("expected a string, got ") + json_kind(j));
        return j.get<std::string>();
    }
    /// A finite number >= low.
    double number(const json& j, const std::string& path, double low = -INFINITY) const {
        if (!j.is_number()) fail(path, std::string("expected a number, got ") + json_kind(j));
        const double v = j.get<double>();
        if (!std::isfinite(v) || v < low) {
            std::ostringstream s;
            s << "expected a finite number";
            if (low > -INFINITY) s << " >= " << low;
            s << ", got " << v;
            fail(path, s.str());
        }
        return v;
    }
    std::int64_t integer(const json& j, const std::string& path) const {
        if (j.is_number_integer()) return j.get<std::int64_t>();
        if (j.is_number_unsigned() && j.get<std::uint64_t>() <= static_cast<std::uint64_t>(INT64_MAX))
            return static_cast<std::int64_t>(j.get<std::uint64_t>());
        fail(path, std::string("expected an integer, got ") + json_kind(j));
    }
    int small_int(const json& j, const std::string& path, std::int64_t low) const {
        const auto v = integer(j, path);
        if (v < low || v > std::numeric_limits<int>::max())
            fail(path, "expected an integer >= " + std::to_string(low) + ", got " + std::to_string(v));
        return static_cast<int>(v);
    }
    bool boolean(const json& j, const std::string& path) const {
        if (!j.is_boolean()) fail(path, std::string("expected true or false, got ") + json_kind(j));
        return j.get<bool>();
    }
    std::vector<std::string> strings(const json& j, const std::string& path) const {
        std::vector<std::string> out;
        std::size_t k = 0;
        for (const auto& x : array(j, path)) out.push_back(str(x, path + "/" + std::to_string(k++)));
        return out;
    }
    /// `size` finite numbers >= low.
    std::vector<double> numbers(const json& j, const std::string& path, std::size_t size = SIZE_MAX,
                                double low = -INFINITY) const {
        std::vector<double> out;
        std::size_t k = 0;
        for (const auto& x : array(j, path, size)) out.push_back(number(x, path + "/" + std::to_string(k++), low));
        return out;
    }

private:
    std::string file_;
};

}  // namespace recast::detail
