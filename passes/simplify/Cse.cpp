/// Common-subexpression elimination.
///
/// 1. Numbers: immediates of one dtype and one bit pattern (as the dtype
///    stores them; 0 and -0 differ) become one operand.
/// 2. Walk the nodes in order (operands first). A node's key is its op, its
///    operands (after the replacements so far; sorted for commutative ops)
///    and its attributes.
/// 3. The first node with a key stays; a later one with the same key is
///    replaced by it (its uses, outputs and updates point to the first), if
///    the names users see allow it (GraphRewriter::canReplace).
///
/// Ops have no side effects and no randomness, so equal keys mean equal
/// values, bit for bit.
#include "passes/simplify/Simplify.h"

#include "ir/GraphRewrite.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <map>
#include <unordered_map>

namespace nnc {

namespace {

void appendAttr(std::string &key, const AttrValue &a) {
  switch (a.kind) {
  case AttrValue::Kind::None:
    key += '_';
    break;
  case AttrValue::Kind::Number:
    key += 'n' + std::to_string(std::bit_cast<uint64_t>(a.number));
    break;
  case AttrValue::Kind::Bool:
    key += a.boolean ? 'T' : 'F';
    break;
  case AttrValue::Kind::Ident:
    key += 'i' + std::to_string(a.ident.size()) + ':' + a.ident;
    break;
  case AttrValue::Kind::Text:
    key += 's' + std::to_string(a.ident.size()) + ':' + a.ident;
    break;
  case AttrValue::Kind::List:
    key += '[';
    for (const AttrValue &v : a.list)
      appendAttr(key, v);
    key += ']';
    break;
  }
  key += ',';
}

/// The bits an immediate holds once stored in its dtype.
uint64_t immediateBits(const Value &v) {
  if (v.type.dtype == DType::I32)
    return static_cast<uint32_t>(static_cast<int32_t>(v.immediate()));
  return std::bit_cast<uint32_t>(static_cast<float>(v.immediate()));
}

class CsePass : public Pass {
public:
  const char *name() const override { return "cse"; }

  Result<bool> run(Graph &g, PassContext &) override {
    GraphRewriter rw(g);
    // 1. One immediate per (dtype, bits).
    std::map<std::pair<DType, uint64_t>, ValueId> numbers;
    for (size_t i = 0; i < g.values.size(); ++i) {
      const Value &v = g.values[i];
      if (v.kind != ValueKind::Immediate)
        continue;
      auto [it, fresh] =
          numbers.emplace(std::pair{v.type.dtype, immediateBits(v)}, static_cast<ValueId>(i));
      if (!fresh)
        rw.replaceImmediate(static_cast<ValueId>(i), it->second);
    }
    // 2-3. One node per key.
    std::unordered_map<std::string, ValueId> seen;
    for (size_t i = 0; i < g.nodes.size(); ++i) {
      rw.remapOperands(static_cast<NodeId>(i));
      const Node &n = g.nodes[i];
      std::vector<ValueId> operands = n.operands;
      if (n.info().has(kCommutative))
        std::sort(operands.begin(), operands.end());
      std::string key = std::to_string(static_cast<int>(n.op)) + '(';
      for (ValueId v : operands)
        key += std::to_string(v) + ',';
      key += ')';
      for (const AttrValue &a : n.attrs)
        appendAttr(key, a);
      auto [it, fresh] = seen.emplace(std::move(key), n.result);
      if (!fresh)
        rw.replace(n.result, it->second);
    }
    return rw.finish();
  }
};

} // namespace

std::unique_ptr<Pass> createCsePass() { return std::make_unique<CsePass>(); }

} // namespace nnc
