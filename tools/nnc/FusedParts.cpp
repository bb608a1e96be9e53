/// The constituents of each fused op, as nnc/Ops.def describes them.
#include "tools/nnc/FusedParts.h"
#include "ir/NodeAttrs.h"

#include "ir/Activation.h"
#include "ir/ElementwiseProgram.h"
#include "ir/Printer.h"

#include <algorithm>
#include <string_view>

namespace nnc::cli {

namespace {

using Parts = std::vector<FusedPart>;

const AttrValue *attr(const Node &n, std::string_view name) {
  int i = n.info().attrIndex(name);
  return i < 0 || static_cast<size_t>(i) >= n.attrs.size() ? nullptr
                                                           : &n.attrs[static_cast<size_t>(i)];
}

bool flag(const Node &n, std::string_view name) {
  const AttrValue *a = attr(n, name);
  return a && a->kind == AttrValue::Kind::Bool && a->boolean;
}

/// `name (extra)`, or `name` when there is nothing extra.
std::string withNote(std::string name, const std::string &extra) {
  return extra.empty() ? name : name + " (" + extra + ")";
}

/// Appends a part that reads `inputs` and the part before it, if any: the
/// fixed fused ops are straight chains.
void chain(Parts &parts, std::string label, std::vector<int> inputs) {
  FusedPart p{std::move(label), std::move(inputs), {}};
  if (!parts.empty())
    p.parts.push_back(static_cast<int>(parts.size()) - 1);
  parts.push_back(std::move(p));
}

std::string matmulLabel(const Node &n) {
  std::string flags;
  for (const char *f : {"transpose_a", "transpose_b"})
    if (flag(n, f))
      flags += (flags.empty() ? "" : ", ") + std::string(f);
  return withNote("matmul", flags);
}

Activation activationOf(const Node &n) {
  const AttrValue *a = attr(n, "activation");
  return activationNamed(a && a->kind == AttrValue::Kind::Ident ? a->ident : "none");
}

/// The slope, for the one activation that has a parameter.
std::string alphaNote(const Node &n, OpKind op) {
  const AttrValue *a = attr(n, "alpha");
  bool leaky = op == OpKind::LeakyRelu || op == OpKind::LeakyReluGrad;
  return leaky && a ? "alpha=" + formatNumber(a->number) : "";
}

Parts fusedMatMul(const Node &n) {
  Parts parts;
  chain(parts, matmulLabel(n), {0, 1});
  if (n.operands.size() > 2)
    chain(parts, "add (bias)", {2});
  if (Activation act = activationOf(n); !act.none)
    chain(parts, withNote(opInfo(act.forward).name, alphaNote(n, act.forward)), {});
  return parts;
}

/// conv2d (x, w[, bias]), then the activation.
Parts fusedConv2d(const Node &n) {
  Parts parts;
  chain(parts, "conv2d", n.operands.size() > 2 ? std::vector{0, 1, 2} : std::vector{0, 1});
  if (Activation act = activationOf(n); !act.none)
    chain(parts, withNote(opInfo(act.forward).name, alphaNote(n, act.forward)), {});
  return parts;
}

/// The backward ops start with the activation's gradient of (z, dy), unless
/// the activation is `none`: then the GEMM or the sum reads dy itself.
/// Returns whether a gradient part was added.
bool activationGrad(Parts &parts, const Node &n, int z, int dy) {
  Activation act = activationOf(n);
  if (act.none)
    return false;
  chain(parts, withNote(opInfo(act.grad).name, alphaNote(n, act.grad)), {z, dy});
  return true;
}

Parts fusedMatMulGrad(const Node &n) {
  Parts parts;
  switch (n.op) {
  case OpKind::FusedMatMulGradInput: { // (dy, z, w): matmul(g, w)
    bool grad = activationGrad(parts, n, 1, 0);
    chain(parts, matmulLabel(n), grad ? std::vector{2} : std::vector{0, 2});
    break;
  }
  case OpKind::FusedMatMulGradWeight: { // (x, dy, z): matmul(x, g)
    bool grad = activationGrad(parts, n, 2, 1);
    chain(parts, matmulLabel(n), grad ? std::vector{0} : std::vector{0, 1});
    break;
  }
  default: { // fused_matmul_grad_bias (dy, z): sum(g, axes=[0])
    bool grad = activationGrad(parts, n, 1, 0);
    chain(parts, "sum (axes=[0])", grad ? std::vector<int>{} : std::vector{0});
    break;
  }
  }
  return parts;
}

/// x + r, then the layernorm op (or its gradient) on it with the remaining
/// inputs: (gamma, beta), (gamma, dy) or (dy).
Parts fusedAddLayerNorm(const Node &n, const char *norm) {
  Parts parts;
  chain(parts, "add", {0, 1});
  std::vector<int> rest;
  for (int i = 2; i < static_cast<int>(n.operands.size()); ++i)
    rest.push_back(i);
  chain(parts, norm, rest);
  return parts;
}

} // namespace

Parts programParts(const Graph &g, const Node &n, const AttrValue &program) {
  std::string why;
  std::optional<ElementwiseProgram> decoded = decodeProgram(program, n.operands.size(), why);
  if (!decoded)
    return {};
  auto inputs = static_cast<int>(n.operands.size());
  Parts parts;
  for (const ElementwiseInstruction &inst : *decoded) {
    FusedPart part{opInfo(inst.op).name, {}, {}};
    std::string notes;
    for (int k : inst.operands) {
      if (k >= inputs) {
        part.parts.push_back(k - inputs);
        continue;
      }
      part.inputs.push_back(k);
      const Value &v = g.value(n.operands[static_cast<size_t>(k)]);
      if (v.kind == ValueKind::Immediate)
        notes += (notes.empty() ? "" : ", ") + formatNumber(v.immediate());
    }
    for (size_t a = 0; a < inst.attrs.size(); ++a)
      notes +=
          (notes.empty() ? "" : ", ") + std::string(opInfo(inst.op).attrs[a].name) + "=" +
          (inst.attrs[a].isNone() ? std::string(kAbsentAttr) : formatNumber(inst.attrs[a].number));
    part.label = withNote(part.label, notes);
    parts.push_back(std::move(part));
  }
  return parts;
}

Parts fusedParts(const Graph &g, const Node &n) {
  Parts parts;
  switch (n.op) {
  case OpKind::FusedMatMul:
    parts = fusedMatMul(n);
    break;
  case OpKind::FusedConv2d:
    parts = fusedConv2d(n);
    break;
  case OpKind::FusedMatMulGradInput:
  case OpKind::FusedMatMulGradWeight:
  case OpKind::FusedMatMulGradBias:
    parts = fusedMatMulGrad(n);
    break;
  case OpKind::FusedAddLayerNorm:
    parts = fusedAddLayerNorm(n, "layernorm");
    break;
  case OpKind::FusedAddLayerNormGrad:
    parts = fusedAddLayerNorm(n, "layernorm_grad");
    break;
  case OpKind::FusedAddLayerNormGammaGrad:
    parts = fusedAddLayerNorm(n, "layernorm_gamma_grad");
    break;
  case OpKind::FusedElementwise:
    parts = programParts(g, n, attr::program(n));
    break;
  default:
    break;
  }
  if (parts.empty()) {
    std::vector<int> all;
    for (int i = 0; i < static_cast<int>(n.operands.size()); ++i)
      all.push_back(i);
    parts.push_back({n.info().name, all, {}});
  }
  return parts;
}

} // namespace nnc::cli
