//===- EngineTest.cpp - Execution semantics of the engine -----------------===//
//
// Workflows built directly as C++ tables, run against a scripted provider
// and a scripted tool runner over the in-memory store: node kinds, edge and
// loop rules, convergence, human gates, budgets, resume and redaction.
//
//===----------------------------------------------------------------------===//
#include "iterc/rt/Engine.h"
#include "iterc/rt/Scope.h"
#include "iterc/rt/Tool.h"

#include "RuntimeTestUtil.h"
#include "WorkflowTestUtil.h"

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <unistd.h>

using namespace iterc::rt;
using iterc::rt::test::text;
using iterc::rt::test::ref;
using iterc::rt::test::schema;
using iterc::rt::test::edge;

namespace {

/// Answers each call with the next scripted reply for the node whose
/// system prompt starts with "node:<name>".
class ScriptedProvider : public LlmProvider {
public:
  std::map<std::string, std::deque<std::string>> replies;
  std::vector<LlmRequest> calls;
  std::mutex mutex;
  bool failNext = false;

  Expected<LlmResponse> complete(const LlmRequest &request) override {
    std::lock_guard<std::mutex> lock(mutex);
    calls.push_back(request);
    if (failNext) {
      failNext = false;
      return Error(ErrorCode::HttpStatus, "HTTP 503 from the provider");
    }
    std::string node;
    for (const LlmMessage &m : request.messages)
      if (m.role == "system" && m.content.rfind("node:", 0) == 0)
        node = m.content.substr(5, m.content.find('\n') - 5);
    std::deque<std::string> &q = replies[node];
    if (q.empty())
      return Error(ErrorCode::ReplayMiss, "no scripted reply for " + node);
    LlmResponse r;
    r.text = q.front();
    if (r.text.rfind("CALL ", 0) == 0) {
      // "CALL name {json args}" asks for a tool call.
      std::string rest = r.text.substr(5);
      std::string name = rest.substr(0, rest.find(' '));
      Json args = Json::parse(rest.substr(rest.find(' ') + 1));
      r.toolCalls =
          Json::array({{{"id", "call_" + std::to_string(calls.size())},
                        {"name", name},
                        {"arguments", args}}});
      r.text.clear();
    }
    if (q.size() > 1)
      q.pop_front();
    r.usage.inputTokens = 10;
    r.usage.outputTokens = 5;
    return r;
  }
  size_t callsFor(const std::string &node) {
    std::lock_guard<std::mutex> lock(mutex);
    size_t n = 0;
    for (const LlmRequest &r : calls)
      for (const LlmMessage &m : r.messages)
        if (m.role == "system" && m.content.rfind("node:" + node, 0) == 0)
          ++n;
    return n;
  }
};

class ScriptedTools : public ToolRunner {
public:
  std::vector<ToolInvocation> calls;
  std::deque<ToolResult> results;
  std::mutex mutex;
  Expected<ToolResult> run(const ToolInvocation &inv) override {
    std::lock_guard<std::mutex> lock(mutex);
    calls.push_back(inv);
    if (results.empty()) {
      ToolResult r;
      r.exitCode = 0;
      r.stdoutText = "{\"ok\": true}";
      return r;
    }
    ToolResult r = results.front();
    if (results.size() > 1)
      results.pop_front();
    return r;
  }
};

NodeDesc agent(const std::string &name, int output) {
  NodeDesc n;
  n.kind = NodeKind::Agent;
  n.name = name;
  n.model = "replay/test";
  n.output = output;
  n.system = text("node:" + name);
  return n;
}

EdgeDesc when(int from, int to, const std::string &field, bool negated) {
  EdgeDesc e = edge(from, to);
  e.cond = EdgeDesc::Cond::Field;
  e.field = field;
  e.negated = negated;
  return e;
}

struct Harness {
  ScriptedProvider provider;
  ScriptedTools tools;
  FakeClock clock{1000};
  std::unique_ptr<RunStore> store = makeMemoryStore();
  ProviderSet providers;
  std::vector<Event> events;

  Harness() { providers.setOverride(&provider); }

  EngineDeps deps() {
    EngineDeps d;
    d.store = store.get();
    d.providers = &providers;
    d.tools = &tools;
    d.clock = &clock;
    d.onEvent = [this](const Event &e) { events.push_back(e); };
    return d;
  }
  std::vector<std::string> types() const {
    return iterc::rt::test::eventTypes(events);
  }
  size_t count(const std::string &type, const std::string &node = "") const {
    size_t n = 0;
    for (const Event &e : events)
      if (e.type == type && (node.empty() || e.nodeId == node))
        ++n;
    return n;
  }
};

/// writer -> critic; critic -> done when pass; critic -> writer when not
/// pass as refine(cap).
WorkflowDesc writerCritic(int64_t cap, bool bareFail) {
  WorkflowDesc wf;
  wf.name = "writing";
  wf.sourceSha256 = "abc";
  wf.schemas.push_back(schema("draft", {{"text", FieldType::String}}));
  wf.schemas.push_back(schema(
      "verdict", {{"pass", FieldType::Bool}, {"notes", FieldType::String}}));
  wf.nodes.push_back(agent("writer", 0));
  NodeDesc critic = agent("critic", 1);
  critic.kind = NodeKind::Judge;
  wf.nodes.push_back(critic);
  addTerminals(wf);
  EdgeDesc toCritic = edge(0, 1);
  toCritic.with.push_back({"text", ref(RefNs::Outputs, {"writer", "text"})});
  wf.edges.push_back(toCritic);
  wf.edges.push_back(when(1, wf.doneIndex(), "pass", false));
  EdgeDesc back = when(1, 0, "pass", true);
  back.loop = 0;
  back.with.push_back({"feedback", ref(RefNs::Outputs, {"critic", "notes"})});
  wf.edges.push_back(back);
  if (bareFail)
    wf.edges.push_back(edge(1, wf.failIndex()));
  LoopDesc loop;
  loop.name = "refine";
  loop.cap = cap;
  loop.body = {0, 1};
  loop.entries = {0};
  wf.loops.push_back(loop);
  return wf;
}

} // namespace

