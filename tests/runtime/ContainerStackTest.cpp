//===- ContainerStackTest.cpp - Services as podman containers -------------===//
//
// The container stack runtime against real podman containers: a FROM
// scratch image holding the static test service (tests/stack/stacksvc.cpp)
// runs as a store and an api in front of it (host network and the stack's
// own network), a `build` service from a generated Dockerfile with a
// command health check inside the container, services that never get
// healthy or die at start, an image that is not there, and the engine
// lookup. Every test uses its own project name and leaves no container,
// network or image behind. Without podman the tests say SKIPPED (CTest
// reports them as skipped).
//
// This machine's podman needs `--runtime runc --storage-driver vfs` and a
// containers.conf without default ulimits (as tests/container/image_test.sh
// does); ITERC_CONTAINER_ARGS and CONTAINERS_CONF override both.
//
//===----------------------------------------------------------------------===//
#include "iterc/rt/Http.h"
#include "iterc/rt/Stack.h"
#include "iterc/rt/Tool.h"

#include "iterc/rt/Engine.h"

#include "FakeHttpServer.h"
#include "RuntimeTestUtil.h"
#include "WorkflowTestUtil.h"

#include <catch2/catch.hpp>

#include <cstdlib>
#include <unistd.h>

using namespace iterc::rt;
using iterc::rt::test::ScopedEnv;
using iterc::rt::test::TempDir;
using iterc::test::unusedPort;

namespace {

const char *const kStackSvcDockerfile = "FROM scratch\n"
                                        "COPY stacksvc /stacksvc\n"
                                        "ENTRYPOINT [\"/stacksvc\"]\n";

bool havePodman() {
  const char *path = std::getenv("PATH");
  return resolveProgram("podman", {{"PATH", path ? path : ""}}).has_value();
}

std::string uniqueProject() {
  static int counter = 0;
  return "iterc-ctest-" + std::to_string(::getpid()) + "-" +
         std::to_string(++counter);
}

bool contains(const std::string &text, const std::string &part) {
  return text.find(part) != std::string::npos;
}

/// podman with this machine's settings, for the tests' own commands; and
/// the options a container runtime gets.
class Podman {
  TempDir dir; // first: the others use it
  std::string conf;
  std::optional<ScopedEnv> confEnv;

public:
  Podman() : conf(dir / "containers.conf") {
    if (const char *args = std::getenv("ITERC_CONTAINER_ARGS"))
      engineArgs = splitWords(args);
    else
      engineArgs = {"--runtime", "runc", "--storage-driver", "vfs"};
    if (!std::getenv("CONTAINERS_CONF")) {
      std::string write = "printf '[containers]\\ndefault_ulimits = []\\n' > " +
                          shellQuote(conf);
      REQUIRE(std::system(write.c_str()) == 0);
      confEnv.emplace("CONTAINERS_CONF", conf.c_str());
    }
  }

  /// `podman <engineArgs> args...`, its exit code and stdout.
  ToolResult run(const std::vector<std::string> &args) {
    std::string command = "podman";
    for (const std::string &a : engineArgs)
      command += " " + shellQuote(a);
    for (const std::string &a : args)
      command += " " + shellQuote(a);
    ToolInvocation inv;
    inv.command = command;
    inv.workdir = dir.path();
    for (const char *name : {"PATH", "HOME", "CONTAINERS_CONF", "TMPDIR"})
      if (const char *v = std::getenv(name))
        inv.env.emplace_back(name, v);
    inv.timeoutMs = 300000;
    Expected<ToolResult> r = makeProcessRunner()->run(inv);
    REQUIRE(r.ok());
    return *r;
  }

  /// The names of the containers (running or not) of a project.
  std::string containersOf(const std::string &project) {
    return run({"ps", "-a", "--filter", "label=iterc.project=" + project,
                "--format", "{{.Names}}"})
        .stdoutText;
  }

  ContainerRuntimeOptions options(const std::string &workspace,
                                  const std::string &project) {
    ContainerRuntimeOptions o;
    o.engine = "podman";
    o.engineArgs = engineArgs;
    o.project = project;
    o.workspace = workspace;
    o.stopGraceMs = 2000;
    return o;
  }

