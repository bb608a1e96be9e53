/// DataParallel (tools/nnc/DataParallel.h).
#include "tools/nnc/DataParallel.h"

#include "codegen/Layout.h"
#include "codegen/Session.h"
#include "ir/Printer.h"

namespace nnc::cli {

namespace {

/// FNV-1a: a stable 64-bit hash, the same in every process of one build.
int64_t fnv1a(const void *data, size_t bytes) {
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < bytes; ++i)
    h = (h ^ static_cast<const unsigned char *>(data)[i]) * 1099511628211ull;
  return static_cast<int64_t>(h >> 1); // non-negative for allreduceMax
}

/// The first rank whose `mine` differs from rank 0's (0: none), and rank 0's.
std::pair<int64_t, int64_t> firstDifferent(Communicator &comm, int64_t mine) {
  int64_t first = mine;
  comm.broadcast(&first, sizeof first, 0);
  int64_t differs = comm.size() - comm.allreduceMax(mine != first ? comm.size() - comm.rank() : 0);
  return {differs == comm.size() ? 0 : differs, first};
}

/// Rows [begin, end) of a tensor whose first dim is the batch, in place.
Tensor rows(const Tensor &t, int64_t begin, int64_t end) {
  std::vector<int64_t> shape = t.shape();
  int64_t perRow = shape[0] > 0 ? t.numel() / shape[0] : 0;
  shape[0] = end - begin;
  auto *data = static_cast<char *>(const_cast<void *>(t.data())) + begin * perRow * 4;
  return Tensor::borrow(t.dtype(), std::move(shape), data);
}

} // namespace

Result<std::unique_ptr<DataParallel>> DataParallel::create(Communicator &comm, Engine &engine,
                                                           const PlannedModel &planned,
                                                           uint64_t bucketBytes) {
  using R = Result<std::unique_ptr<DataParallel>>;
  JitSession *session = engine.jitSession();
  if (!session || !planned.split)
    return R::fail("data-parallel training runs the JIT (--engine jit, no --check-numerics) on "
                   "a model with 'minimize'");
  const PlannedModel::Split &split = *planned.split;
  GradientLayout layout = layoutGradients(split.gradients.graph, split.params);
  std::vector<std::pair<uint64_t, uint64_t>> params;
  for (size_t i = 0; i < layout.entries.size(); ++i) {
    uint64_t end = i + 1 < layout.entries.size() ? layout.entries[i + 1].second : layout.size;
    params.emplace_back(layout.entries[i].second, end - layout.entries[i].second);
  }
  std::vector<std::string> averaged, counters;
  const Graph &g = split.gradients.graph;
  for (const Update &u : g.updates) {
    const Type &t = g.type(u.target);
    if (t.dtype == DType::F32)
      averaged.push_back(g.value(u.target).name);
    else if (t.rank() == 0)
      counters.push_back(g.value(u.target).name);
  }
  auto parallel = std::unique_ptr<DataParallel>(new DataParallel(
      comm, *session, std::move(params), bucketBytes, layout.size, std::move(averaged)));
  parallel->counters_ = std::move(counters);
  return R(std::move(parallel));
}

DataParallel::DataParallel(Communicator &comm, JitSession &session,
                           std::vector<std::pair<uint64_t, uint64_t>> params, uint64_t bucketBytes,
                           uint64_t gradientBytes, std::vector<std::string> averaged)
    : comm_(comm), session_(session), gradients_(gradientBytes / 4, 0.0f),
      reducer_(comm, std::move(params), bucketBytes), averaged_(std::move(averaged)) {}

Status DataParallel::checkSameSettings(Communicator &comm, const std::string &settings) {
  auto [differs, first] = firstDifferent(comm, fnv1a(settings.data(), settings.size()));
  if (differs == 0)
    return Ok{};
  // Rank 0 reports (tools/nnc/TrainCommand.cpp): its own settings.
  return Status::fail(
      "rank {}'s training settings differ from rank 0's ({}): every rank needs the "
      "same --batch, --seed, --epochs, --lr-schedule, --bucket-kb and starting point",
      differs, settings);
}

