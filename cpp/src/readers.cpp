// HepMC3 (Asciiv3), HepMC2 (IO_GenEvent) and LHE readers. See recast/io.hpp.
//
// Format references: HepMC3 WriterAscii / ReaderAscii and WriterAsciiHepMC2 / ReaderAsciiHepMC2
// (HepMC3 3.2-3.3), the HepMC2 user manual (IO_GenEvent), and the Les Houches Event file accord
// (hep-ph/0609017, LHEF v3).
#include <algorithm>
#include <cmath>
#include <condition_variable>
#include <deque>
#include <exception>
#include <memory>
#include <mutex>
#include <thread>
#include <limits>
#include <stdexcept>

#include "line_source.hpp"
#include "recast/errors.hpp"
#include "recast/io.hpp"

namespace recast::io {

using detail::Fields;
using detail::ChunkLines;
using detail::LineContext;
using detail::LineSource;
using detail::expect_end;
using detail::parse_count;
using detail::parse_field;

Format format_from_string(const std::string& name) {
    std::string s = name;
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
    if (s == "auto") return Format::Auto;
    if (s == "hepmc3" || s == "hepmc") return Format::HepMC3;
    if (s == "hepmc2") return Format::HepMC2;
    if (s == "lhe" || s == "lhef") return Format::LHE;
    throw std::invalid_argument("unknown event format '" + name + "' (expected auto, hepmc3, hepmc2 or lhe)");
}

std::string to_string(Format f) {
    switch (f) {
        case Format::Auto: return "auto";
        case Format::HepMC3: return "hepmc3";
        case Format::HepMC2: return "hepmc2";
        case Format::LHE: return "lhe";
    }
    return "?";
}

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

bool starts_with(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}

std::string excerpt(std::string_view line) {
    return line.size() > 60 ? std::string(line.substr(0, 60)) + "..." : std::string(line);
}

// src.next(line); a read error of the file (a corrupt or truncated compressed stream) names event
// `ev` (when >= 0), as the parse errors do.
bool next_of(LineSource& src, std::string_view& line, std::int64_t ev) {
    if (ev < 0) return src.next(line);
    try {
        return src.next(line);
    } catch (const InputError& e) {
        if (e.event() >= 0) throw;
        throw InputError(e.source(), e.line(), e.column(), ev, e.message());
    }
}

class ReaderBase : public EventReader {
public:
    explicit ReaderBase(std::unique_ptr<LineSource> src) : src_(std::move(src)) {}
    const std::vector<std::string>& weight_names() const override { return weight_names_; }
    double cross_section_pb() const override { return xs_; }
    double cross_section_error_pb() const override { return xs_err_; }
    const std::string& path() const override { return src_->path(); }
    std::int64_t events_read() const override { return n_read_; }

protected:
    void set_xs(double xs, double err, EventBatch& out) {
        xs_ = xs;
        xs_err_ = err;
        out.cross_section_pb = xs;
        out.cross_section_error_pb = err;
    }
    std::unique_ptr<LineSource> src_;
    std::vector<std::string> weight_names_;
    double xs_ = kNaN, xs_err_ = kNaN;
    std::int64_t n_read_ = 0;
    bool finished_ = false;
};

// Units line "U GEV MM" (both formats): returns the factor converting momenta to GeV.
double parse_units(Fields& f, const LineContext& src, std::int64_t ev) {
    std::string_view mom, len;
    if (!f.next(mom) || !f.next(len)) src.fail(ev, "units line must be 'U <GEV|MEV> <MM|CM>'");
    if (mom == "GEV") return 1.0;
    if (mom == "MEV") return 1e-3;
    src.fail(ev, "unknown momentum unit '" + std::string(mom) + "' (expected GEV or MEV)");
}

// Names "1" .. "count-1" of the weights after the first: unnamed weights are named by their index,
// as the HepMC3 library names them (the nominal, index 0, is not among them).
void index_names(std::vector<std::string>& names, std::size_t count) {
    names.clear();
    for (std::size_t i = 1; i < count; ++i) names.push_back(std::to_string(i));
}

// `extra` := the names of an event's weights after the first (`count` weights in all): the
// declared names where there is one per weight (kept as they are when unchanged: no reallocation
// per event), by index where none are declared, none where names are declared but cannot be
// matched to the values (`unmatched_by_index` false: HepMC3's blank-separated names, some
// containing blanks) — else by index (HepMC2's 'N' line).
void extra_weight_names(std::vector<std::string>& extra, const std::vector<std::string>& declared, std::size_t count,
                        bool unmatched_by_index) {
    if (count <= 1) {
        extra.clear();
    } else if (declared.size() == count) {
        if (!std::equal(extra.begin(), extra.end(), declared.begin() + 1, declared.end()))
            extra.assign(declared.begin() + 1, declared.end());
    } else if (declared.empty() || unmatched_by_index) {
        index_names(extra, count);
    } else {
        extra.clear();
    }
}

// Raw particle as read, before parent resolution.
struct RawParticle {
    std::int64_t ref;  // HepMC3: production vertex (<0) / parent particle (>0); HepMC2: prod vertex barcode
    std::int64_t end_vertex;  // HepMC2 only
    double px, py, pz, e, m;
    std::int32_t pid, status;
};

// ------------------------------------------------------------------------------------------------
// The per-event part of a HepMC ASCII format: the lines of one event (from its 'E' line to the
// line before the next 'E' line or the footer) in, one event of the batch out. The framing
// (listings, footer, truncation) is HepMCAsciiReader's. A parser reads from a LineContext, which
// is the file itself (one thread) or a ChunkLines copy of some of its events (worker threads);
// its state between events is only the weight names (and the events' index), so that chunks of
// events parse independently with the results of the one-thread path.
// ------------------------------------------------------------------------------------------------
class HepMCEventParser {
public:
    virtual ~HepMCEventParser() = default;
    /// A parser of the same format with no state (for a worker thread).
    virtual std::unique_ptr<HepMCEventParser> fresh() const = 0;
    // The header opening this format's listing, e.g. "HepMC::Asciiv3-START_EVENT_LISTING".
    virtual std::string_view start_listing() const = 0;
    // The footer closing this format's listing, e.g. "HepMC::Asciiv3-END_EVENT_LISTING".
    virtual std::string_view end_listing() const = 0;
    // A "HepMC::" line other than the footer: fails if it opens the other format's listing.
    virtual void check_listing_header(std::string_view line) const = 0;
    // Parses the 'E' line of an event; sets in_event_.
    virtual void start_event(std::string_view line) = 0;
    // Any other line (not 'E', not "HepMC::"); fails on a line the format does not have.
    virtual void parse_line(std::string_view line) = 0;
    // Appends the event to `out`; clears in_event_ and counts it in n_read_.
    virtual void finish_event(EventBatch& out) = 0;

    const LineContext* src_ = nullptr;  ///< where the lines come from (file and line number)
    bool in_event_ = false;
    std::int64_t n_read_ = 0;  ///< index of the next event (events finished so far)
    std::vector<std::string> weight_names_;
    bool names_exact_ = false;    // weight names separated by "\|" (not by blanks)
    bool names_changed_ = false;  // weight_names_ set by a line since the flag was cleared
    double xs_ = kNaN, xs_err_ = kNaN;
    std::vector<std::string> tools_;  ///< run-info tool lines (HepMC3 'T' lines outside events)

protected:
    void need_event(std::string_view line) const {
        if (!in_event_) src_->fail(-1, "'" + excerpt(line) + "' before the first event ('E' line)");
    }
    void set_xs(double xs, double err, EventBatch& out) {
        xs_ = xs;
        xs_err_ = err;
        out.cross_section_pb = xs;
        out.cross_section_error_pb = err;
    }
};

// ------------------------------------------------------------------------------------------------
// HepMC3 Asciiv3
// ------------------------------------------------------------------------------------------------
class HepMC3Parser final : public HepMCEventParser {
public:
    std::unique_ptr<HepMCEventParser> fresh() const override { return std::make_unique<HepMC3Parser>(); }

