/// Memory planning: liveness, in-place element-wise ops, and buffer reuse
/// by coloring the interference graph (see MemoryPlan.h for the steps).
#include "passes/schedule/MemoryPlan.h"

#include "passes/schedule/KernelSchedule.h"
#include "passes/schedule/InterferenceGraph.h"

#include <algorithm>
#include <map>
#include <numeric>

namespace nnc {

// ---- sizes --------------------------------------------------------------------

SymbolicSize SymbolicSize::of(const Type &t) {
  SymbolicSize s;
  s.coefficient = dtypeSize(t.dtype);
  for (const Dim &d : t.shape) {
    if (d.isStatic())
      s.coefficient *= d.size;
    else
      s.symbols.push_back(d.symbol);
  }
  std::sort(s.symbols.begin(), s.symbols.end());
  return s;
}

uint64_t SymbolicSize::evaluate(const std::vector<int64_t> &dims) const {
  uint64_t n = static_cast<uint64_t>(coefficient);
  for (int32_t sym : symbols)
    n *= static_cast<uint64_t>(dims[static_cast<size_t>(sym)]);
  return n;
}

std::string SymbolicSize::toString(const DimNames &names) const {
  std::string s = std::to_string(coefficient);
  for (int32_t sym : symbols)
    s += "*" + (static_cast<size_t>(sym) < names.size() ? names[static_cast<size_t>(sym)]
                                                        : "d" + std::to_string(sym));
  return s;
}

// ---- the plan -------------------------------------------------------------------

std::vector<uint64_t> MemoryPlan::offsets(const std::vector<int64_t> &dims) const {
  std::vector<uint64_t> out;
  uint64_t at = 0;
  for (const PlannedBuffer &b : buffers) {
    out.push_back(at);
    at += roundUp64(b.size.evaluate(dims));
  }
  return out;
}

uint64_t MemoryPlan::workspaceBytes(const std::vector<int64_t> &dims) const {
  uint64_t total = 0;
  for (const PlannedBuffer &b : buffers)
    total += roundUp64(b.size.evaluate(dims));
  return total;
}

bool canRunInPlace(const Graph &g, const Node &n, ValueId operand) {
  const OpInfo &info = n.info();
  // A reshape is its operand's bytes: in place it copies nothing (the
  // lowering skips the copy when both share the buffer).
  if (n.op == OpKind::Reshape)
    return g.value(operand).kind == ValueKind::Op;
  // Other fused ops may make several passes over their result: never in
  // place. fused_elementwise reads each element before it writes it.
  if (n.op == OpKind::FusedElementwise)
    return g.value(operand).kind == ValueKind::Op &&
           g.type(operand).shape == g.type(n.result).shape;
  if (info.family != OpFamily::Elementwise || std::string_view(info.name).starts_with("fused_"))
    return false;
  if (!info.has(kUnary) && !info.has(kBinary) && !info.has(kGradientOp))
    return false;
  const Value &v = g.value(operand);
  return v.kind == ValueKind::Op && v.type.shape == g.type(n.result).shape &&
         dtypeSize(v.type.dtype) == dtypeSize(g.type(n.result).dtype);
}

namespace {

struct Planner {
  const Graph &g;
  MemoryPlan plan;
  /// In-place chains: the values of each class, its lifetime and size.
  struct Class {
    std::vector<ValueId> values;
    Lifetime life;
    SymbolicSize size;
  };
  std::vector<Class> classes;

  const KernelSchedule &guests;

  Planner(const Graph &graph, const KernelSchedule &schedule) : g(graph), guests(schedule) {
    size_t n = g.values.size();
    plan.bufferOf.assign(n, -1);
    plan.lifetimes.assign(n, Lifetime{});
    plan.inPlaceOf.assign(n, kNoValue);
    plan.stateOf.assign(n, kNoValue);
  }

