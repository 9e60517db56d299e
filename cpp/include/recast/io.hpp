// Event-file readers: HepMC3 ASCII (Asciiv3), HepMC2 ASCII (IO_GenEvent) and Les Houches Event
// files, plain or gzip-compressed (detected from the content, not the file name).
//
// These are purpose-built line parsers that fill the columnar EventBatch directly; they are
// tested particle by particle against pyhepmc (the HepMC3 library) and benchmarked against it in
// benchmarks/bench_readers.py. Malformed input raises InputError naming file, line, event and what
// was expected (offending text is echoed with non-UTF-8 bytes written as \xNN). The readers are
// strict, so that damaged input is an error, never a silently different sample:
//  - the closing "HepMC::Asciiv3-END_EVENT_LISTING" / "HepMC::IO_GenEvent-END_EVENT_LISTING"
//    footer or </LesHouchesEvents> is required (a file cut between two events, or inside the last
//    line, lacks it), and only blank lines may follow it (HepMC: or another listing);
//  - every line has exactly the fields of its type, declared counts (particles, vertices, NUP)
//    must match the lines read, and numbers must be finite;
//  - in LHE files only <header>, <init>, <event>, comments and, inside events, '#' lines and the
//    optional <rwgt>, <weights>, <mgrwt>, <scales>, <clustering>, <pdfinfo> blocks may appear.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "recast/event.hpp"

namespace recast::io {

enum class Format { Auto, HepMC3, HepMC2, LHE };

/// "hepmc3", "hepmc2", "lhe" (and "auto"); throws std::invalid_argument for other names.
Format format_from_string(const std::string& name);
std::string to_string(Format f);

class EventReader {
public:
    virtual ~EventReader() = default;
    /// Appends up to `max_events` events to `out`; returns how many were read (0 = end of file).
    /// HepMC events with several weights: the first is `weight`, the others go to
    /// `extra_weight_names` / `extra_weights` (named by the run-info 'W' line (HepMC3) or the 'N'
    /// line (HepMC2); "1", "2", ... where the file names none).
    virtual std::size_t read(EventBatch& out, std::size_t max_events) = 0;
    virtual Format format() const = 0;
    /// Weight names declared by the file (may be empty).
    virtual const std::vector<std::string>& weight_names() const = 0;
    /// The run information's tool lines seen so far (HepMC3 'T' lines before the first event,
    /// e.g. "recast_ml|0.1.0|HepMC3Writer"); empty for the other formats.
    virtual const std::vector<std::string>& tools() const {
        static const std::vector<std::string> none;
        return none;
    }
    /// Latest cross section seen in the file in pb (NaN if none so far).
    virtual double cross_section_pb() const = 0;
    virtual double cross_section_error_pb() const = 0;
    virtual const std::string& path() const = 0;
    /// Number of events returned so far.
    virtual std::int64_t events_read() const = 0;
};

/// Opens an event file; the format is detected from its first lines unless given.
/// Throws FileNotFound if it cannot be opened and InputError if it is not a recognised format.
/// `threads` > 1: HepMC3/HepMC2 events are parsed on that many worker threads while the caller's
/// thread splits the file at event boundaries (gzip decompression stays on one thread); events,
/// their order and any error raised (text, file, line, event: the first in file order) are those
/// of threads = 1. LHE files are always read on the caller's thread. `chunk_bytes`: a worker's
/// share of the file is cut at the first event boundary after this many bytes (0: 1 MiB).
std::unique_ptr<EventReader> open_events(const std::string& path, Format format = Format::Auto, unsigned threads = 1,
                                         std::size_t chunk_bytes = 0);

/// Convenience: reads up to `max_events` events (all by default) of a file into one batch.
EventBatch read_events(const std::string& path, std::size_t max_events = std::numeric_limits<std::size_t>::max(),
                       Format format = Format::Auto, unsigned threads = 1);

/// Writes events to a HepMC3 ASCII file batch by batch (e.g. while a sample is generated in
/// chunks), in the format of write_hepmc3. The file is written as "<path>.part" and renamed to
/// `path` by close(); a writer destroyed without close() (an error on the way) removes the .part
/// file, so no truncated file ever carries the final name.
class HepMC3Writer {
public:
    explicit HepMC3Writer(const std::string& path);  ///< throws recast::Error if it cannot be opened
    ~HepMC3Writer();
    HepMC3Writer(const HepMC3Writer&) = delete;
    HepMC3Writer& operator=(const HepMC3Writer&) = delete;

    /// Appends the events (cross section as GenCrossSection when finite); returns the number of
    /// parent links dropped (see write_hepmc3). `weight_names` / `weights`: further weights per
    /// event (see write_hepmc3); every call with events must give the names of the first.
    std::int64_t write(const EventView& events, double cross_section_pb = std::numeric_limits<double>::quiet_NaN(),
                       double cross_section_error_pb = std::numeric_limits<double>::quiet_NaN(),
                       const std::vector<std::string>& weight_names = {}, Span<double> weights = {});
    /// Writes the footer and renames the file to its final name.
    void close();
    bool is_open() const { return impl_ != nullptr; }
    std::int64_t events_written() const { return n_written_; }
    const std::string& path() const { return path_; }

private:
    void write_header();
    struct Impl;
    std::string path_;
    std::unique_ptr<Impl> impl_;
    std::int64_t n_written_ = 0;
};

/// Writes the events as a HepMC3 ASCII file (Asciiv3; gzip-compressed when `path` ends in
/// ".gz"), GeV/mm, the cross section as GenCrossSection when finite. The nominal weight is named
/// "Default"; further weights per event (e.g. the generator's variation weights) are given by
/// `weight_names` and `weights` (n_events x weight_names.size(), row-major) and written after it,
/// all names on the run-info 'W' line ("\|"-separated, as HepMC3 >= 3.2.6 writes them), all values
/// on each event's 'W' line (%.17g: read back exactly). Without them the file is as before (one
/// weight, "W Default").
/// Production vertices are rebuilt from the parent lists (particles with the same parents share a
/// vertex); parent links HepMC cannot hold (a parent later in the record, or one that already ends
/// in a vertex with other parents) are dropped. As HepMC3's WriterAscii, only vertices with several
/// incoming particles get a "V" line; a particle from a one-parent vertex names its parent particle.
/// Returns the number of dropped links. The file is
/// written as "<path>.part" and renamed when complete. Throws
/// recast::Error if the file cannot be written.
std::int64_t write_hepmc3(const EventView& events, const std::string& path,
                          double cross_section_pb = std::numeric_limits<double>::quiet_NaN(),
                          double cross_section_error_pb = std::numeric_limits<double>::quiet_NaN(),
                          const std::vector<std::string>& weight_names = {}, Span<double> weights = {});

}  // namespace recast::io
