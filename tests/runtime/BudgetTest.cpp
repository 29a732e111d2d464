//===- BudgetTest.cpp - Tests for the run budget and price table ----------===//
//
// This file tests each budget dimension against a fake clock, the once-only
// 80 % warnings and exhaustion notices, max_tokens clamping, restoring usage
// on resume, concurrent recording, reservations (a call that does not fit
// waits for the calls in flight, gets a lower reply cap, or stops the run;
// cost limits; abandon), and the price table: the shipped data,
// exact and wildcard lookups, merge validation and overrides.
//
//===----------------------------------------------------------------------===//
#include "iterc/rt/Budget.h"

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <thread>

#include <unistd.h>

using namespace iterc::rt;

namespace {

int countNotices(const std::vector<BudgetNotice> &notices,
                 const std::string &dimension, bool exceeded) {
  int n = 0;
  for (const BudgetNotice &notice : notices)
    if (notice.dimension == dimension && notice.exceeded == exceeded)
      ++n;
  return n;
}

} // namespace

TEST_CASE("budget: no limits never refuses", "[budget]") {
  FakeClock clock;
  Budget budget(BudgetDesc{}, clock);
  std::optional<int64_t> maxTokens;
  for (int i = 0; i < 100; ++i) {
    REQUIRE(budget.beforeLlmCall(maxTokens).ok());
    budget.recordLlm(100000, 50.0);
    budget.recordIteration();
    clock.advance(3600000);
  }
  CHECK_FALSE(maxTokens.has_value());
  CHECK(budget.beforeAction().ok());
  CHECK(budget.takeNotices().empty());
  BudgetUsage usage = budget.usage();
  CHECK(usage.tokens == 10000000);
  CHECK(usage.iterations == 100);
  CHECK(usage.elapsedMs == 360000000);
}

TEST_CASE("budget: tokens warn at 80 %, then refuse at the limit", "[budget]") {
  FakeClock clock;
  BudgetDesc limits;
  limits.maxTokens = 1000;
  Budget budget(limits, clock);

  std::optional<int64_t> maxTokens;
  REQUIRE(budget.beforeLlmCall(maxTokens).ok());
  CHECK(maxTokens == 1000); // Unset: set to what remains.

  budget.recordLlm(700, 0);
  CHECK(budget.takeNotices().empty());
  budget.recordLlm(100, 0); // 800: the warning.
  std::vector<BudgetNotice> notices = budget.takeNotices();
  REQUIRE(notices.size() == 1);
  CHECK(notices[0].dimension == "tokens");
  CHECK_FALSE(notices[0].exceeded);
  CHECK(notices[0].used == 800);
  CHECK(notices[0].limit == 1000);

  budget.recordLlm(50, 0); // Still warned: not again.
  CHECK(budget.takeNotices().empty());

  maxTokens = 4096;
  REQUIRE(budget.beforeLlmCall(maxTokens).ok());
  CHECK(maxTokens == 150); // Clamped to the remainder.
  maxTokens = 100;
  REQUIRE(budget.beforeLlmCall(maxTokens).ok());
  CHECK(maxTokens == 100); // Already below: unchanged.
  CHECK(budget.beforeAction().ok());

  budget.recordLlm(150, 0); // 1000: exhausted.
  notices = budget.takeNotices();
  REQUIRE(notices.size() == 1);
  CHECK(notices[0].dimension == "tokens");
  CHECK(notices[0].exceeded);

  maxTokens.reset();
  Status refused = budget.beforeLlmCall(maxTokens);
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().code == ErrorCode::Budget);
  CHECK(refused.error().message == "budget exceeded: tokens 1000/1000");
  Status action = budget.beforeAction();
  REQUIRE_FALSE(action.ok());
  CHECK(action.error().code == ErrorCode::Budget);
  CHECK(budget.takeNotices().empty()); // Exceeded is reported once.
}

