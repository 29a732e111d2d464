//===- AppTest.cpp - The command line of a compiled workflow --------------===//
//
// Drives appMain with hand-built workflow tables, string streams and a
// temporary run store: help and usage errors, every exit code a run can end
// with, --json output, pause and resume, budget overrides, cassettes
// (replayed, and recorded against a fake OpenAI-compatible server), the dry
// run, inspect, report, graph and version.
//
//===----------------------------------------------------------------------===//
#include "AppTestUtil.h"
#include "FakeHttpServer.h"
#include "RuntimeTestUtil.h"
#include "WorkflowTestUtil.h"

#include "iterc/rt/App.h"
#include "iterc/rt/Llm.h"
#include "iterc/rt/Scope.h"

#include <catch2/catch.hpp>

#include <fstream>
#include <sstream>
#include <sys/stat.h>

using namespace iterc::rt;
using iterc::rt::test::text;
using iterc::rt::test::ref;
using iterc::rt::test::schema;
using iterc::rt::test::edge;
using iterc::rt::test::CliResult;
using iterc::rt::test::readText;
using iterc::rt::test::runCli;
using iterc::rt::test::ScopedEnv;
using iterc::rt::test::TempDir;
using iterc::test::FakeHttpServer;
using iterc::test::FakeReply;
using iterc::test::FakeRequest;

namespace {

const AppInfo &demoInfo() {
  static const AppInfo info{"demo", "examples/demo.iter",
                            "flowchart TD\n  calc --> check\n",
                            "digraph demo {\n  calc -> check;\n}\n"};
  return info;
}

CliResult cli(const WorkflowDesc &wf, std::vector<std::string> args,
              bool tty = false) {
  return runCli(wf, demoInfo(), args, "./demo", tty);
}

bool contains(const std::string &text, const std::string &part) {
  return text.find(part) != std::string::npos;
}

bool exists(const std::string &path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

void writeText(const std::string &path, const std::string &text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
}

/// Every line of `text` parsed as JSON (a line that does not parse fails).
std::vector<Json> jsonLines(const std::string &text) {
  std::vector<Json> lines;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    std::optional<Json> j = parseJson(line);
    INFO("line: " << line);
    REQUIRE(j.has_value());
    lines.push_back(*j);
  }
  return lines;
}

/// The run id in "<status>: run <id> ..." of a summary.
std::string runIdOf(const std::string &summary) {
  size_t at = summary.find(": run ");
  REQUIRE(at != std::string::npos);
  size_t start = at + 6;
  size_t end = summary.find_first_of(" \n", start);
  return summary.substr(start, end - start);
}

EdgeDesc when(int from, int to, const std::string &field, bool negated) {
  EdgeDesc e = edge(from, to);
  e.cond = EdgeDesc::Cond::Field;
  e.field = field;
  e.negated = negated;
  return e;
}

VarDesc var(const std::string &name, FieldType type,
            std::optional<Json> defaultValue) {
  VarDesc v;
  v.name = name;
  v.type = type;
  v.defaultValue = std::move(defaultValue);
  return v;
}

NodeDesc verifyNode(const std::string &name, bool passes) {
  NodeDesc n;
  n.kind = NodeKind::Verify;
  n.name = name;
  n.checks.push_back({"ok", passes ? "true" : "false",
                      [passes](const Scope &) { return Json(passes); }});
  return n;
}

/// calc (compute: double = n * 2) -> check (verify: double > 10) -> done
/// when passed, else fail. Variables n (int, 8), mode (enum), token
/// (secret), and optionally topic (required).
WorkflowDesc computeWf(bool requiredVar = false) {
  WorkflowDesc wf;
  wf.name = "checks";
  wf.sourceSha256 = "abc123";
  wf.itercVersion = "0.1.0";
  wf.schemas.push_back(schema("doubled", {{"double", FieldType::Int}}));
  NodeDesc calc;
  calc.kind = NodeKind::Compute;
  calc.name = "calc";
  calc.output = 0;
  calc.exprs.push_back({"double", "vars.n * 2", [](const Scope &s) {
                          return expr::mul(expr::path(s, RefNs::Vars, {"n"}),
                                           Json(2));
                        }});
  wf.nodes.push_back(calc);
  NodeDesc check;
  check.kind = NodeKind::Verify;
  check.name = "check";
  check.checks.push_back(
      {"big", "outputs.calc.double > 10", [](const Scope &s) {
         return expr::gt(expr::path(s, RefNs::Outputs, {"calc", "double"}),
                         Json(10));
       }});
  wf.nodes.push_back(check);
  addTerminals(wf);
  wf.edges.push_back(edge(0, 1));
  wf.edges.push_back(when(1, wf.doneIndex(), "passed", false));
  wf.edges.push_back(when(1, wf.failIndex(), "passed", true));
  wf.vars.push_back(var("n", FieldType::Int, Json(8)));
  VarDesc mode = var("mode", FieldType::String, Json("quick"));
  mode.enumValues = {"quick", "thorough"};
  wf.vars.push_back(mode);
  VarDesc token = var("token", FieldType::String, Json("sk-secret-value-123"));
  token.secret = true;
  wf.vars.push_back(token);
  wf.vars.push_back(var("tags", FieldType::StringList, Json::array()));
  wf.vars.push_back(var("verbose", FieldType::Bool, Json(false)));
  if (requiredVar)
    wf.vars.push_back(var("topic", FieldType::String, std::nullopt));
  PresetDesc big;
  big.name = "big";
  big.values.push_back({"n", Json(50)});
  wf.presets.push_back(big);
  return wf;
}

/// plan (compute) -> approval (human gate: approved bool) -> done when
/// approved, else fail.
WorkflowDesc humanWf() {
  WorkflowDesc wf;
  wf.name = "gate";
  wf.sourceSha256 = "h1";
  wf.itercVersion = "0.1.0";
  wf.schemas.push_back(schema("plan", {{"plan", FieldType::String}}));
  wf.schemas.push_back(schema("decision", {{"approved", FieldType::Bool},
                                           {"comment", FieldType::String}}));
  NodeDesc plan;
  plan.kind = NodeKind::Compute;
  plan.name = "plan";
  plan.output = 0;
  plan.exprs.push_back(
      {"plan", "\"ship it\"", [](const Scope &) { return Json("ship it"); }});
  wf.nodes.push_back(plan);
  NodeDesc gate;
  gate.kind = NodeKind::Human;
  gate.name = "approval";
  gate.output = 1;
  gate.instructions = text("Approve the plan?");
  wf.nodes.push_back(gate);
  addTerminals(wf);
  EdgeDesc toGate = edge(0, 1);
  toGate.with.push_back({"plan", ref(RefNs::Outputs, {"plan", "plan"})});
  wf.edges.push_back(toGate);
  wf.edges.push_back(when(1, wf.doneIndex(), "approved", false));
  wf.edges.push_back(when(1, wf.failIndex(), "approved", true));
  return wf;
}

/// v1 -> v2 -> v3 -> done, at most two node executions.
WorkflowDesc budgetWf() {
  WorkflowDesc wf;
  wf.name = "budgeted";
  wf.sourceSha256 = "b1";
  wf.itercVersion = "0.1.0";
  wf.nodes.push_back(verifyNode("v1", true));
  wf.nodes.push_back(verifyNode("v2", true));
  wf.nodes.push_back(verifyNode("v3", true));
  addTerminals(wf);
  wf.edges.push_back(edge(0, 1));
  wf.edges.push_back(edge(1, 2));
  wf.edges.push_back(edge(2, wf.doneIndex()));
  wf.budget.maxIterations = 2;
  return wf;
}

/// check (always failing) -> done when passed; check -> check when not
/// passed as retry(cap).
WorkflowDesc loopWf(int64_t cap, int64_t noProgress) {
  WorkflowDesc wf;
  wf.name = "looping";
  wf.sourceSha256 = "l1";
  wf.itercVersion = "0.1.0";
  wf.nodes.push_back(verifyNode("check", false));
  addTerminals(wf);
  wf.edges.push_back(when(0, wf.doneIndex(), "passed", false));
  EdgeDesc back = when(0, 0, "passed", true);
  back.loop = 0;
  wf.edges.push_back(back);
  LoopDesc loop;
  loop.name = "retry";
  loop.cap = cap;
  loop.body = {0};
  loop.entries = {0};
  loop.noProgress = noProgress;
  wf.loops.push_back(loop);
  return wf;
}

/// writer (agent, openai/gpt-test, output draft) -> done.
WorkflowDesc agentWf() {
  WorkflowDesc wf;
  wf.name = "writing";
  wf.sourceSha256 = "w1";
  wf.itercVersion = "0.1.0";
  wf.schemas.push_back(schema("draft", {{"text", FieldType::String}}));
  NodeDesc writer;
  writer.kind = NodeKind::Agent;
  writer.name = "writer";
  writer.model = "openai/gpt-test";
  writer.output = 0;
  writer.system = text("You write.");
  writer.user = text("Write about rust.");
  wf.nodes.push_back(writer);
  addTerminals(wf);
  wf.edges.push_back(edge(0, wf.doneIndex()));
  return wf;
}

/// A cassette answering agentWf()'s one call.
Json agentCassette(const WorkflowDesc &wf, const std::string &answer) {
  LlmRequest request;
  request.provider = "openai";
  request.model = "gpt-test";
  request.messages.push_back({"system", "You write.", Json(), ""});
  request.messages.push_back({"user", "Write about rust.", Json(), ""});
  request.outputSchema =
      std::make_shared<const Json>(wf.schemas[0].jsonSchema());
  request.schemaName = "draft";
  LlmResponse response;
  response.text = Json{{"text", answer}}.dump();
  response.usage.inputTokens = 12;
  response.usage.outputTokens = 8;
  response.finishReason = "stop";
  Json entry = Json::object();
  entry["request"] = request.canonical();
  entry["response"] = llmResponseToJson(response);
  Json cassette = Json::object();
  cassette["version"] = 1;
  cassette["entries"] = Json::array({entry});
  return cassette;
}

std::string openAiReply(const std::string &content) {
  Json message = {{"role", "assistant"}, {"content", content}};
  Json reply = Json::object();
  reply["id"] = "chatcmpl-1";
  reply["choices"] = Json::array(
      {{{"index", 0}, {"message", message}, {"finish_reason", "stop"}}});
  reply["usage"] = {
      {"prompt_tokens", 30}, {"completion_tokens", 6}, {"total_tokens", 36}};
  return reply.dump();
}

} // namespace

