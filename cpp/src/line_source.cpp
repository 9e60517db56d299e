#include "line_source.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>

#include <sys/stat.h>
#include <unistd.h>

namespace recast::io::detail {

namespace {
constexpr std::size_t kChunk = 1 << 20;

constexpr std::size_t kQueue = 4;  // chunks read ahead

// Length of the well-formed UTF-8 sequence at the start of `s` (RFC 3629: no overlong forms, no
// surrogates, at most U+10FFFF), 0 if there is none.
std::size_t utf8_length(std::string_view s) {
    const auto b = [&](std::size_t i) { return static_cast<unsigned char>(s[i]); };
    const unsigned char c = b(0);
    std::size_t n;
    unsigned char lo = 0x80, hi = 0xBF;  // allowed range of the second byte
    if (c < 0x80) return 1;
    if (c >= 0xC2 && c <= 0xDF) n = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        if (c == 0xE0) lo = 0xA0;
        if (c == 0xED) hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        if (c == 0xF0) lo = 0x90;
        if (c == 0xF4) hi = 0x8F;
    } else {
        return 0;
    }
    if (s.size() < n || b(1) < lo || b(1) > hi) return 0;
    for (std::size_t i = 2; i < n; ++i)
        if (b(i) < 0x80 || b(i) > 0xBF) return 0;
    return n;
}
}  // namespace

std::string printable(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    static const char hex[] = "0123456789abcdef";
    while (!s.empty()) {
        const auto c = static_cast<unsigned char>(s[0]);
        std::size_t n = utf8_length(s);
        if (n == 0 || (c < 0x20 && c != '\t') || c == 0x7F) {
            out += "\\x";
            out += hex[c >> 4];
            out += hex[c & 0xF];
            n = 1;
        } else {
            out.append(s.data(), n);
        }
        s.remove_prefix(n);
    }
    return out;
}

namespace {
/// A pipe, FIFO, character device or socket: readable once, in order (not reopened).
bool is_stream(const std::string& path) {
    struct stat st {};
    return ::stat(path.c_str(), &st) == 0 && (S_ISFIFO(st.st_mode) || S_ISCHR(st.st_mode) || S_ISSOCK(st.st_mode));
}
}  // namespace

LineSource::LineSource(std::string path) : LineSource(path == "-", path) {}  // (a copy: argument order)

LineSource::LineSource(bool is_stdin, std::string path)
    : LineContext(is_stdin ? std::string(kStdinName) : std::move(path)), stdin_(is_stdin) {
    if (stdin_) {  // "-": standard input (a pipe from a generator, plain or gzip), read once, in order
        const int fd = ::dup(0);
        gz_name_ = "<fd:" + std::to_string(fd) + ">";
        file_ = fd >= 0 ? gzdopen(fd, "rb") : nullptr;
        if (file_ == nullptr) {
            if (fd >= 0) ::close(fd);
            throw FileNotFound(path_, "cannot read standard input");
        }
    } else {
        gz_name_ = path_;
        file_ = gzopen(path_.c_str(), "rb");
        if (file_ == nullptr) throw FileNotFound(path_, errno != 0 ? std::strerror(errno) : "cannot open");
    }
    gzbuffer(file_, kChunk);
    buf_.resize(2 * kChunk);
    // gzip input, and any stream that cannot be opened twice (stdin, pipes, FIFOs): decompress or
    // copy on a second thread while this one parses. A plain regular file is read straight into the
    // line buffer (zlib's direct mode copies once more), after zlib looked at its first bytes (a
    // directory fails there: "read error: Is a directory").
    if (gzdirect(file_) == 0 || stdin_ || is_stream(path_)) {
        reader_ = std::thread([this] { produce(); });
    } else {
        gzclose(file_);
        file_ = nullptr;
        plain_ = std::fopen(path_.c_str(), "rb");
        if (plain_ == nullptr) throw FileNotFound(path_, errno != 0 ? std::strerror(errno) : "cannot open");
        std::setvbuf(plain_, nullptr, _IONBF, 0);
    }
}

LineSource::~LineSource() {
    if (reader_.joinable()) {
        {
            std::lock_guard<std::mutex> lock(mutex_);
            stop_ = true;
        }
        cv_.notify_all();
        reader_.join();
    }
    if (file_ != nullptr) gzclose(file_);
    if (plain_ != nullptr) std::fclose(plain_);
}

