//===- Budget.cpp - Token, cost, time and iteration limits ----------------===//
//
// This file implements the price table and the run budget. The built-in
// prices are runtime-lib/data/prices.json, embedded at build time
// (PriceData.inc); ITERC_PRICES names a file merged over them. The budget
// is a mutex-guarded set of counters: every check and every record compares
// usage with the limits, reports each dimension's 80 % warning and its
// exhaustion once, and refuses work once a limit is reached. Elapsed time is
// read from the Clock at each call (there is no timer thread), so a run that
// idles past its duration is refused at its next step.
//
// A check before each call is not enough when branches run in parallel:
// all of them pass it before any usage comes back. So each model call
// reserves its worst case (reserve) against what neither usage nor the
// calls in flight hold, and gives it back when its real usage is recorded
// (settle). A call that does not fit waits on a condition variable for the
// calls in flight; with none in flight it gets a smaller reply cap or the
// run stops. Usage thus never passes a limit while providers keep to the
// reply cap and the prompt bound (one token per byte of the request).
//
//===----------------------------------------------------------------------===//
#include "iterc/rt/Budget.h"

#include "FileText.h"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>

using namespace iterc::rt;

namespace {

const char builtinPrices[] =
#include "PriceData.inc"
    ;

const char *const dimTokens = "tokens";
const char *const dimCost = "cost_usd";
const char *const dimIterations = "iterations";
const char *const dimDuration = "duration";

/// Share of a limit at which the warning is given.
constexpr double warnRatio = 0.8;

/// `value` without trailing zeros: 1000, 0.25, 1.5.
std::string formatNumber(double value) {
  char buf[64];
  if (std::fabs(value) < 1e15 && value == std::floor(value))
    std::snprintf(buf, sizeof buf, "%.0f", value);
  else
    std::snprintf(buf, sizeof buf, "%.6g", value);
  return buf;
}

/// "tokens 1000/1000", "cost_usd 0.5/0.5", "duration 60000ms/60000ms".
std::string describe(const std::string &dimension, double used, double limit) {
  std::string unit = dimension == dimDuration ? "ms" : "";
  return dimension + " " + formatNumber(used) + unit + "/" +
         formatNumber(limit) + unit;
}

} // namespace

//===----------------------------------------------------------------------===//
// PriceTable
//===----------------------------------------------------------------------===//

PriceTable PriceTable::builtin() {
  static const PriceTable table = [] {
    PriceTable result;
    std::optional<Json> parsed = parseJson(builtinPrices);
    if (parsed) {
      Status merged = result.merge(*parsed);
      (void)merged; // The shipped table is checked by the tests.
    }
    return result;
  }();
  return table;
}

Expected<PriceTable> PriceTable::fromEnvironment() {
  PriceTable table = builtin();
  const char *file = std::getenv("ITERC_PRICES");
  if (!file || !*file)
    return table;
  std::optional<std::string> text = readFileText(file);
  if (!text)
    return Error(ErrorCode::InvalidInput,
                 std::string("ITERC_PRICES: cannot read ") + file);
  std::optional<Json> parsed = parseJson(*text);
  if (!parsed)
    return Error(ErrorCode::InvalidInput,
                 std::string("ITERC_PRICES: ") + file + " is not valid JSON");
  if (Status merged = table.merge(*parsed); !merged)
    return Error(ErrorCode::InvalidInput, std::string("ITERC_PRICES: ") + file +
                                              ": " + merged.error().message);
  return table;
}

