//===- BudgetLimitTest.cpp - Budgets are limits: a run ends at its limit --===//
//
// Drives appMain against FakeHttpServer on loopback and real processes to
// check that a budget is a limit, not a hint: 50 parallel branches under
// max_tokens or max_cost_usd end at most at the limit (each call reserves
// its worst case before it is sent), every time, 20 runs each; a running
// tool is stopped by max_duration (and the tool runner by its abandon
// callback); a cost limit with a model the price table does not know is
// refused before anything runs, and by --dry-run.
//
//===----------------------------------------------------------------------===//
#include "AppTestUtil.h"
#include "FakeHttpServer.h"
#include "RuntimeTestUtil.h"
#include "WorkflowTestUtil.h"

#include "iterc/rt/App.h"
#include "iterc/rt/Tool.h"

#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <memory>
#include <sstream>
#include <string>

#include <sys/stat.h>

using namespace iterc::rt;
using iterc::rt::test::CliResult;
using iterc::rt::test::edge;
using iterc::rt::test::readText;
using iterc::rt::test::schema;
using iterc::rt::test::ScopedEnv;
using iterc::rt::test::TempDir;
using iterc::rt::test::text;
using iterc::rt::test::writeText;
using iterc::test::FakeHttpServer;
using iterc::test::FakeReply;
using iterc::test::FakeRequest;

namespace {

constexpr int kBranches = 50;
/// Usage the fake provider reports per call: the prompt's tokens, and the
/// reply's (never more than the call's max_tokens, as a provider does).
constexpr int64_t kPromptTokens = 500;
constexpr int64_t kReplyTokens = 500;

CliResult cli(const WorkflowDesc &wf, const std::vector<std::string> &args) {
  static const AppInfo info{"limits", "limits.iter", "", ""};
  return iterc::rt::test::runCli(wf, info, args, "./limits");
}

bool has(const std::string &text, const std::string &part) {
  return text.find(part) != std::string::npos;
}

/// The last line of `--json` output, parsed.
Json resultOf(const CliResult &r) {
  std::istringstream in(r.out);
  std::string line, last;
  while (std::getline(in, line))
    if (!line.empty())
      last = line;
  std::optional<Json> parsed = parseJson(last);
  REQUIRE(parsed);
  return *parsed;
}

/// fan (router) -> 50 agents (openai/gpt-test, max_tokens 500, each with
/// its own prompt of about 700 bytes) -> gather (compute, wait_all) -> done.
WorkflowDesc fanOutWf() {
  WorkflowDesc wf;
  wf.name = "fanout";
  wf.sourceSha256 = "b1";
  wf.itercVersion = "0.1.0";
  wf.schemas.push_back(schema("draft", {{"text", FieldType::String}}));
  NodeDesc fan;
  fan.kind = NodeKind::Router;
  fan.name = "fan";
  wf.nodes.push_back(fan);
  std::string padding(640, 'x');
  for (int i = 0; i < kBranches; ++i) {
    NodeDesc a;
    a.kind = NodeKind::Agent;
    a.name = "writer" + std::to_string(i);
    a.model = "openai/gpt-test";
    a.output = 0;
    a.maxTokens = kReplyTokens;
    a.system = text("You write.");
    a.user = text("Branch " + std::to_string(i) + ": " + padding);
    wf.nodes.push_back(a);
  }
  NodeDesc gather;
  gather.kind = NodeKind::Compute;
  gather.name = "gather";
  gather.await = AwaitMode::WaitAll;
  wf.nodes.push_back(gather);
  addTerminals(wf);
  for (int i = 1; i <= kBranches; ++i) {
    wf.edges.push_back(edge(0, i));
    wf.edges.push_back(edge(i, kBranches + 1));
  }
  wf.edges.push_back(edge(kBranches + 1, wf.doneIndex()));
  wf.budget.maxParallelBranches = kBranches;
  return wf;
}

/// An OpenAI-style answer whose usage is kPromptTokens in and up to
/// kReplyTokens out, capped by the request's max_tokens.
FakeReply usageReply(const FakeRequest &request) {
  int64_t cap = kReplyTokens;
  if (std::optional<Json> body = parseJson(request.body))
    if (body->contains("max_tokens") && (*body)["max_tokens"].is_number())
      cap = std::min(cap, (*body)["max_tokens"].get<int64_t>());
  Json reply = Json::object();
  reply["choices"] = Json::array(
      {{{"index", 0},
        {"message", {{"role", "assistant"}, {"content", R"({"text":"ok"})"}}},
        {"finish_reason", "stop"}}});
  reply["usage"] = {{"prompt_tokens", kPromptTokens},
                    {"completion_tokens", std::max<int64_t>(cap, 0)}};
  FakeReply r = FakeReply::json(200, reply.dump());
  r.delayMs = 30; // Calls overlap, as real ones do.
  return r;
}

/// Whether any run's record exists under `storeDir`.
bool runRecorded(const std::string &storeDir) {
  std::error_code ec;
  if (!std::filesystem::exists(storeDir, ec))
    return false;
  for (const auto &entry :
       std::filesystem::recursive_directory_iterator(storeDir, ec))
    if (entry.path().filename() == "run.json")
      return true;
  return false;
}

/// $1 per million input tokens, $4 per million output tokens.
std::string writePrices(const TempDir &tmp) {
  std::string path = tmp / "prices.json";
  writeText(path, R"({"date": "2026-12-01", "models": {"openai/gpt-test":
                     {"input": 1.0, "output": 4.0}}})");
  return path;
}

