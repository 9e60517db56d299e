// The whole chain in C++ without Python: events -> detector emulation -> a declarative analysis
// (built here in code; the YAML loader is Python's) with a custom C++ function registered by name.
//   analysis_loop EVENTS CARD.toml
// prints, per event, "event <i> <n_jets30> <ht_central>" and then the cutflow of region SR.
#include <cmath>
#include <cstdio>
#include <exception>

#include "recast/analysis/analysis.hpp"
#include "recast/card.hpp"
#include "recast/detector.hpp"
#include "recast/errors.hpp"
#include "recast/io.hpp"
#include "recast/stats.hpp"

namespace an = recast::analysis;

int main(int argc, char** argv) {
    if (argc < 3) {
        std::fprintf(stderr, "usage: %s EVENTS CARD.toml\n", argv[0]);
        return 2;
    }
    try {
        // a function the expression language does not have: scalar pT sum of central objects
        an::CustomFunction ht_central;
        ht_central.args = {an::Type::Collection};
        ht_central.result = an::Type::Number;
        ht_central.doc = "ht_central(collection) = sum of pT of the objects with |eta| < 2.5";
        ht_central.fn = [](const std::vector<an::Value>& args, const an::EventContext&) {
            const an::Value& c = args[0];
            const auto ipt = static_cast<std::size_t>(c.coll->field("pt"));
            const auto ieta = static_cast<std::size_t>(c.coll->field("eta"));
            double sum = 0;
            for (auto i : c.idx)
                if (std::fabs(c.coll->fields[ieta][static_cast<std::size_t>(i)]) < 2.5)
                    sum += c.coll->fields[ipt][static_cast<std::size_t>(i)];
            return an::Value::number(sum);
        };
        an::register_function("ht_central", ht_central);

        const auto card = recast::card::Card::load(argv[2]);
        const recast::detector::Detector detector(card);
        const auto events = recast::io::read_events(argv[1]);

        an::Spec spec;
        spec.id = "EXAMPLE";
        spec.source = "analysis_loop.cpp";
        an::ObjectStep jets30;
        jets30.define = {"jets30", "jets", {"pt > 30", 1, 1}};
        spec.objects.push_back(jets30);
        spec.variables = {{"n30", {"count(jets30)", 1, 1}}, {"htc", {"ht_central(jets30)", 1, 1}}};
        an::RegionDef sr;
        sr.name = "SR";
        sr.cuts = {{">= 2 jets", {"n30 >= 2", 1, 1}}, {"htc > 100", {"htc > 100", 1, 1}}};
        spec.regions.push_back(sr);

        auto output = detector.reconstruct(events.view(), 0, 2);
        const auto table = an::from_detector(std::move(output), detector, events.weight, events.event_number);
        const an::Analysis analysis(spec, an::Analysis::schema_of(table));
        const auto result = analysis.run(table, 2);
        for (std::size_t e = 0; e < result.n_events; ++e)
            std::printf("event %zu %.17g %.17g\n", e, result.variables[e * 2], result.variables[e * 2 + 1]);
        const auto& cf = result.cutflows[0];
        for (std::size_t k = 0; k < cf.names.size(); ++k)
            std::printf("cut %s|%lld|%.17g\n", cf.names[k].c_str(), static_cast<long long>(cf.n[k]), cf.sumw[k]);
        // what a global fit does with it: the signal yield (here 1 pb x 1 fb-1) in a counting SR
        // with 5 observed events over 4.0 +- 1.0 expected -> delta ln L
        const double s = cf.sumw.back() / cf.sumw.front() * 1000.0;
        std::printf("dloglike %.17g %.17g\n", s, recast::stats::delta_log_likelihood({5.0, 4.0, 1.0}, s));
        return 0;
    } catch (const recast::Error& e) {
        std::fprintf(stderr, "error: %s\n", e.what());
        return 1;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "error: %s\n", e.what());
        return 1;
    }
}
