/// nnc models out to ONNX (frontend/onnx/OnnxExport.h): one pass over the
/// nodes the outputs need, each written as the ONNX ops it stands for.
#include "frontend/onnx/OnnxExport.h"

#include "ir/ElementwiseProgram.h"
#include "ir/NodeAttrs.h"

#include <fmt/format.h>
#include <onnx/checker.h>
#include <onnx/defs/schema.h>
#include <onnx/onnx_pb.h>
#include <onnx/shape_inference/implementation.h>

#include <cmath>
#include <limits>
#include <map>
#include <numbers>
#include <set>

namespace nnc {

namespace {

constexpr int64_t kOpset = 17;

int32_t onnxType(DType t) {
  return t == DType::F32 ? onnx::TensorProto::FLOAT : onnx::TensorProto::INT32;
}

class Exporter {
public:
  Exporter(const Graph &g, const ValueTensors &values) : g_(g), values_(values) {
    model_.set_ir_version(8);
    model_.set_producer_name("nnc");
    model_.set_producer_version(NNC_VERSION);
    auto *opset = model_.add_opset_import();
    opset->set_domain("");
    opset->set_version(kOpset);
    graph_ = model_.mutable_graph();
    graph_->set_name(g.name.empty() ? "nnc" : g.name);
  }

  Result<std::string> run() {
    if (g_.outputs.empty())
      return Result<std::string>::fail("{}: the model has no outputs to export", g_.loc.str());
    std::vector<bool> needed = neededValues();
    for (ValueId id = 0; id < static_cast<ValueId>(g_.values.size()); ++id) // names first
      if (needed[static_cast<size_t>(id)] && g_.value(id).kind != ValueKind::Immediate)
        nameOf(id);
    for (ValueId id = 0; id < static_cast<ValueId>(g_.values.size()); ++id) {
      const Value &v = g_.value(id);
      if (!needed[static_cast<size_t>(id)])
        continue;
      if (v.kind == ValueKind::Input)
        describe(graph_->add_input(), id);
      else if (v.kind == ValueKind::Param || v.kind == ValueKind::State)
        initializer(nameOf(id), values_(id));
      else if (v.kind == ValueKind::Const) // not trainable: a Constant node
        constant(nameOf(id), values_(id));
    }
    for (const Node &n : g_.nodes)
      if (needed[static_cast<size_t>(n.result)])
        node(n);
    for (const OutputRef &o : g_.outputs) {
      if (g_.value(o.value).kind != ValueKind::Op) { // an output that is a declaration
        std::string copy = fresh(nameOf(o.value) + "_out");
        add("Identity", {nameOf(o.value)}, {copy});
        names_[o.value] = copy;
      }
      describe(graph_->add_output(), o.value);
    }
    if (!errors_.empty()) {
      std::string all;
      for (const std::string &e : errors_)
        all += (all.empty() ? "" : "\n") + e;
      return Result<std::string>::fail("cannot export to ONNX:\n{}", all);
    }
    if (std::string problem = validate(); !problem.empty())
      return Result<std::string>::fail("internal error: the exported ONNX model is not valid "
                                       "(please report it): {}",
                                       problem);
    return model_.SerializeAsString();
  }

private:
  // ---- names, values and nodes ---------------------------------------------------

  /// The values the outputs depend on.
  std::vector<bool> neededValues() const {
    std::vector<bool> needed(g_.values.size(), false);
    for (const OutputRef &o : g_.outputs)
      needed[static_cast<size_t>(o.value)] = true;
    for (size_t k = g_.nodes.size(); k-- > 0;) {
      const Node &n = g_.nodes[k];
      if (needed[static_cast<size_t>(n.result)])
        for (ValueId v : n.operands)
          needed[static_cast<size_t>(v)] = true;
    }
    return needed;
  }

  std::string fresh(const std::string &base) {
    std::string name = base;
    for (int k = 2; taken_.count(name); ++k)
      name = base + "_" + std::to_string(k);
    taken_.insert(name);
    return name;
  }

