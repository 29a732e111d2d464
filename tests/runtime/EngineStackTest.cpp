//===- EngineStackTest.cpp - A run brings its stack up and down -----------===//
//
// The engine with a workflow that declares `services:`: the stack comes up
// (in depends_on order) before the entry node and goes down when the run
// stops — finished, failed or interrupted — and on every resume; a failed
// bring-up stops the run before any node with the service's error; verify
// nodes reach a service by name through the runtime's endpoint. The stack
// runtime here is a recording fake whose services are one loopback HTTP
// server; the real runtimes have their own tests (StackTest,
// ContainerStackTest).
//
//===----------------------------------------------------------------------===//
#include "iterc/rt/Engine.h"
#include "iterc/rt/Http.h"

#include "FakeHttpServer.h"
#include "RuntimeTestUtil.h"
#include "WorkflowTestUtil.h"

#include <catch2/catch.hpp>

#include <csignal>
#include <functional>

using namespace iterc::rt;
using iterc::rt::test::text;
using iterc::rt::test::edge;
using iterc::test::FakeHttpServer;
using iterc::test::FakeReply;
using iterc::test::FakeRequest;

namespace {

/// What the engine did with the stack.
struct StackLog {
  std::vector<std::string> calls; ///< "factory:<run>", "up:a,b", "down"
  std::string failUp;             ///< up() fails with this message.
  std::string failRestart;        ///< restart() fails with this message.
  int port = 0;                   ///< Every service's endpoint port.
};

class FakeStack : public StackRuntime {
public:
  explicit FakeStack(StackLog &log) : log(log) {}
  Status up(const std::vector<const ServiceDesc *> &services) override {
    std::string names;
    for (const ServiceDesc *s : services)
      names += (names.empty() ? "" : ",") + s->name;
    log.calls.push_back("up:" + names);
    if (!log.failUp.empty())
      return Error(ErrorCode::Tool, log.failUp);
    running = true;
    return Status::success();
  }
  Status restart(const std::vector<const ServiceDesc *> &services) override {
    std::string names;
    for (const ServiceDesc *s : services)
      names += (names.empty() ? "" : ",") + s->name;
    log.calls.push_back("restart:" + names);
    if (!log.failRestart.empty())
      return Error(ErrorCode::Tool, log.failRestart);
    running = true;
    return Status::success();
  }
  void down() override {
    if (running)
      log.calls.push_back("down");
    running = false;
  }
  std::optional<Endpoint> endpoint(const std::string &service) override {
    if (!running || service == "portless")
      return std::nullopt;
    return Endpoint{"127.0.0.1", log.port};
  }
  std::string logTail(const std::string &, size_t) override { return ""; }

private:
  StackLog &log;
  bool running = false;
};

/// services api (after db) and db; probe: verify api GET /items expecting
/// "widget"; probe -> done when passed, probe -> fail otherwise.
WorkflowDesc stackWorkflow(const std::string &service = "api") {
  WorkflowDesc wf;
  wf.name = "stacked";
  wf.sourceSha256 = "h";
  ServiceDesc api;
  api.name = "api";
  api.program = "api-server";
  api.ports = {"8080"};
  api.dependsOn = {"db"};
  ServiceDesc db;
  db.name = "db";
  db.program = "db-server";
  db.ports = {"5432"};
  wf.services = {api, db};
  wf.stack = {"api", "db"};

  NodeDesc probe;
  probe.kind = NodeKind::Verify;
  probe.name = "probe";
  HttpCheckDesc items;
  items.name = "items";
  items.service = service;
  items.path = text("/items");
  items.expectBodyContains = "widget";
  items.timeoutMs = 5000;
  probe.httpChecks.push_back(items);
  wf.nodes.push_back(probe);
  addTerminals(wf);
  iterc::rt::test::routeOnPassed(wf, 0);
  return wf;
}

struct Harness {
  FakeClock clock{1000};
  std::unique_ptr<RunStore> store = makeMemoryStore();
  std::unique_ptr<HttpTransport> http = makeHttpTransport();
  ProviderSet providers;
  StackLog log;
  std::vector<Event> events;

