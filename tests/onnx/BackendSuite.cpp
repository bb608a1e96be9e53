/// The ONNX backend test suite on nnc: `nnc-onnx-backend DATA [options]`
/// walks DATA's case folders (Debian's libonnx-testdata: node,
/// pytorch-converted, pytorch-operator, simple), imports each case's
/// model.onnx, runs it on test_data_set_0 with the reference interpreter and
/// with the JIT, and compares every output with the expected one at the
/// suite's tolerance (|got - want| <= atol + rtol * |want|, rtol 1e-3,
/// atol 1e-7; integers exactly).
///
/// Each case ends in one of:
///   pass         both engines match;
///   unsupported  the import stops with its error (an op, attribute or type
///                nnc does not take): out of scope, the reason is kept;
///   FAIL         anything else: an error after a clean import, a wrong
///                number, a crash or a timeout (each case runs in a child
///                process, so one crash loses nothing else).
/// The exit status is 1 when a case FAILs that `--known FILE` does not list
/// (a line `CASE reason`), or when a listed case passes (so the list only
/// shrinks). `--table FILE` writes the results as a Markdown table.
#include "codegen/Session.h"
#include "frontend/ModelFile.h"
#include "frontend/onnx/TensorProto.h"
#include "passes/Pipeline.h"
#include "runtime/Interpreter.h"

#include <fmt/format.h>
#include <onnx/onnx_pb.h>

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace fs = std::filesystem;

