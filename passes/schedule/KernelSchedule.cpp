/// The guest schedule (passes/schedule/KernelSchedule.h).
#include "passes/schedule/KernelSchedule.h"

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
      // GEMM epilogues are element-wise; row sums are reductions.
      bool epilogue = g.node(guest).info().family == OpFamily::Elementwise;
      out += fmt::format("{} {} ({})", k ? "," : "", describe(guest),
                         epilogue ? "epilogue" : "row sum");
    }
    out += "\n";
  }
  return out;
}

KernelSchedule scheduleKernels(const Graph &g) {
  KernelSchedule s(g.nodes.size());
  scheduleRowSums(g, s);
  scheduleGemmEpilogues(g, s);
  return s;
}

} // namespace nnc