    std::string_view start_listing() const override { return "HepMC::Asciiv3-START_EVENT_LISTING"; }
    std::string_view end_listing() const override { return "HepMC::Asciiv3-END_EVENT_LISTING"; }

    void check_listing_header(std::string_view line) const override {
        if (starts_with(line, "HepMC::IO_GenEvent") || starts_with(line, "HepMC::HepMC2"))
            src_->fail(ev_index(), "HepMC2 listing inside a HepMC3 file");
    }

    void parse_line(std::string_view line) override {
        const char tag = line[0];
        if (tag == 'P') {
            need_event(line);
            parse_particle(line);
        } else if (tag == 'V') {
            need_event(line);
            parse_vertex(line);
        } else if (tag == 'U') {
            need_event(line);
            Fields f(line.substr(1));
            unit_ = parse_units(f, *src_, ev_index());
            expect_end(f, *src_, ev_index(), "the units line", "the length unit");
        } else if (tag == 'W') {
            Fields f(line.substr(1));
            if (in_event_) {
                // one value per declared weight name (as HepMC3's ReaderAscii requires). Blank-separated
                // names (HepMC3 < 3.2.6, and any single name) may contain blanks themselves: there
                // the count of names is only an upper bound.
                const std::int64_t ev = ev_index();
                weight_ = parse_field<double>(f, *src_, ev, "event weight");
                weights_.assign(1, weight_);
                while (!trim(f.rest()).empty()) weights_.push_back(parse_field<double>(f, *src_, ev, "event weight"));
                const std::size_t count = weights_.size();
                const std::size_t names = weight_names_.size();
                if (names > 0 && (names_exact_ ? count != names : count > names))
                    src_->fail(ev, std::to_string(count) + " event weights, but the run info declares " +
                                       std::to_string(names) + " weight names");
            } else {  // run-info weight names: "\|"-separated (HepMC3 >= 3.2.6) or blank-separated
                weight_names_.clear();
                names_changed_ = true;
                std::string_view rest = trim(line.substr(1));
                names_exact_ = rest.find("\\|") != std::string_view::npos;
                if (names_exact_) {
                    for (;;) {
                        const auto bar = rest.find("\\|");
                        weight_names_.emplace_back(rest.substr(0, bar));
                        if (bar == std::string_view::npos) break;
                        rest.remove_prefix(bar + 2);
                    }
                } else {
                    std::string_view tok;
                    while (f.next(tok)) weight_names_.emplace_back(tok);
                }
            }
        } else if (tag == 'A') {
            parse_attribute(line);
        } else if (tag == 'T' && !in_event_) {  // run-info tool line: kept (which program wrote the file)
            tools_.emplace_back(trim(line.substr(1)));
        } else if (tag == 'T' || tag == 'H' || tag == 'F' || tag == 'C' || tag == 'N') {
            // no information we keep
        } else {
            src_->fail(ev_index(), "unexpected line '" + excerpt(line) + "' (expected a HepMC3 E/U/W/A/P/V/T line)");
        }
    }

    std::int64_t ev_index() const { return n_read_; }

    void start_event(std::string_view line) override {
        Fields f(line.substr(1));
        const std::int64_t ev = ev_index();
        number_ = parse_field<std::int64_t>(f, *src_, ev, "event number");
        declared_vertices_ = parse_field<std::int64_t>(f, *src_, ev, "number of vertices");
        declared_particles_ = parse_field<std::int64_t>(f, *src_, ev, "number of particles");
        if (declared_particles_ < 0 || declared_vertices_ < 0)
            src_->fail(ev, "negative particle/vertex count in event line");
        parse_position(f, ev, "the event line", "number of particles");
        event_line_ = src_->line_number();
        in_event_ = true;
        weight_ = 1.0;
        weights_.clear();
        unit_ = 1.0;
        particles_.clear();
        // the declared count is checked against the particle lines at the end of the event: it
        // does not decide how much memory is taken (a corrupt count would allocate gigabytes)
        particles_.reserve(static_cast<std::size_t>(std::min<std::int64_t>(declared_particles_, 1 << 14)));
        vertex_in_.clear();
        vertex_offsets_.assign(1, 0);
        vertex_ids_.clear();
    }

    void parse_particle(std::string_view line) {
        Fields f(line.substr(1));
        const std::int64_t ev = ev_index();
        const auto id = parse_field<std::int64_t>(f, *src_, ev, "particle id");
        if (id != static_cast<std::int64_t>(particles_.size()) + 1)
            src_->fail(ev, "particle id " + std::to_string(id) + " out of sequence (expected " +
                               std::to_string(particles_.size() + 1) + ")");
        RawParticle p{};
        p.ref = parse_field<std::int64_t>(f, *src_, ev, "production vertex or parent id");
        p.pid = parse_field<std::int32_t>(f, *src_, ev, "PDG id");
        p.px = parse_field<double>(f, *src_, ev, "px");
        p.py = parse_field<double>(f, *src_, ev, "py");
        p.pz = parse_field<double>(f, *src_, ev, "pz");
        p.e = parse_field<double>(f, *src_, ev, "energy");
        p.m = parse_field<double>(f, *src_, ev, "generated mass");
        p.status = parse_field<std::int32_t>(f, *src_, ev, "status");
        expect_end(f, *src_, ev, "the particle line", "the status");
        particles_.push_back(p);
    }

    // Optional "@ x y z t" at the end of an E or V line; then nothing else.
    void parse_position(Fields& f, std::int64_t ev, const char* line, const char* last) {
        Fields peek = f;
        std::string_view tok;
        if (peek.next(tok) && tok == "@") {
            f = peek;
            for (const char* c : {"position x", "position y", "position z", "position t"})
                (void)parse_field<double>(f, *src_, ev, c);
            last = "the position";
        }
        expect_end(f, *src_, ev, line, last);
    }

    void parse_vertex(std::string_view line) {
        Fields f(line.substr(1));
        const std::int64_t ev = ev_index();
        const auto id = parse_field<std::int64_t>(f, *src_, ev, "vertex id");
        if (id >= 0) src_->fail(ev, "vertex id must be negative, got " + std::to_string(id));
        (void)parse_field<std::int32_t>(f, *src_, ev, "vertex status");
        std::string_view rest = trim(f.rest());
        if (rest.empty() || rest.front() != '[')
            src_->fail(ev, "expected '[' with the incoming particle ids of vertex " + std::to_string(id));
        const auto close = rest.find(']');
        if (close == std::string_view::npos) src_->fail(ev, "missing ']' in vertex line");
        std::string_view list = rest.substr(1, close - 1);
        vertex_ids_.push_back(id);
        while (!list.empty()) {
            const auto comma = list.find(',');
            std::string_view tok = trim(list.substr(0, comma));
            std::int64_t pid_ref = 0;
            auto [ptr, ec] = std::from_chars(tok.data(), tok.data() + tok.size(), pid_ref);
            if (ec != std::errc() || ptr != tok.data() + tok.size() || pid_ref <= 0)
                src_->fail(ev, "expected a positive particle id in vertex list, got '" + std::string(tok) + "'");
            vertex_in_.push_back(pid_ref);
            if (comma == std::string_view::npos) break;
            list.remove_prefix(comma + 1);
        }
        vertex_offsets_.push_back(static_cast<std::int64_t>(vertex_in_.size()));
        Fields after(rest.substr(close + 1));
        parse_position(after, ev, "the vertex line", "the incoming particle list");
    }