  /// A value's ONNX name: its own, or a temporary's; an immediate becomes a
  /// scalar initializer of its dtype.
  std::string nameOf(ValueId id) {
    if (auto it = names_.find(id); it != names_.end())
      return it->second;
    const Value &v = g_.value(id);
    std::string name;
    if (v.kind == ValueKind::Immediate) {
      name = fresh("c" + std::to_string(id));
      Tensor t(v.type.dtype, {});
      t.set(0, v.immediate());
      constant(name, t);
    } else {
      name = fresh(v.name.empty() ? "t" + std::to_string(id) : v.name);
    }
    names_[id] = name;
    return name;
  }

  void describe(onnx::ValueInfoProto *info, ValueId id) {
    const Value &v = g_.value(id);
    info->set_name(nameOf(id));
    auto *tensor = info->mutable_type()->mutable_tensor_type();
    tensor->set_elem_type(onnxType(v.type.dtype));
    auto *shape = tensor->mutable_shape();
    for (const Dim &d : v.type.shape) {
      if (d.isSymbolic())
        shape->add_dim()->set_dim_param(g_.dims[static_cast<size_t>(d.symbol)].name);
      else
        shape->add_dim()->set_dim_value(d.size);
    }
  }

  static void fill(onnx::TensorProto *p, const Tensor &t) {
    p->set_data_type(onnxType(t.dtype()));
    for (int64_t d : t.shape())
      p->add_dims(d);
    p->set_raw_data(
        std::string(static_cast<const char *>(t.data()), static_cast<size_t>(t.bytes())));
  }

  /// A param or state: an initializer (what an importer may train).
  void initializer(const std::string &name, const Tensor &t) {
    auto *p = graph_->add_initializer();
    p->set_name(name);
    fill(p, t);
  }

  /// A fixed value (a const, an immediate, an operand the export needs): a
  /// Constant node.
  void constant(const std::string &name, const Tensor &t) {
    auto *a = add("Constant", {}, {name})->add_attribute();
    a->set_name("value");
    a->set_type(onnx::AttributeProto::TENSOR);
    fill(a->mutable_t(), t);
  }

  std::string int64s(const std::vector<int64_t> &values) {
    std::string name = fresh("ints");
    auto *a = add("Constant", {}, {name})->add_attribute();
    a->set_name("value");
    a->set_type(onnx::AttributeProto::TENSOR);
    onnx::TensorProto *p = a->mutable_t();
    p->set_data_type(onnx::TensorProto::INT64);
    p->add_dims(static_cast<int64_t>(values.size()));
    for (int64_t v : values)
      p->add_int64_data(v);
    return name;
  }

  std::string int64Scalar(int64_t v) {
    std::string name = fresh("k");
    auto *a = add("Constant", {}, {name})->add_attribute();
    a->set_name("value");
    a->set_type(onnx::AttributeProto::TENSOR);
    a->mutable_t()->set_data_type(onnx::TensorProto::INT64);
    a->mutable_t()->add_int64_data(v);
    return name;
  }

  std::string scalar(float v) {
    std::string name = fresh("f");
    constant(name, Tensor::scalar(v));
    return name;
  }

  onnx::NodeProto *add(const std::string &op, const std::vector<std::string> &in,
                       const std::vector<std::string> &out) {
    auto *n = graph_->add_node();
    n->set_op_type(op);
    n->set_name(fresh(op + "_" + std::to_string(graph_->node_size())));
    for (const std::string &i : in)
      n->add_input(i);
    for (const std::string &o : out)
      n->add_output(o);
    return n;
  }

  /// A node with one new output (a temporary named after `base`); its name.
  std::string step(const std::string &op, const std::vector<std::string> &in,
                   const std::string &base, onnx::NodeProto **made = nullptr) {
    std::string out = fresh(base);
    onnx::NodeProto *n = add(op, in, {out});
    if (made)
      *made = n;
    return out;
  }

