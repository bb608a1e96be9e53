/// The C++ DSL: build a model with ordinary C++ expressions; it gives the
/// same graph, printed byte for byte the same, as its twin `.ir` file.
///
/// \code
///   using namespace nnc::dsl;
///   Model m("xor");
///   auto B = m.dim("B");
///   auto x = m.input("x", f32(B, 2));
///   auto w1 = m.param("w1", f32(2, 2), uniform(-1, 1, /*seed=*/1));
///   auto b1 = m.param("b1", f32(2), zeros());
///   auto h = m.name("h", sigmoid(matmul(x, w1) + b1));   // h = sigmoid(...)
///   ...
///   m.output(yhat);
///   m.minimize(loss, sgd({.lr = 0.5}));
///   nnc::Result<nnc::ModelGraph> g = m.build();
/// \endcode
///
/// How it works. Declarations (`dim`, `input`, `param`, `state`, `constant`)
/// add to the graph at once and return handles. Ops and the operators
/// `+ - * /` and unary `-` do not: they build a small expression tree
/// (`Expr`). The statements `name`, `output`, `update` and `minimize` lower
/// it the way the parser lowers a nested expression: depth-first, operands
/// left to right, number operands last, each with the dtype of the others.
/// So the node order does not depend on the order in which C++ evaluates
/// function arguments, and unnamed results print as `tK` temporaries exactly
/// as in a `.ir` file. An `Expr` is lowered at most once per model: using one
/// C++ variable twice uses one node twice. An `Expr` that no statement
/// reaches adds nothing.
///
/// Errors are values, as for the parser: a mistake (shape mismatch, bad
/// attribute, redefined name) is recorded as a diagnostic located at the
/// user's C++ call (std::source_location) and returned by `build()`. An op
/// function is located at its call (with GCC, the opening parenthesis); an
/// operator at its right operand, since C++ gives operators no location of
/// their own.
///
/// Names: functions for ops, initializers and optimizer options are spelled
/// as in the model language (`log_softmax`, `glorot_uniform`,
/// `weight_decay`), so DSL code reads like its `.ir` twin.
#pragma once

#include "nnc/ModelGraph.h"
#include "nnc/Result.h"
#include "nnc/Types.h"

#include <concepts>
#include <cstdint>
#include <initializer_list>
#include <limits>
#include <memory>
#include <optional>
#include <source_location>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

// The DSL's internals (frontend/DslModel.h): not exported from libnnc.so.
namespace nnc::dsl::detail {
class ModelImpl;
struct ExprNode;
struct Access;
} // namespace nnc::dsl::detail

#pragma GCC visibility push(default)

namespace nnc::dsl {

/// Where in the user's C++ code a call is written.
using Loc = std::source_location;

class Model;

/// A symbolic dimension declared with Model::dim (`dim B`).
class SymDim {
public:
  SymDim() = default;
  /// The declared name.
  const std::string &name() const { return name_; }

private:
  friend struct detail::Access;
  detail::ModelImpl *model_ = nullptr;
  int32_t index_ = -1;
  std::string name_;
};

/// One entry of a shape: a static extent or a SymDim (`B`, `2`, and in
/// reshape `-1`).
class DimArg {
public:
  template <std::integral I> DimArg(I size) : size_(static_cast<int64_t>(size)) {}
  DimArg(SymDim dim) : dim_(std::move(dim)), symbolic_(true) {}

private:
  friend struct detail::Access;
  int64_t size_ = 0;
  SymDim dim_;
  bool symbolic_ = false;
};

/// A tensor type as written: `f32(B, 784)` is `f32[B, 784]`.
struct TypeSpec {
  DType dtype = DType::F32;
  std::vector<DimArg> dims;
};

/// `f32[dims...]`; `f32()` is the scalar `f32[]`.
template <typename... Ds> TypeSpec f32(const Ds &...dims) {
  return TypeSpec{DType::F32, {DimArg(dims)...}};
}
/// `i32[dims...]`.
template <typename... Ds> TypeSpec i32(const Ds &...dims) {
  return TypeSpec{DType::I32, {DimArg(dims)...}};
}

/// A handle to a value of a model: a declaration, or an op result given a
/// name with Model::name. Cheap to copy (a model pointer and a ValueId).
class Value {
public:
  Value() = default;
  /// The graph's id of the value; kNoValue when its statement failed.
  ValueId id() const { return id_; }
  /// Whether the statement that made this value succeeded.
  bool ok() const { return model_ != nullptr && id_ != kNoValue; }

private:
  friend struct detail::Access;
  detail::ModelImpl *model_ = nullptr;
  ValueId id_ = kNoValue;
};

/// An expression not yet added to a graph: a Value, a number, or an op
/// applied to expressions. Ops take and return Exprs; a Value or a floating
/// point number converts implicitly (`maximum(x, 0.0f)`). Integers do not,
/// so that `conv2d(x, w, 1)` is a stride; the operators take them (`x * 2`).
class Expr {
public:
  Expr(const Value &v);
  template <std::floating_point F>
  Expr(F number, Loc loc = Loc::current()) : Expr(static_cast<double>(number), loc, 0) {}

private:
  friend struct detail::Access;
  Expr(double number, const Loc &loc, int);
  explicit Expr(std::shared_ptr<const detail::ExprNode> node) : node_(std::move(node)) {}
  std::shared_ptr<const detail::ExprNode> node_;
};

/// A number an operand may be (not a bool).
template <typename N>
concept Number = std::is_arithmetic_v<N> && !std::is_same_v<N, bool>;

/// An operand of `+ - * /` and unary `-`: an Expr, a Value or any number
/// (`x * 2`, `1.0f - x`). It records where the operator is written, which
/// C++ cannot tell an operator function otherwise.
class Operand {
public:
  Operand(const Expr &e, Loc loc = Loc::current()) : expr_(e), loc_(loc) {}
  Operand(const Value &v, Loc loc = Loc::current()) : expr_(v), loc_(loc) {}
  template <Number N>
  Operand(N number, Loc loc = Loc::current())
      : expr_(static_cast<double>(number), loc), loc_(loc) {}

private:
  friend struct detail::Access;
  Expr expr_;
  Loc loc_;
};

/// `a + b`, `a - b`, `a * b`, `a / b`: add, sub, mul, div.
Expr operator+(const Operand &a, const Operand &b);
Expr operator-(const Operand &a, const Operand &b);
Expr operator*(const Operand &a, const Operand &b);
Expr operator/(const Operand &a, const Operand &b);
/// `-a`: neg.
Expr operator-(const Operand &a);

/// A literal tensor as nested lists, row-major: `{{0.1, 0.4}, {0.8, 0.6}}`
/// is a [2, 2] literal; a bare number is a scalar; `{}` has a zero-size dim.
class Literal {
public:
  Literal(double number) : data_{number} {}
  Literal(std::initializer_list<Literal> items);

