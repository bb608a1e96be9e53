/// One test per error class of IR.md section 5: each asserts the exact
/// message, line and column, and the caret rendering for one of them.
#include "frontend/Parser.h"
#include "ir/Printer.h"

#include <gtest/gtest.h>

namespace nnc {
namespace {

struct Expected {
  uint32_t line;
  uint32_t col;
  std::string message;
};

/// Parses `body` inside a model with a dim B and inputs x: f32[B, 3] and
/// label: i32[B]; returns the diagnostics.
std::vector<Diagnostic> errorsOf(const std::string &text) {
  Result<Graph> g = parseModel(text, "m.ir");
  EXPECT_FALSE(g.ok()) << "expected an error in:\n" << text;
  return g.ok() ? std::vector<Diagnostic>{} : g.diags().list();
}

std::string wrap(const std::string &body) {
  return "model m {\n  dim B\n  input x: f32[B, 3]\n  input label: i32[B]\n" + body + "}\n";
}

void expectFirst(const std::string &body, const Expected &e) {
  auto diags = errorsOf(wrap(body));
  ASSERT_FALSE(diags.empty());
  EXPECT_EQ(diags[0].message, e.message);
  EXPECT_EQ(diags[0].loc.line, e.line);
  EXPECT_EQ(diags[0].loc.col, e.col);
  EXPECT_EQ(diags[0].severity, Severity::Error);
}

TEST(ParserErrors, Syntax) {
  expectFirst("  input y f32[B]\n", {5, 11, "expected ':' and a type, got 'f32'"});
  expectFirst("  y = relu(x) )\n", {5, 15, "unmatched ')'"});
  expectFirst("  y = relu(x) relu(x)\n", {5, 15, "expected end of statement, got 'relu'"});
}

TEST(ParserErrors, UnknownName) { expectFirst("  y = relu(z)\n", {5, 12, "unknown name 'z'"}); }

TEST(ParserErrors, UnknownOp) {
  expectFirst("  y = frobnicate(x)\n", {5, 7, "unknown op 'frobnicate'"});
  expectFirst("  y = sigmiod(x)\n", {5, 7, "unknown op 'sigmiod' (did you mean 'sigmoid'?)"});
  expectFirst("  y = softmax_crossentropy(x, label)\n",
              {5, 7, "unknown op 'softmax_crossentropy' (did you mean 'softmax_cross_entropy'?)"});
}

TEST(ParserErrors, Arity) {
  expectFirst("  y = relu(x, x)\n", {5, 7, "relu: expects 1 operand, got 2"});
  expectFirst("  y = conv2d(x)\n", {5, 7, "conv2d: expects 2 to 3 operands, got 1"});
}

TEST(ParserErrors, Attribute) {
  expectFirst("  y = leaky_relu(x, alpha=true)\n",
              {5, 21, "leaky_relu: attribute 'alpha' must be a number"});
  expectFirst("  y = relu(x, alpha=0.1)\n", {5, 15, "relu: unknown attribute 'alpha'"});
  expectFirst("  y = leaky_relu(x, alhpa=0.1)\n",
              {5, 21, "leaky_relu: unknown attribute 'alhpa' (did you mean 'alpha'?)"});
  expectFirst("  y = reshape(x)\n", {5, 7, "reshape: missing attribute 'shape'"});
}

TEST(ParserErrors, ShapeMismatch) {
  std::string text = "model m {\n  dim B\n  input x: f32[B, 3]\n"
                     "  param w1: f32[2, 1] = zeros()\n"
                     "  h = sigmoid(matmul(x, w1) + 1)\n}\n";
  auto diags = errorsOf(text);
  ASSERT_EQ(diags.size(), 1u);
  EXPECT_EQ(diags[0].render(), "m.ir:5:15: error: matmul: inner dimensions differ: "
                               "f32[B, 3] x f32[2, 1]\n"
                               "  h = sigmoid(matmul(x, w1) + 1)\n"
                               "              ^");
  expectFirst("  param b: f32[4] = zeros()\n  y = x + b\n",
              {6, 9, "add: shapes do not broadcast: f32[B, 3] and f32[4]"});
}

TEST(ParserErrors, SymbolicDimIsNeverEqualToAnInteger) {
  expectFirst("  param b: f32[3] = zeros()\n  y = sum(x, axes=[1]) + b\n",
              {6, 24, "add: shapes do not broadcast: f32[B] and f32[3]"});
}

TEST(ParserErrors, TypeMismatch) {
  expectFirst("  y = add(sum(x, axes=[1]), label)\n",
              {5, 7, "add: operands have different dtypes: f32[B] and i32[B]"});
  expectFirst("  y: f32[B, 4] = relu(x)\n",
              {5, 6, "'y' is declared f32[B, 4] but its value is f32[B, 3]"});
  expectFirst("  y = relu(label)\n", {5, 7, "relu: operand 1 must be f32, got i32[B]"});
}

TEST(ParserErrors, Redefinition) {
  expectFirst("  x = relu(x)\n", {5, 3, "redefinition of 'x' (first defined at 3:9)"});
}

TEST(ParserErrors, UseBeforeDefinition) {
  expectFirst("  y = relu(z)\n  z = relu(x)\n",
              {5, 12, "'z' is used before its definition at 6:3"});
}

TEST(ParserErrors, UnclosedBracketIsReportedAtTheBracket) {
  std::string text = wrap("  y = sigmoid(relu(x)\n  z = relu(q)\n");
  auto diags = errorsOf(text);
  ASSERT_EQ(diags.size(), 2u);
  EXPECT_EQ(diags[0].message, "unclosed '('");
  EXPECT_EQ(diags[0].loc.line, 5u);
  EXPECT_EQ(diags[0].loc.col, 14u);
  // The statements after it still parse and report their own errors.
  EXPECT_EQ(diags[1].message, "unknown name 'q'");
}

TEST(ParserErrors, NumbersMustBeFiniteF32) {
  expectFirst("  y = x * 1e400\n", {5, 11, "number 1e400 is not a finite f32"});
}

TEST(ParserErrors, OptimizerArgumentsInPyTorchsRanges) {
  std::string model = "  param w: f32[3] = zeros()\n  l = sum(w)\n  minimize l with ";
  expectFirst(model + "adam(lr=1e-3, beta1=1)\n", {7, 3, "adam: beta1 must be in [0, 1), got 1"});
  expectFirst(model + "sgd(lr=-0.1)\n", {7, 3, "sgd: lr must be at least 0, got -0.1"});
  expectFirst(model + "adam(lr=1e-3, eps=-1)\n", {7, 3, "adam: eps must be at least 0, got -1"});
}

TEST(ParserErrors, BareNameOnTheRightOfEquals) {
  expectFirst("  y = x\n", {5, 7,
                            "the right side of '=' must apply an op, not a bare name "
                            "(use the name 'x' directly)"});
}

TEST(ParserErrors, AllErrorsInSourceOrder) {
  auto diags = errorsOf(wrap("  a = relu(q1)\n  b = foo(x)\n  c = relu(q2)\n"));
  ASSERT_EQ(diags.size(), 3u);
  EXPECT_EQ(diags[0].loc.line, 5u);
  EXPECT_EQ(diags[1].loc.line, 6u);
  EXPECT_EQ(diags[2].loc.line, 7u);
}

TEST(ParserErrors, UpdateMustTargetParamOrState) {
  expectFirst("  x <- relu(x)\n",
              {5, 3, "'x' is an input; only a param or state can be updated with '<-'"});
}

TEST(ParserErrors, MinimizeNeedsAScalar) {
  expectFirst("  y = relu(x)\n  minimize y with sgd(lr=0.1)\n",
              {6, 3, "minimize: 'y' must be a f32[] scalar, got f32[B, 3]"});
}

TEST(ParserErrors, LiteralShapeMustMatch) {
  expectFirst("  const k: f32[2, 2] = [[1, 2, 3], [4, 5, 6]]\n",
              {5, 24, "literal has shape [2, 3] but the declared type is f32[2, 2]"});
  expectFirst("  const k: f32[2, 2] = [[1, 2], [3]]\n",
              {5, 33, "ragged literal: this list has 1 items, others at its level have 2"});
}

TEST(ParserErrors, Strings) {
  expectFirst("  param p: f32[2] = safetensors(\"a\\q\")\n",
              {5, 36, "unknown escape '\\q' in a string (only \\\" and \\\\ are)"});
  auto diags = errorsOf(wrap("  param p: f32[2] = safetensors(\"abc\n"));
  bool unclosed = false;
  for (const Diagnostic &d : diags)
    unclosed = unclosed || d.message == "unclosed string: a string ends with '\"' on its line";
  EXPECT_TRUE(unclosed);
  expectFirst("  y = relu(\"x\")\n",
              {5, 12,
               "a string may only name a file, in an initializer: param p: f32[2, 3] = "
               "safetensors(\"weights.safetensors\")"});
  expectFirst("  param p: f32[2] = safetensors(w)\n",
              {5, 21, "safetensors: missing attribute 'file'"});
}

TEST(Parser, StringsPrintQuotedAndReadBack) {
  // No file is read by the parser itself (frontend/ModelFile.h does that).
  Result<Graph> g = parseModel(
      wrap("  param p: f32[2] = safetensors(\"dir/we \\\"ird\\\\.st\", key=\"k\")\n"), "m.ir");
  ASSERT_TRUE(g.ok()) << g.errorText();
  const Value &p = g->value(g->findValue("p"));
  EXPECT_EQ(p.init.name, "safetensors");
  EXPECT_EQ(p.init.args[0].ident, "dir/we \"ird\\.st");
  EXPECT_EQ(p.init.args[1].ident, "k");
  std::string printed = printGraph(*g);
  EXPECT_NE(printed.find("safetensors(\"dir/we \\\"ird\\\\.st\", key=\"k\")"), std::string::npos)
      << printed;
  Result<Graph> again = parseModel(printed, "p.ir");
  ASSERT_TRUE(again.ok()) << again.errorText();
  EXPECT_EQ(printGraph(*again), printed);
}

// IR.md: `[]` is the literal of a zero-size dim, also with dims after it.
TEST(Parser, EmptyLiteralsFillZeroSizeTypes) {
  for (const char *decl :
       {"param p: f32[0] = []", "param p: f32[0, 3] = []", "const c: f32[2, 0, 5] = [[], []]"}) {
    Result<Graph> g = parseModel(wrap(std::string("  ") + decl + "\n"), "m.ir");
    EXPECT_TRUE(g.ok()) << decl << "\n" << g.errorText();
  }
  expectFirst("  param p: f32[1, 3] = []\n",
              {5, 24, "literal has shape [0] but the declared type is f32[1, 3]"});
}

TEST(Parser, NegativeNumbersFollowTheLexicalRule) {
  Result<Graph> g =
      parseModel(wrap("  a = mul(x, -2)\n  b = x * -2\n  c = x - 1\n  d = -x\n"), "m.ir");
  ASSERT_TRUE(g.ok()) << g.errorText();
  ASSERT_EQ(g->nodes.size(), 4u);
  EXPECT_EQ(g->nodes[0].op, OpKind::Mul);
  EXPECT_EQ(g->value(g->nodes[0].operands[1]).immediate(), -2);
  EXPECT_EQ(g->nodes[1].op, OpKind::Mul);
  EXPECT_EQ(g->value(g->nodes[1].operands[1]).immediate(), -2);
  EXPECT_EQ(g->nodes[2].op, OpKind::Sub);
  EXPECT_EQ(g->value(g->nodes[2].operands[1]).immediate(), 1);
  EXPECT_EQ(g->nodes[3].op, OpKind::Neg);
}

TEST(Parser, StatementsSpanLinesInsideParenthesesAndEndAtSemicolons) {
  Result<Graph> g = parseModel(wrap("  a = add(x,\n          x); b = relu(a)\n"), "m.ir");
  ASSERT_TRUE(g.ok()) << g.errorText();
  EXPECT_EQ(g->nodes.size(), 2u);
}

TEST(Parser, EveryNodeKeepsItsLocation) {
  Result<Graph> g = parseModel(wrap("  y = sigmoid(matmul(x, transpose(x)) + 1)\n"), "m.ir");
  ASSERT_TRUE(g.ok()) << g.errorText();
  ASSERT_EQ(g->nodes.size(), 4u);
  EXPECT_EQ(g->nodes[0].loc.col, 25u); // transpose
  EXPECT_EQ(g->nodes[1].loc.col, 15u); // matmul
  EXPECT_EQ(g->nodes[2].loc.col, 39u); // +
  EXPECT_EQ(g->nodes[3].loc.col, 7u);  // sigmoid
  EXPECT_EQ(g->nodes[3].loc.str(), "m.ir:5:7");
}

} // namespace
} // namespace nnc