TEST_CASE("budget: a jump past the limit gives one exceeded notice",
          "[budget]") {
  FakeClock clock;
  BudgetDesc limits;
  limits.maxTokens = 100;
  Budget budget(limits, clock);
  budget.recordLlm(250, 0);
  std::vector<BudgetNotice> notices = budget.takeNotices();
  REQUIRE(notices.size() == 1);
  CHECK(notices[0].exceeded);
  CHECK(notices[0].used == 250);
  std::optional<int64_t> maxTokens;
  Status refused = budget.beforeLlmCall(maxTokens);
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().message == "budget exceeded: tokens 250/100");
}

TEST_CASE("budget: cost", "[budget]") {
  FakeClock clock;
  BudgetDesc limits;
  limits.maxCostUsd = 0.5;
  Budget budget(limits, clock);
  std::optional<int64_t> maxTokens = 512;
  budget.recordLlm(10, 0.25);
  CHECK(budget.takeNotices().empty());
  REQUIRE(budget.beforeLlmCall(maxTokens).ok());
  CHECK(maxTokens == 512);       // No token limit: no clamp.
  budget.recordLlm(10, 0.15625); // 0.40625 >= 0.4
  std::vector<BudgetNotice> notices = budget.takeNotices();
  REQUIRE(notices.size() == 1);
  CHECK(notices[0].dimension == "cost_usd");
  CHECK_FALSE(notices[0].exceeded);
  REQUIRE(budget.beforeAction().ok());
  budget.recordLlm(10, 0.09375); // 0.5: exhausted.
  notices = budget.takeNotices();
  REQUIRE(notices.size() == 1);
  CHECK(notices[0].dimension == "cost_usd");
  CHECK(notices[0].exceeded);
  Status refused = budget.beforeAction();
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().code == ErrorCode::Budget);
  CHECK(refused.error().message.rfind("budget exceeded: cost_usd ", 0) == 0);
  CHECK(budget.usage().costUsd == Approx(0.5));
}

TEST_CASE("budget: iterations", "[budget]") {
  FakeClock clock;
  BudgetDesc limits;
  limits.maxIterations = 5;
  Budget budget(limits, clock);
  for (int i = 0; i < 4; ++i) {
    REQUIRE(budget.beforeAction().ok());
    budget.recordIteration();
  }
  std::vector<BudgetNotice> notices = budget.takeNotices();
  REQUIRE(notices.size() == 1); // At 4 of 5.
  CHECK(notices[0].dimension == "iterations");
  CHECK_FALSE(notices[0].exceeded);
  REQUIRE(budget.beforeAction().ok());
  budget.recordIteration();
  notices = budget.takeNotices();
  REQUIRE(notices.size() == 1);
  CHECK(notices[0].exceeded);
  Status refused = budget.beforeAction();
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().message == "budget exceeded: iterations 5/5");
  std::optional<int64_t> maxTokens;
  CHECK_FALSE(budget.beforeLlmCall(maxTokens).ok());
}

TEST_CASE("budget: duration is read from the clock at each check", "[budget]") {
  FakeClock clock(1000000);
  BudgetDesc limits;
  limits.maxDurationMs = 60000;
  Budget budget(limits, clock);
  REQUIRE(budget.beforeAction().ok());
  clock.advance(47999);
  REQUIRE(budget.beforeAction().ok());
  CHECK(budget.takeNotices().empty());
  clock.advance(1); // 48 s: 80 %.
  REQUIRE(budget.beforeAction().ok());
  std::vector<BudgetNotice> notices = budget.takeNotices();
  REQUIRE(notices.size() == 1);
  CHECK(notices[0].dimension == "duration");
  CHECK_FALSE(notices[0].exceeded);
  clock.advance(11999);
  std::optional<int64_t> maxTokens;
  REQUIRE(budget.beforeLlmCall(maxTokens).ok());
  CHECK_FALSE(maxTokens.has_value());
  CHECK(budget.takeNotices().empty());
  clock.advance(1); // 60 s.
  Status refused = budget.beforeLlmCall(maxTokens);
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().code == ErrorCode::Budget);
  CHECK(refused.error().message == "budget exceeded: duration 60000ms/60000ms");
  notices = budget.takeNotices();
  REQUIRE(notices.size() == 1);
  CHECK(notices[0].exceeded);
  CHECK(budget.usage().elapsedMs == 60000);
}

