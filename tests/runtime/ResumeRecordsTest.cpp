//===- ResumeRecordsTest.cpp - A resume answers each step from its record -===//
//
// The engine with the OpenAI provider against a fake server on loopback
// and the file store, interrupted (as Ctrl-C or a kill leaves it) and
// resumed by a fresh engine. A recorded answer goes back to the call that
// got it and to no other: not to a parallel branch with the same prompt,
// not to a node that never ran, not to a loop's next iteration. A step that
// failed on invalid answers asks the model again. The usage total of a
// resumed run is the sum of the calls in its log.
//
//===----------------------------------------------------------------------===//
#include "AppTestUtil.h"
#include "FakeHttpServer.h"
#include "RuntimeTestUtil.h"
#include "WorkflowTestUtil.h"

#include "iterc/rt/Engine.h"
#include "iterc/rt/Http.h"
#include "iterc/rt/Llm.h"

#include <catch2/catch.hpp>

#include <atomic>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <sstream>

using namespace iterc::rt;
using iterc::rt::test::edge;
using iterc::rt::test::CliResult;
using iterc::rt::test::ref;
using iterc::rt::test::runCli;
using iterc::rt::test::ScopedEnv;
using iterc::rt::test::schema;
using iterc::rt::test::TempDir;
using iterc::rt::test::text;
using iterc::test::FakeHttpServer;
using iterc::test::FakeReply;
using iterc::test::FakeRequest;

namespace {

struct Reply {
  std::string text;
  int64_t in = 1, out = 1;
};

/// A fake OpenAI server. Requests are told apart by their system prompt
/// only (two nodes with the same prompt look the same to it); each prompt
/// gets its scripted replies in order. With `hold`, a prompt answered once
/// gets no answer again (the request hangs) until the test lets it go.
class ModelServer {
public:
  std::map<std::string, std::vector<Reply>> script;
  std::atomic<bool> hold{false};

  /// Requests with this system prompt the server has received.
  size_t requests(const std::string &system) {
    std::lock_guard<std::mutex> lock(mutex);
    return received[system];
  }
  std::string baseUrl() const { return server.baseUrl(); }

private:
  FakeReply answer(const FakeRequest &request) {
    Json body = Json::parse(request.body, nullptr, false);
    std::string system;
    if (body.is_object() && body.contains("messages") &&
        !body["messages"].empty())
      system = body["messages"][0].value("content", std::string());
    std::lock_guard<std::mutex> lock(mutex);
    ++received[system];
    size_t index = answered[system];
    std::vector<Reply> &replies = script[system];
    if ((hold && index >= 1) || index >= replies.size()) {
      FakeReply hang;
      hang.mode = FakeReply::Mode::Hang;
      return hang;
    }
    ++answered[system];
    const Reply &r = replies[index];
    Json message = {{"role", "assistant"}, {"content", r.text}};
    Json out = {{"id", "chatcmpl-" + std::to_string(index)},
                {"choices",
                 Json::array({{{"index", 0},
                               {"message", message},
                               {"finish_reason", "stop"}}})},
                {"usage",
                 {{"prompt_tokens", r.in},
                  {"completion_tokens", r.out},
                  {"total_tokens", r.in + r.out}}}};
    return FakeReply::json(200, out.dump());
  }

  std::mutex mutex;
  std::map<std::string, size_t> received, answered;
  FakeHttpServer server{[this](const FakeRequest &r) { return answer(r); }};
};

/// The engine against `model`, on a file store in a temporary directory.
/// Each run or resume is a fresh engine and store, as a new process is;
/// `interruptWhen` interrupts the run (as Ctrl-C does) after an event.
struct Rig {
  ModelServer model;
  TempDir dir;
  std::unique_ptr<HttpTransport> http = makeHttpTransport();
  std::unique_ptr<LlmProvider> provider;
  ProviderSet providers;
  std::atomic<bool> interrupt{false};
  std::function<bool(const Event &)> interruptWhen;

  Rig() {
    ProviderConfig config;
    config.baseUrl = model.baseUrl();
    config.apiKey = "sk-test";
    config.retry.maxAttempts = 1;
    provider = makeOpenAiProvider(config, *http, systemClock());
    providers.setOverride(provider.get());
  }

