/// The syntax tree of a model file, as the parser reads it and before names
/// are resolved (frontend/Sema.cpp turns it into a Graph).
#pragma once

#include "ir/GraphBuilder.h"
#include "nnc/SourceLoc.h"
#include "ir/Type.h"

#include <optional>
#include <string>
#include <vector>

namespace nnc {

/// `op(args..., key=value...)`, a name, or a number. Infix operators are
/// already calls (`a + b` is `add(a, b)`, `-a` is `neg(a)`).
struct ExprSyntax {
  enum class Kind : uint8_t { Number, Name, Call, Literal, String };
  Kind kind = Kind::Number;
  SourceLoc loc;
  double number = 0;
  std::string name; ///< the name, the callee, or a String's characters
  std::vector<ExprSyntax> args;
  std::vector<GivenAttr> attrs;
  // For Kind::Literal: nested lists, flattened row-major.
  std::vector<double> literal;
  std::vector<int64_t> literalShape;
};

struct DimSyntax {
  std::string name; ///< a `dim`, or empty for a number
  int64_t size = 0;
  SourceLoc loc;
};

struct TypeSyntax {
  DType dtype = DType::F32;
  std::vector<DimSyntax> dims;
  SourceLoc loc;
};

struct StmtSyntax {
  enum class Kind : uint8_t { Dim, Input, Param, State, Const, Value, Update, Output, Minimize };
  Kind kind = Kind::Value;
  SourceLoc loc;    ///< the statement's first token
  std::string name; ///< the declared, defined or updated name
  SourceLoc nameLoc;
  std::optional<TypeSyntax> type;
  std::optional<ExprSyntax> expr; ///< value, initializer, literal, optimizer
  std::vector<std::pair<std::string, SourceLoc>> outputs;
};

struct ModelSyntax {
  std::string name;
  SourceLoc loc;
  std::vector<StmtSyntax> stmts;
};

/// Parses tokens into syntax; errors go to `diags`.
std::optional<ModelSyntax> parseSyntax(const SourceFile &file, Diagnostics &diags);

/// Resolves names and builds the checked graph (frontend/Sema.cpp).
Result<Graph> buildGraph(const ModelSyntax &model, Diagnostics diags);

} // namespace nnc