  std::vector<std::string> engineArgs;
};

/// A build context with the static test service and its Dockerfile.
void writeStackSvcContext(const std::string &context, bool withDockerfile) {
  std::string command = "mkdir -p " + shellQuote(context) + " && cp " +
                        shellQuote(ITERC_STACKSVC) + " " +
                        shellQuote(context + "/stacksvc");
  if (withDockerfile)
    command += " && printf '%s' " + shellQuote(kStackSvcDockerfile) + " > " +
               shellQuote(context + "/Dockerfile");
  REQUIRE(std::system(command.c_str()) == 0);
}

/// The stacksvc image, built for a test and removed after it.
class StackSvcImage {
public:
  explicit StackSvcImage(Podman &podman) : podman(podman) {
    tag = "localhost/" + uniqueProject() + "-stacksvc:latest";
    writeStackSvcContext(dir / "context", true);
    ToolResult built = podman.run({"build", "-t", tag, dir / "context"});
    INFO(built.stdoutText + built.stderrText);
    REQUIRE(built.exitCode == 0);
  }
  ~StackSvcImage() { podman.run({"rmi", "-f", tag}); }
  std::string tag;

private:
  Podman &podman;
  TempDir dir;
};

ServiceDesc stackSvc(const std::string &name, const std::string &image,
                     std::vector<std::string> command) {
  ServiceDesc s;
  s.name = name;
  s.image = image;
  s.command = std::move(command);
  return s;
}

HealthDesc httpHealth(int64_t retries = 100) {
  HealthDesc h;
  h.http = "/healthz";
  h.intervalMs = 100;
  h.timeoutMs = 2000;
  h.retries = retries;
  return h;
}

Expected<HttpResponse> send(const std::string &method, const std::string &url) {
  static std::unique_ptr<HttpTransport> http = makeHttpTransport();
  HttpRequest request;
  request.method = method;
  request.url = url;
  request.timeoutMs = 5000;
  return http->send(request);
}

#define SKIP_WITHOUT_PODMAN()                                                  \
  do {                                                                         \
    if (!havePodman()) {                                                       \
      WARN("SKIPPED: podman is not installed (scripts/setup installs it); "    \
           "the container stack runtime was not tested");                      \
      return;                                                                  \
    }                                                                          \
  } while (false)

} // namespace

TEST_CASE("container stack: a store and an api in front of it on the host "
          "network",
          "[container]") {
  SKIP_WITHOUT_PODMAN();
  Podman podman;
  StackSvcImage image(podman);
  TempDir workspace;
  std::string project = uniqueProject();
  int storePort = unusedPort(), apiPort = unusedPort();
  while (apiPort == storePort)
    apiPort = unusedPort();
  std::string store = std::to_string(storePort), api = std::to_string(apiPort);

  std::vector<ServiceDesc> all = {
      stackSvc("api", image.tag,
               {"serve", "--port", api, "--host", "127.0.0.1", "--upstream",
                "http://127.0.0.1:" + store}),
      stackSvc("store", image.tag,
               {"serve", "--port", store, "--host", "127.0.0.1"})};
  all[0].ports = {api};
  all[0].dependsOn = {"store"};
  all[0].health = httpHealth();
  all[1].ports = {store};
  all[1].health = httpHealth();

  ContainerRuntimeOptions opts = podman.options(workspace.path(), project);
  opts.network = "host";
  std::unique_ptr<StackRuntime> stack = makeContainerRuntime(opts);
  Expected<std::vector<const ServiceDesc *>> order = startOrder(all, {"api"});
  REQUIRE(order.ok());
  Status up = stack->up(*order);
  INFO((up.ok() ? "" : up.error().message));
  REQUIRE(up.ok());
  CHECK(contains(podman.containersOf(project), project + "-store"));
  CHECK(contains(podman.containersOf(project), project + "-api"));

  std::optional<Endpoint> storeAt = stack->endpoint("store");
  std::optional<Endpoint> apiAt = stack->endpoint("api");
  REQUIRE(storeAt);
  REQUIRE(apiAt);
  CHECK(storeAt->baseUrl() == "http://127.0.0.1:" + store);
  CHECK(apiAt->port == apiPort);
  CHECK(!stack->endpoint("nope"));

  Expected<HttpResponse> put =
      send("PUT", storeAt->baseUrl() + "/items/widget");
  REQUIRE(put.ok());
  CHECK(put->status == 201);
  Expected<HttpResponse> items = send("GET", apiAt->baseUrl() + "/items");
  REQUIRE(items.ok());
  CHECK(items->status == 200);
  CHECK(items->body == "[\"widget\"]");
  CHECK(contains(stack->logTail("api", 5), "GET /items 200"));

  stack->down();
  CHECK(podman.containersOf(project).empty());
  CHECK(!stack->endpoint("store"));
  CHECK(!send("GET", storeAt->baseUrl() + "/healthz").ok());
  // The logs outlive the containers.
  CHECK(contains(stack->logTail("store", 10), "PUT /items/widget 201"));
  stack->down(); // idempotent
}