  RunResult go(const WorkflowDesc &wf, bool resume, RunOptions options = {}) {
    std::unique_ptr<RunStore> store = makeFileStore(dir.path());
    EngineDeps deps;
    deps.store = store.get();
    deps.providers = &providers;
    deps.interrupt = &interrupt;
    deps.onEvent = [this](const Event &e) {
      if (interruptWhen && interruptWhen(e))
        interrupt = true;
    };
    Engine engine(wf, deps);
    options.runId = "r";
    if (!resume)
      return engine.run(options);
    interrupt = false;
    interruptWhen = nullptr;
    return engine.resume("r", Json(), options);
  }

  /// Resumes the run to its end.
  RunResult resumeToEnd(const WorkflowDesc &wf, RunOptions options = {}) {
    RunResult r = go(wf, true, std::move(options));
    INFO((r.error ? r.error->message : ""));
    REQUIRE(r.status == RunStatus::Finished);
    return r;
  }
  /// The run used `tokens`: what the calls in its log cost, each once.
  void checkUsage(const RunResult &r, int64_t tokens) {
    CHECK(r.usage.tokens == tokens);
    CHECK(r.usage.tokens == loggedTokens());
  }

  std::vector<Event> log() {
    Expected<std::vector<Event>> events = makeFileStore(dir.path())->loadEvents("r");
    REQUIRE(events);
    return *events;
  }
  std::vector<Event> responses(const std::string &node = "") {
    std::vector<Event> out;
    for (const Event &e : log())
      if (e.type == "llm_response" && (node.empty() || e.nodeId == node))
        out.push_back(e);
    return out;
  }
  /// What the calls in the log cost, in tokens.
  int64_t loggedTokens() {
    int64_t total = 0;
    for (const Event &e : responses())
      total += e.data["response"].value("input_tokens", int64_t(0)) +
               e.data["response"].value("output_tokens", int64_t(0));
    return total;
  }
  /// Rewrites the log as an older iterc wrote it: llm_response events
  /// without `execution` and `call`.
  size_t stripPlaces() {
    std::string path = dir / "runs/r/events.jsonl";
    std::istringstream in(iterc::rt::test::readText(path));
    std::string out, line;
    size_t stripped = 0;
    while (std::getline(in, line)) {
      Json j = Json::parse(line);
      stripped += j["data"].erase("execution") + j["data"].erase("call");
      out += j.dump() + "\n";
    }
    iterc::rt::test::writeText(path, out);
    return stripped;
  }
};

NodeDesc agent(const std::string &name, const std::string &system,
               const std::string &user, int output) {
  NodeDesc n;
  n.kind = NodeKind::Agent;
  n.name = name;
  n.model = "openai/m";
  n.output = output;
  n.system = text(system);
  n.user = text(user);
  return n;
}

/// `nodes` one after the other, then done.
WorkflowDesc sequence(const std::string &name, std::vector<SchemaDesc> schemas,
                      std::vector<NodeDesc> nodes) {
  WorkflowDesc wf;
  wf.name = name;
  wf.sourceSha256 = name + "-1";
  wf.schemas = std::move(schemas);
  wf.nodes = std::move(nodes);
  int last = int(wf.nodes.size()) - 1;
  addTerminals(wf);
  for (int i = 0; i < last; ++i)
    wf.edges.push_back(edge(i, i + 1));
  wf.edges.push_back(edge(last, wf.doneIndex()));
  return wf;
}

std::string finding(const std::string &s) {
  return Json{{"finding", s}}.dump();
}

/// fan -> {a, b} -> merge (wait_all) -> done; a and b send the very same
/// request unless their system prompts differ.
WorkflowDesc fanOutWf(const std::string &systemA = "node:same",
                      const std::string &systemB = "node:same") {
  WorkflowDesc wf;
  wf.name = "fan";
  wf.sourceSha256 = "fan-1";
  wf.schemas.push_back(schema("review", {{"finding", FieldType::String}}));
  wf.schemas.push_back(schema("verdict", {{"ok", FieldType::Bool}}));
  NodeDesc router;
  router.kind = NodeKind::Router;
  router.name = "fan";
  wf.nodes.push_back(router); // 0
  wf.nodes.push_back(agent("a", systemA, "review this", 0)); // 1
  wf.nodes.push_back(agent("b", systemB, "review this", 0)); // 2
  NodeDesc merge = agent("merge", "node:merge", "merge", 1); // 3
  merge.kind = NodeKind::Judge;
  merge.await = AwaitMode::WaitAll;
  wf.nodes.push_back(merge);
  addTerminals(wf);
  wf.edges.push_back(edge(0, 1));
  wf.edges.push_back(edge(0, 2));
  wf.edges.push_back(edge(1, 3));
  wf.edges.push_back(edge(2, 3));
  wf.edges.push_back(edge(3, wf.doneIndex()));
  wf.budget.maxParallelBranches = 2;
  return wf;
}

} // namespace