TEST_CASE("a linear run finishes with validated outputs and events",
          "[engine]") {
  WorkflowDesc wf = writerCritic(3, false);
  Harness h;
  h.provider.replies["writer"] = {R"({"text": "draft one"})"};
  h.provider.replies["critic"] = {R"({"pass": true, "notes": "good"})"};
  Engine engine(wf, h.deps());
  RunResult r = engine.run({});
  REQUIRE(r.status == RunStatus::Finished);
  CHECK(r.outputs["writer"]["text"] == "draft one");
  CHECK(r.outputs["critic"]["pass"] == true);
  CHECK(r.outputs["writer"]["_tokens"] == 15);
  std::vector<std::string> expected = {
      "run_started",          "node_started:writer",  "llm_response:writer",
      "node_finished:writer", "edge_selected:writer", "node_started:critic",
      "llm_response:critic",  "node_finished:critic", "edge_selected:critic",
      "node_started:done",    "node_finished:done",   "run_finished"};
  CHECK(h.types() == expected);
  // The critic received the mapped text.
  REQUIRE(h.provider.calls.size() == 2);
  CHECK(h.provider.calls[1].messages.back().content.find("draft one") !=
        std::string::npos);
  Expected<RunRecord> record = h.store->loadRun(r.runId);
  REQUIRE(record);
  CHECK(record->status == RunStatus::Finished);
}

TEST_CASE("as refine(3) allows three traversals, then the loop is exhausted",
          "[engine]") {
  WorkflowDesc wf = writerCritic(3, false);
  Harness h;
  h.provider.replies["writer"] = {R"({"text": "d"})"};
  h.provider.replies["critic"] = {R"({"pass": false, "notes": "again"})"};
  Engine engine(wf, h.deps());
  RunResult r = engine.run({});
  CHECK(r.status == RunStatus::LoopExhausted);
  REQUIRE(r.error);
  CHECK(r.error->message.find("refine") != std::string::npos);
  CHECK(h.provider.callsFor("writer") == 4); // 1 + 3
  CHECK(h.provider.callsFor("critic") == 4);
  CHECK(r.outputs["writer"].contains("_tokens"));
}

TEST_CASE("a bare fallback edge is the way out of an exhausted loop",
          "[engine]") {
  WorkflowDesc wf = writerCritic(2, true);
  Harness h;
  h.provider.replies["writer"] = {R"({"text": "d"})"};
  h.provider.replies["critic"] = {R"({"pass": false, "notes": "no"})"};
  Engine engine(wf, h.deps());
  RunResult r = engine.run({});
  // `when not pass` wins while the loop has traversals left; then the bare
  // edge to `fail` is taken.
  CHECK(h.provider.callsFor("writer") == 3);
  CHECK(r.status == RunStatus::Failed);
}

TEST_CASE("the history of a node holds every iteration", "[engine]") {
  WorkflowDesc wf = writerCritic(5, false);
  Harness h;
  h.provider.replies["writer"] = {R"({"text": "v1"})", R"({"text": "v2"})",
                                  R"({"text": "v3"})"};
  h.provider.replies["critic"] = {R"({"pass": false, "notes": "a"})",
                                  R"({"pass": false, "notes": "b"})",
                                  R"({"pass": true, "notes": "c"})"};
  Engine engine(wf, h.deps());
  RunResult r = engine.run({});
  REQUIRE(r.status == RunStatus::Finished);
  // Feedback flowed back into the writer's input.
  CHECK(h.provider.calls[2].messages.back().content.find("\"feedback\"") !=
        std::string::npos);
  JsonScope scope;
  (void)scope;
  CHECK(h.count("node_finished", "writer") == 3);
}

TEST_CASE("an invalid structured reply is re-asked with the field errors",
          "[engine]") {
  WorkflowDesc wf = writerCritic(3, false);
  Harness h;
  h.provider.replies["writer"] = {R"({"txt": "oops"})", R"({"text": "ok"})"};
  h.provider.replies["critic"] = {R"({"pass": true, "notes": "fine"})"};
  Engine engine(wf, h.deps());
  RunResult r = engine.run({});
  REQUIRE(r.status == RunStatus::Finished);
  REQUIRE(h.provider.callsFor("writer") == 2);
  const LlmRequest &retry = h.provider.calls[1];
  CHECK(retry.messages.back().role == "user");
  CHECK(retry.messages.back().content.find("field 'text' is missing") !=
        std::string::npos);
}

TEST_CASE("schema exhaustion is its own error", "[engine]") {
  WorkflowDesc wf = writerCritic(3, false);
  Harness h;
  h.provider.replies["writer"] = {"not json at all"};
  EngineDeps deps = h.deps();
  deps.maxSchemaRetries = 2;
  Engine engine(wf, deps);
  RunResult r = engine.run({});
  CHECK(r.status == RunStatus::FailedResumable);
  REQUIRE(r.error);
  CHECK(r.error->code == ErrorCode::SchemaInvalid);
  CHECK(h.provider.callsFor("writer") == 3);
}

