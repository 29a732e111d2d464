//===- AssertionsTest.cpp - Verify assertions written at run time ---------===//
//
// A verify node's `assertions:` checked against real things: a tool run by
// /bin/sh with its result captured, files in a real temporary workspace
// (with symlinks pointing out of it), a node's output, and an HTTP server
// on loopback standing for one of the workflow's services. Each kind has a
// holding and a failing case; malformed and hostile assertions are
// failures naming them, never crashes or escapes. Also: the quantifiers of
// the expression language, the runtime's and generated code's versions
// agreeing.
//
//===----------------------------------------------------------------------===//
#include "iterc/rt/Clock.h"
#include "iterc/rt/Engine.h"
#include "iterc/rt/Program.h"
#include "iterc/rt/Scope.h"
#include "iterc/rt/Stack.h"

#include "FakeHttpServer.h"
#include "RuntimeTestUtil.h"
#include "WorkflowTestUtil.h"

#include <catch2/catch.hpp>

#include <fstream>
#include <sys/stat.h>
#include <unistd.h>

using namespace iterc::rt;
using iterc::rt::test::edge;
using iterc::rt::test::ref;
using iterc::rt::test::TempDir;
using iterc::rt::test::text;
using iterc::test::FakeHttpServer;
using iterc::test::FakeReply;
using iterc::test::FakeRequest;

namespace {

/// A stack of one service, "api", at the test's HTTP server.
class OneServiceStack : public StackRuntime {
public:
  explicit OneServiceStack(int port) : port(port) {}
  Status up(const std::vector<const ServiceDesc *> &) override {
    return Status::success();
  }
  Status restart(const std::vector<const ServiceDesc *> &) override {
    return Status::success();
  }
  void down() override {}
  std::optional<Endpoint> endpoint(const std::string &service) override {
    if (service != "api")
      return std::nullopt;
    return Endpoint{"127.0.0.1", port};
  }
  std::string logTail(const std::string &, size_t) override { return ""; }

private:
  int port;
};

void writeText(const std::string &path, const std::string &content) {
  std::ofstream(path) << content;
}

/// run_tests (tool: prints to both streams, exits 1, captured) -> check
/// (verify: assertions from the variable `plan`) -> done when passed, else
/// fail. The workspace holds notes.txt, src/app.c, and two symlinks out.
struct AssertionRun {
  TempDir workspace;
  TempDir outside;
  std::unique_ptr<FakeHttpServer> server;
  Json output;

  explicit AssertionRun(const Json &plan, bool withStack = false,
                        const std::string &command =
                            "echo 'PASS 3 tests'; echo 'FAIL test_div' >&2; "
                            "exit 1") {
    writeText(workspace / "notes.txt", "hello world\nline two\n");
    REQUIRE(::mkdir((workspace / "src").c_str(), 0755) == 0);
    writeText(workspace / "src/app.c", "int main(void) { return 0; }\n");
    writeText(outside / "secret.txt", "the secret\n");
    REQUIRE(::symlink((outside / "secret.txt").c_str(),
                      (workspace / "link.txt").c_str()) == 0);
    REQUIRE(::symlink(outside.path().c_str(),
                      (workspace / "linkdir").c_str()) == 0);

    WorkflowDesc wf;
    wf.name = "assertions";
    wf.sourceSha256 = "h";
    NodeDesc tool;
    tool.kind = NodeKind::Tool;
    tool.name = "run_tests";
    tool.capture = true;
    tool.command = text(command);
    wf.nodes.push_back(tool);
    NodeDesc check;
    check.kind = NodeKind::Verify;
    check.name = "check";
    check.assertions = ref(RefNs::Vars, {"plan"});
    wf.nodes.push_back(check);
    addTerminals(wf);
    wf.edges.push_back(edge(0, 1));
    iterc::rt::test::routeOnPassed(wf, 1);
    VarDesc v;
    v.name = "plan";
    v.type = FieldType::Json;
    v.defaultValue = plan;
    wf.vars.push_back(v);

    FakeClock clock{1000};
    std::unique_ptr<RunStore> store = makeMemoryStore();
    std::unique_ptr<ToolRunner> runner = makeProcessRunner();
    std::unique_ptr<HttpTransport> http = makeHttpTransport();
    ProviderSet providers;
    EngineDeps deps;
    deps.store = store.get();
    deps.providers = &providers;
    deps.tools = runner.get();
    deps.clock = &clock;
    deps.http = http.get();
    server = std::make_unique<FakeHttpServer>([](const FakeRequest &r) {
      if (r.target == "/health")
        return FakeReply::json(200, R"({"status": "ok"})");
      FakeReply missing;
      missing.status = 404;
      missing.body = "no such page";
      return missing;
    });
    if (withStack) {
      ServiceDesc api;
      api.name = "api";
      api.program = "api-server";
      api.ports = {"8080"};
      wf.services = {api};
      wf.stack = {"api"};
      int port = server->port();
      deps.stack =
          [port](
              const std::string &) -> Expected<std::unique_ptr<StackRuntime>> {
        return std::unique_ptr<StackRuntime>(new OneServiceStack(port));
      };
    }
    Engine engine(wf, deps);
    RunOptions options;
    options.workspace = workspace.path();
    RunResult r = engine.run(options);
    REQUIRE(r.outputs.contains("check"));
    output = r.outputs["check"];
    CHECK((r.status == RunStatus::Finished) == output.value("passed", false));
  }