    void parse_attribute(std::string_view line) {
        Fields f(line.substr(1));
        std::string_view id, name;
        if (!f.next(id) || !f.next(name)) return;
        if (name == "GenCrossSection" && in_event_) {
            const std::int64_t ev = ev_index();
            const double xs = parse_field<double>(f, *src_, ev, "cross section");
            const double err = parse_field<double>(f, *src_, ev, "cross-section error");
            pending_xs_ = xs;
            pending_xs_err_ = err;
        }
    }

    void finish_event(EventBatch& out) override {
        const std::int64_t ev = ev_index();
        const auto np = static_cast<std::int64_t>(particles_.size());
        const auto nv = static_cast<std::int64_t>(vertex_ids_.size());
        if (np != declared_particles_)
            throw InputError(src_->path(), event_line_, ev,
                             "event declares " + std::to_string(declared_particles_) + " particles but " +
                                 std::to_string(np) + " were found (file truncated or corrupt?)");
        // Vertices are written explicitly (V lines) or implicitly: a particle whose production
        // vertex has one incoming particle (and no position) names that parent instead, so each
        // distinct parent reference is one vertex. Vertices without outgoing particles are not
        // written at all; each has an incoming particle, so at most np of them.
        parent_seen_.assign(static_cast<std::size_t>(np) + 1, 0);
        std::int64_t implicit = 0;
        for (const auto& p : particles_) {
            if (p.ref <= 0) continue;
            if (p.ref > np)
                throw InputError(src_->path(), event_line_, ev,
                                 "parent particle id " + std::to_string(p.ref) + " does not exist");
            if (!parent_seen_[static_cast<std::size_t>(p.ref)]) {
                parent_seen_[static_cast<std::size_t>(p.ref)] = 1;
                ++implicit;
            }
        }
        if (nv + implicit > declared_vertices_ || declared_vertices_ > nv + implicit + np)
            throw InputError(src_->path(), event_line_, ev,
                             "event declares " + std::to_string(declared_vertices_) + " vertices but " +
                                 std::to_string(nv) + " vertex lines and " + std::to_string(implicit) +
                                 " parent references were found (file truncated or corrupt?)");
        // vertex id -> position in vertex_ids_ (declared_vertices_ is now bounded by the lines read)
        vertex_slot_.assign(static_cast<std::size_t>(declared_vertices_) + 1, -1);
        for (std::int64_t k = 0; k < nv; ++k) {
            const std::int64_t vid = -vertex_ids_[k];
            if (vid > declared_vertices_)
                throw InputError(src_->path(), event_line_, ev,
                                 "vertex id " + std::to_string(-vid) + " exceeds the declared vertex count");
            vertex_slot_[vid] = k;
        }
        // the further weights by name: the declared names when they are known for this count (with
        // blank-separated names only when there are as many as values), by index without names
        const std::size_t count = weights_.size();
        extra_weight_names(extra_names_, weight_names_, count, false);
        out.begin_event(number_, weight_, extra_names_,
                        extra_names_.empty() ? Span<double>() : Span<double>(weights_.data() + 1, count - 1));
        const double u = unit_;
        for (const auto& p : particles_) {
            out.add_particle(p.px * u, p.py * u, p.pz * u, p.e * u, p.m * u, p.pid, p.status);
            if (p.ref > 0) {  // checked above: 0 < ref <= np
                out.add_parent(static_cast<std::int32_t>(p.ref - 1));
            } else if (p.ref < 0) {
                const std::int64_t vid = -p.ref;
                const std::int64_t slot = vid <= declared_vertices_ ? vertex_slot_[vid] : -1;
                if (slot < 0)
                    throw InputError(src_->path(), event_line_, ev,
                                     "production vertex " + std::to_string(p.ref) + " is not defined");
                for (auto k = vertex_offsets_[slot]; k < vertex_offsets_[slot + 1]; ++k) {
                    if (vertex_in_[k] > np)
                        throw InputError(src_->path(), event_line_, ev,
                                         "vertex " + std::to_string(p.ref) + " lists unknown particle " +
                                             std::to_string(vertex_in_[k]));
                    out.add_parent(static_cast<std::int32_t>(vertex_in_[k] - 1));
                }
            }
        }
        out.end_event();
        if (!std::isnan(pending_xs_)) set_xs(pending_xs_, pending_xs_err_, out);
        pending_xs_ = kNaN;
        in_event_ = false;
        ++n_read_;
    }

    std::int64_t number_ = 0, declared_vertices_ = 0, declared_particles_ = 0, event_line_ = 0;
    double weight_ = 1.0, unit_ = 1.0;
    std::vector<double> weights_;          // all values of the event's 'W' line
    std::vector<std::string> extra_names_;  // names of weights_[1:]
    double pending_xs_ = kNaN, pending_xs_err_ = kNaN;
    std::vector<RawParticle> particles_;
    std::vector<std::int64_t> vertex_ids_, vertex_in_, vertex_offsets_, vertex_slot_;
    std::vector<char> parent_seen_;
};

// ------------------------------------------------------------------------------------------------
// HepMC2 IO_GenEvent
// ------------------------------------------------------------------------------------------------
class HepMC2Parser final : public HepMCEventParser {
public:
    std::unique_ptr<HepMCEventParser> fresh() const override { return std::make_unique<HepMC2Parser>(); }

    std::string_view start_listing() const override { return "HepMC::IO_GenEvent-START_EVENT_LISTING"; }
    std::string_view end_listing() const override { return "HepMC::IO_GenEvent-END_EVENT_LISTING"; }

    void check_listing_header(std::string_view line) const override {
        if (starts_with(line, "HepMC::Asciiv3")) src_->fail(n_read_, "HepMC3 listing inside a HepMC2 file");
    }

    void parse_line(std::string_view line) override {
        const char tag = line[0];
        if (tag == 'V') {
            need_event(line);
            parse_vertex(line);
        } else if (tag == 'P') {
            need_event(line);
            parse_particle(line);
        } else if (tag == 'U') {
            need_event(line);
            Fields f(line.substr(1));
            unit_ = parse_units(f, *src_, n_read_);
            expect_end(f, *src_, n_read_, "the units line", "the length unit");
        } else if (tag == 'C') {
            need_event(line);
            Fields f(line.substr(1));
            pending_xs_ = parse_field<double>(f, *src_, n_read_, "cross section");
            pending_xs_err_ = parse_field<double>(f, *src_, n_read_, "cross-section error");
            expect_end(f, *src_, n_read_, "the cross-section line", "the cross-section error");
        } else if (tag == 'N') {
            parse_weight_names(line);
        } else if (tag == 'H' || tag == 'F') {
            // heavy-ion and PDF information: not used
        } else {
            src_->fail(n_read_, "unexpected line '" + excerpt(line) + "' (expected a HepMC2 E/N/U/C/H/F/V/P line)");
        }
    }