  const std::vector<double> &data() const { return data_; }
  /// The nested-list shape ([] for a bare number).
  const std::vector<int64_t> &shape() const { return shape_; }
  /// Whether lists of one level differ in shape (an error when used).
  bool ragged() const { return ragged_; }

private:
  std::vector<double> data_;
  std::vector<int64_t> shape_;
  bool ragged_ = false;
};

/// How a param or state gets its first value: an initializer function
/// (`zeros()`, `uniform(-1, 1, 7)`) or a literal (`0.5`, `{{1, 2}, {3, 4}}`).
class Init {
public:
  Init(double number) : literal_(number) {}
  Init(std::initializer_list<Literal> items) : literal_(items) {}
  Init(Literal literal) : literal_(std::move(literal)) {}

private:
  friend struct detail::Access;
  Init(std::string name, std::vector<double> args, std::optional<int64_t> seed, Loc loc)
      : name_(std::move(name)), args_(std::move(args)), seed_(seed), loc_(loc), literal_(0.0) {}
  std::string name_ = "literal";
  std::vector<double> args_;
  std::optional<int64_t> seed_;
  std::optional<Loc> loc_;
  Literal literal_;
};

/// The initializers of IR.md section 1; `seed` defaults to 0.
Init zeros(Loc loc = Loc::current());
Init ones(Loc loc = Loc::current());
Init fill(double value, Loc loc = Loc::current());
/// 0, 1, 2, ... in C order (positions: `const pos: i32[T] = arange()`).
Init arange(Loc loc = Loc::current());
Init uniform(double lo, double hi, int64_t seed = 0, Loc loc = Loc::current());
Init normal(double mean, double std, int64_t seed = 0, Loc loc = Loc::current());
Init glorot_uniform(int64_t seed = 0, Loc loc = Loc::current());
Init he_normal(int64_t seed = 0, Loc loc = Loc::current());

/// The arguments of `sgd(lr=, momentum=0, weight_decay=0)`; `lr` is
/// required (left out, build() reports it).
struct SgdOptions {
  double lr = std::numeric_limits<double>::quiet_NaN();
  double momentum = 0;
  double weight_decay = 0;
};

/// The arguments of `adam(lr=, beta1=0.9, beta2=0.999, eps=1e-8)`.
struct AdamOptions {
  double lr = std::numeric_limits<double>::quiet_NaN();
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
};

/// An optimizer for Model::minimize.
class Optimizer {
private:
  friend struct detail::Access;
  Optimizer(std::string name, std::vector<std::pair<const char *, double>> args, Loc loc)
      : name_(std::move(name)), args_(std::move(args)), loc_(loc) {}
  std::string name_;
  std::vector<std::pair<const char *, double>> args_; ///< NaN: not given
  Loc loc_;
};

/// `sgd(...)`: `sgd({.lr = 0.1, .momentum = 0.9})` or `sgd(0.1, 0.9)`.
Optimizer sgd(const SgdOptions &options, Loc loc = Loc::current());
Optimizer sgd(double lr, double momentum = 0, double weight_decay = 0, Loc loc = Loc::current());
/// `adam(...)`: `adam({.lr = 1e-3})` or `adam(1e-3)`.
Optimizer adam(const AdamOptions &options, Loc loc = Loc::current());
Optimizer adam(double lr, double beta1 = 0.9, double beta2 = 0.999, double eps = 1e-8,
               Loc loc = Loc::current());

/// Axes of a reduction: `{}` (all axes, the default), `1` or `{0, 1}`.
class Axes {
public:
  Axes() = default;
  template <std::integral I> Axes(I axis) : axes_{static_cast<int64_t>(axis)} {}
  Axes(std::initializer_list<int64_t> axes) : axes_(axes) {}

private:
  friend struct detail::Access;
  std::vector<int64_t> axes_;
};

/// A window size, stride or padding: `2` (both dims) or `{h, w}`; `{}` is
/// "not given" (a pool's stride then equals its kernel).
class Pair {
public:
  Pair() = default;
  template <std::integral I> Pair(I both) : Pair(both, both) {}
  Pair(int64_t h, int64_t w) : h_(h), w_(w), given_(true) {}

private:
  friend struct detail::Access;
  int64_t h_ = 0, w_ = 0;
  bool given_ = false;
};

// ---- ops (IR.md section 3) ---------------------------------------------------

// The ops of the common shapes, one function each, written from the op
// table (nnc/Ops.def): element-wise unary ops, f32 -> f32 (`neg(x)`,
// `relu(x)`, `step(x)`: 1 where x >= 0 else 0, with a straight-through
// gradient, ...); binary ops with NumPy broadcasting (`add(a, b)`, ...,
// `eq(a, b)`: f32 1.0 where a == b, else 0.0); reductions over `axes` (all
// axes by default: `sum(x)`, `mean(x, {1})`, `max(x, {0}, true)`); and the
// losses of (prediction, target) (`sse`, `mse`, `bce`,
// `softmax_cross_entropy(logits, labels)`).
#define NNC_OP(...)
#define NNC_UNARY_OP(id, name, traits) Expr name(const Expr &x, Loc loc = Loc::current());
#define NNC_BINARY_OP(id, name, traits)                                                            \
  Expr name(const Expr &a, const Expr &b, Loc loc = Loc::current());
#define NNC_REDUCTION_OP(id, name)                                                                 \
  Expr name(const Expr &x, Axes axes = {}, bool keepdims = false, Loc loc = Loc::current());
#define NNC_LOSS_OP(id, name)                                                                      \
  Expr name(const Expr &prediction, const Expr &target, Loc loc = Loc::current());
#include "nnc/Ops.def"
#undef NNC_OP
#undef NNC_UNARY_OP
#undef NNC_BINARY_OP
#undef NNC_REDUCTION_OP
#undef NNC_LOSS_OP

/// leaky_relu(x) = x for x > 0, alpha x below.
Expr leaky_relu(const Expr &x, double alpha = kLeakyReluSlope, Loc loc = Loc::current());

/// clip(x, min=, max=), as torch.clamp; nullopt leaves that side unbounded.
Expr clip(const Expr &x, std::optional<double> min, std::optional<double> max,
          Loc loc = Loc::current());
/// where(cond, a, b): a where cond is non-zero, else b; all three broadcast.
Expr where(const Expr &cond, const Expr &a, const Expr &b, Loc loc = Loc::current());

/// [M, K] x [K, N] -> [M, N].
Expr matmul(const Expr &a, const Expr &b, bool transpose_a = false, bool transpose_b = false,
            Loc loc = Loc::current());
/// `reshape(x, shape=[B, -1])`: `reshape(x, {B, -1})`.
Expr reshape(const Expr &x, std::vector<DimArg> shape, Loc loc = Loc::current());
/// `transpose(x, perm=[...])`; an empty perm (the default) reverses the axes.
Expr transpose(const Expr &x, std::vector<int64_t> perm = {}, Loc loc = Loc::current());

/// `concat(a, b, ..., axis=)`: two or more parts along a static axis.
Expr concat(const std::vector<Expr> &parts, int64_t axis, Loc loc = Loc::current());
/// `slice(x, axis=, start=, end=, step=)`: Python's x[start:end:step] along
/// `axis`; nullopt `end` is the extent.
Expr slice(const Expr &x, int64_t axis, int64_t start = 0, std::optional<int64_t> end = {},
           int64_t step = 1, Loc loc = Loc::current());
/// The lower (upper) triangle of the last two axes from diagonal k on.
Expr tril(const Expr &x, int64_t k = 0, Loc loc = Loc::current());
Expr triu(const Expr &x, int64_t k = 0, Loc loc = Loc::current());
/// `gather(x, indices, axis=)`: an embedding is gather(table, ids).
Expr gather(const Expr &x, const Expr &indices, int64_t axis = 0, Loc loc = Loc::current());

/// `cast(x, to=)`: x's values in dtype `to` (f32 -> i32 rounds toward zero).
Expr cast(const Expr &x, DType to, Loc loc = Loc::current());

/// Index of the largest element along `axis`, as i32; removes the axis.
Expr argmax(const Expr &x, int64_t axis = -1, Loc loc = Loc::current());
Expr softmax(const Expr &x, int64_t axis = -1, Loc loc = Loc::current());
Expr log_softmax(const Expr &x, int64_t axis = -1, Loc loc = Loc::current());

/// Layer normalization over the last axis.
Expr layernorm(const Expr &x, const Expr &gamma, const Expr &beta, double eps = 1e-5,
               Loc loc = Loc::current());
/// Batch normalization over every axis but 1 (the channels) of x [N, C, ...]:
/// the batch's statistics in training mode (updating the running ones, which
/// are states), the running statistics in inference mode.
Expr batchnorm(const Expr &x, const Expr &gamma, const Expr &beta, const Expr &running_mean,
               const Expr &running_var, double momentum = 0.1, double eps = 1e-5,
               Loc loc = Loc::current());
/// Training mode zeroes each element with probability p and scales the rest
/// by 1/(1-p) (a mask keyed by seed, step and element); inference passes x.
Expr dropout(const Expr &x, double p = 0.5, int64_t seed = 0, Loc loc = Loc::current());
/// NCHW convolution with [F, C, KH, KW] filters, without and with a bias [F].
Expr conv2d(const Expr &x, const Expr &w, Pair stride = 1, Pair padding = 0,
            Loc loc = Loc::current());
Expr conv2d(const Expr &x, const Expr &w, const Expr &b, Pair stride = 1, Pair padding = 0,
            Loc loc = Loc::current());
/// Pools; the stride defaults to the kernel.
Expr maxpool2d(const Expr &x, Pair kernel = 2, Pair stride = {}, Loc loc = Loc::current());
Expr avgpool2d(const Expr &x, Pair kernel = 2, Pair stride = {}, Loc loc = Loc::current());

// ---- the model -----------------------------------------------------------------

/// A model under construction: the statements of a `model NAME { ... }`, in
/// the order they are called. Movable, not copyable; handles stay valid
/// across moves. A moved-from Model may only be destroyed or assigned to.
class Model {
public:
  explicit Model(const std::string &name, Loc loc = Loc::current());
  ~Model();
  Model(Model &&) noexcept;
  Model &operator=(Model &&) noexcept;
  Model(const Model &) = delete;
  Model &operator=(const Model &) = delete;

