//===- ToolGuardTest.cpp - Tool processes die with their runner -----------===//
//
// A runner killed with SIGKILL while a tool sleeps must take the tool, its
// group and its escaped descendants with it: none of them may go on to do
// its side effect. A resumed step runs again (at least once) with the same
// ITERC_STEP_KEY, which the tool can use to make its effect idempotent.
//
//===----------------------------------------------------------------------===//
#include "RuntimeTestUtil.h"
#include "WorkflowTestUtil.h"

#include "iterc/rt/Engine.h"
#include "iterc/rt/Tool.h"

#include <catch2/catch.hpp>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <fstream>
#include <sstream>
#include <sys/stat.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

using namespace iterc::rt;
using iterc::rt::test::edge;
using iterc::rt::test::processGone;
using iterc::rt::test::readText;
using iterc::rt::test::TempDir;

namespace {

bool exists(const std::string &path) {
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0;
}

/// Waits until `path` holds a whole line; its text.
std::string waitForLine(const std::string &path) {
  for (int i = 0; i < 500; ++i) {
    std::string text = readText(path);
    if (!text.empty() && text.back() == '\n')
      return text;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return "";
}

} // namespace

TEST_CASE("tool guard: kill -9 of the runner kills the tool, its group and "
          "its escaped descendants before they write",
          "[tool][durable]") {
  TempDir dir;
  // The tool notes its pids, then three processes would each write a
  // canary after a second: the tool itself, a background child in its
  // group, and a descendant in a session of its own.
  std::string command =
      "sh -c 'echo $$ > escaped.pid; sleep 1; echo late > canary.escaped' "
      "</dev/null >/dev/null 2>&1 & "
      "setsid sh -c 'echo $$ > session.pid; sleep 1; "
      "echo late > canary.session' </dev/null >/dev/null 2>&1 & "
      "echo $$ > tool.pid; sleep 1; echo late > canary.tool";
  for (int trial = 0; trial < 3; ++trial) {
    INFO("trial " << trial);
    for (const char *f : {"tool.pid", "session.pid", "escaped.pid",
                          "canary.tool", "canary.session", "canary.escaped"})
      ::unlink((dir / f).c_str());
    pid_t runner = ::fork();
    REQUIRE(runner >= 0);
    if (runner == 0) {
      ToolInvocation inv;
      inv.command = command;
      inv.workdir = dir.path();
      inv.env = {{"PATH", "/usr/bin:/bin"}};
      inv.timeoutMs = 20000;
      (void)makeProcessRunner()->run(inv);
      ::_exit(0);
    }
    pid_t tool = pid_t(std::atol(waitForLine(dir / "tool.pid").c_str()));
    pid_t session = pid_t(std::atol(waitForLine(dir / "session.pid").c_str()));
    pid_t escaped = pid_t(std::atol(waitForLine(dir / "escaped.pid").c_str()));
    REQUIRE(tool > 0);
    REQUIRE(session > 0);
    REQUIRE(escaped > 0);
    ::kill(runner, SIGKILL);
    ::waitpid(runner, nullptr, 0);

    CHECK(processGone(tool));
    CHECK(processGone(session));
    CHECK(processGone(escaped));
    // Past the second the canaries would have taken.
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));
    CHECK(!exists(dir / "canary.tool"));
    CHECK(!exists(dir / "canary.session"));
    CHECK(!exists(dir / "canary.escaped"));
  }
}

TEST_CASE("tool guard: exit codes, signals and start failures pass through "
          "the guard",
          "[tool][durable]") {
  TempDir dir;
  ToolInvocation inv;
  inv.workdir = dir.path();
  inv.env = {{"PATH", "/usr/bin:/bin"}};
  inv.command = "exit 42";
  Expected<ToolResult> exited = makeProcessRunner()->run(inv);
  REQUIRE(exited);
  CHECK(exited->exitCode == 42);
  inv.command = "kill -SEGV $$";
  Expected<ToolResult> signalled = makeProcessRunner()->run(inv);
  REQUIRE(signalled);
  CHECK(signalled->exitCode == -1);
  CHECK(signalled->signal == SIGSEGV);
  inv.command = "true";
  inv.interpreter = "/nonexistent/interpreter";
  Expected<ToolResult> missing = makeProcessRunner()->run(inv);
  REQUIRE(!missing);
  CHECK(missing.error().code == ErrorCode::Tool);
}

namespace {

/// step (tool) -> done; the tool records its ITERC_STEP_KEY and
/// ITERC_RUN_ID, and the first time sleeps long enough to be killed.
WorkflowDesc keyedToolWf() {
  WorkflowDesc wf;
  wf.name = "keyed";
  wf.sourceSha256 = "keyed-1";
  NodeDesc step;
  step.kind = NodeKind::Tool;
  step.name = "step";
  step.command.parts.push_back(
      {"if [ -f keys ]; then again=1; fi; "
       "echo \"$ITERC_STEP_KEY $ITERC_RUN_ID\" >> keys; "
       "[ -n \"$again\" ] || sleep 30; echo '{\"ok\": true}'",
       std::nullopt});
  wf.nodes.push_back(step);
  addTerminals(wf);
  wf.edges.push_back(edge(0, wf.doneIndex()));
  return wf;
}

RunResult runKeyed(const std::string &store, const std::string &workspace,
                   bool resume) {
  WorkflowDesc wf = keyedToolWf();
  std::unique_ptr<RunStore> files = makeFileStore(store);
  std::unique_ptr<ToolRunner> tools = makeProcessRunner();
  EngineDeps deps;
  deps.store = files.get();
  deps.tools = tools.get();
  Engine engine(wf, deps);
  RunOptions options;
  options.runId = "keyed-run";
  options.workspace = workspace;
  return resume ? engine.resume("keyed-run", Json(), options)
                : engine.run(options);
}

} // namespace

TEST_CASE("tool guard: a step interrupted by kill -9 runs again on resume "
          "with the same ITERC_STEP_KEY",
          "[tool][durable][engine]") {
  TempDir dir;
  std::string store = dir / "store";
  std::string workspace = dir / "ws";
  REQUIRE(::mkdir(workspace.c_str(), 0755) == 0);
  pid_t runner = ::fork();
  REQUIRE(runner >= 0);
  if (runner == 0) {
    RunResult r = runKeyed(store, workspace, false);
    ::_exit(r.status == RunStatus::Finished ? 0 : 1);
  }
  std::string first = waitForLine(workspace + "/keys");
  REQUIRE(!first.empty());
  ::kill(runner, SIGKILL);
  ::waitpid(runner, nullptr, 0);

  auto started = std::chrono::steady_clock::now();
  RunResult resumed = runKeyed(store, workspace, true);
  INFO((resumed.error ? resumed.error->message : ""));
  REQUIRE(resumed.status == RunStatus::Finished);
  // The killed step's sleep did not hold anything up.
  CHECK(std::chrono::steady_clock::now() - started < std::chrono::seconds(10));
  CHECK(readText(workspace + "/keys") ==
        "keyed-run/step/main/0 keyed-run\nkeyed-run/step/main/0 keyed-run\n");
}
