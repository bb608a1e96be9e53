/// Decoding ONNX TensorProtos (frontend/onnx/TensorProto.h).
#include "frontend/onnx/TensorProto.h"

#include "frontend/onnx/Importer.h"

#include <cstring>
#include <limits>

namespace nnc::onnximport {

namespace {

/// `n` integers of `width` bytes each from raw little-endian data.
std::vector<int64_t> rawIntegers(const std::string &raw, int64_t n, size_t width) {
  std::vector<int64_t> out(static_cast<size_t>(n));
  for (int64_t k = 0; k < n; ++k) {
    const char *p = raw.data() + static_cast<size_t>(k) * width;
    if (width == 8) {
      std::memcpy(&out[static_cast<size_t>(k)], p, 8);
    } else if (width == 4) {
      int32_t v;
      std::memcpy(&v, p, 4);
      out[static_cast<size_t>(k)] = v;
    } else {
      out[static_cast<size_t>(k)] = *p != 0;
    }
  }
  return out;
}

size_t integerWidth(int32_t type) {
  switch (type) {
  case onnx::TensorProto::INT64:
    return 8;
  case onnx::TensorProto::INT32:
    return 4;
  case onnx::TensorProto::BOOL:
    return 1;
  default:
    return 0;
  }
}

} // namespace

bool decodeTensorProto(const onnx::TensorProto &t, std::vector<float> &floats,
                       std::vector<int64_t> &ints, std::string &why) {
  std::optional<int64_t> count = elementCount(t.dims());
  if (!count) {
    why = "its dims are negative or too large";
    return false;
  }
  int64_t n = *count;
  if (t.data_location() == onnx::TensorProto::EXTERNAL) {
    why = "external data is not supported";
    return false;
  }
  size_t width = t.data_type() == onnx::TensorProto::FLOAT ? 4 : integerWidth(t.data_type());
  if (!width) {
    why = "element type " + std::to_string(t.data_type()) + " is not FLOAT, INT32, INT64 or BOOL";
    return false;
  }
  if (t.has_raw_data() && t.raw_data().size() != static_cast<size_t>(n) * width) {
    why = "raw data of the wrong size";
    return false;
  }
  size_t got = 0;
  if (t.data_type() == onnx::TensorProto::FLOAT) {
    if (t.has_raw_data()) {
      floats.resize(static_cast<size_t>(n));
      std::memcpy(floats.data(), t.raw_data().data(), floats.size() * 4);
    } else {
      floats.assign(t.float_data().begin(), t.float_data().end());
    }
    got = floats.size();
  } else {
    if (t.has_raw_data())
      ints = rawIntegers(t.raw_data(), n, width);
    else if (width == 8)
      ints.assign(t.int64_data().begin(), t.int64_data().end());
    else // INT32 and BOOL are stored in int32_data
      ints.assign(t.int32_data().begin(), t.int32_data().end());
    got = ints.size();
  }
  if (got != static_cast<size_t>(n)) {
    why = "the data does not match the dims";
    return false;
  }
  return true;
}

bool tensorFromProto(const onnx::TensorProto &t, Tensor &out, std::string &why) {
  std::vector<float> floats;
  std::vector<int64_t> ints;
  if (!decodeTensorProto(t, floats, ints, why))
    return false;
  std::vector<int64_t> shape(t.dims().begin(), t.dims().end());
  if (t.data_type() == onnx::TensorProto::FLOAT) {
    out = Tensor::f32(shape, floats);
    return true;
  }
  std::vector<int32_t> narrow;
  narrow.reserve(ints.size());
  for (int64_t v : ints) {
    if (v < std::numeric_limits<int32_t>::min() || v > std::numeric_limits<int32_t>::max()) {
      why = std::to_string(v) + " does not fit in i32";
      return false;
    }
    narrow.push_back(static_cast<int32_t>(v));
  }
  out = Tensor::i32(shape, narrow);
  return true;
}

} // namespace nnc::onnximport