Status PriceTable::merge(const Json &table) {
  auto invalid = [](const std::string &message) {
    return Status(Error(ErrorCode::InvalidInput, "price table: " + message));
  };
  if (!table.is_object())
    return invalid("expected an object with \"models\"");
  std::optional<std::string> newDate;
  if (auto it = table.find("date"); it != table.end()) {
    if (!it->is_string())
      return invalid("\"date\" must be a string");
    newDate = it->get<std::string>();
  }
  auto models = table.find("models");
  if (models == table.end() || !models->is_object())
    return invalid("\"models\" must be an object");

  // Validate everything first: a bad entry changes nothing.
  std::map<std::string, Price> incoming;
  for (auto it = models->begin(); it != models->end(); ++it) {
    const std::string &key = it.key();
    size_t slash = key.find('/');
    if (slash == std::string::npos || slash == 0 || slash + 1 == key.size())
      return invalid("entry \"" + key +
                     "\": name must be \"provider/model\" or \"provider/*\"");
    if (!it.value().is_object())
      return invalid("entry \"" + key +
                     "\": expected {\"input\": ..., \"output\": ...}");
    Price price;
    for (const char *field : {"input", "output"}) {
      auto value = it.value().find(field);
      if (value == it.value().end())
        return invalid("entry \"" + key + "\": missing \"" + field + "\"");
      if (!value->is_number() || !std::isfinite(value->get<double>()) ||
          value->get<double>() < 0)
        return invalid("entry \"" + key + "\": \"" + field +
                       "\" must be a non-negative number");
      (field[0] == 'i' ? price.inputPerMillion : price.outputPerMillion) =
          value->get<double>();
    }
    incoming[key] = price;
  }
  for (auto &[key, price] : incoming)
    prices[key] = price;
  if (newDate)
    tableDate = *newDate;
  return Status::success();
}

std::optional<Price> PriceTable::find(const std::string &provider,
                                      const std::string &model) const {
  if (auto it = prices.find(provider + "/" + model); it != prices.end())
    return it->second;
  if (auto it = prices.find(provider + "/*"); it != prices.end())
    return it->second;
  return std::nullopt;
}

//===----------------------------------------------------------------------===//
// Budget
//===----------------------------------------------------------------------===//

Budget::Budget(BudgetDesc limits, Clock &clock)
    : limitsDesc(std::move(limits)), clock(clock),
      startMs(clock.monotonicMs()) {}

void Budget::notice(const std::string &dimension, double usedValue,
                    double limit) {
  if (usedValue >= limit) {
    if (exceededReported[dimension])
      return;
    exceededReported[dimension] = true;
    warned[dimension] = true; // Past the warning: no separate one.
    notices.push_back({dimension, usedValue, limit, true});
    return;
  }
  if (usedValue >= warnRatio * limit && !warned[dimension]) {
    warned[dimension] = true;
    notices.push_back({dimension, usedValue, limit, false});
  }
}

Status Budget::check() {
  used.elapsedMs = clock.monotonicMs() - startMs + carriedMs;
  struct Dim {
    const char *name;
    bool limited;
    double usedValue;
    double limit;
  };
  const Dim dims[] = {
      {dimTokens, limitsDesc.maxTokens.has_value(), double(used.tokens),
       double(limitsDesc.maxTokens.value_or(0))},
      {dimCost, limitsDesc.maxCostUsd.has_value(), used.costUsd,
       limitsDesc.maxCostUsd.value_or(0)},
      {dimIterations, limitsDesc.maxIterations.has_value(),
       double(used.iterations), double(limitsDesc.maxIterations.value_or(0))},
      {dimDuration, limitsDesc.maxDurationMs.has_value(),
       double(used.elapsedMs), double(limitsDesc.maxDurationMs.value_or(0))},
  };
  const Dim *reached = nullptr;
  for (const Dim &dim : dims) {
    if (!dim.limited)
      continue;
    notice(dim.name, dim.usedValue, dim.limit);
    if (!reached && dim.usedValue >= dim.limit)
      reached = &dim;
  }
  if (reached)
    return Error(ErrorCode::Budget,
                 "budget exceeded: " + describe(reached->name,
                                                reached->usedValue,
                                                reached->limit));
  return Status::success();
}

Status Budget::beforeLlmCall(std::optional<int64_t> &maxTokens) {
  std::lock_guard<std::mutex> lock(mutex);
  if (Status status = check(); !status)
    return status;
  // A reply may not be longer than what the budget has left. A call that
  // sets no limit of its own keeps the provider's default (Anthropic's
  // 4096, see LlmProviders.cpp) until the budget left is below it: a
  // request is never sent a limit larger than the model accepts, and while
  // plenty is left every request is the same whatever its timing relative
  // to parallel branches, so cassettes replay deterministically.
  if (limitsDesc.maxTokens) {
    int64_t remaining = *limitsDesc.maxTokens - used.tokens;
    int64_t current = maxTokens ? *maxTokens : kDefaultReplyTokens;
    if (remaining < current)
      maxTokens = remaining;
  }
  return Status::success();
}