TEST_CASE("container stack: a build service from a generated Dockerfile, "
          "checked by a command in the container",
          "[container]") {
  SKIP_WITHOUT_PODMAN();
  Podman podman;
  TempDir workspace;
  std::string project = uniqueProject();
  writeStackSvcContext(workspace / "svc", false);
  int port = unusedPort();
  std::string url = "http://127.0.0.1:" + std::to_string(port);

  ServiceDesc web;
  web.name = "web";
  web.buildContext = "svc";
  web.generatedDockerfile = kStackSvcDockerfile;
  web.command = {"serve", "--port", std::to_string(port), "--host",
                 "127.0.0.1"};
  web.ports = {std::to_string(port)};
  HealthDesc h;
  h.command = {"/stacksvc", "get", url + "/healthz"};
  h.intervalMs = 100;
  h.timeoutMs = 10000;
  h.retries = 50;
  web.health = h;
  std::vector<ServiceDesc> all = {web};

  ContainerRuntimeOptions opts = podman.options(workspace.path(), project);
  opts.network = "host";
  opts.logDir = workspace / "logs";
  REQUIRE(std::system(("mkdir -p " + shellQuote(opts.logDir)).c_str()) == 0);
  std::unique_ptr<StackRuntime> stack = makeContainerRuntime(opts);
  Status up = stack->up(*startOrder(all, {"web"}));
  INFO((up.ok() ? "" : up.error().message));
  REQUIRE(up.ok());
  std::string tag = project + "-web:latest";
  CHECK(podman.run({"image", "exists", tag}).exitCode == 0);
  Expected<HttpResponse> health = send("GET", url + "/healthz");
  REQUIRE(health.ok());
  CHECK(health->body == "ok");
  // The build's output heads the log; the health check ran in the container.
  std::string log = stack->logTail("web", 100);
  CHECK(contains(log, "COPY stacksvc /stacksvc"));
  CHECK(contains(log, "GET /healthz 200"));
  stack->down();
  CHECK(podman.containersOf(project).empty());
  CHECK(podman.run({"image", "exists", tag}).exitCode != 0);
  CHECK(std::system(("grep -q 'FROM scratch' " +
                     shellQuote(opts.logDir + "/web.Dockerfile"))
                        .c_str()) == 0);

  // A build that fails: named, with the build's output.
  ServiceDesc broken = web;
  broken.name = "broken";
  broken.generatedDockerfile = "FROM scratch\nCOPY no-such-file /x\n";
  std::vector<ServiceDesc> one = {broken};
  std::unique_ptr<StackRuntime> again = makeContainerRuntime(opts);
  Status failed = again->up(*startOrder(one, {"broken"}));
  REQUIRE(!failed.ok());
  const std::string &message = failed.error().message;
  CHECK(contains(message, "service 'broken' could not be built"));
  CHECK(contains(message, "no-such-file"));
  CHECK(podman.containersOf(project).empty());
}

