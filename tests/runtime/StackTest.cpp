//===- StackTest.cpp - Services up, healthy, reachable and down -----------===//
//
// The local stack runtime against real child processes: a Python HTTP
// server as a `program` service probed over HTTP, services that never get
// healthy or die at start (the error names them and shows their log), the
// start order, teardown, and the bubblewrap sandbox when it is installed.
//
//===----------------------------------------------------------------------===//
#include "iterc/rt/Stack.h"
#include "iterc/rt/Http.h"
#include "iterc/rt/Tool.h"

#include "FakeHttpServer.h"
#include "RuntimeTestUtil.h"

#include <catch2/catch.hpp>

#include <csignal>
#include <sys/stat.h>
#include <unistd.h>

using namespace iterc::rt;
using iterc::rt::test::ScopedEnv;
using iterc::rt::test::TempDir;
using iterc::test::FakeHttpServer;
using iterc::test::FakeReply;
using iterc::test::FakeRequest;
using iterc::test::unusedPort;

namespace {

bool have(const char *program) {
  return resolveProgram(program, {{"PATH", std::getenv("PATH")}}).has_value();
}

ServiceDesc shService(const std::string &name, const std::string &script) {
  ServiceDesc s;
  s.name = name;
  s.program = "sh";
  s.command = {"-c", script};
  return s;
}

/// python3's http.server on 127.0.0.1:`port`, healthy once "/" answers.
ServiceDesc pythonWebService(const std::string &name, int port) {
  ServiceDesc s;
  s.name = name;
  s.program = "python3";
  s.command = {"-m", "http.server", std::to_string(port), "--bind",
               "127.0.0.1"};
  s.ports = {std::to_string(port)};
  s.health = HealthDesc{"/", {}, 100, 2000, 50};
  return s;
}

} // namespace

TEST_CASE("stack: port declarations and start order", "[stack-rt]") {
  CHECK(hostPort("8080") == 8080);
  CHECK(hostPort("8080:80") == 8080);
  CHECK(!hostPort("http"));
  CHECK(!hostPort("70000"));
  CHECK(!hostPort(":80"));

  std::vector<ServiceDesc> all(3);
  all[0].name = "api";
  all[0].dependsOn = {"db", "cache"};
  all[1].name = "db";
  all[2].name = "cache";
  all[2].dependsOn = {"db"};
  Expected<std::vector<const ServiceDesc *>> order = startOrder(all, {"api"});
  REQUIRE(order.ok());
  std::vector<std::string> names;
  for (const ServiceDesc *s : *order)
    names.push_back(s->name);
  CHECK(names == std::vector<std::string>{"db", "cache", "api"});

  all[1].dependsOn = {"api"};
  Expected<std::vector<const ServiceDesc *>> cycle = startOrder(all, {"api"});
  REQUIRE(!cycle.ok());
  CHECK(cycle.error().message.find("cycle") != std::string::npos);
  Expected<std::vector<const ServiceDesc *>> unknown =
      startOrder(all, {"nope"});
  REQUIRE(!unknown.ok());
  CHECK(unknown.error().message.find("unknown service 'nope'") !=
        std::string::npos);
}

TEST_CASE("stack: a program service comes up healthy, is reachable by name "
          "and goes down",
          "[stack-rt]") {
  if (!have("python3")) {
    WARN("SKIPPED: python3 is not installed");
    return;
  }
  TempDir dir;
  int port = unusedPort();
  ServiceDesc web = pythonWebService("web", port);
  std::vector<ServiceDesc> all = {web};

  LocalRuntimeOptions opts;
  opts.workspace = dir.path();
  std::unique_ptr<StackRuntime> stack = makeLocalRuntime(opts);
  Expected<std::vector<const ServiceDesc *>> order = startOrder(all, {"web"});
  REQUIRE(order.ok());
  Status up = stack->up(*order);
  INFO((up.ok() ? "" : up.error().message));
  REQUIRE(up.ok());

  std::optional<Endpoint> ep = stack->endpoint("web");
  REQUIRE(ep);
  CHECK(ep->port == port);
  std::unique_ptr<HttpTransport> http = makeHttpTransport();
  HttpRequest request;
  request.url = ep->baseUrl() + "/";
  request.timeoutMs = 2000;
  Expected<HttpResponse> response = http->send(request);
  REQUIRE(response.ok());
  CHECK(response->status == 200);
  CHECK(stack->logTail("web", 5).find("GET /") != std::string::npos);

  stack->down();
  CHECK(!stack->endpoint("web"));
  Expected<HttpResponse> after = http->send(request);
  CHECK(!after.ok()); // the server is gone
}