Status Budget::beforeAction() {
  std::lock_guard<std::mutex> lock(mutex);
  return check();
}

Status Budget::checkDuration() {
  std::lock_guard<std::mutex> lock(mutex);
  if (!limitsDesc.maxDurationMs)
    return Status::success();
  used.elapsedMs = clock.monotonicMs() - startMs + carriedMs;
  double limit = double(*limitsDesc.maxDurationMs);
  notice(dimDuration, double(used.elapsedMs), limit);
  if (double(used.elapsedMs) < limit)
    return Status::success();
  return Error(ErrorCode::Budget,
               "budget exceeded: " +
                   describe(dimDuration, double(used.elapsedMs), limit) +
                   " (the work in flight was stopped)");
}

void Budget::recordLlm(int64_t tokens, double costUsd) {
  std::lock_guard<std::mutex> lock(mutex);
  recordLocked(tokens, costUsd);
}

void Budget::recordLocked(int64_t tokens, double costUsd) {
  if (tokens > 0)
    used.tokens += tokens;
  if (costUsd > 0 && std::isfinite(costUsd))
    used.costUsd += costUsd;
  if (limitsDesc.maxTokens)
    notice(dimTokens, double(used.tokens), double(*limitsDesc.maxTokens));
  if (limitsDesc.maxCostUsd)
    notice(dimCost, used.costUsd, *limitsDesc.maxCostUsd);
}

void Budget::recordIteration() {
  std::lock_guard<std::mutex> lock(mutex);
  ++used.iterations;
  if (limitsDesc.maxIterations)
    notice(dimIterations, double(used.iterations),
           double(*limitsDesc.maxIterations));
}

void Budget::restore(const BudgetUsage &usage) {
  std::lock_guard<std::mutex> lock(mutex);
  used.tokens = usage.tokens;
  used.costUsd = usage.costUsd;
  used.iterations = usage.iterations;
  carriedMs = usage.elapsedMs;
  startMs = clock.monotonicMs();
  used.elapsedMs = carriedMs;
  // What the earlier session already crossed was reported there.
  auto carried = [&](const char *dimension, double usedValue,
                     std::optional<double> limit) {
    if (!limit)
      return;
    if (usedValue >= warnRatio * *limit)
      warned[dimension] = true;
    if (usedValue >= *limit)
      exceededReported[dimension] = true;
  };
  auto asDouble = [](const std::optional<int64_t> &v) {
    return v ? std::optional<double>(double(*v)) : std::nullopt;
  };
  carried(dimTokens, double(used.tokens), asDouble(limitsDesc.maxTokens));
  carried(dimCost, used.costUsd, limitsDesc.maxCostUsd);
  carried(dimIterations, double(used.iterations),
          asDouble(limitsDesc.maxIterations));
  carried(dimDuration, double(carriedMs), asDouble(limitsDesc.maxDurationMs));
}

BudgetUsage Budget::usage() {
  std::lock_guard<std::mutex> lock(mutex);
  used.elapsedMs = clock.monotonicMs() - startMs + carriedMs;
  return used;
}

std::vector<BudgetNotice> Budget::takeNotices() {
  std::lock_guard<std::mutex> lock(mutex);
  std::vector<BudgetNotice> taken;
  taken.swap(notices);
  return taken;
}

//===----------------------------------------------------------------------===//
// Reservations
//===----------------------------------------------------------------------===//

namespace {

/// How long a call that waits for room sleeps before it asks its abandon
/// callback again (interrupt, cancel, duration).
constexpr int64_t reserveWaitSliceMs = 25;

} // namespace

BudgetReservation::BudgetReservation(BudgetReservation &&other) noexcept
    : budget(other.budget), reservedTokens(other.reservedTokens),
      reservedCost(other.reservedCost), cap(other.cap) {
  other.budget = nullptr;
}

BudgetReservation &
BudgetReservation::operator=(BudgetReservation &&other) noexcept {
  if (this != &other) {
    if (budget)
      budget->release(*this, false, 0, 0);
    budget = other.budget;
    reservedTokens = other.reservedTokens;
    reservedCost = other.reservedCost;
    cap = other.cap;
    other.budget = nullptr;
  }
  return *this;
}

BudgetReservation::~BudgetReservation() {
  if (budget)
    budget->release(*this, false, 0, 0);
}

