/// `nnc import M.onnx -o M.ir`: an ONNX model as a model file in nnc's
/// language, with its initializers in a safetensors file beside it
/// (frontend/onnx/OnnxImport.h). Both files are written together or not at
/// all, and only once the text has parsed and verified.
#include "frontend/Parser.h"
#include "frontend/onnx/OnnxImport.h"
#include "runtime/io/AtomicFile.h"
#include "runtime/io/ExternalWeights.h"
#include "tools/nnc/CommandLine.h"
#include "tools/nnc/Commands.h"

#include <filesystem>

namespace nnc::cli {

const CommandSpec &importCommandSpec() {
  static const CommandSpec spec{
      "import",
      "M.onnx -o M.ir",
      "an ONNX model as a .ir model file and its weights",
      "Converts an ONNX model (opsets 7 to 17) into nnc's language: graph inputs become\n"
      "inputs, initializers params, graph outputs outputs, symbolic dims dims. The params\n"
      "read their values from M.safetensors beside M.ir (the -o path with the extension\n"
      "'.safetensors') through safetensors(\"M.safetensors\", key=NAME). ONNX names that\n"
      "are not identifiers are mapped by one rule (IR.md section 4). What nnc cannot\n"
      "express is an error per node, all of them, and nothing is written. Every other\n"
      "command also takes M.onnx directly, importing it in memory. With --loss (and\n"
      "--optimizer) the model file trains: a loss over the first output, a new input\n"
      "'labels', and the minimize statement are written into it.",
      withOnnxTrainingOptions({required(option("o", "OUT.ir", "the model file to write"))}),
      {"nnc import model.onnx -o model.ir"}};
  return spec;
}

int importCommand(const Args &args) {
  int status = 0;
  auto cl = parseCommandLine(args, importCommandSpec(), status);
  if (!cl)
    return status;
  std::filesystem::path out = cl->get("o");
  std::filesystem::path weights = out;
  weights.replace_extension(".safetensors");
  OnnxImportOptions options;
  options.weightsFile = weights.filename().string();
  options.loss = cl->get("loss");
  if (cl->has("optimizer"))
    options.optimizer = cl->get("optimizer");
  Result<OnnxImport> imported = importOnnx(cl->positional[0], options);
  if (!imported)
    return report(imported.diags());
  // Verify before writing: the text parses, checks, and takes its weights.
  Result<Graph> g = parseModel(imported->text, out.string());
  if (!g)
    return report(g.diags());
  if (Status s = attachWeights(*g, imported->weights, options.weightsFile); !s)
    return report(s.diags());
  Result<std::string> bytes = encodeSafetensors(imported->weights, {{"source", "nnc import"}});
  if (!bytes)
    return report(bytes.diags());
  Status written =
      writeFilesAtomically({{out.string(), imported->text}, {weights.string(), *bytes}});
  return written ? 0 : report(written.diags());
}

} // namespace nnc::cli