  /// The failure named `name`, or null.
  Json failure(const std::string &name) const {
    for (const Json &f : output["failures"])
      if (f["check"] == name)
        return f;
    return Json();
  }
  bool holds(const std::string &name) const { return failure(name).is_null(); }
  std::string actual(const std::string &name) const {
    Json f = failure(name);
    return f.is_null() ? "" : f["actual"].get<std::string>();
  }
};

Json assertion(const std::string &name, const std::string &kind,
               const std::string &target, Json expected = Json()) {
  Json a = {{"name", name}, {"kind", kind}, {"target", target}};
  if (!expected.is_null())
    a["expected"] = std::move(expected);
  return a;
}

bool has(const std::string &text, const std::string &part) {
  return text.find(part) != std::string::npos;
}

} // namespace

TEST_CASE("assertions: a tool's exit code and output streams", "[verify]") {
  Json plan = Json::array({
      assertion("exits 1", "exit_code", "run_tests", 1),
      assertion("exits 0", "exit_code", "run_tests", 0),
      assertion("says pass", "stdout_contains", "run_tests", "PASS"),
      assertion("says ok", "stdout_contains", "run_tests", "ok"),
      assertion("counts", "stdout_matches", "run_tests", "^PASS [0-9]+ tests$"),
      assertion("counts ten", "stdout_matches", "run_tests", "^PASS 10 "),
      assertion("names failure", "stderr_contains", "run_tests", "test_div"),
      assertion("no failure", "stderr_matches", "run_tests", "^ok$"),
      assertion("no such tool", "exit_code", "build", 0),
  });
  AssertionRun run(plan);
  CHECK(run.output["passed"] == false);
  CHECK(run.holds("exits 1"));
  CHECK(run.failure("exits 0")["expected"] == "exit_code of 'run_tests' = 0");
  CHECK(run.actual("exits 0") == "exit code 1");
  CHECK(run.holds("says pass"));
  CHECK(run.actual("says ok") == "stdout: PASS 3 tests\n");
  CHECK(run.holds("counts"));
  CHECK(run.failure("counts ten")["expected"] ==
        "stdout of 'run_tests' matching '^PASS 10 '");
  CHECK(run.holds("names failure"));
  CHECK(run.actual("no failure") == "stderr: FAIL test_div\n");
  CHECK(has(run.actual("no such tool"), "'build' has not run"));
  CHECK(run.output["failures"].size() == 5);
}

