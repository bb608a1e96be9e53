/// `nnc sample M.ir --params P --prompt TEXT --length N`: text from a
/// byte-level language model (a model whose first input is i32[B, T] and
/// whose output is the next byte's logits f32[B, T, 256]), one byte at a
/// time through the compiled inference graph.
#include "runtime/SplitMix64.h"
#include "tools/nnc/CommandLine.h"
#include "tools/nnc/Commands.h"
#include "tools/nnc/Engine.h"

#include <cmath>
#include <cstdio>

namespace nnc::cli {

namespace {

/// The bytes a model of this context length sees and reads its logits at.
struct LanguageModel {
  ValueId tokens = kNoValue; ///< i32[B, T]
  ValueId logits = kNoValue; ///< f32[B, T, V]
  int64_t context = 0;       ///< T
  int64_t vocabulary = 0;    ///< V
};

Result<LanguageModel> findLanguageModel(const Graph &g) {
  using R = Result<LanguageModel>;
  std::vector<ValueId> inputs = g.valuesOfKind(ValueKind::Input);
  if (inputs.empty())
    return R::fail("model '{}' has no input; sampling needs the bytes input i32[B, T]", g.name);
  LanguageModel lm;
  lm.tokens = inputs[0];
  const Type &t = g.type(lm.tokens);
  if (t.dtype != DType::I32 || t.rank() != 2 || !t.shape[1].isStatic())
    return R::fail("model '{}': its first input '{}: {}' must be i32[B, T] (bytes) to sample",
                   g.name, g.value(lm.tokens).name, g.typeString(lm.tokens));
  lm.context = t.shape[1].size;
  for (const OutputRef &o : g.outputs) {
    const Type &ot = g.type(o.value);
    if (ot.dtype == DType::F32 && ot.rank() == 3 && ot.shape[1].isStatic() &&
        ot.shape[1].size == lm.context && ot.shape[2].isStatic()) {
      lm.logits = o.value;
      lm.vocabulary = ot.shape[2].size;
      break;
    }
  }
  if (lm.logits == kNoValue)
    return R::fail("model '{}' has no output of the next byte's logits f32[B, {}, V]", g.name,
                   lm.context);
  if (lm.vocabulary < 2 || lm.vocabulary > 256)
    return R::fail("model '{}': its logits '{}' have {} classes; sampling bytes needs 2 to 256",
                   g.name, g.value(lm.logits).name, lm.vocabulary);
  return lm;
}

/// A byte drawn from softmax(logits / temperature); the most likely one at
/// temperature 0.
int drawByte(const float *logits, int64_t v, double temperature, SplitMix64 &rng) {
  int64_t best = 0;
  for (int64_t c = 1; c < v; ++c)
    if (logits[c] > logits[best])
      best = c;
  if (temperature <= 0)
    return static_cast<int>(best);
  std::vector<double> p(static_cast<size_t>(v));
  double total = 0;
  for (int64_t c = 0; c < v; ++c)
    total += p[static_cast<size_t>(c)] = std::exp((logits[c] - logits[best]) / temperature);
  double u = rng.uniform() * total;
  for (int64_t c = 0; c < v; ++c) {
    u -= p[static_cast<size_t>(c)];
    if (u < 0)
      return static_cast<int>(c);
  }
  return static_cast<int>(best);
}

/// The window of the last T bytes of `text`, left-aligned (a causal model's
/// position k sees bytes 0..k only, so the padding after it changes
/// nothing); returns the position whose logits predict the next byte.
int64_t fillWindow(const std::string &text, int64_t context, Tensor &window) {
  auto n = static_cast<int64_t>(text.size());
  int64_t start = std::max<int64_t>(0, n - context), used = n - start;
  for (int64_t k = 0; k < context; ++k)
    window.i32()[k] = k < used ? static_cast<unsigned char>(text[static_cast<size_t>(start + k)])
                               : static_cast<int32_t>(' ');
  return used - 1;
}

} // namespace

const CommandSpec &sampleCommandSpec() {
  static const CommandSpec spec{
      "sample",
      "M.ir --params P --prompt TEXT --length N [options]",
      "generate text with a trained byte-level language model",
      "Continues TEXT by N bytes, one at a time: the last T bytes (the context of the\n"
      "model's first input, i32[B, T]) go through the compiled inference graph, and the\n"
      "next byte is drawn from the logits at the last position (an output f32[B, T, V])\n"
      "at the given temperature. Prints the prompt and the bytes drawn. The same seed\n"
      "gives the same text.",
      withEngineOptions({
          option("params", "P", "params and state from a checkpoint (default: initializers)"),
          option("prompt", "TEXT", "the text to continue (default: empty)"),
          required(option("length", "N", "bytes to generate")),
          option("temperature", "T", "0 takes the most likely byte (default 0.8)"),
          option("seed", "S", "the sampling seed (default 0)"),
      }),
      {"nnc sample examples/transformer_lm.ir --params lm.safetensors --prompt 'The ' "
       "--length 300"}};
  return spec;
}

int sampleCommand(const Args &args) {
  int status = 0;
  auto cl = parseCommandLine(args, sampleCommandSpec(), status);
  if (!cl)
    return status;
  auto threads = parseThreads(*cl);
  if (!threads)
    return report(threads.diags());
  auto length = positiveIntOption(*cl, "length", 1);
  if (!length)
    return report(length.diags());
  auto temperature = numberOption(*cl, "temperature", 0.8);
  if (!temperature)
    return report(temperature.diags());
  auto seed = seedOption(*cl, 0);
  if (!seed)
    return report(seed.diags());
  if (*temperature < 0)
    return fail(fmt::format("--temperature must be 0 or more, got {}", *temperature));
  Result<Graph> model = loadModelArgument(*cl);
  if (!model)
    return report(model.diags());
  auto lm = findLanguageModel(*model);
  if (!lm)
    return report(lm.diags());
  Graph g = std::move(model).value();
  g.outputs = {OutputRef{lm->logits, g.loc}};
  g.minimize.reset();
  auto engine = createInferenceEngine(g, *cl, *threads);
  if (!engine)
    return report(engine.diags());

  std::string text = cl->get("prompt");
  std::fputs(text.c_str(), stdout);
  std::vector<Tensor> inputs(g.valuesOfKind(ValueKind::Input).size());
  inputs[0] = Tensor(DType::I32, {1, lm->context});
  SplitMix64 rng(*seed);
  for (int64_t i = 0; i < *length; ++i) {
    int64_t at = fillWindow(text, lm->context, inputs[0]);
    if (at < 0) // an empty prompt: start from a newline, as after a text's last line
      at = fillWindow(text = "\n", lm->context, inputs[0]);
    auto out = engine->engine->infer(inputs);
    if (!out)
      return report(out.diags());
    const float *row = (*out)[0].f32() + at * lm->vocabulary;
    auto byte = static_cast<char>(drawByte(row, lm->vocabulary, *temperature, rng));
    text += byte;
    std::fputc(byte, stdout);
  }
  std::fputc('\n', stdout);
  return std::fflush(stdout) == 0 ? 0 : fail("cannot write to standard output");
}

} // namespace nnc::cli
