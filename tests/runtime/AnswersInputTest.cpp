//===- AnswersInputTest.cpp - Hostile answers to a human gate -------------===//
//
// `resume --answers-file` and `--answer` are inputs a person (or a script)
// controls: a FIFO, a device, a huge file or an integer outside int64 must
// each end in a clear usage error (exit 2), never in a hang, an unbounded
// read or a silently changed number.
//
//===----------------------------------------------------------------------===//
#include "AppTestUtil.h"
#include "RuntimeTestUtil.h"
#include "WorkflowTestUtil.h"

#include "iterc/rt/App.h"

#include <catch2/catch.hpp>

#include <chrono>
#include <fcntl.h>
#include <sys/stat.h>
#include <thread>
#include <unistd.h>

using namespace iterc::rt;
using iterc::rt::test::CliResult;
using iterc::rt::test::runCli;
using iterc::rt::test::TempDir;
using iterc::rt::test::writeText;

namespace {

/// A human gate `count_gate` asking for count (int) and note (string).
WorkflowDesc countWf() {
  WorkflowDesc wf;
  wf.name = "counted";
  wf.sourceSha256 = "c1";
  wf.itercVersion = "0.1.0";
  wf.schemas.push_back(test::schema(
      "answer", {{"count", FieldType::Int}, {"note", FieldType::String}}));
  NodeDesc gate;
  gate.kind = NodeKind::Human;
  gate.name = "count_gate";
  gate.output = 0;
  gate.instructions = test::text("How many?");
  wf.nodes.push_back(gate);
  addTerminals(wf);
  wf.edges.push_back(test::edge(0, wf.doneIndex()));
  return wf;
}

CliResult cli(const WorkflowDesc &wf, const std::vector<std::string> &args) {
  static const AppInfo info{"counted", "counted.iter", "", ""};
  return runCli(wf, info, args, "./counted");
}

bool contains(const std::string &text, const std::string &part) {
  return text.find(part) != std::string::npos;
}

/// A run paused at count_gate in `store`, with the id "r".
void pausedRun(const WorkflowDesc &wf, const std::string &store) {
  CliResult paused = cli(wf, {"run", "--store-dir", store, "--run-id", "r"});
  INFO(paused.err);
  REQUIRE(paused.code == ExitPaused);
}

CliResult resumeWith(const WorkflowDesc &wf, const std::string &store,
                     std::vector<std::string> extra) {
  std::vector<std::string> args{"resume", "--store-dir", store, "--run-id",
                                "r"};
  args.insert(args.end(), extra.begin(), extra.end());
  return cli(wf, args);
}

} // namespace

TEST_CASE("answers: a FIFO as --answers-file is refused, not waited on",
          "[app][answers]") {
  WorkflowDesc wf = countWf();
  TempDir tmp;
  pausedRun(wf, tmp / "store");
  std::string fifo = tmp / "answers.fifo";
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  // A writer that gives valid answers if (and only if) the reader waits for
  // it; it gives up after two seconds so that neither side can hang.
  std::thread writer([fifo] {
    for (int i = 0; i < 200; ++i) {
      int fd = ::open(fifo.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC);
      if (fd >= 0) {
        const char answers[] = R"({"count": 1, "note": "x"})";
        ssize_t n = ::write(fd, answers, sizeof answers - 1);
        (void)n;
        ::close(fd);
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  });
  CliResult r = resumeWith(wf, tmp / "store", {"--answers-file", fifo});
  writer.join();
  INFO(r.err);
  CHECK(r.code == ExitUsage);
  CHECK(contains(r.err, "not a regular file"));
}

namespace {

/// Resumes a run paused at count_gate with `--answers-file path`: a usage
/// error that says `why`, within five seconds.
void expectRefusedFile(const std::string &path, const std::string &why) {
  WorkflowDesc wf = countWf();
  TempDir tmp;
  pausedRun(wf, tmp / "store");
  auto start = std::chrono::steady_clock::now();
  CliResult r = resumeWith(wf, tmp / "store", {"--answers-file", path});
  INFO("--answers-file " << path << ": " << r.err);
  CHECK(r.code == ExitUsage);
  CHECK(contains(r.err, why));
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(5));
}

} // namespace

TEST_CASE("answers: /dev/zero as --answers-file is refused at once",
          "[app][answers]") {
  expectRefusedFile("/dev/zero", "not a regular file");
}

TEST_CASE("answers: an --answers-file over the 16 MiB limit is refused",
          "[app][answers]") {
  TempDir tmp;
  std::string big = tmp / "big.json";
  writeText(big, "");
  REQUIRE(::truncate(big.c_str(), (16 << 20) + 1) == 0);
  expectRefusedFile(big, "larger than 16 MiB");
  expectRefusedFile(tmp.path(), "is a directory");
}

TEST_CASE("answers: an int answer outside int64 is an error, not a float",
          "[app][answers]") {
  WorkflowDesc wf = countWf();
  TempDir tmp;
  pausedRun(wf, tmp / "store");
  for (const char *number :
       {"-9223372036854775809", "9223372036854775808", "1e300", "2.5"}) {
    INFO("answers file with count " << number);
    writeText(tmp / "a.json", std::string(R"({"note": "x", "count": )") +
                                  number + "}");
    CliResult r = resumeWith(wf, tmp / "store",
                             {"--answers-file", tmp / "a.json"});
    INFO(r.err);
    CHECK(r.code == ExitUsage);
    CHECK(contains(r.err, "field 'count'"));
    CHECK(contains(r.err, "-9223372036854775808 to 9223372036854775807"));
  }
  for (const char *number : {"-9223372036854775809", "9223372036854775808"}) {
    INFO("--answer count=" << number);
    CliResult r =
        resumeWith(wf, tmp / "store",
                   {"--answer", std::string("count=") + number, "--answer",
                    "note=x"});
    INFO(r.err);
    CHECK(r.code == ExitUsage);
    CHECK(contains(r.err, std::string("'") + number + "'"));
    CHECK(contains(r.err, "-9223372036854775808 to 9223372036854775807"));
  }
  // The extremes themselves are ints and finish the run.
  CliResult ok = resumeWith(
      wf, tmp / "store",
      {"--answer", "count=-9223372036854775808", "--answer", "note=x",
       "--json"});
  INFO(ok.err);
  CHECK(ok.code == ExitFinished);
  CHECK(contains(ok.out, "-9223372036854775808"));
}

TEST_CASE("answers: --answers-file - reads standard input", "[app][answers]") {
  WorkflowDesc wf = countWf();
  TempDir tmp;
  pausedRun(wf, tmp / "store");
  writeText(tmp / "stdin.json", R"({"count": 7, "note": "from stdin"})");
  // Standard input is the file for the call, then the test's own again.
  int saved = ::dup(STDIN_FILENO);
  int file = ::open((tmp / "stdin.json").c_str(), O_RDONLY | O_CLOEXEC);
  REQUIRE(saved >= 0);
  REQUIRE(file >= 0);
  REQUIRE(::dup2(file, STDIN_FILENO) == STDIN_FILENO);
  ::close(file);
  CliResult r =
      resumeWith(wf, tmp / "store", {"--answers-file", "-", "--json"});
  ::dup2(saved, STDIN_FILENO);
  ::close(saved);
  INFO(r.err);
  CHECK(r.code == ExitFinished);
  CHECK(contains(r.out, "from stdin"));
}
