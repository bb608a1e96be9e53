/// The static memory plan of one graph: which workspace buffer holds each op
/// result, and how large each buffer is, as a symbolic size. Codegen lays the
/// buffers out one after another; `nnc compile --memory-report` prints it.
#pragma once

#include "ir/Graph.h"
#include "passes/schedule/KernelSchedule.h"

#include <cstdint>
#include <string>
#include <vector>

namespace nnc {

/// A byte count that depends on the symbolic dims: `coefficient` times the
/// product of the dims in `symbols` (sorted; a dim may repeat). `4*B*256`
/// is {1024, {B}}.
struct SymbolicSize {
  int64_t coefficient = 0;
  std::vector<int32_t> symbols;

  /// The bytes of a value of type `t`.
  static SymbolicSize of(const Type &t);
  /// The bytes for concrete dims (indexed by Dim::symbol).
  uint64_t evaluate(const std::vector<int64_t> &dims) const;
  /// `4*B*256` style, static factors folded: `1024*B`.
  std::string toString(const DimNames &names) const;
  friend bool operator==(const SymbolicSize &, const SymbolicSize &) = default;
};

/// Where a value is live, as node indices (positions in Graph::nodes): from
/// its defining node to its last use, both included. `last == nodes.size()`
/// means "to the end": outputs, the loss and `<-` right sides are read after
/// every node.
struct Lifetime {
  int32_t first = -1;
  int32_t last = -1;
  bool overlaps(const Lifetime &o) const { return first <= o.last && o.first <= last; }
};

/// One workspace buffer: its size (the largest of its values') and the op
/// results that take turns in it, in the order they are defined.
struct PlannedBuffer {
  SymbolicSize size;
  std::vector<ValueId> values;
};

struct MemoryPlan {
  std::vector<int32_t> bufferOf;   ///< per ValueId; -1 when not in the workspace
  std::vector<Lifetime> lifetimes; ///< per ValueId; first == -1 when not an op result
  /// Per ValueId: the operand whose buffer the result took over in place
  /// (that operand dies at this node), or kNoValue.
  std::vector<ValueId> inPlaceOf;
  /// Per ValueId: the param or state that this update's value is written
  /// straight into (no workspace buffer, no copy after the step), or kNoValue.
  std::vector<ValueId> stateOf;
  std::vector<PlannedBuffer> buffers;
  /// The kernel schedule the plan was made for (which the code follows).
  KernelSchedule schedule;

  /// Byte offset of each buffer for concrete dims: the buffers one after
  /// another, each rounded up to 64 bytes.
  std::vector<uint64_t> offsets(const std::vector<int64_t> &dims) const;
  /// The workspace bytes the plan needs for concrete dims.
  uint64_t workspaceBytes(const std::vector<int64_t> &dims) const;
};

/// Whether `n` may write its result over `operand` (an operand of `n` whose
/// last use is `n`): an element-wise op that reads every operand element
/// before it writes the same index, and `operand` has the result's shape;
/// or a reshape (the same bytes, so no copy at all).
bool canRunInPlace(const Graph &g, const Node &n, ValueId operand);

/// Liveness over the node order (which is topological), then buffer reuse:
///  1. each op result lives from its node to its last use (to the end for
///     outputs, the loss and update values), so a training graph keeps a
///     forward value only while some backward node still reads it;
///  2. an element-wise result takes over the buffer of an operand that
///     dies at its node (canRunInPlace); such chains form one class;
///  3. classes are grouped by the symbolic part of their size (the
///     product of symbolic dims): sizes in one group differ only by a
///     static factor, so the larger bounds the smaller for every dim value;
///  0. an update's value is computed straight into its param or state when
///     every other reader of the old value runs before it (and its node, if
///     it reads the old value, is element-wise: it reads each element before
///     writing it); such values get no buffer;
///  4. within a group, the interference graph (classes whose lifetimes
///     overlap) is colored greedily, largest class first; a color is a
///     buffer, as large as its first (largest) class.
/// Plans with the kernel schedule the code will follow (a guest's result is
/// written when its host runs); the plan keeps it.
MemoryPlan planMemory(const Graph &g, KernelSchedule schedule);

/// The workspace bytes without reuse: every op result in its own 64-byte
/// aligned slot (what codegen used before planning).
uint64_t unplannedBytes(const Graph &g, const std::vector<int64_t> &dims);

/// The most bytes live at any one node: a lower bound for any plan.
uint64_t peakLiveBytes(const Graph &g, const MemoryPlan &plan, const std::vector<int64_t> &dims);

/// Rounds a byte count up to a multiple of 64.
inline uint64_t roundUp64(uint64_t n) { return (n + 63) / 64 * 64; }

} // namespace nnc
