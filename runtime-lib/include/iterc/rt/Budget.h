//===- Budget.h - Token, cost, time and iteration limits --------*- C++ -*-===//
//
// This file declares the run budget and the price table it prices tokens
// with. One Budget is shared by every branch of a run (it is thread-safe);
// it is checked before every LLM call and every tool action, clamps a call's
// max_tokens to what remains, warns once per dimension at 80 %, and refuses
// work once a limit is reached. A cost limit with a model that the price
// table does not know is an error before the first call, never a silent $0.
//
//===----------------------------------------------------------------------===//
#ifndef ITERC_RT_BUDGET_H
#define ITERC_RT_BUDGET_H

#include "iterc/rt/Clock.h"
#include "iterc/rt/Core.h"
#include "iterc/rt/Workflow.h"

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

class Budget {
public:
  Budget(BudgetDesc limits, Clock &clock);

  /// Before an LLM call: an error (ErrorCode::Budget) when a limit is
  /// reached; otherwise lowers `maxTokens` (unset: kDefaultReplyTokens) to
  /// the tokens that remain when fewer remain.
  Status beforeLlmCall(std::optional<int64_t> &maxTokens);
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
  Status check();
  void notice(const std::string &dimension, double used, double limit);

  BudgetDesc limitsDesc;
  Clock &clock;
  std::mutex mutex;
  BudgetUsage used;
  int64_t startMs;
  int64_t carriedMs = 0;
  std::map<std::string, bool> warned;
  std::map<std::string, bool> exceededReported;
  std::vector<BudgetNotice> notices;
};

} // namespace iterc::rt

#endif // ITERC_RT_BUDGET_H