TEST_CASE("container stack: a service that never gets healthy or dies is "
          "named, with its log",
          "[container]") {
  SKIP_WITHOUT_PODMAN();
  Podman podman;
  StackSvcImage image(podman);
  TempDir workspace;
  std::string project = uniqueProject();
  int port = unusedPort();
  ServiceDesc sick = stackSvc("sick", image.tag,
                              {"serve", "--port", std::to_string(port),
                               "--host", "127.0.0.1", "--fail-health"});
  sick.ports = {std::to_string(port)};
  sick.health = httpHealth(3);
  std::vector<ServiceDesc> all = {sick};
  ContainerRuntimeOptions opts = podman.options(workspace.path(), project);
  opts.network = "host";
  std::unique_ptr<StackRuntime> stack = makeContainerRuntime(opts);
  Status up = stack->up(*startOrder(all, {"sick"}));
  REQUIRE(!up.ok());
  const std::string &message = up.error().message;
  CHECK(contains(message, "service 'sick' never became healthy"));
  CHECK(contains(message, "GET /healthz failed 3 times"));
  CHECK(contains(message, "(failing health)"));
  CHECK(contains(message, "GET /healthz 503"));
  CHECK(podman.containersOf(project).empty());
  CHECK(!send("GET", "http://127.0.0.1:" + std::to_string(port) + "/healthz")
             .ok());

  // A container that exits at once fails fast with its exit status.
  ServiceDesc dies = stackSvc("dies", image.tag, {"serve"});
  dies.ports = {std::to_string(port)};
  dies.health = httpHealth(1000);
  std::vector<ServiceDesc> one = {dies};
  Status died = makeContainerRuntime(opts)->up(*startOrder(one, {"dies"}));
  REQUIRE(!died.ok());
  INFO(died.error().message);
  CHECK(contains(died.error().message, "service 'dies' exited with status 2"));
  CHECK(contains(died.error().message, "serve needs --port"));
  CHECK(podman.containersOf(project).empty());

  // Without a health check: up when still running a moment later.
  ServiceDesc quiet = stackSvc("quiet", image.tag, {"get", "http://x"});
  std::vector<ServiceDesc> q = {quiet};
  Status ended = makeContainerRuntime(opts)->up(*startOrder(q, {"quiet"}));
  REQUIRE(!ended.ok());
  INFO(ended.error().message);
  CHECK(contains(ended.error().message,
                 "service 'quiet' exited with status 1 right after starting"));
  CHECK(podman.containersOf(project).empty());
}

TEST_CASE("container stack: an image that is not there is named",
          "[container]") {
  SKIP_WITHOUT_PODMAN();
  Podman podman;
  TempDir workspace;
  std::string project = uniqueProject();
  ServiceDesc ghost =
      stackSvc("ghost", "localhost/iterc-no-such-image:never", {});
  std::vector<ServiceDesc> all = {ghost};
  ContainerRuntimeOptions opts = podman.options(workspace.path(), project);
  opts.network = "host";
  Status up = makeContainerRuntime(opts)->up(*startOrder(all, {"ghost"}));
  REQUIRE(!up.ok());
  const std::string &message = up.error().message;
  INFO(message);
  CHECK(contains(message, "service 'ghost' could not be started"));
  CHECK(contains(message, "localhost/iterc-no-such-image:never"));
  CHECK(contains(message, "not pulled"));
  CHECK(podman.containersOf(project).empty());
}

TEST_CASE("container stack: the engine is looked up, and a missing one is "
          "explained",
          "[container]") {
  Expected<std::string> missing = findContainerEngine("no-such-engine");
  REQUIRE(!missing.ok());
  CHECK(missing.error().code == ErrorCode::InvalidInput);
  CHECK(contains(missing.error().message, "'no-such-engine'"));
  CHECK(contains(missing.error().message, "--stack local"));
  Expected<std::string> path = findContainerEngine("/no/such/dir/podman");
  REQUIRE(!path.ok());
  CHECK(contains(path.error().message, "/no/such/dir/podman"));
  {
    // Neither engine on the PATH.
    TempDir empty;
    ScopedEnv noPath("PATH", empty.path().c_str());
    Expected<std::string> none = findContainerEngine("");
    REQUIRE(!none.ok());
    CHECK(contains(none.error().message, "podman and docker"));
  }

  // A runtime whose engine is missing names the first service.
  TempDir workspace;
  ContainerRuntimeOptions opts;
  opts.engine = "no-such-engine";
  opts.workspace = workspace.path();
  ServiceDesc db = stackSvc("db", "postgres:16", {});
  std::vector<ServiceDesc> all = {db};
  Status up = makeContainerRuntime(opts)->up(*startOrder(all, {"db"}));
  REQUIRE(!up.ok());
  CHECK(contains(up.error().message, "service 'db' needs a container engine"));

  if (!havePodman()) {
    // Not "SKIPPED": the lookup errors above were tested.
    WARN("podman is not installed: finding an installed engine was not "
         "tested");
    return;
  }
  Expected<std::string> found = findContainerEngine("");
  REQUIRE(found.ok());
  CHECK(found->substr(found->rfind('/') + 1) == "podman");
}