  /// 0. Updates written straight into their target (see planMemory).
  void placeUpdatesInState() {
    std::vector<int> updatesOf(g.values.size(), 0);
    std::vector<bool> readAtEnd(g.values.size(), false);
    // Outputs, and update values that are params or states themselves, are
    // read after every node: their old values must survive the step.
    for (const Update &u : g.updates)
      ++updatesOf[static_cast<size_t>(u.value)], readAtEnd[static_cast<size_t>(u.value)] = true;
    for (const OutputRef &o : g.outputs)
      readAtEnd[static_cast<size_t>(o.value)] = true;
    for (const Update &u : g.updates) {
      const Value &value = g.value(u.value);
      if (value.kind != ValueKind::Op || updatesOf[static_cast<size_t>(u.value)] != 1 ||
          readAtEnd[static_cast<size_t>(u.target)])
        continue;
      // A guest is written when its host runs: no other node from there on
      // may read the old value. Row sums are not written into state.
      NodeId writtenAt = value.def;
      if (guests.isGuest(value.def)) {
        if (g.node(value.def).op != OpKind::FusedElementwise)
          continue;
        writtenAt = guests.hostOf[static_cast<size_t>(value.def)];
      }
      if (lastReaderOfTarget(u.target, value.def, writtenAt))
        plan.stateOf[static_cast<size_t>(u.value)] = u.target;
    }
  }

  /// Whether node `def`, whose result is written when node `writtenAt`
  /// (<= def) runs, may overwrite `target`: every other reader of it comes
  /// before `writtenAt`, and `def` itself reads it only element by element.
  bool lastReaderOfTarget(ValueId target, NodeId def, NodeId writtenAt) const {
    for (size_t i = 0; i < g.nodes.size(); ++i) {
      const Node &n = g.nodes[i];
      if (std::find(n.operands.begin(), n.operands.end(), target) == n.operands.end())
        continue;
      if (static_cast<NodeId>(i) != def && static_cast<NodeId>(i) >= writtenAt)
        return false;
      if (static_cast<NodeId>(i) == def && (n.info().family != OpFamily::Elementwise ||
                                            g.type(target).shape != g.type(n.result).shape))
        return false;
    }
    return true;
  }

  bool isOpResult(ValueId v) const { return g.value(v).kind == ValueKind::Op; }

  /// 1. Liveness: from the defining node to the last reader.
  void computeLifetimes() {
    auto end = static_cast<int32_t>(g.nodes.size());
    for (size_t i = 0; i < g.nodes.size(); ++i) {
      const Node &node = g.nodes[i];
      auto at = static_cast<int32_t>(i);
      plan.lifetimes[static_cast<size_t>(node.result)] = {at, at};
      for (ValueId v : node.operands)
        if (isOpResult(v))
          plan.lifetimes[static_cast<size_t>(v)].last = at;
    }
    auto keep = [&](ValueId v) {
      if (v != kNoValue && isOpResult(v))
        plan.lifetimes[static_cast<size_t>(v)].last = end;
    };
    // A guest computed inside its host's kernel lives from the host on; a
    // GEMM's result that only its epilogue reads is dead after the GEMM.
    for (size_t i = 0; i < g.nodes.size(); ++i)
      if (guests.isGuest(static_cast<NodeId>(i))) {
        NodeId host = guests.hostOf[i];
        Lifetime &life = plan.lifetimes[static_cast<size_t>(g.nodes[i].result)];
        life.first = std::min(life.first, host);
        if (g.nodes[i].op == OpKind::FusedElementwise)
          plan.lifetimes[static_cast<size_t>(g.node(host).result)].last = host;
      }
    for (const OutputRef &o : g.outputs)
      keep(o.value);
    for (const Update &u : g.updates)
      keep(u.value);
    if (g.minimize)
      keep(g.minimize->loss);
  }

  /// 2. In place: a result joins the class of an operand that dies here.
  void formClasses() {
    std::vector<int32_t> classOf(g.values.size(), -1);
    for (size_t i = 0; i < g.nodes.size(); ++i) {
      const Node &node = g.nodes[i];
      auto at = static_cast<int32_t>(i);
      const Lifetime &life = plan.lifetimes[static_cast<size_t>(node.result)];
      if (plan.stateOf[static_cast<size_t>(node.result)] != kNoValue)
        continue; // lives in its param or state
      int32_t joined = -1;
      // A guest is written early, at its host: an operand that dies here may
      // still be read between the two.
      bool early = guests.isGuest(static_cast<NodeId>(i));
      for (ValueId v : early ? std::vector<ValueId>{} : node.operands) {
        if (!isOpResult(v) || plan.lifetimes[static_cast<size_t>(v)].last != at ||
            !canRunInPlace(g, node, v))
          continue;
        joined = classOf[static_cast<size_t>(v)];
        plan.inPlaceOf[static_cast<size_t>(node.result)] = v;
        break;
      }
      if (joined < 0) {
        joined = static_cast<int32_t>(classes.size());
        classes.push_back({{}, life, SymbolicSize::of(g.type(node.result))});
      }
      Class &c = classes[static_cast<size_t>(joined)];
      c.values.push_back(node.result);
      c.life.last = std::max(c.life.last, life.last);
      classOf[static_cast<size_t>(node.result)] = joined;
    }
  }

