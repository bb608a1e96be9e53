/// The guest schedule (passes/fusion/Guests.h).
#include "passes/fusion/Guests.h"

#include "passes/fusion/GemmEpilogues.h"
#include "passes/fusion/RowSums.h"

#include <algorithm>

namespace nnc {

size_t GuestSchedule::kernels() const {
  return static_cast<size_t>(std::count(hostOf.begin(), hostOf.end(), kNoNode));
}

GuestSchedule scheduleGuests(const Graph &g) {
  GuestSchedule s(g.nodes.size());
  scheduleRowSums(g, s);
  scheduleGemmEpilogues(g, s);
  return s;
}

} // namespace nnc
