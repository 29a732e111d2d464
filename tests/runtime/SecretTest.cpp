//===- SecretTest.cpp - Secret values never leave a run -------------------===//
//
// Canary tests. A workflow with a secret variable (given with --var) and a
// secret variable whose default reads the environment ("Bearer
// ${ITERC_SECRET_TEST_ENV}") uses both in a tool command, whose echoed stdout
// becomes data, in a prompt, in a human gate's instructions and in a model
// request to a fake OpenAI server on loopback. The run ends in success, a
// provider error that echoes the request body, a budget stop, and a human
// pause then resume; after each, the canaries must appear nowhere: not in
// the run store (every file), the cassette written by --record, stdout and
// stderr (plain and --json), inspect and report. The engine is also driven
// directly with a file store, for the same four endings.
//
//===----------------------------------------------------------------------===//
#include "AppTestUtil.h"
#include "FakeHttpServer.h"
#include "RuntimeTestUtil.h"
#include "WorkflowTestUtil.h"

#include "iterc/rt/App.h"
#include "iterc/rt/Engine.h"
#include "iterc/rt/Llm.h"
#include "iterc/rt/Store.h"
#include "iterc/rt/Tool.h"

#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <sstream>

using namespace iterc::rt;
using iterc::rt::test::CliResult;
using iterc::rt::test::edge;
using iterc::rt::test::readText;
using iterc::rt::test::ref;
using iterc::rt::test::runCli;
using iterc::rt::test::schema;
using iterc::rt::test::ScopedEnv;
using iterc::rt::test::TempDir;
using iterc::rt::test::text;
using iterc::test::FakeHttpServer;
using iterc::test::FakeReply;
using iterc::test::FakeRequest;