TEST_CASE("stack: a service that never gets healthy is named, with its log",
          "[stack-rt]") {
  TempDir dir;
  int port = unusedPort();
  ServiceDesc slow = shService("slow", "echo booting the slow service; "
                                       "exec sleep 30");
  slow.ports = {std::to_string(port)};
  slow.health = HealthDesc{"/ready", {}, 50, 500, 4};
  std::vector<ServiceDesc> all = {slow};
  LocalRuntimeOptions opts;
  opts.workspace = dir.path();
  std::unique_ptr<StackRuntime> stack = makeLocalRuntime(opts);
  Status up = stack->up(*startOrder(all, {"slow"}));
  REQUIRE(!up.ok());
  const std::string &message = up.error().message;
  CHECK(message.find("service 'slow' never became healthy") !=
        std::string::npos);
  CHECK(message.find("GET /ready failed 4 times") != std::string::npos);
  CHECK(message.find("booting the slow service") != std::string::npos);
}

TEST_CASE("stack: a service that dies at start, and a failing command check",
          "[stack-rt]") {
  TempDir dir;
  LocalRuntimeOptions opts;
  opts.workspace = dir.path();

  ServiceDesc dies = shService("dies", "echo cannot open config >&2; exit 3");
  dies.health = HealthDesc{"", {"test", "-f", "never"}, 50, 1000, 20};
  std::vector<ServiceDesc> one = {dies};
  Status up = makeLocalRuntime(opts)->up(*startOrder(one, {"dies"}));
  REQUIRE(!up.ok());
  CHECK(up.error().message.find("exited with status 3") != std::string::npos);
  CHECK(up.error().message.find("cannot open config") != std::string::npos);

  // A command health check that passes once the service wrote its file.
  ServiceDesc ready = shService("ready", "sleep 0.2; touch ready.flag; "
                                         "exec sleep 30");
  ready.health = HealthDesc{"", {"test", "-f", "ready.flag"}, 50, 1000, 40};
  ServiceDesc after = shService("after", "exec sleep 30");
  after.dependsOn = {"ready"};
  std::vector<ServiceDesc> two = {after, ready};
  std::unique_ptr<StackRuntime> stack = makeLocalRuntime(opts);
  Status both = stack->up(*startOrder(two, {"after"}));
  INFO((both.ok() ? "" : both.error().message));
  CHECK(both.ok());
  stack->down();

  ServiceDesc image;
  image.name = "db";
  image.image = "postgres:16";
  std::vector<ServiceDesc> img = {image};
  Status refused = makeLocalRuntime(opts)->up(*startOrder(img, {"db"}));
  REQUIRE(!refused.ok());
  CHECK(refused.error().message.find("container runtime") != std::string::npos);
}

TEST_CASE("stack: under bubblewrap a service sees the system read-only",
          "[stack-rt]") {
  if (!have("bwrap")) {
    WARN("SKIPPED: bubblewrap is not installed; services run unsandboxed");
    return;
  }
  TempDir dir;
  LocalRuntimeOptions opts;
  opts.workspace = dir.path();
  opts.sandbox = "on";
  ServiceDesc probe = shService(
      "probe", "if touch /usr/iterc-sandbox-probe 2>/dev/null; then echo "
               "WROTE-SYSTEM; else echo system-read-only; fi; "
               "touch in-workspace && echo workspace-writable; "
               "echo pid $$; exec sleep 30");
  probe.health = HealthDesc{"", {"test", "-f", "in-workspace"}, 50, 1000, 40};
  std::vector<ServiceDesc> all = {probe};
  std::unique_ptr<StackRuntime> stack = makeLocalRuntime(opts);
  Status up = stack->up(*startOrder(all, {"probe"}));
  INFO((up.ok() ? "" : up.error().message));
  REQUIRE(up.ok());
  std::string log = stack->logTail("probe", 10) + "\n";
  CHECK(log.find("system-read-only") != std::string::npos);
  CHECK(log.find("WROTE-SYSTEM") == std::string::npos);
  CHECK(log.find("workspace-writable") != std::string::npos);
  // Its own PID namespace: the shell is a low pid there.
  bool lowPid = log.find("pid 1\n") != std::string::npos ||
                log.find("pid 2\n") != std::string::npos;
  CHECK(lowPid);
  stack->down();
}

