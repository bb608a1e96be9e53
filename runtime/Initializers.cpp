/// Initializers: SplitMix64 bits, uniform and Box-Muller normal floats, fans.
#include "runtime/Initializers.h"
#include "ir/InternalError.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace nnc {

namespace {

constexpr double kTwoPi = 6.283185307179586;
constexpr double kTwoPow24 = 16777216.0;         // 2^24
constexpr double kTwoPow53 = 9007199254740992.0; // 2^53

/// The uniform float of one draw (step 2 of the header's description).
float uniformFrom(uint64_t bits, double lo, double hi) {
  double u = static_cast<double>(bits >> 40) / kTwoPow24;
  double width = hi - lo;
  double scaled = width * u; // separate statements: no FMA contraction
  double v = lo + scaled;
  float r = static_cast<float>(v);
  if (hi > lo && static_cast<double>(r) >= hi)
    r = std::nextafter(r, -std::numeric_limits<float>::infinity());
  return r;
}

/// The standard normal double of two draws (step 3 of the description).
double gaussianFrom(uint64_t bits1, uint64_t bits2) {
  double u1 = static_cast<double>((bits1 >> 11) + 1) / kTwoPow53;
  double u2 = static_cast<double>(bits2 >> 11) / kTwoPow53;
  double radius = std::sqrt(-2.0 * std::log(u1));
  double angle = kTwoPi * u2;
  return radius * std::cos(angle);
}

void fillConstant(Tensor &t, double v) {
  for (int64_t i = 0; i < t.numel(); ++i)
    t.set(i, v);
}

/// Runs a named initializer over `t` (zero-filled on entry).
void applyInitializer(Tensor &t, const Initializer &init) {
  const std::string &name = init.name;
  if (name == "zeros" || name.empty())
    return;
  if (name == "ones")
    return fillConstant(t, 1.0);
  if (name == "fill")
    return fillConstant(t, initializerNumber(init, 0, 0.0));
  if (name == "arange") {
    for (int64_t i = 0; i < t.numel(); ++i)
      t.set(i, static_cast<double>(i));
    return;
  }
  NNC_CHECK(t.dtype() == DType::F32, "random initializers fill f32 tensors");
  if (t.dtype() != DType::F32)
    return;
  Fans fans = fansOf(t.shape());
  if (name == "uniform")
    return fillUniform(t.f32(), t.numel(), initializerNumber(init, 0, 0.0),
                       initializerNumber(init, 1, 1.0), initializerSeed(init, 2));
  if (name == "normal")
    return fillNormal(t.f32(), t.numel(), initializerNumber(init, 0, 0.0),
                      initializerNumber(init, 1, 1.0), initializerSeed(init, 2));
  if (t.numel() == 0) // fans may be 0: nothing to fill, nothing to divide
    return;
  if (name == "glorot_uniform") {
    double a = std::sqrt(6.0 / static_cast<double>(fans.in + fans.out));
    return fillUniform(t.f32(), t.numel(), -a, a, initializerSeed(init, 0));
  }
  if (name == "he_normal")
    return fillNormal(t.f32(), t.numel(), 0.0, std::sqrt(2.0 / static_cast<double>(fans.in)),
                      initializerSeed(init, 0));
  NNC_UNREACHABLE("unknown initializer (the graph builder checks names)");
}

std::vector<int64_t> staticShape(const Type &type) {
  std::vector<int64_t> shape;
  for (const Dim &d : type.shape) {
    NNC_CHECK(d.isStatic(), "params, states and consts have static types");
    shape.push_back(d.isStatic() ? d.size : 0);
  }
  return shape;
}

} // namespace

uint64_t initializerSeed(const Initializer &init, size_t index) {
  if (index >= init.args.size() || init.args[index].isNone())
    return 0;
  return static_cast<uint64_t>(init.args[index].asInt());
}

double initializerNumber(const Initializer &init, size_t index, double fallback) {
  if (index >= init.args.size() || init.args[index].isNone())
    return fallback;
  return init.args[index].number;
}

uint64_t randomBits(uint64_t seed, uint64_t k) {
  uint64_t z = seed + (k + 1) * 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

void fillUniform(float *out, int64_t n, double lo, double hi, uint64_t seed) {
  for (int64_t i = 0; i < n; ++i)
    out[i] = uniformFrom(randomBits(seed, static_cast<uint64_t>(i)), lo, hi);
}

void fillNormal(float *out, int64_t n, double mean, double std, uint64_t seed) {
  for (int64_t i = 0; i < n; ++i) {
    uint64_t k = 2 * static_cast<uint64_t>(i);
    double z = gaussianFrom(randomBits(seed, k), randomBits(seed, k + 1));
    double scaled = std * z; // separate statements: no FMA contraction
    out[i] = static_cast<float>(mean + scaled);
  }
}

Fans fansOf(const std::vector<int64_t> &shape) {
  if (shape.size() == 2)
    return {shape[0], shape[1]};
  if (shape.size() == 4) {
    int64_t receptive = shape[2] * shape[3];
    return {shape[1] * receptive, shape[0] * receptive};
  }
  int64_t n = 1;
  for (int64_t d : shape)
    n *= d;
  return {n, n};
}

Tensor initialTensor(const Graph &g, ValueId id) {
  const Value &v = g.value(id);
  Tensor t(v.type.dtype, staticShape(v.type));
  // Literals, and safetensors files once loadExternalWeights() read them.
  bool literal = v.kind == ValueKind::Const || v.kind == ValueKind::Immediate ||
                 v.init.name == "literal" || v.init.name == "safetensors";
  if (!literal) {
    applyInitializer(t, v.init);
    return t;
  }
  NNC_CHECK((v.kind == ValueKind::Immediate || static_cast<int64_t>(v.data.size()) == t.numel()),
            "a literal has one number per element");
  int64_t n = std::min(t.numel(), static_cast<int64_t>(v.data.size()));
  for (int64_t i = 0; i < n; ++i)
    t.set(i, v.data[static_cast<size_t>(i)]);
  return t;
}

} // namespace nnc
