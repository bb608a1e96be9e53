/// Loading a model file with the weight files it names.
#include "frontend/ModelFile.h"

#include "frontend/Parser.h"
#include "frontend/onnx/OnnxImport.h"
#include "runtime/io/ExternalWeights.h"

#include <filesystem>

namespace nnc {

bool isOnnxPath(const std::string &path) {
  return path.size() > 5 && path.compare(path.size() - 5, 5, ".onnx") == 0;
}

Result<Graph> loadOnnxModel(const std::string &path, const ModelLoadOptions &load) {
  OnnxImportOptions options;
  options.loss = load.onnxLoss;
  if (!load.onnxOptimizer.empty())
    options.optimizer = load.onnxOptimizer;
  options.weightsFile = "<" + std::filesystem::path(path).filename().string() + ">";
  Result<OnnxImport> imported = importOnnx(path, options);
  if (!imported)
    return Result<Graph>(imported.takeDiags());
  Result<Graph> g = parseModel(imported->text, path + " (imported)");
  if (!g)
    return g;
  if (Status s = attachWeights(*g, imported->weights, options.weightsFile); !s)
    return Result<Graph>(s.takeDiags());
  return g;
}

Result<Graph> loadModel(const std::string &path, const ModelLoadOptions &options) {
  if (isOnnxPath(path))
    return loadOnnxModel(path, options);
  if (!options.onnxLoss.empty())
    return Result<Graph>::fail("{}: --loss and --optimizer are for ONNX models (M.onnx); a .ir "
                               "model says its loss with minimize",
                               path);
  Result<Graph> g = loadModelFile(path);
  if (!g)
    return g;
  ExternalPathPolicy policy;
  policy.modelFolder = path == "-" ? "" : std::filesystem::path(path).parent_path().string();
  policy.allowOutside = options.allowExternalPaths;
  if (Status s = loadExternalWeights(*g, policy); !s)
    return Result<Graph>(s.takeDiags());
  return g;
}

Result<Graph> loadModelText(const std::string &text, const std::string &name) {
  Result<Graph> g = parseModel(text, name);
  if (!g)
    return g;
  if (Status s = loadExternalWeights(*g, ExternalPathPolicy{}); !s)
    return Result<Graph>(s.takeDiags());
  return g;
}

} // namespace nnc