  EngineDeps deps(bool withStack = true) {
    EngineDeps d;
    d.store = store.get();
    d.providers = &providers;
    d.clock = &clock;
    d.http = http.get();
    d.onEvent = [this](const Event &e) { events.push_back(e); };
    if (withStack)
      d.stack = [this](const std::string &runId)
          -> Expected<std::unique_ptr<StackRuntime>> {
        log.calls.push_back("factory:" + runId);
        return std::unique_ptr<StackRuntime>(new FakeStack(log));
      };
    return d;
  }
  std::vector<std::string> types() const {
    return iterc::rt::test::eventTypes(events);
  }
  const Event *find(const std::string &type) const {
    for (const Event &e : events)
      if (e.type == type)
        return &e;
    return nullptr;
  }
};

} // namespace

TEST_CASE("engine stack: up before the entry node, probed by name, down "
          "before the run ends",
          "[engine][stack]") {
  FakeHttpServer server([](const FakeRequest &r) {
    return r.target == "/items" ? FakeReply::json(200, "[\"widget\"]")
                                : FakeReply::json(404, "{}");
  });
  Harness h;
  h.log.port = server.port();
  WorkflowDesc wf = stackWorkflow();
  Engine engine(wf, h.deps());
  RunOptions options;
  options.runId = "r1";
  RunResult r = engine.run(options);
  INFO((r.error ? r.error->message : ""));
  REQUIRE(r.status == RunStatus::Finished);
  CHECK(r.outputs["probe"]["passed"] == true);
  // db before api (depends_on), one bring-up, one teardown.
  CHECK(h.log.calls ==
        std::vector<std::string>{"factory:r1", "up:db,api", "down"});
  REQUIRE(server.requests().size() == 1);
  CHECK(server.requests()[0].target == "/items");

  std::vector<std::string> types = h.types();
  auto at = [&](const std::string &t) {
    return std::find(types.begin(), types.end(), t) - types.begin();
  };
  CHECK(at("stack_starting") < at("stack_ready"));
  CHECK(at("stack_ready") < at("node_started:probe"));
  CHECK(at("node_finished:probe") < at("stack_stopped"));
  CHECK(at("stack_stopped") < at("run_finished"));
  const Event *ready = h.find("stack_ready");
  REQUIRE(ready);
  CHECK(ready->data["services"]["api"] ==
        "http://127.0.0.1:" + std::to_string(server.port()));
}

TEST_CASE("engine stack: the stack goes down when the run fails",
          "[engine][stack]") {
  FakeHttpServer server(
      [](const FakeRequest &) { return FakeReply::json(200, "[]"); });
  Harness h;
  h.log.port = server.port();
  WorkflowDesc wf = stackWorkflow();
  Engine engine(wf, h.deps());
  RunResult r = engine.run({});
  REQUIRE(r.status == RunStatus::Failed);
  Json failures = r.outputs["probe"]["failures"];
  REQUIRE(failures.size() == 1);
  CHECK(failures[0]["check"] == "items");
  CHECK(h.log.calls.back() == "down");
  CHECK(h.find("stack_stopped"));
}

TEST_CASE("engine stack: a failed bring-up stops the run before any node, "
          "resumably, and resume brings the stack up again",
          "[engine][stack]") {
  FakeHttpServer server(
      [](const FakeRequest &) { return FakeReply::json(200, "[\"widget\"]"); });
  Harness h;
  h.log.port = server.port();
  h.log.failUp = "service 'db' never became healthy: GET /health failed";
  WorkflowDesc wf = stackWorkflow();
  Engine engine(wf, h.deps());
  RunOptions options;
  options.runId = "r2";
  RunResult r = engine.run(options);
  REQUIRE(r.status == RunStatus::FailedResumable);
  REQUIRE(r.error);
  CHECK(r.error->message.find("service 'db' never became healthy") !=
        std::string::npos);
  CHECK(!h.find("node_started"));
  const Event *failed = h.find("stack_failed");
  REQUIRE(failed);
  CHECK(failed->data["error"].get<std::string>().find("'db'") !=
        std::string::npos);
  CHECK(server.requests().empty());

  // The service is fixed; resume starts the stack again and finishes.
  h.log.failUp.clear();
  h.log.calls.clear();
  RunResult resumed = engine.resume("r2", Json::object(), {});
  INFO((resumed.error ? resumed.error->message : ""));
  REQUIRE(resumed.status == RunStatus::Finished);
  CHECK(h.log.calls ==
        std::vector<std::string>{"factory:r2", "up:db,api", "down"});
}