namespace nnc {
namespace {

constexpr double kRtol = 1e-3, kAtol = 1e-7;

struct Outcome {
  std::string status; ///< pass, unsupported or FAIL
  std::string reason;
};

/// The first line of `text`, at most 200 characters, for the table.
std::string firstLine(const std::string &text) {
  std::string line = text.substr(0, text.find('\n'));
  if (line.size() > 200)
    line = line.substr(0, 197) + "...";
  return line;
}

bool readTensorFile(const fs::path &path, onnx::TensorProto &t) {
  std::ifstream in(path, std::ios::binary);
  return in && t.ParseFromIstream(&in);
}

/// The first mismatch between `got` and the expected tensor, or "".
std::string compare(const Tensor &got, const onnx::TensorProto &want, const std::string &what) {
  Tensor expected;
  std::string why;
  if (!onnximport::tensorFromProto(want, expected, why))
    return what + ": the expected output cannot be read: " + why;
  if (got.shape() != expected.shape())
    return fmt::format("{}: shape [{}], expected [{}]", what, fmt::join(got.shape(), ", "),
                       fmt::join(expected.shape(), ", "));
  bool integers = want.data_type() != onnx::TensorProto::FLOAT;
  for (int64_t i = 0; i < got.numel(); ++i) {
    double g = got.at(i), w = expected.at(i);
    bool same =
        integers
            ? g == w
            : (std::isnan(w)
                   ? std::isnan(g)
                   : (std::isinf(w) ? g == w : std::fabs(g - w) <= kAtol + kRtol * std::fabs(w)));
    if (!same)
      return fmt::format("{}: element {} is {}, expected {}", what, i, g, w);
  }
  return "";
}

/// Runs one case (in the child process).
Outcome runCase(const fs::path &dir) {
  Result<Graph> g = loadModel((dir / "model.onnx").string());
  if (!g) {
    std::string message = g.errorText();
    // A clean import error names what nnc does not take; anything the
    // parser or verifier rejects after the import is the importer's fault.
    bool imported = message.find("(imported)") != std::string::npos;
    size_t errors = message.find("cannot import:\n");
    std::string first = errors == std::string::npos ? message : message.substr(errors + 15);
    return {imported ? "FAIL" : "unsupported", firstLine(first)};
  }
  std::vector<onnx::TensorProto> inputs, outputs;
  fs::path data = dir / "test_data_set_0";
  for (int k = 0;; ++k) {
    onnx::TensorProto t;
    if (!fs::exists(data / fmt::format("input_{}.pb", k)))
      break;
    if (!readTensorFile(data / fmt::format("input_{}.pb", k), t))
      return {"FAIL", fmt::format("input_{}.pb does not parse", k)};
    inputs.push_back(std::move(t));
  }
  for (int k = 0; fs::exists(data / fmt::format("output_{}.pb", k)); ++k) {
    onnx::TensorProto t;
    if (!readTensorFile(data / fmt::format("output_{}.pb", k), t))
      return {"FAIL", fmt::format("output_{}.pb does not parse", k)};
    outputs.push_back(std::move(t));
  }
  std::vector<Tensor> tensors;
  for (const onnx::TensorProto &t : inputs) {
    Tensor x;
    std::string why;
    if (!onnximport::tensorFromProto(t, x, why))
      return {"unsupported", "input '" + t.name() + "': " + why};
    tensors.push_back(x);
  }
  if (tensors.size() != g->valuesOfKind(ValueKind::Input).size())
    return {"FAIL", fmt::format("{} input files for {} inputs", tensors.size(),
                                g->valuesOfKind(ValueKind::Input).size())};

  PassContext ctx;
  PlanRequest inferenceOnly;
  inferenceOnly.training = false;
  Result<PlannedModel> plan = planModel(*g, ctx, inferenceOnly);
  if (!plan)
    return {"FAIL", "planning: " + firstLine(plan.errorText())};
  const Graph &infer = plan->infer.graph;
  if (infer.outputs.size() != outputs.size())
    return {"FAIL", fmt::format("{} outputs, expected {}", infer.outputs.size(), outputs.size())};

  Interpreter interp(infer);
  if (Status s = interp.run(tensors); !s)
    return {"FAIL", "interpreter: " + firstLine(s.errorText())};
  for (size_t k = 0; k < outputs.size(); ++k)
    if (std::string d = compare(interp.value(infer.outputs[k].value), outputs[k],
                                fmt::format("interpreter, output {}", k));
        !d.empty())
      return {"FAIL", d};

  CompileOptions options;
  options.threads = 1;
  auto session = JitSession::create(*plan, options);
  if (!session)
    return {"FAIL", "JIT: " + firstLine(session.errorText())};
  Result<std::vector<Tensor>> got = (*session)->infer(tensors);
  if (!got)
    return {"FAIL", "JIT: " + firstLine(got.errorText())};
  for (size_t k = 0; k < outputs.size(); ++k)
    if (std::string d = compare((*got)[k], outputs[k], fmt::format("JIT, output {}", k));
        !d.empty())
      return {"FAIL", d};
  return {"pass", ""};
}

/// Runs one case in a child process, at most `timeout` long.
Outcome runIsolated(const fs::path &dir, std::chrono::seconds timeout) {
  int fds[2];
  if (pipe(fds) != 0)
    return {"FAIL", "pipe() failed"};
  pid_t pid = fork();
  if (pid == 0) {
    close(fds[0]);
    Outcome o = runCase(dir);
    std::string line = o.status + "\t" + o.reason;
    ssize_t written = write(fds[1], line.data(), line.size());
    _exit(written == static_cast<ssize_t>(line.size()) ? 0 : 1);
  }
  close(fds[1]);
  auto deadline = std::chrono::steady_clock::now() + timeout;
  int status = 0;
  while (waitpid(pid, &status, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() > deadline) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      close(fds[0]);
      return {"FAIL", fmt::format("timeout after {} s", timeout.count())};
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  std::string text;
  char buf[4096];
  for (ssize_t r; (r = read(fds[0], buf, sizeof buf)) > 0;)
    text.append(buf, static_cast<size_t>(r));
  close(fds[0]);
  if (WIFSIGNALED(status))
    return {"FAIL", fmt::format("crashed ({})", strsignal(WTERMSIG(status)))};
  size_t tab = text.find('\t');
  if (tab == std::string::npos)
    return {"FAIL", "the child process reported nothing"};
  return {text.substr(0, tab), text.substr(tab + 1)};
}

/// `--known FILE`: case -> reason.
std::map<std::string, std::string> readKnown(const std::string &path) {
  std::map<std::string, std::string> known;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || line[0] == '#')
      continue;
    size_t space = line.find(' ');
    known[line.substr(0, space)] = space == std::string::npos ? "" : line.substr(space + 1);
  }
  return known;
}

std::string escapeCell(std::string s) {
  for (size_t i = 0; (i = s.find('|', i)) != std::string::npos; i += 2)
    s.replace(i, 1, "\\|");
  return s;
}

int usage() {
  std::fprintf(stderr, "usage: nnc-onnx-backend DATA [--only SUBSTRING] [--known FILE] "
                       "[--table FILE] [--timeout SECONDS]\n");
  return 2;
}

int run(int argc, char **argv) {
  if (argc < 2)
    return usage();
  fs::path root = argv[1];
  std::string only, knownFile, tableFile;
  int timeout = 120;
  if (argc % 2 != 0) // flags come in pairs after DATA
    return usage();
  for (int i = 2; i + 1 < argc; i += 2) {
    std::string flag = argv[i];
    if (flag == "--only")
      only = argv[i + 1];
    else if (flag == "--known")
      knownFile = argv[i + 1];
    else if (flag == "--table")
      tableFile = argv[i + 1];
    else if (flag == "--timeout" && std::atoi(argv[i + 1]) > 0)
      timeout = std::atoi(argv[i + 1]);
    else
      return usage();
  }
  std::vector<fs::path> cases;
  std::error_code ec;
  for (const auto &suite : fs::directory_iterator(root, ec))
    for (const auto &c : fs::directory_iterator(suite.path(), ec))
      if (fs::exists(c.path() / "model.onnx") && fs::exists(c.path() / "test_data_set_0") &&
          c.path().string().find(only) != std::string::npos)
        cases.push_back(c.path());
  if (cases.empty()) {
    std::fprintf(stderr, "nnc-onnx-backend: no cases under %s\n", root.c_str());
    return 1;
  }
  std::sort(cases.begin(), cases.end());
  std::map<std::string, std::string> known =
      knownFile.empty() ? std::map<std::string, std::string>{} : readKnown(knownFile);
  std::map<std::string, int> counts;
  int unexpected = 0;
  std::string table = "| suite | case | result | reason |\n|---|---|---|---|\n";
  for (const fs::path &c : cases) {
    std::string suite = c.parent_path().filename().string(), name = c.filename().string();
    Outcome o = runIsolated(c, std::chrono::seconds(timeout));
    ++counts[o.status];
    bool listed = known.count(name) > 0;
    if (o.status == "FAIL" && !listed) {
      ++unexpected;
      std::printf("FAIL %s/%s: %s\n", suite.c_str(), name.c_str(), o.reason.c_str());
    } else if (o.status != "FAIL" && listed) {
      ++unexpected;
      std::printf("FIXED %s/%s (%s): remove it from the known failures\n", suite.c_str(),
                  name.c_str(), o.status.c_str());
    }
    std::fflush(stdout);
    table += fmt::format(
        "| {} | {} | {} | {} |\n", suite, name,
        o.status == "FAIL" && listed ? "known FAIL" : o.status,
        escapeCell(o.status == "FAIL" && listed && o.reason.empty() ? known[name] : o.reason));
  }
  std::printf("%zu cases: %d pass, %d unsupported, %d FAIL (%d not in the known failures)\n",
              cases.size(), counts["pass"], counts["unsupported"], counts["FAIL"], unexpected);
  if (!tableFile.empty()) {
    std::ofstream out(tableFile);
    out << fmt::format("{} cases: {} pass, {} unsupported, {} fail\n\n", cases.size(),
                       counts["pass"], counts["unsupported"], counts["FAIL"])
        << table;
  }
  return unexpected ? 1 : 0;
}

} // namespace
} // namespace nnc

int main(int argc, char **argv) { return nnc::run(argc, argv); }
