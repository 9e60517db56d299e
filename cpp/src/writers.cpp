// HepMC3 ASCII (Asciiv3) writer for the columnar events; see recast/io.hpp.
//
// Vertices are rebuilt from the per-particle parent lists: the particles that share one set of
// parents share one production vertex, whose incoming particles are those parents. HepMC needs a
// directed acyclic graph in which a particle ends in at most one vertex, so a parent link is kept
// only when all parents come earlier in the record and none of them already ends in a vertex with
// another set of parents; the other links are dropped (counted in the return value). Vertices are
// numbered in the order of their first outgoing particle (ids -1, -2, ...; the event line gives
// their count) and written as HepMC3's WriterAscii writes them: a vertex with several incoming
// particles as a "V -k 0 [ids]" line just before its first outgoing particle, which names it
// ("P i -k ..."); a vertex with one incoming particle (a decay; no position, status or attributes
// here) gets no line: its outgoing particles name that parent particle instead ("P i <parent id>").
#include <zlib.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "recast/errors.hpp"
#include "recast/version.hpp"
#include "recast/io.hpp"

namespace recast::io {

namespace {

// Writes to "<path>.part" and renames it to <path> in close(): an interrupted or failed write
// never leaves a truncated file under the final name.
class Output {
public:
    explicit Output(const std::string& path) : path_(path), tmp_(path + ".part") {
        gz_ = path.size() > 3 && path.compare(path.size() - 3, 3, ".gz") == 0;
        if (gz_) {
            gz_file_ = gzopen(tmp_.c_str(), "wb6");
            if (!gz_file_) throw Error(path + ": cannot open for writing");
        } else {
            file_ = std::fopen(tmp_.c_str(), "wb");
            if (!file_) throw Error(path + ": cannot open for writing");
        }
    }
    Output(const Output&) = delete;
    Output& operator=(const Output&) = delete;
    ~Output() {
        if (gz_file_) gzclose(gz_file_);
        if (file_) std::fclose(file_);
        if (!done_) std::remove(tmp_.c_str());
    }
    void write(const std::string& s) {
        if (s.empty()) return;
        const bool ok = gz_ ? gzwrite(gz_file_, s.data(), static_cast<unsigned>(s.size())) == static_cast<int>(s.size())
                            : std::fwrite(s.data(), 1, s.size(), file_) == s.size();
        if (!ok) throw Error(path_ + ": write failed (disk full?)");
    }
    void close() {
        const int rc = gz_ ? gzclose(gz_file_) : std::fclose(file_);
        gz_file_ = nullptr;
        file_ = nullptr;
        if (rc != 0) throw Error(path_ + ": closing the file failed (disk full?)");
        if (std::rename(tmp_.c_str(), path_.c_str()) != 0) throw Error(path_ + ": cannot rename " + tmp_ + " to it");
        done_ = true;
    }

private:
    std::string path_, tmp_;
    bool gz_ = false, done_ = false;
    gzFile gz_file_ = nullptr;
    std::FILE* file_ = nullptr;
};

void append_number(std::string& s, double x) {
    char buf[32];
    const int n = std::snprintf(buf, sizeof buf, " %.17g", x);
    s.append(buf, static_cast<std::size_t>(n));
}

}  // namespace

struct HepMC3Writer::Impl {
    explicit Impl(const std::string& path) : out(path) {}
    Output out;
    bool header_written = false;
    std::vector<std::string> weight_names;  // the further weights' names (the file's, once the header is out)
    // scratch, reused between events
    std::string body, head;
    std::vector<std::int32_t> end_vertex;                         // per particle: 1-based vertex it ends in, 0 = none
    std::vector<std::int32_t> parent_set;                         // sorted parents of the current particle
    std::map<std::vector<std::int32_t>, std::int32_t> vertex_of;  // parent set -> 1-based vertex
};

HepMC3Writer::HepMC3Writer(const std::string& path) : path_(path), impl_(std::make_unique<Impl>(path)) {}

HepMC3Writer::~HepMC3Writer() = default;  // without close(): the .part file is removed

// The header: written with the first events (or by close()), when the weight names are known.
// The nominal weight is "Default"; further weights follow it on the run-info 'W' line, separated
// by "\|" as the HepMC3 library (>= 3.2.6) writes names. The tool line marks the file as recast's:
// its GenCrossSection is the cross section the sample was analysed with when recast-ml run
// --write-events wrote it; accepted when the file is read back.
void HepMC3Writer::write_header() {
    std::string names = "W Default";
    for (const auto& name : impl_->weight_names) names += "\\|" + name;
    impl_->out.write("HepMC::Version 3.02.06\nHepMC::Asciiv3-START_EVENT_LISTING\n" + names + "\nT recast_ml|" +
                     version() + "|HepMC3Writer\n");
    impl_->header_written = true;
}

void HepMC3Writer::close() {
    if (!impl_) throw Error(path_ + ": writer already closed");
    if (!impl_->header_written) write_header();
    impl_->out.write("HepMC::Asciiv3-END_EVENT_LISTING\n\n");
    impl_->out.close();
    impl_.reset();
}

std::int64_t HepMC3Writer::write(const EventView& events, double cross_section_pb, double cross_section_error_pb,
                                 const std::vector<std::string>& weight_names, Span<double> weights) {
    if (!impl_) throw Error(path_ + ": writer already closed");
    events.validate();
    const std::size_t n_extra = weight_names.size();
    if (weights.size() != events.n_events() * n_extra)
        throw Error(path_ + ": " + std::to_string(weights.size()) + " further weights given for " +
                    std::to_string(events.n_events()) + " events and " + std::to_string(n_extra) + " weight names");
    for (std::size_t k = 0; k < n_extra; ++k) {
        const std::string& name = weight_names[k];
        const bool blank_end = !name.empty() && (name.front() == ' ' || name.front() == '\t' || name.back() == ' ' ||
                                                 name.back() == '\t');
        if (name.empty() || blank_end || name.find_first_of("\n\r") != std::string::npos ||
            name.find("\\|") != std::string::npos || name == "Default" ||
            std::find(weight_names.begin(), weight_names.begin() + static_cast<std::ptrdiff_t>(k), name) !=
                weight_names.begin() + static_cast<std::ptrdiff_t>(k))
            throw Error(path_ + ": weight name '" + name + "' cannot be written (names must be unique, not " +
                        "'Default' (the nominal weight), non-empty, without line breaks, '\\|' or blanks at the ends)");
    }
    for (const double w : weights)
        if (!std::isfinite(w)) throw Error(path_ + ": a further event weight is not finite");
    if (events.n_events() == 0) return 0;
    if (!impl_->header_written) {
        impl_->weight_names = weight_names;
        write_header();
    } else if (weight_names != impl_->weight_names) {
        auto list = [](const std::vector<std::string>& v) {
            std::string s = "Default";
            for (const auto& n : v) s += ", " + n;
            return s;
        };
        throw Error(path_ + ": these events carry the weights " + list(weight_names) + ", the file was started with " +
                    list(impl_->weight_names));
    }
    Output& out = impl_->out;
    std::string &body = impl_->body, &head = impl_->head;
    std::vector<std::int32_t>&end_vertex = impl_->end_vertex, &parent_set = impl_->parent_set;
    auto& vertex_of = impl_->vertex_of;
    std::int64_t dropped = 0;
    for (std::size_t ev = 0; ev < events.n_events(); ++ev) {
        const auto first = static_cast<std::size_t>(events.particle_offsets[ev]);
        const auto n = static_cast<std::size_t>(events.particle_offsets[ev + 1]) - first;
        end_vertex.assign(n, 0);
        vertex_of.clear();
        body.clear();
        std::int32_t n_vertices = 0;
        for (std::size_t j = 0; j < n; ++j) {
            const std::size_t g = first + j;
            parent_set.assign(events.parents.begin() + events.parent_offsets[g],
                              events.parents.begin() + events.parent_offsets[g + 1]);
            std::sort(parent_set.begin(), parent_set.end());
            parent_set.erase(std::unique(parent_set.begin(), parent_set.end()), parent_set.end());
            std::int32_t vertex = 0;
            if (!parent_set.empty()) {
                if (auto it = vertex_of.find(parent_set); it != vertex_of.end()) {
                    vertex = it->second;
                } else {
                    bool ok = parent_set.back() < static_cast<std::int32_t>(j);
                    for (const auto p : parent_set) ok = ok && end_vertex[static_cast<std::size_t>(p)] == 0;
                    if (ok) {
                        vertex = ++n_vertices;
                        vertex_of.emplace(parent_set, vertex);
                        for (const auto p : parent_set) end_vertex[static_cast<std::size_t>(p)] = vertex;
                        if (parent_set.size() > 1) {
                            body += "V -" + std::to_string(vertex) + " 0 [";
                            for (std::size_t k = 0; k < parent_set.size(); ++k) {
                                if (k) body += ',';
                                body += std::to_string(parent_set[k] + 1);
                            }
                            body += "]\n";
                        }
                    } else {
                        ++dropped;
                    }
                }
            }
            // the production vertex: its id if it has a V line, else its one incoming particle's id
            const std::string ref = vertex == 0              ? std::string("0")
                                    : parent_set.size() == 1 ? std::to_string(parent_set[0] + 1)
                                                             : "-" + std::to_string(vertex);
            body += "P " + std::to_string(j + 1) + ' ' + ref + ' ' + std::to_string(events.pid[g]);
            append_number(body, events.px[g]);
            append_number(body, events.py[g]);
            append_number(body, events.pz[g]);
            append_number(body, events.e[g]);
            append_number(body, events.mass[g]);
            body += ' ' + std::to_string(events.status[g]) + '\n';
        }
        head = "E " + std::to_string(events.event_number[ev]) + ' ' + std::to_string(n_vertices) + ' ' +
               std::to_string(n) + "\nU GEV MM\nW";
        append_number(head, events.weight[ev]);
        for (std::size_t k = 0; k < n_extra; ++k) append_number(head, weights[ev * n_extra + k]);
        head += '\n';
        if (std::isfinite(cross_section_pb)) {
            head += "A 0 GenCrossSection";
            append_number(head, cross_section_pb);
            append_number(head, std::isfinite(cross_section_error_pb) ? cross_section_error_pb : 0.0);
            head += " -1 -1\n";
        }
        out.write(head);
        out.write(body);
    }
    n_written_ += static_cast<std::int64_t>(events.n_events());
    return dropped;
}

std::int64_t write_hepmc3(const EventView& events, const std::string& path, double cross_section_pb,
                          double cross_section_error_pb, const std::vector<std::string>& weight_names,
                          Span<double> weights) {
    HepMC3Writer writer(path);
    const std::int64_t dropped = writer.write(events, cross_section_pb, cross_section_error_pb, weight_names, weights);
    writer.close();
    return dropped;
}

}  // namespace recast::io