    void start_event(std::string_view line) override {
        Fields f(line.substr(1));
        const std::int64_t ev = n_read_;
        number_ = parse_field<std::int64_t>(f, *src_, ev, "event number");
        (void)parse_field<std::int64_t>(f, *src_, ev, "number of MPI");
        (void)parse_field<double>(f, *src_, ev, "event scale");
        (void)parse_field<double>(f, *src_, ev, "alpha_QCD");
        (void)parse_field<double>(f, *src_, ev, "alpha_QED");
        (void)parse_field<std::int64_t>(f, *src_, ev, "signal process id");
        (void)parse_field<std::int64_t>(f, *src_, ev, "signal vertex barcode");
        declared_vertices_ = parse_field<std::int64_t>(f, *src_, ev, "number of vertices");
        (void)parse_field<std::int64_t>(f, *src_, ev, "beam 1 barcode");
        (void)parse_field<std::int64_t>(f, *src_, ev, "beam 2 barcode");
        const auto nrandom = parse_count(f, *src_, ev, "number of random states");
        for (std::int64_t i = 0; i < nrandom; ++i) (void)parse_field<std::int64_t>(f, *src_, ev, "random state");
        const auto nweights = parse_count(f, *src_, ev, "number of weights");
        weight_ = 1.0;
        weights_.clear();
        for (std::int64_t i = 0; i < nweights; ++i) {
            const double w = parse_field<double>(f, *src_, ev, "event weight");
            if (i == 0) weight_ = w;
            weights_.push_back(w);
        }
        expect_end(f, *src_, ev, "the event line", "the event weights");
        event_line_ = src_->line_number();
        in_event_ = true;
        unit_ = 1.0;
        particles_.clear();
        vertices_.clear();
        orphans_left_ = outgoing_left_ = 0;
    }

    void parse_weight_names(std::string_view line) {
        Fields f(line.substr(1));
        const auto n = parse_count(f, *src_, n_read_, "number of weight names");
        std::vector<std::string> names;
        // names are double-quoted and may contain spaces
        std::string_view rest = f.rest();
        for (std::int64_t i = 0; i < n; ++i) {
            const auto a = rest.find('"');
            const auto b = a == std::string_view::npos ? a : rest.find('"', a + 1);
            if (b == std::string_view::npos) src_->fail(n_read_, "expected " + std::to_string(n) + " quoted weight names");
            names.emplace_back(rest.substr(a + 1, b - a - 1));
            rest.remove_prefix(b + 1);
        }
        if (!trim(rest).empty())
            src_->fail(n_read_, "unexpected text '" + excerpt(trim(rest)) + "' after the " + std::to_string(n) +
                                    " weight names");
        weight_names_ = std::move(names);
        names_changed_ = true;
    }

    void parse_vertex(std::string_view line) {
        if (orphans_left_ != 0 || outgoing_left_ != 0)
            src_->fail(n_read_, "vertex line while the previous vertex still expects " +
                                    std::to_string(orphans_left_ + outgoing_left_) + " particles");
        Fields f(line.substr(1));
        const std::int64_t ev = n_read_;
        current_vertex_ = parse_field<std::int64_t>(f, *src_, ev, "vertex barcode");
        (void)parse_field<std::int64_t>(f, *src_, ev, "vertex id");
        for (const char* c : {"vertex x", "vertex y", "vertex z", "vertex t"}) (void)parse_field<double>(f, *src_, ev, c);
        orphans_left_ = parse_field<std::int64_t>(f, *src_, ev, "number of orphan incoming particles");
        outgoing_left_ = parse_field<std::int64_t>(f, *src_, ev, "number of outgoing particles");
        if (orphans_left_ < 0 || outgoing_left_ < 0) src_->fail(ev, "negative particle count in vertex line");
        const auto nweights = parse_count(f, *src_, ev, "number of vertex weights");
        for (std::int64_t i = 0; i < nweights; ++i) (void)parse_field<double>(f, *src_, ev, "vertex weight");
        expect_end(f, *src_, ev, "the vertex line", "the vertex weights");
        vertices_.push_back(current_vertex_);
    }

    void parse_particle(std::string_view line) {
        if (orphans_left_ == 0 && outgoing_left_ == 0)
            src_->fail(n_read_, "particle line not announced by the preceding vertex line");
        Fields f(line.substr(1));
        const std::int64_t ev = n_read_;
        RawParticle p{};
        (void)parse_field<std::int64_t>(f, *src_, ev, "particle barcode");
        p.pid = parse_field<std::int32_t>(f, *src_, ev, "PDG id");
        p.px = parse_field<double>(f, *src_, ev, "px");
        p.py = parse_field<double>(f, *src_, ev, "py");
        p.pz = parse_field<double>(f, *src_, ev, "pz");
        p.e = parse_field<double>(f, *src_, ev, "energy");
        p.m = parse_field<double>(f, *src_, ev, "generated mass");
        p.status = parse_field<std::int32_t>(f, *src_, ev, "status");
        (void)parse_field<double>(f, *src_, ev, "polarisation theta");
        (void)parse_field<double>(f, *src_, ev, "polarisation phi");
        p.end_vertex = parse_field<std::int64_t>(f, *src_, ev, "end vertex barcode");
        const auto nflow = parse_count(f, *src_, ev, "number of flow entries");
        for (std::int64_t i = 0; i < 2 * nflow; ++i) (void)parse_field<std::int64_t>(f, *src_, ev, "flow entry");
        expect_end(f, *src_, ev, "the particle line", "the flow entries");
        if (orphans_left_ > 0) {
            --orphans_left_;
            p.ref = 0;  // incoming orphan: no production vertex
            if (p.end_vertex != current_vertex_)
                src_->fail(ev, "orphan particle must end in vertex " + std::to_string(current_vertex_) +
                                   ", its end vertex is " + std::to_string(p.end_vertex));
        } else {
            --outgoing_left_;
            p.ref = current_vertex_;
        }
        particles_.push_back(p);
    }

    void finish_event(EventBatch& out) override {
        const std::int64_t ev = n_read_;
        if (orphans_left_ != 0 || outgoing_left_ != 0)
            throw InputError(src_->path(), src_->line_number(), ev,
                             "event ends while its last vertex still expects " +
                                 std::to_string(orphans_left_ + outgoing_left_) + " particles (file truncated?)");
        if (static_cast<std::int64_t>(vertices_.size()) != declared_vertices_)
            throw InputError(src_->path(), event_line_, ev,
                             "event declares " + std::to_string(declared_vertices_) + " vertices but " +
                                 std::to_string(vertices_.size()) + " were found (file truncated or corrupt?)");
        // Incoming particles of each vertex = the particles ending in it (CSR keyed by vertex slot).
        // Vertex barcodes are negative and usually -1..-n; fall back to a sorted lookup otherwise.
        const std::size_t nv = vertices_.size();
        sorted_.resize(nv);
        for (std::size_t k = 0; k < nv; ++k) sorted_[k] = {vertices_[k], static_cast<std::int64_t>(k)};
        std::sort(sorted_.begin(), sorted_.end());
        auto slot_of = [&](std::int64_t barcode) -> std::int64_t {
            auto it = std::lower_bound(sorted_.begin(), sorted_.end(), std::pair<std::int64_t, std::int64_t>{barcode, -1});
            return (it != sorted_.end() && it->first == barcode) ? it->second : -1;
        };
        in_count_.assign(nv + 1, 0);
        const auto np = particles_.size();
        end_slot_.assign(np, -1);
        for (std::size_t i = 0; i < np; ++i) {
            if (particles_[i].end_vertex == 0) continue;
            const auto s = slot_of(particles_[i].end_vertex);
            if (s < 0)
                throw InputError(src_->path(), event_line_, ev,
                                 "particle " + std::to_string(i) + " ends in undefined vertex " +
                                     std::to_string(particles_[i].end_vertex));
            end_slot_[i] = s;
            ++in_count_[s + 1];
        }
        for (std::size_t k = 0; k < nv; ++k) in_count_[k + 1] += in_count_[k];
        in_list_.resize(static_cast<std::size_t>(in_count_[nv]));
        fill_.assign(in_count_.begin(), in_count_.end() - 1);
        for (std::size_t i = 0; i < np; ++i)
            if (end_slot_[i] >= 0) in_list_[fill_[end_slot_[i]]++] = static_cast<std::int32_t>(i);

        // the further weights by the 'N' line's names (by index without one, as HepMC3 names them)
        const std::size_t count = weights_.size();
        extra_weight_names(extra_names_, weight_names_, count, true);
        out.begin_event(number_, weight_, extra_names_,
                        extra_names_.empty() ? Span<double>() : Span<double>(weights_.data() + 1, count - 1));
        const double u = unit_;
        for (const auto& p : particles_) {
            out.add_particle(p.px * u, p.py * u, p.pz * u, p.e * u, p.m * u, p.pid, p.status);
            if (p.ref != 0) {
                const auto s = slot_of(p.ref);
                for (auto k = in_count_[s]; k < in_count_[s + 1]; ++k) out.add_parent(in_list_[k]);
            }
        }
        out.end_event();
        if (!std::isnan(pending_xs_)) set_xs(pending_xs_, pending_xs_err_, out);
        pending_xs_ = kNaN;
        in_event_ = false;
        ++n_read_;
    }

