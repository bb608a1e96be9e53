/// Resource limits from the environment, and checked size arithmetic.
#include "ir/Limits.h"

#include <fmt/format.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <limits>

namespace nnc {

namespace {

/// A positive byte count with an optional K/M/G suffix, or `fallback`.
int64_t byteLimitFromEnv(const char *name, int64_t fallback) {
  const char *text = std::getenv(name);
  if (!text || !*text)
    return fallback;
  char *end = nullptr;
  errno = 0;
  long long v = std::strtoll(text, &end, 10);
  int shift = 0;
  if (end && (*end == 'K' || *end == 'k'))
    shift = 10;
  else if (end && (*end == 'M' || *end == 'm'))
    shift = 20;
  else if (end && (*end == 'G' || *end == 'g'))
    shift = 30;
  if (shift)
    ++end;
  if (errno || v <= 0 || !end || *end != '\0' ||
      v > (std::numeric_limits<int64_t>::max() >> shift)) {
    std::fprintf(stderr, "nnc: warning: ignoring %s='%s' (expected a positive byte count)\n", name,
                 text);
    return fallback;
  }
  return static_cast<int64_t>(v) << shift;
}

} // namespace

int64_t maxTensorBytes() {
  static const int64_t limit = byteLimitFromEnv("NNC_MAX_TENSOR_BYTES", kDefaultMaxTensorBytes);
  return limit;
}

int64_t maxModelFileBytes() {
  static const int64_t limit = byteLimitFromEnv("NNC_MAX_MODEL_BYTES", kDefaultMaxModelFileBytes);
  return limit;
}

std::optional<int64_t> checkedElements(std::span<const int64_t> extents) {
  // A zero extent makes the product zero whatever the others are.
  bool zero = false;
  for (int64_t d : extents) {
    if (d < 0)
      return std::nullopt;
    zero = zero || d == 0;
  }
  if (zero)
    return 0;
  int64_t n = 1;
  for (int64_t d : extents)
    if (__builtin_mul_overflow(n, d, &n))
      return std::nullopt;
  return n;
}

std::optional<std::string> tensorSizeProblem(DType dtype, std::span<const int64_t> extents) {
  std::string type = std::string(dtypeName(dtype)) + "[";
  for (size_t i = 0; i < extents.size(); ++i)
    type += (i ? ", " : "") + std::to_string(extents[i]);
  type += "]";
  std::optional<int64_t> n = checkedElements(extents);
  int64_t bytes = 0;
  if (!n || __builtin_mul_overflow(*n, dtypeSize(dtype), &bytes))
    return fmt::format("{} has more elements than a 64-bit count holds", type);
  if (bytes > maxTensorBytes())
    return fmt::format("{} needs {} bytes, more than the limit of {} (set "
                       "NNC_MAX_TENSOR_BYTES to change it)",
                       type, bytes, maxTensorBytes());
  return std::nullopt;
}

} // namespace nnc
