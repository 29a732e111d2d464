//===- BudgetPrices.cpp - Every model has a price under a cost limit ------===//
//
// A cost limit can only be kept when every model call can be priced. This
// file finds the first model-calling node whose model (with ${VAR}
// resolved, as at run time) the price table does not know. The executable
// asks it before anything runs (run, its dry run, resume: a usage error)
// and the engine once more when a run starts.
//
//===----------------------------------------------------------------------===//
#include "iterc/rt/Budget.h"
#include "iterc/rt/Llm.h"

using namespace iterc::rt;

std::string iterc::rt::unpricedModel(const WorkflowDesc &wf,
                                     const BudgetDesc &limits,
                                     const PriceTable &prices) {
  if (!limits.maxCostUsd)
    return "";
  for (const NodeDesc &n : wf.nodes) {
    if (!callsModel(n))
      continue;
    std::string model =
        expandEnv(n.model.empty() ? n.interactionModel : n.model);
    Expected<std::pair<std::string, std::string>> split = splitModel(model);
    if (!split)
      continue; // Not a model name: reported as such elsewhere.
    if (prices.find(split->first, split->second))
      continue;
    std::string dated =
        prices.date().empty() ? "" : " (dated " + prices.date() + ")";
    return "node '" + n.name + "' uses model '" + model +
           "', which has no price in the price table" + dated +
           ", and the budget limits cost (max_cost_usd): add its price "
           "with ITERC_PRICES=prices.json, e.g. {\"models\": {\"" +
           model +
           "\": {\"input\": 0.15, \"output\": 0.6}}} (USD per "
           "million tokens)";
  }
  return "";
}
