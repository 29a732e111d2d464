//===- ContainmentTest.cpp - No process outlives its step or service ------===//
//
// A tool's descendant that starts a session of its own (`setsid`) and whose
// parent exits (a double-fork daemon) escapes the tool's process group. It
// must still be gone when the step ends, when the step times out, when the
// run ends and when the runner is killed; a local service that daemonizes
// must be gone, its port closed, once the service is stopped. All with real
// processes.
//
//===----------------------------------------------------------------------===//
#include "RuntimeTestUtil.h"
#include "WorkflowTestUtil.h"

#include "FakeHttpServer.h"
#include "iterc/rt/Engine.h"
#include "iterc/rt/Stack.h"
#include "iterc/rt/Tool.h"

#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <chrono>
#include <csignal>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

using namespace iterc::rt;
using iterc::rt::test::edge;
using iterc::rt::test::processGone;
using iterc::rt::test::readText;
using iterc::rt::test::TempDir;

namespace {

/// Starts a double-fork daemon in a session of its own: `sleep 300`, whose
/// pid goes to daemon.pid, is reparented once its `sh` exits.
const std::string daemonize =
    "setsid sh -c 'sleep 300 & echo $! > daemon.pid' </dev/null >/dev/null "
    "2>&1 & wait; ";

/// The pid in `path` once it holds a whole line; 0 when it never does.
pid_t waitForPid(const std::string &path) {
  for (int i = 0; i < 500; ++i) {
    std::string text = readText(path);
    if (!text.empty() && text.back() == '\n')
      return pid_t(std::atol(text.c_str()));
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return 0;
}

/// Kills a process the test left behind, so that a failing check does not
/// leave a sleeper running.
struct Reaper {
  pid_t pid = 0;
  ~Reaper() {
    if (pid > 0)
      ::kill(pid, SIGKILL);
  }
};

/// True once `pid` is gone (or a zombie) within `ms` milliseconds
/// (processGone waits up to two seconds; this also times it).
bool goneWithin(pid_t pid, int ms) {
  auto started = std::chrono::steady_clock::now();
  return processGone(pid) && std::chrono::steady_clock::now() - started <=
                                 std::chrono::milliseconds(ms);
}

/// The daemon of `daemonize`, started in `dir`, is gone within a second.
void checkDaemonGone(const TempDir &dir) {
  Reaper daemon{waitForPid(dir / "daemon.pid")};
  REQUIRE(daemon.pid > 0);
  CHECK(goneWithin(daemon.pid, 1000));
}

ToolInvocation toolIn(const TempDir &dir, const std::string &command) {
  ToolInvocation inv;
  inv.command = command;
  inv.workdir = dir.path();
  inv.env = {{"PATH", "/usr/bin:/bin"}};
  return inv;
}

/// Whether something accepts TCP connections on 127.0.0.1:`port`.
bool accepts(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(uint16_t(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bool ok = ::connect(fd, reinterpret_cast<sockaddr *>(&addr), sizeof addr) == 0;
  ::close(fd);
  return ok;
}

} // namespace

TEST_CASE("containment: a setsid daemon of a tool is gone when its step "
          "ends",
          "[tool][containment]") {
  TempDir dir;
  Expected<ToolResult> ran =
      makeProcessRunner()->run(toolIn(dir, daemonize + "echo done"));
  REQUIRE(ran);
  CHECK(ran->exitCode == 0);
  CHECK(ran->stdoutText == "done\n");
  CHECK(ran->containment == "subreaper");
  checkDaemonGone(dir);
}

TEST_CASE("containment: a setsid daemon of a tool is gone when its step "
          "times out",
          "[tool][containment]") {
  TempDir dir;
  ToolInvocation inv = toolIn(dir, daemonize + "sleep 30");
  inv.timeoutMs = 300;
  auto started = std::chrono::steady_clock::now();
  Expected<ToolResult> ran = makeProcessRunner()->run(inv);
  REQUIRE(ran);
  CHECK(ran->timedOut);
  CHECK(std::chrono::steady_clock::now() - started < std::chrono::seconds(10));
  checkDaemonGone(dir);
}

TEST_CASE("containment: kill -9 of the runner takes a tool and its setsid "
          "daemon within a second",
          "[tool][containment][durable]") {
  TempDir dir;
  pid_t runner = ::fork();
  REQUIRE(runner >= 0);
  if (runner == 0) {
    ToolInvocation inv = toolIn(dir, daemonize + "echo $$ > tool.pid; sleep 30");
    inv.timeoutMs = 60000;
    (void)makeProcessRunner()->run(inv);
    ::_exit(0);
  }
  Reaper tool{waitForPid(dir / "tool.pid")};
  Reaper daemon{waitForPid(dir / "daemon.pid")};
  REQUIRE(tool.pid > 0);
  REQUIRE(daemon.pid > 0);
  ::kill(runner, SIGKILL);
  ::waitpid(runner, nullptr, 0);
  CHECK(goneWithin(tool.pid, 1000));
  CHECK(goneWithin(daemon.pid, 1000));
}

TEST_CASE("containment: a tool step's daemon does not outlive the run, and "
          "the step's event names the mechanism",
          "[tool][containment][engine]") {
  TempDir dir;
  WorkflowDesc wf;
  wf.name = "daemon";
  wf.sourceSha256 = "daemon-1";
  NodeDesc step;
  step.kind = NodeKind::Tool;
  step.name = "step";
  step.command.parts.push_back({daemonize + "echo '{\"ok\": true}'",
                                std::nullopt});
  wf.nodes.push_back(step);
  addTerminals(wf);
  wf.edges.push_back(edge(0, wf.doneIndex()));
  std::unique_ptr<RunStore> files = makeFileStore(dir / "store");
  std::unique_ptr<ToolRunner> tools = makeProcessRunner();
  EngineDeps deps;
  deps.store = files.get();
  deps.tools = tools.get();
  Engine engine(wf, deps);
  RunOptions options;
  options.runId = "daemon-run";
  options.workspace = dir.path();
  RunResult r = engine.run(options);
  INFO((r.error ? r.error->message : ""));
  REQUIRE(r.status == RunStatus::Finished);
  checkDaemonGone(dir);
  Expected<std::vector<Event>> events = files->loadEvents("daemon-run");
  REQUIRE(events);
  bool named = false;
  for (const Event &e : *events)
    if (e.type == "tool_called")
      named = e.data.value("containment", "") == "subreaper";
  CHECK(named);
}

TEST_CASE("containment: a service that daemonizes is down, port closed and "
          "pid gone, once stopped",
          "[stack-rt][containment]") {
  if (!resolveProgram("python3", {{"PATH", std::getenv("PATH")}})) {
    WARN("SKIPPED: python3 is not installed");
    return;
  }
  TempDir dir;
  int port = iterc::test::unusedPort();
  // The service's own process exits at once; the server lives on in a
  // session of its own, reparented.
  ServiceDesc s;
  s.name = "daemon";
  s.program = "sh";
  s.command = {"-c", "setsid python3 -m http.server " + std::to_string(port) +
                         " --bind 127.0.0.1 </dev/null >/dev/null 2>&1 & "
                         "echo $! > daemon.pid"};
  s.ports = {std::to_string(port)};
  s.health = HealthDesc{"/", {}, 100, 5000, 50};
  std::vector<ServiceDesc> all = {s};
  LocalRuntimeOptions opts;
  opts.workspace = dir.path();
  opts.sandbox = "off";
  opts.stopGraceMs = 1000;
  Reaper daemon;
  {
    std::unique_ptr<StackRuntime> stack = makeLocalRuntime(opts);
    Status up = stack->up(*startOrder(all, {"daemon"}));
    daemon.pid = waitForPid(dir / "daemon.pid");
    INFO((up.ok() ? "" : up.error().message));
    // Its processes live on, so the service counts as running.
    CHECK(up.ok());
    stack->down();
  }
  REQUIRE(daemon.pid > 0);
  CHECK(goneWithin(daemon.pid, 1000));
  CHECK(!accepts(port));
}
