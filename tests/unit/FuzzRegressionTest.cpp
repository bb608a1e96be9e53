/// Replays the fuzzers' inputs in the normal build: every file under
/// tests/fuzz/regressions/<target>/ (inputs that once crashed, hung or broke
/// a promise), the malformed inputs tests/fuzz/malformed/<target>/ and the
/// seed corpora tests/fuzz/corpus/<target>/ go through the same checks as the
/// libFuzzer targets (tests/fuzz/FuzzTargets.h). A file `NAME.expect` beside
/// an input holds text its error must contain.
#include "tests/fuzz/FuzzTargets.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace fs = std::filesystem;

namespace {

std::string readBytes(const fs::path &p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

/// Runs every input file under `root`/<target>/; returns how many ran.
int replay(const fs::path &root) {
  int count = 0;
  if (!fs::is_directory(root))
    return 0;
  for (const auto &dir : fs::directory_iterator(root)) {
    if (!dir.is_directory())
      continue;
    std::string target = dir.path().filename().string();
    nnc::fuzz::Target run = nnc::fuzz::targetNamed(target);
    EXPECT_NE(run, nullptr) << "no fuzz target called '" << target << "' (" << dir.path() << ")";
    if (!run)
      continue;
    for (const auto &file : fs::directory_iterator(dir.path())) {
      if (!file.is_regular_file() || file.path().extension() == ".expect")
        continue;
      std::string error;
      std::string problem = run(readBytes(file.path()), &error);
      EXPECT_EQ(problem, "") << file.path();
      fs::path expect = file.path().string() + ".expect";
      if (fs::exists(expect)) {
        EXPECT_FALSE(error.empty()) << file.path() << ": expected an error, but it was accepted";
        std::string want = readBytes(expect);
        while (!want.empty() && (want.back() == '\n' || want.back() == ' '))
          want.pop_back();
        EXPECT_NE(error.find(want), std::string::npos)
            << file.path() << ": expected an error containing '" << want << "', got '" << error
            << "'";
      }
      ++count;
    }
  }
  return count;
}

} // namespace

TEST(FuzzRegression, RegressionInputsDoNotCrash) {
  replay(fs::path(NNC_SOURCE_DIR) / "tests/fuzz/regressions");
}

TEST(FuzzRegression, MalformedInputsGiveTheirErrors) {
  EXPECT_GT(replay(fs::path(NNC_SOURCE_DIR) / "tests/fuzz/malformed"), 50);
}

TEST(FuzzRegression, SeedCorporaPassTheTargetsChecks) {
  EXPECT_GT(replay(fs::path(NNC_SOURCE_DIR) / "tests/fuzz/corpus"), 20);
}