TEST_CASE("stack: under bubblewrap a service without ports or dependencies "
          "has no network",
          "[stack-rt]") {
  if (!have("bwrap") || !have("python3")) {
    WARN("SKIPPED: bubblewrap or python3 is not installed");
    return;
  }
  // A listener on the host's loopback that the sandboxed services try.
  int port = unusedPort();
  ServiceDesc listener = pythonWebService("listener", port);
  std::string tryIt =
      "python3 -c \"import socket,sys; s=socket.socket(); "
      "s.settimeout(2); sys.exit(s.connect_ex(('127.0.0.1'," +
      std::to_string(port) +
      ")))\" && echo REACHED || echo UNREACHABLE; exec sleep 30";
  ServiceDesc isolated = shService("isolated", tryIt);
  ServiceDesc client = shService("client", tryIt);
  client.dependsOn = {"listener"};
  std::vector<ServiceDesc> all = {listener, isolated, client};

  TempDir dir;
  LocalRuntimeOptions opts;
  opts.workspace = dir.path();
  opts.sandbox = "on";
  std::unique_ptr<StackRuntime> stack = makeLocalRuntime(opts);
  Status up = stack->up(*startOrder(all, {"listener", "isolated", "client"}));
  INFO((up.ok() ? "" : up.error().message));
  REQUIRE(up.ok());
  auto said = [&](const std::string &service) {
    for (int i = 0; i < 100; ++i) {
      std::string log = stack->logTail(service, 5);
      if (log.find("REACHED") != std::string::npos ||
          log.find("UNREACHABLE") != std::string::npos)
        return log;
      ::usleep(50000);
    }
    return std::string("(nothing)");
  };
  CHECK(said("isolated").find("UNREACHABLE") != std::string::npos);
  std::string reached = said("client");
  CHECK(reached.find("REACHED") != std::string::npos);
  CHECK(reached.find("UNREACHABLE") == std::string::npos);
  stack->down();
}

TEST_CASE("stack: a taken port is refused before the service starts, and "
          "its health check never reaches the other listener",
          "[stack-rt][stack-port]") {
  // Another program listens where the service wants to: it answers every
  // health check (the bug: the service died with "address already in use"
  // and the stack came up healthy on the other listener).
  FakeHttpServer squatter(
      [](const FakeRequest &) { return FakeReply::json(200, "{}"); });
  TempDir dir;
  ServiceDesc web = shService("web", "echo web-started; exec sleep 30");
  web.ports = {std::to_string(squatter.port())};
  web.health = HealthDesc{"/", {}, 50, 1000, 10};
  std::vector<ServiceDesc> all = {web};
  LocalRuntimeOptions opts;
  opts.workspace = dir.path();
  std::unique_ptr<StackRuntime> stack = makeLocalRuntime(opts);
  Status up = stack->up(*startOrder(all, {"web"}));
  REQUIRE(!up.ok());
  const std::string &message = up.error().message;
  INFO(message);
  CHECK(message.find("service 'web'") != std::string::npos);
  CHECK(message.find("port " + std::to_string(squatter.port()) +
                     " is already in use") != std::string::npos);
  // The holder is this test process.
  CHECK(message.find("held by pid " + std::to_string(::getpid())) !=
        std::string::npos);
  CHECK(squatter.requestCount() == 0);
  CHECK(!stack->endpoint("web"));
}

TEST_CASE("stack: a local service killed mid-run is reported once and is "
          "no longer reachable",
          "[stack-rt][stack-crash]") {
  TempDir dir;
  int port = unusedPort();
  ServiceDesc crashy = shService("crashy", "echo $$ > crashy.pid; echo "
                                           "crashy is up; exec sleep 30");
  crashy.ports = {std::to_string(port)};
  std::vector<ServiceDesc> all = {crashy};
  LocalRuntimeOptions opts;
  opts.workspace = dir.path();
  opts.sandbox = "off"; // the pid it writes is the one the test kills
  std::unique_ptr<StackRuntime> stack = makeLocalRuntime(opts);
  Status up = stack->up(*startOrder(all, {"crashy"}));
  INFO((up.ok() ? "" : up.error().message));
  REQUIRE(up.ok());
  REQUIRE(stack->endpoint("crashy"));
  CHECK(stack->ended().empty());

  pid_t pid = std::stoi(iterc::rt::test::readText(dir / "crashy.pid"));
  REQUIRE(::kill(pid, SIGKILL) == 0);
  REQUIRE(iterc::rt::test::processGone(pid));
  std::vector<ServiceExit> exits = stack->ended();
  REQUIRE(exits.size() == 1);
  CHECK(exits[0].service == "crashy");
  CHECK(exits[0].how == "was killed by signal 9");
  CHECK(exits[0].logTail.find("crashy is up") != std::string::npos);
  CHECK(stack->ended().empty()); // reported once
  CHECK(!stack->endpoint("crashy"));
  stack->down();
  CHECK(stack->ended().empty()); // stopping is not ending on its own
}