namespace nnc {
namespace {

TEST(ParserErrors, DeepNestingIsAnErrorNotAStackOverflow) {
  for (const auto &[open, close] :
       std::vector<std::pair<std::string, std::string>>{{"(", ")"}, {"neg(", ")"}, {"-", ""}}) {
    std::string expr;
    for (int i = 0; i < 100000; ++i)
      expr += open;
    expr += "x";
    for (int i = 0; i < 100000; ++i)
      expr += close;
    auto diags = errorsOf(wrap("  y = relu(" + expr + ")\n"));
    ASSERT_FALSE(diags.empty());
    EXPECT_EQ(diags[0].message, "expression nests too deeply (more than 256 levels)");
  }
  std::string list = "  y = reshape(x, shape=";
  for (int i = 0; i < 100000; ++i)
    list += "[";
  auto diags = errorsOf(wrap(list + "\n"));
  ASSERT_FALSE(diags.empty());
}

TEST(Parser, ModestNestingIsFine) {
  std::string expr = "x";
  for (int i = 0; i < 100; ++i)
    expr = "neg(" + expr + ")";
  Result<Graph> g = parseModel(wrap("  y = relu(" + expr + ")\n"), "m.ir");
  EXPECT_TRUE(g.ok()) << g.errorText();
}

} // namespace
} // namespace nnc