/// The fake provider (usageReply) and the environment pointing at it, with
/// the price table of writePrices.
struct PricedProvider {
  FakeHttpServer server{usageReply};
  std::string baseUrl = server.baseUrl();
  std::string prices;
  ScopedEnv key{"OPENAI_API_KEY", "sk-test-key-budget-1"};
  ScopedEnv base{"OPENAI_BASE_URL", baseUrl.c_str()};
  ScopedEnv cassette{"ITERC_CASSETTE", nullptr};
  ScopedEnv priceFile;

  explicit PricedProvider(const TempDir &tmp)
      : prices(writePrices(tmp)), priceFile("ITERC_PRICES", prices.c_str()) {}
};

} // namespace

//===----------------------------------------------------------------------===//
// Reservations: parallel branches end at most at the limit
//===----------------------------------------------------------------------===//

TEST_CASE("budget limits: 50 parallel branches never overrun max_tokens or "
          "max_cost_usd (20 runs each)",
          "[budget-limit]") {
  TempDir tmp;
  PricedProvider live(tmp);
  FakeHttpServer &server = live.server;
  WorkflowDesc wf = fanOutWf();

  struct Limit {
    const char *flag;
    const char *value;
    const char *dimension;
  };
  const Limit limit = GENERATE(Limit{"--max-tokens", "5000", "tokens"},
                               Limit{"--max-cost", "0.02", "cost_usd"});
  int overruns = 0;
  for (int round = 0; round < 20; ++round) {
    size_t before = server.requestCount();
    CliResult r = cli(wf, {"run", "--store-dir", tmp / "store", limit.flag,
                           limit.value, "--json"});
    INFO(limit.dimension << " round " << round << "\n" << r.err);
    Json result = resultOf(r);
    int64_t tokens = result["usage"]["tokens"].get<int64_t>();
    double cost = result["usage"]["cost_usd"].get<double>();
    size_t calls = server.requestCount() - before;
    INFO("status " << result["status"] << ", " << calls << " calls, tokens "
                   << tokens << ", cost " << cost);
    CHECK(r.code == 4);
    CHECK(result["status"] == "budget_exceeded");
    CHECK(calls >= 2); // Work was done up to the limit.
    CHECK(calls < size_t(kBranches));
    bool over = std::string(limit.dimension) == "tokens" ? tokens > 5000
                                                         : cost > 0.02 + 1e-12;
    CHECK_FALSE(over);
    overruns += over ? 1 : 0;
  }
  CHECK(overruns == 0);
}

//===----------------------------------------------------------------------===//
// max_duration stops a running tool
//===----------------------------------------------------------------------===//

TEST_CASE("budget limits: max_duration stops a running tool: budget "
          "exceeded, exit 4",
          "[budget-limit]") {
  WorkflowDesc wf;
  wf.name = "slowtool";
  wf.sourceSha256 = "b2";
  wf.itercVersion = "0.1.0";
  NodeDesc tool;
  tool.kind = NodeKind::Tool;
  tool.name = "sleeper";
  tool.command = text("echo $$ > sleeper.pid; exec sleep 20");
  tool.timeoutMs = 60000;
  wf.nodes.push_back(tool);
  addTerminals(wf);
  wf.edges.push_back(edge(0, wf.doneIndex()));
  wf.budget.maxDurationMs = 2000;

  TempDir tmp;
  std::string workspace = tmp / "ws";
  REQUIRE(::mkdir(workspace.c_str(), 0700) == 0);
  auto start = std::chrono::steady_clock::now();
  CliResult r = cli(wf, {"run", "--store-dir", tmp / "store", "--run-id",
                         "slow", "--workspace", workspace});
  double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
          .count();
  INFO(r.out << r.err);
  CHECK(r.code == 4);
  CHECK(seconds < 8);
  CHECK(has(r.out, "budget_exceeded: run slow stopped at 'sleeper'"));
  CHECK(has(r.err + r.out, "duration"));
  // The event log says why the tool stopped.
  std::string events = readText(tmp / "store/runs/slow/events.jsonl");
  CHECK(has(events, "\"budget_exceeded\""));
  CHECK(has(events, "\"interrupted\":\"budget exceeded: duration"));
  // The tool's process is gone.
  std::string pidText = readText(workspace + "/sleeper.pid");
  REQUIRE_FALSE(pidText.empty());
  pid_t pid = pid_t(std::stol(pidText));
  CHECK(iterc::rt::test::processGone(pid));
}