TEST_CASE("resume: parallel branches with the same prompt each get their "
          "own answer, and only the branch that did not run calls the model",
          "[engine][resume][records]") {
  Rig rig;
  rig.model.script["node:same"] = {{finding("answer 1"), 100, 10},
                                   {finding("answer 2"), 200, 20}};
  rig.model.script["node:merge"] = {{R"({"ok": true})", 1, 2}};
  // One branch at a time, so that the second one makes no request: an
  // abandoned request that the server read late would take the answer
  // meant for the resume. (Should it make one, it gets no answer.)
  rig.model.hold = true;
  rig.interruptWhen = [](const Event &e) {
    return e.type == "llm_response"; // The run stops after the first call.
  };
  WorkflowDesc wf = fanOutWf();
  wf.budget.maxParallelBranches = 1;
  RunResult first = rig.go(wf, false);
  INFO((first.error ? first.error->message : ""));
  // (An interrupted fan-out ends failed_resumable: the branch's
  // cancellation is the fan-out's error.)
  REQUIRE((first.status == RunStatus::Cancelled ||
           first.status == RunStatus::FailedResumable));
  std::vector<Event> recorded = rig.responses();
  REQUIRE(recorded.size() == 1);
  std::string ran = recorded[0].nodeId;
  std::string other = ran == "a" ? "b" : "a";
  size_t before = rig.model.requests("node:same");
  REQUIRE(before == 1);

  SECTION("a log with the places of the calls") {}
  SECTION("a log without them (written by an older iterc)") {
    CHECK(rig.stripPlaces() == 2); // execution and call of the one record
  }
  rig.model.hold = false;
  RunResult resumed = rig.resumeToEnd(wf);
  // The branch that ran has its own answer back; the other one asked.
  CHECK(resumed.outputs[ran]["finding"] == "answer 1");
  CHECK(resumed.outputs[other]["finding"] == "answer 2");
  CHECK(rig.model.requests("node:same") == before + 1);
  CHECK(rig.model.requests("node:merge") == 1);
  // One call of each branch in the log, with its own answer.
  REQUIRE(rig.responses(other).size() == 1);
  CHECK(rig.responses(other)[0].data["response"]["text"] ==
        finding("answer 2"));
  CHECK(rig.responses(ran).size() == 1);
  // The usage adds up: every call in the log, counted once.
  rig.checkUsage(resumed, 110 + 220 + 3);
}

TEST_CASE("resume: a node that never ran calls the model, even with the "
          "request of a node that ran",
          "[engine][resume][records]") {
  WorkflowDesc wf =
      sequence("chain", {schema("review", {{"finding", FieldType::String}})},
               {agent("writer", "node:same", "go", 0),
                agent("reviewer", "node:same", "go", 0)});

  Rig rig;
  rig.model.script["node:same"] = {{finding("first"), 40, 4},
                                   {finding("second"), 50, 5}};
  rig.interruptWhen = [](const Event &e) {
    return e.type == "node_finished" && e.nodeId == "writer";
  };
  RunResult first = rig.go(wf, false);
  REQUIRE(first.status == RunStatus::Cancelled);
  REQUIRE(rig.model.requests("node:same") == 1);

  RunResult resumed = rig.resumeToEnd(wf);
  CHECK(rig.model.requests("node:same") == 2);
  CHECK(resumed.outputs["writer"]["finding"] == "first");
  CHECK(resumed.outputs["reviewer"]["finding"] == "second");
  rig.checkUsage(resumed, 44 + 55);
}

