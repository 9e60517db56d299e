#pragma once
// EventView of either binding-level event container (EventBatch or the zero-copy EventArrays).
#include "recast/event.hpp"

#include "register.hpp"

recast::EventView event_view(const py::object& events);
