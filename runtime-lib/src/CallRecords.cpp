//===- CallRecords.cpp - A resumed run's model answers, by place ----------===//
//
// Reads the llm_response events of a run's log into records keyed by the
// place of each call (see CallRecords.h), so that a resume serves each step
// its own answer and nothing else. Kept out of the engine: the engine asks
// one question per call ("what did this call get last time?").
//
//===----------------------------------------------------------------------===//
#include "CallRecords.h"

#include <utility>

using namespace iterc::rt;

namespace {

/// An integer field of `data`, or nullopt (absent in an older log).
std::optional<int64_t> intField(const Json &data, const char *name) {
  auto it = data.find(name);
  if (it == data.end() || !it->is_number_integer())
    return std::nullopt;
  return it->get<int64_t>();
}

} // namespace

void CallCost::add(const Json &data) {
  const Json &r = data.value("response", Json::object());
  if (r.is_object()) {
    tokensIn += r.value("input_tokens", int64_t(0));
    tokensOut += r.value("output_tokens", int64_t(0));
  }
  tokens = tokensIn + tokensOut;
  costUsd += data.value("cost_usd", 0.0);
}

void CallRecords::load(const std::vector<Event> &events) {
  using Step = std::pair<std::string, std::string>; // branch, node
  std::map<Step, int64_t> execution; // The open execution of each step.
  std::map<Step, int64_t> nextCall;  // For records without `call`.
  std::map<std::string, int64_t> finished; // Executions per node.
  auto eraseExecution = [this](const std::string &branch,
                               const std::string &node, int64_t exec) {
    auto it = records.lower_bound(Key(branch, node, exec, 0));
    while (it != records.end() && std::get<0>(it->first) == branch &&
           std::get<1>(it->first) == node && std::get<2>(it->first) == exec)
      it = records.erase(it);
  };
  for (const Event &e : events) {
    Step step(e.branchId, e.nodeId);
    if (e.type == "node_started") {
      execution[step] =
          intField(e.data, "iteration").value_or(finished[e.nodeId]);
      nextCall[step] = 0;
    } else if (e.type == "llm_response") {
      if (!e.data.contains("response") || !e.data.contains("request_sha256") ||
          !e.data["request_sha256"].is_string())
        continue;
      auto open = execution.find(step);
      int64_t exec = intField(e.data, "execution")
                         .value_or(open != execution.end()
                                       ? open->second
                                       : finished[e.nodeId]);
      execution[step] = exec;
      int64_t call = intField(e.data, "call").value_or(nextCall[step]);
      total.add(e.data);
      nextCall[step] = call + 1;
      // A later record of the same place (the call was made again after
      // its step changed) replaces the earlier one.
      records[Key(e.branchId, e.nodeId, exec, call)] = {
          e.data["request_sha256"].get<std::string>(), e.data};
    } else if (e.type == "node_finished") {
      auto open = execution.find(step);
      if (open != execution.end()) {
        eraseExecution(e.branchId, e.nodeId, open->second);
        execution.erase(open);
      }
      ++finished[e.nodeId];
    } else if (e.type == "run_failed" &&
               e.data.value("code", std::string()) == "SCHEMA_INVALID") {
      // The failed step's answers are what failed it: they are set aside,
      // and the step starts again with a live call. The event names the
      // fan-out, not the step, when the step ran in a branch: every step
      // open at the failure starts again (its siblings were cut short).
      for (const auto &[open, exec] : execution) {
        eraseExecution(open.first, open.second, exec);
        nextCall[open] = 0;
      }
    }
  }
}

CallRecords::Found CallRecords::take(const CallPlace &place,
                                     const std::string &requestSha256) {
  Found found;
  auto it =
      records.find(Key(place.branch, place.node, place.execution, place.call));
  if (it == records.end())
    return found;
  if (it->second.sha256 == requestSha256) {
    found.kind = Kind::Recorded;
    const Json &r = it->second.data["response"];
    found.invalid = InvalidReply::fromRecord(r);
    found.response.text = r.value("text", std::string());
    found.response.toolCalls = r.value("tool_calls", Json::array());
    found.response.finishReason = r.value("finish_reason", std::string());
    found.response.usage.inputTokens = r.value("input_tokens", int64_t(0));
    found.response.usage.outputTokens = r.value("output_tokens", int64_t(0));
  } else {
    found.kind = Kind::Changed;
    found.recordedSha256 = it->second.sha256;
  }
  records.erase(it);
  return found;
}

void CallRecords::describe(Json &data, const CallPlace &place) {
  data["execution"] = place.execution;
  data["call"] = place.call;
}
