/// Editing a graph in place: redirecting the uses of a value to another
/// ("replace all uses"), adding numbers and consts, re-typing a node, and
/// compacting nodes and values afterwards. Every simplification pass edits
/// through these, so names, outputs and updates are treated one way.
#pragma once

#include "ir/Graph.h"

#include <string>
#include <vector>

namespace nnc {

/// Removes the nodes for which `keepNode` is false, then every value nobody
/// refers to any more: results of removed nodes, unused immediates, and,
/// when `dropUnusedConsts`, unused consts. Inputs, params and states always
/// stay. Value and node ids are renumbered (order kept); uses, updates,
/// outputs and `minimize` follow. Returns whether anything was removed.
bool compactGraph(Graph &g, const std::vector<bool> &keepNode, bool dropUnusedConsts);

/// The result type `op(operands, attrs)` would have, or nullopt when the
/// shape rule rejects it (no diagnostics kept).
std::optional<Type> inferNodeType(const Graph &g, OpKind op, const std::vector<ValueId> &operands,
                                  const Attrs &attrs);

/// `[B, 3]` as a reshape `shape` attribute (dim names for symbolic dims).
AttrValue shapeAttr(const Graph &g, const Shape &shape);

/// One pass's edits of a graph. A pass walks the nodes in order, calls
/// remapOperands() on each node before looking at it, records replacements
/// with replace(), and ends with finish().
///
/// Names: when a named value is replaced by an unnamed op result, the name
/// moves to the replacement, so `output logits` keeps printing `logits`.
/// A value that an output or `minimize` refers to by a user name is replaced
/// only when its name can move (canReplace); params, states and inputs are
/// never renamed.
class GraphRewriter {
public:
  explicit GraphRewriter(Graph &g);

  Graph &graph() { return g_; }
  /// `v` after the replacements recorded so far.
  ValueId resolve(ValueId v) const;
  /// Points node `id`'s operands at their replacements.
  void remapOperands(NodeId id);

  /// Whether every use of `from` may refer to `to` instead: equal types,
  /// and an output's or the loss's user-visible name survives.
  bool canReplace(ValueId from, ValueId to) const;
  /// Records that every use of `from` now refers to `to` (when canReplace);
  /// returns whether it did.
  bool replace(ValueId from, ValueId to);
  /// Records that uses of the immediate `from` refer to the equal immediate
  /// `to` (numbers have no names; nothing a user sees changes).
  void replaceImmediate(ValueId from, ValueId to);

  /// Whether an output or `minimize` refers to `v` (or to what it replaced).
  bool isRoot(ValueId v) const { return root_[static_cast<size_t>(v)]; }

  /// A new scalar number operand.
  ValueId addImmediate(double v, DType dtype, SourceLoc loc);
  /// A new const declaration (its name must be fresh).
  ValueId addConst(const std::string &name, Type type, std::vector<double> data, SourceLoc loc);
  /// A value holding `data` with `like`'s (static) type, to replace `like`:
  /// an immediate for a scalar that no output refers to, else a const that
  /// takes `like`'s user name or a fresh `base.N` name. Then replaces `like`.
  bool replaceWithConstant(ValueId like, std::vector<double> data, const std::string &base);
  /// A name no value or dim has: `base`, else `base.1`, `base.2`, ...
  std::string freshName(const std::string &base) const;

  /// Records an in-place edit of a node (its result type must not change).
  void markChanged() { changed_ = true; }

  /// Points updates, outputs, `minimize` and all operands at replacements,
  /// removes the nodes whose results were replaced or lost their last use in
  /// this rewrite (and, in turn, what only they used), and compacts the
  /// graph. Returns whether the graph changed.
  bool finish();

private:
  Graph &g_;
  std::vector<ValueId> replacement_; ///< self when not replaced
  std::vector<bool> root_;
  std::vector<int> usesBefore_;
  bool changed_ = false;
};

} // namespace nnc