    std::int64_t number_ = 0, declared_vertices_ = 0, event_line_ = 0;
    std::int64_t current_vertex_ = 0, orphans_left_ = 0, outgoing_left_ = 0;
    double weight_ = 1.0, unit_ = 1.0;
    std::vector<double> weights_;          // all weights of the event line
    std::vector<std::string> extra_names_;  // names of weights_[1:]
    double pending_xs_ = kNaN, pending_xs_err_ = kNaN;
    std::vector<RawParticle> particles_;
    std::vector<std::int64_t> vertices_, in_count_, fill_, end_slot_;
    std::vector<std::pair<std::int64_t, std::int64_t>> sorted_;
    std::vector<std::int32_t> in_list_;
};

// ------------------------------------------------------------------------------------------------
// The HepMC ASCII formats (Asciiv3 and IO_GenEvent) share their framing: a listing runs from the
// "HepMC::...-START_EVENT_LISTING" header to the "HepMC::...-END_EVENT_LISTING" footer; an event
// starts at an 'E' line and ends at the next 'E' line or at the footer. The footer is required:
// a file that ends without it was cut (possibly exactly between two events, or inside the last
// field of the last line) and is an error, never a shorter sample. Listings of the same format
// may follow each other (`cat a.hepmc3 b.hepmc3`); between them only blank lines and
// "HepMC::Version" lines may appear. Each format parses the lines of its events.
//
// With threads > 1 the caller's thread only frames: it copies the lines of consecutive events
// into chunks (~1 MB, cut at 'E' lines) that worker threads parse into batches of their own,
// appended to the output in file order. Lines outside events (run info, weight names) are parsed
// by the caller's thread as they come. A failure is kept at its place in the sequence: a chunk's
// error is raised only after every chunk before it was appended, and a framing error found by
// the caller's thread (footer missing, stray line) only after the events before it were parsed
// (the chunk holding the beginning of the broken event is parsed first, without finishing that
// event). So events, their order, the cross section, weight names and the error reported (text,
// file, line, event) are those of the one-thread path, for any number of threads.
// ------------------------------------------------------------------------------------------------
struct EventChunk {
    std::string text;              // the lines, each followed by '\n'
    std::int64_t first_line = 0;   // line number before the first line
    std::int64_t first_event = 0;  // index of the first event
    bool complete = false;         // the last event is closed (by an 'E' line or the footer)
    std::vector<std::string> weight_names;  // run-info weight names at the start (HepMC3 checks)
    bool names_exact = false;
    // results
    EventBatch out;
    std::exception_ptr error;
    bool names_changed = false;  // an event set the weight names (HepMC2 'N' lines): out_names
    std::vector<std::string> out_names;
    bool done = false;
};

// Worker threads parsing chunks; each has a parser of its own.
class ChunkPool {
public:
    ChunkPool(const HepMCEventParser& proto, std::string path, unsigned n) : path_(std::move(path)) {
        for (unsigned i = 0; i < n; ++i) threads_.emplace_back([this, p = proto.fresh()]() mutable { work(*p); });
    }
    ~ChunkPool() {
        {
            std::lock_guard<std::mutex> lock(mutex_);
            stop_ = true;
            tasks_.clear();
        }
        task_cv_.notify_all();
        for (auto& t : threads_) t.join();
    }
    ChunkPool(const ChunkPool&) = delete;
    ChunkPool& operator=(const ChunkPool&) = delete;

    void submit(std::shared_ptr<EventChunk> c) {
        {
            std::lock_guard<std::mutex> lock(mutex_);
            tasks_.push_back(std::move(c));
        }
        task_cv_.notify_one();
    }
    void wait(const EventChunk& c) {
        std::unique_lock<std::mutex> lock(mutex_);
        done_cv_.wait(lock, [&] { return c.done; });
    }
    /// Drops the chunks no worker has started.
    void cancel() {
        std::lock_guard<std::mutex> lock(mutex_);
        tasks_.clear();
    }

    // Parses one chunk with parser `p` (also the one-thread reference: same calls, same order).
    static void parse(EventChunk& c, HepMCEventParser& p, const std::string& path) {
        ChunkLines lines(path, c.text, c.first_line);
        p.src_ = &lines;
        p.in_event_ = false;
        p.n_read_ = c.first_event;
        p.weight_names_ = c.weight_names;
        p.names_exact_ = c.names_exact;
        p.names_changed_ = false;
        try {
            std::string_view line;
            while (lines.next(line)) {
                if (trim(line).empty()) continue;
                if (line[0] == 'E') {
                    if (p.in_event_) p.finish_event(c.out);
                    p.start_event(line);
                } else {
                    p.parse_line(line);
                }
            }
            if (c.complete && p.in_event_) p.finish_event(c.out);
        } catch (...) {
            c.error = std::current_exception();
        }
        c.names_changed = p.names_changed_;
        if (p.names_changed_) c.out_names = p.weight_names_;
        p.src_ = nullptr;
    }

private:
    void work(HepMCEventParser& p) {
        for (;;) {
            std::shared_ptr<EventChunk> c;
            {
                std::unique_lock<std::mutex> lock(mutex_);
                task_cv_.wait(lock, [&] { return stop_ || !tasks_.empty(); });
                if (stop_) return;
                c = std::move(tasks_.front());
                tasks_.pop_front();
            }
            parse(*c, p, path_);
            {
                std::lock_guard<std::mutex> lock(mutex_);
                c->done = true;
            }
            done_cv_.notify_all();
        }
    }

    std::string path_;
    std::mutex mutex_;
    std::condition_variable task_cv_, done_cv_;
    std::deque<std::shared_ptr<EventChunk>> tasks_;
    bool stop_ = false;
    std::vector<std::thread> threads_;
};

class HepMCAsciiReader final : public EventReader {
public:
    HepMCAsciiReader(std::unique_ptr<LineSource> src, std::unique_ptr<HepMCEventParser> parser, Format format,
                     unsigned threads, std::size_t chunk_bytes)
        : src_(std::move(src)),
          parser_(std::move(parser)),
          format_(format),
          threads_(threads),
          chunk_bytes_(chunk_bytes > 0 ? chunk_bytes : kChunkBytes) {
        parser_->src_ = src_.get();
    }
    ~HepMCAsciiReader() override {
        pool_.reset();  // joins the workers before the chunks they may hold go away
    }