TEST_CASE("max_iterations stops the run; a larger budget resumes it without "
          "repeating calls",
          "[engine]") {
  WorkflowDesc wf = writerCritic(10, false);
  wf.budget.maxIterations = 3;
  Harness h;
  h.provider.replies["writer"] = {R"({"text": "d"})"};
  h.provider.replies["critic"] = {R"({"pass": false, "notes": "n"})",
                                  R"({"pass": false, "notes": "n"})",
                                  R"({"pass": true, "notes": "y"})"};
  Engine engine(wf, h.deps());
  RunResult r = engine.run({});
  CHECK(r.status == RunStatus::BudgetExceeded);
  CHECK(h.provider.calls.size() == 3);
  CHECK(h.count("budget_exceeded") + h.count("budget_warning") >= 1);

  RunOptions more;
  BudgetDesc bigger;
  bigger.maxIterations = 100;
  more.budgetOverride = bigger;
  RunResult resumed = engine.resume(r.runId, Json(), more);
  CHECK(resumed.status == RunStatus::Finished);
  // 3 calls before + writer, critic(true)... no call repeated.
  CHECK(h.provider.callsFor("writer") == 2 + 1);
  CHECK(h.provider.callsFor("critic") == 3);
}

TEST_CASE("a failed call resumes at the failed node", "[engine]") {
  WorkflowDesc wf = writerCritic(3, false);
  Harness h;
  h.provider.replies["writer"] = {R"({"text": "d"})"};
  h.provider.replies["critic"] = {R"({"pass": true, "notes": "y"})"};
  Engine engine(wf, h.deps());
  // Fail the critic's first call.
  h.provider.replies["critic"].clear();
  RunResult r = engine.run({});
  CHECK(r.status == RunStatus::FailedResumable);
  CHECK(r.node == "critic");
  h.provider.replies["critic"] = {R"({"pass": true, "notes": "y"})"};
  RunResult resumed = engine.resume(r.runId, Json(), {});
  REQUIRE(resumed.status == RunStatus::Finished);
  CHECK(h.provider.callsFor("writer") == 1);
  CHECK(resumed.outputs["writer"]["text"] == "d");
}

TEST_CASE("human gates inside parallel branches fail for good, not "
          "resumable",
          "[engine][human]") {
  WorkflowDesc wf;
  wf.name = "gates";
  wf.sourceSha256 = "g";
  wf.schemas.push_back(schema("decision", {{"approved", FieldType::Bool}}));
  NodeDesc router;
  router.kind = NodeKind::Router;
  router.name = "split";
  wf.nodes.push_back(router); // 0
  for (const char *name : {"legal", "security"}) {
    NodeDesc gate;
    gate.kind = NodeKind::Human;
    gate.name = name;
    gate.output = 0;
    wf.nodes.push_back(gate); // 1, 2
  }
  addTerminals(wf);
  wf.edges.push_back(edge(0, 1));
  wf.edges.push_back(edge(0, 2));
  wf.edges.push_back(edge(1, wf.doneIndex()));
  wf.edges.push_back(edge(2, wf.doneIndex()));
  Harness h;
  Engine engine(wf, h.deps());
  RunResult r = engine.run({});
  CHECK(r.status == RunStatus::Failed);
  REQUIRE(r.error);
  CHECK(r.error->message.find("parallel branch") != std::string::npos);
  CHECK(r.error->message.find("C144") != std::string::npos);
  REQUIRE(!h.events.empty());
  CHECK(h.events.back().type == "run_failed");
  CHECK(h.events.back().data.value("resumable", true) == false);
}

TEST_CASE("fan-out branches converge on an await node", "[engine]") {
  WorkflowDesc wf;
  wf.name = "review";
  wf.sourceSha256 = "h";
  wf.schemas.push_back(schema("review", {{"finding", FieldType::String}}));
  wf.schemas.push_back(schema("verdict", {{"ok", FieldType::Bool}}));
  NodeDesc router;
  router.kind = NodeKind::Router;
  router.name = "fan";
  wf.nodes.push_back(router);         // 0
  wf.nodes.push_back(agent("a", 0));  // 1
  wf.nodes.push_back(agent("b", 0));  // 2
  NodeDesc judge = agent("merge", 1); // 3
  judge.kind = NodeKind::Judge;
  judge.await = AwaitMode::WaitAll;
  judge.user = ref(RefNs::Input, {"ra"});
  wf.nodes.push_back(judge);
  addTerminals(wf);
  wf.edges.push_back(edge(0, 1));
  wf.edges.push_back(edge(0, 2));
  EdgeDesc fromA = edge(1, 3);
  fromA.with.push_back({"ra", ref(RefNs::Outputs, {"a", "finding"})});
  EdgeDesc fromB = edge(2, 3);
  fromB.with.push_back({"rb", ref(RefNs::Outputs, {"b", "finding"})});
  wf.edges.push_back(fromA);
  wf.edges.push_back(fromB);
  wf.edges.push_back(edge(3, wf.doneIndex()));
  wf.budget.maxParallelBranches = 2;

  Harness h;
  h.provider.replies["a"] = {R"({"finding": "from a"})"};
  h.provider.replies["b"] = {R"({"finding": "from b"})"};
  h.provider.replies["merge"] = {R"({"ok": true})"};
  Engine engine(wf, h.deps());
  RunResult r = engine.run({});
  REQUIRE(r.status == RunStatus::Finished);
  CHECK(h.provider.callsFor("merge") == 1);
  CHECK(h.count("join_ready", "merge") == 1);
  // The merge node saw both branches' mappings.
  LlmRequest mergeCall;
  for (const LlmRequest &c : h.provider.calls)
    if (c.messages.front().content == "node:merge")
      mergeCall = c;
  CHECK(mergeCall.messages.back().content == "from a");

  SECTION("a failing branch fails the run under wait_all") {
    Harness f;
    f.provider.replies["a"] = {R"({"finding": "x"})"};
    f.provider.replies["merge"] = {R"({"ok": true})"};
    Engine e2(wf, f.deps());
    RunResult r2 = e2.run({});
    CHECK(r2.status == RunStatus::FailedResumable);
    REQUIRE(r2.error);
    CHECK(r2.error->message.find("branch_fan_b") != std::string::npos);
  }
  SECTION("best_effort goes on with _failed_branches") {
    wf.nodes[3].await = AwaitMode::BestEffort;
    Harness f;
    f.provider.replies["a"] = {R"({"finding": "x"})"};
    f.provider.replies["merge"] = {R"({"ok": true})"};
    Engine e2(wf, f.deps());
    RunResult r2 = e2.run({});
    CHECK(r2.status == RunStatus::Finished);
    CHECK(f.provider.callsFor("merge") == 1);
  }
}

