/// Loading a model file with the weight files it names.
#include "frontend/ModelFile.h"

#include "frontend/Parser.h"
#include "runtime/io/ExternalWeights.h"

#include <filesystem>

namespace nnc {

Result<Graph> loadModel(const std::string &path, const ModelLoadOptions &options) {
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

} // namespace nnc
