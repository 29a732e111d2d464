//===- InterruptTest.cpp - Ctrl-C, once and twice, on a real process ------===//
//
// The executable's entry point (appMain with argv, which installs the
// SIGINT/SIGTERM handlers) runs in a forked child, as a generated main()
// would; the test signals that process while a slow tool runs. Whatever the
// number of signals, the run must end recorded as `cancelled` (run.json and
// events.jsonl agree) and `inspect` must accept it.
//
//===----------------------------------------------------------------------===//
#include "AppTestUtil.h"
#include "RuntimeTestUtil.h"
#include "WorkflowTestUtil.h"

#include "iterc/rt/App.h"
#include "iterc/rt/Core.h"

#include <catch2/catch.hpp>

#include <chrono>
#include <csignal>
#include <fcntl.h>
#include <sstream>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

using namespace iterc::rt;
using iterc::rt::test::readText;
using iterc::rt::test::runCli;
using iterc::rt::test::TempDir;

namespace {

const AppInfo &slowInfo() {
  static const AppInfo info{"slow", "slow.iter", "", ""};
  return info;
}

/// slow (tool: sleep 30) -> done.
WorkflowDesc slowWf() {
  WorkflowDesc wf;
  wf.name = "slow";
  wf.sourceSha256 = "s1";
  wf.itercVersion = "0.1.0";
  NodeDesc tool;
  tool.kind = NodeKind::Tool;
  tool.name = "slow";
  tool.command = test::text("sleep 30");
  wf.nodes.push_back(tool);
  addTerminals(wf);
  wf.edges.push_back(test::edge(0, wf.doneIndex()));
  return wf;
}

/// Starts `args` through appMain(argc, argv) in a child process with its
/// output in `dir`/out and `dir`/err.
pid_t spawnApp(const WorkflowDesc &wf, const std::string &dir,
               std::vector<std::string> args) {
  args.insert(args.begin(), "./slow");
  pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    int out = ::open((dir + "/out").c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                     0600);
    int err = ::open((dir + "/err").c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                     0600);
    ::dup2(out, STDOUT_FILENO);
    ::dup2(err, STDERR_FILENO);
    std::vector<char *> argv;
    for (std::string &a : args)
      argv.push_back(a.data());
    argv.push_back(nullptr);
    int code = appMain(wf, slowInfo(), int(args.size()), argv.data());
    std::fflush(stdout);
    std::fflush(stderr);
    ::_exit(code);
  }
  return pid;
}

/// Waits until `path` contains `part`, for at most ten seconds.
bool waitForText(const std::string &path, const std::string &part) {
  for (int i = 0; i < 1000; ++i) {
    if (readText(path).find(part) != std::string::npos)
      return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

/// The child's wait status, or -1 after `seconds` (the child is then
/// killed).
int waitStatus(pid_t pid, int seconds) {
  for (int i = 0; i < seconds * 100; ++i) {
    int status = 0;
    if (::waitpid(pid, &status, WNOHANG) == pid)
      return status;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ::kill(pid, SIGKILL);
  int status = 0;
  ::waitpid(pid, &status, 0);
  return -1;
}

/// The events of a run's log, one JSON object a line.
std::vector<Json> events(const std::string &path) {
  std::vector<Json> lines;
  std::istringstream in(readText(path));
  std::string line;
  while (std::getline(in, line))
    if (std::optional<Json> j = parseJson(line))
      lines.push_back(*j);
  return lines;
}

/// Runs the slow workflow, sends `signals` SIGINTs once its tool started,
/// and checks that the run is recorded as cancelled. Returns the exit code
/// (-1 when killed by a signal or hung).
int interruptedRun(int signals) {
  WorkflowDesc wf = slowWf();
  TempDir tmp;
  std::string store = tmp / "store";
  std::string runDir = store + "/runs/r";
  pid_t pid = spawnApp(wf, tmp.path(),
                       {"run", "--store-dir", store, "--run-id", "r",
                        "--workspace", tmp.path()});
  REQUIRE(waitForText(runDir + "/events.jsonl", "\"tool_started\""));
  auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < signals; ++i) {
    ::kill(pid, SIGINT);
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  int status = waitStatus(pid, 20);
  INFO("stderr: " << readText(tmp / "err"));
  INFO("stdout: " << readText(tmp / "out"));
  INFO("wait status " << status);
  REQUIRE(status != -1);
  int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  if (WIFSIGNALED(status))
    WARN("the child was killed by signal " << WTERMSIG(status));
  if (signals >= 2) // The tool was stopped, not waited for.
    CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(10));

  std::optional<Json> record = parseJson(readText(runDir + "/run.json"));
  REQUIRE(record.has_value());
  CHECK((*record)["status"] == "cancelled");
  std::vector<Json> log = events(runDir + "/events.jsonl");
  REQUIRE(!log.empty());
  CHECK(log.back()["type"] == "run_failed");
  CHECK(log.back()["data"]["status"] == "cancelled");

  test::CliResult shown =
      runCli(wf, slowInfo(), {"inspect", "--store-dir", store, "--run-id", "r"},
             "./slow");
  INFO(shown.err);
  CHECK(shown.code == 0);
  CHECK(shown.out.find("cancelled") != std::string::npos);
  return code;
}

} // namespace

TEST_CASE("interrupt: a second Ctrl-C stops the tool, records the run "
          "cancelled and exits 130",
          "[app][interrupt]") {
  CHECK(interruptedRun(2) == 130);
}
