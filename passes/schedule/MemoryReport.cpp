/// The memory report: a plan printed for people.
#include "passes/schedule/MemoryReport.h"

#include "passes/schedule/KernelSchedule.h"

#include <fmt/format.h>

#include <set>

namespace nnc {

namespace {

/// Names as the printer gives them: user names, else t0, t1, ... in node order.
std::vector<std::string> valueNames(const Graph &g) {
  std::set<std::string> taken;
  for (const Value &v : g.values)
    if (!v.name.empty())
      taken.insert(v.name);
  for (const DimDecl &d : g.dims)
    taken.insert(d.name);
  std::vector<std::string> names;
  for (const Value &v : g.values)
    names.push_back(v.name);
  int next = 0;
  for (const Node &n : g.nodes) {
    if (!names[static_cast<size_t>(n.result)].empty())
      continue;
    std::string candidate;
    do
      candidate = "t" + std::to_string(next++);
    while (taken.count(candidate));
    names[static_cast<size_t>(n.result)] = candidate;
  }
  return names;
}

std::string range(const Lifetime &life, size_t end) {
  std::string last = static_cast<size_t>(life.last) >= end ? "end" : std::to_string(life.last);
  return fmt::format("nodes {}..{}", life.first, last);
}

} // namespace

std::string memoryReport(const Graph &g, const MemoryPlan &plan, const std::vector<int64_t> &dims,
                         const std::string &title, bool hasBackward) {
  DimNames dimNames = g.dimNames();
  std::vector<std::string> names = valueNames(g);
  std::string dimText;
  for (size_t i = 0; i < g.dims.size(); ++i)
    dimText += fmt::format("{}{}={}", i ? ", " : "", g.dims[i].name, dims[i]);
  uint64_t planned = plan.workspaceBytes(dims), unplanned = unplannedBytes(g, dims);
  std::string out =
      fmt::format("memory plan of {}{}\n", title, dimText.empty() ? "" : " (" + dimText + ")");
  out += fmt::format("  peak workspace: {} bytes in {} buffers for {} op results\n", planned,
                     plan.buffers.size(), g.nodes.size());
  const KernelSchedule &guests = plan.schedule;
  out += fmt::format("  kernels per run: {} ({} nodes; {} computed inside another kernel: "
                     "row sums, GEMM epilogues)\n",
                     guests.kernels(), g.nodes.size(), g.nodes.size() - guests.kernels());
  size_t inState = 0;
  for (const Update &u : g.updates)
    inState += plan.stateOf[static_cast<size_t>(u.value)] == u.target ? 1 : 0;
  if (!g.updates.empty())
    out += fmt::format("  updates computed straight into their param or state: {} of {}\n", inState,
                       g.updates.size());
  out += fmt::format("  sum of all tensors (no reuse): {} bytes; the plan needs {:.1f}% of it\n",
                     unplanned, unplanned ? 100.0 * double(planned) / double(unplanned) : 100.0);
  out += fmt::format("  most bytes live at one node: {} bytes\n", peakLiveBytes(g, plan, dims));
  std::vector<uint64_t> offsets = plan.offsets(dims);
  for (size_t b = 0; b < plan.buffers.size(); ++b) {
    const PlannedBuffer &buffer = plan.buffers[b];
    std::string symbolic =
        buffer.size.symbols.empty() ? "" : " (" + buffer.size.toString(dimNames) + ")";
    out += fmt::format("  buffer {}: {} bytes{} at offset {}, {} value{}\n", b,
                       buffer.size.evaluate(dims), symbolic, offsets[b], buffer.values.size(),
                       buffer.values.size() == 1 ? "" : "s");
    for (ValueId v : buffer.values) {
      const Lifetime &life = plan.lifetimes[static_cast<size_t>(v)];
      ValueId over = plan.inPlaceOf[static_cast<size_t>(v)];
      out += fmt::format(
          "    {:<24} {:<20} {:<16} {}{}\n", names[static_cast<size_t>(v)], g.typeString(v),
          range(life, g.nodes.size()), g.node(g.value(v).def).info().name,
          over == kNoValue ? "" : ", in place of " + names[static_cast<size_t>(over)]);
    }
  }
  if (!hasBackward || g.outputs.empty())
    return out;
  // Autodiff appends backward after forward: forward is up to the loss.
  ValueId loss = g.outputs.back().value;
  int32_t lossNode =
      g.value(loss).kind == ValueKind::Op ? plan.lifetimes[static_cast<size_t>(loss)].first : -1;
  std::vector<bool> readByBackward(g.values.size(), false);
  for (size_t i = static_cast<size_t>(lossNode + 1); i < g.nodes.size(); ++i)
    for (ValueId v : g.nodes[i].operands)
      readByBackward[static_cast<size_t>(v)] = true;
  std::string kept;
  uint64_t keptBytes = 0;
  size_t keptCount = 0;
  for (size_t i = 0; i < g.nodes.size() && static_cast<int32_t>(i) <= lossNode; ++i) {
    ValueId v = g.nodes[i].result;
    if (!readByBackward[static_cast<size_t>(v)])
      continue;
    uint64_t bytes = SymbolicSize::of(g.type(v)).evaluate(dims);
    keptBytes += bytes;
    ++keptCount;
    kept += fmt::format("    {:<24} {:<20} {:<16} {} bytes\n", names[static_cast<size_t>(v)],
                        g.typeString(v),
                        range(plan.lifetimes[static_cast<size_t>(v)], g.nodes.size()), bytes);
  }
  out += fmt::format("  kept for backward: {} forward values, {} bytes (the loss is node {})\n",
                     keptCount, keptBytes, lossNode);
  return out + kept;
}

} // namespace nnc