    Format format() const override { return format_; }
    const std::vector<std::string>& weight_names() const override { return parser_->weight_names_; }
    const std::vector<std::string>& tools() const override { return parser_->tools_; }
    double cross_section_pb() const override { return parser_->xs_; }
    double cross_section_error_pb() const override { return parser_->xs_err_; }
    const std::string& path() const override { return src_->path(); }
    std::int64_t events_read() const override { return parser_->n_read_; }

    std::size_t read(EventBatch& out, std::size_t max_events) override {
        if (threads_ <= 1) return frame(out, max_events);
        if (failed_) std::rethrow_exception(failed_);
        if (!pool_) pool_ = std::make_unique<ChunkPool>(*parser_, src_->path(), threads_);
        std::size_t n = 0;
        std::exception_ptr deferred;  // a framing error: raised once the chunks before it are in
        try {
            try {
                n = frame(out, max_events);
            } catch (...) {
                if (failed_) throw;  // a chunk failed (merge_front): that error comes first
                deferred = std::current_exception();
            }
            dispatch(out, false);  // after a framing error: the broken event's lines, not finished
            while (!inflight_.empty()) merge_front(out);
        } catch (...) {
            inflight_.clear();
            chunk_.reset();
            pool_->cancel();
            throw;
        }
        if (deferred) {
            failed_ = deferred;
            std::rethrow_exception(deferred);
        }
        return n;
    }

private:
    static constexpr std::size_t kChunkBytes = 1 << 20;

    // The framing loop. One thread: the parser gets the lines. Threads: they go to chunks.
    std::size_t frame(EventBatch& out, std::size_t max_events) {
        HepMCEventParser& p = *parser_;
        std::size_t n = 0;
        std::string_view line;
        while (n < max_events && !finished_) {
            if (!next_of(*src_, line, p.in_event_ ? p.n_read_ : -1)) {
                if (open_)
                    throw InputError(src_->path(), src_->line_number(), p.in_event_ ? p.n_read_ : -1,
                                     "file ends without the " + std::string(p.end_listing()) + " footer (truncated?)");
                finished_ = true;
                break;
            }
            // a last line without newline may have been cut: only the complete footer (or blanks) is accepted
            if (src_->unterminated() && !trim(line).empty() && !(open_ && trim(line) == p.end_listing()))
                src_->fail(p.in_event_ ? p.n_read_ : -1, "file ends inside this line, which has no newline (truncated?)");
            if (trim(line).empty()) {
                if (chunk_ && p.in_event_) add_line(line);  // keeps the chunk's line numbers
                continue;
            }
            if (!open_) {  // between listings
                if (starts_with(line, "HepMC::Version")) continue;
                if (trim(line) == p.start_listing()) {
                    open_ = true;
                    continue;
                }
                p.check_listing_header(line);
                src_->fail(-1, "'" + excerpt(line) + "' after the " + std::string(p.end_listing()) + " footer");
            }
            if (line[0] == 'E') {
                if (p.in_event_) {
                    finish_event(out);
                    ++n;
                    if (n == max_events) {  // keep this E line for the next call
                        src_->push_back();
                        break;
                    }
                }
                start_event(out, line);  // sets in_event_
            } else if (starts_with(line, "HepMC::")) {
                if (trim(line) == p.end_listing()) {
                    if (p.in_event_) {
                        finish_event(out);
                        ++n;
                    }
                    dispatch(out, true);
                    open_ = false;
                } else {
                    p.check_listing_header(line);
                    if (starts_with(line, "HepMC::Version") || trim(line) == p.start_listing())
                        src_->fail(p.in_event_ ? p.n_read_ : -1,
                                   "'" + excerpt(line) + "' inside an event listing: the listing before it ends " +
                                       "without the " + std::string(p.end_listing()) + " footer (truncated file?)");
                    src_->fail(p.in_event_ ? p.n_read_ : -1, "unexpected line '" + excerpt(line) + "'");
                }
            } else if (threads_ > 1 && p.in_event_) {
                add_line(line);
            } else {
                p.parse_line(line);  // (threads: run-info lines outside events)
            }
        }
        if (threads_ > 1) dispatch(out, true);
        return n;
    }

    void start_event(EventBatch& out, std::string_view line) {
        if (threads_ <= 1) return parser_->start_event(line);
        if (chunk_ && chunk_->text.size() >= chunk_bytes_) dispatch(out, true);
        if (!chunk_) {
            chunk_ = std::make_shared<EventChunk>();
            chunk_->text.reserve(chunk_bytes_ + (chunk_bytes_ >> 2));
            chunk_->first_line = src_->line_number() - 1;
            chunk_->first_event = parser_->n_read_;
            chunk_->weight_names = parser_->weight_names_;
            chunk_->names_exact = parser_->names_exact_;
        }
        add_line(line);
        parser_->in_event_ = true;
    }

    void finish_event(EventBatch& out) {
        if (threads_ <= 1) return parser_->finish_event(out);
        parser_->in_event_ = false;
        ++parser_->n_read_;
    }

    void add_line(std::string_view line) {
        chunk_->text.append(line.data(), line.size());
        chunk_->text.push_back('\n');
    }

    // Hands the open chunk to the workers; keeps at most 2 per thread in flight.
    void dispatch(EventBatch& out, bool complete) {
        if (threads_ <= 1 || !chunk_) return;
        chunk_->complete = complete;
        pool_->submit(chunk_);
        inflight_.push_back(std::move(chunk_));
        chunk_.reset();
        while (inflight_.size() > 2 * static_cast<std::size_t>(threads_)) merge_front(out);
    }

    // Appends the oldest chunk's events once parsed; raises its error, if any.
    void merge_front(EventBatch& out) {
        auto c = inflight_.front();
        pool_->wait(*c);
        inflight_.pop_front();
        if (c->error) {
            failed_ = c->error;
            std::rethrow_exception(c->error);
        }
        out.append(c->out);
        if (!std::isnan(c->out.cross_section_pb)) {
            parser_->xs_ = c->out.cross_section_pb;
            parser_->xs_err_ = c->out.cross_section_error_pb;
        }
        if (c->names_changed) parser_->weight_names_ = std::move(c->out_names);
    }

    std::unique_ptr<LineSource> src_;
    std::unique_ptr<HepMCEventParser> parser_;  // one thread: all lines; threads: lines outside events
    Format format_;
    unsigned threads_;
    std::size_t chunk_bytes_;  // a chunk is cut at the first 'E' line after this many bytes
    bool finished_ = false;
    bool open_ = true;  // inside a listing (open_events has read its START header)
    // threads
    std::unique_ptr<ChunkPool> pool_;
    std::shared_ptr<EventChunk> chunk_;                 // being filled
    std::deque<std::shared_ptr<EventChunk>> inflight_;  // handed to the workers, in file order
    std::exception_ptr failed_;                         // a read failed: later reads raise it again
};
// ------------------------------------------------------------------------------------------------
// Les Houches Event files
// ------------------------------------------------------------------------------------------------
// LHE ISTUP -> HepMC-style status used in the event model:
//   -1 (incoming parton)        -> 21 (as Pythia's incoming hard-process partons)
//   +1 (outgoing, final at LHE) -> 1
//   +2 (intermediate resonance) -> 22 (as Pythia's intermediate hard-process resonances)
//   -2 (space-like intermediate), +3 (documentation) -> 3
//   -9 (incoming beam)          -> 4
int lhe_status(int istup) {
    switch (istup) {
        case -1: return 21;
        case 1: return 1;
        case 2: return 22;
        case -2:
        case 3: return 3;
        case -9: return 4;
        default: return 0;
    }
}

// The file is read strictly: inside <LesHouchesEvents> only <header> (free-form, skipped),
// <init>, <event> blocks, XML comments and blank lines may appear, and it must end with
// </LesHouchesEvents> (a file without it was cut, possibly exactly between two events). Every
// event line has its 6 fields and every particle line its 13; after the NUP particle lines of an
// event only '#' comment lines and the optional blocks of the LHEF 3 / MG5 / Pythia / Powheg
// writers (<rwgt>, <weights>, <mgrwt>, <scales>, <clustering>, <pdfinfo>) may follow. Anything
// else (a damaged tag, a particle line too many, a stray line) is an error naming the line.
class LHEReader final : public ReaderBase {
public:
    using ReaderBase::ReaderBase;
    Format format() const override { return Format::LHE; }