TEST_CASE("engine stack: an interrupted run takes its stack down",
          "[engine][stack]") {
  FakeHttpServer server(
      [](const FakeRequest &) { return FakeReply::json(200, "[\"widget\"]"); });
  Harness h;
  h.log.port = server.port();
  std::atomic<bool> interrupt{true};
  EngineDeps deps = h.deps();
  deps.interrupt = &interrupt;
  WorkflowDesc wf = stackWorkflow();
  Engine engine(wf, deps);
  RunResult r = engine.run({});
  CHECK(r.status == RunStatus::Cancelled);
  CHECK(h.log.calls.back() == "down");
  CHECK(server.requests().empty());
}

TEST_CASE("engine stack: probes without a stack, or of a portless service, "
          "fail with the reason",
          "[engine][stack]") {
  SECTION("no stack runtime") {
    Harness h;
    WorkflowDesc wf = stackWorkflow();
    Engine engine(wf, h.deps(false));
    RunResult r = engine.run({});
    REQUIRE(r.status == RunStatus::Failed);
    CHECK(r.outputs["probe"]["failures"][0]["actual"] == "no stack is running");
    CHECK(!h.find("stack_starting"));
  }
  SECTION("a service without a port") {
    Harness h;
    WorkflowDesc wf = stackWorkflow("portless");
    Engine engine(wf, h.deps());
    RunResult r = engine.run({});
    REQUIRE(r.status == RunStatus::Failed);
    CHECK(r.outputs["probe"]["failures"][0]["expected"] ==
          "service 'portless' running");
  }
}

namespace {

/// A tool that rebuilds `app` (restart: [app]), then a probe of `app`; the
/// workflow's own stack is empty: the app starts when it is built.
WorkflowDesc rebuildWorkflow(bool capture) {
  WorkflowDesc wf;
  wf.name = "rebuild";
  wf.sourceSha256 = "h";
  ServiceDesc app;
  app.name = "app";
  app.program = "./build/app";
  app.ports = {"9000"};
  wf.services = {app};
  NodeDesc build;
  build.kind = NodeKind::Tool;
  build.name = "build";
  build.command = text("make");
  build.capture = capture;
  build.restart = {"app"};
  wf.nodes.push_back(build); // 0
  NodeDesc probe;
  probe.kind = NodeKind::Verify;
  probe.name = "probe";
  HttpCheckDesc items;
  items.name = "items";
  items.service = "app";
  items.path = text("/items");
  items.expectBodyContains = "widget";
  probe.httpChecks.push_back(items);
  wf.nodes.push_back(probe); // 1
  addTerminals(wf);
  wf.edges.push_back(edge(0, 1));
  iterc::rt::test::routeOnPassed(wf, 1);
  return wf;
}

struct OkTools : ToolRunner {
  Expected<ToolResult> run(const ToolInvocation &) override {
    ToolResult r;
    r.exitCode = 0;
    r.stdoutText = "built";
    return r;
  }
};

} // namespace

