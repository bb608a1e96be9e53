// Every op of the table (forward and gradient ops alike) parses, prints in
// canonical form, and prints again byte for byte the same after reparsing
// (IR.md section 2). Driven from allOps(): each op must have a recipe here,
// or the test fails naming it, so a new op cannot go untested.
//
// A recipe is a list of variants, each a tiny model `out = CALL` with the
// declarations it needs and the canonical form CALL must print as, written
// by hand from IR.md:
//   Defaults    no attribute written (only required ones),
//   Explicit    attributes written with their default values: the printed
//               form leaves every one of them out,
//   NonDefault  attributes with other values: the printed form keeps them.
// An op with attributes needs all three kinds, an explicit default for each
// attribute that has one, and a non-default value for each attribute.
#include "ir/OpInfo.h"
#include "frontend/Parser.h"
#include "ir/Printer.h"

#include <gtest/gtest.h>

#include <map>
#include <set>
#include <string>
#include <vector>

namespace nnc {
namespace {

enum class Kind { Defaults, Explicit, NonDefault };

struct Variant {
  Kind kind;
  std::string decls;   ///< declarations, one per line (without indent)
  std::string call;    ///< the right side of `out = ...` as written
  std::string printed; ///< what the canonical form prints for it
};

using Recipe = std::vector<Variant>;

Variant plain(std::string decls, std::string call) {
  return {Kind::Defaults, std::move(decls), call, call};
}
Variant sugar(std::string decls, std::string call, std::string printed) {
  return {Kind::Defaults, std::move(decls), std::move(call), std::move(printed)};
}
Variant explicitDefault(std::string decls, std::string call, std::string printed) {
  return {Kind::Explicit, std::move(decls), std::move(call), std::move(printed)};
}
Variant nonDefault(std::string decls, std::string call) {
  return {Kind::NonDefault, std::move(decls), call, call};
}
Variant nonDefault(std::string decls, std::string call, std::string printed) {
  return {Kind::NonDefault, std::move(decls), std::move(call), std::move(printed)};
}

// ---- the recipes -------------------------------------------------------------

const char *kX = "input x: f32[B, 3]";
const char *kTwo = "input a: f32[B, 3]\ninput c: f32[3]";
const char *kX3 = "input x: f32[2, 3, 4]";
const char *kLn = "input x: f32[B, 4]\ninput g: f32[4]\ninput be: f32[4]";
const char *kBn = "input x: f32[B, 3, 2, 2]\ninput g: f32[3]\ninput be: f32[3]\n"
                  "input rm: f32[3]\ninput rv: f32[3]";
const char *kConv = "input x: f32[B, 2, 5, 5]\ninput w: f32[3, 2, 3, 3]\ninput bias: f32[3]";
const char *kConvGrad = "input x: f32[B, 2, 5, 5]\ninput w: f32[3, 2, 3, 3]\n"
                        "input dy: f32[B, 3, 3, 3]";
const char *kPool = "input x: f32[B, 2, 4, 4]";
const char *kPoolGrad = "input x: f32[B, 2, 4, 4]\ninput dy: f32[B, 2, 2, 2]";
const char *kLoss = "input p: f32[B, 3]\ninput t: f32[B, 3]";
const char *kLossGrad = "input p: f32[B, 3]\ninput t: f32[B, 3]\ninput dl: f32[]";
const char *kSce = "input logits: f32[B, 3]\ninput labels: i32[B]";
const char *kSceGrad = "input logits: f32[B, 3]\ninput labels: i32[B]\ninput dl: f32[]";

Recipe unary(const std::string &op) { return {plain(kX, op + "(x)")}; }

Recipe binary(const std::string &op) {
  return {plain(kTwo, op + "(a, c)"), plain("input a: f32[B, 3]", op + "(a, -2)"),
          plain("input a: f32[B, 3]", op + "(a, 0.5)")};
}

Recipe alphaOp(const std::string &op, const std::string &operands, const std::string &decls) {
  return {plain(decls, op + "(" + operands + ")"),
          explicitDefault(decls, op + "(" + operands + ", alpha=0.01)", op + "(" + operands + ")"),
          nonDefault(decls, op + "(" + operands + ", alpha=0.2)"),
          nonDefault(decls, op + "(" + operands + ", alpha=1e-5)")};
}

/// sum/mean/max and their gradients; `grad` adds the incoming gradient of
/// the reduced shape.
Recipe reduction(const std::string &op, bool grad) {
  std::string all = grad ? std::string(kX3) + "\ninput dy: f32[]" : kX3;
  std::string keep = grad ? std::string(kX3) + "\ninput dy: f32[1, 3, 1]" : kX3;
  std::string drop = grad ? std::string(kX3) + "\ninput dy: f32[2, 4]" : kX3;
  std::string args = grad ? "x, dy" : "x";
  return {plain(all, op + "(" + args + ")"),
          explicitDefault(all, op + "(" + args + ", keepdims=false)", op + "(" + args + ")"),
          nonDefault(keep, op + "(" + args + ", axes=[0, 2], keepdims=true)"),
          nonDefault(drop, op + "(" + args + ", axes=[1])"),
          nonDefault(drop, op + "(" + args + ", axes=[-2], keepdims=false)",
                     op + "(" + args + ", axes=[-2])")};
}

/// argmax/softmax/log_softmax and the softmax gradients: an `axis`.
Recipe axisOp(const std::string &op, const std::string &args, const std::string &decls) {
  return {plain(decls, op + "(" + args + ")"),
          explicitDefault(decls, op + "(" + args + ", axis=-1)", op + "(" + args + ")"),
          nonDefault(decls, op + "(" + args + ", axis=0)")};
}

Recipe epsOp(const std::string &op, const std::string &args, const std::string &decls) {
  return {plain(decls, op + "(" + args + ")"),
          explicitDefault(decls, op + "(" + args + ", eps=1e-5)", op + "(" + args + ")"),
          explicitDefault(decls, op + "(" + args + ", eps=0.00001)", op + "(" + args + ")"),
          nonDefault(decls, op + "(" + args + ", eps=0.001)")};
}

/// conv2d and its gradients: with x [B, 2, 5, 5] and 3x3 filters, stride 1
/// padding 0, stride 2 padding 1, and stride [2, 1] padding [1, 0] all give
/// a 3x3 output.
Recipe convOp(const std::string &op, const std::string &args, const std::string &decls) {
  std::string f = op + "(" + args;
  return {plain(decls, f + ")"),
          explicitDefault(decls, f + ", stride=1, padding=0, precision=f32)", f + ")"),
          explicitDefault(decls, f + ", stride=[1, 1], padding=[0, 0])", f + ")"),
          nonDefault(decls, f + ", stride=2, padding=1)"),
          nonDefault(decls, f + ", stride=2, padding=1, precision=bf16)"),
          nonDefault(decls, f + ", stride=[2, 1], padding=[1, 0])"),
          nonDefault(decls, f + ", stride=[2, 2], padding=[1, 1])", f + ", stride=2, padding=1)")};
}

/// maxpool2d/avgpool2d and their gradients on x [B, 2, 4, 4]: kernel 2
/// (stride 2) and kernel 3 stride 1 both give 2x2; kernel [2, 1] gives 2x4.
Recipe poolOp(const std::string &op, bool grad) {
  std::string args = grad ? "x, dy" : "x";
  std::string decls = grad ? kPoolGrad : kPool;
  std::string wide = grad ? std::string(kPool) + "\ninput dy: f32[B, 2, 2, 4]" : kPool;
  std::string f = op + "(" + args;
  return {plain(decls, f + ")"),
          explicitDefault(decls, f + ", kernel=2)", f + ")"),
          explicitDefault(decls, f + ", kernel=2, stride=2)", f + ")"),
          explicitDefault(decls, f + ", kernel=[2, 2], stride=[2, 2])", f + ")"),
          nonDefault(decls, f + ", kernel=3, stride=1)"),
          nonDefault(decls, f + ", kernel=[3, 3], stride=[1, 1])", f + ", kernel=3, stride=1)"),
          nonDefault(wide, f + ", kernel=[2, 1])"),
          nonDefault(wide, f + ", kernel=[2, 1], stride=[2, 1])", f + ", kernel=[2, 1])")};
}

std::map<std::string, Recipe> recipes() {
  std::map<std::string, Recipe> r;
  // Element-wise ops without attributes: one recipe, by trait.
  for (const OpInfo &info : allOps())
    if (info.family == OpFamily::Elementwise && info.attrs.empty() &&
        (info.has(kUnary) || info.has(kBinary)) && !info.has(kGradientOp))
      r[info.name] = info.has(kUnary) ? unary(info.name) : binary(info.name);
  r["where"] = {plain("input m: f32[B, 3]\ninput a: f32[B, 3]\ninput c: f32[3]", "where(m, a, c)"),
                plain("input m: i32[3]\ninput a: i32[B, 3]\ninput c: i32[]", "where(m, a, c)")};
  const std::string clipRange = "input x: f32[B, 3]";
  r["clip"] = {plain(clipRange, "clip(x)"), nonDefault(clipRange, "clip(x, min=-1)"),
               nonDefault(clipRange, "clip(x, max=6)"),
               nonDefault(clipRange, "clip(x, min=0, max=6)"),
               nonDefault(clipRange, "clip(x, max=6, min=0)", "clip(x, min=0, max=6)")};
  const std::string clipGrad = "input x: f32[B, 3]\ninput dy: f32[B, 3]";
  r["clip_grad"] = {plain(clipGrad, "clip_grad(x, dy)"),
                    nonDefault(clipGrad, "clip_grad(x, dy, min=0, max=6)"),
                    nonDefault(clipGrad, "clip_grad(x, dy, max=6)")};
  r["neg"].push_back(sugar(kX, "-x", "neg(x)"));
  r["leaky_relu"] = alphaOp("leaky_relu", "x", kX);

  r["add"].push_back(sugar(kTwo, "a + c", "add(a, c)"));
  r["sub"].push_back(sugar(kTwo, "a - c", "sub(a, c)"));
  r["sub"].push_back(sugar("input a: f32[B, 3]", "a - 1", "sub(a, 1)"));
  r["mul"].push_back(sugar(kTwo, "a * c", "mul(a, c)"));
  r["mul"].push_back(sugar("input a: f32[B, 3]", "a * -2", "mul(a, -2)"));
  r["div"].push_back(sugar(kTwo, "a / c", "div(a, c)"));
  r["eq"].push_back(plain("input i: i32[4]\ninput j: i32[4]", "eq(i, j)"));
  r["add"].push_back(plain("input i: i32[4]\ninput j: i32[4]", "add(i, j)"));

  r["matmul"] = {
      plain("input a: f32[B, 2]\ninput w: f32[2, 4]", "matmul(a, w)"),
      explicitDefault("input a: f32[B, 2]\ninput w: f32[2, 4]",
                      "matmul(a, w, transpose_a=false, transpose_b=false, precision=f32)",
                      "matmul(a, w)"),
      nonDefault("input a: f32[B, 2]\ninput w: f32[2, 4]", "matmul(a, w, precision=bf16)"),
      nonDefault("input p: f32[3, 2]\ninput q: f32[4, 3]",
                 "matmul(p, q, transpose_a=true, transpose_b=true)"),
      nonDefault("input a: f32[B, 2]\ninput q: f32[4, 2]", "matmul(a, q, transpose_b=true)"),
      nonDefault("input p: f32[3, 2]\ninput w: f32[3, 4]",
                 "matmul(p, w, transpose_a=true, transpose_b=false)",
                 "matmul(p, w, transpose_a=true)"),
      plain("input q: f32[B, 4, 3, 2]\ninput k: f32[4, 2, 3]", "matmul(q, k)"),
      nonDefault("input q: f32[B, 4, 3, 2]\ninput k: f32[B, 1, 3, 2]",
                 "matmul(q, k, transpose_b=true)"),
  };
  // `shape` is required: there is no default to leave out.
  r["reshape"] = {
      plain("input x: f32[B, 2, 3]", "reshape(x, shape=[B, -1])"),
      nonDefault("input x: f32[B, 2, 3]", "reshape(x, shape=[B, 3, 2])"),
      nonDefault("input x: f32[2, 3]", "reshape(x, shape=[6])"),
  };
  r["transpose"] = {
      plain(kX3, "transpose(x)"),
      nonDefault(kX3, "transpose(x, perm=[0, 2, 1])"),
      nonDefault("input i: i32[2, 3]", "transpose(i, perm=[1, 0])"),
  };
  const std::string c2 = "input a: f32[B, 3]\ninput c: f32[B, 2]";
  r["concat"] = {plain(c2, "concat(a, c, axis=1)"), nonDefault(c2, "concat(a, c, a, axis=-1)"),
                 nonDefault("input i: i32[2]\ninput j: i32[3]", "concat(i, j, axis=0)")};
  // slice and slice_grad share their attributes; x: f32[B, 3].
  auto sliceOp = [&](const std::string &op, const std::string &operands, const std::string &decls,
                     const std::string &halfDecls) {
    std::string f = op + "(" + operands;
    return Recipe{plain(decls, f + ", axis=1)"),
                  explicitDefault(decls, f + ", axis=1, start=0, step=1)", f + ", axis=1)"),
                  nonDefault(halfDecls, f + ", axis=1, start=1)"),
                  nonDefault(halfDecls, f + ", axis=-1, start=-3, end=3, step=2)"),
                  nonDefault(halfDecls, f + ", axis=1, end=2)")};
  };
  r["slice"] = sliceOp("slice", "x", kX, kX);
  r["slice"].push_back(nonDefault("input i: i32[5]", "slice(i, axis=0, end=2)"));
  for (const char *op : {"tril", "triu"})
    r[op] = {plain(kX3, std::string(op) + "(x)"),
             explicitDefault(kX3, std::string(op) + "(x, k=0)", std::string(op) + "(x)"),
             nonDefault(kX3, std::string(op) + "(x, k=-1)")};
  const std::string gx = "input x: f32[10, 4]\ninput ids: i32[B, 3]";
  r["gather"] = {plain(gx, "gather(x, ids)"),
                 explicitDefault(gx, "gather(x, ids, axis=0)", "gather(x, ids)"),
                 nonDefault(gx, "gather(x, ids, axis=1)")};
  r["cast"] = {plain("input i: i32[B, 3]", "cast(i)"),
               explicitDefault("input i: i32[B, 3]", "cast(i, to=f32)", "cast(i)"),
               nonDefault(kX, "cast(x, to=i32)")};
  r["slice_grad"] = sliceOp("slice_grad", "x, dy", "input x: f32[B, 3]\ninput dy: f32[B, 3]",
                            "input x: f32[B, 3]\ninput dy: f32[B, 2]");
  const std::string gg = gx + "\ninput dy: f32[B, 3, 4]";
  r["gather_grad"] = {
      plain(gg, "gather_grad(x, ids, dy)"),
      explicitDefault(gg, "gather_grad(x, ids, dy, axis=0)", "gather_grad(x, ids, dy)"),
      nonDefault(gx + "\ninput dy: f32[10, B, 3]", "gather_grad(x, ids, dy, axis=1)")};
  for (const char *op : {"sum", "mean", "max"})
    r[op] = reduction(op, false);
  r["argmax"] = axisOp("argmax", "x", "input x: f32[2, 3]");
  r["softmax"] = axisOp("softmax", "x", "input x: f32[2, 3]");
  r["log_softmax"] = axisOp("log_softmax", "x", "input x: f32[2, 3]");
  r["layernorm"] = epsOp("layernorm", "x, g, be", kLn);
  r["dropout"] = {plain(kX, "dropout(x)"),
                  explicitDefault(kX, "dropout(x, p=0.5, seed=0)", "dropout(x)"),
                  nonDefault(kX, "dropout(x, p=0.1, seed=7)")};
  const std::string dt = std::string(kX) + "\ninput step: i32[]";
  r["dropout_train"] = {
      plain(dt, "dropout_train(x, step)"),
      explicitDefault(dt, "dropout_train(x, step, p=0.5, seed=0)", "dropout_train(x, step)"),
      nonDefault(dt, "dropout_train(x, step, p=0.25, seed=-3)")};
  r["batchnorm"] = {plain(kBn, "batchnorm(x, g, be, rm, rv)"),
                    explicitDefault(kBn, "batchnorm(x, g, be, rm, rv, momentum=0.1, eps=1e-5)",
                                    "batchnorm(x, g, be, rm, rv)"),
                    nonDefault(kBn, "batchnorm(x, g, be, rm, rv, momentum=0.01, eps=0.001)")};
  r["batchnorm_train"] = epsOp("batchnorm_train", "x, g, be", kBn);
  for (const char *op : {"batchnorm_running_mean", "batchnorm_running_var"}) {
    std::string f = std::string(op) + "(x, rm";
    r[op] = {plain(kBn, f + ")"), explicitDefault(kBn, f + ", momentum=0.1)", f + ")"),
             nonDefault(kBn, f + ", momentum=0.9)")};
  }
  r["conv2d"] = convOp("conv2d", "x, w, bias", kConv);
  r["conv2d"].push_back(plain(kConv, "conv2d(x, w)"));
  r["conv2d"].push_back(nonDefault(kConv, "conv2d(x, w, padding=1)"));
  r["maxpool2d"] = poolOp("maxpool2d", false);
  r["avgpool2d"] = poolOp("avgpool2d", false);
  for (const char *op : {"sse", "mse", "bce"})
    r[op] = {plain(kLoss, std::string(op) + "(p, t)")};
  r["softmax_cross_entropy"] = {plain(kSce, "softmax_cross_entropy(logits, labels)")};

  // Gradient ops.
  for (const char *op : {"sigmoid_grad", "tanh_grad", "relu_grad", "gelu_grad", "abs_grad"})
    r[op] = {plain("input y: f32[B, 3]\ninput dy: f32[B, 3]", std::string(op) + "(y, dy)")};
  r["leaky_relu_grad"] =
      alphaOp("leaky_relu_grad", "x, dy", "input x: f32[B, 3]\ninput dy: f32[B, 3]");
  for (const char *op : {"maximum_grad", "minimum_grad", "pow_base_grad", "pow_exponent_grad"})
    r[op] = {plain("input a: f32[B, 3]\ninput c: f32[B, 3]\ninput dy: f32[B, 3]",
                   std::string(op) + "(a, c, dy)")};
  for (const char *op : {"sum_grad", "mean_grad", "max_grad"})
    r[op] = reduction(op, true);
  r["softmax_grad"] = axisOp("softmax_grad", "y, dy", "input y: f32[2, 3]\ninput dy: f32[2, 3]");
  r["log_softmax_grad"] =
      axisOp("log_softmax_grad", "y, dy", "input y: f32[2, 3]\ninput dy: f32[2, 3]");
  r["layernorm_grad"] = epsOp("layernorm_grad", "x, g, dy",
                              "input x: f32[B, 4]\ninput g: f32[4]\ninput dy: f32[B, 4]");
  r["layernorm_gamma_grad"] =
      epsOp("layernorm_gamma_grad", "x, dy", "input x: f32[B, 4]\ninput dy: f32[B, 4]");
  const std::string bng = std::string(kBn) + "\ninput dy: f32[B, 3, 2, 2]";
  r["batchnorm_grad"] = epsOp("batchnorm_grad", "x, g, dy", bng);
  r["batchnorm_gamma_grad"] = epsOp("batchnorm_gamma_grad", "x, dy", bng);
  r["conv2d_grad_input"] = convOp("conv2d_grad_input", "dy, w, x", kConvGrad);
  r["conv2d_grad_filter"] = convOp("conv2d_grad_filter", "x, dy, w", kConvGrad);
  r["maxpool2d_grad"] = poolOp("maxpool2d_grad", true);
  r["avgpool2d_grad"] = poolOp("avgpool2d_grad", true);
  for (const char *op : {"sse_grad", "mse_grad", "bce_grad"})
    r[op] = {plain(kLossGrad, std::string(op) + "(p, t, dl)")};
  r["softmax_cross_entropy_grad"] = {
      plain(kSceGrad, "softmax_cross_entropy_grad(logits, labels, dl)")};

  // Fused ops (written by the fusion passes).
  const std::string mm = "input a: f32[B, 2]\ninput w: f32[2, 4]\ninput bias: f32[4]";
  r["fused_matmul"] = {
      plain(mm, "fused_matmul(a, w)"),
      plain(mm, "fused_matmul(a, w, bias)"),
      explicitDefault(mm,
                      "fused_matmul(a, w, bias, transpose_a=false, transpose_b=false, "
                      "activation=none, alpha=0.01, precision=f32)",
                      "fused_matmul(a, w, bias)"),
      nonDefault("input p: f32[2, B]\ninput q: f32[4, 2]\ninput bias: f32[4]",
                 "fused_matmul(p, q, bias, transpose_a=true, transpose_b=true, "
                 "activation=leaky_relu, alpha=0.2)"),
      nonDefault(mm, "fused_matmul(a, w, bias, activation=gelu)"),
      nonDefault(mm, "fused_matmul(a, w, bias, activation=relu, precision=bf16)"),
  };
  r["fused_conv2d"] = convOp("fused_conv2d", "x, w, bias", kConv);
  r["fused_conv2d"].push_back(plain(kConv, "fused_conv2d(x, w)"));
  r["fused_conv2d"].push_back(explicitDefault(
      kConv, "fused_conv2d(x, w, bias, activation=none, alpha=0.01)", "fused_conv2d(x, w, bias)"));
  r["fused_conv2d"].push_back(nonDefault(kConv, "fused_conv2d(x, w, bias, activation=relu)"));
  r["fused_conv2d"].push_back(
      nonDefault(kConv, "fused_conv2d(x, w, activation=leaky_relu, alpha=0.2)"));
  const std::string att = "input q: f32[B, 2, 5, 4]\ninput k: f32[B, 2, 7, 4]\n"
                          "input v: f32[B, 2, 7, 3]\ninput m: f32[5, 7]";
  r["fused_attention"] = {
      plain(att, "fused_attention(q, k, v)"),
      explicitDefault(att, "fused_attention(q, k, v, scale=1)", "fused_attention(q, k, v)"),
      nonDefault(att, "fused_attention(q, k, v, m, scale=0.125)"),
  };
  const std::string attGrad = att + "\ninput o: f32[B, 2, 5, 3]\ninput d: f32[B, 2, 5, 3]";
  r["fused_attention_grad"] = {
      plain(attGrad, "fused_attention_grad(q, k, v, o, d)"),
      explicitDefault(attGrad, "fused_attention_grad(q, k, v, o, d, wrt=q, scale=1)",
                      "fused_attention_grad(q, k, v, o, d)"),
      nonDefault(attGrad, "fused_attention_grad(q, k, v, o, d, m, wrt=k, scale=0.125)"),
      nonDefault(attGrad, "fused_attention_grad(q, k, v, o, d, wrt=v)"),
  };
  const std::string gi = "input dy: f32[B, 4]\ninput z: f32[B, 4]\ninput w: f32[2, 4]";
  r["fused_matmul_grad_input"] = {
      plain("input dy: f32[B, 4]\ninput z: f32[B, 4]\ninput w: f32[4, 2]",
            "fused_matmul_grad_input(dy, z, w)"),
      explicitDefault("input dy: f32[B, 4]\ninput z: f32[B, 4]\ninput w: f32[4, 2]",
                      "fused_matmul_grad_input(dy, z, w, transpose_b=false, activation=none, "
                      "alpha=0.01, precision=f32)",
                      "fused_matmul_grad_input(dy, z, w)"),
      nonDefault(gi, "fused_matmul_grad_input(dy, z, w, transpose_b=true, activation=leaky_relu, "
                     "alpha=0.3)"),
      nonDefault(gi, "fused_matmul_grad_input(dy, z, w, transpose_b=true, precision=bf16)"),
  };
  const std::string gw = "input x: f32[B, 2]\ninput dy: f32[B, 4]\ninput z: f32[B, 4]";
  r["fused_matmul_grad_weight"] = {
      plain("input x: f32[2, 3]\ninput dy: f32[3, 4]\ninput z: f32[3, 4]",
            "fused_matmul_grad_weight(x, dy, z)"),
      explicitDefault("input x: f32[2, 3]\ninput dy: f32[3, 4]\ninput z: f32[3, 4]",
                      "fused_matmul_grad_weight(x, dy, z, transpose_a=false, activation=none, "
                      "alpha=0.01, precision=f32)",
                      "fused_matmul_grad_weight(x, dy, z)"),
      nonDefault(gw, "fused_matmul_grad_weight(x, dy, z, transpose_a=true, activation=leaky_relu, "
                     "alpha=0.3)"),
      nonDefault("input x: f32[B, 5, 2]\ninput dy: f32[B, 5, 4]",
                 "fused_matmul_grad_weight(x, dy, transpose_a=true)"),
      nonDefault(gw, "fused_matmul_grad_weight(x, dy, z, transpose_a=true, precision=bf16)"),
  };
  const std::string gb = "input dy: f32[B, 4]\ninput z: f32[B, 4]";
  r["fused_matmul_grad_bias"] = {
      plain(gb, "fused_matmul_grad_bias(dy, z)"),
      explicitDefault(gb, "fused_matmul_grad_bias(dy, z, activation=none, alpha=0.01)",
                      "fused_matmul_grad_bias(dy, z)"),
      nonDefault(gb, "fused_matmul_grad_bias(dy, z, activation=leaky_relu, alpha=0.3)"),
      nonDefault(gb, "fused_matmul_grad_bias(dy, z, activation=sigmoid)"),
  };
  const std::string aln = "input x: f32[B, 4]\ninput r: f32[B, 4]\ninput g: f32[4]\n"
                          "input be: f32[4]\ninput dy: f32[B, 4]";
  r["fused_add_layernorm"] = epsOp("fused_add_layernorm", "x, r, g, be", aln);
  r["fused_add_layernorm_grad"] = epsOp("fused_add_layernorm_grad", "x, r, g, dy", aln);
  r["fused_add_layernorm_gamma_grad"] = epsOp("fused_add_layernorm_gamma_grad", "x, r, dy", aln);
  // A program's instructions print with every attribute (leaky_relu's alpha).
  r["fused_elementwise"] = {
      plain(kTwo, "fused_elementwise(a, c, program=[[add, 0, 1], [relu, 2]])"),
      plain(kTwo, "fused_elementwise(a, c, 0.5, program=[[mul, 0, 2], [maximum_grad, 3, 1, 0]])"),
      sugar(kTwo, "fused_elementwise(a, c, program=[[sub, 0, 1], [leaky_relu, 2]])",
            "fused_elementwise(a, c, program=[[sub, 0, 1], [leaky_relu, 2, 0.01]])"),
      // An absent optional attribute holds its place as `none`.
      sugar(kTwo, "fused_elementwise(a, c, program=[[sub, 0, 1], [clip, 2, none, 6]])",
            "fused_elementwise(a, c, program=[[sub, 0, 1], [clip, 2, none, 6]])"),
      sugar(kTwo, "fused_elementwise(a, c, program=[[add, 0, 1], [clip, 2]])",
            "fused_elementwise(a, c, program=[[add, 0, 1], [clip, 2, none, none]])"),
      nonDefault(kTwo, "fused_elementwise(a, c, program=[[sub, 0, 1], [leaky_relu, 2, 0.2]])"),
  };
  return r;
}

// ---- checking ----------------------------------------------------------------

std::string modelText(const Variant &v) {
  std::string text = "model roundtrip {\n  dim B\n";
  size_t at = 0;
  while (at < v.decls.size()) {
    size_t end = v.decls.find('\n', at);
    if (end == std::string::npos)
      end = v.decls.size();
    text += "  " + v.decls.substr(at, end - at) + "\n";
    at = end + 1;
  }
  return text + "  out = " + v.call + "\n  output out\n}\n";
}

/// The right side of the printed `out: TYPE = ...` line, or "" if absent.
std::string printedCall(const std::string &printed) {
  size_t line = printed.find("\n  out: ");
  if (line == std::string::npos)
    return "";
  size_t end = printed.find('\n', line + 1);
  std::string text = printed.substr(line + 1, end - line - 1);
  size_t eq = text.find(" = ");
  return eq == std::string::npos ? "" : text.substr(eq + 3);
}

bool mentions(const std::string &call, const std::string &attr) {
  return call.find(", " + attr + "=") != std::string::npos;
}

/// Parses, prints, reparses and prints again; checks the fixed point and
/// the printed call. Returns the printed call.
std::string roundTrip(const std::string &op, const Variant &v) {
  std::string text = modelText(v);
  SCOPED_TRACE(op + ": " + v.call + "\n" + text);
  Result<Graph> g = parseModel(text, "roundtrip.ir");
  EXPECT_TRUE(g.ok()) << g.errorText();
  if (!g.ok())
    return "";
  std::string first = printGraph(*g);
  Result<Graph> again = parseModel(first, "printed.ir");
  EXPECT_TRUE(again.ok()) << "the printed form does not parse:\n" << again.errorText() << first;
  if (!again.ok())
    return "";
  std::string second = printGraph(*again);
  EXPECT_EQ(second, first) << "printing is not a fixed point";
  std::string call = printedCall(first);
  EXPECT_EQ(call, v.printed) << first;
  return call;
}

TEST(OpRoundTrip, EveryOpHasARecipe) {
  std::map<std::string, Recipe> all = recipes();
  std::set<std::string> tableNames;
  for (const OpInfo &info : allOps()) {
    tableNames.insert(info.name);
    EXPECT_TRUE(all.count(info.name))
        << "op '" << info.name << "' has no round-trip recipe in OpRoundTripTest.cpp";
  }
  for (const auto &[name, recipe] : all)
    EXPECT_TRUE(tableNames.count(name)) << "recipe for '" << name << "', which is not an op";
  EXPECT_EQ(tableNames.size(), static_cast<size_t>(kNumOps));
}

TEST(OpRoundTrip, EveryOpPrintsAsAFixedPoint) {
  std::map<std::string, Recipe> all = recipes();
  for (const OpInfo &info : allOps()) {
    auto found = all.find(info.name);
    if (found == all.end()) {
      ADD_FAILURE() << "op '" << info.name << "' has no round-trip recipe";
      continue;
    }
    const std::string op = info.name;
    SCOPED_TRACE("op " + op);
    const Recipe &recipe = found->second;
    bool hasDefaults = false;
    for (const Variant &v : recipe) {
      // Every variant applies this op.
      EXPECT_EQ(v.printed.rfind(op + "(", 0), 0u) << v.printed;
      std::string call = roundTrip(op, v);
      hasDefaults |= v.kind == Kind::Defaults;
      if (v.kind == Kind::NonDefault)
        continue;
      for (const AttrSpec &spec : info.attrs) {
        if (!spec.required) {
          EXPECT_FALSE(mentions(call, spec.name))
              << "a default '" << spec.name << "' is printed: " << call;
        }
      }
    }
    EXPECT_TRUE(hasDefaults) << "no variant with default attributes";
    for (const AttrSpec &spec : info.attrs) {
      SCOPED_TRACE(std::string("attribute ") + spec.name);
      bool keptNonDefault = false, writtenDefault = false;
      for (const Variant &v : recipe) {
        if (v.kind == Kind::NonDefault && mentions(v.printed, spec.name))
          keptNonDefault = true;
        if (v.kind == Kind::Explicit && mentions(v.call, spec.name))
          writtenDefault = true;
      }
      EXPECT_TRUE(keptNonDefault) << "no variant prints a non-default value";
      if (!spec.required && !spec.defaultValue.isNone()) {
        EXPECT_TRUE(writtenDefault) << "no variant writes the default explicitly";
      }
    }
  }
}

// Several ops and nested expressions in one model: temporaries are named
// t0, t1, ... in depth-first order, and the whole text is a fixed point.
TEST(OpRoundTrip, NestedExpressionsPrintInCanonicalOrder) {
  std::string text = "model nested {\n"
                     "  dim B\n"
                     "  input x: f32[B, 3]\n"
                     "  param w: f32[3, 2] = [[1, 2], [3, 4], [5, 6]]\n"
                     "  h = leaky_relu(matmul(x, w) * -2 + 1, alpha=0.2)\n"
                     "  s = sum(softmax(h, axis=0), axes=[1], keepdims=true)\n"
                     "  output s\n"
                     "}\n";
  Result<Graph> g = parseModel(text, "nested.ir");
  ASSERT_TRUE(g.ok()) << g.errorText();
  std::string printed = printGraph(*g);
  EXPECT_EQ(printed, "model nested {\n"
                     "  dim B\n"
                     "  input x: f32[B, 3]\n"
                     "  param w: f32[3, 2] = [[1, 2], [3, 4], [5, 6]]\n"
                     "  t0: f32[B, 2] = matmul(x, w)\n"
                     "  t1: f32[B, 2] = mul(t0, -2)\n"
                     "  t2: f32[B, 2] = add(t1, 1)\n"
                     "  h: f32[B, 2] = leaky_relu(t2, alpha=0.2)\n"
                     "  t3: f32[B, 2] = softmax(h, axis=0)\n"
                     "  s: f32[B, 1] = sum(t3, axes=[1], keepdims=true)\n"
                     "  output s\n"
                     "}\n");
  Result<Graph> again = parseModel(printed, "printed.ir");
  ASSERT_TRUE(again.ok()) << again.errorText();
  EXPECT_EQ(printGraph(*again), printed);
}

} // namespace
} // namespace nnc