TEST_CASE("resume: a loop's next iteration is not answered with the "
          "previous iteration's record",
          "[engine][resume][records]") {
  WorkflowDesc wf;
  wf.name = "loop";
  wf.sourceSha256 = "loop-1";
  wf.schemas.push_back(schema("draft", {{"text", FieldType::String}}));
  wf.schemas.push_back(schema("verdict", {{"pass", FieldType::Bool}}));
  // The same request in every iteration.
  wf.nodes.push_back(agent("writer", "node:writer", "write", 0)); // 0
  NodeDesc critic = agent("critic", "node:critic", "judge", 1);   // 1
  critic.kind = NodeKind::Judge;
  wf.nodes.push_back(critic);
  addTerminals(wf);
  wf.edges.push_back(edge(0, 1));
  EdgeDesc done = edge(1, wf.doneIndex());
  done.cond = EdgeDesc::Cond::Field;
  done.field = "pass";
  wf.edges.push_back(done);
  EdgeDesc back = done;
  back.to = 0;
  back.negated = true;
  back.loop = 0;
  wf.edges.push_back(back);
  LoopDesc loop;
  loop.name = "refine";
  loop.cap = 5;
  loop.body = {0, 1};
  loop.entries = {0};
  wf.loops.push_back(loop);

  Rig rig;
  rig.model.script["node:writer"] = {{R"({"text": "draft 1"})", 10, 1},
                                     {R"({"text": "draft 2"})", 20, 2}};
  rig.model.script["node:critic"] = {{R"({"pass": false})", 3, 1},
                                     {R"({"pass": true})", 4, 1}};
  // Interrupted as the writer's second iteration starts.
  rig.interruptWhen = [](const Event &e) {
    return e.type == "node_started" && e.nodeId == "writer" &&
           e.data.value("iteration", int64_t(0)) == 1;
  };
  RunResult first = rig.go(wf, false);
  REQUIRE(first.status == RunStatus::Cancelled);
  REQUIRE(rig.model.requests("node:writer") == 1);

  RunResult resumed = rig.resumeToEnd(wf);
  CHECK(resumed.outputs["writer"]["text"] == "draft 2");
  CHECK(rig.model.requests("node:writer") == 2);
  CHECK(rig.model.requests("node:critic") == 2);
  // Iteration 2 got the second draft, not a replay of the first.
  std::vector<std::string> drafts;
  for (const Event &e : rig.responses("writer"))
    drafts.push_back(e.data["response"].value("text", std::string()));
  CHECK(drafts == std::vector<std::string>{R"({"text": "draft 1"})",
                                           R"({"text": "draft 2"})"});
  rig.checkUsage(resumed, 11 + 22 + 4 + 5);
}

TEST_CASE("resume: a step that failed on invalid answers asks the model "
          "again instead of replaying them",
          "[engine][resume][records]") {
  WorkflowDesc wf =
      sequence("single", {schema("draft", {{"text", FieldType::String}})},
               {agent("writer", "node:writer", "write", 0)});

  Rig rig;
  rig.model.script["node:writer"] = {{"not json", 5, 1},
                                     {R"({"text": 7})", 5, 1},
                                     {"still not json", 5, 1}};
  RunResult first = rig.go(wf, false);
  REQUIRE(first.status == RunStatus::FailedResumable);
  REQUIRE(first.error);
  CHECK(first.error->code == ErrorCode::SchemaInvalid);
  REQUIRE(rig.model.requests("node:writer") == 3);
  bool saidResumable = false;
  for (const Event &e : rig.log())
    if (e.type == "run_failed")
      saidResumable = e.data.value("resumable", false);
  CHECK(saidResumable);

  rig.model.script["node:writer"].push_back({R"({"text": "valid"})", 5, 2});
  RunResult resumed = rig.resumeToEnd(wf);
  CHECK(resumed.outputs["writer"]["text"] == "valid");
  CHECK(rig.model.requests("node:writer") == 4); // one live call
  // The live answer is in the log, after the failed attempts.
  std::vector<Event> calls = rig.responses("writer");
  REQUIRE(calls.size() == 4);
  CHECK(calls.back().data["response"]["text"] == R"({"text": "valid"})");
  // The failed attempts were spent: they count in the total.
  rig.checkUsage(resumed, 3 * 6 + 7);
}

TEST_CASE("resume: a parallel branch that failed on invalid answers asks "
          "again, and its sibling keeps its answer",
          "[engine][resume][records]") {
  Rig rig;
  rig.model.script["node:a"] = {{finding("from a"), 8, 2}};
  rig.model.script["node:b"] = {{"no", 1, 1}, {"no", 1, 1}, {"no", 1, 1}};
  rig.model.script["node:merge"] = {{R"({"ok": true})", 1, 2}};
  WorkflowDesc wf = fanOutWf("node:a", "node:b");
  // One branch at a time: a finishes before b fails (a failing branch
  // cancels the others, which would make a's outcome a matter of timing).
  wf.budget.maxParallelBranches = 1;
  RunResult first = rig.go(wf, false);
  REQUIRE(first.status == RunStatus::FailedResumable);
  REQUIRE(first.error);
  CHECK(first.error->code == ErrorCode::SchemaInvalid);
  REQUIRE(rig.model.requests("node:b") == 3);
  REQUIRE(rig.responses("a").size() == 1);

  rig.model.script["node:b"].push_back({finding("from b"), 5, 5});
  RunResult resumed = rig.resumeToEnd(wf);
  CHECK(resumed.outputs["a"]["finding"] == "from a");
  CHECK(resumed.outputs["b"]["finding"] == "from b");
  CHECK(rig.model.requests("node:a") == 1);
  CHECK(rig.model.requests("node:b") == 4);
  rig.checkUsage(resumed, 10 + 3 * 2 + 10 + 3);
}

