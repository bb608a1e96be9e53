/// The guest schedule (passes/schedule/KernelSchedule.h).
#include "passes/schedule/KernelSchedule.h"

#include "passes/schedule/BatchNormGuests.h"
#include "passes/schedule/GemmEpilogues.h"
#include "passes/schedule/RowSums.h"
#include "ir/Printer.h"

#include <fmt/format.h>

#include <algorithm>

namespace nnc {

size_t KernelSchedule::kernels() const {
  return static_cast<size_t>(std::count(hostOf.begin(), hostOf.end(), kNoNode));
}

std::string printSchedule(const Graph &g, const KernelSchedule &s) {
  std::vector<std::string> names = printedNames(g);
  auto describe = [&](NodeId n) {
    const Node &node = g.node(n);
    return names[static_cast<size_t>(node.result)] + " = " + node.info().name;
  };
  std::string out =
      fmt::format("schedule of {}: {} kernels for {} nodes\n", g.name, s.kernels(), g.nodes.size());
  for (size_t n = 0; n < s.guestsOf.size(); ++n) {
    if (s.guestsOf[n].empty())
      continue;
    out += "  " + describe(static_cast<NodeId>(n)) + " hosts";
    for (size_t k = 0; k < s.guestsOf[n].size(); ++k) {
      NodeId guest = s.guestsOf[n][k];
      // GEMM epilogues are element-wise; row and channel sums reductions;
      // batch-norm guests share their host's pass over x.
      OpFamily family = g.node(guest).info().family;
      bool normHost = g.node(static_cast<NodeId>(n)).info().family == OpFamily::Norm;
      out += fmt::format("{} {} ({})", k ? "," : "", describe(guest),
                         family == OpFamily::Elementwise ? "epilogue"
                         : normHost                      ? "same pass"
                                                         : "row sum");
    }
    out += "\n";
  }
  return out;
}

std::vector<NodeId> firstReaders(const Graph &g) {
  std::vector<NodeId> first(g.values.size(), static_cast<NodeId>(g.nodes.size()));
  for (size_t i = g.nodes.size(); i-- > 0;)
    for (ValueId v : g.nodes[i].operands)
      first[static_cast<size_t>(v)] = static_cast<NodeId>(i);
  return first;
}

KernelSchedule scheduleKernels(const Graph &g) {
  KernelSchedule s(g.nodes.size());
  scheduleRowSums(g, s);
  scheduleBatchNormGuests(g, s);
  scheduleGemmEpilogues(g, s);
  return s;
}

} // namespace nnc