    std::size_t read(EventBatch& out, std::size_t max_events) override {
        std::size_t n = 0;
        std::string_view line;
        if (!std::isnan(xs_) && std::isnan(out.cross_section_pb)) set_xs(xs_, xs_err_, out);
        while (n < max_events && !finished_) {
            if (!src_->next(line)) {
                if (!closed_) src_->fail(-1, "file ends without </LesHouchesEvents> (truncated?)");
                finished_ = true;
                break;
            }
            const auto t = trim(line);
            // a last line without newline may have been cut: only the whole closing tag (or blanks) is accepted
            const bool closing = opened_ && !closed_ && is_whole_tag(t, "/LesHouchesEvents");
            if (src_->unterminated() && !t.empty() && !closing)
                src_->fail(-1, "file ends inside this line, which has no newline (truncated?)");
            if (t.empty()) continue;
            if (closed_) src_->fail(-1, "'" + excerpt(t) + "' after </LesHouchesEvents>");
            if (!opened_) {  // open_events pushed the <LesHouchesEvents> line back
                if (!is_whole_tag(t, "LesHouchesEvents"))
                    src_->fail(-1, "expected <LesHouchesEvents>, got '" + excerpt(t) + "'");
                opened_ = true;
            } else if (is_whole_tag(t, "event")) {
                if (!init_seen_) src_->fail(n_read_, "<event> before the <init> block");
                parse_event(out);
                ++n;
            } else if (is_whole_tag(t, "header")) {
                skip_header(t);
            } else if (is_whole_tag(t, "init")) {
                if (init_seen_) src_->fail(-1, "a second <init> block");
                parse_init(out);
                init_seen_ = true;
            } else if (is_whole_tag(t, "/LesHouchesEvents")) {
                closed_ = true;
            } else if (starts_with(t, "<!--")) {
                skip_comment(t, -1);
            } else {
                src_->fail(-1, "unexpected line '" + excerpt(t) + "' in <LesHouchesEvents> (expected <header>, " +
                                   "<init>, <event> or </LesHouchesEvents>)");
            }
        }
        return n;
    }

private:
    // `t` starts with the tag `name`: "<name>", "<name attr=...>" or "<name" (not "<namesuffix").
    static bool is_tag(std::string_view t, std::string_view name) {
        if (t.size() < name.size() + 1 || t[0] != '<' || t.substr(1, name.size()) != name) return false;
        if (t.size() == name.size() + 1) return true;
        const char c = t[name.size() + 1];
        return c == '>' || c == ' ' || c == '\t' || c == '/';
    }

    // `t` is the whole tag `name` ("<name>" or "<name attr=...>"): a line cut inside the tag is not.
    static bool is_whole_tag(std::string_view t, std::string_view name) { return is_tag(t, name) && t.back() == '>'; }

    // The element name of a line starting with '<' ("<rwgt>" -> "rwgt", "</event>" -> "/event").
    static std::string_view tag_name(std::string_view t) {
        std::size_t j = 1;
        while (j < t.size() && t[j] != '>' && t[j] != ' ' && t[j] != '\t' && !(t[j] == '/' && j > 1)) ++j;
        return t.substr(1, j - 1);
    }

    // Reads the next line (trimmed); fails at the end of the file, saying inside what.
    std::string_view next_line(std::int64_t ev, const char* inside) {
        std::string_view line;
        if (!next_of(*src_, line, ev)) src_->fail(ev, std::string("file ends inside ") + inside + " (truncated?)");
        if (src_->unterminated()) src_->fail(ev, "file ends inside this line, which has no newline (truncated?)");
        return trim(line);
    }

    // An XML comment starting on line `t`: skipped up to its "-->".
    void skip_comment(std::string_view t, std::int64_t ev) {
        while (t.find("-->") == std::string_view::npos) t = next_line(ev, "an XML comment");
    }

    // An element starting on line `t` ("<name ...>"): skipped up to its closing tag (the same line
    // for "<name .../>" or "<name>...</name>"). It must close before the enclosing `block` does.
    void skip_element(std::string_view t, std::int64_t ev, std::string_view block) {
        const std::string name(tag_name(t));
        const std::string close = "</" + name;
        if (t.size() >= 2 && t.substr(t.size() - 2) == "/>") return;
        if (t.find(close) != std::string_view::npos) return;
        const std::string where = "a <" + name + "> block";
        for (;;) {
            t = next_line(ev, where.c_str());
            if (t.find(close) != std::string_view::npos) return;
            if (is_tag(t, "/" + std::string(block)) || is_tag(t, "event") || is_tag(t, "init") ||
                is_tag(t, "/LesHouchesEvents"))
                src_->fail(ev, "'" + excerpt(t) + "' before the <" + name + "> block is closed");
        }
    }

    // <header> is free-form (MG5 puts its run banner, cards and the <initrwgt> weight groups there):
    // skipped whole, so that nothing in it is taken for <init> or an <event>.
    void skip_header(std::string_view t) {
        while (t.find("</header") == std::string_view::npos) t = next_line(-1, "the <header> block");
    }

    // <init>: the beam line (10 fields), NPRUP process lines (4 fields), then up to </init> only
    // comments and XML elements (LHEF 3 <generator>, <xsecinfo>, <weightinfo>, ...).
    void parse_init(EventBatch& out) {
        auto next_data = [&]() {
            for (;;) {
                const auto t = next_line(-1, "the <init> block");
                if (t.empty() || t.front() == '#') continue;
                if (starts_with(t, "<!--")) {
                    skip_comment(t, -1);
                    continue;
                }
                return t;
            }
        };
        Fields f(next_data());
        for (const char* what : {"IDBMUP(1)", "IDBMUP(2)"}) (void)parse_field<std::int64_t>(f, *src_, -1, what);
        for (const char* what : {"EBMUP(1)", "EBMUP(2)"}) (void)parse_field<double>(f, *src_, -1, what);
        for (const char* what : {"PDFGUP(1)", "PDFGUP(2)", "PDFSUP(1)", "PDFSUP(2)", "IDWTUP"})
            (void)parse_field<std::int64_t>(f, *src_, -1, what);
        const auto nprup = parse_count(f, *src_, -1, "NPRUP");
        expect_end(f, *src_, -1, "the <init> beam line", "NPRUP");
        double xs = 0, err2 = 0;
        for (std::int64_t i = 0; i < nprup; ++i) {
            Fields g(next_data());
            xs += parse_field<double>(g, *src_, -1, "XSECUP (pb)");
            const double e = parse_field<double>(g, *src_, -1, "XERRUP (pb)");
            (void)parse_field<double>(g, *src_, -1, "XMAXUP");
            (void)parse_field<std::int64_t>(g, *src_, -1, "LPRUP");
            expect_end(g, *src_, -1, "the <init> process line", "LPRUP");
            err2 += e * e;
        }
        for (;;) {
            const auto t = next_data();
            if (is_whole_tag(t, "/init")) break;
            if (t.front() != '<' || t.size() < 2 || t[1] == '/' || is_tag(t, "event") || is_tag(t, "init") ||
                is_tag(t, "/LesHouchesEvents"))
                src_->fail(-1, "unexpected line '" + excerpt(t) + "' in <init> after its " + std::to_string(nprup) +
                                   " process line(s) (NPRUP = " + std::to_string(nprup) + ")");
            skip_element(t, -1, "init");
        }
        set_xs(xs, std::sqrt(err2), out);
    }