std::string LineSource::gz_error(int& code) const {
    const char* msg = gzerror(file_, &code);
    std::string_view m = msg != nullptr ? msg : "";
    const std::string prefix = gz_name_ + ": ";
    if (m.substr(0, prefix.size()) == prefix) m.remove_prefix(prefix.size());
    return m.empty() ? std::string("unknown error") : std::string(m);
}

LineSource::Chunk LineSource::read_chunk() {
    Chunk c;
    c.data.resize(kChunk);
    const int n = gzread(file_, c.data.data(), static_cast<unsigned>(kChunk));
    int code = 0;
    if (n < 0) {
        const std::string msg = gz_error(code);
        const std::string what = stdin_ ? "standard input" : "the file";
        if (code == Z_DATA_ERROR && produced_ == 0)  // e.g. a damaged gzip header
            c.error = what + " is not valid gzip data: " + msg;
        else if (code == Z_DATA_ERROR)
            c.error = "compressed stream is corrupt: " + msg;
        else
            c.error = "read error on " + what + ": " + msg;
        c.data.clear();
        return c;
    }
    if (n == 0) {
        const std::string msg = gz_error(code);
        if (code != Z_OK && code != Z_STREAM_END) c.error = "compressed stream is corrupt or truncated: " + msg;
        c.eof = true;
    }
    produced_ += static_cast<std::size_t>(n);
    c.data.resize(static_cast<std::size_t>(n));
    return c;
}

void LineSource::produce() {
    for (;;) {
        Chunk c = read_chunk();
        const bool last = c.eof || !c.error.empty();
        std::unique_lock<std::mutex> lock(mutex_);
        cv_.wait(lock, [this] { return stop_ || queue_.size() < kQueue; });
        if (stop_) return;
        queue_.push_back(std::move(c));
        lock.unlock();
        cv_.notify_all();
        if (last) return;
    }
}

void LineSource::refill() {
    // Move the incomplete tail to the front, grow if a single line fills the buffer.
    if (begin_ > 0) {
        std::memmove(buf_.data(), buf_.data() + begin_, end_ - begin_);
        end_ -= begin_;
        begin_ = 0;
    }
    if (!reader_.joinable()) {  // plain file: read straight into the buffer
        if (end_ + kChunk > buf_.size()) buf_.resize(buf_.size() + 2 * kChunk);
        errno = 0;
        const std::size_t n = std::fread(buf_.data() + end_, 1, kChunk, plain_);
        if (n < kChunk && std::ferror(plain_))
            throw InputError(path_, line_ + 1, -1,
                             std::string("read error: ") + (errno != 0 ? std::strerror(errno) : "unknown"));
        if (n == 0) eof_ = true;
        end_ += n;
        return;
    }
    Chunk c;
    {
        std::unique_lock<std::mutex> lock(mutex_);
        cv_.wait(lock, [this] { return !queue_.empty(); });
        c = std::move(queue_.front());
        queue_.pop_front();
    }
    cv_.notify_all();
    if (!c.error.empty()) throw InputError(path_, line_ + 1, -1, c.error);
    if (end_ + c.data.size() > buf_.size()) buf_.resize(end_ + c.data.size() + 2 * kChunk);
    std::memcpy(buf_.data() + end_, c.data.data(), c.data.size());
    end_ += c.data.size();
    if (c.eof) eof_ = true;
}

bool LineSource::next(std::string_view& line) {
    if (pushed_back_) {
        pushed_back_ = false;
        line = last_;
        return true;
    }
    unterminated_ = false;
    for (;;) {
        const char* start = buf_.data() + begin_;
        const void* nl = std::memchr(start, '\n', end_ - begin_);
        std::size_t len;
        if (nl != nullptr) {
            len = static_cast<const char*>(nl) - start;
            begin_ += len + 1;
        } else if (eof_) {
            if (begin_ == end_) return false;
            len = end_ - begin_;
            begin_ = end_;
            unterminated_ = true;
        } else {
            refill();
            continue;
        }
        if (len > 0 && start[len - 1] == '\r') --len;
        ++line_;
        line = last_ = std::string_view(start, len);
        return true;
    }
}

}  // namespace recast::io::detail
