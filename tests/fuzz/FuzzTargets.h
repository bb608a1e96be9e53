/// What each fuzz target does with one input, shared by the libFuzzer
/// entry points (tests/fuzz/*Fuzz.cpp) and the regression test that replays
/// tests/fuzz/regressions/<target>/* in the normal build. Each function feeds
/// the bytes to one reader, checks what the reader promises (round trips,
/// bounded allocation), and returns "" or the broken promise.
#pragma once

#include "frontend/Parser.h"
#include "frontend/onnx/OnnxImport.h"
#include "ir/Printer.h"
#include "ir/Verifier.h"
#include "runtime/io/Dataset.h"
#include "runtime/io/ExternalWeights.h"
#include "runtime/io/Npy.h"
#include "runtime/io/Safetensors.h"

#include <cstdint>
#include <cstring>
#include <map>
#include <string>
#include <string_view>

namespace nnc::fuzz {

/// A reader's error is a correct answer: keeps its text for the caller and
/// reports no broken promise (unless the text is empty).
inline std::string noteError(std::string text, std::string *error) {
  bool empty = text.empty();
  if (error)
    *error = std::move(text);
  return empty ? "a reader failed without an error message" : "";
}

/// parser: parseModel, then verifyGraph, then the printer's fixed point:
/// print(parse(print(g))) == print(g).
inline std::string parserTarget(std::string_view bytes, std::string *error = nullptr) {
  Result<Graph> g = parseModel(bytes, "fuzz.ir");
  if (!g)
    return noteError(g.errorText(), error);
  if (Diagnostics d = verifyGraph(*g); d.hasErrors())
    return noteError(d.render(), error);
  std::string printed = printGraph(*g);
  Result<Graph> again = parseModel(printed, "fuzz-printed.ir");
  if (!again)
    return "the printed model does not parse back:\n" + printed + "\n" + again.errorText();
  if (verifyGraph(*again).hasErrors())
    return "the printed model does not verify:\n" + printed;
  std::string reprinted = printGraph(*again);
  if (reprinted != printed)
    return "printing is not a fixed point:\n" + printed + "\n---\n" + reprinted;
  return "";
}

/// npy: parseNpy; a tensor read back is no larger than the input, and
/// encodeNpy of it parses back to the same bytes.
inline std::string npyTarget(std::string_view bytes, std::string *error = nullptr) {
  Result<Tensor> t = parseNpy(bytes, "fuzz.npy");
  if (!t)
    return noteError(t.errorText(), error);
  if (static_cast<uint64_t>(t->bytes()) > bytes.size())
    return "parseNpy returned a tensor larger than its input";
  std::string encoded = encodeNpy(*t);
  Result<Tensor> back = parseNpy(encoded, "fuzz-encoded.npy");
  if (!back)
    return "encodeNpy output does not parse: " + back.errorText();
  if (back->dtype() != t->dtype() || back->shape() != t->shape() ||
      (t->bytes() > 0 && std::memcmp(back->data(), t->data(), static_cast<size_t>(t->bytes()))))
    return "npy round trip changed the tensor";
  return "";
}

/// safetensors: parseSafetensors; what it reads encodes and parses back to
/// the same names, types and bytes.
inline std::string safetensorsTarget(std::string_view bytes, std::string *error = nullptr) {
  std::map<std::string, std::string> metadata;
  Result<NamedTensors> ts = parseSafetensors(bytes, "fuzz.safetensors", &metadata);
  if (!ts)
    return noteError(ts.errorText(), error);
  uint64_t total = 0;
  for (const auto &[name, t] : *ts)
    total += static_cast<uint64_t>(t.bytes());
  if (total > bytes.size())
    return "parseSafetensors returned more tensor bytes than its input";
  Result<std::string> encoded = encodeSafetensors(*ts, metadata);
  if (!encoded)
    return "encodeSafetensors refused what parseSafetensors read: " + encoded.errorText();
  std::map<std::string, std::string> metadata2;
  Result<NamedTensors> back = parseSafetensors(*encoded, "fuzz-encoded.safetensors", &metadata2);
  if (!back)
    return "encodeSafetensors output does not parse: " + back.errorText();
  if (back->size() != ts->size() || metadata2 != metadata)
    return "safetensors round trip changed the tensor list or metadata";
  for (size_t i = 0; i < ts->size(); ++i) {
    const Tensor &a = (*ts)[i].second, &b = (*back)[i].second;
    if ((*ts)[i].first != (*back)[i].first || a.dtype() != b.dtype() || a.shape() != b.shape() ||
        (a.bytes() > 0 && std::memcmp(a.data(), b.data(), static_cast<size_t>(a.bytes()))))
      return "safetensors round trip changed tensor '" + (*ts)[i].first + "'";
  }
  return "";
}

/// A dataset read back: labels one per example, non-negative; features as
/// many rows.
inline std::string checkDataset(const Dataset &d) {
  if (d.labels.rank() != 1 || d.features.rank() < 1 || d.features.dim(0) != d.labels.dim(0))
    return "dataset features and labels disagree";
  for (int64_t i = 0; i < d.labels.numel(); ++i)
    if (d.labels.i32()[i] < 0)
      return "dataset has a negative label";
  return "";
}

/// idx: the input is `u32 little-endian length of the image file`, the
/// image file, then the label file. A part starting with the gzip magic is
/// read as gzip data.
inline std::string idxTarget(std::string_view bytes, std::string *error = nullptr) {
  if (bytes.size() < 4)
    return "";
  uint32_t n = 0;
  std::memcpy(&n, bytes.data(), 4); // the fuzz hosts are little-endian
  bytes.remove_prefix(4);
  std::string_view images = bytes.substr(0, n), labels = bytes.substr(images.size());
  auto name = [](std::string_view part, const char *base) {
    bool gz = part.size() >= 2 && static_cast<unsigned char>(part[0]) == 0x1f &&
              static_cast<unsigned char>(part[1]) == 0x8b;
    return std::string(base) + (gz ? ".gz" : "");
  };
  Result<Dataset> d = parseIdxPair(images, labels, name(images, "train-images-idx3-ubyte"),
                                   name(labels, "train-labels-idx1-ubyte"));
  if (!d)
    return noteError(d.errorText(), error);
  return checkDataset(*d);
}

/// csv: the whole input is one CSV file (gzip data when it starts with the
/// gzip magic).
inline std::string csvTarget(std::string_view bytes, std::string *error = nullptr) {
  bool gz = bytes.size() >= 2 && static_cast<unsigned char>(bytes[0]) == 0x1f &&
            static_cast<unsigned char>(bytes[1]) == 0x8b;
  Result<Dataset> d = parseCsv(bytes, gz ? "fuzz.csv.gz" : "fuzz.csv");
  if (!d)
    return noteError(d.errorText(), error);
  return checkDataset(*d);
}

/// onnx: importOnnxBytes, then the ordinary parser and verifier on the text
/// it writes (shapes that do not fit are their errors, located in that
/// text); a model that parses takes its weights.
inline std::string onnxTarget(std::string_view bytes, std::string *error = nullptr) {
  OnnxImportOptions options;
  options.weightsFile = "fuzz.safetensors";
  Result<OnnxImport> imported = importOnnxBytes(bytes, "fuzz.onnx", options);
  if (!imported)
    return noteError(imported.errorText(), error);
  Result<Graph> g = parseModel(imported->text, "fuzz-imported.ir");
  if (!g)
    return noteError(g.errorText(), error);
  if (Diagnostics d = verifyGraph(*g); d.hasErrors())
    return noteError(d.render(), error);
  if (Status s = attachWeights(*g, imported->weights, options.weightsFile); !s)
    return "the imported model does not take its weights: " + s.errorText();
  return "";
}

/// The target called `name` (the directory names under tests/fuzz/corpus),
/// or null.
using Target = std::string (*)(std::string_view, std::string *);

inline Target targetNamed(std::string_view name) {
  if (name == "parser")
    return parserTarget;
  if (name == "npy")
    return npyTarget;
  if (name == "safetensors")
    return safetensorsTarget;
  if (name == "idx")
    return idxTarget;
  if (name == "csv")
    return csvTarget;
  if (name == "onnx")
    return onnxTarget;
  return nullptr;
}

} // namespace nnc::fuzz
