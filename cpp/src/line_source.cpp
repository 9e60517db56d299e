#include "line_source.hpp"

#include <cerrno>
#include <cstring>

namespace recast::io::detail {

namespace {
constexpr std::size_t kChunk = 1 << 20;
}

LineSource::LineSource(std::string path) : path_(std::move(path)) {
    file_ = gzopen(path_.c_str(), "rb");
    if (file_ == nullptr) throw FileNotFound(path_, errno != 0 ? std::strerror(errno) : "cannot open");
    gzbuffer(file_, kChunk);
    buf_.resize(2 * kChunk);
}

LineSource::~LineSource() {
    if (file_ != nullptr) gzclose(file_);
}

void LineSource::refill() {
    // Move the incomplete tail to the front, grow if a single line fills the buffer.
    if (begin_ > 0) {
        std::memmove(buf_.data(), buf_.data() + begin_, end_ - begin_);
        end_ -= begin_;
        begin_ = 0;
    }
    if (end_ + kChunk > buf_.size()) buf_.resize(buf_.size() + 2 * kChunk);
    const int n = gzread(file_, buf_.data() + end_, static_cast<unsigned>(kChunk));
    if (n < 0) {
        int code = 0;
        const char* msg = gzerror(file_, &code);
        throw InputError(path_, line_ + 1, -1, std::string("read error: ") + (msg ? msg : "unknown"));
    }
    if (n == 0) {
        int code = 0;
        const char* msg = gzerror(file_, &code);
        if (code != Z_OK && code != Z_STREAM_END)
            throw InputError(path_, line_ + 1, -1,
                             std::string("compressed stream is corrupt or truncated: ") + (msg ? msg : ""));
        eof_ = true;
    }
    end_ += static_cast<std::size_t>(n);
}

bool LineSource::next(std::string_view& line) {
    if (pushed_back_) {
        pushed_back_ = false;
        line = last_;
        return true;
    }
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
