//===- VerifyTest.cpp - Verify nodes against real HTTP servers ------------===//
//
// Every form a verify node checks, each with a passing and a failing case
// (the failing one proves the check is evaluated at all): plain checks over
// outputs, and HTTP probes against a server the test starts on loopback —
// status, body contains, and expect_json expressions over the parsed body
// (==, !=, nested fields, other namespaces). The expressions are written as
// the C++ the emitter generates for them (expr:: calls over a Scope).
//
//===----------------------------------------------------------------------===//
#include "iterc/rt/Clock.h"
#include "iterc/rt/Engine.h"
#include "iterc/rt/Http.h"
#include "iterc/rt/Scope.h"

#include "FakeHttpServer.h"
#include "WorkflowTestUtil.h"

#include <catch2/catch.hpp>

using namespace iterc::rt;
using iterc::rt::test::edge;
using iterc::rt::test::text;
using iterc::test::FakeHttpServer;
using iterc::test::FakeReply;
using iterc::test::FakeRequest;

namespace {

/// The service the probes talk to: /sum answers {"sum": 5, ...} as JSON,
/// /down answers 503, /text answers plain text, anything else 404.
FakeReply service(const FakeRequest &r) {
  if (r.target == "/sum")
    return FakeReply::json(
        200, R"({"sum": 5, "user": {"name": "ann", "roles": ["admin"]}})");
  if (r.target == "/down")
    return FakeReply::json(503, R"({"error": "overloaded"})");
  if (r.target == "/text") {
    FakeReply reply;
    reply.headers.emplace_back("Content-Type", "text/plain");
    reply.body = "Welcome to the service";
    return reply;
  }
  FakeReply missing;
  missing.status = 404;
  missing.body = "not found";
  return missing;
}

/// A workflow of one verify node -> done when passed, fail otherwise.
WorkflowDesc verifyWorkflow(NodeDesc verify) {
  WorkflowDesc wf;
  wf.name = "verify_forms";
  wf.sourceSha256 = "h";
  verify.kind = NodeKind::Verify;
  verify.name = "probe";
  wf.nodes.push_back(verify);
  addTerminals(wf);
  EdgeDesc passed = edge(0, wf.doneIndex());
  passed.cond = EdgeDesc::Cond::Field;
  passed.field = "passed";
  wf.edges.push_back(passed);
  wf.edges.push_back(edge(0, wf.failIndex()));
  return wf;
}

HttpCheckDesc probe(const FakeHttpServer &server, const std::string &name,
                    const std::string &path) {
  HttpCheckDesc h;
  h.name = name;
  h.url = text(server.baseUrl());
  h.path = text(path);
  h.timeoutMs = 5000;
  return h;
}

/// Runs the workflow; the verify node's output.
Json runProbe(const WorkflowDesc &wf) {
  FakeClock clock{1000};
  std::unique_ptr<RunStore> store = makeMemoryStore();
  std::unique_ptr<HttpTransport> http = makeHttpTransport();
  ProviderSet providers;
  EngineDeps deps;
  deps.store = store.get();
  deps.providers = &providers;
  deps.clock = &clock;
  deps.http = http.get();
  Engine engine(wf, deps);
  RunResult r = engine.run({});
  REQUIRE(r.outputs.contains("probe"));
  const Json &out = r.outputs["probe"];
  CHECK((r.status == RunStatus::Finished) == out.value("passed", false));
  return out;
}

/// The failure named `check`, or null.
Json failureOf(const Json &output, const std::string &check) {
  for (const Json &f : output.value("failures", Json::array()))
    if (f.value("check", std::string()) == check)
      return f;
  return Json();
}

CheckDesc jsonCheck(const std::string &name, const std::string &source,
                    ExprFn fn) {
  return CheckDesc{name, source, std::move(fn)};
}

} // namespace

