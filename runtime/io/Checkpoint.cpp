/// Saving and restoring params and state as safetensors.
#include "runtime/io/Checkpoint.h"

#include "runtime/Interpreter.h"
#include "runtime/io/Safetensors.h"

#include <cmath>
#include <map>

namespace nnc {

namespace {

std::vector<ValueId> savedValues(const Graph &g) {
  std::vector<ValueId> ids = g.valuesOfKind(ValueKind::Param);
  for (ValueId s : g.valuesOfKind(ValueKind::State))
    ids.push_back(s);
  return ids;
}

} // namespace

Status saveCheckpoint(const Graph &g, const StateAccess &state, const std::string &path,
                      const CheckpointMetadata &extra) {
  std::vector<std::pair<std::string, Tensor>> tensors;
  for (ValueId id : savedValues(g)) {
    Tensor t = state.read(id);
    if (t.dtype() == DType::F32)
      for (int64_t i = 0; i < t.numel(); ++i)
        if (!std::isfinite(t.f32()[i]))
          return Status::fail("{}: not saved: '{}' holds a non-finite value (element {} is {})",
                              path, g.value(id).name, i, t.f32()[i]);
    tensors.emplace_back(g.value(id).name, std::move(t));
  }
  CheckpointMetadata metadata = extra;
  metadata["format"] = "nnc";
  metadata["model"] = g.name;
  return writeSafetensors(path, tensors, metadata);
}

std::string checkpointModelMismatch(const CheckpointMetadata &metadata, const Graph &g,
                                    const std::string &path) {
  auto it = metadata.find("model");
  if (it == metadata.end() || it->second == g.name)
    return "";
  return fmt::format("{}: written for model '{}', loaded into model '{}' (their params match by "
                     "name and shape)",
                     path, it->second, g.name);
}

Status loadCheckpoint(const Graph &g, const StateAccess &state, const std::string &path,
                      CheckpointMetadata *metadata) {
  auto read = readSafetensors(path, metadata);
  if (!read)
    return Status(read.takeDiags());
  std::map<std::string, Tensor> byName;
  for (auto &[name, t] : *read)
    byName[name] = t;
  // Every tensor is checked before any is written: a file that does not
  // fit changes nothing.
  std::vector<std::pair<ValueId, const Tensor *>> writes;
  for (ValueId id : savedValues(g)) {
    const Value &v = g.value(id);
    auto it = byName.find(v.name);
    if (it == byName.end()) {
      if (v.kind == ValueKind::Param)
        return Status::fail("{}: has no tensor '{}' for param {}: {}", path, v.name, v.name,
                            g.typeString(id));
      continue;
    }
    const Tensor &t = it->second;
    if (t.dtype() != v.type.dtype || t.shape() != concreteShape(v.type, {}))
      return Status::fail("{}: tensor '{}' is {} but the model declares {}", path, v.name,
                          t.typeString(), g.typeString(id));
    writes.emplace_back(id, &t);
  }
  for (const auto &[id, t] : writes)
    state.write(id, *t);
  return Ok{};
}

Status bakeCheckpoint(Graph &g, const std::string &path, CheckpointMetadata *metadata) {
  StateAccess asLiterals{[](ValueId) { return Tensor(); },
                         [&g](ValueId id, const Tensor &t) {
                           Value &v = g.value(id);
                           v.init = Initializer{"literal", {}, v.init.loc};
                           v.data.resize(static_cast<size_t>(t.numel()));
                           for (int64_t i = 0; i < t.numel(); ++i)
                             v.data[static_cast<size_t>(i)] = t.at(i);
                         }};
  return loadCheckpoint(g, asLiterals, path, metadata);
}

StateAccess interpreterState(Interpreter &interp) {
  return StateAccess{
      [&interp](ValueId id) { return interp.value(id); },
      [&interp](ValueId id, const Tensor &t) { interp.stateTensor(id) = t.clone(); }};
}

Status saveCheckpoint(const Interpreter &interp, const std::string &path) {
  return saveCheckpoint(interp.graph(), interpreterState(const_cast<Interpreter &>(interp)), path);
}

Status loadCheckpoint(Interpreter &interp, const std::string &path) {
  return loadCheckpoint(interp.graph(), interpreterState(interp), path);
}

} // namespace nnc
