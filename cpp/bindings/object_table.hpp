#pragma once
// The reconstructed objects of a chunk of events (detector output as an analysis table), shared by
// every analysis run on the chunk: bound as recast_ml._core.ObjectTable (register_table.cpp).
#include <cstdint>
#include <string>

#include "recast/analysis/table.hpp"

struct ObjectTable {
    recast::analysis::EventTable table;
    bool large_r = false;              ///< whether large-R jets were reconstructed
    std::uint64_t first_event_key = 0;  ///< position of the chunk in the sample
};