TEST_CASE("container stack: the stack's own network publishes ports and "
          "names services",
          "[container]") {
  SKIP_WITHOUT_PODMAN();
  Podman podman;
  StackSvcImage image(podman);
  TempDir workspace;
  std::string project = uniqueProject();
  int storePort = unusedPort(), apiPort = unusedPort();
  while (apiPort == storePort)
    apiPort = unusedPort();
  std::vector<ServiceDesc> all = {
      stackSvc("store", image.tag, {"serve", "--port", "8080"}),
      stackSvc("api", image.tag,
               {"serve", "--port", "8080", "--upstream", "http://store:8080"})};
  all[0].ports = {std::to_string(storePort) + ":8080"};
  all[0].health = httpHealth();
  all[1].ports = {std::to_string(apiPort) + ":8080"};
  all[1].dependsOn = {"store"};
  all[1].health = httpHealth();

  ContainerRuntimeOptions opts = podman.options(workspace.path(), project);
  std::unique_ptr<StackRuntime> stack = makeContainerRuntime(opts);
  Status up = stack->up(*startOrder(all, {"api"}));
  INFO((up.ok() ? "" : up.error().message));
  REQUIRE(up.ok());
  CHECK(podman.run({"network", "exists", project}).exitCode == 0);
  std::optional<Endpoint> storeAt = stack->endpoint("store");
  std::optional<Endpoint> apiAt = stack->endpoint("api");
  REQUIRE(storeAt);
  REQUIRE(apiAt);
  CHECK(storeAt->port == storePort);
  Expected<HttpResponse> put = send("PUT", storeAt->baseUrl() + "/items/gear");
  INFO((put.ok() ? "" : put.error().message));
  REQUIRE(put.ok());
  CHECK(put->status == 201);
  // The api reaches the store by its service name.
  Expected<HttpResponse> items = send("GET", apiAt->baseUrl() + "/items");
  REQUIRE(items.ok());
  CHECK(items->body == "[\"gear\"]");
  stack->down();
  CHECK(podman.containersOf(project).empty());
  CHECK(podman.run({"network", "exists", project}).exitCode != 0);
}

TEST_CASE("container stack: a container killed mid-run is reported and "
          "fails the verify that reaches it",
          "[container][stack-crash]") {
  SKIP_WITHOUT_PODMAN();
  Podman podman;
  StackSvcImage image(podman);
  TempDir workspace;
  std::string project = uniqueProject();
  std::string port = std::to_string(unusedPort());
  ServiceDesc api = stackSvc("api", image.tag,
                             {"serve", "--port", port, "--host", "127.0.0.1"});
  api.ports = {port};
  api.health = httpHealth();
  WorkflowDesc wf = iterc::rt::test::actThenProbeWorkflow(api, "/healthz");

  std::unique_ptr<RunStore> store = makeMemoryStore();
  std::unique_ptr<HttpTransport> http = makeHttpTransport();
  ProviderSet providers;
  std::vector<Event> events;
  EngineDeps deps;
  deps.store = store.get();
  deps.providers = &providers;
  deps.http = http.get();
  deps.onEvent = [&](const Event &e) { events.push_back(e); };
  deps.stack = [&](const std::string &)
      -> Expected<std::unique_ptr<StackRuntime>> {
    ContainerRuntimeOptions o = podman.options(workspace.path(), project);
    o.network = "host";
    return makeContainerRuntime(o);
  };
  // The tool node kills the container; the verify node comes next.
  iterc::rt::test::CallbackTools tools([&] {
    ToolResult killed = podman.run({"kill", project + "-api"});
    CHECK(killed.exitCode == 0);
  });
  deps.tools = &tools;
  Engine engine(wf, deps);
  RunOptions options;
  options.workspace = workspace.path();
  RunResult r = engine.run(options);
  CHECK(r.status != RunStatus::Finished);
  REQUIRE(r.error);
  INFO(r.error->message);
  CHECK(contains(r.error->message, "service 'api'"));
  CHECK(contains(r.error->message, "exited with status 137"));
  CHECK(r.node == "probe");
  bool reported = false;
  for (const Event &e : events)
    reported = reported || (e.type == "service_exited" &&
                            e.data["service"] == "api");
  CHECK(reported);
  CHECK(podman.containersOf(project).empty());
}