  /// `dim NAME`.
  SymDim dim(const std::string &name, Loc loc = Loc::current());
  /// `input NAME: TYPE`.
  Value input(const std::string &name, const TypeSpec &type, Loc loc = Loc::current());
  /// `param NAME: TYPE = INIT`.
  Value param(const std::string &name, const TypeSpec &type, const Init &init,
              Loc loc = Loc::current());
  /// `state NAME: TYPE = INIT`.
  Value state(const std::string &name, const TypeSpec &type, const Init &init,
              Loc loc = Loc::current());
  /// `const NAME: TYPE = LITERAL`, or zeros(), ones(), fill(v), arange().
  Value constant(const std::string &name, const TypeSpec &type, const Init &value,
                 Loc loc = Loc::current());

  /// `NAME = EXPR`: lowers `e` (which must apply an op) and names its result.
  Value name(const std::string &name, const Expr &e, Loc loc = Loc::current());
  /// `NAME: TYPE = EXPR`: the same, and the inferred type must equal `type`.
  Value name(const std::string &name, const TypeSpec &type, const Expr &e,
             Loc loc = Loc::current());
  /// `TARGET <- EXPR`: a training-step update of a param or state.
  void update(const Value &target, const Expr &value, Loc loc = Loc::current());
  /// `output VALUE`; outputs keep the order of these calls.
  void output(const Expr &e, Loc loc = Loc::current());
  /// `minimize LOSS with OPTIMIZER`.
  void minimize(const Expr &loss, const Optimizer &optimizer, Loc loc = Loc::current());

  /// The checked graph, or every error recorded so far in source order. The
  /// model stays usable: build() may be called again after more statements.
  Result<ModelGraph> build() const;

private:
  std::unique_ptr<detail::ModelImpl> impl_;
};

} // namespace nnc::dsl

#pragma GCC visibility pop