//===----------------------------------------------------------------------===//
// Help, version, graph, usage errors
//===----------------------------------------------------------------------===//

TEST_CASE("app: help names every command, exit code and variable", "[app]") {
  WorkflowDesc wf = computeWf();
  CliResult help = cli(wf, {"--help"});
  CHECK(help.code == 0);
  CHECK(help.err.empty());
  for (const char *command :
       {"run", "resume", "inspect", "report", "graph", "version", "help"})
    CHECK(contains(help.out, std::string("  ") + command + " "));
  for (int code = 0; code <= 7; ++code)
    CHECK(contains(help.out, "  " + std::to_string(code) + "  "));
  CHECK(contains(help.out, "ITERC_STORE_DIR"));
  CHECK(contains(help.out, "OPENAI_API_KEY"));
  CHECK(contains(help.out, "examples/demo.iter"));

  CHECK(cli(wf, {"help"}).out == help.out);
  CHECK(cli(wf, {"-h"}).out == help.out);

  CliResult run = cli(wf, {"run", "--help"});
  CHECK(run.code == 0);
  for (const char *option :
       {"--var", "--preset", "--store-dir", "--run-id", "--workspace", "--json",
        "--dry-run", "--cassette", "--record", "--max-tokens", "--max-cost",
        "--max-duration", "--max-iterations"})
    CHECK(contains(run.out, option));
  // The workflow's own variables, with types; the secret default is hidden.
  CHECK(contains(run.out, "mode"));
  CHECK(contains(run.out, "one of: quick, thorough"));
  CHECK(contains(run.out, "token"));
  CHECK_FALSE(contains(run.out, "sk-secret-value-123"));
  CHECK(contains(run.out, "  4  budget exceeded"));
  CHECK(cli(wf, {"help", "run"}).out == run.out);

  CliResult resume = cli(wf, {"resume", "-h"});
  CHECK(resume.code == 0);
  for (const char *option :
       {"--run-id", "--answer", "--answers-file", "--max-iterations"})
    CHECK(contains(resume.out, option));
  CHECK(contains(resume.out, "  3  paused"));
  for (const char *command : {"inspect", "report", "graph", "version"}) {
    CliResult r = cli(wf, {command, "--help"});
    CHECK(r.code == 0);
    CHECK(contains(r.out, std::string("usage: demo ") + command));
  }

  CliResult none = cli(wf, {});
  CHECK(none.code == 2);
  CHECK(none.out.empty());
  CHECK(contains(none.err, "usage: demo <command>"));
}