TEST_CASE("verify: plain checks over outputs pass and fail", "[verify]") {
  NodeDesc v;
  v.checks.push_back({"big", "vars.n > 10", [](const Scope &s) {
                        return expr::gt(expr::path(s, RefNs::Vars, {"n"}),
                                        Json(10));
                      }});
  WorkflowDesc wf = verifyWorkflow(v);
  VarDesc n;
  n.name = "n";
  n.type = FieldType::Int;
  n.defaultValue = Json(3);
  wf.vars.push_back(n);
  Json small = runProbe(wf);
  CHECK(small["passed"] == false);
  CHECK(failureOf(small, "big")["expected"] == "vars.n > 10");

  wf.vars[0].defaultValue = Json(12);
  Json big = runProbe(wf);
  CHECK(big["passed"] == true);
  CHECK(big["failures"].empty());
}

TEST_CASE("verify: expect_status against a real server", "[verify]") {
  FakeHttpServer server(service);
  NodeDesc v;
  v.httpChecks.push_back(probe(server, "up", "/sum"));
  v.httpChecks.push_back(probe(server, "down", "/down"));
  Json out = runProbe(verifyWorkflow(v));
  CHECK(out["passed"] == false);
  CHECK(failureOf(out, "up").is_null());
  Json down = failureOf(out, "down");
  CHECK(down["expected"] == "HTTP 200");
  CHECK(down["actual"].get<std::string>().find("HTTP 503") !=
        std::string::npos);

  NodeDesc wants503;
  HttpCheckDesc h = probe(server, "down", "/down");
  h.expectStatus = 503;
  wants503.httpChecks.push_back(h);
  CHECK(runProbe(verifyWorkflow(wants503))["passed"] == true);
}

TEST_CASE("verify: expect_body against a real server", "[verify]") {
  FakeHttpServer server(service);
  NodeDesc v;
  HttpCheckDesc welcome = probe(server, "welcome", "/text");
  welcome.expectBodyContains = "Welcome";
  HttpCheckDesc goodbye = probe(server, "goodbye", "/text");
  goodbye.expectBodyContains = "Goodbye";
  v.httpChecks = {welcome, goodbye};
  Json out = runProbe(verifyWorkflow(v));
  CHECK(out["passed"] == false);
  CHECK(failureOf(out, "welcome").is_null());
  Json f = failureOf(out, "goodbye");
  CHECK(f["expected"] == "body containing 'Goodbye'");
  CHECK(f["actual"].get<std::string>().find("Welcome to the service") !=
        std::string::npos);
  CHECK(server.requestCount() == 2);
}

TEST_CASE("verify: expect_json reads the fields of the response body",
          "[verify]") {
  FakeHttpServer server(service);
  HttpCheckDesc h = probe(server, "sum", "/sum");
  // sum == 5, sum != 5, user.name == 'ann', contains(user.roles, 'admin'),
  // user.age == 30 (absent).
  h.expectJson.emplace_back(
      "is_five", jsonCheck("is_five", "sum == 5", [](const Scope &s) {
        return expr::eq(expr::path(s, RefNs::Input, {"sum"}), Json(5));
      }));
  h.expectJson.emplace_back(
      "not_five", jsonCheck("not_five", "sum != 5", [](const Scope &s) {
        return expr::ne(expr::path(s, RefNs::Input, {"sum"}), Json(5));
      }));
  h.expectJson.emplace_back(
      "named", jsonCheck("named", "user.name == 'ann'", [](const Scope &s) {
        return expr::eq(expr::path(s, RefNs::Input, {"user", "name"}),
                        Json("ann"));
      }));
  h.expectJson.emplace_back(
      "admin",
      jsonCheck("admin", "contains(user.roles, 'admin')", [](const Scope &s) {
        return expr::contains(expr::path(s, RefNs::Input, {"user", "roles"}),
                              Json("admin"));
      }));
  h.expectJson.emplace_back(
      "aged", jsonCheck("aged", "user.age == 30", [](const Scope &s) {
        return expr::eq(expr::path(s, RefNs::Input, {"user", "age"}), Json(30));
      }));
  NodeDesc v;
  v.httpChecks.push_back(h);
  Json out = runProbe(verifyWorkflow(v));
  CHECK(out["passed"] == false);
  CHECK(failureOf(out, "sum.is_five").is_null());
  CHECK(failureOf(out, "sum.named").is_null());
  CHECK(failureOf(out, "sum.admin").is_null());
  CHECK(failureOf(out, "sum.not_five")["expected"] == "sum != 5");
  CHECK(failureOf(out, "sum.aged")["expected"] == "user.age == 30");
  CHECK(out["failures"].size() == 2);
}

