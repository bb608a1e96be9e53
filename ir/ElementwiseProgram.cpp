/// Decoding, checking and encoding of fused_elementwise programs.
#include "ir/ElementwiseProgram.h"

#include <cmath>
#include <fmt/format.h>

namespace nnc {

bool isProgramOp(OpKind op) {
  return opInfo(op).family == OpFamily::Elementwise && op != OpKind::FusedElementwise;
}

namespace {

/// Decodes one `[op, operands..., attributes...]`; `available` operands
/// precede it (inputs and earlier instructions).
std::optional<ElementwiseInstruction> decodeInstruction(const AttrValue &item, size_t available,
                                                        std::string &why) {
  if (item.kind != AttrValue::Kind::List || item.list.empty() ||
      item.list[0].kind != AttrValue::Kind::Ident) {
    why = "an instruction must be a list [op, operands..., attributes...]";
    return std::nullopt;
  }
  const OpInfo *info = findOp(item.list[0].ident);
  if (!info || !isProgramOp(info->kind)) {
    why = fmt::format("'{}' is not an element-wise op", item.list[0].ident);
    return std::nullopt;
  }
  ElementwiseInstruction inst{info->kind, {}, {}};
  size_t arity = static_cast<size_t>(info->minInputs);
  size_t given = item.list.size() - 1;
  if (given < arity || given > arity + info->attrs.size()) {
    why = fmt::format("{} takes {} operand(s) and {} attribute(s), got {} value(s)", info->name,
                      arity, info->attrs.size(), given);
    return std::nullopt;
  }
  for (size_t k = 0; k < arity; ++k) {
    const AttrValue &v = item.list[1 + k];
    if (!v.isInteger() || v.asInt() < 0 || static_cast<size_t>(v.asInt()) >= available) {
      why = fmt::format("{}: operand {} must be an integer in [0, {})", info->name, k, available);
      return std::nullopt;
    }
    inst.operands.push_back(static_cast<int>(v.asInt()));
  }
  for (size_t k = 0; k < info->attrs.size(); ++k) {
    size_t at = 1 + arity + k;
    if (at >= item.list.size()) {
      inst.attrs.push_back(info->attrs[k].defaultValue);
      continue;
    }
    const AttrValue &v = item.list[at];
    if (v.kind == AttrValue::Kind::Ident && v.ident == kAbsentAttr &&
        info->attrs[k].defaultValue.isNone()) {
      inst.attrs.push_back(AttrValue::none());
      continue;
    }
    if (v.kind != AttrValue::Kind::Number || !std::isfinite(static_cast<float>(v.number))) {
      why = fmt::format("{}: attribute '{}' must be a finite number", info->name,
                        info->attrs[k].name);
      return std::nullopt;
    }
    inst.attrs.push_back(v);
  }
  return inst;
}

} // namespace

std::optional<ElementwiseProgram> decodeProgram(const AttrValue &attr, size_t inputs,
                                                std::string &why) {
  if (attr.kind != AttrValue::Kind::List || attr.list.empty()) {
    why = "'program' must be a non-empty list of instructions";
    return std::nullopt;
  }
  ElementwiseProgram program;
  std::vector<bool> used(inputs + attr.list.size(), false);
  for (const AttrValue &item : attr.list) {
    std::optional<ElementwiseInstruction> inst =
        decodeInstruction(item, inputs + program.size(), why);
    if (!inst) {
      why = fmt::format("instruction {}: {}", program.size(), why);
      return std::nullopt;
    }
    for (int k : inst->operands)
      used[static_cast<size_t>(k)] = true;
    program.push_back(std::move(*inst));
  }
  // Everything but the result must be read: then every shape broadcasts
  // into the result's, and no work is wasted.
  for (size_t k = 0; k + 1 < used.size(); ++k)
    if (!used[k]) {
      why = k < inputs ? fmt::format("input {} is never read", k)
                       : fmt::format("the result of instruction {} is never read", k - inputs);
      return std::nullopt;
    }
  return program;
}

AttrValue encodeProgram(const ElementwiseProgram &program) {
  std::vector<AttrValue> items;
  for (const ElementwiseInstruction &inst : program) {
    std::vector<AttrValue> item = {AttrValue::name(opInfo(inst.op).name)};
    for (int k : inst.operands)
      item.push_back(AttrValue::num(k));
    for (const AttrValue &a : inst.attrs)
      item.push_back(a.isNone() ? AttrValue::name(kAbsentAttr) : a);
    items.push_back(AttrValue::values(std::move(item)));
  }
  return AttrValue::values(std::move(items));
}

} // namespace nnc