namespace {

const char *const kCanary = "CANARY-7f3a9";      // --var token=...
const char *const kEnvCanary = "ENVCANARY-51c2"; // $ITERC_SECRET_TEST_ENV
const char *const kEnvName = "ITERC_SECRET_TEST_ENV";

/// The parts' templates one after the other.
Template concat(std::initializer_list<Template> parts) {
  Template t;
  for (const Template &p : parts)
    t.parts.insert(t.parts.end(), p.parts.begin(), p.parts.end());
  return t;
}

/// probe (tool: echoes the secrets) -> writer (agent: the secrets and the
/// probe's stdout in its prompt) [-> editor (the same agent again) ->
/// approval (human gate whose instructions hold the secret)] -> done.
WorkflowDesc canaryWorkflow(bool withGate) {
  WorkflowDesc wf;
  wf.name = "canary";
  wf.sourceSha256 = "c1";
  wf.itercVersion = "0.1.0";
  wf.schemas.push_back(schema("draft", {{"text", FieldType::String}}));
  wf.schemas.push_back(schema("decision", {{"approved", FieldType::Bool}}));
  VarDesc token;
  token.name = "token";
  token.secret = true;
  wf.vars.push_back(token);
  VarDesc auth;
  auth.name = "auth";
  auth.secret = true;
  auth.defaultValue = Json(std::string("Bearer ${") + kEnvName + "}");
  wf.vars.push_back(auth);

  NodeDesc probe;
  probe.kind = NodeKind::Tool;
  probe.name = "probe";
  // The environment value is read by ${...} in the command itself.
  probe.command = concat({text("echo probe saw "), ref(RefNs::Vars, {"token"}),
                          text(std::string(" and ${") + kEnvName + "}")});
  wf.nodes.push_back(probe);

  NodeDesc writer;
  writer.kind = NodeKind::Agent;
  writer.name = "writer";
  writer.model = "openai/gpt-test";
  writer.output = 0;
  writer.system = concat({text("Authorize with "), ref(RefNs::Vars, {"auth"})});
  writer.user = concat({text("Use the key "), ref(RefNs::Vars, {"token"}),
                        text(". The probe said: "),
                        ref(RefNs::Outputs, {"probe", "result"})});
  wf.nodes.push_back(writer);

  if (withGate) {
    // A second model call, where a token budget stops a run.
    NodeDesc editor = writer;
    editor.name = "editor";
    wf.nodes.push_back(editor);
    NodeDesc gate;
    gate.kind = NodeKind::Human;
    gate.name = "approval";
    gate.output = 1;
    gate.instructions =
        concat({text("Check that the key "), ref(RefNs::Vars, {"token"}),
                text(" was used.")});
    wf.nodes.push_back(gate);
  }
  addTerminals(wf);
  wf.edges.push_back(edge(0, 1));
  if (withGate) {
    wf.edges.push_back(edge(1, 2));
    wf.edges.push_back(edge(2, 3));
    wf.edges.push_back(edge(3, wf.doneIndex()));
  } else {
    wf.edges.push_back(edge(1, wf.doneIndex()));
  }
  return wf;
}

/// A token budget under which canaryWorkflow(true) stops at the editor: a
/// call reserves its prompt (about 430 bytes: one token each) and a reply
/// token at least, so the writer's call fits and uses 36 (echoingReply);
/// the editor's, as long, then no longer fits.
const char *const kStopBudget = "445";

/// An OpenAI chat completion whose answer repeats the secrets (a model can
/// echo what it was given).
std::string echoingReply() {
  Json answer = {
      {"text", std::string("I used ") + kCanary + " and " + kEnvCanary}};
  Json message = {{"role", "assistant"}, {"content", answer.dump()}};
  Json reply = Json::object();
  reply["id"] = "chatcmpl-1";
  reply["choices"] = Json::array(
      {{{"index", 0}, {"message", message}, {"finish_reason", "stop"}}});
  reply["usage"] = {
      {"prompt_tokens", 30}, {"completion_tokens", 6}, {"total_tokens", 36}};
  return reply.dump();
}

/// A provider error that echoes the whole request body back.
FakeReply echoingError(const FakeRequest &request) {
  Json error = {{"error",
                 {{"type", "invalid_request_error"},
                  {"message", "bad request: " + request.body}}}};
  return FakeReply::json(400, error.dump());
}

/// Every file under `dir` whose text holds a canary, with the first hit
/// (one per line; empty when there is none).
std::string leaksIn(const std::string &dir) {
  std::string leaks;
  namespace fs = std::filesystem;
  if (!fs::exists(dir))
    return leaks;
  for (const auto &entry : fs::recursive_directory_iterator(dir)) {
    if (!entry.is_regular_file())
      continue;
    std::string content = readText(entry.path().string());
    for (const char *canary : {kCanary, kEnvCanary}) {
      size_t at = content.find(canary);
      if (at != std::string::npos)
        leaks += entry.path().string() + ": ..." +
                 content.substr(at > 60 ? at - 60 : 0, 140) + "...\n";
    }
  }
  return leaks;
}

bool leaks(const std::string &text) {
  return text.find(kCanary) != std::string::npos ||
         text.find(kEnvCanary) != std::string::npos;
}

const AppInfo &canaryInfo() {
  static const AppInfo info{"canary", "canary.iter", "flowchart TD\n",
                            "digraph canary {}\n"};
  return info;
}

CliResult cli(const WorkflowDesc &wf, std::vector<std::string> args) {
  return runCli(wf, canaryInfo(), args, "./canary");
}

/// Everything a person can see of run `runId` besides the store itself:
/// inspect (plain, with events, --json) and report.
std::string viewsOf(const WorkflowDesc &wf, const std::string &store,
                    const std::string &runId) {
  std::string all;
  for (std::vector<std::string> args :
       {std::vector<std::string>{"inspect", "--store-dir", store},
        {"inspect", "--store-dir", store, "--run-id", runId, "--events"},
        {"inspect", "--store-dir", store, "--run-id", runId, "--events",
         "--json"},
        {"report", "--store-dir", store, "--run-id", runId}}) {
    CliResult r = cli(wf, args);
    CHECK(r.code == 0);
    all += r.out + r.err;
  }
  return all;
}

/// A fake OpenAI server and the environment pointing at it.
struct LiveProvider {
  FakeHttpServer server;
  std::string baseUrl = server.baseUrl();
  ScopedEnv key{"OPENAI_API_KEY", "sk-canary-test-key-0001"};
  ScopedEnv base{"OPENAI_BASE_URL", baseUrl.c_str()};
  ScopedEnv cassette{"ITERC_CASSETTE", nullptr};
  ScopedEnv env{kEnvName, kEnvCanary};