TEST_CASE("app: version and graph print what the compiler gave", "[app]") {
  WorkflowDesc wf = computeWf();
  CliResult v = cli(wf, {"--version"});
  CHECK(v.code == 0);
  CHECK(v.out == "demo (workflow checks) built by iterc 0.1.0 from "
                 "examples/demo.iter sha256:abc123\n");
  CHECK(cli(wf, {"version"}).out == v.out);

  CliResult mermaid = cli(wf, {"graph"});
  CHECK(mermaid.code == 0);
  CHECK(mermaid.out == demoInfo().graphMermaid);
  CHECK(cli(wf, {"graph", "--format=mermaid"}).out == demoInfo().graphMermaid);
  CHECK(cli(wf, {"graph", "--format=dot"}).out == demoInfo().graphDot);
  CHECK(cli(wf, {"graph", "--format", "dot"}).out == demoInfo().graphDot);
  CliResult svg = cli(wf, {"graph", "--format=svg"});
  CHECK(svg.code == 2);
  CHECK(contains(svg.err, "demo: error: unknown graph format 'svg'"));
}

TEST_CASE("app: usage errors exit 2 with a precise message", "[app]") {
  WorkflowDesc wf = computeWf(true);
  TempDir tmp;
  std::string store = tmp / "store";

  CliResult unknownCommand = cli(wf, {"rnu"});
  CHECK(unknownCommand.code == 2);
  CHECK(contains(unknownCommand.err,
                 "demo: error: unknown command 'rnu'; did you mean 'run'?"));

  CliResult unknownOption = cli(wf, {"run", "--vra", "n=1"});
  CHECK(unknownOption.code == 2);
  CHECK(contains(unknownOption.err, "unknown option '--vra'"));
  CHECK(contains(unknownOption.err, "did you mean '--var'?"));
  CHECK(unknownOption.out.empty());

  CliResult missingValue = cli(wf, {"run", "--store-dir"});
  CHECK(missingValue.code == 2);
  CHECK(contains(missingValue.err, "'--store-dir' needs a value"));

  CliResult stray = cli(wf, {"run", "extra"});
  CHECK(stray.code == 2);
  CHECK(contains(stray.err, "unexpected argument 'extra'"));

  // The required variable is missing.
  CliResult missing = cli(wf, {"run", "--store-dir", store});
  CHECK(missing.code == 2);
  CHECK(contains(missing.err, "missing required variable: topic (string)"));

  CliResult badInt = cli(
      wf, {"run", "--store-dir", store, "--var", "topic=x", "--var", "n=abc"});
  CHECK(badInt.code == 2);
  CHECK(contains(badInt.err, "variable 'n' expects an int, got 'abc'"));

  CliResult badBool = cli(wf, {"run", "--store-dir", store, "--var", "topic=x",
                               "--var", "verbose=maybe"});
  CHECK(badBool.code == 2);
  CHECK(contains(badBool.err, "variable 'verbose' expects a bool"));

  CliResult badEnum = cli(wf, {"run", "--store-dir", store, "--var", "topic=x",
                               "--var", "mode=fast"});
  CHECK(badEnum.code == 2);
  CHECK(contains(badEnum.err, "variable 'mode' must be one of: quick, "
                              "thorough; got 'fast'"));

  CliResult unknownVar = cli(wf, {"run", "--store-dir", store, "--var",
                                  "topic=x", "--var", "mdoe=quick"});
  CHECK(unknownVar.code == 2);
  CHECK(contains(unknownVar.err, "no variable 'mdoe'; did you mean 'mode'?"));

  CliResult noEquals = cli(wf, {"run", "--var", "topic"});
  CHECK(noEquals.code == 2);
  CHECK(contains(noEquals.err, "--var expects NAME=VALUE"));

  CliResult badList = cli(wf, {"run", "--store-dir", store, "--var", "topic=x",
                               "--var", "tags=[1, 2]"});
  CHECK(badList.code == 2);
  CHECK(contains(badList.err, "variable 'tags' expects a string list"));

  CliResult badPreset = cli(
      wf, {"run", "--store-dir", store, "--var", "topic=x", "--preset", "bgi"});
  CHECK(badPreset.code == 2);
  CHECK(contains(badPreset.err, "no preset named 'bgi'; did you mean 'big'?"));

  CliResult badBudget = cli(wf, {"run", "--store-dir", store, "--var",
                                 "topic=x", "--max-duration", "soon"});
  CHECK(badBudget.code == 2);
  CHECK(contains(badBudget.err, "--max-duration expects a duration"));

  CliResult both = cli(wf, {"run", "--cassette", "a", "--record", "b"});
  CHECK(both.code == 2);
  CHECK(contains(both.err, "exclude each other"));

  // A bad secret value is reported without echoing it.
  WorkflowDesc secretInt = computeWf();
  secretInt.vars[2].type = FieldType::Int;
  secretInt.vars[2].defaultValue = Json(1);
  CliResult secret = cli(secretInt, {"run", "--var", "token=hunter2-secret"});
  CHECK(secret.code == 2);
  CHECK(contains(secret.err, "variable 'token' expects an int"));
  CHECK_FALSE(contains(secret.err, "hunter2-secret"));

  // Nothing was created by any of these.
  CHECK_FALSE(exists(store));
}

