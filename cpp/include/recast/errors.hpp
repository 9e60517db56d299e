// Exception hierarchy of the recast core. Every error that can be caused by user input is one of
// these, carries enough context to find the problem (file, line, event, name), and is translated
// into a Python exception by the bindings (see cpp/bindings/register_errors.cpp).
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>

namespace recast {

/// Base class of all recast errors. `what()` is the full message (location first); `message()`
/// is the part after the location (the whole message for errors without one).
class Error : public std::runtime_error {
public:
    explicit Error(const std::string& what) : std::runtime_error(what), message_(what) {}
    Error(const std::string& what, std::string message) : std::runtime_error(what), message_(std::move(message)) {}
    const std::string& message() const noexcept { return message_; }

private:
    std::string message_;
};

/// A file that does not exist or cannot be opened.
class FileNotFound : public Error {
public:
    explicit FileNotFound(const std::string& path, const std::string& why = "no such file")
        : Error(path + ": " + why, why), path_(path) {}
    const std::string& path() const noexcept { return path_; }

private:
    std::string path_;
};

/// Malformed input data: names the source, the line (1-based, 0 if not line oriented), the
/// column (1-based, 0 if not known) and the event (0-based index within the source, -1 if not
/// known) and says what was expected. Also used for errors while evaluating an analysis
/// expression on an event: then the source, line and column locate the expression's definition.
class InputError : public Error {
public:
    InputError(std::string source, std::int64_t line, std::int64_t event, const std::string& what)
        : InputError(std::move(source), line, 0, event, what) {}
    InputError(std::string source, std::int64_t line, std::int64_t column, std::int64_t event, const std::string& what)
        : Error(format(source, line, column, event, what), what),
          source_(std::move(source)),
          line_(line),
          column_(column),
          event_(event) {}
    const std::string& source() const noexcept { return source_; }
    std::int64_t line() const noexcept { return line_; }
    std::int64_t column() const noexcept { return column_; }
    std::int64_t event() const noexcept { return event_; }

private:
    static std::string format(const std::string& source, std::int64_t line, std::int64_t column, std::int64_t event,
                              const std::string& what) {
        std::string out = source;
        if (line > 0) out += ":" + std::to_string(line);
        if (line > 0 && column > 0) out += ":" + std::to_string(column);
        if (event >= 0) out += " (event " + std::to_string(event) + ")";
        return out + ": " + what;
    }
    std::string source_;
    std::int64_t line_, column_;
    std::int64_t event_;
};

/// An invalid configuration (detector card, analysis definition, expression): names where
/// (file and key, or a description), the line and column when known, and what was expected.
class ConfigError : public Error {
public:
    ConfigError(std::string where, std::int64_t line, std::int64_t column, const std::string& what)
        : Error(format(where, line, column, what), what), where_(std::move(where)), line_(line), column_(column) {}
    const std::string& where() const noexcept { return where_; }
    std::int64_t line() const noexcept { return line_; }
    std::int64_t column() const noexcept { return column_; }

private:
    static std::string format(const std::string& where, std::int64_t line, std::int64_t column,
                              const std::string& what) {
        std::string out = where;
        if (line > 0) out += ":" + std::to_string(line);
        if (column > 0) out += ":" + std::to_string(column);
        return out + ": " + what;
    }
    std::string where_;
    std::int64_t line_, column_;
};

/// A machine-learning model that cannot be loaded or is called with inputs it does not accept.
class ModelError : public Error {
public:
    using Error::Error;
};

/// A missing or incompatible run-time dependency (for example the ONNX Runtime shared library).
class DependencyError : public Error {
public:
    using Error::Error;
};

}  // namespace recast
