/// Initial values from safetensors files, confined to the model's folder.
#include "runtime/io/ExternalWeights.h"

#include "runtime/Interpreter.h"
#include "runtime/io/Safetensors.h"

#include <filesystem>
#include <map>

namespace nnc {

namespace fs = std::filesystem;

Result<std::string> resolveExternalPath(const std::string &file, const ExternalPathPolicy &policy) {
  using R = Result<std::string>;
  fs::path given(file);
  fs::path folder = policy.modelFolder.empty() ? fs::path(".") : fs::path(policy.modelFolder);
  fs::path full = given.is_absolute() ? given : folder / given;
  if (policy.allowOutside)
    return full.string();
  const char *hint = "; pass --allow-external-paths to allow it";
  if (given.is_absolute())
    return R::fail("'{}' is an absolute path, outside the model's folder{}", file, hint);
  for (const fs::path &part : given)
    if (part == "..")
      return R::fail("'{}' leaves the model's folder through '..'{}", file, hint);
  // Symlinks may lead out too: compare where the path really goes.
  std::error_code ec;
  fs::path realFolder = fs::weakly_canonical(folder, ec);
  fs::path realFile = fs::weakly_canonical(full, ec);
  if (ec)
    return R::fail("'{}': cannot resolve the path: {}", file, ec.message());
  auto [end, _] =
      std::mismatch(realFolder.begin(), realFolder.end(), realFile.begin(), realFile.end());
  if (end != realFolder.end())
    return R::fail("'{}' leads outside the model's folder (to {}) through a symlink{}", file,
                   realFile.string(), hint);
  return full.string();
}

namespace {

/// Value v's data from tensor `key` of `tensors` (read from `file`).
void fillFrom(const Graph &g, Value &v, const NamedTensors &tensors, const std::string &file,
              const std::string &key, Diagnostics &diags) {
  const Tensor *found = nullptr;
  for (const auto &[name, t] : tensors)
    if (name == key)
      found = &t;
  if (!found) {
    diags.error(v.init.loc, "safetensors: {} has no tensor '{}'", file, key);
    return;
  }
  std::vector<int64_t> shape = concreteShape(v.type, {});
  if (found->dtype() != v.type.dtype || found->shape() != shape) {
    diags.error(v.init.loc, "safetensors: tensor '{}' in {} is {} but '{}' is {}", key, file,
                found->typeString(), v.name, g.typeString(v.type));
    return;
  }
  v.data.resize(static_cast<size_t>(found->numel()));
  for (int64_t i = 0; i < found->numel(); ++i)
    v.data[static_cast<size_t>(i)] = found->at(i);
}

/// The key of a `safetensors(FILE[, key=K])` initializer: K, else the value's name.
std::string keyOf(const Value &v) {
  return v.init.args.size() > 1 && !v.init.args[1].isNone() ? v.init.args[1].ident : v.name;
}

} // namespace

Status attachWeights(Graph &g, const NamedTensors &tensors, const std::string &file) {
  Diagnostics diags;
  for (Value &v : g.values)
    if (v.init.name == "safetensors" && !v.init.args.empty() && v.init.args[0].ident == file)
      fillFrom(g, v, tensors, file, keyOf(v), diags);
  if (diags.hasErrors())
    return Status(std::move(diags));
  return Ok{};
}

Status loadExternalWeights(Graph &g, const ExternalPathPolicy &policy) {
  std::map<std::string, NamedTensors> files; // read once each
  Diagnostics diags;
  for (Value &v : g.values) {
    if (v.init.name != "safetensors" || v.init.args.empty())
      continue;
    const std::string &file = v.init.args[0].ident;
    std::string key = keyOf(v);
    auto path = resolveExternalPath(file, policy);
    if (!path) {
      diags.error(v.init.loc, "safetensors: {}", path.diags().list()[0].message);
      continue;
    }
    auto it = files.find(*path);
    if (it == files.end()) {
      auto read = readSafetensors(*path);
      if (!read) {
        diags.error(v.init.loc, "safetensors: {}", read.diags().list()[0].message);
        continue;
      }
      it = files.emplace(*path, std::move(read).value()).first;
    }
    fillFrom(g, v, it->second, file, key, diags);
  }
  if (diags.hasErrors())
    return Status(std::move(diags));
  return Ok{};
}

} // namespace nnc
