/// The interpreter and JIT engines of the nnc tool.
#include "tools/nnc/Engine.h"
#include "tools/nnc/Commands.h"

#include "codegen/Session.h"
#include "runtime/Interpreter.h"

#include <cstdio>

namespace nnc::cli {

namespace {

class InterpreterEngine : public Engine {
public:
  InterpreterEngine(const Graph &infer, const Graph *train)
      : infer_(infer), train_(train ? std::make_unique<Graph>(*train) : nullptr),
        inferInterp_(infer_),
        trainInterp_(train_ ? std::make_unique<Interpreter>(*train_) : nullptr) {}

  Result<std::vector<Tensor>> infer(const std::vector<Tensor> &inputs) override {
    if (trainInterp_) // the training step holds the current params
      for (ValueId id : infer_.valuesOfKind(ValueKind::Param))
        inferInterp_.stateTensor(id) =
            trainInterp_->value(train_->findValue(infer_.value(id).name));
    if (Status s = inferInterp_.run(inputs); !s)
      return Result<std::vector<Tensor>>(s.takeDiags());
    std::vector<Tensor> outs;
    for (const OutputRef &o : infer_.outputs)
      outs.push_back(inferInterp_.value(o.value));
    return outs;
  }

  Result<float> trainStep(const std::vector<Tensor> &inputs) override {
    if (Status s = trainInterp_->run(inputs); !s)
      return Result<float>(s.takeDiags());
    trainInterp_->applyUpdates();
    return static_cast<float>(trainInterp_->value(train_->outputs.back().value).at(0));
  }

  StateAccess state() override {
    return interpreterState(trainInterp_ ? *trainInterp_ : inferInterp_);
  }
  const Graph &stateGraph() const override { return train_ ? *train_ : infer_; }
  const Interpreter *trainingInterpreter() const override { return trainInterp_.get(); }

private:
  Graph infer_;
  std::unique_ptr<Graph> train_;
  Interpreter inferInterp_;
  std::unique_ptr<Interpreter> trainInterp_;
};

class JitEngine : public Engine {
public:
  explicit JitEngine(std::unique_ptr<JitSession> session, const Graph &stateGraph)
      : session_(std::move(session)), stateGraph_(stateGraph) {}

  Result<std::vector<Tensor>> infer(const std::vector<Tensor> &inputs) override {
    return session_->infer(inputs);
  }
  Result<float> trainStep(const std::vector<Tensor> &inputs) override {
    return session_->trainStep(inputs);
  }
  StateAccess state() override {
    return StateAccess{[this](ValueId id) { return session_->read(stateGraph_.value(id).name); },
                       [this](ValueId id, const Tensor &t) {
                         (void)session_->write(stateGraph_.value(id).name, t);
                       }};
  }
  const Graph &stateGraph() const override { return stateGraph_; }
  JitSession *jitSession() override { return session_.get(); }

private:
  std::unique_ptr<JitSession> session_;
  Graph stateGraph_;
};

} // namespace

Status loadParams(Engine &engine, const std::string &path, CheckpointMetadata *metadata) {
  CheckpointMetadata read;
  if (Status s = loadCheckpoint(engine.stateGraph(), engine.state(), path, &read); !s)
    return s;
  if (std::string warning = checkpointModelMismatch(read, engine.stateGraph(), path);
      !warning.empty())
    std::fprintf(stderr, "nnc: warning: %s\n", warning.c_str());
  if (metadata)
    *metadata = std::move(read);
  return Ok{};
}

Result<std::unique_ptr<Engine>> createEngine(const std::string &engine, const PlannedModel &model,
                                             bool useCache, int threads) {
  using R = Result<std::unique_ptr<Engine>>;
  const Graph &infer = model.infer.graph;
  const Graph *train = model.trainGraph();
  if (engine == "interp")
    return R(std::make_unique<InterpreterEngine>(infer, train));
  if (engine != "jit")
    return R::fail("--engine must be 'jit' or 'interp', got '{}'", engine);
  CompileOptions options;
  options.useCache = useCache;
  options.threads = threads;
  auto session = JitSession::create(model, options);
  if (!session)
    return R(session.takeDiags());
  return R(std::make_unique<JitEngine>(std::move(session).value(), train ? *train : infer));
}

Result<InferenceEngine> createInferenceEngine(const Graph &model, const CommandLine &cl,
                                              int threads) {
  using R = Result<InferenceEngine>;
  PassContext ctx;
  PlanRequest inferenceOnly;
  inferenceOnly.training = false;
  auto bf16 = bf16ProductsOption(cl, "", runsCompiled(cl));
  if (!bf16)
    return R(bf16.takeDiags());
  inferenceOnly.bf16Products = *bf16;
  auto planned = planModel(model, ctx, inferenceOnly);
  if (!planned)
    return R(planned.takeDiags());
  InferenceEngine result{std::make_unique<PlannedModel>(std::move(planned).value()), nullptr};
  auto engine =
      createEngine(cl.get("engine", kDefaultEngine), *result.plan, !cl.has("no-cache"), threads);
  if (!engine)
    return R(engine.takeDiags());
  result.engine = std::move(engine).value();
  if (cl.has("params"))
    if (Status loaded = loadParams(*result.engine, cl.get("params")); !loaded)
      return R(loaded.takeDiags());
  return R(std::move(result));
}

} // namespace nnc::cli
