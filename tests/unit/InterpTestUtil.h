/// Small helpers for the interpreter tests: build a graph op by op, run it,
/// and compare tensors with hand-computed numbers.
#pragma once

#include "ir/GraphBuilder.h"
#include "runtime/Interpreter.h"

#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

namespace nnc::test {

/// Static dims for a test shape.
inline Shape staticShape(const std::vector<int64_t> &extents) {
  Shape s;
  for (int64_t d : extents)
    s.push_back(Dim::fixed(d));
  return s;
}

/// A graph under construction, with short forms of the builder calls.
class ModelBuilder {
public:
  ModelBuilder() : b_("m", {}) {}

  GraphBuilder &builder() { return b_; }
  int32_t dim(const std::string &name) { return b_.addDim(name, {}); }
  ValueId input(const std::string &name, DType dtype, Shape shape, SourceLoc loc = {}) {
    return b_.addInput(name, Type{dtype, std::move(shape)}, loc);
  }
  ValueId input(const std::string &name, Shape shape) {
    return input(name, DType::F32, std::move(shape));
  }
  ValueId constant(const std::string &name, Shape shape, std::vector<double> data) {
    return b_.addConst(name, Type{DType::F32, std::move(shape)}, std::move(data), {});
  }
  ValueId state(const std::string &name, Shape shape, std::vector<double> data) {
    return b_.addState(name, Type{DType::F32, std::move(shape)}, Initializer{"literal", {}, {}},
                       std::move(data), {});
  }
  ValueId immediate(double v, DType dtype = DType::F32) { return b_.addImmediate(v, dtype, {}); }
  /// Applies `op` with the given attributes (defaults for the rest).
  ValueId op(OpKind op, std::vector<ValueId> operands, std::vector<GivenAttr> attrs = {},
             SourceLoc loc = {}) {
    const OpInfo &info = opInfo(op);
    Attrs resolved = resolveAttrs(info.attrs, attrs, info.name, loc, b_.diags());
    ValueId v = b_.addOp(op, std::move(operands), std::move(resolved), loc);
    EXPECT_NE(v, kNoValue) << b_.diags().render();
    return v;
  }
  void output(ValueId v) { b_.addOutput(v, {}); }
  /// The finished graph; fails the test when building reported errors.
  Graph finish() {
    Result<Graph> g = b_.finish();
    EXPECT_TRUE(g.ok()) << g.errorText();
    return g.ok() ? std::move(g).value() : Graph{};
  }

private:
  GraphBuilder b_;
};

inline GivenAttr attr(const std::string &key, AttrValue v) { return {key, std::move(v), {}}; }
inline GivenAttr attr(const std::string &key, double v) { return attr(key, AttrValue::num(v)); }
inline GivenAttr flag(const std::string &key, bool v) { return attr(key, AttrValue::flag(v)); }
inline GivenAttr ints(const std::string &key, std::vector<int64_t> v) {
  return attr(key, AttrValue::ints(v));
}

inline Tensor f32(std::vector<int64_t> shape, std::vector<float> values) {
  return Tensor::f32(std::move(shape), values);
}
inline Tensor i32(std::vector<int64_t> shape, std::vector<int32_t> values) {
  return Tensor::i32(std::move(shape), values);
}

/// Checks shape and every element of `t` against `want` to within `tol`
/// (NaN matches NaN).
inline void expectTensor(const Tensor &t, const std::vector<int64_t> &shape,
                         const std::vector<double> &want, double tol = 1e-6) {
  ASSERT_EQ(t.shape(), shape);
  ASSERT_EQ(t.numel(), static_cast<int64_t>(want.size()));
  for (size_t i = 0; i < want.size(); ++i) {
    double got = t.at(static_cast<int64_t>(i));
    if (std::isnan(want[i]))
      EXPECT_TRUE(std::isnan(got)) << "element " << i << " is " << got;
    else if (std::isinf(want[i]))
      EXPECT_EQ(got, want[i]) << "element " << i;
    else
      EXPECT_NEAR(got, want[i], tol * std::max(1.0, std::fabs(want[i]))) << "element " << i;
  }
}

/// Builds `op(x)` for one f32 input of `shape`, runs it on `values`, and
/// returns the result.
inline Tensor runUnary(OpKind kind, std::vector<int64_t> shape, std::vector<float> values,
                       std::vector<GivenAttr> attrs = {}) {
  ModelBuilder m;
  ValueId x = m.input("x", staticShape(shape));
  ValueId y = m.op(kind, {x}, std::move(attrs));
  if (y == kNoValue)
    return Tensor();
  m.output(y);
  Graph g = m.finish();
  Interpreter it(g);
  Status st = it.run({f32(shape, values)});
  EXPECT_TRUE(st.ok()) << st.errorText();
  return it.value(y);
}

/// Builds `op(a, b)` over two inputs, runs it, and returns the result.
inline Tensor runBinary(OpKind kind, const Tensor &a, const Tensor &b,
                        std::vector<GivenAttr> attrs = {}) {
  ModelBuilder m;
  ValueId x = m.input("a", a.dtype(), staticShape(a.shape()));
  ValueId y = m.input("b", b.dtype(), staticShape(b.shape()));
  ValueId z = m.op(kind, {x, y}, std::move(attrs));
  if (z == kNoValue)
    return Tensor();
  m.output(z);
  Graph g = m.finish();
  Interpreter it(g);
  Status st = it.run({a, b});
  EXPECT_TRUE(st.ok()) << st.errorText();
  return it.value(z);
}

} // namespace nnc::test