  explicit LiveProvider(FakeHttpServer::Handler handler)
      : server(std::move(handler)) {}

  /// The model was really sent the secrets (else the test proves nothing).
  void checkRequestsCarriedSecrets() {
    REQUIRE(server.requestCount() >= 1);
    std::string body = server.requests()[0].body;
    CHECK(body.find(kCanary) != std::string::npos);
    CHECK(body.find(kEnvCanary) != std::string::npos);
  }
};

/// No canary in the run store, the cassette, nor inspect and report of run
/// `runId`.
void checkNothingRecorded(const WorkflowDesc &wf, const std::string &store,
                          const std::string &cassette,
                          const std::string &runId) {
  CHECK(leaksIn(store).empty());
  CHECK_FALSE(leaks(readText(cassette)));
  CHECK_FALSE(leaks(viewsOf(wf, store, runId)));
}

} // namespace

//===----------------------------------------------------------------------===//
// Through the command line
//===----------------------------------------------------------------------===//

TEST_CASE("secrets: a finished run leaks no secret anywhere", "[secret]") {
  TempDir tmp;
  std::string store = tmp / "store", cassette = tmp / "run.cassette.json";
  LiveProvider live(
      [](const FakeRequest &) { return FakeReply::json(200, echoingReply()); });
  WorkflowDesc wf = canaryWorkflow(false);
  std::string var = std::string("token=") + kCanary;
  CliResult plain =
      cli(wf, {"run", "--store-dir", store, "--run-id", "ok", "--workspace",
               tmp.path(), "--var", var, "--record", cassette});
  INFO(plain.out << plain.err);
  REQUIRE(plain.code == 0);
  live.checkRequestsCarriedSecrets();
  CliResult json = cli(wf, {"run", "--store-dir", store, "--run-id", "ok2",
                            "--workspace", tmp.path(), "--var", var, "--json"});
  REQUIRE(json.code == 0);
  CHECK_FALSE(leaks(plain.out + plain.err));
  CHECK_FALSE(leaks(json.out + json.err));
  checkNothingRecorded(wf, store, cassette, "ok");
  // The redacted cassette still replays the run, secrets given again.
  CliResult replay = cli(wf, {"run", "--store-dir", store, "--run-id",
                              "replayed", "--workspace", tmp.path(), "--var",
                              var, "--cassette", cassette});
  INFO(replay.out << replay.err);
  CHECK(replay.code == 0);
  CHECK(live.server.requestCount() == 2);
}

TEST_CASE("secrets: a provider error echoing the request leaks nothing",
          "[secret]") {
  TempDir tmp;
  std::string store = tmp / "store", cassette = tmp / "run.cassette.json";
  LiveProvider live(echoingError);
  WorkflowDesc wf = canaryWorkflow(false);
  std::string var = std::string("token=") + kCanary;
  CliResult r =
      cli(wf, {"run", "--store-dir", store, "--run-id", "bad", "--workspace",
               tmp.path(), "--var", var, "--record", cassette, "--json"});
  INFO(r.out << r.err);
  CHECK(r.code == 1);
  CHECK(r.out.find("failed_resumable") != std::string::npos);
  CHECK(r.out.find("bad request") != std::string::npos);
  live.checkRequestsCarriedSecrets();
  CHECK_FALSE(leaks(r.out + r.err));
  CliResult plain = cli(wf, {"run", "--store-dir", store, "--run-id", "bad2",
                             "--workspace", tmp.path(), "--var", var});
  CHECK(plain.code == 1);
  CHECK_FALSE(leaks(plain.out + plain.err));
  checkNothingRecorded(wf, store, cassette, "bad");
}