Status DataParallel::checkSameModel(Communicator &comm, const Graph &model) {
  std::string printed = printGraph(model);
  auto [differs, first] = firstDifferent(comm, fnv1a(printed.data(), printed.size()));
  if (differs == 0)
    return Ok{};
  return Status::fail("rank {} was started with another model than rank 0 (printed-model hash "
                      "{:016x} on rank 0): start every rank with the same model file and --lr",
                      differs, first);
}

Status DataParallel::checkSameState() {
  auto [differs, first] = firstDifferent(comm_, fnv1a(session_.stateData(), session_.stateBytes()));
  if (differs == 0)
    return Ok{};
  return Status::fail("rank {}'s params and state differ from rank 0's (state hash {:016x} on "
                      "rank 0): the ranks' sums of the gradients disagree",
                      differs, first);
}

void DataParallel::broadcastState() {
  comm_.broadcast(session_.stateData(), static_cast<int64_t>(session_.stateBytes()), 0);
}

Result<float> DataParallel::step(const std::vector<Tensor> &inputs) {
  int64_t n = 0;
  for (const Tensor &t : inputs)
    if (!t.empty() && t.rank() > 0)
      n = t.dim(0);
  int64_t r = comm_.rank(), size = comm_.size();
  int64_t begin = r * n / size, end = (r + 1) * n / size;
  float share = n > 0 ? static_cast<float>(end - begin) / static_cast<float>(n) : 0.0f;
  reducer_.begin(gradients_.data(), share);
  float loss = 0;
  Status computed = Ok{};
  // Dropout's step counter: rank r counts step t as t N + r for this step,
  // so that ranks draw different masks; every rank then holds t + 1.
  std::vector<int32_t> counts;
  for (const std::string &name : counters_) {
    Tensor t = session_.read(name);
    counts.push_back(t.i32()[0]);
    t.i32()[0] = static_cast<int32_t>(t.i32()[0] * size + r);
    (void)session_.write(name, t);
  }
  if (end > begin) {
    std::vector<Tensor> mine;
    for (const Tensor &t : inputs)
      mine.push_back(t.empty() || t.rank() == 0 ? t : rows(t, begin, end));
    auto local =
        session_.computeGradients(mine, gradients_.data(), &GradientReducer::ready, &reducer_);
    if (local)
      loss = *local;
    else
      computed = Status(local.takeDiags());
  }
  if (end <= begin) { // no rows here: zeros to the others' sums
    std::fill(gradients_.begin(), gradients_.end(), 0.0f);
    reducer_.allReady();
  } else if (!computed) { // the step stops everywhere: what is summed does not matter
    reducer_.allReady();
  }
  reducer_.finish();
  for (size_t i = 0; i < counters_.size(); ++i) {
    Tensor t = session_.read(counters_[i]);
    t.i32()[0] = counts[i] + 1;
    (void)session_.write(counters_[i], t);
  }
  // A process's error (a label out of range in its rows) stops them all.
  if (Status s = agree(comm_, computed); !s)
    return Result<float>(s.takeDiags());
  float weighted = loss * share;
  comm_.allreduceSum(&weighted, 1);
  if (Status s = session_.applyGradients(gradients_.data()); !s)
    return Result<float>(s.takeDiags());
  averageStates();
  return weighted;
}

void DataParallel::averageStates() {
  for (const std::string &name : averaged_) {
    Tensor t = session_.read(name);
    comm_.allreduceSum(t.f32(), t.numel());
    float inverse = 1.0f / static_cast<float>(comm_.size());
    for (int64_t i = 0; i < t.numel(); ++i)
      t.f32()[i] *= inverse;
    (void)session_.write(name, t);
  }
}

} // namespace nnc::cli
