/// The C API (include/nnc/nnc.h): handles around the pipeline, JIT sessions
/// (codegen/Session.h) and checkpoints (runtime/io/Checkpoint.h). Every
/// entry point checks its pointers, turns diagnostics into a status and
/// this thread's last error, and catches what must not cross into C.
#include "nnc/nnc.h"

#include "codegen/Compiler.h"
#include "codegen/Session.h"
#include "frontend/ModelFile.h"
#include "ir/Diagnostics.h"
#include "ir/InternalError.h"
#include "ir/Limits.h"
#include "ir/Printer.h"
#include "passes/Pass.h"
#include "passes/Pipeline.h"
#include "runtime/io/Checkpoint.h"

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <exception>
#include <memory>
#include <optional>
#include <string>
#include <vector>

using nnc::Graph;
using nnc::Result;
using nnc::Status;
using nnc::Tensor;
using nnc::ValueId;

/// A compiled model: shared by its handle and its sessions, so that either
/// may be freed first.
struct ModelData {
  Graph declared; ///< the model as written: its inputs
  Graph infer;    ///< the planned inference graph
  std::unique_ptr<Graph> train;
  std::shared_ptr<nnc::JitModel> compiled;
  std::vector<std::string> outputNames;
  /// The graph that holds every param and state (the training step's, with
  /// the optimizer's buffers, when there is one).
  const Graph &stateGraph() const { return train ? *train : infer; }
};

struct nnc_model {
  std::shared_ptr<const ModelData> data;
};

struct nnc_session {
  std::shared_ptr<const ModelData> model;
  std::unique_ptr<nnc::JitSession> jit;
  std::vector<Tensor> outputs; ///< of the last nnc_infer
};