TEST_CASE("resume: a recorded call whose request changed is made again, "
          "and the log says so",
          "[engine][resume][records]") {
  NodeDesc writer = agent("writer", "node:writer", "", 0);
  writer.user = ref(RefNs::Vars, {"topic"});
  WorkflowDesc wf = sequence(
      "topic", {schema("draft", {{"text", FieldType::String}})}, {writer});
  VarDesc topic;
  topic.name = "topic";
  topic.defaultValue = Json("cats");
  wf.vars.push_back(topic);

  Rig rig;
  rig.model.script["node:writer"] = {{"not json", 30, 3},
                                     {R"({"text": "about dogs"})", 40, 4}};
  // Interrupted after the first (invalid) attempt was recorded.
  rig.interruptWhen = [](const Event &e) { return e.type == "llm_response"; };
  RunResult first = rig.go(wf, false);
  REQUIRE(first.status == RunStatus::Cancelled);
  REQUIRE(rig.responses().size() == 1);

  RunOptions dogs;
  dogs.vars["topic"] = "dogs";
  RunResult resumed = rig.resumeToEnd(wf, dogs);
  CHECK(resumed.outputs["writer"]["text"] == "about dogs");
  CHECK(rig.model.requests("node:writer") == 2);
  size_t changed = 0;
  for (const Event &e : rig.log())
    if (e.type == "llm_record_changed") {
      ++changed;
      CHECK(e.nodeId == "writer");
      CHECK(e.data.value("call", int64_t(-1)) == 0);
      CHECK(e.data.value("recorded_sha256", std::string()) ==
            rig.responses()[0].data.value("request_sha256", std::string()));
      CHECK(e.data.value("request_sha256", std::string()) !=
            e.data.value("recorded_sha256", std::string()));
    }
  CHECK(changed == 1);
  rig.checkUsage(resumed, 33 + 44);
}

TEST_CASE("resume (command line): a run that failed on invalid answers "
          "finishes with a live call, and its usage adds up",
          "[app][resume][records]") {
  ModelServer model;
  model.script["node:writer"] = {
      {"not json", 5, 1}, {"not json", 5, 1}, {"not json", 5, 1}};
  std::string baseUrl = model.baseUrl();
  ScopedEnv key("OPENAI_API_KEY", "sk-test"),
      base("OPENAI_BASE_URL", baseUrl.c_str()),
      cassette("ITERC_CASSETTE", nullptr);
  WorkflowDesc wf =
      sequence("single", {schema("draft", {{"text", FieldType::String}})},
               {agent("writer", "node:writer", "write", 0)});
  static const AppInfo info{"single", "single.iter", "flowchart TD\n",
                            "digraph single {}\n"};
  TempDir tmp;
  std::string store = tmp / "store";
  CliResult failed = runCli(
      wf, info, {"run", "--store-dir", store, "--run-id", "r1"}, "./single");
  INFO(failed.err);
  CHECK(failed.code == 1);
  CHECK(failed.err.find("the run can be resumed") != std::string::npos);
  REQUIRE(model.requests("node:writer") == 3);

  model.script["node:writer"].push_back({R"({"text": "valid"})", 5, 2});
  CliResult resumed =
      runCli(wf, info,
             {"resume", "--store-dir", store, "--run-id", "r1", "--json"},
             "./single");
  INFO(resumed.err);
  REQUIRE(resumed.code == 0);
  CHECK(model.requests("node:writer") == 4);
  std::string last = resumed.out.substr(
      resumed.out.rfind('\n', resumed.out.size() - 2) + 1);
  Json result = Json::parse(last);
  CHECK(result["outputs"]["writer"]["text"] == "valid");
  // The whole run: three failed attempts and the live call.
  CHECK(result["usage"]["tokens"] == 3 * 6 + 7);
  CHECK(result["usage"]["tokens_in"] == 4 * 5);
  CHECK(result["usage"]["tokens_out"] == 3 + 2);
}