  static void attr(onnx::NodeProto *n, const char *name, int64_t v) {
    auto *a = n->add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::INT);
    a->set_i(v);
  }
  static void attr(onnx::NodeProto *n, const char *name, float v) {
    auto *a = n->add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::FLOAT);
    a->set_f(v);
  }
  static void attr(onnx::NodeProto *n, const char *name, const std::vector<int64_t> &v) {
    auto *a = n->add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::INTS);
    for (int64_t x : v)
      a->add_ints(x);
  }

  void fail(const Node &n, const std::string &what) {
    errors_.push_back(fmt::format("{}: {} {}", n.loc.str(), n.info().name, what));
  }

  // ---- element-wise ops (also the instructions of fused_elementwise) ----------

  /// Writes element-wise `op` over `in` into `out`; false when it has no ONNX form.
  bool elementwise(OpKind op, const Attrs &attrs, const std::vector<std::string> &in,
                   const std::string &out) {
    static const std::map<OpKind, const char *> same = {
        {OpKind::Neg, "Neg"},   {OpKind::Abs, "Abs"},         {OpKind::Exp, "Exp"},
        {OpKind::Log, "Log"},   {OpKind::Sqrt, "Sqrt"},       {OpKind::Sigmoid, "Sigmoid"},
        {OpKind::Tanh, "Tanh"}, {OpKind::Relu, "Relu"},       {OpKind::Softplus, "Softplus"},
        {OpKind::Erf, "Erf"},   {OpKind::Sin, "Sin"},         {OpKind::Cos, "Cos"},
        {OpKind::Add, "Add"},   {OpKind::Sub, "Sub"},         {OpKind::Mul, "Mul"},
        {OpKind::Div, "Div"},   {OpKind::Maximum, "Max"},     {OpKind::Minimum, "Min"},
        {OpKind::Pow, "Pow"},   {OpKind::Dropout, "Identity"}};
    if (auto it = same.find(op); it != same.end()) {
      add(it->second, op == OpKind::Dropout ? std::vector<std::string>{in[0]} : in, {out});
      return true;
    }
    switch (op) {
    case OpKind::LeakyRelu:
      attr(add("LeakyRelu", in, {out}), "alpha", static_cast<float>(attr::alpha(op, attrs)));
      return true;
    case OpKind::Gelu: { // x * 0.5 * (1 + erf(x / sqrt(2)))
      std::string e =
          step("Erf", {step("Div", {in[0], scalar(std::numbers::sqrt2_v<float>)}, out + "_scaled")},
               out + "_erf");
      std::string half = step("Mul", {in[0], step("Add", {e, scalar(1)}, out + "_1p")}, out + "_x");
      add("Mul", {half, scalar(0.5f)}, {out});
      return true;
    }
    case OpKind::Step: { // 1 where x >= 0
      attr(add("Cast", {step("GreaterOrEqual", {in[0], scalar(0)}, out + "_ge")}, {out}), "to",
           int64_t{onnx::TensorProto::FLOAT});
      return true;
    }
    case OpKind::Clip: {
      std::optional<double> lo = attr::clipMin(op, attrs), hi = attr::clipMax(op, attrs);
      add("Clip",
          {in[0], lo ? scalar(static_cast<float>(*lo)) : "",
           hi ? scalar(static_cast<float>(*hi)) : ""},
          {out});
      return true;
    }
    case OpKind::Eq:
      attr(add("Cast", {step("Equal", in, out + "_eq")}, {out}), "to",
           int64_t{onnx::TensorProto::FLOAT});
      return true;
    case OpKind::Where: { // nnc's condition is any non-zero number
      onnx::NodeProto *cast = nullptr;
      std::string cond = step("Cast", {in[0]}, out + "_cond", &cast);
      attr(cast, "to", int64_t{onnx::TensorProto::BOOL});
      add("Where", {cond, in[1], in[2]}, {out});
      return true;
    }
    default:
      return false;
    }
  }

  void fusedElementwise(const Node &n, const std::vector<std::string> &in, const std::string &out) {
    std::string why;
    std::optional<ElementwiseProgram> program =
        decodeProgram(attr::program(n), n.operands.size(), why);
    if (!program)
      return fail(n, "has a program that does not decode: " + why);
    std::vector<std::string> results = in;
    for (size_t k = 0; k < program->size(); ++k) {
      const ElementwiseInstruction &ins = (*program)[k];
      std::vector<std::string> operands;
      for (int o : ins.operands)
        operands.push_back(results.at(static_cast<size_t>(o)));
      std::string result = k + 1 == program->size() ? out : fresh(out + "_" + std::to_string(k));
      if (!elementwise(ins.op, ins.attrs, operands, result))
        return fail(n, std::string("contains ") + opInfo(ins.op).name + ", which has no ONNX form");
      results.push_back(result);
    }
  }

  // ---- the other ops -------------------------------------------------------------

  /// x with its last two axes swapped (a matmul's transpose flag).
  std::string swapLastTwo(const std::string &x, size_t rank) {
    std::vector<int64_t> perm;
    for (size_t i = 0; i < rank; ++i)
      perm.push_back(static_cast<int64_t>(i));
    std::swap(perm[rank - 2], perm[rank - 1]);
    onnx::NodeProto *t = nullptr;
    std::string out = step("Transpose", {x}, x + "_t", &t);
    attr(t, "perm", perm);
    return out;
  }

  std::string matmul(const Node &n, const std::string &a, const std::string &b,
                     const std::string &out) {
    std::string lhs = attr::transposeA(n) ? swapLastTwo(a, g_.type(n.operands[0]).rank()) : a;
    std::string rhs = attr::transposeB(n) ? swapLastTwo(b, g_.type(n.operands[1]).rank()) : b;
    add("MatMul", {lhs, rhs}, {out});
    return out;
  }

  /// reshape's shape as an ONNX tensor: its numbers, and each dim name read
  /// from x's shape (Shape, Gather), joined by Concat.
  std::string reshapeTarget(const Node &n, const std::string &x) {
    const Type &xt = g_.type(n.operands[0]);
    std::vector<std::string> pieces;
    std::vector<int64_t> numbers;
    std::string shape;
    auto flush = [&] {
      if (!numbers.empty())
        pieces.push_back(int64s(numbers));
      numbers.clear();
    };
    for (const AttrValue &entry : attr::shape(n).list) {
      if (entry.kind != AttrValue::Kind::Ident) {
        numbers.push_back(entry.asInt());
        continue;
      }
      flush();
      int32_t symbol = g_.findDim(entry.ident);
      int64_t axis = 0;
      while (axis < static_cast<int64_t>(xt.rank()) &&
             xt.shape[static_cast<size_t>(axis)].symbol != symbol)
        ++axis;
      if (shape.empty())
        shape = step("Shape", {x}, x + "_shape");
      pieces.push_back(step("Gather", {shape, int64s({axis})}, x + "_" + entry.ident));
    }
    flush();
    if (pieces.size() == 1)
      return pieces[0];
    onnx::NodeProto *concat = nullptr;
    std::string target = step("Concat", pieces, x + "_target", &concat);
    attr(concat, "axis", int64_t{0});
    return target;
  }

  void reduction(const Node &n, const std::string &x, const std::string &out) {
    static const std::map<OpKind, const char *> names = {
        {OpKind::Sum, "ReduceSum"}, {OpKind::Mean, "ReduceMean"}, {OpKind::Max, "ReduceMax"}};
    const AttrValue &axes = attr::axes(n);
    std::vector<std::string> in = {x};
    if (n.op == OpKind::Sum && !axes.isNone()) // ReduceSum takes its axes as an input from opset 13
      in.push_back(int64s(axes.asInts()));
    onnx::NodeProto *r = add(names.at(n.op), in, {out});
    attr(r, "keepdims", int64_t{attr::keepdims(n)});
    if (n.op != OpKind::Sum && !axes.isNone())
      attr(r, "axes", axes.asInts());
  }

  void window(const Node &n, const std::string &x, const std::string &out) {
    std::vector<int64_t> kernel = attr::kernel(n).asInts();
    std::vector<int64_t> stride = attr::stride(n).isNone() ? kernel : attr::stride(n).asInts();
    onnx::NodeProto *p = add(n.op == OpKind::MaxPool2d ? "MaxPool" : "AveragePool", {x}, {out});
    attr(p, "kernel_shape", kernel);
    attr(p, "strides", stride);
  }

  void conv(const Node &n, const std::vector<std::string> &in, const std::string &out) {
    const Type &w = g_.type(n.operands[1]);
    std::vector<int64_t> pad = attr::padding(n).asInts();
    onnx::NodeProto *c = add("Conv", in, {out});
    attr(c, "kernel_shape", std::vector<int64_t>{w.shape[2].size, w.shape[3].size});
    attr(c, "strides", attr::stride(n).asInts());
    attr(c, "pads", std::vector<int64_t>{pad[0], pad[1], pad[0], pad[1]});
  }

  void attention(const Node &n, const std::vector<std::string> &in, const std::string &out) {
    size_t rank = g_.type(n.operands[1]).rank();
    std::string scores = step("MatMul", {in[0], swapLastTwo(in[1], rank)}, out + "_scores");
    scores = step("Mul", {scores, scalar(static_cast<float>(attr::scale(n)))}, out + "_scaled");
    if (in.size() > 3)
      scores = step("Add", {scores, in[3]}, out + "_masked");
    onnx::NodeProto *s = nullptr;
    std::string p = step("Softmax", {scores}, out + "_p", &s);
    attr(s, "axis", int64_t{-1});
    add("MatMul", {p, in[2]}, {out});
  }

  void node(const Node &n) {
    std::vector<std::string> in;
    for (ValueId v : n.operands)
      in.push_back(nameOf(v));
    std::string out = nameOf(n.result);
    if (elementwise(n.op, n.attrs, in, out))
      return;
    // ONNX's MatMul and Conv have no operand precision: exporting them as
    // f32 would change what the model computes.
    if (attr::bf16Operands(n))
      return fail(n, "has precision=bf16, which ONNX cannot say (export the model without it)");
    onnx::NodeProto *made = nullptr;
    switch (n.op) {
    case OpKind::FusedElementwise:
      return fusedElementwise(n, in, out);
    case OpKind::MatMul:
      matmul(n, in[0], in[1], out);
      return;
    case OpKind::FusedMatMul: {
      std::string z = n.operands.size() > 2 || attr::activation(n) != "none"
                          ? matmul(n, in[0], in[1], fresh(out + "_mm"))
                          : matmul(n, in[0], in[1], out);
      if (n.operands.size() > 2)
        z = attr::activation(n) == "none" ? (add("Add", {z, in[2]}, {out}), out)
                                          : step("Add", {z, in[2]}, out + "_biased");
      const std::string &act = attr::activation(n);
      if (act == "none")
        return;
      const OpInfo *activation = findOp(act);
      if (!activation ||
          !elementwise(activation->kind, defaultAttrs(activation->kind, attr::alpha(n)), {z}, out))
        fail(n, "has the activation '" + act + "', which has no ONNX form");
      return;
    }
    case OpKind::FusedAttention:
      return attention(n, in, out);
    case OpKind::Reshape:
      add("Reshape", {in[0], reshapeTarget(n, in[0])}, {out});
      return;
    case OpKind::Transpose:
      made = add("Transpose", in, {out});
      if (!attr::perm(n).isNone())
        attr(made, "perm", attr::perm(n).asInts());
      return;
    case OpKind::Concat:
      attr(add("Concat", in, {out}), "axis", attr::axis(n));
      return;
    case OpKind::Slice: {
      std::optional<int64_t> end = attr::sliceEnd(n);
      add("Slice",
          {in[0], int64s({attr::sliceStart(n)}),
           int64s({end ? *end : std::numeric_limits<int64_t>::max()}), int64s({attr::axis(n)}),
           int64s({attr::sliceStep(n)})},
          {out});
      return;
    }
    case OpKind::Tril:
    case OpKind::Triu:
      attr(add("Trilu", {in[0], int64Scalar(attr::diagonal(n))}, {out}), "upper",
           int64_t{n.op == OpKind::Triu});
      return;
    case OpKind::Gather:
      attr(add("Gather", in, {out}), "axis", attr::axis(n));
      return;
    case OpKind::Cast:
      attr(add("Cast", in, {out}), "to",
           int64_t{attr::castTo(n) == "f32" ? onnx::TensorProto::FLOAT : onnx::TensorProto::INT32});
      return;
    case OpKind::Sum:
    case OpKind::Mean:
    case OpKind::Max:
      return reduction(n, in[0], out);
    case OpKind::ArgMax: {
      std::string index = step("ArgMax", in, out + "_i64", &made);
      attr(made, "axis", attr::axis(n));
      attr(made, "keepdims", int64_t{0});
      attr(add("Cast", {index}, {out}), "to", int64_t{onnx::TensorProto::INT32});
      return;
    }
    case OpKind::Softmax:
    case OpKind::LogSoftmax:
      attr(add(n.op == OpKind::Softmax ? "Softmax" : "LogSoftmax", in, {out}), "axis",
           attr::axis(n));
      return;
    case OpKind::LayerNorm:
      made = add("LayerNormalization", in, {out});
      attr(made, "axis", int64_t{-1});
      attr(made, "epsilon", static_cast<float>(attr::eps(n)));
      return;
    case OpKind::FusedAddLayerNorm:
      made = add("LayerNormalization", {step("Add", {in[0], in[1]}, out + "_sum"), in[2], in[3]},
                 {out});
      attr(made, "axis", int64_t{-1});
      attr(made, "epsilon", static_cast<float>(attr::eps(n)));
      return;
    case OpKind::BatchNorm: // torch's momentum (the new statistic's weight) is ONNX's 1 - m
      made = add("BatchNormalization", in, {out});
      attr(made, "epsilon", static_cast<float>(attr::eps(n)));
      attr(made, "momentum", static_cast<float>(1 - attr::momentum(n)));
      return;
    case OpKind::Conv2d:
      return conv(n, in, out);
    case OpKind::FusedConv2d: {
      const std::string &act = attr::activation(n);
      if (act == "none")
        return conv(n, in, out);
      std::string z = fresh(out + "_conv");
      conv(n, in, z);
      const OpInfo *activation = findOp(act);
      if (!activation ||
          !elementwise(activation->kind, defaultAttrs(activation->kind, attr::alpha(n)), {z}, out))
        fail(n, "has the activation '" + act + "', which has no ONNX form");
      return;
    }
    case OpKind::MaxPool2d:
    case OpKind::AvgPool2d:
      return window(n, in[0], out);
    default:
      fail(n, "has no ONNX form (losses and the training step's ops are not exported; export "
              "the model's outputs)");
    }
  }

  /// The attributes of `op` at their defaults, with `alpha` (a fused
  /// matmul's leaky_relu slope) where the op has one.
  static Attrs defaultAttrs(OpKind op, double alpha) {
    Attrs attrs;
    for (const AttrSpec &spec : opInfo(op).attrs)
      attrs.push_back(std::string(spec.name) == "alpha" ? AttrValue::num(alpha)
                                                        : spec.defaultValue);
    return attrs;
  }

  /// ONNX's checker and its strict shape inference on the model.
  std::string validate() {
    try {
      onnx::checker::check_model(model_);
      onnx::ModelProto inferred = model_;
      onnx::shape_inference::InferShapes(inferred, onnx::OpSchemaRegistry::Instance(),
                                         onnx::ShapeInferenceOptions(true, 1, false));
    } catch (const std::exception &e) {
      return e.what();
    }
    return "";
  }

  const Graph &g_;
  const ValueTensors &values_;
  onnx::ModelProto model_;
  onnx::GraphProto *graph_;
  std::map<ValueId, std::string> names_;
  std::set<std::string> taken_;
  std::vector<std::string> errors_;
};

} // namespace

Result<std::string> exportOnnx(const Graph &g, const ValueTensors &values) {
  return Exporter(g, values).run();
}

} // namespace nnc
