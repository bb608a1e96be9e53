/// `nnc export M.ir [--params P] -o M.onnx`: a model's inference graph with
/// its params as an ONNX model (frontend/onnx/OnnxExport.h), written
/// atomically once ONNX's checker has accepted it.
#include "frontend/onnx/OnnxExport.h"
#include "runtime/Interpreter.h"
#include "runtime/io/AtomicFile.h"
#include "runtime/io/Checkpoint.h"
#include "tools/nnc/CommandLine.h"
#include "tools/nnc/Commands.h"
#include "tools/nnc/OutputFile.h"

#include <cstdio>

namespace nnc::cli {

const CommandSpec &exportCommandSpec() {
  static const CommandSpec spec{
      "export",
      "M.ir -o M.onnx [--params P]",
      "the inference graph and its params as an ONNX model",
      "Writes what the model's outputs compute, in inference mode (batchnorm with its\n"
      "running statistics, dropout the identity), as an ONNX model of opset 17: params\n"
      "and states as initializers (their initial values, or those of a checkpoint given\n"
      "with --params), consts as Constant nodes. Each op becomes the ONNX ops it stands for (IR.md section\n"
      "7); fused ops are written as the ops they fuse. The model is checked with ONNX's\n"
      "checker and strict shape inference before it is written.",
      {required(option("o", "OUT.onnx", "the ONNX file to write")),
       option("params", "P", "params and state from a checkpoint (default: initializers)"),
       allowExternalPathsOption()},
      {"nnc export examples/cnn.ir --params cnn.safetensors -o cnn.onnx"}};
  return spec;
}

int exportCommand(const Args &args) {
  int status = 0;
  auto cl = parseCommandLine(args, exportCommandSpec(), status);
  if (!cl)
    return status;
  if (Status s = checkOutputPath(cl->get("o")); !s)
    return report(s.diags());
  Result<Graph> g = loadModelArgument(*cl);
  if (!g)
    return report(g.diags());
  // The interpreter holds every declaration's initial value; a checkpoint
  // overwrites the params and states.
  Interpreter values(*g);
  if (cl->has("params")) {
    CheckpointMetadata metadata;
    if (Status s = loadCheckpoint(*g, interpreterState(values), cl->get("params"), &metadata); !s)
      return report(s.diags());
    if (std::string warning = checkpointModelMismatch(metadata, *g, cl->get("params"));
        !warning.empty())
      std::fprintf(stderr, "nnc: warning: %s\n", warning.c_str());
  }
  Result<std::string> bytes =
      exportOnnx(*g, [&](ValueId id) { return values.stateTensor(id).clone(); });
  if (!bytes)
    return report(bytes.diags());
  Status written = writeFileAtomically(cl->get("o"), *bytes);
  return written ? 0 : report(written.diags());
}

} // namespace nnc::cli
