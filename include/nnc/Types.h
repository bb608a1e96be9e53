/// The few plain types that nnc's public API shares with its internals.
#pragma once

#include <cstdint>

#pragma GCC visibility push(default)

namespace nnc {

/// A tensor's element type (IR.md section 1): `f32` or `i32`.
enum class DType : uint8_t { F32, I32 };

/// The index of a value (input, param, state, const or node result) in a
/// model's graph.
using ValueId = int32_t;
inline constexpr ValueId kNoValue = -1;

/// The slope of leaky_relu below 0, the default of every op with an `alpha`
/// (leaky_relu, its gradient, the fused matmuls' leaky_relu).
inline constexpr double kLeakyReluSlope = 0.01;

} // namespace nnc

#pragma GCC visibility pop
