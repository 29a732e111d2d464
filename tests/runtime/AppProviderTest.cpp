//===- AppProviderTest.cpp - A compiled workflow and its model providers --===//
//
// Drives appMain against FakeHttpServer on loopback for what concerns the
// providers: the run's duration budget stops a model call in flight (exit
// 4, resumable) and request deadlines bound a server that never answers;
// each call's input is recorded (secrets redacted) and shown by `inspect`
// and `report`; run, its dry run and resume refuse a model without a key
// alike (exit 2); the dry run flags `restart:` services the chosen stack
// runtime cannot start again.
//
//===----------------------------------------------------------------------===//
#include "FakeHttpServer.h"
#include "RuntimeTestUtil.h"
#include "WorkflowTestUtil.h"

#include "iterc/rt/App.h"
#include "iterc/rt/Stack.h"

#include <catch2/catch.hpp>

#include <chrono>
#include <fstream>
#include <sstream>
#include <thread>

using namespace iterc::rt;
using iterc::rt::test::edge;
using iterc::rt::test::ref;
using iterc::rt::test::schema;
using iterc::rt::test::ScopedEnv;
using iterc::rt::test::TempDir;
using iterc::rt::test::text;
using iterc::test::FakeHttpServer;
using iterc::test::FakeReply;
using iterc::test::FakeRequest;