TEST_CASE("budget: a zero limit refuses the first call", "[budget]") {
  FakeClock clock;
  BudgetDesc limits;
  limits.maxTokens = 0;
  Budget budget(limits, clock);
  std::optional<int64_t> maxTokens;
  CHECK_FALSE(budget.beforeLlmCall(maxTokens).ok());
}

TEST_CASE("budget: each dimension warns independently", "[budget]") {
  FakeClock clock;
  BudgetDesc limits;
  limits.maxTokens = 100;
  limits.maxCostUsd = 1.0;
  limits.maxIterations = 10;
  limits.maxDurationMs = 1000;
  Budget budget(limits, clock);
  budget.recordLlm(85, 0.85);
  for (int i = 0; i < 9; ++i)
    budget.recordIteration();
  clock.advance(900);
  REQUIRE(budget.beforeAction().ok());
  std::vector<BudgetNotice> notices = budget.takeNotices();
  CHECK(notices.size() == 4);
  for (const char *dim : {"tokens", "cost_usd", "iterations", "duration"})
    CHECK(countNotices(notices, dim, false) == 1);
  REQUIRE(budget.beforeAction().ok());
  CHECK(budget.takeNotices().empty());
}

TEST_CASE("budget: restore carries usage and elapsed time", "[budget]") {
  FakeClock clock(5000);
  BudgetDesc limits;
  limits.maxTokens = 1000;
  limits.maxDurationMs = 10000;
  limits.maxIterations = 10;
  Budget budget(limits, clock);
  clock.advance(123);
  BudgetUsage previous;
  previous.tokens = 850; // Already warned in the previous session.
  previous.costUsd = 0.25;
  previous.iterations = 3;
  previous.elapsedMs = 7000;
  budget.restore(previous);

  BudgetUsage now = budget.usage();
  CHECK(now.tokens == 850);
  CHECK(now.costUsd == Approx(0.25));
  CHECK(now.iterations == 3);
  CHECK(now.elapsedMs == 7000);

  std::optional<int64_t> maxTokens = 500;
  REQUIRE(budget.beforeLlmCall(maxTokens).ok());
  CHECK(maxTokens == 150);
  CHECK(budget.takeNotices().empty()); // The tokens warning is not repeated.

  clock.advance(1000); // 8000 of 10000 ms.
  REQUIRE(budget.beforeAction().ok());
  std::vector<BudgetNotice> notices = budget.takeNotices();
  REQUIRE(notices.size() == 1);
  CHECK(notices[0].dimension == "duration");
  clock.advance(2000);
  Status refused = budget.beforeAction();
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().message == "budget exceeded: duration 10000ms/10000ms");
}

TEST_CASE("budget: concurrent recording is exact", "[budget]") {
  FakeClock clock;
  BudgetDesc limits;
  limits.maxTokens = 8 * 10000 * 3;
  limits.maxIterations = 1000000;
  Budget budget(limits, clock);
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < 10000; ++i) {
        std::optional<int64_t> maxTokens;
        Status status = budget.beforeLlmCall(maxTokens);
        (void)status;
        budget.recordLlm(3, 0.001);
        budget.recordIteration();
      }
    });
  for (std::thread &t : threads)
    t.join();
  BudgetUsage usage = budget.usage();
  CHECK(usage.tokens == 240000);
  CHECK(usage.iterations == 80000);
  CHECK(usage.costUsd == Approx(80.0));
  std::vector<BudgetNotice> notices = budget.takeNotices();
  CHECK(countNotices(notices, "tokens", false) == 1);
  CHECK(countNotices(notices, "tokens", true) == 1);
  CHECK(countNotices(notices, "iterations", false) == 0);
}

