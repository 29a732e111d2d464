//===- Engine.h - Running a workflow ----------------------------*- C++ -*-===//
//
// This file declares the engine: it walks a WorkflowDesc from its entry
// node, runs each node (LLM calls, tools, compute, verify, human gates,
// routers, convergence), chooses edges in declaration order with per-loop
// caps, keeps the shared budget, and records every step in the run store so
// that a killed or paused run resumes exactly where it stopped, without
// calling a model twice for the same step.
//
//===----------------------------------------------------------------------===//
#ifndef ITERC_RT_ENGINE_H
#define ITERC_RT_ENGINE_H

#include "iterc/rt/AgentTools.h"
#include "iterc/rt/Budget.h"
#include "iterc/rt/Clock.h"
#include "iterc/rt/Llm.h"
#include "iterc/rt/Store.h"
#include "iterc/rt/Tool.h"
#include "iterc/rt/Workflow.h"

#include <atomic>
#include <functional>
#include <map>
#include <string>

namespace iterc::rt {

struct EngineDeps {
  RunStore *store = nullptr;        ///< Required.
  ProviderSet *providers = nullptr; ///< Required for LLM nodes.
  ToolRunner *tools = nullptr;      ///< Required for tool nodes.
  HttpTransport *http = nullptr;    ///< For verify HTTP checks.
  Approver *approver = nullptr; ///< For `approval: required`; none = refuse.
  /// Tools beyond the built-in workspace tools (e.g. MCP servers); agents
  /// find a tool in the built-ins first, then here.
  Toolbox *toolbox = nullptr;
  Clock *clock = nullptr; ///< Defaults to the system clock.
  PriceTable prices = PriceTable::builtin();
  /// Called for every event as it is recorded (progress display, --json).
  std::function<void(const Event &)> onEvent;
  /// Names of environment variables tools may inherit in addition to the
  /// node's own `inherit_env` (e.g. PATH, HOME).
  std::vector<std::string> baseToolEnv = {"PATH", "HOME", "LANG", "TMPDIR"};
  /// How many times an invalid structured reply is re-asked.
  int maxSchemaRetries = 2;
  /// Set (e.g. from a SIGINT handler) to stop the run before its next step
  /// or model call: it ends Cancelled, with everything done so far
  /// recorded, and `resume` continues it.
  const std::atomic<bool> *interrupt = nullptr;
  /// Makes the runtime that brings the workflow's `services:` up before
  /// the entry node (and on every resume) and down when the run stops,
  /// whatever the reason. Called with the run id. None: the stack is not
  /// started and HTTP checks naming a service fail.
  std::function<Expected<std::unique_ptr<StackRuntime>>(const std::string &)>
      stack;
};

struct RunOptions {
  std::string runId;                ///< Empty: generated.
  std::map<std::string, Json> vars; ///< --var overrides.
  std::string preset;
  std::string workspace = "."; ///< Tools run and files land here.
  std::optional<BudgetDesc> budgetOverride;
};

struct RunResult {
  RunStatus status = RunStatus::Running;
  std::string runId;
  Json outputs = Json::object(); ///< Latest output of every node.
  std::optional<Error> error;
  std::string node;          ///< Where it stopped (failure, pause).
  std::string interactionId; ///< When paused.
  Json questions;            ///< When paused.
  BudgetUsage usage;
};

class Engine {
public:
  Engine(const WorkflowDesc &workflow, EngineDeps deps);
  ~Engine();

  RunResult run(const RunOptions &options);
  /// Continues a paused, failed-resumable, budget-exceeded or interrupted
  /// run. `answers` answer a pending human gate.
  RunResult resume(const std::string &runId, const Json &answers,
                   const RunOptions &options);

private:
  class Impl;
  std::unique_ptr<Impl> impl;
};

/// A fresh run id, `run_<UTC date and time>_<6 random hex digits>` (what
/// run() uses when RunOptions::runId is empty).
std::string newRunId(Clock &clock);

} // namespace iterc::rt

#endif // ITERC_RT_ENGINE_H