TEST_CASE("a round_robin router alternates", "[engine]") {
  WorkflowDesc wf;
  wf.name = "rr";
  wf.sourceSha256 = "h";
  wf.schemas.push_back(schema("v", {{"again", FieldType::Bool}}));
  NodeDesc rr;
  rr.kind = NodeKind::Router;
  rr.routerMode = RouterMode::RoundRobin;
  rr.name = "rr";
  wf.nodes.push_back(rr);            // 0
  wf.nodes.push_back(agent("x", 0)); // 1
  wf.nodes.push_back(agent("y", 0)); // 2
  addTerminals(wf);
  wf.edges.push_back(edge(0, 1));
  wf.edges.push_back(edge(0, 2));
  for (int from : {1, 2}) {
    EdgeDesc back = when(from, 0, "again", false);
    back.loop = 0;
    wf.edges.push_back(back);
    wf.edges.push_back(edge(from, wf.doneIndex()));
  }
  LoopDesc loop;
  loop.name = "turns";
  loop.cap = 3;
  loop.body = {0, 1, 2};
  loop.entries = {0};
  wf.loops.push_back(loop);
  Harness h;
  h.provider.replies["x"] = {R"({"again": true})"};
  h.provider.replies["y"] = {R"({"again": true})"};
  Engine engine(wf, h.deps());
  RunResult r = engine.run({});
  CHECK(r.status == RunStatus::Finished);
  CHECK(h.provider.callsFor("x") == 2);
  CHECK(h.provider.callsFor("y") == 2);
}

TEST_CASE("a human gate pauses, and resumes with validated answers",
          "[engine]") {
  WorkflowDesc wf;
  wf.name = "gate";
  wf.sourceSha256 = "h";
  wf.schemas.push_back(schema("plan", {{"plan", FieldType::String}}));
  wf.schemas.push_back(schema("decision", {{"approved", FieldType::Bool}}));
  wf.nodes.push_back(agent("planner", 0)); // 0
  NodeDesc human;
  human.kind = NodeKind::Human;
  human.name = "approval";
  human.output = 1;
  wf.nodes.push_back(human); // 1
  addTerminals(wf);
  EdgeDesc toGate = edge(0, 1);
  toGate.with.push_back({"plan", ref(RefNs::Outputs, {"planner", "plan"})});
  wf.edges.push_back(toGate);
  wf.edges.push_back(when(1, wf.doneIndex(), "approved", false));
  wf.edges.push_back(when(1, wf.failIndex(), "approved", true));

  Harness h;
  h.provider.replies["planner"] = {R"({"plan": "ship it"})"};
  Engine engine(wf, h.deps());
  RunResult r = engine.run({});
  REQUIRE(r.status == RunStatus::PausedWaitingHuman);
  CHECK(r.questions["plan"] == "ship it");
  CHECK(!r.interactionId.empty());
  Expected<Json> interaction =
      h.store->loadInteraction(r.runId, r.interactionId);
  REQUIRE(interaction);
  CHECK((*interaction)["questions"]["plan"] == "ship it");

  // No answers for a paused run: refused, and the run stays paused.
  RunResult missing = engine.resume(r.runId, Json(), {});
  CHECK(missing.status == RunStatus::Failed);
  REQUIRE(missing.error);
  CHECK(missing.error->message.find("approval") != std::string::npos);

  // Answers that do not match the gate's schema fail the gate...
  RunResult bad = engine.resume(r.runId, Json{{"approved", "yes"}}, {});
  CHECK(bad.status == RunStatus::FailedResumable);
  REQUIRE(bad.error);
  CHECK(bad.error->message.find("approved") != std::string::npos);

  // ...and resuming asks again.
  RunResult again = engine.resume(r.runId, Json(), {});
  CHECK(again.status == RunStatus::PausedWaitingHuman);

  RunResult good = engine.resume(r.runId, Json{{"approved", true}}, {});
  CHECK(good.status == RunStatus::Finished);
  CHECK(h.provider.callsFor("planner") == 1);
  CHECK(good.outputs["approval"]["approved"] == true);
}