namespace {

thread_local std::string lastError;

nnc_status fail(nnc_status status, std::string message) {
  lastError = std::move(message);
  return status;
}

nnc_status fail(nnc_status status, const nnc::Diagnostics &diags) {
  return fail(status, diags.render());
}

/// Runs an entry point's body: exceptions (allocation failures, size
/// limits) become NNC_RUNTIME_ERROR instead of crossing into C.
template <typename F> nnc_status guarded(F &&body) {
  try {
    return body();
  } catch (const std::exception &e) {
    return fail(NNC_RUNTIME_ERROR, std::string("nnc: ") + e.what());
  } catch (...) {
    return fail(NNC_RUNTIME_ERROR, "nnc: an unexpected error");
  }
}

nnc_status nullArgument(const char *call, const char *argument) {
  return fail(NNC_INVALID_ARGUMENT, std::string(call) + ": " + argument + " is null");
}

/// More threads than this is a mistake, not a machine.
constexpr int kMaxThreads = 4096;

/// The C API describes values of rank at most NNC_MAX_RANK: a model with a
/// larger input, output, param or state is refused where it declares it.
nnc_status checkRanks(const Graph &declared) {
  nnc::Diagnostics diags;
  for (size_t i = 0; i < declared.values.size(); ++i) {
    const nnc::Value &v = declared.values[i];
    bool described = v.isDeclaration() && v.kind != nnc::ValueKind::Const;
    for (const nnc::OutputRef &o : declared.outputs)
      described = described || o.value == static_cast<ValueId>(i);
    if (described && v.type.rank() > NNC_MAX_RANK)
      diags.error(v.loc, "'{}' has rank {}; the C API handles ranks up to {} (NNC_MAX_RANK)",
                  v.name, v.type.rank(), NNC_MAX_RANK);
  }
  return diags.hasErrors() ? fail(NNC_UNSUPPORTED, diags) : NNC_OK;
}

nnc::CompileOptions compileOptions(const nnc_options *options) {
  nnc::CompileOptions o;
  o.useCache = true;
  if (!options)
    return o;
  o.threads = options->threads;
  o.useCache = options->use_cache != 0;
  if (options->size >= offsetof(nnc_options, target_cpu) + sizeof(const char *) &&
      options->target_cpu)
    o.cpu = options->target_cpu;
  if (options->size >= offsetof(nnc_options, split_step) + sizeof(int))
    o.splitTrainingStep = options->split_step != 0;
  if (options->size >= offsetof(nnc_options, precision) + sizeof(int))
    o.precision = options->precision == NNC_PRECISION_BF16   ? nnc::Precision::BF16
                  : options->precision == NNC_PRECISION_AUTO ? nnc::Precision::Auto
                                                             : nnc::Precision::F32;
  return o;
}

nnc_status checkOptions(const nnc_options *options) {
  if (!options)
    return NNC_OK;
  if (options->size < offsetof(nnc_options, use_cache) + sizeof(int))
    return fail(NNC_INVALID_ARGUMENT, "nnc_options.size is too small: start from NNC_OPTIONS_INIT");
  if (options->threads < 0 || options->threads > kMaxThreads)
    return fail(NNC_INVALID_ARGUMENT,
                "nnc_options.threads must be in [0, " + std::to_string(kMaxThreads) +
                    "] (0: one per core), got " + std::to_string(options->threads));
  if (options->use_cache != 0 && options->use_cache != 1)
    return fail(NNC_INVALID_ARGUMENT,
                "nnc_options.use_cache must be 0 or 1, got " + std::to_string(options->use_cache));
  if (options->size >= offsetof(nnc_options, precision) + sizeof(int) &&
      (options->precision < NNC_PRECISION_F32 || options->precision > NNC_PRECISION_AUTO))
    return fail(NNC_INVALID_ARGUMENT,
                "nnc_options.precision must be NNC_PRECISION_F32, _BF16 or _AUTO, got " +
                    std::to_string(options->precision));
  return NNC_OK;
}

/// Plans and JIT-compiles a checked graph into *out.
nnc_status compileGraph(Graph declared, const nnc_options *options, nnc_model **out) {
  if (nnc_status s = checkRanks(declared); s != NNC_OK)
    return s;
  nnc::PassContext ctx;
  nnc::CompileOptions compile = compileOptions(options);
  nnc::PlanRequest request;
  request.splitTrainingStep = compile.splitTrainingStep && declared.minimize.has_value();
  auto bf16 = nnc::bf16Products(compile);
  if (!bf16)
    return fail(NNC_UNSUPPORTED, bf16.diags());
  request.bf16Products = *bf16;
  auto planned = nnc::planModel(declared, ctx, request);
  if (!planned)
    return fail(NNC_MODEL_ERROR, planned.diags());
  auto jit = nnc::jitCompile(*planned, compile);
  if (!jit)
    return fail(NNC_MODEL_ERROR, jit.diags());
  if (!(*jit)->functions().cpuSupported())
    return fail(NNC_UNSUPPORTED, "model '" + declared.name + "' was compiled for a CPU this one " +
                                     "is not (nnc_options.target_cpu)");
  auto model = std::make_shared<ModelData>();
  model->declared = std::move(declared);
  model->infer = planned->infer.graph;
  if (planned->train)
    model->train = std::make_unique<Graph>(planned->train->graph);
  model->compiled = std::shared_ptr<nnc::JitModel>(std::move(jit).value());
  std::vector<std::string> printed = nnc::printedNames(model->infer);
  for (const nnc::OutputRef &o : model->infer.outputs)
    model->outputNames.push_back(printed[static_cast<size_t>(o.value)]);
  *out = new nnc_model{std::move(model)};
  return NNC_OK;
}

/// The values of `kind` that nnc_model_count and nnc_model_info list.
std::vector<ValueId> listed(const ModelData &m, nnc_kind kind) {
  switch (kind) {
  case NNC_INPUT:
    return m.declared.valuesOfKind(nnc::ValueKind::Input);
  case NNC_OUTPUT: {
    std::vector<ValueId> ids;
    for (const nnc::OutputRef &o : m.infer.outputs)
      ids.push_back(o.value);
    return ids;
  }
  case NNC_PARAM:
    return m.stateGraph().valuesOfKind(nnc::ValueKind::Param);
  case NNC_STATE:
    return m.stateGraph().valuesOfKind(nnc::ValueKind::State);
  }
  return {};
}

const Graph &graphOf(const ModelData &m, nnc_kind kind) {
  if (kind == NNC_INPUT)
    return m.declared;
  return kind == NNC_OUTPUT ? m.infer : m.stateGraph();
}

nnc_status describe(const ModelData &m, nnc_kind kind, size_t index, nnc_tensor_info *info) {
  const Graph &g = graphOf(m, kind);
  ValueId id = listed(m, kind)[index];
  const nnc::Type &type = g.type(id);
  NNC_CHECK(type.rank() <= NNC_MAX_RANK, "'{}' has rank {}: compileGraph refuses such models",
            g.value(id).name, type.rank());
  *info = nnc_tensor_info{};
  info->name = kind == NNC_OUTPUT ? m.outputNames[index].c_str() : g.value(id).name.c_str();
  info->kind = kind;
  info->dtype = type.dtype == nnc::DType::F32 ? NNC_F32 : NNC_I32;
  info->rank = static_cast<int32_t>(type.rank());
  for (size_t i = 0; i < type.rank(); ++i) {
    const nnc::Dim &d = type.shape[i];
    info->shape[i] = d.isStatic() ? d.size : -1;
    info->dim_names[i] =
        d.isStatic() ? nullptr : g.dims[static_cast<size_t>(d.symbol)].name.c_str();
  }
  return NNC_OK;
}

/// The tensors a call passes to `g` (one per input, in declaration order;
/// empty for an input not given). Names `g` lacks are errors unless the
/// model declares them (a label, given to inference).
nnc_status bindByName(const ModelData &m, const Graph &g, const nnc_tensor *inputs, size_t count,
                      std::vector<Tensor> &bound) {
  std::vector<ValueId> ids = g.valuesOfKind(nnc::ValueKind::Input);
  bound.assign(ids.size(), Tensor());
  std::vector<bool> given(ids.size(), false);
  for (size_t i = 0; i < count; ++i) {
    const nnc_tensor &t = inputs[i];
    if (!t.name)
      return fail(NNC_INVALID_ARGUMENT, "input " + std::to_string(i) + " has a null name");
    if (t.rank < 0 || t.rank > NNC_MAX_RANK || (t.rank > 0 && !t.shape))
      return fail(NNC_INVALID_ARGUMENT,
                  std::string("input '") + t.name + "': a rank in [0, 8] and its shape, please");
    if (t.dtype != NNC_F32 && t.dtype != NNC_I32)
      return fail(NNC_INVALID_ARGUMENT, std::string("input '") + t.name + "': unknown dtype");
    std::vector<int64_t> shape(t.shape, t.shape + t.rank);
    std::optional<int64_t> elements = nnc::checkedElements(shape);
    if (!elements)
      return fail(NNC_INVALID_ARGUMENT,
                  std::string("input '") + t.name + "': a negative or too large extent");
    if (*elements > 0 && !t.data)
      return fail(NNC_INVALID_ARGUMENT, std::string("input '") + t.name + "': data is null");
    auto at = std::find_if(ids.begin(), ids.end(),
                           [&](ValueId id) { return g.value(id).name == t.name; });
    if (at == ids.end()) {
      if (m.declared.findValue(t.name) != nnc::kNoValue &&
          m.declared.value(m.declared.findValue(t.name)).kind == nnc::ValueKind::Input)
        continue; // an input this call does not need
      return fail(NNC_NOT_FOUND, "model '" + m.declared.name + "' has no input '" + t.name + "'");
    }
    auto k = static_cast<size_t>(at - ids.begin());
    if (given[k])
      return fail(NNC_INVALID_ARGUMENT, std::string("input '") + t.name + "' is given twice");
    given[k] = true;
    nnc::DType dtype = t.dtype == NNC_F32 ? nnc::DType::F32 : nnc::DType::I32;
    bound[k] = Tensor::borrow(dtype, std::move(shape), const_cast<void *>(t.data));
  }
  return NNC_OK;
}

/// The param or state `name` of the session's model, or an error.
nnc_status findState(const nnc_session *s, const char *call, const char *name, Tensor &value) {
  if (!s)
    return nullArgument(call, "session");
  if (!name)
    return nullArgument(call, "name");
  const Graph &g = s->model->stateGraph();
  ValueId id = g.findValue(name);
  if (id == nnc::kNoValue ||
      (g.value(id).kind != nnc::ValueKind::Param && g.value(id).kind != nnc::ValueKind::State))
    return fail(NNC_NOT_FOUND, "model '" + g.name + "' has no param or state '" + name + "'");
  value = s->jit->read(name);
  return NNC_OK;
}

/// A caller's buffer for `value`: not null, and its size exactly.
nnc_status checkBuffer(const char *call, const char *name, const Tensor &value, const void *data,
                       size_t bytes) {
  if (!data)
    return nullArgument(call, "data");
  if (bytes != static_cast<size_t>(value.bytes()))
    return fail(NNC_SHAPE_ERROR, std::string(call) + ": '" + name + "' is " + value.typeString() +
                                     ", " + std::to_string(value.bytes()) + " bytes, not " +
                                     std::to_string(bytes));
  return NNC_OK;
}

/// A call of the training step on the named inputs: bound and checked
/// (NNC_SHAPE_ERROR), run (NNC_RUNTIME_ERROR), its loss to *loss.
template <typename Run>
nnc_status runTraining(nnc_session &s, const nnc_tensor *inputs, size_t count, float *loss,
                       Run run) {
  const ModelData &m = *s.model;
  std::vector<Tensor> bound;
  if (nnc_status status = bindByName(m, *m.train, inputs, count, bound); status != NNC_OK)
    return status;
  if (Status checked = s.jit->checkInputs(bound, true); !checked)
    return fail(NNC_SHAPE_ERROR, checked.diags());
  Result<float> value = run(bound);
  if (!value)
    return fail(NNC_RUNTIME_ERROR, value.diags());
  if (loss)
    *loss = *value;
  return NNC_OK;
}

nnc::StateAccess stateAccess(const nnc_session &s) {
  const Graph &g = s.model->stateGraph();
  nnc::JitSession &jit = *s.jit;
  return nnc::StateAccess{
      [&g, &jit](ValueId id) { return jit.read(g.value(id).name); },
      [&g, &jit](ValueId id, const Tensor &t) { (void)jit.write(g.value(id).name, t); }};
}

} // namespace