TEST_CASE("verify: expect_json expressions also read variables", "[verify]") {
  FakeHttpServer server(service);
  HttpCheckDesc h = probe(server, "sum", "/sum");
  h.expectJson.emplace_back(
      "expected_sum",
      jsonCheck("expected_sum", "sum == vars.want", [](const Scope &s) {
        return expr::eq(expr::path(s, RefNs::Input, {"sum"}),
                        expr::path(s, RefNs::Vars, {"want"}));
      }));
  NodeDesc v;
  v.httpChecks.push_back(h);
  WorkflowDesc wf = verifyWorkflow(v);
  VarDesc want;
  want.name = "want";
  want.type = FieldType::Int;
  want.defaultValue = Json(5);
  wf.vars.push_back(want);
  CHECK(runProbe(wf)["passed"] == true);
  wf.vars[0].defaultValue = Json(6);
  CHECK(runProbe(wf)["passed"] == false);
}

TEST_CASE("verify: expect_json on a body that is not JSON fails", "[verify]") {
  FakeHttpServer server(service);
  HttpCheckDesc h = probe(server, "page", "/text");
  h.expectJson.emplace_back(
      "anything", jsonCheck("anything", "!exists_field", [](const Scope &s) {
        return expr::notOp(expr::path(s, RefNs::Input, {"exists_field"}));
      }));
  NodeDesc v;
  v.httpChecks.push_back(h);
  Json out = runProbe(verifyWorkflow(v));
  CHECK(out["passed"] == false);
  Json f = failureOf(out, "page.anything");
  REQUIRE(f.is_object());
  CHECK(f["actual"].get<std::string>().find("not JSON") != std::string::npos);
}

//===----------------------------------------------------------------------===//
// What failures say
//===----------------------------------------------------------------------===//

namespace {

/// A check `source` over vars whose failure shows `operands` (text and the
/// vars path each reads), as the emitter writes them.
CheckDesc varsCheck(const std::string &name, const std::string &source,
                    ExprFn fn,
                    std::vector<std::pair<std::string, ExprFn>> operands) {
  CheckDesc c{name, source, std::move(fn)};
  for (auto &[text, op] : operands)
    c.operands.push_back({text, std::move(op)});
  return c;
}

Json varPath(const Scope &s, const std::string &name) {
  return expr::path(s, RefNs::Vars, {name});
}

VarDesc intVar(const std::string &name, Json value) {
  VarDesc v;
  v.name = name;
  v.type = FieldType::Json;
  v.defaultValue = std::move(value);
  return v;
}

} // namespace

TEST_CASE("verify: a failed check shows its operands' values", "[verify]") {
  NodeDesc v;
  v.checks.push_back(varsCheck(
      "tests_pass", "vars.exit_code == 0",
      [](const Scope &s) { return expr::eq(varPath(s, "exit_code"), Json(0)); },
      {{"vars.exit_code",
        [](const Scope &s) { return varPath(s, "exit_code"); }}}));
  v.checks.push_back(varsCheck(
      "none_failed", "length(vars.failed) == 0",
      [](const Scope &s) {
        return expr::eq(expr::length(varPath(s, "failed")), Json(0));
      },
      {{"length(vars.failed)",
        [](const Scope &s) { return expr::length(varPath(s, "failed")); }},
       {"vars.failed", [](const Scope &s) { return varPath(s, "failed"); }}}));
  WorkflowDesc wf = verifyWorkflow(v);
  wf.vars.push_back(intVar("exit_code", Json(1)));
  wf.vars.push_back(intVar("failed", Json::array({"a_test", "b_test"})));
  Json out = runProbe(wf);
  CHECK(failureOf(out, "tests_pass")["actual"] == "vars.exit_code = 1");
  CHECK(failureOf(out, "none_failed")["actual"] ==
        "length(vars.failed) = 2, vars.failed = [\"a_test\",\"b_test\"]");
}

