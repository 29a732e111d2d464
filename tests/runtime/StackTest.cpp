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

#include <unistd.h>

using namespace iterc::rt;
using iterc::rt::test::TempDir;
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