//===----------------------------------------------------------------------===//
// Runs and their exit codes
//===----------------------------------------------------------------------===//

TEST_CASE("app: a compute workflow finishes; --json is JSON lines", "[app]") {
  WorkflowDesc wf = computeWf();
  TempDir tmp;
  std::string store = tmp / "store";

  SECTION("human output") {
    CliResult r = cli(wf, {"run", "--store-dir", store, "--var", "n=9"});
    INFO(r.err);
    CHECK(r.code == 0);
    CHECK(contains(r.out, "finished: run "));
    CHECK(contains(r.out, "outputs of 'check':"));
    CHECK(contains(r.out, "\"passed\": true"));
    CHECK(contains(r.out, "usage: 0 tokens"));
    // Not a terminal: one line per finished node on stderr.
    CHECK(contains(r.err, "demo: calc finished (compute"));
    CHECK(contains(r.err, "demo: check finished (verify"));
    CHECK_FALSE(contains(r.out + r.err, "sk-secret-value-123"));
    CHECK(exists(store + "/runs/" + runIdOf(r.out) + "/events.jsonl"));
  }
  SECTION("a terminal gets one updating line") {
    CliResult r = cli(wf, {"run", "--store-dir", store}, true);
    CHECK(r.code == 0);
    CHECK(contains(r.err, "\r\033[K"));
    CHECK(contains(r.err, "calc (compute)"));
    CHECK_FALSE(contains(r.err, "calc finished"));
  }
  SECTION("--json") {
    CliResult r = cli(wf, {"run", "--store-dir", store, "--json", "--var",
                           "n=8", "--var", "tags=a, b", "--run-id", "r1"});
    CHECK(r.code == 0);
    std::vector<Json> lines = jsonLines(r.out);
    REQUIRE(lines.size() >= 3);
    CHECK(lines.front()["type"] == "run_started");
    CHECK(lines.front()["data"]["vars"]["tags"] == Json::array({"a", "b"}));
    CHECK(lines.front()["data"]["vars"]["token"] == "[redacted]");
    for (size_t i = 0; i + 1 < lines.size(); ++i) {
      CHECK(lines[i].contains("seq"));
      CHECK(lines[i].contains("timestamp"));
    }
    const Json &result = lines.back();
    CHECK(result["type"] == "result");
    CHECK(result["status"] == "finished");
    CHECK(result["run_id"] == "r1");
    CHECK(result["outputs"]["calc"]["double"] == 16);
    CHECK(result["error"].is_null());
    CHECK(result["usage"].contains("tokens"));
    CHECK(result["final_node"] == "check");
    CHECK_FALSE(contains(r.out, "sk-secret-value-123"));
    // Nothing but JSON on stdout; no per-node lines on stderr either.
    CHECK_FALSE(contains(r.err, "finished ("));

    // The same run id cannot be used twice.
    CliResult again = cli(wf, {"run", "--store-dir", store, "--run-id", "r1"});
    CHECK(again.code == 2);
    CHECK(contains(again.err, "a run named 'r1' already exists"));
  }
  SECTION("presets, then --var over them") {
    CliResult preset =
        cli(wf, {"run", "--store-dir", store, "--json", "--preset", "big"});
    CHECK(preset.code == 0);
    CHECK(jsonLines(preset.out).back()["outputs"]["calc"]["double"] == 100);
    CliResult over = cli(wf, {"run", "--store-dir", store, "--json", "--preset",
                              "big", "--var", "n=7"});
    CHECK(over.code == 0);
    CHECK(jsonLines(over.out).back()["outputs"]["calc"]["double"] == 14);
  }
}

TEST_CASE("app: reaching fail exits 1", "[app]") {
  WorkflowDesc wf = computeWf();
  TempDir tmp;
  CliResult r = cli(wf, {"run", "--store-dir", tmp / "store", "--var", "n=3"});
  CHECK(r.code == 1);
  CHECK(contains(r.out, "failed: run "));
  CHECK(contains(r.out, "cannot be resumed"));
  CHECK(contains(r.err, "demo: error: the workflow reached 'fail'"));

  CliResult json =
      cli(wf, {"run", "--store-dir", tmp / "store", "--var", "n=3", "--json"});
  CHECK(json.code == 1);
  Json result = jsonLines(json.out).back();
  CHECK(result["status"] == "failed");
  CHECK(result["error"]["code"] == errorCodeName(ErrorCode::FailNode));
  CHECK(result["error"]["resumable"] == false);
  CHECK(result["exit_code"] == 1);
}

