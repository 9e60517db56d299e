// Internal: fast line iteration over a plain or gzip-compressed text file, plus strict field
// parsing helpers that report file:line on failure.
#pragma once

#include <zlib.h>

#include <charconv>
#include <cmath>
#include <condition_variable>
#include <cstring>
#include <cstdint>
#include <cstdio>
#include <deque>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <type_traits>
#include <vector>

#include "recast/errors.hpp"

namespace recast::io::detail {

/// `s` as valid UTF-8 for an error message: bytes that are not part of a well-formed UTF-8
/// sequence (and control characters other than tab) are written as \xNN, so that Python can
/// always decode the message (an undecodable message reaches Python as an exception without text).
std::string printable(std::string_view s);

/// Where a parser is: the file and the current line number, for error messages. LineSource (the
/// file itself) and ChunkLines (a copy of some of its lines, parsed on a worker thread) are both.
class LineContext {
public:
    explicit LineContext(std::string path, std::int64_t line = 0) : path_(std::move(path)), line_(line) {}
    std::int64_t line_number() const noexcept { return line_; }
    const std::string& path() const noexcept { return path_; }

    /// Throws InputError for the current line (the text made printable, see printable()).
    [[noreturn]] void fail(std::int64_t event, const std::string& what) const {
        throw InputError(path_, line_, event, printable(what));
    }

protected:
    std::string path_;
    std::int64_t line_ = 0;
};

/// Lines of a block of text copied out of a file ("line\n" each), numbered from `first_line` + 1.
class ChunkLines : public LineContext {
public:
    ChunkLines(std::string path, std::string_view text, std::int64_t first_line)
        : LineContext(std::move(path), first_line), rest_(text) {}
    bool next(std::string_view& line) {
        if (rest_.empty()) return false;
        const void* nl = std::memchr(rest_.data(), '\n', rest_.size());
        const std::size_t len = nl ? static_cast<std::size_t>(static_cast<const char*>(nl) - rest_.data()) : rest_.size();
        line = rest_.substr(0, len);
        rest_.remove_prefix(nl ? len + 1 : len);
        ++line_;
        return true;
    }

private:
    std::string_view rest_;
};

class LineSource : public LineContext {
public:
    /// The name standard input ("-") has in messages.
    static constexpr const char* kStdinName = "<stdin>";
    /// Opens `path` (plain or gzip, detected from the content); "-" is standard input.
    explicit LineSource(std::string path);
    ~LineSource();
    LineSource(const LineSource&) = delete;
    LineSource& operator=(const LineSource&) = delete;

    /// Next line without the trailing newline (and '\r'); false at end of file.
    bool next(std::string_view& line);
    /// True when the line last returned by next() is the last of the file and has no newline:
    /// the file may have been cut inside it (the readers only accept this for the closing footer).
    bool unterminated() const noexcept { return unterminated_; }
    /// Makes the line last returned by next() be returned again by the next call.
    void push_back() { pushed_back_ = true; }
    /// True when this is standard input ("-").
    bool is_stdin() const noexcept { return stdin_; }

private:
    LineSource(bool is_stdin, std::string path);
    void refill();
    /// Reads the next chunk from the file (or an error/EOF marker).
    struct Chunk {
        std::vector<char> data;
        bool eof = false;
        std::string error;  ///< non-empty: the read failed with this message
    };
    Chunk read_chunk();
    void produce();  ///< read-ahead thread body (compressed files: decompression overlaps parsing)

    /// zlib's message for the last error, without the name zlib gives the file (for standard
    /// input an internal "<fd:N>"), said for this input.
    std::string gz_error(int& code) const;

    bool stdin_ = false;
    std::string gz_name_;        // the name zlib puts before its messages
    std::size_t produced_ = 0;   // bytes decompressed so far (read-ahead thread)
    gzFile file_ = nullptr;      // gzip input (decompressed on the read-ahead thread)
    std::FILE* plain_ = nullptr;  // plain input
    // read-ahead (compressed input only)
    std::thread reader_;
    std::mutex mutex_;
    std::condition_variable cv_;
    std::deque<Chunk> queue_;
    bool stop_ = false;
    std::vector<char> buf_;
    std::size_t begin_ = 0, end_ = 0;
    bool eof_ = false;
    bool pushed_back_ = false;
    bool unterminated_ = false;
    std::string_view last_;
};

/// Whitespace tokenizer over one line.
class Fields {
public:
    explicit Fields(std::string_view s) : rest_(s) {}
    bool next(std::string_view& tok) {
        std::size_t i = 0;
        while (i < rest_.size() && (rest_[i] == ' ' || rest_[i] == '\t')) ++i;
        if (i == rest_.size()) return false;
        std::size_t j = i;
        while (j < rest_.size() && rest_[j] != ' ' && rest_[j] != '\t') ++j;
        tok = rest_.substr(i, j - i);
        rest_ = rest_.substr(j);
        return true;
    }
    std::string_view rest() const { return rest_; }
    /// Continue after `p`, a position inside rest().
    void advance_to(const char* p) { rest_.remove_prefix(static_cast<std::size_t>(p - rest_.data())); }

private:
    std::string_view rest_;
};

/// Parses the next field of `f` as T (integer or floating point); on a missing or malformed field
/// throws InputError via `src.fail`, naming `what` and the offending text. The number is parsed in
/// place (no separate tokenisation pass): from_chars must stop exactly at a blank or the line end.
template <class T>
T parse_field(Fields& f, const LineContext& src, std::int64_t event, const char* what) {
    std::string_view rest = f.rest();
    std::size_t i = 0;
    while (i < rest.size() && (rest[i] == ' ' || rest[i] == '\t')) ++i;
    if (i == rest.size()) src.fail(event, std::string("line ended early: expected ") + what);
    const char* b = rest.data() + i;
    const char* e = rest.data() + rest.size();
    if (*b == '+') ++b;
    T value{};
    auto [ptr, ec] = std::from_chars(b, e, value);
    if (ec != std::errc() || (ptr != e && *ptr != ' ' && *ptr != '\t')) {
        std::string_view tok;
        Fields bad(rest);
        bad.next(tok);
        src.fail(event, std::string("expected ") + what + ", got '" + std::string(tok) + "'");
    }
    if constexpr (std::is_floating_point_v<T>) {
        if (!std::isfinite(value))
            src.fail(event,
                     std::string("expected ") + what + ", got '" + std::string(b, ptr) + "' (not a finite number)");
    }
    f.advance_to(ptr);
    return value;
}

/// parse_field for a count, which must not be negative.
inline std::int64_t parse_count(Fields& f, const LineContext& src, std::int64_t event, const char* what) {
    const auto n = parse_field<std::int64_t>(f, src, event, what);
    if (n < 0) src.fail(event, std::string("negative ") + what + " " + std::to_string(n));
    return n;
}

/// Fails unless `f` has no fields left: `line` names the line type, `last` the last field it has.
inline void expect_end(const Fields& f, const LineContext& src, std::int64_t event, const char* line,
                       const char* last) {
    std::string_view tok;
    Fields rest(f.rest());
    if (rest.next(tok))
        src.fail(event,
                 std::string("unexpected extra field '") + std::string(tok) + "' after " + last + " in " + line);
}

}  // namespace recast::io::detail