TEST_CASE("prices: the built-in table", "[budget]") {
  PriceTable table = PriceTable::builtin();
  CHECK(table.date() == "2026-11-01");
  std::optional<Price> mini = table.find("openai", "gpt-4o-mini");
  REQUIRE(mini);
  CHECK(mini->inputPerMillion == Approx(0.15));
  CHECK(mini->outputPerMillion == Approx(0.60));
  for (const char *model : {"gpt-4o", "gpt-4.1", "gpt-4.1-mini", "o3-mini"})
    CHECK(table.find("openai", model).has_value());
  for (const char *model :
       {"claude-3-5-haiku-latest", "claude-3-5-sonnet-latest",
        "claude-sonnet-4", "claude-opus-4", "claude-haiku-4-5"})
    CHECK(table.find("anthropic", model).has_value());

  // Wildcards: every local or replayed model is free.
  std::optional<Price> local = table.find("ollama", "llama3.2");
  REQUIRE(local);
  CHECK(local->inputPerMillion == 0);
  CHECK(local->outputPerMillion == 0);
  CHECK(table.find("replay", "anything").has_value());

  CHECK_FALSE(table.find("openai", "gpt-unknown").has_value());
  CHECK_FALSE(table.find("nosuch", "model").has_value());
}

TEST_CASE("prices: the shipped data file is valid", "[budget]") {
  std::ifstream in(std::string(ITERC_SOURCE_DIR) +
                   "/runtime-lib/data/prices.json");
  REQUIRE(in);
  std::string text((std::istreambuf_iterator<char>(in)),
                   std::istreambuf_iterator<char>());
  std::optional<Json> parsed = parseJson(text);
  REQUIRE(parsed);
  PriceTable table;
  REQUIRE(table.merge(*parsed).ok());
  CHECK((*parsed)["models"].size() >= 10);
}

TEST_CASE("prices: merge overrides and extends", "[budget]") {
  PriceTable table = PriceTable::builtin();
  Json extra = Json::parse(R"({
    "date": "2027-01-01",
    "models": {
      "openai/gpt-4o-mini": {"input": 1, "output": 2},
      "openrouter/meta/llama-3": {"input": 0.05, "output": 0.1},
      "vllm/*": {"input": 0, "output": 0}
    }})");
  REQUIRE(table.merge(extra).ok());
  CHECK(table.date() == "2027-01-01");
  CHECK(table.find("openai", "gpt-4o-mini")->inputPerMillion == 1);
  CHECK(table.find("openai", "gpt-4o-mini")->outputPerMillion == 2);
  CHECK(table.find("openai", "gpt-4o")->inputPerMillion == Approx(2.5));
  CHECK(table.find("openrouter", "meta/llama-3")->outputPerMillion ==
        Approx(0.1));
  CHECK(table.find("vllm", "qwen").has_value());

  // An exact entry wins over the provider's wildcard.
  REQUIRE(table
              .merge(Json::parse(
                  R"({"models": {"ollama/big": {"input": 1, "output": 1}}})"))
              .ok());
  CHECK(table.find("ollama", "big")->inputPerMillion == 1);
  CHECK(table.find("ollama", "small")->inputPerMillion == 0);
  CHECK(table.date() == "2027-01-01"); // No date: unchanged.
}