    static bool is_event_block(std::string_view t) {
        for (std::string_view name : {"rwgt", "weights", "mgrwt", "scales", "clustering", "pdfinfo"})
            if (is_tag(t, name)) return true;
        return false;
    }

    void parse_event(EventBatch& out) {
        const std::int64_t ev = n_read_;
        const char* inside = "an <event> block";
        std::string_view t = next_line(ev, inside);
        while (t.empty() || t.front() == '#') t = next_line(ev, inside);
        Fields f(t);
        const auto nup = parse_count(f, *src_, ev, "NUP (number of particles)");
        (void)parse_field<std::int64_t>(f, *src_, ev, "IDPRUP");
        const double w = parse_field<double>(f, *src_, ev, "XWGTUP (event weight)");
        for (const char* what : {"SCALUP", "AQEDUP", "AQCDUP"}) (void)parse_field<double>(f, *src_, ev, what);
        expect_end(f, *src_, ev, "the event line", "AQCDUP");
        out.begin_event(ev, w);
        for (std::int64_t i = 0; i < nup; ++i) {
            t = next_line(ev, inside);
            if (t.empty() || starts_with(t, "<") || starts_with(t, "#"))
                src_->fail(ev, "event declares " + std::to_string(nup) + " particles but only " + std::to_string(i) + " were found");
            Fields g(t);
            const auto id = parse_field<std::int32_t>(g, *src_, ev, "IDUP");
            const auto st = parse_field<std::int32_t>(g, *src_, ev, "ISTUP");
            const auto m1 = parse_field<std::int32_t>(g, *src_, ev, "MOTHUP(1)");
            const auto m2 = parse_field<std::int32_t>(g, *src_, ev, "MOTHUP(2)");
            (void)parse_field<std::int32_t>(g, *src_, ev, "ICOLUP(1)");
            (void)parse_field<std::int32_t>(g, *src_, ev, "ICOLUP(2)");
            const double px = parse_field<double>(g, *src_, ev, "PUP(1) (px)");
            const double py = parse_field<double>(g, *src_, ev, "PUP(2) (py)");
            const double pz = parse_field<double>(g, *src_, ev, "PUP(3) (pz)");
            const double e = parse_field<double>(g, *src_, ev, "PUP(4) (E)");
            const double m = parse_field<double>(g, *src_, ev, "PUP(5) (mass)");
            (void)parse_field<double>(g, *src_, ev, "VTIMUP");
            (void)parse_field<double>(g, *src_, ev, "SPINUP");
            expect_end(g, *src_, ev, "the particle line", "SPINUP");
            if (m1 < 0 || m2 < 0 || m1 > nup || m2 > nup)
                src_->fail(ev, "mother indices " + std::to_string(m1) + " " + std::to_string(m2) + " outside [0, NUP]");
            const int st_hepmc = lhe_status(st);
            if (st_hepmc == 0) src_->fail(ev, "unknown ISTUP " + std::to_string(st) + " (expected -9, -2, -1, 1, 2 or 3)");
            out.add_particle(px, py, pz, e, m, id, st_hepmc);
            // MOTHUP(1)..MOTHUP(2) is the (1-based) range of mothers; 0 means none.
            if (m1 > 0) {
                const int last = (m2 >= m1) ? m2 : m1;
                for (int k = m1; k <= last; ++k) out.add_parent(k - 1);
            }
        }
        // after the particles: comments and the known optional blocks up to </event>
        for (;;) {
            t = next_line(ev, inside);
            if (t.empty() || t.front() == '#') continue;
            if (is_whole_tag(t, "/event")) break;
            if (is_tag(t, "event")) src_->fail(ev, "new <event> before </event>");
            if (starts_with(t, "<!--")) {
                skip_comment(t, ev);
            } else if (is_event_block(t)) {
                skip_element(t, ev, "event");
            } else if (t.front() != '<') {
                src_->fail(ev, "unexpected line '" + excerpt(t) + "' after the " + std::to_string(nup) +
                                   " particles the event declares (NUP = " + std::to_string(nup) + ")");
            } else {
                src_->fail(ev, "unexpected line '" + excerpt(t) +
                                   "' in <event> (expected </event>, '#' comments or <rwgt>, <weights>, <mgrwt>, "
                                   "<scales>, <clustering>, <pdfinfo>)");
            }
        }
        out.end_event();
        ++n_read_;
    }

    bool opened_ = false, closed_ = false, init_seen_ = false;
};

// ------------------------------------------------------------------------------------------------
// Factory
// ------------------------------------------------------------------------------------------------
Format detect(LineSource& src) {
    std::string_view line;
    for (int k = 0; k < 20 && src.next(line); ++k) {
        // a ROOT file (e.g. Delphes output): "root" and its binary version number at offset 0
        if (src.line_number() == 1 && line.size() > 4 && starts_with(line, "root") && line[4] == '\0')
            src.fail(-1, src.is_stdin() ? "a ROOT file cannot be read from standard input; give its path with --events FILE"
                                        : "not a HepMC3, HepMC2 or LHE file: a ROOT file");
        const auto t = trim(line);
        if (t.empty() || starts_with(t, "HepMC::Version")) continue;
        if (starts_with(t, "HepMC::Asciiv3-START_EVENT_LISTING")) return Format::HepMC3;
        if (starts_with(t, "HepMC::IO_GenEvent-START_EVENT_LISTING")) return Format::HepMC2;
        if (starts_with(t, "<LesHouchesEvents")) return Format::LHE;
        if (starts_with(t, "<?xml")) continue;
        src.fail(-1, "not a HepMC3, HepMC2 or LHE file: unexpected first line '" + excerpt(t) + "'");
    }
    throw InputError(src.path(), src.line_number(), -1,
                     "not a HepMC3, HepMC2 or LHE file: no event-listing header found");
}

}  // namespace

std::unique_ptr<EventReader> open_events(const std::string& path, Format format, unsigned threads,
                                         std::size_t chunk_bytes) {
    auto src = std::make_unique<LineSource>(path);
    const Format found = detect(*src);
    if (format != Format::Auto && format != found)
        throw InputError(path, src->line_number(), -1,
                         "expected a " + to_string(format) + " file, found " + to_string(found));
    switch (found) {
        case Format::HepMC3:
            return std::make_unique<HepMCAsciiReader>(std::move(src), std::make_unique<HepMC3Parser>(), found, threads,
                                                      chunk_bytes);
        case Format::HepMC2:
            return std::make_unique<HepMCAsciiReader>(std::move(src), std::make_unique<HepMC2Parser>(), found, threads,
                                                      chunk_bytes);
        case Format::LHE: src->push_back(); return std::make_unique<LHEReader>(std::move(src));
        case Format::Auto: break;
    }
    throw std::logic_error("unreachable");
}

EventBatch read_events(const std::string& path, std::size_t max_events, Format format, unsigned threads) {
    auto reader = open_events(path, format, threads);
    EventBatch out;
    out.source = path;
    reader->read(out, max_events);
    return out;
}

}  // namespace recast::io
