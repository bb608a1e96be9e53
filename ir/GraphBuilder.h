/// Builds a Graph one statement at a time, checking names, attributes and
/// types as it goes. The parser and the C++ DSL both build through it, so a
/// model written either way gives the same graph.
#pragma once

#include "ir/Diagnostics.h"
#include "ir/Graph.h"
#include "ir/Result.h"

#include <map>
#include <string>
#include <vector>

namespace nnc {

/// An attribute as the user wrote it: `key=value`, or a positional value
/// (empty key).
struct GivenAttr {
  std::string key;
  AttrValue value;
  SourceLoc loc;
};

/// Checks given attributes against specs and fills in defaults. `what` names
/// the op or callable in messages. Errors go to `diags`.
Attrs resolveAttrs(const std::vector<AttrSpec> &specs, const std::vector<GivenAttr> &given,
                   const char *what, SourceLoc loc, Diagnostics &diags);

class GraphBuilder {
public:
  GraphBuilder(std::string modelName, SourceLoc loc);
  /// Continues building an existing, checked graph (passes append to it).
  explicit GraphBuilder(Graph existing);

  Diagnostics &diags() { return diags_; }
  const Graph &graph() const { return graph_; }

  /// Declarations. Each returns the new value (or dim) id; a redefined name
  /// is reported and the declaration still returns a usable id.
  int32_t addDim(const std::string &name, SourceLoc loc);
  ValueId addInput(const std::string &name, Type type, SourceLoc loc);
  ValueId addParam(const std::string &name, Type type, Initializer init,
                   std::vector<double> literal, SourceLoc loc);
  ValueId addState(const std::string &name, Type type, Initializer init,
                   std::vector<double> literal, SourceLoc loc);
  ValueId addConst(const std::string &name, Type type, std::vector<double> data, SourceLoc loc);
  /// A const given by `init`: "literal" (the numbers in `literal`), or one of
  /// zeros(), ones(), fill(v), arange(), whose values it computes (and which
  /// it prints as written).
  ValueId addConst(const std::string &name, Type type, Initializer init,
                   std::vector<double> literal, SourceLoc loc);
  /// A scalar number written inline as an operand.
  ValueId addImmediate(double v, DType dtype, SourceLoc loc);

  /// Applies an op. Operands that are kNoValue (earlier errors) make the
  /// result kNoValue without further messages.
  ValueId addOp(OpKind op, std::vector<ValueId> operands, Attrs attrs, SourceLoc loc);
  /// Gives a user name to an op result (`h = relu(...)`).
  void nameValue(ValueId v, const std::string &name, SourceLoc loc);

  void addUpdate(ValueId target, ValueId value, SourceLoc loc);
  void addOutput(ValueId v, SourceLoc loc);
  void setMinimize(ValueId loss, std::string optimizer, Attrs args, SourceLoc loc);

  /// The value with this name, or kNoValue.
  ValueId lookup(const std::string &name) const;
  /// Whether `name` is already defined (value or dim); reports redefinition.
  bool checkFresh(const std::string &name, SourceLoc loc);

  /// The graph, or every error found while building it.
  Result<Graph> finish();
  /// A name that is not yet taken: `base`, else `base.1`, `base.2`, ...
  std::string freshName(const std::string &base) const;
  /// Direct access for passes that edit what they built (outputs, minimize).
  Graph &mutableGraph() { return graph_; }

private:
  ValueId addDeclaration(ValueKind kind, const std::string &name, Type type, SourceLoc loc);
  void checkInitializer(const Value &v);

  Graph graph_;
  Diagnostics diags_;
  std::map<std::string, SourceLoc, std::less<>> defined_;
  std::map<std::string, ValueId, std::less<>> valueByName_;
};

} // namespace nnc