TEST_CASE("prices: merge errors name the entry and change nothing",
          "[budget]") {
  auto rejected = [](const std::string &text, const std::string &mention) {
    PriceTable table = PriceTable::builtin();
    Status status = table.merge(Json::parse(text));
    INFO(text);
    REQUIRE_FALSE(status.ok());
    CHECK(status.error().code == ErrorCode::InvalidInput);
    CHECK(status.error().message.find(mention) != std::string::npos);
    // The valid entry before the bad one was not applied.
    CHECK(table.find("openai", "gpt-4o-mini")->inputPerMillion == Approx(0.15));
  };
  rejected(R"([])", "models");
  rejected(R"({"date": "x"})", "models");
  rejected(R"({"models": []})", "models");
  rejected(R"({"date": 5, "models": {}})", "date");
  rejected(R"({"models": {"openai/gpt-4o-mini": {"input": 9, "output": 9},
                          "openai/bad": {"input": -1, "output": 1}}})",
           "openai/bad");
  rejected(R"({"models": {"openai/gpt-4o-mini": {"input": 9, "output": 9},
                          "openai/str": {"input": "1", "output": 1}}})",
           "openai/str");
  rejected(R"({"models": {"openai/gpt-4o-mini": {"input": 9, "output": 9},
                          "openai/half": {"input": 1}}})",
           "output");
  rejected(R"({"models": {"openai/gpt-4o-mini": {"input": 9, "output": 9},
                          "openai/bool": {"input": true, "output": 1}}})",
           "openai/bool");
  rejected(R"({"models": {"noslash": {"input": 1, "output": 1}}})", "noslash");
  rejected(R"({"models": {"openai/x": 3}})", "openai/x");
}

TEST_CASE("prices: ITERC_PRICES is merged over the built-in table",
          "[budget]") {
  char path[] = "/tmp/iterc-prices-XXXXXX";
  int fd = ::mkstemp(path);
  REQUIRE(fd >= 0);
  ::close(fd);
  {
    std::ofstream out(path);
    out << R"({"models": {"openai/custom": {"input": 3, "output": 4}}})";
  }
  ::setenv("ITERC_PRICES", path, 1);
  Expected<PriceTable> table = PriceTable::fromEnvironment();
  REQUIRE(table.ok());
  CHECK(table->find("openai", "custom")->outputPerMillion == 4);
  CHECK(table->find("openai", "gpt-4o-mini").has_value());

  {
    std::ofstream out(path);
    out << R"({"models": {"openai/custom": {"input": -3, "output": 4}}})";
  }
  Expected<PriceTable> bad = PriceTable::fromEnvironment();
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().message.find(path) != std::string::npos);
  CHECK(bad.error().message.find("openai/custom") != std::string::npos);

  {
    std::ofstream out(path);
    out << "{not json";
  }
  CHECK_FALSE(PriceTable::fromEnvironment().ok());
  std::remove(path);
  CHECK_FALSE(PriceTable::fromEnvironment().ok()); // Missing file.

  ::unsetenv("ITERC_PRICES");
  Expected<PriceTable> plain = PriceTable::fromEnvironment();
  REQUIRE(plain.ok());
  CHECK_FALSE(plain->find("openai", "custom").has_value());
}

//===----------------------------------------------------------------------===//
// Reservations
//===----------------------------------------------------------------------===//