TEST_CASE("secrets: a budget stop leaks nothing", "[secret]") {
  TempDir tmp;
  std::string store = tmp / "store", cassette = tmp / "run.cassette.json";
  LiveProvider live(
      [](const FakeRequest &) { return FakeReply::json(200, echoingReply()); });
  WorkflowDesc wf = canaryWorkflow(true);
  std::string var = std::string("token=") + kCanary;
  CliResult r = cli(wf, {"run", "--store-dir", store, "--run-id", "over",
                         "--workspace", tmp.path(), "--var", var, "--record",
                         cassette, "--max-tokens", kStopBudget});
  INFO(r.out << r.err);
  CHECK(r.code == 4);
  live.checkRequestsCarriedSecrets();
  CHECK_FALSE(leaks(r.out + r.err));
  CliResult json = cli(wf, {"run", "--store-dir", store, "--run-id", "over2",
                            "--workspace", tmp.path(), "--var", var,
                            "--max-tokens", kStopBudget, "--json"});
  CHECK(json.code == 4);
  CHECK_FALSE(leaks(json.out + json.err));
  checkNothingRecorded(wf, store, cassette, "over");
}

TEST_CASE("secrets: a human pause and its resume leak nothing; the resume "
          "asks for the secret again",
          "[secret]") {
  TempDir tmp;
  std::string store = tmp / "store", cassette = tmp / "run.cassette.json";
  LiveProvider live(
      [](const FakeRequest &) { return FakeReply::json(200, echoingReply()); });
  WorkflowDesc wf = canaryWorkflow(true);
  std::string var = std::string("token=") + kCanary;
  CliResult paused =
      cli(wf, {"run", "--store-dir", store, "--run-id", "gate", "--workspace",
               tmp.path(), "--var", var, "--record", cassette});
  INFO(paused.out << paused.err);
  REQUIRE(paused.code == 3);
  live.checkRequestsCarriedSecrets();
  CHECK_FALSE(leaks(paused.out + paused.err));
  // The resume command names the secret to give again, not its value.
  CHECK(paused.out.find("--var token=<secret>") != std::string::npos);
  CHECK(leaksIn(store).empty());

  CliResult missing = cli(wf, {"resume", "--store-dir", store, "--run-id",
                               "gate", "--answer", "approved=true"});
  CHECK(missing.code == 2);
  CHECK(missing.err.find("'token' is secret") != std::string::npos);

  CliResult done =
      cli(wf, {"resume", "--store-dir", store, "--run-id", "gate", "--var", var,
               "--answer", "approved=true", "--record", cassette, "--json"});
  INFO(done.out << done.err);
  CHECK(done.code == 0);
  CHECK_FALSE(leaks(done.out + done.err));
  checkNothingRecorded(wf, store, cassette, "gate");
}

//===----------------------------------------------------------------------===//
// The engine alone, with a file store
//===----------------------------------------------------------------------===//

namespace {

/// Runs the engine on `wf` with a file store in `dir`, the real process
/// runner and the OpenAI provider on `live`.
struct EngineRun {
  std::unique_ptr<RunStore> store;
  std::unique_ptr<HttpTransport> http = makeHttpTransport();
  std::unique_ptr<LlmProvider> provider;
  ProviderSet providers;
  std::unique_ptr<ToolRunner> tools = makeProcessRunner();
  std::string output; ///< Every event and result, as text.

  EngineRun(const std::string &dir, LiveProvider &live)
      : store(makeFileStore(dir)) {
    ProviderConfig config;
    config.baseUrl = live.baseUrl;
    config.apiKey = "sk-canary-test-key-0001";
    config.retry.maxAttempts = 1;
    provider = makeOpenAiProvider(config, *http, systemClock());
    providers.setOverride(provider.get());
  }

  EngineDeps deps() {
    EngineDeps d;
    d.store = store.get();
    d.providers = &providers;
    d.tools = tools.get();
    d.onEvent = [this](const Event &e) { output += e.toJson().dump() + "\n"; };
    return d;
  }

  /// The outputs and the error go back to the caller (the command line
  /// masks them when it prints, see the tests above); a gate's questions
  /// are recorded as they are returned.
  void note(const RunResult &r) { output += r.questions.dump() + "\n"; }
};

RunOptions canaryOptions(const std::string &workspace,
                         std::optional<BudgetDesc> budget = std::nullopt) {
  RunOptions options;
  options.vars["token"] = Json(kCanary);
  options.workspace = workspace;
  options.budgetOverride = budget;
  return options;
}

} // namespace