TEST_CASE("compute and verify nodes need no model", "[engine]") {
  WorkflowDesc wf;
  wf.name = "checks";
  wf.sourceSha256 = "h";
  wf.schemas.push_back(schema("n", {{"double", FieldType::Int}}));
  NodeDesc compute;
  compute.kind = NodeKind::Compute;
  compute.name = "calc";
  compute.output = 0;
  compute.exprs.push_back({"double", "vars.n * 2", [](const Scope &s) {
                             return expr::mul(expr::path(s, RefNs::Vars, {"n"}),
                                              Json(2));
                           }});
  wf.nodes.push_back(compute); // 0
  NodeDesc verify;
  verify.kind = NodeKind::Verify;
  verify.name = "check";
  verify.checks.push_back(
      {"big", "outputs.calc.double > 10", [](const Scope &s) {
         return expr::gt(expr::path(s, RefNs::Outputs, {"calc", "double"}),
                         Json(10));
       }});
  wf.nodes.push_back(verify); // 1
  addTerminals(wf);
  wf.edges.push_back(edge(0, 1));
  wf.edges.push_back(when(1, wf.doneIndex(), "passed", false));
  wf.edges.push_back(when(1, wf.failIndex(), "passed", true));
  VarDesc n;
  n.name = "n";
  n.type = FieldType::Int;
  n.defaultValue = Json(3);
  wf.vars.push_back(n);

  Harness h;
  Engine engine(wf, h.deps());
  RunResult small = engine.run({});
  CHECK(small.status == RunStatus::Failed);
  CHECK(small.outputs["calc"]["double"] == 6);
  CHECK(small.outputs["check"]["passed"] == false);
  CHECK(small.outputs["check"]["failures"][0]["check"] == "big");

  RunOptions big;
  big.vars["n"] = "8"; // a --var string, coerced to int
  RunResult r = engine.run(big);
  CHECK(r.status == RunStatus::Finished);
  CHECK(r.outputs["calc"]["double"] == 16);
  CHECK(h.provider.calls.empty());
}

TEST_CASE("tool commands quote values and capture results", "[engine]") {
  WorkflowDesc wf;
  wf.name = "tools";
  wf.sourceSha256 = "h";
  NodeDesc tool;
  tool.kind = NodeKind::Tool;
  tool.name = "run_tests";
  tool.capture = true;
  tool.command.parts.push_back({"make test NAME=", std::nullopt});
  TemplatePart p;
  p.ref = TemplateRef{RefNs::Vars, {"name"}, false};
  tool.command.parts.push_back(p);
  wf.nodes.push_back(tool);
  addTerminals(wf);
  wf.edges.push_back(edge(0, wf.doneIndex()));
  VarDesc name;
  name.name = "name";
  name.defaultValue = Json("x'; rm -rf /; echo '");
  wf.vars.push_back(name);

  Harness h;
  ToolResult failing;
  failing.exitCode = 2;
  failing.stdoutText = "3 tests failed";
  h.tools.results = {failing};
  Engine engine(wf, h.deps());
  RunResult r = engine.run({});
  REQUIRE(r.status == RunStatus::Finished);
  REQUIRE(h.tools.calls.size() == 1);
  // The value reaches the command through a variable (ShellCommand.cpp).
  CHECK(h.tools.calls[0].command == "__iterc_1='x'\\''; rm -rf /; echo '\\'''\n"
                                    "make test NAME=\"${__iterc_1}\"");
  CHECK(r.outputs["run_tests"]["exit_code"] == 2);
  CHECK(r.outputs["run_tests"]["stdout"] == "3 tests failed");
}

TEST_CASE("a model's reply reaches a tool command as text and never as code",
          "[engine][shell-template]") {
  // writer (a model) -> say (a real /bin/sh) -> done.
  WorkflowDesc wf;
  wf.name = "relay";
  wf.sourceSha256 = "h";
  wf.schemas.push_back(schema("draft", {{"text", FieldType::String}}));
  wf.nodes.push_back(agent("writer", 0));
  NodeDesc say;
  say.kind = NodeKind::Tool;
  say.name = "say";
  say.capture = true;
  say.command.parts = {
      {"printf '%s|' \"", std::nullopt},
      {"", TemplateRef{RefNs::Outputs, {"writer", "text"}, false}},
      {"\" '", std::nullopt},
      {"", TemplateRef{RefNs::Outputs, {"writer", "text"}, false}},
      {"'", std::nullopt}};
  wf.nodes.push_back(say);
  addTerminals(wf);
  wf.edges.push_back(edge(0, 1));
  wf.edges.push_back(edge(1, wf.doneIndex()));
  const std::string reply = "\"; touch pwned; '$(touch pwned)`touch pwned`";
  Harness h;
  h.provider.replies["writer"] = {Json{{"text", reply}}.dump()};
  char pattern[] = "/tmp/iterc-engine-XXXXXX";
  REQUIRE(::mkdtemp(pattern) != nullptr);
  std::string ws = pattern;
  std::unique_ptr<ToolRunner> shell = makeProcessRunner();
  EngineDeps deps = h.deps();
  deps.tools = shell.get();
  Engine engine(wf, deps);
  RunOptions options;
  options.workspace = ws;
  RunResult r = engine.run(options);
  bool canary = ::access((ws + "/pwned").c_str(), F_OK) == 0;
  (void)!std::system(("rm -rf '" + ws + "'").c_str());
  REQUIRE(r.status == RunStatus::Finished);
  CHECK(r.outputs["say"]["stdout"] == reply + "|" + reply + "|");
  CHECK_FALSE(canary);
}

TEST_CASE("a loop that makes no progress stops early", "[engine]") {
  WorkflowDesc wf = writerCritic(10, false);
  wf.loops[0].noProgress = 2;
  Harness h;
  h.provider.replies["writer"] = {R"({"text": "same"})"};
  h.provider.replies["critic"] = {R"({"pass": false, "notes": "same"})"};
  Engine engine(wf, h.deps());
  RunResult r = engine.run({});
  CHECK(r.status == RunStatus::NoProgress);
  REQUIRE(r.error);
  CHECK(r.error->message.find("refine") != std::string::npos);
  CHECK(h.provider.callsFor("writer") == 2);
}