  /// 3-4. Group by the symbolic part of the size, color each group.
  void assignBuffers() {
    std::map<std::vector<int32_t>, std::vector<size_t>> groups;
    for (size_t c = 0; c < classes.size(); ++c)
      groups[classes[c].size.symbols].push_back(c);
    struct Pending {
      PlannedBuffer buffer;
      int32_t first;
    };
    std::vector<Pending> pending;
    for (auto &[symbols, members] : groups) {
      InterferenceGraph interference(members.size());
      for (size_t a = 0; a < members.size(); ++a)
        for (size_t b = a + 1; b < members.size(); ++b)
          if (classes[members[a]].life.overlaps(classes[members[b]].life))
            interference.addEdge(a, b);
      std::vector<size_t> order(members.size());
      std::iota(order.begin(), order.end(), size_t{0});
      std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
        const Class &x = classes[members[a]], &y = classes[members[b]];
        if (x.size.coefficient != y.size.coefficient)
          return x.size.coefficient > y.size.coefficient;
        return x.life.first < y.life.first;
      });
      std::vector<size_t> colors = interference.color(order);
      size_t base = pending.size();
      for (size_t k : order) { // largest first: a buffer is as large as its first class
        size_t index = base + colors[k];
        const Class &c = classes[members[k]];
        if (index >= pending.size())
          pending.resize(index + 1, Pending{{c.size, {}}, c.life.first});
        Pending &p = pending[index];
        p.first = std::min(p.first, c.life.first);
        p.buffer.values.insert(p.buffer.values.end(), c.values.begin(), c.values.end());
      }
    }
    // Buffers in the order they are first written, values by definition.
    std::stable_sort(pending.begin(), pending.end(),
                     [](const Pending &a, const Pending &b) { return a.first < b.first; });
    for (Pending &p : pending) {
      std::sort(p.buffer.values.begin(), p.buffer.values.end(), [&](ValueId a, ValueId b) {
        return plan.lifetimes[static_cast<size_t>(a)].first <
               plan.lifetimes[static_cast<size_t>(b)].first;
      });
      for (ValueId v : p.buffer.values)
        plan.bufferOf[static_cast<size_t>(v)] = static_cast<int32_t>(plan.buffers.size());
      plan.buffers.push_back(std::move(p.buffer));
    }
  }
};

} // namespace

MemoryPlan planMemory(const Graph &g, KernelSchedule schedule) {
  Planner p(g, schedule);
  p.placeUpdatesInState();
  p.computeLifetimes();
  p.formClasses();
  p.assignBuffers();
  p.plan.schedule = std::move(schedule);
  return std::move(p.plan);
}

uint64_t unplannedBytes(const Graph &g, const std::vector<int64_t> &dims) {
  uint64_t total = 0;
  for (const Node &n : g.nodes)
    total += roundUp64(SymbolicSize::of(g.type(n.result)).evaluate(dims));
  return total;
}

uint64_t peakLiveBytes(const Graph &g, const MemoryPlan &plan, const std::vector<int64_t> &dims) {
  // A value taken over in place stops counting at the node that takes it.
  std::vector<bool> consumed(g.values.size(), false);
  for (ValueId v : plan.inPlaceOf)
    if (v != kNoValue)
      consumed[static_cast<size_t>(v)] = true;
  std::vector<uint64_t> live(g.nodes.size() + 1, 0);
  for (const Node &n : g.nodes) {
    if (plan.stateOf[static_cast<size_t>(n.result)] != kNoValue)
      continue; // written into its param or state, not the workspace
    const Lifetime &life = plan.lifetimes[static_cast<size_t>(n.result)];
    int32_t last = consumed[static_cast<size_t>(n.result)] ? life.last - 1 : life.last;
    uint64_t bytes = roundUp64(SymbolicSize::of(g.type(n.result)).evaluate(dims));
    for (int32_t t = life.first; t <= last; ++t)
      live[static_cast<size_t>(t)] += bytes;
  }
  return *std::max_element(live.begin(), live.end());
}

} // namespace nnc