extern "C" {

const char *nnc_version(void) { return NNC_VERSION; }

const char *nnc_last_error(void) { return lastError.c_str(); }

nnc_status nnc_compile_file(const char *path, const nnc_options *options, nnc_model **model) {
  return guarded([&] {
    if (!path)
      return nullArgument("nnc_compile_file", "path");
    if (!model)
      return nullArgument("nnc_compile_file", "model");
    *model = nullptr;
    if (nnc_status s = checkOptions(options); s != NNC_OK)
      return s;
    Result<Graph> g = nnc::loadModel(path);
    if (!g)
      return fail(NNC_MODEL_ERROR, g.diags());
    return compileGraph(std::move(g).value(), options, model);
  });
}

nnc_status nnc_compile_text(const char *text, const char *name, const nnc_options *options,
                            nnc_model **model) {
  return guarded([&] {
    if (!text)
      return nullArgument("nnc_compile_text", "text");
    if (!model)
      return nullArgument("nnc_compile_text", "model");
    *model = nullptr;
    if (nnc_status s = checkOptions(options); s != NNC_OK)
      return s;
    Result<Graph> g = nnc::loadModelText(text, name ? name : "<text>");
    if (!g)
      return fail(NNC_MODEL_ERROR, g.diags());
    return compileGraph(std::move(g).value(), options, model);
  });
}

void nnc_model_free(nnc_model *model) { delete model; }

const char *nnc_model_name(const nnc_model *model) {
  return model ? model->data->declared.name.c_str() : "";
}

int nnc_model_can_train(const nnc_model *model) { return model && model->data->train ? 1 : 0; }

size_t nnc_model_count(const nnc_model *model, nnc_kind kind) {
  if (!model || kind < NNC_INPUT || kind > NNC_STATE)
    return 0;
  return listed(*model->data, kind).size();
}

nnc_status nnc_model_info(const nnc_model *model, nnc_kind kind, size_t index,
                          nnc_tensor_info *info) {
  return guarded([&] {
    if (!model)
      return nullArgument("nnc_model_info", "model");
    if (!info)
      return nullArgument("nnc_model_info", "info");
    if (kind < NNC_INPUT || kind > NNC_STATE)
      return fail(NNC_INVALID_ARGUMENT, "nnc_model_info: unknown kind");
    size_t count = listed(*model->data, kind).size();
    if (index >= count)
      return fail(NNC_NOT_FOUND, "nnc_model_info: index " + std::to_string(index) +
                                     " is past the last of " + std::to_string(count));
    return describe(*model->data, kind, index, info);
  });
}

nnc_status nnc_model_find(const nnc_model *model, const char *name, nnc_tensor_info *info) {
  return guarded([&] {
    if (!model)
      return nullArgument("nnc_model_find", "model");
    if (!name)
      return nullArgument("nnc_model_find", "name");
    if (!info)
      return nullArgument("nnc_model_find", "info");
    for (nnc_kind kind : {NNC_INPUT, NNC_OUTPUT, NNC_PARAM, NNC_STATE}) {
      std::vector<ValueId> ids = listed(*model->data, kind);
      for (size_t i = 0; i < ids.size(); ++i)
        if ((kind == NNC_OUTPUT ? model->data->outputNames[i]
                                : graphOf(*model->data, kind).value(ids[i]).name) == name)
          return describe(*model->data, kind, i, info);
    }
    return fail(NNC_NOT_FOUND, "model '" + model->data->declared.name + "' has no value '" +
                                   std::string(name) + "'");
  });
}

nnc_status nnc_session_create(const nnc_model *model, nnc_session **session) {
  return guarded([&] {
    if (!model)
      return nullArgument("nnc_session_create", "model");
    if (!session)
      return nullArgument("nnc_session_create", "session");
    *session = nullptr;
    const ModelData &m = *model->data;
    auto jit = nnc::JitSession::create(m.compiled, m.infer, m.train.get());
    if (!jit)
      return fail(NNC_RUNTIME_ERROR, jit.diags());
    *session = new nnc_session{model->data, std::move(jit).value(), {}};
    return NNC_OK;
  });
}

void nnc_session_free(nnc_session *session) { delete session; }

nnc_status nnc_infer(nnc_session *session, const nnc_tensor *inputs, size_t count) {
  return guarded([&] {
    if (!session)
      return nullArgument("nnc_infer", "session");
    if (!inputs && count > 0)
      return nullArgument("nnc_infer", "inputs");
    session->outputs.clear();
    std::vector<Tensor> bound;
    if (nnc_status s = bindByName(*session->model, session->model->infer, inputs, count, bound);
        s != NNC_OK)
      return s;
    if (Status checked = session->jit->checkInputs(bound, false); !checked)
      return fail(NNC_SHAPE_ERROR, checked.diags());
    auto outputs = session->jit->infer(bound);
    if (!outputs)
      return fail(NNC_RUNTIME_ERROR, outputs.diags());
    session->outputs = std::move(outputs).value();
    return NNC_OK;
  });
}

nnc_status nnc_output(const nnc_session *session, size_t index, nnc_tensor *output) {
  if (!session)
    return nullArgument("nnc_output", "session");
  if (!output)
    return nullArgument("nnc_output", "output");
  if (index >= session->outputs.size())
    return fail(NNC_NOT_FOUND, "nnc_output: no output " + std::to_string(index) +
                                   " (the last nnc_infer gave " +
                                   std::to_string(session->outputs.size()) + ")");
  const Tensor &t = session->outputs[index];
  *output = nnc_tensor{session->model->outputNames[index].c_str(),
                       t.dtype() == nnc::DType::F32 ? NNC_F32 : NNC_I32,
                       static_cast<int32_t>(t.rank()), t.shape().data(), t.data()};
  return NNC_OK;
}

nnc_status nnc_train_step(nnc_session *session, const nnc_tensor *inputs, size_t count,
                          float *loss) {
  return guarded([&] {
    if (!session)
      return nullArgument("nnc_train_step", "session");
    if (!inputs && count > 0)
      return nullArgument("nnc_train_step", "inputs");
    session->outputs.clear();
    const ModelData &m = *session->model;
    if (!m.train)
      return fail(NNC_UNSUPPORTED,
                  "model '" + m.declared.name + "' has no training step (it declares no minimize)");
    return runTraining(*session, inputs, count, loss, [&](const std::vector<Tensor> &bound) {
      return session->jit->trainStep(bound);
    });
  });
}

size_t nnc_gradients_size(const nnc_model *model) {
  if (!model)
    return 0;
  const nnc::ModelFunctions &f = model->data->compiled->functions();
  return f.gradientsSize ? static_cast<size_t>(f.gradientsSize()) : 0;
}

int64_t nnc_gradient_offset(const nnc_model *model, const char *name) {
  if (!model || !name)
    return -1;
  const nnc::ModelFunctions &f = model->data->compiled->functions();
  return f.gradientOffset ? f.gradientOffset(name) : -1;
}

nnc_status nnc_compute_gradients(nnc_session *session, const nnc_tensor *inputs, size_t count,
                                 float *gradients, float *loss, void (*ready)(void *ctx, int64_t i),
                                 void *ready_ctx) {
  return guarded([&] {
    if (!session)
      return nullArgument("nnc_compute_gradients", "session");
    if (!inputs && count > 0)
      return nullArgument("nnc_compute_gradients", "inputs");
    session->outputs.clear();
    const ModelData &m = *session->model;
    if (!m.train || !m.compiled->functions().computeGradients)
      return fail(NNC_UNSUPPORTED, "model '" + m.declared.name +
                                       "' was not compiled with its training step cut at the "
                                       "gradients (nnc_options.split_step, and a minimize)");
    if (!gradients)
      return nullArgument("nnc_compute_gradients", "gradients");
    return runTraining(*session, inputs, count, loss, [&](const std::vector<Tensor> &bound) {
      return session->jit->computeGradients(bound, gradients, ready, ready_ctx);
    });
  });
}

nnc_status nnc_apply_gradients(nnc_session *session, const float *gradients) {
  return guarded([&] {
    if (!session)
      return nullArgument("nnc_apply_gradients", "session");
    if (!gradients)
      return nullArgument("nnc_apply_gradients", "gradients");
    if (!session->model->compiled->functions().applyGradients)
      return fail(NNC_UNSUPPORTED, "model '" + session->model->declared.name +
                                       "' was not compiled with its training step cut at the "
                                       "gradients (nnc_options.split_step)");
    Status applied = session->jit->applyGradients(gradients);
    return applied ? NNC_OK : fail(NNC_RUNTIME_ERROR, applied.diags());
  });
}

nnc_status nnc_read(const nnc_session *session, const char *name, void *data, size_t bytes) {
  return guarded([&] {
    Tensor value;
    if (nnc_status s = findState(session, "nnc_read", name, value); s != NNC_OK)
      return s;
    if (nnc_status c = checkBuffer("nnc_read", name, value, data, bytes); c != NNC_OK)
      return c;
    std::memcpy(data, value.data(), bytes);
    return NNC_OK;
  });
}

nnc_status nnc_write(nnc_session *session, const char *name, const void *data, size_t bytes) {
  return guarded([&] {
    Tensor value;
    if (nnc_status s = findState(session, "nnc_write", name, value); s != NNC_OK)
      return s;
    if (nnc_status c = checkBuffer("nnc_write", name, value, data, bytes); c != NNC_OK)
      return c;
    std::memcpy(value.data(), data, bytes);
    if (Status written = session->jit->write(name, value); !written)
      return fail(NNC_SHAPE_ERROR, written.diags());
    return NNC_OK;
  });
}

nnc_status nnc_save(const nnc_session *session, const char *path) {
  return guarded([&] {
    if (!session)
      return nullArgument("nnc_save", "session");
    if (!path)
      return nullArgument("nnc_save", "path");
    Status saved = nnc::saveCheckpoint(session->model->stateGraph(), stateAccess(*session), path);
    return saved ? NNC_OK : fail(NNC_IO_ERROR, saved.diags());
  });
}

nnc_status nnc_load(nnc_session *session, const char *path) {
  return guarded([&] {
    if (!session)
      return nullArgument("nnc_load", "session");
    if (!path)
      return nullArgument("nnc_load", "path");
    Status loaded = nnc::loadCheckpoint(session->model->stateGraph(), stateAccess(*session), path);
    return loaded ? NNC_OK : fail(NNC_IO_ERROR, loaded.diags());
  });
}

} // extern "C"