TEST_CASE("assertions: workspace files, confined", "[verify]") {
  Json plan = Json::array({
      assertion("notes", "file_exists", "notes.txt"),
      assertion("nested", "file_exists", "./src/app.c"),
      assertion("missing", "file_exists", "src/lib.c"),
      assertion("greets", "file_contains", "notes.txt", "hello"),
      assertion("waves", "file_contains", "notes.txt", "goodbye"),
      assertion("main", "file_matches", "src/app.c", "int main\\(.*\\)"),
      assertion("absolute", "file_exists", "/etc/passwd"),
      assertion("dotdot", "file_contains", "../secret.txt", "secret"),
      assertion("dotdot inside", "file_exists", "src/../notes.txt"),
      assertion("symlink", "file_contains", "link.txt", "secret"),
      assertion("symlink dir", "file_exists", "linkdir/secret.txt"),
      assertion("directory", "file_contains", "src", "x"),
  });
  AssertionRun run(plan);
  CHECK(run.holds("notes"));
  CHECK(run.holds("nested"));
  CHECK(run.actual("missing") == "no such file");
  CHECK(run.holds("greets"));
  CHECK(run.actual("waves") == "content: hello world\nline two\n");
  CHECK(run.holds("main"));
  CHECK(has(run.actual("absolute"), "refused: an absolute path"));
  CHECK(has(run.actual("dotdot"), "refused: a path with '..'"));
  CHECK(has(run.actual("dotdot inside"), "refused: a path with '..'"));
  CHECK(has(run.actual("symlink"), "refused: a symlink"));
  CHECK(has(run.actual("symlink dir"), "refused: a path through a symlink"));
  CHECK(has(run.actual("directory"), "not a regular file"));
  for (const Json &f : run.output["failures"])
    CHECK_FALSE(has(f.dump(), "the secret"));
}

TEST_CASE("assertions: node outputs as JSON", "[verify]") {
  Json plan = Json::array({
      assertion("code", "json_equals", "run_tests.exit_code", 1),
      assertion("code zero", "json_equals", "run_tests.exit_code", 0),
      assertion("nothing", "json_equals", "planner.steps.0", "x"),
  });
  AssertionRun run(plan);
  CHECK(run.holds("code"));
  CHECK(run.failure("code zero")["expected"] ==
        "outputs.run_tests.exit_code = 0");
  CHECK(run.actual("code zero") == "1");
  CHECK(run.actual("nothing") == "no such output");
}

TEST_CASE("assertions: HTTP only to the workflow's own services", "[verify]") {
  Json plan = Json::array({
      {{"name", "healthy"},
       {"kind", "http_status"},
       {"service", "api"},
       {"target", "/health"},
       {"expected", 200}},
      {{"name", "says ok"},
       {"kind", "http_body_contains"},
       {"service", "api"},
       {"target", "/health"},
       {"expected", "\"ok\""}},
      {{"name", "missing page"},
       {"kind", "http_status"},
       {"service", "api"},
       {"target", "/nope"},
       {"expected", 200}},
      {{"name", "elsewhere"},
       {"kind", "http_status"},
       {"service", "http://example.com"},
       {"target", "/"},
       {"expected", 200}},
      {{"name", "authority"},
       {"kind", "http_status"},
       {"service", "api"},
       {"target", "@example.com/"},
       {"expected", 200}},
      {{"name", "smuggled"},
       {"kind", "http_status"},
       {"service", "api"},
       {"target", "/x HTTP/1.1\r\nHost: evil"},
       {"expected", 200}},
  });
  AssertionRun run(plan, true);
  CHECK(run.holds("healthy"));
  CHECK(run.holds("says ok"));
  CHECK(run.actual("missing page") == "HTTP 404: no such page");
  CHECK(has(run.actual("elsewhere"), "not a running service"));
  CHECK(run.actual("authority") == "a malformed assertion");
  CHECK(run.actual("smuggled") == "a malformed assertion");
  // Only the three well-formed requests to api reached the server.
  CHECK(run.server->requestCount() == 3);

  AssertionRun noStack(Json::array({plan[0]}));
  CHECK(noStack.actual("healthy") == "no stack is running");
}