TEST_CASE("secret variables never reach events or artifacts", "[engine]") {
  WorkflowDesc wf = writerCritic(3, false);
  wf.nodes[0].publish = "draft";
  wf.nodes[0].user = ref(RefNs::Vars, {"token"});
  VarDesc token;
  token.name = "token";
  token.secret = true;
  token.defaultValue = Json("sk-very-secret-value");
  wf.vars.push_back(token);
  Harness h;
  h.provider.replies["writer"] = {R"({"text": "I saw sk-very-secret-value"})"};
  h.provider.replies["critic"] = {R"({"pass": true, "notes": "ok"})"};
  Engine engine(wf, h.deps());
  RunResult r = engine.run({});
  REQUIRE(r.status == RunStatus::Finished);
  // The model did get the value...
  CHECK(h.provider.calls[0].messages.back().content == "sk-very-secret-value");
  // ...but nothing recorded holds it.
  Expected<std::vector<Event>> events = h.store->loadEvents(r.runId);
  REQUIRE(events);
  for (const Event &e : *events)
    CHECK(e.toJson().dump().find("sk-very-secret-value") == std::string::npos);
}

TEST_CASE("a cost budget with an unpriced model fails before any call",
          "[engine]") {
  WorkflowDesc wf = writerCritic(3, false);
  wf.nodes[0].model = "openai/no-such-model-xyz";
  wf.budget.maxCostUsd = 1.0;
  Harness h;
  Engine engine(wf, h.deps());
  RunResult r = engine.run({});
  CHECK(r.status == RunStatus::Failed);
  REQUIRE(r.error);
  CHECK(r.error->message.find("no-such-model-xyz") != std::string::npos);
  CHECK(h.provider.calls.empty());
}

namespace {
class FakeToolbox : public Toolbox {
public:
  std::vector<std::pair<std::string, Json>> calls;
  std::optional<ToolSpec> find(const std::string &name) override {
    if (name != "lookup" && name != "erase")
      return std::nullopt;
    return ToolSpec{name, "test tool", Json{{"type", "object"}}};
  }
  Expected<Json> call(const std::string &name, const Json &args) override {
    calls.emplace_back(name, args);
    return Json("value of " + args.value("key", std::string()));
  }
  bool mutates(const std::string &name) override { return name == "erase"; }
};
} // namespace

TEST_CASE("agents call their tools and see the results", "[engine]") {
  WorkflowDesc wf = writerCritic(3, false);
  wf.nodes[0].tools = {"lookup", "erase"};
  wf.nodes[0].readonly = true;
  Harness h;
  FakeToolbox box;
  h.provider.replies["writer"] = {R"(CALL lookup {"key": "k1"})",
                                  R"(CALL erase {"key": "k1"})",
                                  R"({"text": "done"})"};
  h.provider.replies["critic"] = {R"({"pass": true, "notes": "ok"})"};
  EngineDeps deps = h.deps();
  deps.toolbox = &box;
  Engine engine(wf, deps);
  RunResult r = engine.run({});
  REQUIRE(r.status == RunStatus::Finished);
  CHECK(r.outputs["writer"]["text"] == "done");
  // The readonly agent could look up but not erase.
  REQUIRE(box.calls.size() == 1);
  CHECK(box.calls[0].first == "lookup");
  const LlmRequest &third = h.provider.calls[2];
  REQUIRE(third.messages.size() >= 4);
  std::string all;
  for (const LlmMessage &m : third.messages)
    all += m.role + ":" + m.content + "\n";
  CHECK(all.find("tool:value of k1") != std::string::npos);
  CHECK(all.find("readonly") != std::string::npos);
  CHECK(third.tools.size() == 2);

  SECTION("a tool the workflow does not provide is an error before any call") {
    wf.nodes[0].tools = {"missing_tool"};
    Harness h2;
    EngineDeps d2 = h2.deps();
    d2.toolbox = &box;
    Engine e2(wf, d2);
    RunResult r2 = e2.run({});
    CHECK(r2.status == RunStatus::FailedResumable);
    REQUIRE(r2.error);
    CHECK(r2.error->message.find("missing_tool") != std::string::npos);
    CHECK(h2.provider.calls.empty());
  }
}

namespace {
/// An MCP-like toolbox: `mcp.big.*` expands to `count` tools, and
/// `mcp.s.x.y` and `mcp.s.x__y` both exist.
class ManyToolbox : public Toolbox {
public:
  size_t count = 0;
  std::optional<ToolSpec> find(const std::string &name) override {
    if (name != "mcp.s.x.y" && name != "mcp.s.x__y")
      return std::nullopt;
    return ToolSpec{name, "test tool", Json{{"type", "object"}}};
  }
  std::vector<ToolSpec> expand(const std::string &pattern) override {
    std::vector<ToolSpec> specs;
    if (pattern == "mcp.big.*")
      for (size_t i = 0; i < count; ++i)
        specs.push_back({"mcp.big.t" + std::to_string(i), "tool",
                         Json{{"type", "object"}}});
    return specs;
  }
  Expected<Json> call(const std::string &, const Json &) override {
    return Json("called");
  }
  bool mutates(const std::string &) override { return false; }
};

/// Runs `wf` (writer and critic answering at once) with `box` as its
/// toolbox, in `h`.
RunResult runWithToolbox(const WorkflowDesc &wf, Toolbox &box, Harness &h) {
  h.provider.replies["writer"] = {R"({"text": "done"})"};
  h.provider.replies["critic"] = {R"({"pass": true, "notes": "ok"})"};
  EngineDeps deps = h.deps();
  deps.toolbox = &box;
  Engine engine(wf, deps);
  return engine.run({});
}
} // namespace