TEST_CASE("app: a human gate pauses (3) and resume --answer finishes",
          "[app]") {
  WorkflowDesc wf = humanWf();
  TempDir tmp;
  std::string store = tmp / "store";
  CliResult paused = cli(wf, {"run", "--store-dir", store});
  INFO(paused.err);
  REQUIRE(paused.code == 3);
  std::string id = runIdOf(paused.out);
  CHECK(contains(paused.out, "waiting for a human at 'approval'"));
  CHECK(contains(paused.out, "instructions: Approve the plan?"));
  CHECK(contains(paused.out, "\"plan\": \"ship it\""));
  CHECK(contains(paused.out, "./demo resume --run-id " + id + " --store-dir " +
                                 store +
                                 " --answer approved=<bool> --answer "
                                 "comment=<string>"));

  // inspect shows the pending interaction.
  CliResult shown = cli(wf, {"inspect", "--store-dir", store, "--run-id", id});
  CHECK(shown.code == 0);
  CHECK(contains(shown.out, "status:   paused_waiting_human"));
  CHECK(contains(shown.out, "pending human interaction"));
  CHECK(contains(shown.out, "ship it"));

  CliResult noAnswers =
      cli(wf, {"resume", "--store-dir", store, "--run-id", id});
  CHECK(noAnswers.code == 2);
  CHECK(contains(noAnswers.err, "waiting for answers to 'approval'"));
  CHECK(contains(noAnswers.err, "approved (bool)"));

  CliResult wrongField = cli(wf, {"resume", "--store-dir", store, "--run-id",
                                  id, "--answer", "aproved=true"});
  CHECK(wrongField.code == 2);
  CHECK(contains(wrongField.err, "did you mean 'approved'?"));

  CliResult invalid =
      cli(wf, {"resume", "--store-dir", store, "--run-id", id, "--answer",
               "approved=sure", "--answer", "comment=ok"});
  CHECK(invalid.code == 2);
  CHECK(contains(invalid.err, "field 'approved': expected bool"));

  CliResult unknown =
      cli(wf, {"resume", "--store-dir", store, "--run-id", "run_nope"});
  CHECK(unknown.code == 2);
  CHECK(contains(unknown.err, "no run 'run_nope'"));

  // A string field takes the text as it is, even when it reads as JSON.
  writeText(tmp / "answers.json", R"({"approved": false})");
  CliResult done =
      cli(wf, {"resume", "--store-dir", store, "--run-id", id, "--answers-file",
               tmp / "answers.json", "--answer", "approved=true", "--answer",
               "comment=42", "--json"});
  INFO(done.err);
  CHECK(done.code == 0);
  Json result = jsonLines(done.out).back();
  CHECK(result["status"] == "finished");
  CHECK(result["outputs"]["approval"]["approved"] == true);
  CHECK(result["outputs"]["approval"]["comment"] == "42");

  CliResult notWaiting = cli(wf, {"resume", "--store-dir", store, "--run-id",
                                  id, "--answer", "approved=true"});
  CHECK(notWaiting.code == 2);
  CHECK(contains(notWaiting.err, "not waiting for answers"));

  CliResult report = cli(wf, {"report", "--store-dir", store, "--run-id", id});
  CHECK(report.code == 0);
  CHECK(contains(report.out, "## Human interactions"));
  CHECK(contains(report.out, "`approval` answered"));
  CHECK(contains(report.out, "| Status | finished |"));

  // --json: the pause is in the result line, with the command to resume.
  CliResult json = cli(wf, {"run", "--store-dir", store, "--json"});
  CHECK(json.code == 3);
  Json pausedResult = jsonLines(json.out).back();
  CHECK(pausedResult["status"] == "paused_waiting_human");
  CHECK(pausedResult["node"] == "approval");
  CHECK(pausedResult["questions"]["plan"] == "ship it");
  CHECK(contains(pausedResult.value("resume_command", std::string()),
                 "--answer approved=<bool>"));
}

TEST_CASE("app: budget exceeded exits 4; a larger budget resumes it", "[app]") {
  WorkflowDesc wf = budgetWf();
  TempDir tmp;
  std::string store = tmp / "store";
  CliResult r = cli(wf, {"run", "--store-dir", store, "--run-id", "b"});
  CHECK(r.code == 4);
  CHECK(contains(r.out, "budget_exceeded: run b stopped at 'v3'"));
  CHECK(contains(r.out, "resume --run-id b --store-dir " + store +
                            " --max-iterations 4"));
  CHECK(contains(r.err, "budget: iterations"));

  // Resuming with the same budget stops again.
  CHECK(cli(wf, {"resume", "--store-dir", store, "--run-id", "b"}).code == 4);

  CliResult resumed = cli(wf, {"resume", "--store-dir", store, "--run-id", "b",
                               "--max-iterations", "10"});
  INFO(resumed.err);
  CHECK(resumed.code == 0);
  CHECK(contains(resumed.out, "finished: run b"));

  // The override also applies on run.
  CliResult roomy = cli(wf, {"run", "--store-dir", store, "--max-iterations",
                             "5", "--max-tokens", "1000"});
  CHECK(roomy.code == 0);
}

TEST_CASE("app: loop exhausted exits 5, no progress exits 6", "[app]") {
  TempDir tmp;
  std::string store = tmp / "store";
  WorkflowDesc exhausted = loopWf(2, 0);
  CliResult r = cli(exhausted, {"run", "--store-dir", store});
  CHECK(r.code == 5);
  CHECK(contains(r.out, "loop_exhausted: run "));
  CHECK(contains(r.err, "loop 'retry' reached its cap"));
  CHECK(contains(r.err, "loop retry 2/2"));

  WorkflowDesc stuck = loopWf(10, 2);
  CliResult s = cli(stuck, {"run", "--store-dir", store, "--json"});
  CHECK(s.code == 6);
  Json result = jsonLines(s.out).back();
  CHECK(result["status"] == "no_progress");
  CHECK(result["error"]["code"] == "NO_PROGRESS");
}

//===----------------------------------------------------------------------===//
// Providers and cassettes
//===----------------------------------------------------------------------===//

TEST_CASE("app: an agent workflow replays a cassette", "[app]") {
  WorkflowDesc wf = agentWf();
  TempDir tmp;
  std::string store = tmp / "store";
  std::string cassette = tmp / "cassette.json";
  writeText(cassette, agentCassette(wf, "Rust is fast.").dump(2));
  ScopedEnv key("OPENAI_API_KEY", nullptr), base("OPENAI_BASE_URL", nullptr),
      env("ITERC_CASSETTE", nullptr);

  // Without a key or a cassette nothing starts.
  CliResult noKey = cli(wf, {"run", "--store-dir", store});
  CHECK(noKey.code == 2);
  CHECK(contains(noKey.err, "node 'writer' uses model 'openai/gpt-test': set "
                            "OPENAI_API_KEY"));
  CHECK_FALSE(exists(store));

  CliResult r =
      cli(wf, {"run", "--store-dir", store, "--cassette", cassette, "--json"});
  INFO(r.err);
  CHECK(r.code == 0);
  Json result = jsonLines(r.out).back();
  CHECK(result["outputs"]["writer"]["text"] == "Rust is fast.");
  CHECK(result["usage"]["tokens"] == 20);
  CHECK(result["usage"]["tokens_in"] == 12);

  // $ITERC_CASSETTE is the default for --cassette.
  {
    ScopedEnv byEnv("ITERC_CASSETTE", cassette.c_str());
    CHECK(cli(wf, {"run", "--store-dir", store}).code == 0);
  }

  // A request the cassette lacks is a resumable failure (exit 1).
  WorkflowDesc other = agentWf();
  other.nodes[0].user = text("Write about go.");
  CliResult miss =
      cli(other, {"run", "--store-dir", store, "--cassette", cassette});
  CHECK(miss.code == 1);
  CHECK(contains(miss.out, "failed_resumable: run "));
  CHECK(contains(miss.err, "replay miss"));
  CHECK(contains(miss.err, "the run can be resumed"));
  CHECK(contains(miss.out, "resume --run-id"));

  CliResult badCassette = cli(
      wf, {"run", "--store-dir", store, "--cassette", tmp / "missing.json"});
  CHECK(badCassette.code == 2);
  CHECK(contains(badCassette.err, "cannot open cassette"));
}

