/// Every examples/*.ir model parses and checks, and printing it is a fixed
/// point: print(parse(print(m))) == print(m).
#include "frontend/Parser.h"
#include "ir/Printer.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace nnc {
namespace {

std::vector<std::filesystem::path> exampleFiles() {
  std::vector<std::filesystem::path> files;
  for (const auto &entry : std::filesystem::directory_iterator(NNC_SOURCE_DIR "/examples"))
    if (entry.path().extension() == ".ir")
      files.push_back(entry.path());
  std::sort(files.begin(), files.end());
  return files;
}

std::string readFile(const std::filesystem::path &path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

TEST(Examples, TheCourseModelsAreThere) {
  std::vector<std::string> names;
  for (const auto &path : exampleFiles())
    names.push_back(path.filename().string());
  for (const char *want : {"mcculloch_pitts.ir", "perceptron.ir", "xor.ir", "backprop_example.ir",
                           "mlp.ir", "resnet_s.ir", "cnn.ir", "digits_mlp.ir"})
    EXPECT_NE(std::find(names.begin(), names.end(), want), names.end()) << want;
}

TEST(Examples, EachChecksAndPrintsToAFixedPoint) {
  for (const auto &path : exampleFiles()) {
    SCOPED_TRACE(path.filename().string());
    Result<Graph> g = parseModel(readFile(path), path.string());
    ASSERT_TRUE(g.ok()) << g.errorText();
    std::string printed = printGraph(*g);
    Result<Graph> again = parseModel(printed, "printed.ir");
    ASSERT_TRUE(again.ok()) << again.errorText() << "\n" << printed;
    EXPECT_EQ(printGraph(*again), printed);
  }
}

TEST(Examples, ModelNameMatchesFileName) {
  for (const auto &path : exampleFiles()) {
    Result<Graph> g = parseModel(readFile(path), path.string());
    ASSERT_TRUE(g.ok()) << g.errorText();
    EXPECT_EQ(g->name, path.stem().string());
  }
}

} // namespace
} // namespace nnc