TEST_CASE("budget: a call that does not fit waits for the calls in flight, "
          "then gets what is left",
          "[budget][reserve]") {
  FakeClock clock;
  BudgetDesc limits;
  limits.maxTokens = 1000;
  Budget budget(limits, clock);

  std::optional<int64_t> capA = 400, capB = 400, capC = 400;
  Expected<BudgetReservation> a = budget.reserve(100, std::nullopt, capA, {});
  REQUIRE(a);
  CHECK(a->tokens() == 500);
  CHECK(a->replyCap() == 400);
  Expected<BudgetReservation> b = budget.reserve(100, std::nullopt, capB, {});
  REQUIRE(b); // 500 + 500: exactly the limit.
  CHECK(capB == 400);

  std::atomic<bool> done{false};
  std::optional<Expected<BudgetReservation>> c;
  std::thread waiter([&] {
    c.emplace(budget.reserve(100, std::nullopt, capC, {}));
    done = true;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  CHECK_FALSE(done); // Nothing is left while a and b are in flight.
  a->settle(300, 0); // 300 used, b holds 500: 200 left, not 500.
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  CHECK_FALSE(done); // b is still in flight: wait for it.
  b->settle(300, 0); // 600 used, nothing held: 400 left.
  waiter.join();
  REQUIRE(c.has_value());
  REQUIRE(c->ok());
  CHECK(capC == 300); // 400 left, 100 of them for the prompt.
  CHECK((*c)->replyCap() == 300);
  (*c)->settle(400, 0);
  CHECK(budget.usage().tokens == 1000);
}

TEST_CASE("budget: with nothing in flight and no room, a call stops the run "
          "below the limit and says why",
          "[budget][reserve]") {
  FakeClock clock;
  BudgetDesc limits;
  limits.maxTokens = 1000;
  Budget budget(limits, clock);
  budget.recordLlm(950, 0);
  (void)budget.takeNotices();
  std::optional<int64_t> cap;
  Expected<BudgetReservation> r = budget.reserve(100, std::nullopt, cap, {});
  REQUIRE_FALSE(r);
  CHECK(r.error().code == ErrorCode::Budget);
  CHECK(r.error().message.find("tokens 950/1000") != std::string::npos);
  CHECK(r.error().message.find("does not fit") != std::string::npos);
  std::vector<BudgetNotice> notices = budget.takeNotices();
  REQUIRE(notices.size() == 1);
  CHECK(notices[0].exceeded);
  CHECK(notices[0].dimension == "tokens");
  CHECK(budget.usage().tokens == 950); // Nothing was recorded.
}

TEST_CASE("budget: a cost limit lowers the reply cap to what its price "
          "allows",
          "[budget][reserve]") {
  FakeClock clock;
  BudgetDesc limits;
  limits.maxCostUsd = 0.001;
  Budget budget(limits, clock);
  Price price{1.0, 4.0};      // $ per million tokens in, out.
  std::optional<int64_t> cap; // Unset: the default 4096 does not fit.
  Expected<BudgetReservation> r = budget.reserve(200, price, cap, {});
  REQUIRE(r);
  CHECK(cap == 200); // (0.001 - 200 * 1e-6) / 4e-6
  CHECK(r->replyCap() == 200);
  CHECK(r->costUsd() == Approx(0.001));
  r->settle(400, 0.001);
  std::optional<int64_t> next;
  CHECK_FALSE(budget.reserve(1, price, next, {}));
  CHECK(budget.usage().costUsd == Approx(0.001));
}

TEST_CASE("budget: without limits a reservation holds no reply cap and "
          "never waits",
          "[budget][reserve]") {
  FakeClock clock;
  Budget budget(BudgetDesc{}, clock);
  std::vector<BudgetReservation> held;
  for (int i = 0; i < 100; ++i) {
    std::optional<int64_t> cap;
    Expected<BudgetReservation> r =
        budget.reserve(1000000, std::nullopt, cap, {});
    REQUIRE(r);
    CHECK_FALSE(cap.has_value());
    CHECK_FALSE(r->replyCap().has_value());
    held.push_back(std::move(*r));
  }
}

TEST_CASE("budget: a waiting call is abandoned; a dropped reservation gives "
          "its share back",
          "[budget][reserve]") {
  FakeClock clock;
  BudgetDesc limits;
  limits.maxTokens = 1000;
  Budget budget(limits, clock);
  std::optional<int64_t> capA = 800;
  Expected<BudgetReservation> a = budget.reserve(100, std::nullopt, capA, {});
  REQUIRE(a);

  std::atomic<int> asked{0};
  std::optional<int64_t> capB = 800;
  Expected<BudgetReservation> b =
      budget.reserve(100, std::nullopt, capB, [&]() -> std::optional<Error> {
        if (++asked < 3)
          return std::nullopt;
        return Error(ErrorCode::Cancelled, "interrupted");
      });
  REQUIRE_FALSE(b);
  CHECK(b.error().code == ErrorCode::Cancelled);
  CHECK(asked == 3);

  { BudgetReservation dropped = std::move(*a); } // The call failed.
  std::optional<int64_t> capC = 800;
  Expected<BudgetReservation> c = budget.reserve(100, std::nullopt, capC, {});
  REQUIRE(c);
  CHECK(capC == 800);
  CHECK(budget.usage().tokens == 0);
}