TEST_CASE("an agent offered more tools than the per-call limit fails before "
          "any call",
          "[engine][mcp]") {
  WorkflowDesc wf = writerCritic(3, false);
  wf.nodes[0].tools = {"mcp.big.*"};
  ManyToolbox box;
  box.count = 10000;
  Harness h;
  RunResult r = runWithToolbox(wf, box, h);
  CHECK(r.status == RunStatus::FailedResumable);
  REQUIRE(r.error);
  CHECK(r.error->message.find("10000 tools") != std::string::npos);
  CHECK(r.error->message.find("limit of 128") != std::string::npos);
  CHECK(r.error->message.find("ITERC_MAX_TOOLS") != std::string::npos);
  CHECK(h.provider.calls.empty());

  SECTION("at the limit the tools are all sent") {
    box.count = 128;
    Harness h2;
    CHECK(runWithToolbox(wf, box, h2).status == RunStatus::Finished);
    REQUIRE(!h2.provider.calls.empty());
    CHECK(h2.provider.calls[0].tools.size() == 128);
  }
  SECTION("ITERC_MAX_TOOLS raises the limit") {
    iterc::rt::test::ScopedEnv env("ITERC_MAX_TOOLS", "20000");
    Harness h2;
    CHECK(runWithToolbox(wf, box, h2).status == RunStatus::Finished);
    REQUIRE(!h2.provider.calls.empty());
    CHECK(h2.provider.calls[0].tools.size() == 10000);
  }
}

TEST_CASE("two tools with the same wire name are refused, naming both",
          "[engine][mcp]") {
  WorkflowDesc wf = writerCritic(3, false);
  wf.nodes[0].tools = {"mcp.s.x.y", "mcp.s.x__y"};
  ManyToolbox box;
  Harness h;
  RunResult r = runWithToolbox(wf, box, h);
  CHECK(r.status == RunStatus::FailedResumable);
  REQUIRE(r.error);
  CHECK(r.error->message.find("'mcp.s.x.y'") != std::string::npos);
  CHECK(r.error->message.find("'mcp.s.x__y'") != std::string::npos);
  CHECK(r.error->message.find("mcp__s__x__y") != std::string::npos);
  CHECK(h.provider.calls.empty());
}

namespace {
/// Tracks how many tool runs overlap.
class ConcurrencyProbe : public ToolRunner {
public:
  std::atomic<int> running{0};
  std::atomic<int> peak{0};
  Expected<ToolResult> run(const ToolInvocation &) override {
    int now = ++running;
    int seen = peak.load();
    while (now > seen && !peak.compare_exchange_weak(seen, now))
      ;
    std::this_thread::sleep_for(std::chrono::milliseconds(30));
    --running;
    ToolResult r;
    r.exitCode = 0;
    r.stdoutText = "{}";
    return r;
  }
};
} // namespace

TEST_CASE("branches that change the workspace run one at a time", "[engine]") {
  WorkflowDesc wf;
  wf.name = "builds";
  wf.sourceSha256 = "h";
  NodeDesc router;
  router.kind = NodeKind::Router;
  router.name = "fan";
  wf.nodes.push_back(router);
  for (int i = 0; i < 3; ++i) {
    NodeDesc tool;
    tool.kind = NodeKind::Tool;
    tool.name = "build" + std::to_string(i);
    tool.command = text("make");
    wf.nodes.push_back(tool);
  }
  NodeDesc join;
  join.kind = NodeKind::Join;
  join.name = "join";
  join.await = AwaitMode::WaitAll;
  wf.nodes.push_back(join);
  addTerminals(wf);
  for (int i = 1; i <= 3; ++i) {
    wf.edges.push_back(edge(0, i));
    wf.edges.push_back(edge(i, 4));
  }
  wf.edges.push_back(edge(4, wf.doneIndex()));
  wf.budget.maxParallelBranches = 3;

  Harness h;
  ConcurrencyProbe probe;
  EngineDeps deps = h.deps();
  deps.tools = &probe;
  Engine engine(wf, deps);
  RunResult r = engine.run({});
  REQUIRE(r.status == RunStatus::Finished);
  CHECK(probe.peak == 1);
  CHECK(r.outputs["join"].contains("build0"));
}

TEST_CASE("a tool's stdout must match its declared output schema", "[engine]") {
  WorkflowDesc wf;
  wf.name = "t";
  wf.sourceSha256 = "h";
  wf.schemas.push_back(schema("result", {{"passed", FieldType::Bool}}));
  NodeDesc tool;
  tool.kind = NodeKind::Tool;
  tool.name = "ci";
  tool.output = 0;
  tool.command = text("run-ci");
  wf.nodes.push_back(tool);
  addTerminals(wf);
  wf.edges.push_back(when(0, wf.doneIndex(), "passed", false));
  wf.edges.push_back(when(0, wf.failIndex(), "passed", true));

  Harness h;
  ToolResult good;
  good.exitCode = 0;
  good.stdoutText = "{\"passed\": true}";
  h.tools.results = {good};
  Engine engine(wf, h.deps());
  CHECK(engine.run({}).status == RunStatus::Finished);

  Harness bad;
  ToolResult wrong;
  wrong.exitCode = 0;
  wrong.stdoutText = "{\"passed\": \"yes\"}";
  bad.tools.results = {wrong};
  Engine engine2(wf, bad.deps());
  RunResult r = engine2.run({});
  CHECK(r.status == RunStatus::FailedResumable);
  REQUIRE(r.error);
  CHECK(r.error->code == ErrorCode::SchemaInvalid);
  CHECK(r.error->message.find("passed") != std::string::npos);
}