void BudgetReservation::settle(int64_t tokens, double costUsd) {
  if (budget)
    budget->release(*this, true, tokens, costUsd);
}

void Budget::release(BudgetReservation &reservation, bool record,
                     int64_t tokens, double costUsd) {
  {
    std::lock_guard<std::mutex> lock(mutex);
    heldTokens -= reservation.reservedTokens;
    heldCost -= reservation.reservedCost;
    if (--inFlight <= 0) { // No rounding left behind.
      inFlight = 0;
      heldTokens = 0;
      heldCost = 0;
    }
    if (record)
      recordLocked(tokens, costUsd);
  }
  reservation.budget = nullptr;
  released.notify_all();
}

int64_t Budget::replyRoom(int64_t promptTokens,
                          const std::optional<Price> &price,
                          std::string &dimension) const {
  int64_t room = std::numeric_limits<int64_t>::max();
  if (limitsDesc.maxTokens) {
    room = *limitsDesc.maxTokens - used.tokens - heldTokens - promptTokens;
    dimension = dimTokens;
  }
  if (limitsDesc.maxCostUsd && price) {
    double left = *limitsDesc.maxCostUsd - used.costUsd - heldCost -
                  double(promptTokens) * price->inputPerMillion / 1e6;
    int64_t byCost = room;
    if (left < 0)
      byCost = -1;
    else if (price->outputPerMillion > 0)
      // The nudge keeps 799.99999... (rounding) from losing a token.
      byCost = int64_t(
          std::min(std::floor(left * 1e6 / price->outputPerMillion + 1e-9),
                   double(std::numeric_limits<int64_t>::max() / 2)));
    if (byCost < room) {
      room = byCost;
      dimension = dimCost;
    }
  }
  return room;
}

Expected<BudgetReservation> Budget::reserve(int64_t promptTokens,
                                            const std::optional<Price> &price,
                                            std::optional<int64_t> &maxTokens,
                                            const AbandonFn &abandon) {
  promptTokens = std::max<int64_t>(promptTokens, 0);
  const bool limited =
      limitsDesc.maxTokens.has_value() || limitsDesc.maxCostUsd.has_value();
  std::unique_lock<std::mutex> lock(mutex);
  for (;;) {
    if (Status status = check(); !status)
      return status.error();
    int64_t cap = maxTokens.value_or(kDefaultReplyTokens);
    std::string dimension;
    int64_t room = replyRoom(promptTokens, price, dimension);
    if (room < cap && inFlight > 0) {
      // Calls in flight hold part of what is left: wait until one settles
      // (its real usage is usually below what it held), then look again.
      released.wait_for(lock, std::chrono::milliseconds(reserveWaitSliceMs));
      if (abandon) {
        lock.unlock(); // abandon may read the budget (checkDuration).
        std::optional<Error> stop = abandon();
        lock.lock();
        if (stop)
          return *stop;
      }
      continue;
    }
    if (room < 1) {
      // Nothing in flight and not one reply token fits: the limit is
      // reached for this call, though usage may be below it.
      bool tokens = dimension == dimTokens;
      double usedValue = tokens ? double(used.tokens) : used.costUsd;
      double limit =
          tokens ? double(*limitsDesc.maxTokens) : *limitsDesc.maxCostUsd;
      if (!exceededReported[dimension]) {
        exceededReported[dimension] = true;
        warned[dimension] = true;
        notices.push_back({dimension, usedValue, limit, true});
      }
      return Error(ErrorCode::Budget,
                   "budget exceeded: " + describe(dimension, usedValue, limit) +
                       "; the next model call (a prompt of up to " +
                       std::to_string(promptTokens) +
                       " tokens and its reply) does not fit in what is left");
    }
    if (room < cap)
      maxTokens = cap = room;
    BudgetReservation reservation;
    reservation.budget = this;
    reservation.reservedTokens = promptTokens + cap;
    if (limited)
      reservation.cap = cap;
    if (price)
      reservation.reservedCost =
          (double(promptTokens) * price->inputPerMillion +
           double(cap) * price->outputPerMillion) /
          1e6;
    heldTokens += reservation.reservedTokens;
    heldCost += reservation.reservedCost;
    ++inFlight;
    return reservation;
  }
}