namespace {

struct Outcome {
  int code = -1;
  std::string out;
  std::string err;
  double seconds = 0;
};

Outcome runApp(const WorkflowDesc &wf, std::vector<std::string> args) {
  static const AppInfo info{"providers", "providers.iter", "", ""};
  std::ostringstream out, err;
  auto start = std::chrono::steady_clock::now();
  Outcome r;
  r.code = appMain(wf, info, args, AppIo{out, err, false, "./providers"});
  r.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
          .count();
  r.out = out.str();
  r.err = err.str();
  return r;
}

bool has(const std::string &text, const std::string &part) {
  return text.find(part) != std::string::npos;
}

/// A template of literal text around one reference.
Template around(const std::string &before, Template reference,
                const std::string &after) {
  Template t = text(before);
  t.parts.push_back(reference.parts[0]);
  t.parts.push_back({after, std::nullopt});
  return t;
}

/// [gate (human) ->] writer (agent, openai/gpt-test, output draft) -> done;
/// a secret variable `token` is in the writer's user message.
WorkflowDesc writerWf(bool gate = false) {
  WorkflowDesc wf;
  wf.name = "writing";
  wf.sourceSha256 = "p1";
  wf.itercVersion = "0.1.0";
  wf.schemas.push_back(schema("draft", {{"text", FieldType::String}}));
  wf.schemas.push_back(schema("go", {{"ok", FieldType::Bool}}));
  if (gate) {
    NodeDesc g;
    g.kind = NodeKind::Human;
    g.name = "gate";
    g.output = 1;
    g.instructions = text("Go?");
    wf.nodes.push_back(g);
  }
  NodeDesc writer;
  writer.kind = NodeKind::Agent;
  writer.name = "writer";
  writer.model = "openai/gpt-test";
  writer.output = 0;
  writer.system = text("You write short notes.");
  writer.user = around("Use the token ", ref(RefNs::Vars, {"token"}),
                       " and write about rust.");
  wf.nodes.push_back(writer);
  addTerminals(wf);
  if (gate)
    wf.edges.push_back(edge(0, 1));
  wf.edges.push_back(edge(gate ? 1 : 0, wf.doneIndex()));
  VarDesc token;
  token.name = "token";
  token.type = FieldType::String;
  token.secret = true;
  token.defaultValue = Json("tok-very-secret-4242");
  wf.vars.push_back(token);
  return wf;
}

std::string openAiReply(const std::string &content) {
  Json reply = Json::object();
  reply["choices"] =
      Json::array({{{"index", 0},
                    {"message", {{"role", "assistant"}, {"content", content}}},
                    {"finish_reason", "stop"}}});
  reply["usage"] = {{"prompt_tokens", 20}, {"completion_tokens", 5}};
  return reply.dump();
}

FakeReply hang(const FakeRequest &) {
  FakeReply r;
  r.mode = FakeReply::Mode::Hang;
  return r;
}

std::string fileText(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

} // namespace

//===----------------------------------------------------------------------===//
// Deadlines and the duration budget
//===----------------------------------------------------------------------===//

TEST_CASE("app: --max-duration stops a model call in flight: budget "
          "exceeded, exit 4, resumable",
          "[app][provider]") {
  FakeHttpServer server(hang);
  std::string base = server.baseUrl();
  ScopedEnv key("OPENAI_API_KEY", "sk-test-key-deadline-1"),
      url("OPENAI_BASE_URL", base.c_str()), cassette("ITERC_CASSETTE", nullptr);
  TempDir tmp;
  Outcome r = runApp(writerWf(), {"run", "--store-dir", tmp / "store",
                                  "--run-id", "slow", "--max-duration", "1s"});
  INFO(r.out << r.err);
  CHECK(r.code == 4);
  CHECK(r.seconds < 6);
  CHECK(has(r.out, "budget_exceeded: run slow stopped at 'writer'"));
  CHECK(has(r.err, "duration"));
  CHECK(server.requestCount() == 1); // no retry after the budget ran out
}

TEST_CASE("app: an interrupt abandons a model call in flight: cancelled, "
          "exit 7",
          "[app][provider]") {
  FakeHttpServer server(hang);
  std::string base = server.baseUrl();
  ScopedEnv key("OPENAI_API_KEY", "sk-test-key-deadline-4"),
      url("OPENAI_BASE_URL", base.c_str()), cassette("ITERC_CASSETTE", nullptr);
  TempDir tmp;
  std::atomic<bool> interrupt{false};
  std::thread signal([&interrupt, &server] {
    // Once the call is in flight.
    for (int i = 0; i < 200 && server.requestCount() == 0; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    interrupt = true;
  });
  static const AppInfo info{"providers", "providers.iter", "", ""};
  std::ostringstream out, err;
  auto start = std::chrono::steady_clock::now();
  int code = appMain(writerWf(), info, {"run", "--store-dir", tmp / "store"},
                     AppIo{out, err, false, "./providers", &interrupt});
  double took =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
          .count();
  signal.join();
  INFO(out.str() << err.str());
  CHECK(code == 7);
  CHECK(took < 5);
  CHECK(server.requestCount() == 1);
}

TEST_CASE("app: ITERC_FIRST_BYTE_TIMEOUT gives up on a server that never "
          "answers, retried once",
          "[app][provider]") {
  FakeHttpServer server(hang);
  std::string base = server.baseUrl();
  ScopedEnv key("OPENAI_API_KEY", "sk-test-key-deadline-2"),
      url("OPENAI_BASE_URL", base.c_str()), cassette("ITERC_CASSETTE", nullptr),
      firstByte("ITERC_FIRST_BYTE_TIMEOUT", "300ms");
  TempDir tmp;
  Outcome r = runApp(writerWf(), {"run", "--store-dir", tmp / "store"});
  INFO(r.out << r.err);
  CHECK(r.code == 1);
  CHECK(r.seconds < 8);
  CHECK(has(r.err + r.out, "timed out after 300 ms"));
  CHECK(server.requestCount() == 2);

  ScopedEnv bad("ITERC_FIRST_BYTE_TIMEOUT", "soon");
  Outcome refused = runApp(writerWf(), {"run", "--store-dir", tmp / "store"});
  CHECK(refused.code == 2);
  CHECK(has(refused.err, "ITERC_FIRST_BYTE_TIMEOUT expects a positive "
                         "duration"));
}

TEST_CASE("app: a node's request_timeout and the workflow's request_timeouts "
          "bound its calls: the node over the exact model over the provider",
          "[app][provider]") {
  FakeHttpServer server(hang);
  std::string base = server.baseUrl();
  ScopedEnv key("OPENAI_API_KEY", "sk-test-key-deadline-4"),
      url("OPENAI_BASE_URL", base.c_str()), cassette("ITERC_CASSETTE", nullptr),
      firstByte("ITERC_FIRST_BYTE_TIMEOUT", nullptr),
      total("ITERC_REQUEST_TIMEOUT", nullptr);
  TempDir tmp;
  auto deadlineOf = [&](WorkflowDesc wf, const char *runId) {
    Outcome r = runApp(wf, {"run", "--store-dir", tmp / "store", "--run-id",
                            runId});
    INFO(r.out << r.err);
    CHECK(r.code == 1);
    CHECK(r.seconds < 8);
    std::string all = r.err + r.out;
    size_t at = all.find("timed out after ");
    return at == std::string::npos ? std::string("none")
                                   : all.substr(at + 16, all.find(' ', at + 16) - at - 16);
  };
  WorkflowDesc wf = writerWf();
  wf.modelTimeouts = {{"openai/*", 0, 0, 700}, {"anthropic/gpt-test", 0, 0, 200}};
  CHECK(deadlineOf(wf, "wildcard") == "700");
  wf.modelTimeouts.push_back({"openai/gpt-test", 0, 0, 450});
  CHECK(deadlineOf(wf, "exact") == "450");
  wf.nodes[0].requestTotalMs = 300;
  CHECK(deadlineOf(wf, "node") == "300");
}

TEST_CASE("request deadlines: each field comes from the node, the model's "
          "entry, then the provider's wildcard",
          "[provider][request_timeout]") {
  WorkflowDesc wf = writerWf();
  wf.modelTimeouts = {{"openai/*", 1000, 2000, 3000},
                      {"openai/gpt-test", 0, 20000, 0},
                      {"openai/other", 7, 7, 7}};
  NodeDesc node = wf.nodes[0];
  node.requestConnectMs = 0;
  node.requestFirstByteMs = 0;
  node.requestTotalMs = 50000;
  RequestTimeouts t = wf.requestTimeouts(node, "openai", "gpt-test");
  CHECK(t.connectMs == 1000);
  CHECK(t.firstByteMs == 20000);
  CHECK(t.totalMs == 50000);
  RequestTimeouts none = wf.requestTimeouts(node, "anthropic", "gpt-test");
  CHECK(none.connectMs == 0);
  CHECK(none.firstByteMs == 0);
  CHECK(none.totalMs == 50000);
}

//===----------------------------------------------------------------------===//
// What each call sent
//===----------------------------------------------------------------------===//

TEST_CASE("app: each model call's input is logged with secrets redacted; "
          "inspect and report show it",
          "[app][provider]") {
  FakeHttpServer server([](const FakeRequest &) {
    return FakeReply::json(200, openAiReply(R"({"text": "Noted."})"));
  });
  std::string base = server.baseUrl();
  ScopedEnv key("OPENAI_API_KEY", "sk-test-key-prompts-9"),
      url("OPENAI_BASE_URL", base.c_str()), cassette("ITERC_CASSETTE", nullptr);
  TempDir tmp;
  std::string store = tmp / "store";
  WorkflowDesc wf = writerWf();
  Outcome r = runApp(wf, {"run", "--store-dir", store, "--run-id", "p"});
  INFO(r.out << r.err);
  REQUIRE(r.code == 0);
  // The model was sent the secret; the log never holds it.
  REQUIRE(server.requestCount() == 1);
  CHECK(has(server.requests()[0].body, "tok-very-secret-4242"));
  std::string log = fileText(store + "/runs/p/events.jsonl");
  CHECK(has(log, "Use the token [redacted] and write about rust."));
  CHECK(has(log, "You write short notes."));
  CHECK_FALSE(has(log, "tok-very-secret-4242"));
  CHECK_FALSE(has(log, "sk-test-key-prompts-9"));

  Outcome events = runApp(
      wf, {"inspect", "--store-dir", store, "--run-id", "p", "--events"});
  CHECK(events.code == 0);
  CHECK(has(events.out, "sent system: You write short notes.\n"));
  CHECK(has(events.out,
            "sent user: Use the token [redacted] and write about rust.\n"));

  Outcome prompts = runApp(
      wf, {"inspect", "--store-dir", store, "--run-id", "p", "--prompts"});
  CHECK(prompts.code == 0);
  CHECK(has(prompts.out, "writer  openai/gpt-test  call 1\n"));
  CHECK(has(prompts.out, "  --- user\n  Use the token [redacted] and write "
                         "about rust.\n"));
  CHECK_FALSE(has(prompts.out, "tok-very-secret-4242"));
  CHECK(runApp(wf, {"inspect", "--store-dir", store, "--prompts"}).code == 2);

  Outcome report =
      runApp(wf, {"report", "--store-dir", store, "--run-id", "p"});
  CHECK(report.code == 0);
  CHECK(has(report.out, "## Model inputs\n\n### `writer` call 1 "
                        "(openai/gpt-test)\n\n**system**\n\n```text\nYou "
                        "write short notes.\n```\n"));
  CHECK(has(report.out, "Use the token [redacted] and write about rust."));
  CHECK_FALSE(has(report.out, "tok-very-secret-4242"));
  CHECK(report.out.find("## Model inputs") <
        report.out.find("## Final outputs"));
}

//===----------------------------------------------------------------------===//
// Missing keys, and restart targets in the plan
//===----------------------------------------------------------------------===//

TEST_CASE("app: a model without a key: run, the dry run and resume all exit "
          "2 with the same message",
          "[app][provider]") {
  ScopedEnv key("OPENAI_API_KEY", nullptr), url("OPENAI_BASE_URL", nullptr),
      cassette("ITERC_CASSETTE", nullptr);
  TempDir tmp;
  std::string store = tmp / "store";
  WorkflowDesc wf = writerWf(true);
  Outcome run = runApp(wf, {"run", "--store-dir", store});
  CHECK(run.code == 2);
  CHECK(has(run.err, "node 'writer' uses model 'openai/gpt-test': set "
                     "OPENAI_API_KEY"));

  Outcome dry = runApp(wf, {"run", "--dry-run", "--store-dir", store});
  INFO(dry.out << dry.err);
  CHECK(dry.code == 2);
  CHECK(has(dry.out, "OPENAI_API_KEY is NOT set")); // the plan is shown
  CHECK(dry.err == run.err);
  Outcome dryJson = runApp(wf, {"run", "--dry-run", "--json"});
  CHECK(dryJson.code == 2);
  CHECK(dryJson.out.empty());

  // A run paused at its gate, resumed once the key is gone.
  {
    ScopedEnv given("OPENAI_API_KEY", "sk-test-key-resume-7");
    REQUIRE(runApp(wf, {"run", "--store-dir", store, "--run-id", "r"}).code ==
            3);
  }
  Outcome resumed =
      runApp(wf, {"resume", "--store-dir", store, "--run-id", "r", "--answer",
                  "ok=true", "--var", "token=tok-very-secret-4242"});
  INFO(resumed.out << resumed.err);
  CHECK(resumed.code == 2);
  CHECK(has(resumed.err, "node 'writer' uses model 'openai/gpt-test': set "
                         "OPENAI_API_KEY"));
}

TEST_CASE("app: the dry run flags restart services the chosen stack runtime "
          "cannot start again",
          "[app][provider]") {
  WorkflowDesc wf;
  wf.name = "rebuild";
  wf.sourceSha256 = "s1";
  ServiceDesc api;
  api.name = "api";
  api.image = "example/api:1";
  api.ports = {"8080"};
  ServiceDesc worker;
  worker.name = "worker";
  worker.program = "worker-server";
  wf.services = {api, worker};
  wf.stack = {"api", "worker"};
  NodeDesc build;
  build.kind = NodeKind::Tool;
  build.name = "build";
  build.command = text("make");
  build.restart = {"api", "worker"};
  wf.nodes.push_back(build);
  addTerminals(wf);
  wf.edges.push_back(edge(0, wf.doneIndex()));

  Outcome local = runApp(wf, {"run", "--dry-run", "--stack", "local"});
  INFO(local.out << local.err);
  CHECK(local.code == 0);
  CHECK(has(local.out, "restarts api, worker"));
  CHECK(has(local.out, "    cannot restart api: the local runtime runs "
                       "`program` services only"));
  CHECK_FALSE(has(local.out, "cannot restart worker"));

  Outcome container = runApp(wf, {"run", "--dry-run", "--stack", "container"});
  CHECK(has(container.out, "cannot restart worker: the container runtime "
                           "needs an `image`"));
  CHECK_FALSE(has(container.out, "cannot restart api"));

  Outcome external = runApp(wf, {"run", "--dry-run", "--stack", "external"});
  CHECK(has(external.out, "cannot restart api: it runs outside this runner"));
  Outcome off = runApp(wf, {"run", "--dry-run", "--stack", "off"});
  CHECK(has(off.out, "cannot restart worker: no stack runtime runs services"));

  Outcome json = runApp(wf, {"run", "--dry-run", "--json", "--stack", "local"});
  std::optional<Json> plan = parseJson(json.out);
  REQUIRE(plan);
  const Json &node = (*plan)["nodes"][0];
  CHECK(node["restart"] == Json::array({"api", "worker"}));
  REQUIRE(node["restart_problems"].size() == 1);
  CHECK(has(node["restart_problems"][0].get<std::string>(), "api: the local"));
}