TEST_CASE("budget limits: the tool runner stops a command when its abandon "
          "callback says so",
          "[budget-limit]") {
  TempDir tmp;
  std::unique_ptr<ToolRunner> runner = makeProcessRunner();
  ToolInvocation inv;
  inv.command = "echo started; sleep 20";
  inv.workdir = tmp.path();
  inv.env = {{"PATH", "/usr/bin:/bin"}};
  auto start = std::chrono::steady_clock::now();
  std::atomic<int> asked{0};
  inv.abandon = [&]() -> std::optional<Error> {
    ++asked;
    if (std::chrono::steady_clock::now() - start <
        std::chrono::milliseconds(300))
      return std::nullopt;
    return Error(ErrorCode::Cancelled, "interrupted");
  };
  Expected<ToolResult> result = runner->run(inv);
  double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
          .count();
  REQUIRE(result);
  REQUIRE(result->interrupted.has_value());
  CHECK(result->interrupted->code == ErrorCode::Cancelled);
  CHECK(result->interrupted->message == "interrupted");
  CHECK_FALSE(result->timedOut);
  CHECK(result->exitCode != 0);
  CHECK(result->stdoutText == "started\n");
  CHECK(seconds < 5);
  CHECK(asked > 1);

  // Without a reason to stop, the command runs to its end.
  inv.command = "echo done";
  inv.abandon = []() -> std::optional<Error> { return std::nullopt; };
  Expected<ToolResult> plain = runner->run(inv);
  REQUIRE(plain);
  CHECK_FALSE(plain->interrupted.has_value());
  CHECK(plain->exitCode == 0);
  CHECK(plain->stdoutText == "done\n");
}

//===----------------------------------------------------------------------===//
// A cost limit needs a price for every model, before anything runs
//===----------------------------------------------------------------------===//

TEST_CASE("budget limits: a model without a price under max_cost_usd is a "
          "usage error before the run, and in --dry-run",
          "[budget-limit]") {
  WorkflowDesc wf = fanOutWf();
  wf.budget.maxCostUsd = 1.0;
  wf.nodes[1].model = "${LIMITS_TEST_MODEL:-openai/gpt-unpriced}";
  TempDir tmp;
  PricedProvider live(tmp);
  FakeHttpServer &server = live.server;
  ScopedEnv model("LIMITS_TEST_MODEL", nullptr);

  CliResult run = cli(wf, {"run", "--store-dir", tmp / "store"});
  INFO(run.out << run.err);
  CHECK(run.code == 2);
  CHECK(has(run.err, "node 'writer0' uses model 'openai/gpt-unpriced'"));
  CHECK(has(run.err, "ITERC_PRICES"));
  CHECK(server.requestCount() == 0);
  // Nothing was created: no run to resume.
  CHECK_FALSE(runRecorded(tmp / "store"));

  CliResult dry = cli(wf, {"run", "--store-dir", tmp / "store", "--dry-run"});
  INFO(dry.out << dry.err);
  CHECK(dry.code == 2);
  CHECK(has(dry.err, "node 'writer0' uses model 'openai/gpt-unpriced'"));

  // With the model priced (the variable chooses one that is), the same
  // workflow passes the check.
  ScopedEnv priced("LIMITS_TEST_MODEL", "openai/gpt-test");
  CliResult ok = cli(wf, {"run", "--store-dir", tmp / "store", "--dry-run"});
  INFO(ok.out << ok.err);
  CHECK(ok.code == 0);

  // resume checks as run does: a run stopped by its token budget, resumed
  // while the variable names the unpriced model again, calls nothing.
  CliResult stopped = cli(wf, {"run", "--store-dir", tmp / "store", "--run-id",
                               "r", "--max-tokens", "3000", "--max-cost", "1"});
  INFO(stopped.out << stopped.err);
  REQUIRE(stopped.code == 4);
  size_t calls = server.requestCount();
  ScopedEnv unpriced("LIMITS_TEST_MODEL", "openai/gpt-unpriced");
  CliResult resumed = cli(wf, {"resume", "--store-dir", tmp / "store",
                               "--run-id", "r", "--max-tokens", "100000"});
  INFO(resumed.out << resumed.err);
  CHECK(resumed.code == 2);
  CHECK(has(resumed.err, "node 'writer0' uses model 'openai/gpt-unpriced'"));
  CHECK(server.requestCount() == calls);
}
