/// The C header of a compiled model (IR.md section 6).
#include "codegen/Compiler.h"

#include "codegen/Layout.h"

#include <fmt/format.h>

#include <cctype>

namespace nnc {

namespace {

std::string guardOf(const std::string &prefix) {
  std::string guard;
  for (char c : prefix)
    guard += std::isalnum(static_cast<unsigned char>(c)) ? static_cast<char>(std::toupper(c)) : '_';
  return guard + "_H";
}

std::string listOf(const Graph &g, const std::vector<ValueId> &ids) {
  std::string out;
  for (ValueId id : ids)
    out += fmt::format(" *   {}: {}\n", g.value(id).name, g.typeString(id));
  return out.empty() ? " *   (none)\n" : out;
}

} // namespace

namespace {

/// The declarations of PREFIX_compute_gradients and PREFIX_apply_gradients.
std::string splitStepDeclarations(const std::string &p, const PlannedModel::Split &split) {
  GradientLayout layout = layoutGradients(split.gradients.graph, split.params);
  std::string offsets;
  for (const auto &[name, offset] : layout.entries)
    offsets += fmt::format(" *   {} at byte {}\n", name, offset);
  return fmt::format(R"(
/* The training step cut at the gradients (nnc compile --split-step), for
 * data-parallel training (IR.md section 6). compute_gradients runs the
 * forward and backward passes and writes the gradient of every trained
 * param into `gradients` ({p}_GRADIENTS_SIZE bytes, 4-byte aligned):
{offsets} * calling ready(ready_ctx, i) as soon as the i-th of them is final (ready
 * may be NULL; it runs on the calling thread, between kernels). The caller
 * may then combine them (sum across processes, scaled by each one's share
 * of the batch); apply_gradients runs the optimizer's update from them.
 * compute_gradients then apply_gradients on the same gradients computes
 * what train_step computes. */
#define {p}_NUM_GRADIENTS {count}
#define {p}_GRADIENTS_SIZE {size}
typedef void (*{p}_gradient_ready)(void *ctx, int64_t i);
uint64_t {p}_gradients_size(void);
int64_t  {p}_gradient_offset(const char *name);  /* byte offset in gradients, or -1 */
int      {p}_compute_gradients(void *state, void *workspace, const int64_t *dims,
                               const void *const *inputs, float *gradients, float *loss,
                               {p}_gradient_ready ready, void *ready_ctx);
int      {p}_apply_gradients(void *state, void *workspace, const float *gradients);
)",
                     fmt::arg("p", p), fmt::arg("offsets", offsets),
                     fmt::arg("count", layout.entries.size()), fmt::arg("size", layout.size));
}

} // namespace

std::string cHeader(const Graph &infer, const Graph *train, const CompileOptions &options,
                    const PlannedModel::Split *split) {
  std::string p = options.prefix.empty() ? infer.name : options.prefix;
  std::vector<ValueId> outputs;
  for (const OutputRef &o : infer.outputs)
    outputs.push_back(o.value);
  std::string dims;
  for (const DimDecl &d : infer.dims)
    dims += (dims.empty() ? "" : ", ") + d.name;
  StateLayout layout = layoutState(infer, train);
  std::string state;
  for (const auto &[name, offset] : layout.entries)
    state += fmt::format(" *   {} at byte {}\n", name, offset);

  std::string h =
      fmt::format(R"(/* {p}.h: the C interface of model '{model}', compiled by nnc.
 *
 * dims (in this order in `dims`): {dims}
 * inputs (in this order in `inputs`):
{inputs} * outputs (in this order in `outputs`):
{outputs} * state (params and optimizer state, {stateSize} bytes):
{state} *
 * Buffers are dense, C order, of the declared dtype (f32 = float,
 * i32 = int32_t). `state` and `workspace` are 64-byte aligned and owned by
 * the caller. Functions return 0 on success and a non-zero status without
 * touching memory otherwise: 1 unsupported CPU, 2 null or misaligned buffer,
 * 3 bad dim, 4 label out of range. No function allocates.
 */
#ifndef {guard}
#define {guard}

#include <stdint.h>

#ifdef __cplusplus
extern "C" {{
#endif

#define {p}_NUM_DIMS {numDims}
#define {p}_NUM_INPUTS {numInputs}
#define {p}_NUM_OUTPUTS {numOutputs}

int      {p}_cpu_supported(void);
uint64_t {p}_state_size(void);
uint64_t {p}_workspace_size(const int64_t *dims);
int      {p}_init(void *state);
int      {p}_infer(void *state, void *workspace, const int64_t *dims,
                   const void *const *inputs, void *const *outputs);
)",
                  fmt::arg("p", p), fmt::arg("model", infer.name),
                  fmt::arg("dims", dims.empty() ? "(none)" : dims),
                  fmt::arg("inputs", listOf(infer, infer.valuesOfKind(ValueKind::Input))),
                  fmt::arg("outputs", listOf(infer, outputs)), fmt::arg("stateSize", layout.size),
                  fmt::arg("state", state), fmt::arg("guard", guardOf(p)),
                  fmt::arg("numDims", infer.dims.size()),
                  fmt::arg("numInputs", infer.valuesOfKind(ValueKind::Input).size()),
                  fmt::arg("numOutputs", infer.outputs.size()));
  if (train)
    h += fmt::format("int      {p}_train_step(void *state, void *workspace, const int64_t *dims,\n"
                     "                        const void *const *inputs, float *loss);\n",
                     fmt::arg("p", p));
  h += fmt::format("int64_t  {}_param_offset(const char *name);\n", p);
  if (split)
    h += splitStepDeclarations(p, *split);
  h += fmt::format(R"(
/* Optional threads (an nnc extension of the ABI). Without a runner every
 * call runs on the calling thread. With one, the big loops of infer and
 * train_step are cut into tasks (the same tasks for any runner, so the
 * results are the same bits) and handed to run(pool, tasks, task, ctx),
 * which must call task(ctx, t) once for every t in [0, tasks), on any
 * threads, and return when all have finished. run = NULL restores the
 * calling thread. Set it while no other call of this model is running. */
typedef void (*{p}_parallel_runner)(void *pool, int64_t tasks,
                                  void (*task)(void *ctx, int64_t t), void *ctx);
void     {p}_set_parallel_runner({p}_parallel_runner run, void *pool);

#ifdef __cplusplus
}}
#endif

#endif /* {guard} */
)",
                   fmt::arg("p", p), fmt::arg("guard", guardOf(p)));
  return h;
}

} // namespace nnc
