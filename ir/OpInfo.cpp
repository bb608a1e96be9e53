/// Expands the op table into OpInfo entries; also the tables of
/// initializers and optimizers.
#include "ir/OpInfo.h"
#include "ir/InternalError.h"
#include "ir/NodeAttrs.h"

namespace nnc {

namespace {

AttrSpec spec(const char *name, AttrType type, AttrValue def, bool required = false,
              bool positional = false) {
  return AttrSpec{name, type, std::move(def), required, positional};
}

#define NNC_F(n, d) spec(#n, AttrType::Float, AttrValue::num(d))
#define NNC_F_OPT(n) spec(#n, AttrType::Float, AttrValue::none())
#define NNC_I(n, d) spec(#n, AttrType::Int, AttrValue::num(d))
#define NNC_I_REQ(n) spec(#n, AttrType::Int, AttrValue::none(), true)
#define NNC_I_OPT(n) spec(#n, AttrType::Int, AttrValue::none())
#define NNC_B(n, d) spec(#n, AttrType::Bool, AttrValue::flag(d))
#define NNC_AXES(n) spec(#n, AttrType::Axes, AttrValue::none())
#define NNC_PAIR(n, d) spec(#n, AttrType::IntPair, AttrValue::ints({d, d}))
#define NNC_PAIR_OPT(n) spec(#n, AttrType::IntPair, AttrValue::none())
#define NNC_INTS_OPT(n) spec(#n, AttrType::Ints, AttrValue::none())
#define NNC_SHAPE(n) spec(#n, AttrType::Shape, AttrValue::none(), true)
#define NNC_NAME(n, d) spec(#n, AttrType::Name, AttrValue::name(d))
#define NNC_PROGRAM(n) spec(#n, AttrType::Program, AttrValue::none(), true)

std::vector<OpInfo> buildOpTable() {
  return {
#define NNC_OP(id, name, family, minIn, maxIn, traits, ...)                                        \
  OpInfo{OpKind::id,   #name, OpFamily::family, minIn, maxIn, static_cast<uint32_t>(traits),       \
         {__VA_ARGS__}},
#include "nnc/Ops.def"
#undef NNC_OP
  };
}

// Initializer arguments: the leading numbers are positional.
AttrSpec pos(const char *name) {
  return spec(name, AttrType::Float, AttrValue::none(), true, true);
}
AttrSpec seed() { return spec("seed", AttrType::Int, AttrValue::num(0)); }

std::vector<CallableInfo> buildInitializers() {
  return {
      {"zeros", {}},
      {"ones", {}},
      {"fill", {pos("value")}},
      {"arange", {}}, // 0, 1, 2, ... in C order
      {"uniform", {pos("lo"), pos("hi"), seed()}},
      {"normal", {pos("mean"), pos("std"), seed()}},
      {"glorot_uniform", {seed()}},
      {"he_normal", {seed()}},
      // Values from a safetensors file (a checkpoint, pretrained weights):
      // FILE relative to the model's folder; key defaults to the param's name.
      {"safetensors",
       {AttrSpec{"file", AttrType::Text, AttrValue::none(), true, true},
        AttrSpec{"key", AttrType::Text, AttrValue::none(), false, false}}},
  };
}

std::vector<CallableInfo> buildOptimizers() {
  AttrSpec lr = spec("lr", AttrType::Float, AttrValue::none(), true);
  return {
      {"sgd", {lr, NNC_F(momentum, 0), NNC_F(weight_decay, 0)}},
      {"adam", {lr, NNC_F(beta1, 0.9), NNC_F(beta2, 0.999), NNC_F(eps, 1e-8)}},
  };
}

template <typename T> int indexOf(const T &attrs, std::string_view name) {
  for (size_t i = 0; i < attrs.size(); ++i)
    if (name == attrs[i].name)
      return static_cast<int>(i);
  return -1;
}

template <typename T> const T *findByName(const std::vector<T> &v, std::string_view name) {
  for (const T &entry : v)
    if (name == entry.name)
      return &entry;
  return nullptr;
}

} // namespace

int OpInfo::attrIndex(std::string_view attrName) const { return indexOf(attrs, attrName); }

int CallableInfo::attrIndex(std::string_view attrName) const { return indexOf(attrs, attrName); }

const std::vector<OpInfo> &allOps() {
  static const std::vector<OpInfo> table = buildOpTable();
  return table;
}

const OpInfo &opInfo(OpKind kind) {
  const OpInfo &info = allOps()[static_cast<size_t>(kind)];
  NNC_CHECK(info.kind == kind, "");
  return info;
}

const AttrValue &attrNamed(OpKind op, const Attrs &attrs, const char *name) {
  const OpInfo &info = opInfo(op);
  int i = info.attrIndex(name);
  NNC_CHECK(i >= 0 && static_cast<size_t>(i) < attrs.size(), "op '{}' has no attribute '{}'",
            info.name, name);
  return attrs[static_cast<size_t>(i)];
}

Attrs defaultAttrs(OpKind op) {
  Attrs attrs;
  for (const AttrSpec &s : opInfo(op).attrs)
    attrs.push_back(s.defaultValue);
  return attrs;
}

Attrs attrsWith(OpKind op, std::initializer_list<std::pair<const char *, AttrValue>> named) {
  const OpInfo &info = opInfo(op);
  Attrs attrs = defaultAttrs(op);
  for (const auto &[name, value] : named) {
    int i = info.attrIndex(name);
    NNC_CHECK(i >= 0, "op '{}' has no attribute '{}'", info.name, name);
    attrs[static_cast<size_t>(i)] = value;
  }
  return attrs;
}

const OpInfo *findOp(std::string_view name) { return findByName(allOps(), name); }

const std::vector<CallableInfo> &allInitializers() {
  static const std::vector<CallableInfo> table = buildInitializers();
  return table;
}

const std::vector<CallableInfo> &allOptimizers() {
  static const std::vector<CallableInfo> table = buildOptimizers();
  return table;
}

const CallableInfo *findInitializer(std::string_view name) {
  return findByName(allInitializers(), name);
}

const CallableInfo *findOptimizer(std::string_view name) {
  return findByName(allOptimizers(), name);
}

} // namespace nnc
