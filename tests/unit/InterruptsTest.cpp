// Signals and half-written files (runtime/Interrupts.h, runtime/io/AtomicFile.h):
// a signal during a write removes the temporary and ends the process as the
// signal would; inside a StopRequests scope it is only recorded; a temporary
// left by a killed process with this process's PID does not block writes.
#include "runtime/io/AtomicFile.h"
#include "runtime/Interrupts.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <fstream>

namespace nnc {
namespace {

namespace fs = std::filesystem;

fs::path freshDir(const std::string &name) {
  fs::path dir =
      fs::temp_directory_path() / ("nnc-interrupts-" + std::to_string(::getpid()) + name);
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

TEST(Interrupts, ASignalDuringAWriteRemovesTheTemporaryAndEndsTheProcess) {
  fs::path dir = freshDir("write");
  fs::path tmp = dir / "ckpt.st.tmp.1.0";
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) { // a write in progress, then SIGTERM
    installInterruptHandlers();
    std::ofstream(tmp) << "half a checkpoint";
    TempFileRegistration registered(tmp.string());
    std::raise(SIGTERM);
    ::_exit(0); // not reached: the signal ends the process
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  EXPECT_TRUE(WIFSIGNALED(status));
  EXPECT_EQ(WTERMSIG(status), SIGTERM);
  EXPECT_FALSE(fs::exists(tmp));
  fs::remove_all(dir);
}

TEST(Interrupts, InsideAStopScopeASignalIsOnlyRecorded) {
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    installInterruptHandlers();
    StopRequests stops;
    std::raise(SIGINT);
    ::_exit(StopRequests::requested() == SIGINT ? 42 : 1);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 42);
  EXPECT_EQ(StopRequests::exitStatus(SIGINT), 130);
}

TEST(Interrupts, ALeftoverWithThisProcesssPidDoesNotBlockWrites) {
  // A container restarts nnc with the same PID: a temporary of the killed
  // run carries it, and the first serial number too.
  fs::path dir = freshDir("pid");
  std::string target = (dir / "x.st").string();
  std::string leftover = target + ".tmp." + std::to_string(::getpid()) + ".0";
  std::ofstream(leftover) << "from a killed process";
  EXPECT_TRUE(isStaleTempFile(leftover));
  ASSERT_TRUE(writeFileAtomically(target, "new").ok());
  ASSERT_TRUE(writeFileAtomically(target, "newer").ok());
  std::ifstream in(target);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(text, "newer");
  size_t files = 0;
  for (const auto &e : fs::directory_iterator(dir))
    files += e.is_regular_file();
  EXPECT_EQ(files, 1u);
  fs::remove_all(dir);
}

} // namespace
} // namespace nnc

namespace nnc {
namespace {

/// An output that is not a regular file (here a pipe; `-o /dev/full` alike)
/// is an error and stays what it was, for one file and for several.
TEST(AtomicFile, AnOutputThatIsNotARegularFileIsAnErrorAndLeftAlone) {
  namespace fs = std::filesystem;
  fs::path dir = fs::temp_directory_path() / ("nnc-atomic-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  std::string pipe = (dir / "pipe").string();
  ASSERT_EQ(::mkfifo(pipe.c_str(), 0600), 0);
  Status one = writeFileAtomically(pipe, "bytes");
  ASSERT_FALSE(one.ok());
  EXPECT_NE(one.errorText().find("not a regular file"), std::string::npos) << one.errorText();
  std::string other = (dir / "other").string();
  EXPECT_FALSE(writeFilesAtomically({{other, "a"}, {pipe, "b"}}).ok());
  EXPECT_FALSE(fs::exists(other)); // nothing written
  EXPECT_TRUE(fs::is_fifo(pipe));
  fs::remove_all(dir);
}

} // namespace
} // namespace nnc