TEST_CASE("engine stack: a tool's restart starts what it built before the "
          "next node, and a failed start is the tool's result",
          "[engine][stack]") {
  FakeHttpServer server(
      [](const FakeRequest &) { return FakeReply::json(200, "[\"widget\"]"); });
  Harness h;
  h.log.port = server.port();
  OkTools tools;

  SECTION("the service comes up and is probed") {
    WorkflowDesc wf = rebuildWorkflow(true);
    EngineDeps deps = h.deps();
    deps.tools = &tools;
    Engine engine(wf, deps);
    RunOptions options;
    options.runId = "r3";
    RunResult r = engine.run(options);
    INFO((r.error ? r.error->message : ""));
    REQUIRE(r.status == RunStatus::Finished);
    // No stack before the entry node; the runtime is made for the restart
    // and brought down at the end.
    CHECK(h.log.calls ==
          std::vector<std::string>{"factory:r3", "restart:app", "down"});
    CHECK(!h.find("stack_starting"));
    const Event *restarted = h.find("services_restarted");
    REQUIRE(restarted);
    CHECK(restarted->nodeId == "build");
    CHECK(restarted->data["services"]["app"] ==
          "http://127.0.0.1:" + std::to_string(server.port()));
    CHECK(h.find("stack_stopped"));
  }
  SECTION("a capturing tool reports the failed start as data") {
    h.log.failRestart = "service 'app' exited with status 1 right after "
                        "starting; the end of its log: panic";
    WorkflowDesc wf = rebuildWorkflow(true);
    EngineDeps deps = h.deps();
    deps.tools = &tools;
    Engine engine(wf, deps);
    RunResult r = engine.run({});
    REQUIRE(r.status == RunStatus::Failed); // the probe failed, then `fail`
    CHECK(r.outputs["build"]["exit_code"] == 1);
    CHECK(r.outputs["build"]["stderr"].get<std::string>().find("panic") !=
          std::string::npos);
    CHECK(h.find("service_restart_failed"));
  }
  SECTION("a tool that does not capture fails") {
    h.log.failRestart = "service 'app' never became healthy";
    WorkflowDesc wf = rebuildWorkflow(false);
    EngineDeps deps = h.deps();
    deps.tools = &tools;
    Engine engine(wf, deps);
    RunResult r = engine.run({});
    REQUIRE(r.status == RunStatus::FailedResumable);
    REQUIRE(r.error);
    CHECK(r.error->message.find("never became healthy") != std::string::npos);
    CHECK(r.node == "build");
  }
  SECTION("without a stack runtime") {
    WorkflowDesc wf = rebuildWorkflow(true);
    EngineDeps deps = h.deps(false);
    deps.tools = &tools;
    Engine engine(wf, deps);
    RunResult r = engine.run({});
    CHECK(r.outputs["build"]["exit_code"] == 1);
    CHECK(r.outputs["build"]["stderr"].get<std::string>().find(
              "no stack runtime") != std::string::npos);
  }
}

/// A python http.server run by sh, which writes its pid to api.pid and
/// prints `secret` to its log.
static ServiceDesc killableApi(const std::string &secret) {
  std::string port = std::to_string(iterc::test::unusedPort());
  ServiceDesc api;
  api.name = "api";
  api.program = "sh";
  api.env = {{"TOKEN", secret}};
  api.command = {"-c", "echo $$ > api.pid; echo \"api is serving with "
                       "$TOKEN\"; exec python3 "
                       "-m http.server " +
                           port + " --bind 127.0.0.1"};
  api.ports = {port};
  api.health = HealthDesc{"/", {}, 100, 2000, 50};
  return api;
}

/// The local runtime in `dir`, without the sandbox (the pid a service
/// writes is then the one a test kills).
static std::function<Expected<std::unique_ptr<StackRuntime>>(const std::string &)>
localStackIn(const std::string &dir) {
  return [dir](const std::string &) -> Expected<std::unique_ptr<StackRuntime>> {
    LocalRuntimeOptions o;
    o.workspace = dir;
    o.sandbox = "off";
    return makeLocalRuntime(o);
  };
}

/// Kills the service killableApi started in `dir`, and waits until it is
/// gone.
static void killApi(const std::string &dir) {
  pid_t pid = std::stoi(iterc::rt::test::readText(dir + "/api.pid"));
  REQUIRE(::kill(pid, SIGKILL) == 0);
  CHECK(iterc::rt::test::processGone(pid));
}