TEST_CASE("app: --record writes a cassette that --cassette replays", "[app]") {
  WorkflowDesc wf = agentWf();
  TempDir tmp;
  std::string store = tmp / "store";
  std::string cassette = tmp / "recorded.json";
  FakeHttpServer server([](const FakeRequest &) {
    return FakeReply::json(200, openAiReply(R"({"text": "Recorded."})"));
  });
  std::string baseUrl = server.baseUrl();
  ScopedEnv key("OPENAI_API_KEY", "sk-test-key-xyz-123"),
      base("OPENAI_BASE_URL", baseUrl.c_str()), env("ITERC_CASSETTE", nullptr);

  CliResult recorded =
      cli(wf, {"run", "--store-dir", store, "--record", cassette, "--json"});
  INFO(recorded.err);
  REQUIRE(recorded.code == 0);
  CHECK(server.requestCount() == 1);
  CHECK(server.requests()[0].header("Authorization") ==
        "Bearer sk-test-key-xyz-123");
  Json live = jsonLines(recorded.out).back();
  CHECK(live["outputs"]["writer"]["text"] == "Recorded.");
  CHECK(live["usage"]["tokens"] == 36);
  std::string text = readText(cassette);
  std::optional<Json> parsed = parseJson(text);
  REQUIRE(parsed);
  CHECK((*parsed)["entries"].size() == 1);
  CHECK_FALSE(contains(text, "sk-test-key-xyz-123"));
  CHECK_FALSE(contains(recorded.out + recorded.err, "sk-test-key-xyz-123"));

  CliResult replayed =
      cli(wf, {"run", "--store-dir", store, "--cassette", cassette, "--json"});
  INFO(replayed.err);
  CHECK(replayed.code == 0);
  CHECK(server.requestCount() == 1); // nothing went to the network
  Json again = jsonLines(replayed.out).back();
  CHECK(again["outputs"]["writer"]["text"] ==
        live["outputs"]["writer"]["text"]);
  CHECK(again["usage"]["tokens"] == live["usage"]["tokens"]);
}

TEST_CASE("app: resume --record adds to the cassette of the paused run",
          "[app]") {
  // writer -> approval (human) -> editor -> done
  WorkflowDesc wf = agentWf();
  wf.name = "edited";
  wf.schemas.push_back(schema("decision", {{"approved", FieldType::Bool}}));
  NodeDesc gate;
  gate.kind = NodeKind::Human;
  gate.name = "approval";
  gate.output = 1;
  NodeDesc editor = wf.nodes[0];
  editor.name = "editor";
  editor.system = text("You edit.");
  editor.user = text("Polish it.");
  wf.nodes = {wf.nodes[0], gate, editor};
  addTerminals(wf);
  wf.edges = {edge(0, 1), when(1, 2, "approved", false),
              when(1, wf.failIndex(), "approved", true),
              edge(2, wf.doneIndex())};
  TempDir tmp;
  std::string store = tmp / "store";
  std::string cassette = tmp / "session.json";
  {
    FakeHttpServer server([](const FakeRequest &) {
      return FakeReply::json(200, openAiReply(R"({"text": "Live."})"));
    });
    std::string baseUrl = server.baseUrl();
    ScopedEnv key("OPENAI_API_KEY", "sk-test-key-xyz-123"),
        base("OPENAI_BASE_URL", baseUrl.c_str()),
        env("ITERC_CASSETTE", nullptr);
    CliResult paused = cli(wf, {"run", "--store-dir", store, "--run-id", "p",
                                "--record", cassette});
    INFO(paused.err);
    REQUIRE(paused.code == 3);
    CHECK(contains(paused.out, "--record " + cassette));
    CHECK(parseJson(readText(cassette)).value()["entries"].size() == 1);
    CliResult done =
        cli(wf, {"resume", "--store-dir", store, "--run-id", "p", "--record",
                 cassette, "--answer", "approved=true"});
    INFO(done.err);
    REQUIRE(done.code == 0);
    CHECK(server.requestCount() == 2);
    CHECK(parseJson(readText(cassette)).value()["entries"].size() == 2);
  }
  // The whole run replays from the cassette, across the pause.
  ScopedEnv key("OPENAI_API_KEY", nullptr), base("OPENAI_BASE_URL", nullptr);
  CliResult again = cli(wf, {"run", "--store-dir", store, "--run-id", "q",
                             "--cassette", cassette});
  REQUIRE(again.code == 3);
  CliResult finished =
      cli(wf, {"resume", "--store-dir", store, "--run-id", "q", "--cassette",
               cassette, "--answer", "approved=true", "--json"});
  INFO(finished.err);
  CHECK(finished.code == 0);
  CHECK(jsonLines(finished.out).back()["outputs"]["editor"]["text"] == "Live.");
}

//===----------------------------------------------------------------------===//
// Dry run, inspect, report
//===----------------------------------------------------------------------===//

