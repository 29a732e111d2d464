//===- Budget.h - Token, cost, time and iteration limits --------*- C++ -*-===//
//
// This file declares the run budget and the price table it prices tokens
// with. One Budget is shared by every branch of a run (it is thread-safe);
// it is checked before every LLM call and every tool action, warns once per
// dimension at 80 %, and refuses work once a limit is reached. Each model
// call reserves its worst case (prompt bound plus reply cap, priced) before
// it is sent and settles with its real usage, so that parallel branches
// cannot together pass the limit. A cost limit with a model that the price
// table does not know is an error before the first call, never a silent $0
// (unpricedModel, BudgetPrices.cpp).
//
//===----------------------------------------------------------------------===//
#ifndef ITERC_RT_BUDGET_H
#define ITERC_RT_BUDGET_H

#include "iterc/rt/Clock.h"
#include "iterc/rt/Core.h"
#include "iterc/rt/Workflow.h"

#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace iterc::rt {

struct Price {
  double inputPerMillion = 0;   ///< USD per million input tokens.
  double outputPerMillion = 0;  ///< USD per million output tokens.
};

/// Prices per "provider/model", dated. The built-in table ships with the
/// runtime; a JSON file can replace or extend it.
class PriceTable {
public:
  static PriceTable builtin();
  /// The built-in table, with the file named by ITERC_PRICES (when set)
  /// merged over it; an unreadable or invalid file is an error.
  static Expected<PriceTable> fromEnvironment();
  /// {"date": "2026-11-01", "models": {"openai/gpt-4o-mini": {"input":
  /// 0.15, "output": 0.6}, ...}}; entries override the built-in ones.
  Status merge(const Json &table);
  std::optional<Price> find(const std::string &provider,
                            const std::string &model) const;
  const std::string &date() const { return tableDate; }

private:
  std::map<std::string, Price> prices;
  std::string tableDate;
};

struct BudgetUsage {
  int64_t tokens = 0;
  double costUsd = 0;
  int64_t iterations = 0;
  int64_t elapsedMs = 0;
};

/// A crossed threshold, for budget_warning / budget_exceeded events.
struct BudgetNotice {
  std::string dimension;  ///< tokens | cost_usd | iterations | duration
  double used = 0;
  double limit = 0;
  bool exceeded = false;  ///< false: the 80 % warning
};

/// The reply limit providers apply to a call that sets none (Anthropic's
/// messages API requires one; iterc sends this).
constexpr int64_t kDefaultReplyTokens = 4096;

/// Under a cost limit (`limits.max_cost_usd`), why a model a node of `wf`
/// calls cannot be priced: the node, the model (its ${VAR} resolved) and
/// how to add a price. "" when every model has a price or cost is not
/// limited.
std::string unpricedModel(const WorkflowDesc &wf, const BudgetDesc &limits,
                          const PriceTable &prices);

class Budget;

/// A model call's worst case held against the budget while the call is in
/// flight (Budget::reserve). settle() gives it back and records the call's
/// real usage at once; a reservation dropped unsettled (the call failed)
/// gives its share back and records nothing.
class BudgetReservation {
public:
  BudgetReservation() = default;
  BudgetReservation(BudgetReservation &&other) noexcept;
  BudgetReservation &operator=(BudgetReservation &&other) noexcept;
  BudgetReservation(const BudgetReservation &) = delete;
  BudgetReservation &operator=(const BudgetReservation &) = delete;
  ~BudgetReservation();

  void settle(int64_t tokens, double costUsd);
  bool held() const { return budget != nullptr; }
  int64_t tokens() const { return reservedTokens; }
  double costUsd() const { return reservedCost; }
  /// Under a token or cost limit, the reply cap the reservation holds: the
  /// call must be sent with it (LlmRequest::replyCap). Else none.
  std::optional<int64_t> replyCap() const { return cap; }

private:
  friend class Budget;
  Budget *budget = nullptr;
  int64_t reservedTokens = 0;
  double reservedCost = 0;
  std::optional<int64_t> cap;
};

class Budget {
public:
  /// Asked while a call waits for room: an error abandons the wait.
  using AbandonFn = std::function<std::optional<Error>()>;

  Budget(BudgetDesc limits, Clock &clock);

  /// Before an LLM call: an error (ErrorCode::Budget) when a limit is
  /// reached; otherwise lowers `maxTokens` (unset: kDefaultReplyTokens) to
  /// the tokens that remain when fewer remain.
  Status beforeLlmCall(std::optional<int64_t> &maxTokens);
  /// Right before a model call is sent: reserves `promptTokens` (an upper
  /// bound of the prompt's tokens) plus the reply cap `maxTokens` (unset:
  /// kDefaultReplyTokens), priced with `price` against max_cost_usd, out of
  /// what neither usage nor other reservations hold. A call that does not
  /// fit waits while other reservations are in flight (asking `abandon`
  /// every few milliseconds); with none in flight its reply cap is lowered
  /// to what fits (`maxTokens` is set to it), and when not one reply token
  /// fits the run's budget is exceeded (ErrorCode::Budget).
  Expected<BudgetReservation> reserve(int64_t promptTokens,
                                      const std::optional<Price> &price,
                                      std::optional<int64_t> &maxTokens,
                                      const AbandonFn &abandon);
  /// Before a tool action or any node execution.
  Status beforeAction();
  /// While a model call is in flight: an error (ErrorCode::Budget) once the
  /// run's duration limit is reached. The other limits move only between
  /// calls and are checked before each.
  Status checkDuration();
  void recordLlm(int64_t tokens, double costUsd);
  void recordIteration();
  /// Usage carried over from before a resume.
  void restore(const BudgetUsage &usage);

  BudgetUsage usage();
  const BudgetDesc &limits() const { return limitsDesc; }
  /// Notices produced since the last call (each warning once).
  std::vector<BudgetNotice> takeNotices();

private:
  friend class BudgetReservation;
  Status check();
  void notice(const std::string &dimension, double used, double limit);
  void recordLocked(int64_t tokens, double costUsd);
  /// Gives a reservation back (and records `tokens`/`costUsd` when
  /// `record`), waking the calls that wait for room.
  void release(BudgetReservation &reservation, bool record, int64_t tokens,
               double costUsd);
  /// How many reply tokens fit now for a prompt of `promptTokens` (may be
  /// negative); `dimension` names the limit that bounds it.
  int64_t replyRoom(int64_t promptTokens, const std::optional<Price> &price,
                    std::string &dimension) const;

  BudgetDesc limitsDesc;
  Clock &clock;
  std::mutex mutex;
  BudgetUsage used;
  int64_t startMs;
  int64_t carriedMs = 0;
  std::map<std::string, bool> warned;
  std::map<std::string, bool> exceededReported;
  std::vector<BudgetNotice> notices;
  /// What calls in flight hold (reserve / release).
  int64_t heldTokens = 0;
  double heldCost = 0;
  int64_t inFlight = 0;
  std::condition_variable released;
};

} // namespace iterc::rt

#endif // ITERC_RT_BUDGET_H