TEST_CASE("secrets: the engine records no secret, whatever the ending",
          "[secret][engine]") {
  TempDir tmp;
  SECTION("finished") {
    LiveProvider live([](const FakeRequest &) {
      return FakeReply::json(200, echoingReply());
    });
    EngineRun run(tmp / "store", live);
    WorkflowDesc wf = canaryWorkflow(false); // The engine keeps a reference.
    Engine engine(wf, run.deps());
    RunResult r = engine.run(canaryOptions(tmp.path()));
    run.note(r);
    CHECK(r.status == RunStatus::Finished);
    live.checkRequestsCarriedSecrets();
    CHECK_FALSE(leaks(run.output));
  }
  SECTION("provider error") {
    LiveProvider live(echoingError);
    EngineRun run(tmp / "store", live);
    WorkflowDesc wf = canaryWorkflow(false); // The engine keeps a reference.
    Engine engine(wf, run.deps());
    RunResult r = engine.run(canaryOptions(tmp.path()));
    run.note(r);
    CHECK(r.status == RunStatus::FailedResumable);
    live.checkRequestsCarriedSecrets();
    CHECK_FALSE(leaks(run.output));
  }
  SECTION("budget stop") {
    LiveProvider live([](const FakeRequest &) {
      return FakeReply::json(200, echoingReply());
    });
    EngineRun run(tmp / "store", live);
    BudgetDesc budget;
    budget.maxTokens = std::stoll(kStopBudget); // No editor call.
    WorkflowDesc wf = canaryWorkflow(true);
    Engine engine(wf, run.deps());
    RunResult r = engine.run(canaryOptions(tmp.path(), budget));
    run.note(r);
    CHECK(r.status == RunStatus::BudgetExceeded);
    live.checkRequestsCarriedSecrets();
    CHECK_FALSE(leaks(run.output));
  }
  SECTION("human pause and resume") {
    LiveProvider live([](const FakeRequest &) {
      return FakeReply::json(200, echoingReply());
    });
    EngineRun run(tmp / "store", live);
    WorkflowDesc wf = canaryWorkflow(true);
    Engine engine(wf, run.deps());
    RunResult paused = engine.run(canaryOptions(tmp.path()));
    run.note(paused);
    REQUIRE(paused.status == RunStatus::PausedWaitingHuman);
    RunResult done = engine.resume(paused.runId, Json{{"approved", true}},
                                   canaryOptions(tmp.path()));
    run.note(done);
    CHECK(done.status == RunStatus::Finished);
    live.checkRequestsCarriedSecrets();
    CHECK_FALSE(leaks(run.output));
  }
  CHECK(leaksIn(tmp / "store").empty());
}

TEST_CASE("secrets: a secret too short to be masked is refused before the "
          "run starts",
          "[secret]") {
  TempDir tmp;
  std::string store = tmp / "store";
  ScopedEnv env(kEnvName, kEnvCanary);
  WorkflowDesc wf = canaryWorkflow(false);
  for (const char *command : {"run", "--dry-run"}) {
    std::vector<std::string> args = {"run", "--store-dir", store,
                                     "--workspace", tmp.path(), "--var",
                                     "token=abc"};
    if (std::string(command) == "--dry-run")
      args.push_back("--dry-run");
    CliResult r = cli(wf, args);
    INFO(command << ": " << r.out << r.err);
    CHECK(r.code == 2);
    CHECK(r.err.find("secret variable 'token' is 3 bytes long") !=
          std::string::npos);
    CHECK(r.out.find("abc") == std::string::npos);
  }
  CHECK_FALSE(std::filesystem::exists(store + "/runs"));
  // Four bytes are masked like any other secret.
  LiveProvider live(
      [](const FakeRequest &) { return FakeReply::json(200, echoingReply()); });
  CliResult ok = cli(wf, {"run", "--store-dir", store, "--run-id", "four",
                          "--workspace", tmp.path(), "--var", "token=abcd"});
  INFO(ok.out << ok.err);
  CHECK(ok.code == 0);
}