TEST_CASE("app: --dry-run prints the plan and writes nothing", "[app]") {
  TempDir tmp;
  std::string store = tmp / "store";
  WorkflowDesc wf = computeWf();
  CliResult r = cli(wf, {"run", "--dry-run", "--store-dir", store, "--var",
                         "token=sk-given-secret-1", "--max-tokens", "500"});
  INFO(r.out << r.err);
  CHECK(r.code == 0);
  CHECK(contains(r.out, "nothing is called and nothing is written"));
  CHECK(contains(r.out, "  n       = 8  (int, default)\n"));
  CHECK(contains(r.out, "  token   = ***  (string, secret, --var)\n"));
  CHECK_FALSE(contains(r.out, "sk-given-secret-1"));
  CHECK_FALSE(contains(r.out, "sk-secret-value-123"));
  CHECK(contains(r.out, "  calc   compute  out doubled\n  check  verify\n"));
  CHECK(contains(r.out, "check -> done when passed"));
  CHECK(contains(r.out, "check -> fail when not passed"));
  CHECK(contains(r.out, "max_tokens 500"));
  CHECK(contains(r.out, "(none: no node calls a model)"));
  CHECK_FALSE(exists(store));

  CliResult bad = cli(wf, {"run", "--dry-run", "--var", "n=x"});
  CHECK(bad.code == 2);

  // Providers: base URL and whether the key is set, never the key.
  ScopedEnv key("OPENAI_API_KEY", "sk-do-not-print-me"),
      base("OPENAI_BASE_URL", nullptr), env("ITERC_CASSETTE", nullptr);
  WorkflowDesc agents = agentWf();
  agents.nodes[0].model = "${APP_TEST_MODEL:-openai/gpt-env}";
  CliResult plan = cli(agents, {"run", "--dry-run", "--store-dir", store});
  CHECK(plan.code == 0);
  CHECK(contains(plan.out, "model openai/gpt-env (from "
                           "${APP_TEST_MODEL:-openai/gpt-env})"));
  CHECK(contains(plan.out, "https://api.openai.com/v1"));
  CHECK(contains(plan.out, "OPENAI_API_KEY is set"));
  CHECK_FALSE(contains(plan.out, "sk-do-not-print-me"));
  CHECK_FALSE(exists(store));

  CliResult json = cli(agents, {"run", "--dry-run", "--json"});
  CHECK(json.code == 0);
  std::vector<Json> lines = jsonLines(json.out);
  REQUIRE(lines.size() == 1);
  CHECK(lines[0]["type"] == "plan");
  CHECK(lines[0]["providers"][0]["key_set"] == true);
}

TEST_CASE("app: inspect lists runs and shows one with its events", "[app]") {
  WorkflowDesc wf = computeWf();
  TempDir tmp;
  std::string store = tmp / "store";
  CliResult empty = cli(wf, {"inspect", "--store-dir", store});
  CHECK(empty.code == 0);
  CHECK(contains(empty.out, "no runs of workflow 'checks'"));
  CHECK_FALSE(exists(store));

  REQUIRE(cli(wf, {"run", "--store-dir", store, "--run-id", "first"}).code ==
          0);
  REQUIRE(cli(wf, {"run", "--store-dir", store, "--run-id", "second", "--var",
                   "n=1"})
              .code == 1);
  CliResult list = cli(wf, {"inspect", "--store-dir", store});
  CHECK(list.code == 0);
  CHECK(contains(list.out, "RUN ID"));
  size_t second = list.out.find("second  failed");
  size_t first = list.out.find("first   finished");
  REQUIRE(second != std::string::npos);
  REQUIRE(first != std::string::npos);
  CHECK(second < first); // newest first
  CHECK(contains(list.out, "done"));

  CliResult listJson = cli(wf, {"inspect", "--store-dir", store, "--json"});
  std::vector<Json> runs = jsonLines(listJson.out);
  REQUIRE(runs.size() == 2);
  // The run id is "run_id" in every JSON output (as in run's result line).
  CHECK(runs[0]["run_id"] == "second");
  CHECK(!runs[0].contains("id"));
  CliResult oneJson =
      cli(wf, {"inspect", "--store-dir", store, "--run-id", "first", "--json"});
  REQUIRE(!jsonLines(oneJson.out).empty());
  Json shownRun = jsonLines(oneJson.out).front()["run"];
  CHECK(shownRun["run_id"] == "first");
  CHECK(!shownRun.contains("id"));

  CliResult one = cli(
      wf, {"inspect", "--store-dir", store, "--run-id", "first", "--events"});
  CHECK(one.code == 0);
  CHECK(contains(one.out, "status:   finished"));
  CHECK(contains(one.out, "n = 8"));
  CHECK(contains(one.out, "token = ***"));
  CHECK(contains(one.out, "run_started"));
  CHECK(contains(one.out, "node_finished  calc"));
  CHECK(contains(one.out, "edge_selected  check  check -> done when passed"));

  CliResult events = cli(wf, {"inspect", "--store-dir", store, "--run-id",
                              "first", "--events", "--json"});
  std::vector<Json> lines = jsonLines(events.out);
  REQUIRE(lines.size() >= 5);
  CHECK(lines.front()["type"] == "run_started");
  CHECK(lines.back()["type"] == "run_finished");

  CliResult unknown =
      cli(wf, {"inspect", "--store-dir", store, "--run-id", "frist"});
  CHECK(unknown.code == 2);
  CHECK(contains(unknown.err, "did you mean 'first'?"));
}

TEST_CASE("app: report shows a failed verify as failed, with its failures",
          "[app]") {
  WorkflowDesc wf = loopWf(1, 0);
  TempDir tmp;
  std::string store = tmp / "store";
  REQUIRE(cli(wf, {"run", "--store-dir", store, "--run-id", "v"}).code == 5);
  CliResult r = cli(wf, {"report", "--store-dir", store, "--run-id", "v"});
  CHECK(r.code == 0);
  CHECK(contains(r.out, "| failed: 1 check -> check |"));
  CHECK(contains(r.out, "| failed: 1 check |"));
  CHECK_FALSE(contains(r.out, "| ok"));
  CHECK(contains(r.out, "## Verify failures\n\n"
                        "- #1 `check`:\n"
                        "  - `ok`: expected `false`, actual `false`\n"
                        "- #2 `check`:\n"
                        "  - `ok`: expected `false`, actual `false`\n"));
}