//===----------------------------------------------------------------------===//
// Resuming in the middle of an agent's work
//===----------------------------------------------------------------------===//

namespace {

/// One tool, `count`, that counts its calls and can raise the interrupt
/// flag while it runs (as a Ctrl-C during a tool call would).
class CountingToolbox : public Toolbox {
public:
  int calls = 0;
  std::atomic<bool> *interruptOnCall = nullptr;
  std::optional<ToolSpec> find(const std::string &name) override {
    if (name != "count")
      return std::nullopt;
    return ToolSpec{"count", "counts", Json{{"type", "object"}}};
  }
  Expected<Json> call(const std::string &, const Json &) override {
    ++calls;
    if (interruptOnCall)
      interruptOnCall->store(true);
    return Json{{"count", calls}};
  }
  bool mutates(const std::string &) override { return true; }
};

} // namespace

TEST_CASE("resume: a tool an agent called before the interruption does not "
          "run again, and no model call is repeated",
          "[engine][resume]") {
  WorkflowDesc wf;
  wf.name = "tooling";
  wf.sourceSha256 = "h";
  wf.schemas.push_back(schema("draft", {{"text", FieldType::String}}));
  NodeDesc writer = agent("writer", 0);
  writer.tools = {"count"};
  wf.nodes.push_back(writer);
  addTerminals(wf);
  wf.edges.push_back(edge(0, wf.doneIndex()));

  Harness h;
  h.provider.replies["writer"] = {"CALL count {\"n\": 1}",
                                  "{\"text\": \"counted\"}"};
  CountingToolbox tools;
  std::atomic<bool> interrupt{false};
  tools.interruptOnCall = &interrupt;
  EngineDeps deps = h.deps();
  deps.toolbox = &tools;
  deps.interrupt = &interrupt;
  Engine engine(wf, deps);
  RunOptions options;
  options.runId = "tool-run";
  RunResult first = engine.run(options);
  REQUIRE(first.status == RunStatus::Cancelled);
  CHECK(tools.calls == 1);
  CHECK(h.provider.calls.size() == 1);

  interrupt = false;
  tools.interruptOnCall = nullptr;
  RunResult resumed = engine.resume("tool-run", Json::object(), {});
  INFO((resumed.error ? resumed.error->message : ""));
  REQUIRE(resumed.status == RunStatus::Finished);
  CHECK(resumed.outputs["writer"]["text"] == "counted");
  CHECK(tools.calls == 1); // the recorded result was used
  // The first call came from the log; only the answer was asked for.
  CHECK(h.provider.calls.size() == 2);
  // The answer request carries the tool's recorded result.
  const LlmRequest &last = h.provider.calls.back();
  bool sawResult = false;
  for (const LlmMessage &m : last.messages)
    sawResult =
        sawResult || (m.role == "tool" &&
                      m.content.find("\"count\":1") != std::string::npos);
  CHECK(sawResult);
  CHECK(h.count("tool_called", "writer") == 1);
}

TEST_CASE("resume: an inheriting agent continues the conversation of a node "
          "that ran before the pause",
          "[engine][resume]") {
  WorkflowDesc wf;
  wf.name = "sessions";
  wf.sourceSha256 = "h";
  wf.schemas.push_back(schema("draft", {{"text", FieldType::String}}));
  wf.schemas.push_back(schema("ok", {{"approved", FieldType::Bool}}));
  wf.nodes.push_back(agent("writer", 0)); // 0
  NodeDesc gate;
  gate.kind = NodeKind::Human;
  gate.name = "gate";
  gate.output = 1;
  wf.nodes.push_back(gate); // 1
  NodeDesc editor = agent("editor", 0);
  editor.session = SessionMode::Inherit;
  wf.nodes.push_back(editor); // 2
  addTerminals(wf);
  wf.edges.push_back(edge(0, 1));
  EdgeDesc toEditor = edge(1, 2);
  toEditor.with.push_back(
      {"_session_id", ref(RefNs::Outputs, {"writer", "_session_id"})});
  wf.edges.push_back(toEditor);
  wf.edges.push_back(edge(2, wf.doneIndex()));

  Harness h;
  h.provider.replies["writer"] = {"{\"text\": \"first draft\"}"};
  h.provider.replies["editor"] = {"{\"text\": \"edited\"}"};
  RunOptions options;
  options.runId = "session-run";
  {
    Engine engine(wf, h.deps());
    RunResult paused = engine.run(options);
    REQUIRE(paused.status == RunStatus::PausedWaitingHuman);
  }
  // A new process: nothing of the first one's memory is left.
  Engine engine(wf, h.deps());
  RunResult r =
      engine.resume("session-run", Json{{"approved", true}}, RunOptions());
  INFO((r.error ? r.error->message : ""));
  REQUIRE(r.status == RunStatus::Finished);
  // The editor's request starts with the writer's whole conversation.
  const LlmRequest &editorCall = h.provider.calls.back();
  REQUIRE(editorCall.messages.size() >= 4);
  CHECK(editorCall.messages[0].role == "system");
  CHECK(editorCall.messages[0].content.rfind("node:writer", 0) == 0);
  CHECK(editorCall.messages[2].role == "assistant");
  CHECK(editorCall.messages[2].content.find("first draft") !=
        std::string::npos);
  CHECK(h.provider.callsFor("writer") == 2); // the editor's request counts it
  CHECK(h.count("session_saved", "writer") == 1);
}