TEST_CASE("engine stack: a local service killed mid-run is reported and "
          "fails the verify that reaches it",
          "[engine][stack][stack-crash]") {
  if (!resolveProgram("python3", {{"PATH", std::getenv("PATH")}})) {
    WARN("SKIPPED: python3 is not installed");
    return;
  }
  iterc::rt::test::TempDir dir;
  // It prints a secret of the run (a canary): every place its log tail
  // shows up is masked.
  const std::string canary = "canary-svc-7f3a9c1e";
  ServiceDesc api = killableApi(canary);
  WorkflowDesc wf = iterc::rt::test::actThenProbeWorkflow(api, "/");
  VarDesc token;
  token.name = "token";
  token.secret = true;
  wf.vars.push_back(token);

  Harness h;
  EngineDeps deps = h.deps(false);
  deps.stack = localStackIn(dir.path());
  // The tool node kills the service; the verify node comes next.
  iterc::rt::test::CallbackTools tools([&] { killApi(dir.path()); });
  deps.tools = &tools;
  Engine engine(wf, deps);
  RunOptions options;
  options.workspace = dir.path();
  options.vars["token"] = canary;
  RunResult r = engine.run(options);
  CHECK(r.status == RunStatus::FailedResumable); // a resume starts it again
  REQUIRE(r.error);
  const std::string &message = r.error->message;
  INFO(message);
  CHECK(message.find("service 'api'") != std::string::npos);
  CHECK(message.find("killed by signal 9") != std::string::npos);
  CHECK(message.find("api is serving") != std::string::npos); // its log
  CHECK(r.node == "probe");
  const Event *exited = h.find("service_exited");
  REQUIRE(exited);
  CHECK(exited->data["service"] == "api");
  CHECK(exited->data["how"] == "was killed by signal 9");
  CHECK(exited->data["log_tail"].get<std::string>().find(
            "api is serving with [redacted]") != std::string::npos);
  for (const Event &e : h.events) {
    INFO(e.type);
    CHECK(e.data.dump().find(canary) == std::string::npos);
  }
  Expected<RunRecord> record = h.store->loadRun(r.runId);
  REQUIRE(record.ok());
  CHECK(record->error.dump().find(canary) == std::string::npos);
  CHECK(record->error.dump().find("killed by signal 9") != std::string::npos);
}

TEST_CASE("engine stack: a service with restart: on-failure is started again "
          "after a crash, and the verify that reaches it passes",
          "[engine][stack][stack-crash]") {
  if (!resolveProgram("python3", {{"PATH", std::getenv("PATH")}})) {
    WARN("SKIPPED: python3 is not installed");
    return;
  }
  iterc::rt::test::TempDir dir;
  ServiceDesc api = killableApi("not-a-secret");
  api.restart = "on-failure";
  api.maxRestarts = 1;
  WorkflowDesc wf = iterc::rt::test::actThenProbeWorkflow(api, "/");
  Harness h;
  EngineDeps deps = h.deps(false);
  deps.stack = localStackIn(dir.path());
  iterc::rt::test::CallbackTools tools([&] { killApi(dir.path()); });
  deps.tools = &tools;
  Engine engine(wf, deps);
  RunOptions options;
  options.workspace = dir.path();
  RunResult r = engine.run(options);
  INFO((r.error ? r.error->message : std::string("no error")));
  CHECK(r.status == RunStatus::Finished);
  const Event *exited = h.find("service_exited");
  REQUIRE(exited);
  CHECK(exited->data["how"] == "was killed by signal 9");
  const Event *restarted = h.find("services_restarted");
  REQUIRE(restarted);
  CHECK(restarted->data["restarts"] == 1);
  CHECK(restarted->data["policy"] == "on-failure");

  // Without the policy the same crash fails the run (the test above); with
  // its one restart used up, a second crash would too.
  api.restart.clear();
  WorkflowDesc plain = iterc::rt::test::actThenProbeWorkflow(api, "/");
  Harness h2;
  EngineDeps deps2 = h2.deps(false);
  deps2.stack = localStackIn(dir.path());
  deps2.tools = &tools;
  Engine engine2(plain, deps2);
  CHECK(engine2.run(options).status == RunStatus::FailedResumable);
  CHECK_FALSE(h2.find("services_restarted"));
}