TEST_CASE("verify: a long operand value is cut", "[verify]") {
  NodeDesc v;
  v.checks.push_back(varsCheck(
      "short", "length(vars.log) < 10",
      [](const Scope &s) {
        return expr::lt(expr::length(varPath(s, "log")), Json(10));
      },
      {{"vars.log", [](const Scope &s) { return varPath(s, "log"); }}}));
  WorkflowDesc wf = verifyWorkflow(v);
  // 300 two-byte characters: the cut must not split one.
  std::string log;
  for (int i = 0; i < 300; ++i)
    log += "\xc3\xa9";
  wf.vars.push_back(intVar("log", Json(log)));
  std::string actual = failureOf(runProbe(wf), "short")["actual"];
  CHECK(actual.size() < 230);
  CHECK(actual.rfind("vars.log = \"\xc3\xa9", 0) == 0);
  CHECK(actual.substr(actual.size() - 5) == "\xc3\xa9...");
}

TEST_CASE("verify: HTTP failures show the status, body and JSON operands",
          "[verify]") {
  FakeHttpServer server(service);
  NodeDesc v;
  v.httpChecks.push_back(probe(server, "down", "/down"));
  HttpCheckDesc sum = probe(server, "sum", "/sum");
  sum.expectJson.emplace_back(
      "six", varsCheck("six", "sum == 6",
                       [](const Scope &s) {
                         return expr::eq(expr::path(s, RefNs::Input, {"sum"}),
                                         Json(6));
                       },
                       {{"sum", [](const Scope &s) {
                           return expr::path(s, RefNs::Input, {"sum"});
                         }}}));
  v.httpChecks.push_back(sum);
  Json out = runProbe(verifyWorkflow(v));
  CHECK(failureOf(out, "down")["actual"] ==
        "HTTP 503: {\"error\": \"overloaded\"}");
  CHECK(failureOf(out, "sum.six")["actual"] == "sum = 5");
}

namespace {

/// probe (verify: vars.n > 10) -> done when passed; probe -> probe when not
/// passed as fix(2); then -> fail unless `noFallback`.
WorkflowDesc fixLoop(bool noFallback) {
  NodeDesc v;
  v.checks.push_back(varsCheck(
      "big", "vars.n > 10",
      [](const Scope &s) { return expr::gt(varPath(s, "n"), Json(10)); },
      {{"vars.n", [](const Scope &s) { return varPath(s, "n"); }}}));
  WorkflowDesc wf = verifyWorkflow(v);
  wf.edges.pop_back(); // probe -> fail
  EdgeDesc back = edge(0, 0);
  back.cond = EdgeDesc::Cond::Field;
  back.field = "passed";
  back.negated = true;
  back.loop = 0;
  wf.edges.push_back(back);
  if (!noFallback)
    wf.edges.push_back(edge(0, wf.failIndex()));
  LoopDesc loop;
  loop.name = "fix";
  loop.cap = 2;
  loop.body = {0};
  loop.entries = {0};
  wf.loops.push_back(loop);
  wf.vars.push_back(intVar("n", Json(3)));
  return wf;
}

RunResult runLoop(const WorkflowDesc &wf) {
  FakeClock clock{1000};
  std::unique_ptr<RunStore> store = makeMemoryStore();
  ProviderSet providers;
  EngineDeps deps;
  deps.store = store.get();
  deps.providers = &providers;
  deps.clock = &clock;
  Engine engine(wf, deps);
  return engine.run({});
}

} // namespace

TEST_CASE("verify: a run failing after its loop's cap says which loop and "
          "what still fails",
          "[verify]") {
  RunResult failed = runLoop(fixLoop(false));
  CHECK(failed.status == RunStatus::Failed);
  REQUIRE(failed.error);
  CHECK(failed.error->message ==
        "the workflow reached 'fail' after loop 'fix' reached its cap (2) at "
        "'probe'; last failures: big: expected vars.n > 10, actual vars.n = "
        "3");

  RunResult exhausted = runLoop(fixLoop(true));
  CHECK(exhausted.status == RunStatus::LoopExhausted);
  REQUIRE(exhausted.error);
  CHECK(exhausted.error->message ==
        "loop 'fix' reached its cap (2) at 'probe' and no other edge "
        "applies; last failures: big: expected vars.n > 10, actual vars.n = "
        "3");
}