TEST_CASE("app: report is deterministic Markdown with every section", "[app]") {
  WorkflowDesc wf = loopWf(2, 0);
  TempDir tmp;
  std::string store = tmp / "store";
  REQUIRE(cli(wf, {"run", "--store-dir", store, "--run-id", "looped"}).code ==
          5);
  CliResult r = cli(wf, {"report", "--store-dir", store, "--run-id", "looped"});
  CHECK(r.code == 0);
  for (const char *section :
       {"# Run report: looping", "## Summary", "## Timeline", "## Loops",
        "## Budget warnings", "## Errors", "## Final outputs", "```json"})
    CHECK(contains(r.out, section));
  CHECK(contains(r.out, "| Status | loop_exhausted |"));
  CHECK(contains(r.out, "| Node executions | 3 |"));
  CHECK(contains(r.out, "| `retry` | 2 | 2 | 2 |"));
  CHECK(contains(r.out, "`LOOP_EXHAUSTED`"));
  CHECK(contains(r.out, "| 1 | `check` | verify |"));
  CHECK(contains(r.out, "\"passed\": false"));

  CliResult again =
      cli(wf, {"report", "--store-dir", store, "--run-id", "looped"});
  CHECK(again.out == r.out);
  CliResult toFile = cli(wf, {"report", "--store-dir", store, "--run-id",
                              "looped", "-o", tmp / "report.md"});
  CHECK(toFile.code == 0);
  CHECK(toFile.out.empty());
  CHECK(readText(tmp / "report.md") == r.out);

  // A finished run shows its final node's output; tokens come from the log.
  WorkflowDesc agents = agentWf();
  std::string cassette = tmp / "c.json";
  writeText(cassette, agentCassette(agents, "Short.").dump());
  REQUIRE(cli(agents, {"run", "--store-dir", store, "--run-id", "w",
                       "--cassette", cassette})
              .code == 0);
  CliResult finished =
      cli(agents, {"report", "--store-dir", store, "--run-id", "w"});
  CHECK(contains(finished.out, "| Tokens in | 12 |"));
  CHECK(contains(finished.out, "| Tokens out | 8 |"));
  CHECK(contains(finished.out, "### `writer`"));
  CHECK(contains(finished.out, "\"text\": \"Short.\""));
  CHECK(contains(finished.out, "-> done"));

  CHECK(cli(wf, {"report", "--store-dir", store}).code == 2);
  CHECK(cli(wf, {"report", "--store-dir", store, "--run-id", "nope"}).code ==
        2);
}

TEST_CASE("app: a tool needing approval pauses; approved runs it, refused "
          "fails; --approve skips the question",
          "[app]") {
  WorkflowDesc wf;
  wf.name = "demo";
  NodeDesc tool;
  tool.kind = NodeKind::Tool;
  tool.name = "deploy";
  tool.command = text("echo deployed");
  tool.approval = true;
  wf.nodes.push_back(tool);
  addTerminals(wf);
  wf.edges.push_back(edge(0, wf.doneIndex()));
  TempDir tmp;
  std::string store = tmp / "store";
  std::string workspace = tmp.path();

  CliResult paused = cli(wf, {"run", "--store-dir", store, "--run-id", "a",
                              "--workspace", workspace});
  INFO(paused.out << paused.err);
  REQUIRE(paused.code == 3);
  CHECK(contains(paused.out, "echo deployed"));
  CHECK(contains(paused.out, "--answer approved=<bool>"));

  CliResult wrong = cli(wf, {"resume", "--store-dir", store, "--run-id", "a",
                             "--answer", "approved=maybe"});
  CHECK(wrong.code == 2);
  CHECK(contains(wrong.err, "field 'approved': expected bool"));

  CliResult approved = cli(wf, {"resume", "--store-dir", store, "--run-id", "a",
                                "--answer", "approved=true", "--json"});
  INFO(approved.err);
  CHECK(approved.code == 0);
  std::vector<Json> lines = jsonLines(approved.out);
  REQUIRE(!lines.empty());
  CHECK(lines.back()["outputs"]["deploy"]["result"] == "deployed");

  CliResult second = cli(wf, {"run", "--store-dir", store, "--run-id", "b",
                              "--workspace", workspace});
  REQUIRE(second.code == 3);
  CliResult refused = cli(wf, {"resume", "--store-dir", store, "--run-id", "b",
                               "--answer", "approved=false", "--json"});
  CHECK(refused.code == 1);
  CHECK(contains(refused.out, "NOT_APPROVED"));

  CliResult flagged =
      cli(wf, {"run", "--store-dir", store, "--run-id", "c", "--workspace",
               workspace, "--approve", "deploy"});
  CHECK(flagged.code == 0);
  CliResult unknown = cli(wf, {"run", "--store-dir", store, "--approve", "x"});
  CHECK(unknown.code == 2);
  CHECK(contains(unknown.err, "those are: deploy"));
}

TEST_CASE("app: an interrupted run stops before its next step (exit 7) and "
          "resume finishes it",
          "[app]") {
  WorkflowDesc wf = computeWf();
  TempDir tmp;
  std::string store = tmp / "store";
  std::atomic<bool> interrupt{true};
  std::ostringstream out, err;
  int code = appMain(wf, demoInfo(),
                     {"run", "--store-dir", store, "--run-id", "r", "--json"},
                     AppIo{out, err, false, "./demo", &interrupt});
  INFO(out.str() << err.str());
  CHECK(code == 7);
  std::vector<Json> lines = jsonLines(out.str());
  REQUIRE(!lines.empty());
  CHECK(lines.back()["status"] == "cancelled");
  CHECK(contains(lines.back().dump(), "interrupted"));

  CliResult resumed =
      cli(wf, {"resume", "--store-dir", store, "--run-id", "r"});
  INFO(resumed.err);
  CHECK(resumed.code == 0);
  CHECK(contains(resumed.out, "finished"));

  // In text, an interruption is not blamed on a cause to be fixed.
  std::ostringstream textOut, textErr;
  code = appMain(wf, demoInfo(), {"run", "--store-dir", store, "--run-id", "t"},
                 AppIo{textOut, textErr, false, "./demo", &interrupt});
  INFO(textOut.str());
  CHECK(code == 7);
  CHECK(contains(textOut.str(), "the run was interrupted; continue it with:"));
  CHECK(!contains(textOut.str(), "cause"));
}