TEST_CASE("stack: a service writing as fast as it can keeps its log files "
          "under the cap, with its latest output",
          "[stack-rt][stack-log]") {
  TempDir dir;
  const uint64_t cap = 1 << 20;
  ScopedEnv capEnv("ITERC_SERVICE_LOG_BYTES", std::to_string(cap).c_str());
  ServiceDesc noisy =
      shService("noisy", "timeout 3 yes spam-spam-spam; echo LATEST-MARKER; "
                         "exec sleep 30");
  std::vector<ServiceDesc> all = {noisy};
  LocalRuntimeOptions opts;
  opts.workspace = dir.path();
  std::unique_ptr<StackRuntime> stack = makeLocalRuntime(opts);
  Status up = stack->up(*startOrder(all, {"noisy"}));
  INFO((up.ok() ? "" : up.error().message));
  REQUIRE(up.ok());
  std::string tail;
  for (int i = 0; i < 300; ++i) {
    tail = stack->logTail("noisy", 3);
    if (tail.find("LATEST-MARKER") != std::string::npos)
      break;
    ::usleep(50000);
  }
  auto size = [](const std::string &path) -> int64_t {
    struct stat st;
    return ::stat(path.c_str(), &st) == 0 ? int64_t(st.st_size) : -1;
  };
  int64_t current = size(dir / "noisy.log");
  int64_t rotated = size(dir / "noisy.log.1");
  INFO("noisy.log " << current << " bytes, noisy.log.1 " << rotated);
  CHECK(tail.find("LATEST-MARKER") != std::string::npos);
  CHECK(tail.find("spam-spam-spam") != std::string::npos);
  CHECK(current >= 0);
  CHECK(current <= int64_t(cap));
  CHECK(rotated > 0); // it wrote far more than one file's worth
  CHECK(rotated <= int64_t(cap));
  stack->down();
}

TEST_CASE("stack: a local service's workdir stays inside the workspace",
          "[stack-rt][stack-workdir]") {
  TempDir dir, outside;
  REQUIRE(::mkdir((dir / "sub").c_str(), 0755) == 0);
  REQUIRE(::symlink(outside.path().c_str(), (dir / "escape").c_str()) == 0);
  LocalRuntimeOptions opts;
  opts.workspace = dir.path();
  auto start = [&](const std::string &workdir) {
    ServiceDesc s = shService("svc", "pwd > \"$0\"; exec sleep 30");
    s.command.push_back(dir / "where.txt");
    s.workdir = workdir;
    s.health = HealthDesc{"", {"test", "-s", dir / "where.txt"}, 50, 1000, 60};
    std::vector<ServiceDesc> all = {s};
    std::unique_ptr<StackRuntime> stack = makeLocalRuntime(opts);
    Status up = stack->up(*startOrder(all, {"svc"}));
    stack->down();
    return up;
  };
  for (const std::string &bad :
       {outside.path(), std::string("../") + "x", std::string("escape")}) {
    INFO("workdir " << bad);
    ::unlink((dir / "where.txt").c_str());
    Status up = start(bad);
    CHECK(!up.ok());
    if (!up.ok()) {
      CHECK(up.error().code == ErrorCode::WorkspaceEscape);
      CHECK(up.error().message.find("service 'svc'") != std::string::npos);
    }
    CHECK(iterc::rt::test::readText(dir / "where.txt").empty());
  }
  Status inside = start("sub");
  INFO((inside.ok() ? "" : inside.error().message));
  REQUIRE(inside.ok());
  CHECK(iterc::rt::test::readText(dir / "where.txt").find("/sub") !=
        std::string::npos);
}

TEST_CASE("stack: a symlink planted as a service's log file is neither "
          "written through nor read",
          "[stack-rt][stack-log]") {
  // A tool or a model's run_command can create any file in the workspace,
  // where the local runtime keeps service logs.
  TempDir dir, outside;
  std::string victim = outside / "victim";
  iterc::rt::test::writeText(victim, "precious\n");
  REQUIRE(::symlink(victim.c_str(), (dir / "web.log").c_str()) == 0);
  ServiceDesc web = shService("web", "echo started; exec sleep 30");
  std::vector<ServiceDesc> all = {web};
  LocalRuntimeOptions opts;
  opts.workspace = dir.path();
  std::unique_ptr<StackRuntime> stack = makeLocalRuntime(opts);
  Status up = stack->up(*startOrder(all, {"web"}));
  INFO((up.ok() ? "" : up.error().message));
  CHECK_FALSE(up.ok());
  CHECK(iterc::rt::test::readText(victim) == "precious\n");
  CHECK(stack->logTail("web", 5).find("precious") == std::string::npos);
  stack->down();
}