TEST_CASE("assertions: malformed ones are failures naming them", "[verify]") {
  Json plan = Json::array({
      assertion("shell", "rm -rf /", "x"),
      {{"name", "kindless"}, {"target", "notes.txt"}},
      "just text",
      {{"kind", "exit_code"}, {"target", "run_tests"}, {"expected", "zero"}},
      assertion("backref", "stdout_matches", "run_tests", "(a*)*\\1"),
      assertion("bad pattern", "stdout_matches", "run_tests", "(unclosed"),
      assertion("long pattern", "stdout_matches", "run_tests",
                std::string(300, 'a')),
  });
  AssertionRun run(plan);
  CHECK(run.output["passed"] == false);
  CHECK(run.actual("shell") == "kind 'rm -rf /'");
  CHECK(has(run.failure("kindless")["expected"], "a 'kind'"));
  CHECK(run.failure("assertions[2]")["expected"] == "an assertion object");
  CHECK(has(run.failure("assertions[3]")["expected"], "integer 'expected'"));
  CHECK(has(run.failure("backref")["expected"], "without back-references"));
  CHECK(has(run.failure("bad pattern")["expected"], "a valid POSIX"));
  CHECK(has(run.failure("long pattern")["expected"], "1 to 256 bytes"));
  CHECK(run.output["failures"].size() == 7);
}

TEST_CASE("assertions: the list itself must be a non-empty list", "[verify]") {
  for (const Json &plan :
       {Json::array(), Json("not json"), Json(42), Json::object()}) {
    AssertionRun run(plan);
    CHECK(run.output["passed"] == false);
    CHECK(run.failure("assertions")["expected"] ==
          "a non-empty list of assertions");
  }
  // A JSON text of a list (a model's string field) is read as the list.
  AssertionRun text(Json(R"([{"kind": "exit_code", "target": "run_tests",
                             "expected": 1}])"));
  CHECK(text.output["passed"] == true);
}

TEST_CASE("quantifiers: the runtime's and generated code's agree", "[verify]") {
  using gen::Value;
  const Json lists[] = {
      Json::array(),
      Json::array({{{"ok", true}}, {{"ok", true}}}),
      Json::array({{{"ok", true}}, {{"ok", false}}}),
      Json::array({{{"ok", false}}}),
      Json::array({1, 0}),
      Json(nullptr),
      Json::object({{"ok", true}}),
      Json("text"),
  };
  for (const Json &list : lists) {
    INFO(list.dump());
    Value v;
    *static_cast<Json *>(v.impl()) = list;
    auto okJson = [](const Json &x) { return expr::member(x, {"ok"}); };
    auto okValue = [](const Value &x) { return gen::member(x, {"ok"}); };
    auto J = [](const Value &x) {
      return *static_cast<const Json *>(x.impl());
    };
    CHECK(J(gen::allOf(v, okValue)) == expr::all(list, okJson));
    CHECK(J(gen::anyOf(v, okValue)) == expr::any(list, okJson));
    CHECK(J(gen::allOf(v)) == expr::all(list));
    CHECK(J(gen::anyOf(v)) == expr::any(list));
  }
  CHECK(expr::all(Json::array()) == true);
  CHECK(expr::any(Json::array()) == false);
  CHECK(expr::all(Json(nullptr)) == false);
  CHECK(expr::all(Json::array({{{"ok", true}}}), [](const Json &x) {
          return expr::member(x, {"ok"});
        }) == true);
  CHECK(expr::any(Json::array({1, 0})) == true);
  CHECK(expr::all(Json::array({1, 0})) == false);
}

TEST_CASE("assertions: a failure on a stream the tool's cap cut says so",
          "[verify][cap]") {
  // 2 MiB, then the line looked for: past the 1 MiB kept.
  Json plan = Json::array({
      assertion("says end", "stdout_contains", "run_tests", "END"),
      assertion("says a", "stdout_contains", "run_tests", "aaaa"),
  });
  AssertionRun run(plan, false,
                   "head -c 2097152 /dev/zero | tr '\\0' a; echo END");
  CHECK(run.holds("says a"));
  CHECK_THAT(run.actual("says end"),
             Catch::StartsWith("stdout (truncated: the first 1048576 of "
                               "2097156 bytes were kept; raise the tool's "
                               "max_output): ...aaa"));
}
