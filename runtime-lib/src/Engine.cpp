//===- Engine.cpp - Running a workflow ------------------------------------===//
//
// This file implements the engine. A run is a walk over the workflow graph:
// execute the current node, record its output, pick the next edge in
// declaration order (per-loop caps, loop counters reset on re-entry), and
// carry the edge's `with` mappings into the next node's input.
//
// Durability is event sourcing. Every step appends events to the run store
// (one line each; nothing is rewritten), and a resumed run re-walks the graph
// from its entry while *replaying* what the log already holds: a node whose
// `node_finished` is recorded is not executed again (its recorded output is
// used), an LLM call whose response is recorded for that very call (same
// node, branch, execution and call index: CallRecords.h) is answered from the
// log, and events already in the log are not written twice. The walk is deterministic
// given the outputs, so it retraces the original path and continues live
// from where the run stopped: a killed run resumes without calling a model
// twice for the same step, and a paused run resumes at its human gate.
//
//===----------------------------------------------------------------------===//
#include "iterc/rt/Engine.h"
#include "iterc/rt/Redact.h"

#include "iterc/rt/Scope.h"

#include "Assertions.h"
#include "CallRecords.h"
#include "InvalidReply.h"
#include "ServiceWatch.h"
#include "ToolWireNames.h"
#include "Verify.h"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <deque>
#include <mutex>
#include <random>
#include <set>
#include <thread>
#include <unistd.h>

using namespace iterc::rt;

namespace {

//===----------------------------------------------------------------------===//
// Helpers
//===----------------------------------------------------------------------===//

/// Secret values become "[redacted]" in everything the run records.
using Redactor = SecretMask;

/// Sets `name` in a tool's environment, replacing an earlier value.
void setToolEnv(std::vector<std::pair<std::string, std::string>> &env,
                const std::string &name, std::string value) {
  auto it = std::find_if(env.begin(), env.end(),
                         [&](const auto &kv) { return kv.first == name; });
  if (it != env.end())
    it->second = std::move(value);
  else
    env.emplace_back(name, std::move(value));
}

/// Events about the run as a whole: written by each session, never part of
/// the step-by-step record that a resume replays.
/// Each service's base URL (null when it has no port), for the stack events.
Json endpointsJson(StackRuntime &stack,
                   const std::vector<const ServiceDesc *> &services) {
  Json out = Json::object();
  for (const ServiceDesc *s : services)
    if (std::optional<Endpoint> ep = stack.endpoint(s->name))
      out[s->name] = ep->baseUrl();
    else
      out[s->name] = nullptr;
  return out;
}

/// A conversation as stored in a session_saved event, and back.
Json messagesToJson(const std::vector<LlmMessage> &messages) {
  Json out = Json::array();
  for (const LlmMessage &m : messages) {
    Json j = {{"role", m.role}, {"content", m.content}};
    if (!m.toolCalls.is_null() && !m.toolCalls.empty())
      j["tool_calls"] = m.toolCalls;
    if (!m.toolCallId.empty())
      j["tool_call_id"] = m.toolCallId;
    out.push_back(std::move(j));
  }
  return out;
}

std::vector<LlmMessage> messagesFromJson(const Json &messages) {
  std::vector<LlmMessage> out;
  if (!messages.is_array())
    return out;
  for (const Json &j : messages)
    if (j.is_object())
      out.push_back({j.value("role", std::string()),
                     j.value("content", std::string()),
                     j.value("tool_calls", Json()),
                     j.value("tool_call_id", std::string())});
  return out;
}

/// A JSON object from alternating keys and values, each value constructed
/// in place: `{{"k", v}}` builds a temporary array per member and copies
/// every value out of the initializer list.
void addMembers(Json::object_t &) {}
template <typename V, typename... Rest>
void addMembers(Json::object_t &object, const char *key, V &&value,
                Rest &&...rest) {
  object.emplace_back(key, std::forward<V>(value));
  addMembers(object, std::forward<Rest>(rest)...);
}
template <typename... Args> Json objectOf(Args &&...args) {
  static_assert(sizeof...(Args) % 2 == 0, "objectOf(key, value, ...)");
  Json data = Json::object();
  Json::object_t &object = data.get_ref<Json::object_t &>();
  object.reserve(sizeof...(Args) / 2);
  addMembers(object, std::forward<Args>(args)...);
  return data;
}

/// A run's outputs as a JSON object in name order, from a map of name to
/// output (or to a pointer to it). Names are unique: appended without
/// ordered_json's operator[], whose linear search made this quadratic.
const Json &deref(const Json &value) { return value; }
const Json &deref(const Json *value) { return *value; }
template <typename Map> Json outputsByName(const Map &outputs) {
  Json all = Json::object();
  Json::object_t &members = all.get_ref<Json::object_t &>();
  members.reserve(outputs.size());
  for (const auto &[name, output] : outputs)
    members.emplace_back(name, deref(output));
  return all;
}

bool isRunLevel(const std::string &type) {
  if (type.compare(0, 4, "run_") != 0)
    return false;
  return type == "run_started" || type == "run_resumed" ||
         type == "run_paused" || type == "run_finished" || type == "run_failed";
}

const char *nodeKindName(NodeKind kind) {
  switch (kind) {
  case NodeKind::Agent:
    return "agent";
  case NodeKind::Judge:
    return "judge";
  case NodeKind::Router:
    return "router";
  case NodeKind::Join:
    return "join";
  case NodeKind::Human:
    return "human";
  case NodeKind::Tool:
    return "tool";
  case NodeKind::Compute:
    return "compute";
  case NodeKind::Verify:
    return "verify";
  case NodeKind::Done:
    return "done";
  case NodeKind::Fail:
    return "fail";
  }
  return "agent";
}

/// Converts a --var string to the declared type.
Expected<Json> coerceVar(const VarDesc &var, const Json &value) {
  if (!value.is_string())
    return value;
  const std::string s = value.get<std::string>();
  auto bad = [&](const char *what) {
    return Error(ErrorCode::InvalidInput, "variable '" + var.name + "' is " +
                                              what + "; got '" + s + "'");
  };
  switch (var.type) {
  case FieldType::String:
    if (!var.enumValues.empty() &&
        std::find(var.enumValues.begin(), var.enumValues.end(), s) ==
            var.enumValues.end())
      return bad("restricted to its enum values");
    return value;
  case FieldType::Bool:
    if (s == "true" || s == "1" || s == "yes")
      return Json(true);
    if (s == "false" || s == "0" || s == "no" || s.empty())
      return Json(false);
    return bad("a bool (true/false)");
  case FieldType::Int: {
    char *end = nullptr;
    long long n = std::strtoll(s.c_str(), &end, 10);
    if (s.empty() || *end)
      return bad("an int");
    return Json(int64_t(n));
  }
  case FieldType::Float: {
    char *end = nullptr;
    double d = std::strtod(s.c_str(), &end);
    if (s.empty() || *end)
      return bad("a float");
    return Json(d);
  }
  case FieldType::StringList: {
    if (std::optional<Json> j = parseJson(s); j && j->is_array())
      return *j;
    Json list = Json::array();
    size_t start = 0;
    while (start <= s.size()) {
      size_t comma = s.find(',', start);
      std::string item =
          s.substr(start, comma == std::string::npos ? std::string::npos
                                                     : comma - start);
      if (!item.empty())
        list.push_back(item);
      if (comma == std::string::npos)
        break;
      start = comma + 1;
    }
    return list;
  }
  case FieldType::Json:
  case FieldType::Files:
    if (std::optional<Json> j = parseJson(s))
      return *j;
    return value;
  }
  return value;
}

} // namespace

//===----------------------------------------------------------------------===//
// Engine::Impl
//===----------------------------------------------------------------------===//

class Engine::Impl {
public:
  Impl(const WorkflowDesc &wf, EngineDeps deps)
      : wf(wf), deps(std::move(deps)), out(wf.outgoing()) {
    if (!this->deps.clock)
      this->deps.clock = &systemClock();
    computeSources();
    for (const SchemaDesc &schema : wf.schemas)
      schemaJson.push_back(std::make_shared<const Json>(schema.jsonSchema()));
    for (const NodeDesc &n : wf.nodes)
      keepSessions = keepSessions || n.session == SessionMode::Inherit ||
                     n.session == SessionMode::Fork ||
                     n.session == SessionMode::InheritIfAvailable;
  }

  RunResult run(const RunOptions &options);
  RunResult resume(const std::string &runId, const Json &answers,
                   const RunOptions &options);

private:
  struct State;
  class RunScope;

  /// What stopped a walk.
  struct Stop {
    RunStatus status = RunStatus::Finished;
    std::optional<Error> error;
    std::string node;
  };

  struct Next {
    int node = -1;
    Json input;
    /// Why the edge was taken when a loop's cap left it as the way out
    /// ("loop 'fix' reached its cap (3) at 'checks'; last failures: ...").
    std::string afterLoop;
  };

  // Setup.
  void computeSources();
  Expected<Json> resolveVars(const RunOptions &options);
  Status checkPrices();
  RunResult start(State &st, bool resuming);

  // The walk.
  Stop walk(State &st, const std::string &branch, int node, Json input,
            int stopAt, int *lastNode);
  Expected<Json> execute(State &st, const std::string &branch, int node,
                         const Json &input, bool &paused);
  Expected<Next> selectEdge(State &st, const std::string &branch, int node,
                            const Json &output, const Json &input);
  Expected<Next> fanOut(State &st, int router, const std::vector<int> &edges,
                        const Json &input);
  int convergenceOf(int from) const;
  bool branchMutates(State &st, int start, int join);

  /// Logs the budget's warnings and exhaustions not yet logged.
  void emitBudgetNotices(State &st, const std::string &branch,
                         const std::string &node);
  /// Why work in flight (a model call, a tool) must stop now: an
  /// interrupt, a cancel, the run's duration budget.
  /// Asked while work is in flight: an error once the run's duration
  /// budget is spent or the run is cancelled, and with `onInterrupt` once
  /// it is interrupted. Tool commands pass false: the first Ctrl-C lets a
  /// command finish, the second stops it (Interrupt.h).
  std::function<std::optional<Error>()> abandonFor(State &st,
                                                   bool onInterrupt);

  // Node kinds.
  Expected<Json> runLlm(State &st, const std::string &branch, int node,
                        const Json &input, const Json *extraSchema,
                        const std::string &extraInstruction);
  Expected<Json> runTool(State &st, const std::string &branch, int node,
                         const Json &input, bool &paused);
  /// A person's answers for `node`: the answers given to `resume` when the
  /// run is continuing from this pause (validated against `schema`), or
  /// nothing after writing the interaction and setting `paused`.
  Expected<std::optional<Json>> askPerson(State &st, const std::string &branch,
                                          int node, const Json &questions,
                                          const std::string &instructions,
                                          const SchemaDesc *schema,
                                          bool &paused);
  Expected<Json> runCompute(State &st, int node, const Json &input);
  Expected<Json> runVerify(State &st, int node, const Json &input);

  // Recording.
  void emit(State &st, const std::string &branch, const std::string &type,
            const std::string &node, Json data);
  /// A resumed run: the answer the log holds for the call at `place`, in
  /// `response` (true); false when the call is to be made live.
  bool recordedCall(State &st, const std::string &branch,
                    const CallPlace &place, const std::string &hash,
                    LlmResponse &response, std::optional<InvalidReply> &invalid);
  /// On a resumed run, the result of a tool call an agent made before the
  /// interruption (the next recorded event of the branch), or nullopt.
  std::optional<Json> recordedToolResult(State &st, const std::string &branch,
                                         const std::string &node,
                                         const std::string &tool,
                                         const Json &arguments);
  std::optional<Json> recordedOutput(State &st, const std::string &branch,
                                     int node);
  Status recordOutput(State &st, const std::string &branch, int node,
                      const Json &output, bool replayed);
  void finishRun(State &st, const Stop &stop, RunResult &result);
  /// Brings the workflow's stack up (when it has one and deps.stack is
  /// set); what stops the run when that fails.
  std::optional<Stop> bringUp(State &st);
  /// Brings the stack down again; nothing when none is running.
  void tearDown(State &st);
  /// Records the services that ended on their own (service_exited); the
  /// error for verify `n` when one it reaches has ended (ServiceWatch.h).
  std::optional<Error> watchServices(State &st, const NodeDesc *n,
                                     const Json &assertions);
  /// A service that ended on its own, started again when its `restart:`
  /// policy says so and its restarts are not used up (stackMutex held).
  bool restartByPolicy(State &st, ServiceExit &exit);
  /// A tool's `restart:` services, started again (the stack runtime is made
  /// when the run has none yet).
  Status restartServices(State &st, const std::string &branch,
                         const NodeDesc &n);
  Stop budgetStop(const Error &error, int node) const;
  /// What is wrong with a final reply `text` (no tool calls): it is not a
  /// JSON object when the request asks for one, or `schema` (when given)
  /// finds problems. Sets `output` to the node's output.
  static std::vector<std::string> checkReply(const LlmRequest &request,
                                             const SchemaDesc *schema,
                                             const std::string &text,
                                             Json &output);
  /// The error that stops the run after a failed write to the store, if
  /// one failed: what the run did since is not recorded, so nothing more
  /// may happen (a model call would be made again by the resume).
  std::optional<Error> storeError(State &st);

  const WorkflowDesc &wf;
  EngineDeps deps;
  std::vector<std::vector<int>> out;
  std::vector<std::vector<int>> sources; ///< Distinct predecessors.
  /// JSON Schema per schema, shared by every request that sends it.
  std::vector<std::shared_ptr<const Json>> schemaJson;
  bool keepSessions = false; ///< Some node continues a conversation.
};

namespace {

/// The run state's lock: recursive, and spinning a little before it sleeps.
/// Parallel branches take it for short moments (an event, an output, a
/// lookup) many times per node; when the other branch holds it, it is
/// almost always released within a microsecond or two, far sooner than a
/// futex sleep and wake-up, which with two branches on two cores cost more
/// than the work itself (bench/EngineBench.cpp, fan-out).
class RunMutex {
public:
  void lock() {
    std::thread::id me = std::this_thread::get_id();
    if (owner.load(std::memory_order_relaxed) == me) {
      ++depth;
      return;
    }
    bool got = false;
    for (int i = 0; i < kSpins && !got; ++i) {
      got = inner.try_lock();
      if (!got)
        relax();
    }
    if (!got)
      inner.lock();
    owner.store(me, std::memory_order_relaxed);
    depth = 1;
  }
  void unlock() {
    if (--depth == 0) {
      owner.store(std::thread::id(), std::memory_order_relaxed);
      inner.unlock();
    }
  }

private:
  static constexpr int kSpins = 400;
  static void relax() {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    asm volatile("yield");
#endif
  }
  std::mutex inner;
  std::atomic<std::thread::id> owner{};
  int depth = 0;
};

} // namespace

struct Engine::Impl::State {
  RunRecord record;
  std::string workspace;
  Json vars = Json::object();
  // Keyed lookups stay O(log n) however many nodes ran (an ordered_json
  // object is a vector searched linearly).
  std::map<std::string, Json> outputs;
  std::map<std::string, std::vector<Json>> history;
  std::map<std::string, Json> artifacts;
  std::vector<int64_t> artifactVersion;
  std::vector<int64_t> loopCounter;
  std::vector<Json> loopPrevious;
  std::vector<int64_t> rrCounter;
  std::vector<std::string> progressSignature;
  std::vector<int64_t> progressRepeats;
  std::unique_ptr<Budget> budget;
  std::unique_ptr<Toolbox> builtinTools;
  ToolboxChain tools;
  Redactor redactor;
  std::map<std::string, std::vector<LlmMessage>> sessions;
  std::atomic<bool> cancelled{false};
  /// The first write to the store that failed (a full disk...): the run
  /// stops before its next step and never reports success.
  std::optional<Error> storeFailure;
  std::atomic<bool> storeFailed{false};
  RunMutex mutex;
  /// Held by a branch that can change the workspace: such branches run one
  /// at a time, while read-only branches run in parallel.
  std::mutex mutatingBranch;

  // Replay of a resumed run.
  std::map<std::string, std::deque<Event>> recorded;
  CallRecords calls; ///< Model answers, by the place of each call.
  Json pendingAnswers;            ///< Answers given to this resume.
  std::string pendingInteraction; ///< The gate they answer.

  // Where a pause happened.
  std::string pausedInteraction;
  Json pausedQuestions;

  /// The running stack (services: [...]), between bringUp and tearDown.
  std::unique_ptr<StackRuntime> stack;
  /// Held while a tool restarts services (seconds) and while a verify node
  /// looks a service up; not `mutex`, which every event takes.
  std::mutex stackMutex;
  /// Services that ended on their own and were not restarted since.
  std::map<std::string, ServiceExit> endedServices;
  std::map<std::string, int64_t> policyRestarts; ///< By `restart:` so far.
};

class Engine::Impl::RunScope : public Scope {
public:
  RunScope(const Impl &impl, State &st, const Json &input)
      : impl(impl), st(st), input(input) {}

  std::optional<Json> get(RefNs ns,
                          const std::vector<std::string> &path) const override {
    std::lock_guard<RunMutex> lock(st.mutex);
    switch (ns) {
    case RefNs::Vars:
      return drill(st.vars, path, 0);
    case RefNs::Input: {
      if (std::optional<Json> v = drill(input, path, 0))
        return v;
      // As in Iterion, a mapping's `input.x` falls back to the run inputs.
      return drill(st.vars, path, 0);
    }
    case RefNs::Outputs:
      if (path.empty())
        return std::nullopt;
      if (path.size() >= 2 && path[1] == "history") {
        auto it = st.history.find(path[0]);
        Json all = Json::array();
        if (it != st.history.end())
          for (const Json &v : it->second)
            all.push_back(v);
        return drill(all, path, 2);
      } else {
        auto it = st.outputs.find(path[0]);
        if (it == st.outputs.end())
          return std::nullopt;
        return drill(it->second, path, 1);
      }
    case RefNs::Artifacts: {
      if (path.empty())
        return std::nullopt;
      auto it = st.artifacts.find(path[0]);
      if (it == st.artifacts.end())
        return std::nullopt;
      return drill(it->second, path, 1);
    }
    case RefNs::Loop: {
      if (path.empty())
        return std::nullopt;
      for (size_t i = 0; i < impl.wf.loops.size(); ++i) {
        const LoopDesc &loop = impl.wf.loops[i];
        if (loop.name != path[0])
          continue;
        Json info;
        info["iteration"] = st.loopCounter[i];
        info["max"] = loop.cap ? Json(*loop.cap) : Json();
        info["previous_output"] =
            st.loopPrevious[i].is_null() ? Json("") : st.loopPrevious[i];
        return drill(info, path, 1);
      }
      return std::nullopt;
    }
    case RefNs::Run: {
      Json run;
      run["id"] = st.record.id;
      return drill(run, path, 0);
    }
    }
    return std::nullopt;
  }
  std::string workspace() const override { return st.workspace; }

private:
  const Impl &impl;
  State &st;
  const Json &input;
};

void Engine::Impl::computeSources() {
  // In edge order, each source once; a set keeps this linear in the edges
  // where a join has thousands of them.
  sources.assign(wf.nodes.size(), {});
  std::set<std::pair<int, int>> seen;
  for (const EdgeDesc &e : wf.edges)
    if (e.loop < 0 && seen.emplace(e.to, e.from).second)
      sources[e.to].push_back(e.from);
}

//===----------------------------------------------------------------------===//
// Recording and replay
//===----------------------------------------------------------------------===//

void Engine::Impl::emit(State &st, const std::string &branch,
                        const std::string &type, const std::string &node,
                        Json data) {
  // Built before the lock is taken: parallel branches emit several events
  // per node, and only the log's order (timestamp, sequence number, append)
  // needs it.
  Event event;
  event.type = type;
  event.nodeId = node;
  event.branchId = branch;
  event.data = st.redactor.empty() ? std::move(data) : st.redactor.apply(data);
  std::lock_guard<RunMutex> lock(st.mutex);
  auto it = st.recorded.empty() || isRunLevel(type) ? st.recorded.end()
                                                    : st.recorded.find(branch);
  if (it != st.recorded.end() && !it->second.empty()) {
    const Event &front = it->second.front();
    if (front.type == type && front.nodeId == node) {
      it->second.pop_front(); // Already in the log.
      return;
    }
    it->second.clear(); // The walk left the recorded path: go live.
  }
  event.timestamp = deps.clock->timestamp();
  // A failed append must not lose the step silently: it ends the run
  // before its next step (see storeError) and the run cannot finish.
  // Without an observer the store may take the event rather than copy it.
  Status s = deps.onEvent
                 ? deps.store->appendEvent(st.record.id, event)
                 : deps.store->appendEvent(st.record.id, std::move(event));
  if (!s.ok() && !st.storeFailure) {
    st.storeFailure = s.error();
    st.storeFailed = true;
  }
  if (deps.onEvent)
    deps.onEvent(event);
}

bool Engine::Impl::recordedCall(State &st, const std::string &branch,
                                const CallPlace &place,
                                const std::string &hash, LlmResponse &response,
                                std::optional<InvalidReply> &invalid) {
  CallRecords::Found found;
  {
    std::lock_guard<RunMutex> lock(st.mutex);
    found = st.calls.take(place, hash);
    if (found.kind != CallRecords::Kind::Recorded) {
      // A live call: what the branch recorded after this point followed
      // another answer (or none), so the walk leaves the recorded path and
      // this call's events are written.
      auto it = st.recorded.find(branch);
      if (it != st.recorded.end())
        it->second.clear();
    }
  }
  if (found.kind == CallRecords::Kind::Changed) {
    // The step sends something else than when it was recorded (a variable
    // given again, another workflow input): its record is not served.
    Json data = objectOf("recorded_sha256", found.recordedSha256,
                         "request_sha256", hash);
    CallRecords::describe(data, place);
    emit(st, branch, "llm_record_changed", place.node, std::move(data));
    return false;
  }
  if (found.kind == CallRecords::Kind::Missing)
    return false;
  response = std::move(found.response);
  invalid = std::move(found.invalid);
  return true;
}

std::optional<Json> Engine::Impl::recordedToolResult(State &st,
                                                     const std::string &branch,
                                                     const std::string &node,
                                                     const std::string &tool,
                                                     const Json &arguments) {
  std::lock_guard<RunMutex> lock(st.mutex);
  auto it = st.recorded.find(branch);
  if (it == st.recorded.end() || it->second.empty())
    return std::nullopt;
  const Event &front = it->second.front();
  if (front.type != "tool_called" || front.nodeId != node ||
      front.data.value("tool", std::string()) != tool ||
      !front.data.contains("result") ||
      front.data.value("arguments", Json()) != arguments)
    return std::nullopt;
  return front.data["result"];
}

std::optional<Json>
Engine::Impl::recordedOutput(State &st, const std::string &branch, int node) {
  std::lock_guard<RunMutex> lock(st.mutex);
  auto it = st.recorded.find(branch);
  if (it == st.recorded.end() || it->second.empty())
    return std::nullopt;
  const std::string &name = wf.nodes[node].name;
  std::deque<Event> &queue = it->second;
  if (queue.front().type != "node_started" || queue.front().nodeId != name)
    return std::nullopt;
  for (size_t i = 1; i < queue.size(); ++i) {
    const Event &e = queue[i];
    if (e.type == "node_started")
      return std::nullopt;
    if (e.type == "node_finished" && e.nodeId == name) {
      Json output = e.data.value("output", Json::object());
      queue.erase(queue.begin(), queue.begin() + i + 1);
      return output;
    }
  }
  return std::nullopt;
}

Status Engine::Impl::recordOutput(State &st, const std::string &branch,
                                  int node, const Json &output, bool replayed) {
  const NodeDesc &n = wf.nodes[node];
  int64_t version;
  {
    // Copied before the lock is taken (parallel branches wait on it).
    Json latest = output, past = output;
    std::lock_guard<RunMutex> lock(st.mutex);
    st.outputs[n.name] = std::move(latest);
    st.history[n.name].push_back(std::move(past));
    version = st.artifactVersion[node]++;
    if (!n.publish.empty())
      st.artifacts[n.publish] = output;
  }
  if (!replayed && !n.writeFiles.empty() && output.contains(n.writeFiles)) {
    for (const Json &file : output[n.writeFiles]) {
      if (!file.is_object() || !file.contains("path") ||
          !file["path"].is_string())
        continue;
      Status s =
          writeWorkspaceFile(st.workspace, file["path"].get<std::string>(),
                             file.value("content", std::string()));
      if (!s.ok())
        return s;
    }
  }
  if (!n.publish.empty() && !replayed) {
    Json artifact;
    artifact["run_id"] = st.record.id;
    artifact["node_id"] = n.name;
    artifact["version"] = version;
    artifact["data"] = st.redactor.apply(output);
    artifact["written_at"] = deps.clock->timestamp();
    Status s =
        deps.store->writeArtifact(st.record.id, n.name, version, artifact);
    if (!s.ok())
      return s;
    emit(st, branch, "artifact_written", n.name,
         objectOf("publish", n.publish, "version", version));
  }
  if (replayed)
    return Status::success();
  emit(st, branch, "node_finished", n.name,
       output.is_object()
           ? objectOf("output", output, "iteration", version, "_tokens",
                      output.value("_tokens", int64_t(0)), "_cost_usd",
                      output.value("_cost_usd", 0.0))
           : objectOf("output", output, "iteration", version));
  return Status::success();
}

//===----------------------------------------------------------------------===//
// Setup
//===----------------------------------------------------------------------===//

Expected<Json> Engine::Impl::resolveVars(const RunOptions &options) {
  Json vars = Json::object();
  for (const VarDesc &v : wf.vars) {
    if (!v.defaultValue)
      continue;
    Json value = *v.defaultValue;
    if (value.is_string())
      value = expandEnv(value.get<std::string>());
    Expected<Json> coerced = coerceVar(v, value);
    if (!coerced)
      return coerced.error();
    vars[v.name] = *coerced;
  }
  if (!options.preset.empty()) {
    const PresetDesc *preset = nullptr;
    for (const PresetDesc &p : wf.presets)
      if (p.name == options.preset)
        preset = &p;
    if (!preset) {
      std::string names;
      for (const PresetDesc &p : wf.presets)
        names += (names.empty() ? "" : ", ") + p.name;
      return Error(ErrorCode::InvalidInput,
                   "no preset named '" + options.preset + "'" +
                       (names.empty() ? "" : " (presets: " + names + ")"));
    }
    for (const auto &[name, value] : preset->values)
      vars[name] = value;
  }
  for (const auto &[name, value] : options.vars) {
    const VarDesc *decl = nullptr;
    for (const VarDesc &v : wf.vars)
      if (v.name == name)
        decl = &v;
    if (!decl)
      return Error(ErrorCode::InvalidInput,
                   "the workflow declares no variable '" + name + "'");
    Expected<Json> coerced = coerceVar(*decl, value);
    if (!coerced)
      return coerced.error();
    vars[name] = *coerced;
  }
  for (const VarDesc &v : wf.vars)
    if (!vars.contains(v.name))
      return Error(ErrorCode::InvalidInput,
                   "variable '" + v.name +
                       "' has no default; give it with --var " + v.name +
                       "=...");
  return vars;
}

Status Engine::Impl::checkPrices() {
  // The executable refused this before the run (usage error); a run
  // started otherwise (a library caller) fails here.
  std::string unpriced = unpricedModel(wf, wf.budget, deps.prices);
  if (!unpriced.empty())
    return Error(ErrorCode::Budget, unpriced);
  return Status::success();
}

//===----------------------------------------------------------------------===//
// Node execution
//===----------------------------------------------------------------------===//

void Engine::Impl::emitBudgetNotices(State &st, const std::string &branch,
                                     const std::string &node) {
  for (const BudgetNotice &notice : st.budget->takeNotices())
    emit(st, branch, notice.exceeded ? "budget_exceeded" : "budget_warning",
         node,
         objectOf("dimension", notice.dimension, "used", notice.used, "limit",
                  notice.limit));
}

std::function<std::optional<Error>()>
Engine::Impl::abandonFor(State &st, bool onInterrupt) {
  return [this, &st, onInterrupt]() -> std::optional<Error> {
    if (onInterrupt && deps.interrupt && deps.interrupt->load())
      return Error(ErrorCode::Cancelled, "interrupted");
    if (st.cancelled)
      return Error(ErrorCode::Cancelled, "cancelled");
    if (Status ok = st.budget->checkDuration(); !ok)
      return ok.error();
    return std::nullopt;
  };
}

Expected<Json> Engine::Impl::runLlm(State &st, const std::string &branch,
                                    int node, const Json &input,
                                    const Json *extraSchema,
                                    const std::string &extraInstruction) {
  const NodeDesc &n = wf.nodes[node];
  RunScope scope(*this, st, input);
  std::string model = expandEnv(n.model.empty() ? n.interactionModel : n.model);
  Expected<std::pair<std::string, std::string>> split = splitModel(model);
  if (!split)
    return split.error();
  if (!deps.providers)
    return Error(ErrorCode::InvalidInput, "no LLM provider is configured");
  Expected<LlmProvider *> provider = deps.providers->forModel(split->first);
  if (!provider)
    return provider.error();

  LlmRequest request;
  request.provider = split->first;
  request.model = split->second;
  request.reasoningEffort = expandEnv(n.reasoningEffort);
  // Session: `inherit`/`fork` continue the conversation named by the
  // input's `_session_id` (mapped explicitly, as in Iterion).
  std::string sessionId;
  if ((n.session == SessionMode::Inherit || n.session == SessionMode::Fork ||
       n.session == SessionMode::InheritIfAvailable) &&
      input.is_object() && input.contains("_session_id") &&
      input["_session_id"].is_string()) {
    std::lock_guard<RunMutex> lock(st.mutex);
    auto it = st.sessions.find(input["_session_id"].get<std::string>());
    if (it != st.sessions.end())
      request.messages = it->second;
  }
  std::string system = renderText(n.system, scope);
  if (!extraInstruction.empty())
    system += (system.empty() ? "" : "\n\n") + extraInstruction;
  if (!system.empty() && request.messages.empty())
    request.messages.push_back({"system", system, Json(), ""});
  std::string user = n.user.empty() ? input.dump(2) : renderText(n.user, scope);
  request.messages.push_back({"user", user, Json(), ""});

  const SchemaDesc *schema =
      n.output >= 0 ? &wf.schemas[size_t(n.output)] : nullptr;
  if (extraSchema) {
    request.outputSchema = std::make_shared<const Json>(*extraSchema);
    request.schemaName = n.name + "_output";
  } else if (schema) {
    request.outputSchema = schemaJson[size_t(n.output)];
    request.schemaName = schema->name;
  }
  request.maxTokens = n.maxTokens;
  request.timeouts = wf.requestTimeouts(n, request.provider, request.model);
  // A call in flight is abandoned when the run is interrupted or cancelled
  // or its duration budget runs out; no retry starts after that.
  request.abandon = abandonFor(st, true);
  for (const std::string &name : n.tools) {
    if (name.find('*') != std::string::npos) {
      std::vector<ToolSpec> found = st.tools.expand(name);
      if (found.empty())
        return Error(ErrorCode::Tool,
                     "no tool matches '" + name + "' for '" + n.name + "'");
      request.tools.insert(request.tools.end(), found.begin(), found.end());
      continue;
    }
    std::optional<ToolSpec> spec = st.tools.find(name);
    if (!spec)
      return Error(ErrorCode::Tool, "'" + n.name + "' lists tool '" + name +
                                        "', which is not available");
    request.tools.push_back(*spec);
  }
  // `mcp.server.tool` travels as `mcp__server__tool`, mapped back when
  // called; a clash of wire names or too many tools stops here.
  Expected<std::map<std::string, std::string>> wireNames =
      assignWireNames(request.tools, n.name);
  if (!wireNames)
    return wireNames.error();
  std::map<std::string, std::string> &wireToName = *wireNames;
  int64_t maxSteps = n.toolMaxSteps > 0 ? n.toolMaxSteps : 10;
  int64_t toolSteps = 0;

  int64_t totalTokens = 0;
  double totalCost = 0;
  size_t loggedMessages = 0;
  CallPlace place{branch, n.name, 0, 0};
  bool live = false; // Once a call is live, the later ones follow it.
  {
    std::lock_guard<RunMutex> lock(st.mutex);
    place.execution = st.artifactVersion[size_t(node)];
  }
  for (int attempt = 0;; ++attempt, ++place.call) {
    if (st.cancelled)
      return Error(ErrorCode::Cancelled, "cancelled");
    if (deps.interrupt && deps.interrupt->load())
      return Error(ErrorCode::Cancelled, "interrupted");
    if (std::optional<Error> failed = storeError(st))
      return *failed;
    // The log keys a call by the request as the workflow made it, before
    // the budget clamps max_tokens (a resume may have a larger budget).
    request.matchKey = request.computeMatchKey();
    std::string hash = sha256Hex(request.matchKey);
    std::optional<int64_t> requestedMax = request.maxTokens;
    Status budgetOk = st.budget->beforeLlmCall(request.maxTokens);
    if (request.maxTokens != requestedMax)
      request.matchKey = request.computeMatchKey();
    emitBudgetNotices(st, branch, n.name);
    if (!budgetOk.ok())
      return budgetOk.error();
    LlmResponse response;
    std::optional<InvalidReply> invalid; // Recorded as an excerpt.
    bool fromLog =
        !live && recordedCall(st, branch, place, hash, response, invalid);
    live = !fromLog;
    BudgetReservation held; // The call's worst case, while in flight.
    if (!fromLog) {
      std::optional<int64_t> cap = request.maxTokens;
      Expected<BudgetReservation> reserved =
          st.budget->reserve(int64_t(request.matchKey.size()),
                             deps.prices.find(request.provider, request.model),
                             request.maxTokens, request.abandon);
      emitBudgetNotices(st, branch, n.name);
      if (!reserved)
        return reserved.error();
      held = std::move(*reserved);
      request.replyCap = held.replyCap();
      if (request.maxTokens != cap)
        request.matchKey = request.computeMatchKey();
      Expected<LlmResponse> answer = (*provider)->complete(request);
      if (!answer) {
        emitBudgetNotices(st, branch, n.name);
        return answer.error();
      }
      response = *answer;
    }
    int64_t tokens = response.usage.inputTokens + response.usage.outputTokens;
    double cost = 0;
    if (std::optional<Price> price =
            deps.prices.find(request.provider, request.model))
      cost = (response.usage.inputTokens * price->inputPerMillion +
              response.usage.outputTokens * price->outputPerMillion) /
             1e6;
    if (held.held())
      held.settle(tokens, cost);
    else if (!fromLog) // A recorded call's cost is in the budget since resume().
      st.budget->recordLlm(tokens, cost);
    totalTokens += tokens;
    totalCost += cost;
    // Checked before it is recorded: an invalid reply is logged (and sent
    // back to the model) as a bounded excerpt.
    Json output;
    std::vector<std::string> problems;
    if (invalid) {
      problems = invalid->problems; // The excerpt replayed: known invalid.
    } else if (response.toolCalls.empty()) {
      problems = checkReply(request, extraSchema ? nullptr : schema,
                            response.text, output);
      if (!problems.empty()) {
        InvalidReply cut = InvalidReply::of(response.text, std::move(problems));
        problems = cut.problems;
        if (cut.cut) {
          response.text = cut.text;
          invalid = std::move(cut);
        }
      }
    }
    Json recorded =
        objectOf("text", response.text, "tool_calls", response.toolCalls,
                 "finish_reason", response.finishReason, "input_tokens",
                 response.usage.inputTokens, "output_tokens",
                 response.usage.outputTokens);
    if (invalid)
      invalid->addTo(recorded);
    // What this call sent that the log does not hold yet: every message of
    // the first call, then the tool results (and the turn they answer).
    Json sent = messagesForLog(
        request.messages, loggedMessages,
        [&st](const std::string &text) { return st.redactor.apply(text); });
    loggedMessages = request.messages.size();
    Json event =
        objectOf("request_sha256", hash, "model", model, "attempt", attempt,
                 "sent", std::move(sent), "response", std::move(recorded),
                 "cost_usd", cost);
    CallRecords::describe(event, place);
    emit(st, branch, "llm_response", n.name, std::move(event));

    if (!response.toolCalls.empty()) {
      // The tool-call loop: run what the model asked for and send back the
      // results, up to tool_max_steps rounds.
      if (request.tools.empty())
        return Error(ErrorCode::Provider,
                     "the model asked to call tool '" +
                         response.toolCalls[0].value("name", std::string()) +
                         "', but '" + n.name + "' has no tools");
      if (++toolSteps > maxSteps)
        return Error(ErrorCode::Tool, "'" + n.name + "' used its " +
                                          std::to_string(maxSteps) +
                                          " tool steps without answering");
      request.messages.push_back(
          {"assistant", response.text, response.toolCalls, ""});
      for (const Json &call : response.toolCalls) {
        std::string wire = call.value("name", std::string());
        auto mapped = wireToName.find(wire);
        std::string name = mapped == wireToName.end() ? wire : mapped->second;
        Json arguments = call.value("arguments", Json::object());
        Json result;
        if (mapped == wireToName.end()) {
          result = {{"error", "unknown tool '" + name + "'"}};
        } else if (n.readonly && st.tools.mutates(name)) {
          result = {{"error", "'" + name + "' changes the workspace and '" +
                                  n.name + "' is readonly"}};
        } else if (std::optional<Json> recorded = recordedToolResult(
                       st, branch, n.name, name, arguments)) {
          // A resumed run: this call ran before the interruption; its
          // result is in the log, and the tool does not run twice.
          result = std::move(*recorded);
        } else {
          Expected<Json> r = st.tools.call(name, arguments);
          result = r ? *r : Json{{"error", r.error().message}};
        }
        emit(st, branch, "tool_called", n.name,
             objectOf("tool", name, "arguments", arguments, "result", result));
        request.messages.push_back(
            {"tool",
             result.is_string() ? result.get<std::string>() : result.dump(),
             Json(), call.value("id", std::string())});
      }
      request.maxTokens = requestedMax;
      --attempt; // A tool round is not a schema attempt.
      continue;
    }

    if (problems.empty()) {
      std::string sid;
      {
        std::lock_guard<RunMutex> lock(st.mutex);
        // Named after the node's execution count, so a resumed run names
        // it the same way.
        sid = n.name + "#" + std::to_string(st.artifactVersion[size_t(node)]);
        if (keepSessions) {
          std::vector<LlmMessage> conversation = request.messages;
          conversation.push_back({"assistant", response.text, Json(), ""});
          st.sessions[sid] = std::move(conversation);
        }
      }
      // Durable, so that a resumed run's `inherit`/`fork` nodes continue
      // the same conversation.
      if (keepSessions)
        emit(st, branch, "session_saved", n.name,
             objectOf("session_id", sid, "messages",
                      messagesToJson(st.sessions[sid])));
      output["_tokens"] = totalTokens;
      output["_cost_usd"] = totalCost;
      output["_session_id"] = sid;
      return output;
    }
    if (attempt >= deps.maxSchemaRetries) {
      std::string all;
      for (const std::string &p : problems)
        all += (all.empty() ? "" : "; ") + p;
      return Error(ErrorCode::SchemaInvalid,
                   "'" + n.name + "' did not produce a valid '" +
                       request.schemaName + "' after " +
                       std::to_string(attempt + 1) + " attempts: " + all);
    }
    // Informed re-ask: tell the model exactly what was wrong.
    std::string feedback = invalid ? invalid->feedback()
                                   : InvalidReply::of("", problems).feedback();
    request.messages.push_back({"assistant", response.text, Json(), ""});
    request.messages.push_back({"user", feedback, Json(), ""});
    request.maxTokens = requestedMax;
  }
}

std::vector<std::string> Engine::Impl::checkReply(const LlmRequest &request,
                                                  const SchemaDesc *schema,
                                                  const std::string &text,
                                                  Json &output) {
  std::vector<std::string> problems;
  if (!request.hasOutputSchema()) {
    output = Json::object();
    output["text"] = text;
    return problems;
  }
  std::optional<Json> parsed = parseJson(text);
  if (!parsed || !parsed->is_object()) {
    problems.push_back("the reply is not a JSON object");
    return problems;
  }
  output = std::move(*parsed);
  if (schema)
    problems = schema->validate(output);
  return problems;
}

Expected<Json> Engine::Impl::runTool(State &st, const std::string &branch,
                                     int node, const Json &input,
                                     bool &paused) {
  const NodeDesc &n = wf.nodes[node];
  if (!deps.tools)
    return Error(ErrorCode::Tool, "no tool runner is configured");
  RunScope scope(*this, st, input);
  ToolInvocation inv;
  // Values reach a shell as data (renderShell); other interpreters get the
  // text, and their scripts read values from `env:` to keep them data.
  bool bashScript = n.isScript && n.language == "bash";
  if (!n.isScript || n.language.empty() || n.language == "sh" || bashScript) {
    Expected<std::string> command = renderShell(
        n.command, scope,
        bashScript ? shell::Dialect::Bash : shell::Dialect::Posix);
    if (!command)
      return Error(command.error().code,
                   "tool '" + n.name + "': " + command.error().message);
    inv.command = std::move(*command);
  } else {
    inv.command = renderTextWithEnv(n.command, scope);
  }
  if (n.isScript)
    inv.interpreter = n.language.empty() ? "sh" : n.language;
  inv.workdir =
      n.workdir.empty() ? st.workspace : st.workspace + "/" + n.workdir;
  if (n.timeoutMs)
    inv.timeoutMs = *n.timeoutMs;
  if (n.maxOutputBytes)
    inv.outputCap = n.maxOutputBytes;
  std::set<std::string> names;
  auto inherit = [&](const std::string &name) {
    if (!names.insert(name).second)
      return;
    if (const char *value = std::getenv(name.c_str()))
      inv.env.emplace_back(name, value);
  };
  for (const std::string &name : deps.baseToolEnv)
    inherit(name);
  for (const std::string &name : n.inheritEnv)
    inherit(name);
  for (const auto &[name, value] : n.env)
    setToolEnv(inv.env, name, renderTextWithEnv(value, scope));
  // At least once: a step interrupted before its result was recorded runs
  // again on resume. Its key is the same each time (run, node, branch, the
  // node's execution count), so the tool can tell a repeat from a new step.
  int64_t iteration;
  {
    std::lock_guard<RunMutex> lock(st.mutex);
    iteration = st.artifactVersion[size_t(node)];
  }
  setToolEnv(inv.env, "ITERC_RUN_ID", st.record.id);
  setToolEnv(inv.env, "ITERC_STEP_KEY",
             st.record.id + "/" + n.name + "/" +
                 (branch.empty() ? std::string("main") : branch) + "/" +
                 std::to_string(iteration));
  // Approval: granted up front by the approver (e.g. `--approve`), or asked
  // of a person: the run pauses like a human gate and `resume --answer
  // approved=true` runs the command.
  if (n.approval &&
      !(deps.approver && deps.approver->approve(n.name, inv.command))) {
    Json questions = {{"command", inv.command}};
    Expected<std::optional<Json>> answers =
        askPerson(st, branch, node, st.redactor.apply(questions),
                  "Approve running this command of tool '" + n.name + "'?",
                  &approvalSchema(), paused);
    if (!answers)
      return answers.error();
    if (paused)
      return Json();
    if (!(**answers)["approved"].get<bool>())
      return Error(ErrorCode::NotApproved,
                   "tool '" + n.name + "' needs approval and was not approved");
  }
  Status budgetOk = st.budget->beforeAction();
  if (!budgetOk.ok())
    return budgetOk.error();
  // The workdir is opened from the workspace without following symlinks,
  // and the command starts in that very directory.
  Expected<int> workdirFd = openWorkspaceDir(st.workspace, n.workdir);
  if (!workdirFd)
    return Error(workdirFd.error().code,
                 "tool '" + n.name + "': " + workdirFd.error().message);
  struct CloseOnExit {
    int fd;
    ~CloseOnExit() { ::close(fd); }
  } closeWorkdir{*workdirFd};
  inv.workdirFd = *workdirFd;
  inv.stopWhenHurried = true; // A second Ctrl-C stops it (Interrupt.h).
  emit(st, branch, "tool_started", n.name, objectOf("command", inv.command));
  if (std::optional<Error> failed = storeError(st))
    return *failed;
  inv.abandon = abandonFor(st, false); // The run's deadline stops it too.
  Expected<ToolResult> result = deps.tools->run(inv);
  if (!result)
    return result.error();
  Json called =
      objectOf("exit_code", result->exitCode, "timed_out", result->timedOut,
               "duration_ms", result->durationMs, "containment",
               result->containment);
  if (result->interrupted)
    called["interrupted"] = result->interrupted->message;
  addTruncation(called, *result);
  emit(st, branch, "tool_called", n.name, std::move(called));
  if (result->interrupted) {
    emitBudgetNotices(st, branch, n.name);
    return *result->interrupted;
  }
  if (!n.restart.empty() && result->exitCode == 0 && !result->timedOut) {
    Status restarted = restartServices(st, branch, n);
    if (!restarted.ok()) {
      // The command worked but what it built does not come up: for a tool
      // that captures its result this is data (exit code 1, the reason on
      // stderr), for the others a failure of the tool.
      result->exitCode = 1;
      if (!result->stderrText.empty() && result->stderrText.back() != '\n')
        result->stderrText += '\n';
      result->stderrText += restarted.error().message + "\n";
    }
  }
  if (result->timedOut && !n.capture)
    return Error(ErrorCode::ToolTimeout,
                 "tool '" + n.name + "' timed out after " +
                     std::to_string(inv.timeoutMs) + " ms");
  Json output = Json::object();
  std::string trimmed = result->stdoutText;
  while (!trimmed.empty() &&
         std::isspace(static_cast<unsigned char>(trimmed.back())))
    trimmed.pop_back();
  std::optional<Json> parsed = parseJson(trimmed);
  if (parsed && parsed->is_object())
    output = *parsed;
  else if (!n.capture)
    output["result"] = trimmed;
  // A declared output schema is a contract on what the tool prints.
  if (n.output >= 0 && result->exitCode == 0 && !result->timedOut) {
    const SchemaDesc &schema = wf.schemas[size_t(n.output)];
    std::vector<std::string> problems;
    if (!parsed || !parsed->is_object())
      problems.push_back("stdout is not a JSON object" +
                         truncationNote(*result, inv.outputCap));
    else
      problems = schema.validate(*parsed);
    if (!problems.empty() && !n.capture) {
      std::string all;
      for (const std::string &p : problems)
        all += (all.empty() ? "" : "; ") + p;
      return Error(ErrorCode::SchemaInvalid,
                   "tool '" + n.name +
                       "' printed output that does not match '" + schema.name +
                       "': " + all);
    }
  }
  if (n.capture) {
    output["exit_code"] = result->exitCode;
    output["stdout"] = result->stdoutText;
    output["stderr"] = result->stderrText;
    output["duration_ms"] = result->durationMs;
    output["timed_out"] = result->timedOut;
    output["stdout_truncated"] = result->stdoutTruncated;
    output["stderr_truncated"] = result->stderrTruncated;
    output["stdout_bytes"] = result->stdoutBytes;
    output["stderr_bytes"] = result->stderrBytes;
    return output;
  }
  if (result->exitCode != 0) {
    std::string tail =
        result->stderrText.size() > 2000
            ? result->stderrText.substr(result->stderrText.size() - 2000)
            : result->stderrText;
    return Error(ErrorCode::Tool, "tool '" + n.name + "' exited with status " +
                                      std::to_string(result->exitCode) +
                                      (tail.empty() ? "" : ": " + tail));
  }
  return output;
}

Expected<Json> Engine::Impl::runCompute(State &st, int node,
                                        const Json &input) {
  const NodeDesc &n = wf.nodes[node];
  RunScope scope(*this, st, input);
  Json output = Json::object();
  for (const CheckDesc &e : n.exprs)
    output[e.name] = e.fn ? e.fn(scope) : Json();
  return output;
}

Expected<Json> Engine::Impl::runVerify(State &st, int node, const Json &input) {
  const NodeDesc &n = wf.nodes[node];
  RunScope scope(*this, st, input);
  Json assertions =
      n.assertions.empty() ? Json() : renderValue(n.assertions, scope);
  if (std::optional<Error> gone = watchServices(st, &n, assertions))
    return *gone;
  Json failures = Json::array();
  verify::runChecks(n.checks, scope, failures);
  for (const HttpCheckDesc &h : n.httpChecks) {
    std::string url;
    if (!h.service.empty()) {
      std::optional<Endpoint> ep;
      bool running;
      {
        std::lock_guard<std::mutex> lock(st.stackMutex);
        running = st.stack != nullptr;
        if (running)
          ep = st.stack->endpoint(h.service);
      }
      if (!ep) {
        failures.push_back(verify::failure(
            h.name, "service '" + h.service + "' running",
            !running ? "no stack is running"
                     : "the service is not running or has no port"));
        continue;
      }
      url = ep->baseUrl() + renderText(h.path, scope);
    } else {
      url = renderText(h.url, scope) + renderText(h.path, scope);
    }
    if (!deps.http) {
      failures.push_back(
          verify::failure(h.name, "an HTTP client", "none configured"));
      continue;
    }
    HttpRequest request;
    request.method = h.method;
    request.url = url;
    request.body = renderText(h.body, scope);
    request.timeoutMs = h.timeoutMs;
    for (const auto &[k, v] : h.headers)
      request.headers.emplace_back(k, renderText(v, scope));
    Expected<HttpResponse> response = deps.http->send(request);
    if (!response) {
      failures.push_back(
          verify::failure(h.name, "HTTP " + std::to_string(h.expectStatus),
                          response.error().message));
      continue;
    }
    verify::checkResponse(h, *response, scope, failures);
  }
  if (!n.assertions.empty()) {
    verify::AssertionEnv env;
    env.scope = &scope;
    env.workspace = st.workspace;
    env.http = deps.http;
    env.serviceUrl = [&st](const std::string &service,
                           std::string &why) -> std::optional<std::string> {
      std::lock_guard<std::mutex> lock(st.stackMutex);
      if (!st.stack) {
        why = "no stack is running";
        return std::nullopt;
      }
      // Only the workflow's own services: endpoint() knows no other name.
      std::optional<Endpoint> ep = st.stack->endpoint(service);
      if (!ep) {
        why = "'" + service + "' is not a running service of the workflow";
        return std::nullopt;
      }
      return ep->baseUrl();
    };
    verify::checkAssertions(assertions, env, failures);
  }
  // A service that died while it was probed.
  if (std::optional<Error> gone = watchServices(st, &n, assertions))
    return *gone;
  Json output;
  output["passed"] = failures.empty();
  output["failures"] = failures;
  return output;
}

Expected<Json> Engine::Impl::execute(State &st, const std::string &branch,
                                     int node, const Json &input,
                                     bool &paused) {
  const NodeDesc &n = wf.nodes[node];
  paused = false;
  switch (n.kind) {
  case NodeKind::Agent:
  case NodeKind::Judge:
    return runLlm(st, branch, node, input, nullptr, "");
  case NodeKind::Tool:
    return runTool(st, branch, node, input, paused);
  case NodeKind::Compute:
    return runCompute(st, node, input);
  case NodeKind::Verify:
    return runVerify(st, node, input);
  case NodeKind::Join:
  case NodeKind::Router:
    return input;
  case NodeKind::Human: {
    bool askModel = n.interaction == Interaction::Llm ||
                    n.interaction == Interaction::LlmOrHuman;
    if (askModel) {
      Json schema =
          n.output >= 0 ? *schemaJson[size_t(n.output)] : Json::object();
      std::string instruction;
      if (n.interaction == Interaction::LlmOrHuman) {
        schema["properties"]["needs_human_input"] = {{"type", "boolean"}};
        schema["required"].push_back("needs_human_input");
        instruction = "Set needs_human_input to true when a person must "
                      "decide instead of you.";
      }
      RunScope scope(*this, st, input);
      std::string system = renderText(n.instructions, scope);
      Expected<Json> answer =
          runLlm(st, branch, node, input, &schema,
                 system + (instruction.empty() ? "" : "\n" + instruction));
      if (!answer)
        return answer;
      if (n.interaction == Interaction::Llm ||
          !answer->value("needs_human_input", false))
        return answer;
    }
    RunScope scope(*this, st, input);
    Expected<std::optional<Json>> answers = askPerson(
        st, branch, node, input, renderText(n.instructions, scope),
        n.output >= 0 ? &wf.schemas[size_t(n.output)] : nullptr, paused);
    if (!answers)
      return answers.error();
    return answers->value_or(Json());
  }
  case NodeKind::Done:
  case NodeKind::Fail:
    return Json::object();
  }
  return Json::object();
}

Expected<std::optional<Json>>
Engine::Impl::askPerson(State &st, const std::string &branch, int node,
                        const Json &questions, const std::string &instructions,
                        const SchemaDesc *schema, bool &paused) {
  const NodeDesc &n = wf.nodes[node];
  if (!branch.empty())
    return Error(ErrorCode::Unsupported,
                 "'" + n.name +
                     "' cannot pause for a person inside a parallel branch "
                     "(iterc check reports it as C144); no resume can "
                     "change that");
  std::string id;
  {
    std::lock_guard<RunMutex> lock(st.mutex);
    id = st.record.id + "_" + n.name + "_" +
         std::to_string(st.artifactVersion[node]);
  }
  if (st.pendingInteraction == id && !st.pendingAnswers.is_null()) {
    Json answers = st.pendingAnswers;
    st.pendingAnswers = Json();
    if (schema) {
      std::vector<std::string> problems = schema->validate(answers);
      if (!problems.empty()) {
        std::string all;
        for (const std::string &p : problems)
          all += (all.empty() ? "" : "; ") + p;
        return Error(ErrorCode::InvalidInput,
                     "the answers for '" + n.name + "' are invalid: " + all);
      }
    }
    Json interaction = Json::object();
    Expected<Json> stored = deps.store->loadInteraction(st.record.id, id);
    if (stored)
      interaction = *stored;
    interaction["answers"] = answers;
    interaction["answered_at"] = deps.clock->timestamp();
    (void)deps.store->writeInteraction(st.record.id, id,
                                       st.redactor.apply(interaction));
    emit(st, branch, "human_answers_recorded", n.name,
         objectOf("interaction_id", id, "answers", answers));
    return std::optional<Json>(answers);
  }
  Json interaction;
  interaction["id"] = id;
  interaction["run_id"] = st.record.id;
  interaction["node_id"] = n.name;
  interaction["requested_at"] = deps.clock->timestamp();
  interaction["instructions"] = instructions;
  interaction["questions"] = questions;
  interaction["answers"] = nullptr;
  Status s = deps.store->writeInteraction(st.record.id, id,
                                          st.redactor.apply(interaction));
  if (!s.ok())
    return s.error();
  emit(st, branch, "human_input_requested", n.name,
       objectOf("interaction_id", id, "questions", questions));
  st.pausedInteraction = id;
  st.pausedQuestions = questions;
  paused = true;
  return std::optional<Json>();
}

//===----------------------------------------------------------------------===//
// Edges, loops and branches
//===----------------------------------------------------------------------===//

Expected<Engine::Impl::Next>
Engine::Impl::selectEdge(State &st, const std::string &branch, int node,
                         const Json &output, const Json &input) {
  const NodeDesc &n = wf.nodes[node];
  // A condition router tests its own input; everyone else their output.
  const Json &subject =
      n.kind == NodeKind::Router && n.routerMode == RouterMode::Condition
          ? input
          : output;
  RunScope scope(*this, st, subject);
  int chosen = -1, fallback = -1;
  std::string exhausted;
  int64_t exhaustedCap = 0;
  std::vector<int> unconditional;
  for (int ei : out[node]) {
    const EdgeDesc &e = wf.edges[ei];
    if (e.cond == EdgeDesc::Cond::None)
      unconditional.push_back(ei);
  }
  if (n.kind == NodeKind::Router && n.routerMode == RouterMode::RoundRobin &&
      !unconditional.empty()) {
    std::lock_guard<RunMutex> lock(st.mutex);
    chosen = unconditional[size_t(st.rrCounter[node] %
                                  int64_t(unconditional.size()))];
    ++st.rrCounter[node];
  }
  if (n.kind == NodeKind::Router && n.routerMode == RouterMode::Llm &&
      !n.multi) {
    std::string target = output.value("selected_route", std::string());
    for (int ei : out[node])
      if (wf.nodes[wf.edges[ei].to].name == target)
        chosen = ei;
    if (chosen < 0)
      return Error(ErrorCode::Provider,
                   "router '" + n.name + "' chose '" + target +
                       "', which is not one of its targets");
  }
  for (size_t k = 0; chosen < 0 && k < out[node].size(); ++k) {
    const EdgeDesc &e = wf.edges[out[node][k]];
    if (e.loop >= 0) {
      const LoopDesc &loop = wf.loops[size_t(e.loop)];
      int64_t cap = loop.cap ? *loop.cap : 0;
      if (!loop.cap) {
        Json v = renderValue(loop.capTemplate, scope);
        if (v.is_number_integer())
          cap = v.get<int64_t>();
        else if (v.is_string())
          cap = std::strtoll(v.get<std::string>().c_str(), nullptr, 10);
      }
      std::lock_guard<RunMutex> lock(st.mutex);
      if (st.loopCounter[size_t(e.loop)] >= cap) {
        if (exhausted.empty()) {
          exhausted = loop.name;
          exhaustedCap = cap;
        }
        continue;
      }
    }
    switch (e.cond) {
    case EdgeDesc::Cond::None:
      if (fallback < 0)
        fallback = out[node][k];
      continue;
    case EdgeDesc::Cond::Expr: {
      Json v = e.expr ? e.expr(scope) : Json();
      if (expr::truthy(v))
        chosen = out[node][k];
      continue;
    }
    case EdgeDesc::Cond::Field: {
      if (!subject.is_object())
        continue;
      auto it = subject.find(e.field);
      if (it == subject.end() || !it->is_boolean())
        continue;
      if (it->get<bool>() != e.negated)
        chosen = out[node][k];
      continue;
    }
    }
  }
  if (chosen < 0)
    chosen = fallback;
  // Which loop gave up, and what it was trying to fix: a verify node's
  // failures, so that the final error says what still fails.
  std::string gaveUp, lastFailures;
  if (!exhausted.empty()) {
    gaveUp = "loop '" + exhausted + "' reached its cap (" +
             std::to_string(exhaustedCap) + ") at '" + n.name + "'";
    if (n.kind == NodeKind::Verify && output.is_object())
      if (std::string last = verify::summary(output.value("failures", Json()));
          !last.empty())
        lastFailures = "; last failures: " + last;
  }
  if (chosen < 0) {
    if (!exhausted.empty())
      return Error(ErrorCode::LoopExhausted,
                   gaveUp + " and no other edge applies" + lastFailures);
    return Error(ErrorCode::NoOutgoingEdge,
                 "no edge out of '" + n.name + "' applies to its output");
  }
  const EdgeDesc &e = wf.edges[size_t(chosen)];
  Json data;
  data["from"] = n.name;
  data["to"] = wf.nodes[e.to].name;
  {
    std::lock_guard<RunMutex> lock(st.mutex);
    if (e.loop >= 0) {
      size_t L = size_t(e.loop);
      const LoopDesc &loop = wf.loops[L];
      ++st.loopCounter[L];
      st.loopPrevious[L] = output;
      data["loop"] = loop.name;
      data["iteration"] = st.loopCounter[L];
      if (loop.noProgress > 0) {
        // What the loop is trying to change: a verify node's failures,
        // otherwise the output without run metadata.
        Json watched = output;
        if (wf.nodes[node].kind == NodeKind::Verify && output.is_object())
          watched = output.value("failures", Json());
        else if (watched.is_object())
          for (auto it = watched.begin(); it != watched.end();)
            it = it.key().rfind('_', 0) == 0 ? watched.erase(it) : ++it;
        std::string signature = watched.dump();
        if (signature == st.progressSignature[L])
          ++st.progressRepeats[L];
        else
          st.progressRepeats[L] = 1;
        st.progressSignature[L] = signature;
        if (st.progressRepeats[L] >= loop.noProgress)
          return Error(
              ErrorCode::NoProgress,
              "loop '" + loop.name + "' made no progress: '" + n.name +
                  "' produced the same " +
                  (wf.nodes[node].kind == NodeKind::Verify ? "failures "
                                                           : "output ") +
                  std::to_string(st.progressRepeats[L]) + " times in a row");
      }
    } else {
      // Entering a loop from outside resets its counter.
      for (size_t L = 0; L < wf.loops.size(); ++L) {
        const LoopDesc &loop = wf.loops[L];
        bool entersIt = std::find(loop.entries.begin(), loop.entries.end(),
                                  e.to) != loop.entries.end();
        bool fromInside = std::find(loop.body.begin(), loop.body.end(),
                                    e.from) != loop.body.end();
        if (entersIt && !fromInside) {
          st.loopCounter[L] = 0;
          st.progressSignature[L].clear();
          st.progressRepeats[L] = 0;
        }
      }
    }
  }
  if (e.cond == EdgeDesc::Cond::Field)
    data["condition"] = (e.negated ? "not " : "") + e.field;
  else if (e.cond == EdgeDesc::Cond::Expr)
    data["condition"] = e.exprText;
  emit(st, branch, "edge_selected", n.name, std::move(data));
  Next next;
  next.node = e.to;
  next.afterLoop = gaveUp.empty() ? "" : gaveUp + lastFailures;
  if (e.with.empty()) {
    next.input = e.to == node ? input : Json::object();
  } else {
    RunScope mapScope(*this, st, output);
    next.input = Json::object();
    for (const auto &[key, value] : e.with)
      next.input[key] = renderValue(value, mapScope);
  }
  return next;
}

bool Engine::Impl::branchMutates(State &st, int start, int join) {
  std::vector<int> work{start};
  std::set<int> seen{start};
  while (!work.empty()) {
    int v = work.back();
    work.pop_back();
    if (v == join)
      continue;
    const NodeDesc &n = wf.nodes[size_t(v)];
    if (n.kind == NodeKind::Tool)
      return true;
    if ((n.kind == NodeKind::Agent || n.kind == NodeKind::Judge) && !n.readonly)
      for (const std::string &tool : n.tools)
        if (tool.find('*') != std::string::npos || st.tools.mutates(tool))
          return true;
    for (int ei : out[size_t(v)]) {
      int w = wf.edges[size_t(ei)].to;
      if (seen.insert(w).second)
        work.push_back(w);
    }
  }
  return false;
}

int Engine::Impl::convergenceOf(int from) const {
  // Follow the branch until a node where branches meet: one with `await`,
  // a classic join, or several distinct sources.
  std::set<int> seen;
  int cur = from;
  while (cur >= 0 && !seen.count(cur)) {
    seen.insert(cur);
    const NodeDesc &n = wf.nodes[size_t(cur)];
    if (cur != from && (n.await != AwaitMode::None ||
                        n.kind == NodeKind::Join || sources[cur].size() >= 2))
      return cur;
    if (n.isTerminal())
      return -1;
    int next = -1;
    for (int ei : out[size_t(cur)])
      if (wf.edges[size_t(ei)].loop < 0) {
        next = wf.edges[size_t(ei)].to;
        break;
      }
    cur = next;
  }
  return -1;
}

Expected<Engine::Impl::Next> Engine::Impl::fanOut(State &st, int router,
                                                  const std::vector<int> &edges,
                                                  const Json &input) {
  const NodeDesc &r = wf.nodes[size_t(router)];
  RunScope scope(*this, st, input);
  struct Branch {
    std::string id;
    int start = -1;
    Json input;
    int last = -1;
    Stop stop;
    bool failed = false;
  };
  std::vector<Branch> branches;
  int join = -1;
  for (int ei : edges) {
    const EdgeDesc &e = wf.edges[size_t(ei)];
    Branch b;
    b.id = "branch_" + r.name + "_" + wf.nodes[size_t(e.to)].name;
    b.start = e.to;
    b.input = Json::object();
    for (const auto &[key, value] : e.with)
      b.input[key] = renderValue(value, scope);
    if (e.with.empty())
      b.input = input;
    int c = convergenceOf(e.to);
    if (c >= 0 && join < 0)
      join = c;
    branches.push_back(std::move(b));
    emit(st, "", "edge_selected", r.name,
         objectOf("from", r.name, "to", wf.nodes[size_t(e.to)].name,
                  "branch_id", branches.back().id));
  }
  AwaitMode strategy =
      join >= 0 && wf.nodes[size_t(join)].await == AwaitMode::BestEffort
          ? AwaitMode::BestEffort
          : AwaitMode::WaitAll;
  // Without a limit, as many branches as cores run at once (at least 2).
  size_t limit = wf.budget.maxParallelBranches
                     ? size_t(*wf.budget.maxParallelBranches)
                     : std::max(2u, std::thread::hardware_concurrency());
  limit = std::max<size_t>(1, std::min(limit, branches.size()));
  std::vector<bool> mutating(branches.size());
  for (size_t i = 0; i < branches.size(); ++i)
    mutating[i] = branchMutates(st, branches[i].start, join);
  std::atomic<size_t> next{0};
  auto worker = [&] {
    for (size_t i = next++; i < branches.size(); i = next++) {
      Branch &b = branches[i];
      std::unique_lock<std::mutex> exclusive(st.mutatingBranch,
                                             std::defer_lock);
      if (mutating[i])
        exclusive.lock();
      emit(st, b.id, "branch_started", wf.nodes[size_t(b.start)].name,
           objectOf("mutating", bool(mutating[i])));
      b.stop = walk(st, b.id, b.start, b.input, join, &b.last);
      b.failed = b.stop.error.has_value() || b.stop.status == RunStatus::Failed;
      emit(st, b.id, "branch_finished", wf.nodes[size_t(b.start)].name,
           objectOf("ok", !b.failed));
      if (b.failed && strategy == AwaitMode::WaitAll)
        st.cancelled = true; // A failing branch cancels its siblings.
    }
  };
  std::vector<std::thread> threads;
  for (size_t t = 1; t < limit; ++t)
    threads.emplace_back(worker);
  worker();
  for (std::thread &t : threads)
    t.join();
  Json failedBranches = Json::array();
  const Branch *firstFailure = nullptr;
  for (const Branch &b : branches) {
    if (!b.failed)
      continue;
    if (!firstFailure ||
        (firstFailure->stop.error &&
         firstFailure->stop.error->code == ErrorCode::Cancelled))
      firstFailure = &b;
    failedBranches.push_back(
        {{"branch_id", b.id},
         {"error", b.stop.error ? b.stop.error->message : "reached fail"}});
  }
  if (strategy == AwaitMode::WaitAll && firstFailure) {
    st.cancelled = false;
    Error error = firstFailure->stop.error
                      ? *firstFailure->stop.error
                      : Error(ErrorCode::FailNode, "a branch reached fail");
    error.message = firstFailure->id + ": " + error.message;
    return error;
  }
  if (join < 0) {
    Next done;
    done.node = wf.doneIndex();
    return done;
  }
  // The convergence node's input: every branch's mapping into it.
  std::set<int> lastOfBranches;
  for (const Branch &b : branches)
    if (!b.failed)
      lastOfBranches.insert(b.last);
  Json merged = Json::object();
  for (size_t ei = 0; ei < wf.edges.size(); ++ei) {
    const EdgeDesc &e = wf.edges[ei];
    if (e.to != join || e.loop >= 0)
      continue;
    if (!lastOfBranches.count(e.from))
      continue;
    Json sourceOutput;
    {
      std::lock_guard<RunMutex> lock(st.mutex);
      auto it = st.outputs.find(wf.nodes[size_t(e.from)].name);
      if (it != st.outputs.end())
        sourceOutput = it->second;
    }
    RunScope mapScope(*this, st, sourceOutput);
    for (const auto &[key, value] : e.with)
      merged[key] = renderValue(value, mapScope);
    if (e.with.empty() && wf.nodes[size_t(join)].kind == NodeKind::Join)
      merged[wf.nodes[size_t(e.from)].name] = sourceOutput;
  }
  if (!failedBranches.empty())
    merged["_failed_branches"] = failedBranches;
  emit(st, "", "join_ready", wf.nodes[size_t(join)].name,
       objectOf("strategy",
                strategy == AwaitMode::BestEffort ? "best_effort" : "wait_all",
                "failed_branches", failedBranches));
  Next n;
  n.node = join;
  n.input = merged;
  return n;
}

Engine::Impl::Stop Engine::Impl::budgetStop(const Error &error,
                                            int node) const {
  Stop stop;
  stop.status = RunStatus::BudgetExceeded;
  stop.error = error;
  stop.node = wf.nodes[size_t(node)].name;
  return stop;
}

std::optional<Error> Engine::Impl::storeError(State &st) {
  if (!st.storeFailed.load())
    return std::nullopt;
  std::lock_guard<RunMutex> lock(st.mutex);
  const Error &e = *st.storeFailure;
  return Error(e.code, "the run store failed, the run stops (resume it once "
                       "the cause is fixed): " +
                           e.message);
}

Engine::Impl::Stop Engine::Impl::walk(State &st, const std::string &branch,
                                      int node, Json input, int stopAt,
                                      int *lastNode) {
  std::string afterLoop; // How the walk came here, when a loop gave up.
  for (;;) {
    if (node == stopAt) {
      Stop stop;
      stop.status = RunStatus::Running;
      return stop;
    }
    const NodeDesc &n = wf.nodes[size_t(node)];
    if (lastNode && !n.isTerminal())
      *lastNode = node;
    if (st.cancelled && !branch.empty()) {
      Stop stop;
      stop.status = RunStatus::Cancelled;
      stop.error = Error(ErrorCode::Cancelled, "cancelled: a sibling failed");
      stop.node = n.name;
      return stop;
    }
    if (std::optional<Error> failed = storeError(st)) {
      Stop stop;
      stop.status = RunStatus::FailedResumable;
      stop.error = std::move(failed);
      stop.node = n.name;
      return stop;
    }
    if (deps.interrupt && deps.interrupt->load()) {
      Stop stop;
      stop.status = RunStatus::Cancelled;
      stop.error = Error(ErrorCode::Cancelled,
                         "interrupted before '" + n.name + "' started");
      stop.node = n.name;
      return stop;
    }
    if (n.kind == NodeKind::Done || n.kind == NodeKind::Fail) {
      emit(st, branch, "node_started", n.name,
           objectOf("kind", nodeKindName(n.kind)));
      emit(st, branch, "node_finished", n.name,
           objectOf("output", Json::object()));
      Stop stop;
      stop.status =
          n.kind == NodeKind::Done ? RunStatus::Finished : RunStatus::Failed;
      if (n.kind == NodeKind::Fail)
        stop.error =
            Error(ErrorCode::FailNode,
                  "the workflow reached 'fail'" +
                      (afterLoop.empty() ? "" : " after " + afterLoop));
      stop.node = n.name;
      return stop;
    }

    bool fansOut = n.kind == NodeKind::Router &&
                   (n.routerMode == RouterMode::FanOutAll ||
                    (n.routerMode == RouterMode::Llm && n.multi));
    std::optional<Json> output = recordedOutput(st, branch, node);
    bool replayed = output.has_value();
    if (!replayed) {
      int64_t iteration;
      {
        std::lock_guard<RunMutex> lock(st.mutex);
        iteration = st.artifactVersion[size_t(node)];
      }
      emit(st, branch, "node_started", n.name,
           objectOf("kind", nodeKindName(n.kind), "iteration", iteration));
      bool counted = n.kind == NodeKind::Agent || n.kind == NodeKind::Judge ||
                     n.kind == NodeKind::Tool || n.kind == NodeKind::Verify ||
                     (n.kind == NodeKind::Router &&
                      (n.routerMode == RouterMode::Condition ||
                       n.routerMode == RouterMode::Llm));
      if (counted) {
        Status ok = st.budget->beforeAction();
        emitBudgetNotices(st, branch, n.name);
        if (!ok.ok())
          return budgetStop(ok.error(), node);
      }
      Expected<Json> result = Json::object();
      bool paused = false;
      if (n.kind == NodeKind::Router && n.routerMode == RouterMode::Llm) {
        Json targets = Json::array();
        for (int ei : out[size_t(node)])
          targets.push_back(wf.nodes[size_t(wf.edges[size_t(ei)].to)].name);
        Json schema;
        schema["type"] = "object";
        if (n.multi) {
          schema["properties"]["selected_routes"] = {
              {"type", "array"},
              {"items", {{"type", "string"}, {"enum", targets}}}};
          schema["required"] = Json::array({"selected_routes", "reasoning"});
        } else {
          schema["properties"]["selected_route"] = {{"type", "string"},
                                                    {"enum", targets}};
          schema["required"] = Json::array({"selected_route", "reasoning"});
        }
        schema["properties"]["reasoning"] = {{"type", "string"}};
        result =
            runLlm(st, branch, node, input, &schema,
                   "Choose the route(s) to take next among: " + targets.dump());
      } else {
        result = execute(st, branch, node, input, paused);
      }
      // An execution counts once it has happened (its LLM calls saw the
      // budget before it was counted).
      if (counted)
        st.budget->recordIteration();
      if (paused) {
        Stop stop;
        stop.status = RunStatus::PausedWaitingHuman;
        stop.node = n.name;
        return stop;
      }
      if (!result) {
        Stop stop;
        stop.error = result.error();
        stop.node = n.name;
        switch (result.error().code) {
        case ErrorCode::Budget:
          stop.status = RunStatus::BudgetExceeded;
          break;
        case ErrorCode::Cancelled:
          stop.status = RunStatus::Cancelled;
          break;
        case ErrorCode::WorkspaceEscape:
        case ErrorCode::Unsupported:
          stop.status = RunStatus::Failed;
          break;
        default:
          stop.status = RunStatus::FailedResumable;
        }
        return stop;
      }
      output = *result;
    } else if (output->is_object()) {
      // Replayed (its model calls' cost is in the budget since resume()).
      (void)st.budget->takeNotices(); // Already in the log.
      if (n.kind != NodeKind::Compute && n.kind != NodeKind::Join &&
          !(n.kind == NodeKind::Router &&
            (n.routerMode == RouterMode::FanOutAll ||
             n.routerMode == RouterMode::RoundRobin)))
        st.budget->recordIteration();
    }
    Status recorded = recordOutput(st, branch, node, *output, replayed);
    if (!recorded.ok()) {
      Stop stop;
      stop.status = recorded.error().code == ErrorCode::WorkspaceEscape
                        ? RunStatus::Failed
                        : RunStatus::FailedResumable;
      stop.error = recorded.error();
      stop.node = n.name;
      return stop;
    }

    Expected<Next> next = Error(ErrorCode::Internal, "unreachable");
    if (fansOut) {
      std::vector<int> edges = out[size_t(node)];
      if (n.routerMode == RouterMode::Llm) {
        Json chosen = output->value("selected_routes", Json::array());
        std::vector<int> picked;
        for (int ei : edges)
          for (const Json &c : chosen)
            if (c.is_string() &&
                c.get<std::string>() ==
                    wf.nodes[size_t(wf.edges[size_t(ei)].to)].name)
              picked.push_back(ei);
        edges = picked;
      }
      if (edges.empty())
        next = Error(ErrorCode::NoOutgoingEdge,
                     "router '" + n.name + "' selected no branch");
      else
        next = fanOut(st, node, edges, *output);
    } else {
      next = selectEdge(st, branch, node, *output, input);
    }
    if (!next) {
      Stop stop;
      stop.error = next.error();
      stop.node = n.name;
      switch (next.error().code) {
      case ErrorCode::LoopExhausted:
        stop.status = RunStatus::LoopExhausted;
        break;
      case ErrorCode::NoProgress:
        stop.status = RunStatus::NoProgress;
        break;
      case ErrorCode::Budget:
        stop.status = RunStatus::BudgetExceeded;
        break;
      case ErrorCode::FailNode:
      case ErrorCode::Unsupported:
        stop.status = RunStatus::Failed;
        break;
      default:
        stop.status = RunStatus::FailedResumable;
      }
      return stop;
    }
    node = next->node;
    input = next->input;
    afterLoop = next->afterLoop;
  }
}

//===----------------------------------------------------------------------===//
// Runs
//===----------------------------------------------------------------------===//

void Engine::Impl::finishRun(State &st, const Stop &given, RunResult &result) {
  // A run whose log misses a step cannot have finished (nor failed for
  // good): it stops resumable with the store's error.
  Stop stop = given;
  auto stopForStore = [&] {
    std::optional<Error> failed = storeError(st);
    if (!failed || (stop.status == RunStatus::FailedResumable && stop.error &&
                    stop.error->code == ErrorCode::Store))
      return false;
    stop.status = RunStatus::FailedResumable;
    stop.error = std::move(failed);
    return true;
  };
  stopForStore();
  result.status = stop.status;
  result.runId = st.record.id;
  result.error = stop.error;
  result.node = stop.node;
  result.usage = st.budget->usage();
  {
    std::lock_guard<RunMutex> lock(st.mutex);
    result.outputs = outputsByName(st.outputs);
  }
  st.record.status = stop.status;
  st.record.updatedAt = deps.clock->timestamp();
  if (stop.status == RunStatus::PausedWaitingHuman) {
    result.interactionId = st.pausedInteraction;
    result.questions = st.pausedQuestions;
    st.record.extra["pending_interaction"] = st.pausedInteraction;
    st.record.extra["pending_node"] = stop.node;
    emit(st, "", "run_paused", stop.node,
         objectOf("interaction_id", st.pausedInteraction));
  } else {
    st.record.extra.erase("pending_interaction");
    st.record.extra.erase("pending_node");
  }
  if (stop.status == RunStatus::Finished) {
    st.record.finishedAt = st.record.updatedAt;
    st.record.error = nullptr;
    emit(st, "", "run_finished", "",
         objectOf("status", runStatusName(stop.status)));
  }
  // The last event may be the one that did not fit.
  if (stopForStore()) {
    result.status = stop.status;
    result.error = stop.error;
    st.record.status = stop.status;
    st.record.finishedAt.clear();
  }
  if (stop.status != RunStatus::Finished &&
      stop.status != RunStatus::PausedWaitingHuman) {
    Json error;
    error["code"] = stop.error ? errorCodeName(stop.error->code)
                               : errorCodeName(ErrorCode::Internal);
    error["message"] = stop.error ? st.redactor.apply(stop.error->message)
                                  : std::string("stopped");
    error["node"] = stop.node;
    st.record.error = error;
    emit(st, "", "run_failed", stop.node,
         objectOf("status", runStatusName(stop.status), "error",
                  error["message"], "code", error["code"], "resumable",
                  stop.status != RunStatus::Failed));
  }
  BudgetUsage usage = result.usage;
  st.record.extra["usage"] = {{"tokens", usage.tokens},
                              {"cost_usd", usage.costUsd},
                              {"iterations", usage.iterations}};
  Status saved = deps.store->updateRun(st.record);
  if (!saved.ok() && stop.status != RunStatus::FailedResumable) {
    // run.json still says what it said before (e.g. running): a resume
    // continues from the log, and this run reports no success.
    result.status = RunStatus::FailedResumable;
    result.error = Error(saved.error().code,
                         "the run store failed, the run stops (resume it once "
                         "the cause is fixed): " +
                             saved.error().message);
  }
}

RunResult Engine::Impl::start(State &st, bool resuming) {
  st.artifactVersion.assign(wf.nodes.size(), 0);
  st.loopCounter.assign(wf.loops.size(), 0);
  st.loopPrevious.assign(wf.loops.size(), Json());
  st.rrCounter.assign(wf.nodes.size(), 0);
  st.progressSignature.assign(wf.loops.size(), std::string());
  st.progressRepeats.assign(wf.loops.size(), 0);
  for (const std::string &secret : runSecrets(wf, st.vars))
    st.redactor.add(secret);

  if (deps.tools) {
    // The run's deadline and an interrupt stop a command a model runs too.
    st.builtinTools =
        makeBuiltinToolbox(st.workspace, *deps.tools, 120000,
                           abandonFor(st, false));
    st.tools.add(st.builtinTools.get());
  }
  if (deps.toolbox)
    st.tools.add(deps.toolbox);

  RunResult result;
  Json publicVars = Json::object();
  for (const VarDesc &v : wf.vars)
    if (st.vars.contains(v.name))
      publicVars[v.name] = v.secret ? Json("[redacted]") : st.vars[v.name];
  if (!resuming)
    emit(st, "", "run_started", "",
         objectOf("workflow", wf.name, "workflow_hash", wf.sourceSha256,
                  "iterc_version", wf.itercVersion, "vars", publicVars));
  else
    emit(st, "", "run_resumed", "",
         objectOf("interaction_id", st.pendingInteraction));

  Status prices = checkPrices();
  if (!prices.ok()) {
    Stop stop;
    stop.status = RunStatus::Failed;
    stop.error = prices.error();
    finishRun(st, stop, result);
    return result;
  }
  if (std::optional<Stop> failed = bringUp(st)) {
    finishRun(st, *failed, result);
    return result;
  }
  Json entryInput = st.vars;
  Stop stop;
  try {
    stop = walk(st, "", wf.entry, entryInput, -1, nullptr);
  } catch (...) {
    tearDown(st);
    throw;
  }
  tearDown(st);
  finishRun(st, stop, result);
  return result;
}

std::optional<Engine::Impl::Stop> Engine::Impl::bringUp(State &st) {
  if (wf.stack.empty() || !deps.stack)
    return std::nullopt;
  auto fail = [&](const Error &error) {
    emit(st, "", "stack_failed", "",
         objectOf("error", st.redactor.apply(error.message)));
    Stop stop;
    stop.status = RunStatus::FailedResumable;
    stop.error = error;
    return stop;
  };
  Expected<std::vector<const ServiceDesc *>> order =
      startOrder(wf.services, wf.stack);
  if (!order)
    return fail(order.error());
  Json names = Json::array();
  for (const ServiceDesc *s : *order)
    names.push_back(s->name);
  emit(st, "", "stack_starting", "", objectOf("services", names));
  Expected<std::unique_ptr<StackRuntime>> runtime = deps.stack(st.record.id);
  if (!runtime)
    return fail(runtime.error());
  Status up = (*runtime)->up(*order);
  if (!up.ok())
    return fail(up.error());
  st.stack = std::move(*runtime);
  emit(st, "", "stack_ready", "",
       objectOf("services", endpointsJson(*st.stack, *order)));
  return std::nullopt;
}

Status Engine::Impl::restartServices(State &st, const std::string &branch,
                                     const NodeDesc &n) {
  std::lock_guard<std::mutex> lock(st.stackMutex);
  std::vector<const ServiceDesc *> services;
  for (const std::string &name : n.restart) {
    auto it =
        std::find_if(wf.services.begin(), wf.services.end(),
                     [&](const ServiceDesc &s) { return s.name == name; });
    if (it == wf.services.end())
      return Error(ErrorCode::InvalidInput,
                   "tool '" + n.name + "' restarts the unknown service '" +
                       name + "'");
    services.push_back(&*it);
  }
  if (!st.stack) {
    if (!deps.stack)
      return Error(ErrorCode::Tool, "tool '" + n.name +
                                        "' restarts services, but no stack "
                                        "runtime is configured (--stack off)");
    Expected<std::unique_ptr<StackRuntime>> runtime = deps.stack(st.record.id);
    if (!runtime)
      return runtime.error();
    st.stack = std::move(*runtime);
  }
  Status restarted = st.stack->restart(services);
  Json names = Json::array();
  for (const ServiceDesc *s : services)
    names.push_back(s->name);
  if (!restarted.ok()) {
    emit(st, branch, "service_restart_failed", n.name,
         objectOf("services", names, "error",
                  st.redactor.apply(restarted.error().message)));
    return restarted;
  }
  for (const ServiceDesc *s : services)
    st.endedServices.erase(s->name);
  emit(st, branch, "services_restarted", n.name,
       objectOf("services", endpointsJson(*st.stack, services)));
  return Status::success();
}

std::optional<Error> Engine::Impl::watchServices(State &st, const NodeDesc *n,
                                                 const Json &assertions) {
  std::lock_guard<std::mutex> lock(st.stackMutex);
  if (!st.stack)
    return std::nullopt;
  for (ServiceExit &e : st.stack->ended()) {
    emit(st, "", "service_exited", "", serviceExitJson(e));
    // Not while the stack goes down (n is null then).
    if (!n || !restartByPolicy(st, e))
      st.endedServices[e.service] = std::move(e);
  }
  if (n)
    for (const std::string &name : servicesReached(*n, assertions))
      if (auto it = st.endedServices.find(name); it != st.endedServices.end())
        return serviceEndedError(n->name, it->second);
  return std::nullopt;
}

bool Engine::Impl::restartByPolicy(State &st, ServiceExit &exit) {
  auto it = std::find_if(wf.services.begin(), wf.services.end(),
                         [&](const ServiceDesc &s) {
                           return s.name == exit.service;
                         });
  if (it == wf.services.end() || it->restart.empty() ||
      (it->restart == "on-failure" && exit.clean))
    return false;
  int64_t &count = st.policyRestarts[exit.service];
  if (count >= it->maxRestarts) {
    exit.how += " (restart: " + it->restart + " gave up after " +
                std::to_string(count) + " restarts)";
    return false;
  }
  ++count;
  Status restarted = st.stack->restart({&*it});
  if (!restarted.ok()) {
    std::string why = st.redactor.apply(restarted.error().message);
    emit(st, "", "service_restart_failed", "",
         objectOf("services", Json::array({exit.service}), "error", why));
    exit.how += "; starting it again failed: " + why;
    return false;
  }
  emit(st, "", "services_restarted", "",
       objectOf("services", endpointsJson(*st.stack, {&*it}), "restarts",
                count, "policy", it->restart));
  return true;
}

void Engine::Impl::tearDown(State &st) {
  if (!st.stack)
    return;
  watchServices(st, nullptr, Json());
  st.stack->down();
  st.stack.reset();
  emit(st, "", "stack_stopped", "", Json::object());
}

RunResult Engine::Impl::run(const RunOptions &options) {
  State st;
  st.workspace = options.workspace;
  RunResult result;
  Expected<Json> vars = resolveVars(options);
  result.runId = options.runId;
  if (!vars) {
    result.status = RunStatus::Failed;
    result.error = vars.error();
    return result;
  }
  st.vars = *vars;
  BudgetDesc limits =
      options.budgetOverride ? *options.budgetOverride : wf.budget;
  st.budget = std::make_unique<Budget>(limits, *deps.clock);
  st.record.id = options.runId.empty() ? newRunId(*deps.clock) : options.runId;
  st.record.workflowName = wf.name;
  st.record.workflowHash = wf.sourceSha256;
  st.record.status = RunStatus::Running;
  st.record.createdAt = deps.clock->timestamp();
  st.record.updatedAt = st.record.createdAt;
  Json inputs = Json::object();
  for (const auto &[name, value] : options.vars) {
    bool secret = false;
    for (const VarDesc &v : wf.vars)
      secret = secret || (v.name == name && v.secret);
    inputs[name] = secret ? Json("[redacted]") : value;
  }
  st.record.inputs = inputs;
  st.record.extra["workspace"] = options.workspace;
  if (!options.preset.empty())
    st.record.extra["preset"] = options.preset;
  Status created = deps.store->createRun(st.record);
  if (!created.ok()) {
    result.runId = st.record.id;
    result.status = RunStatus::Failed;
    result.error = created.error();
    return result;
  }
  return start(st, false);
}

RunResult Engine::Impl::resume(const std::string &runId, const Json &answers,
                               const RunOptions &options) {
  RunResult result;
  result.runId = runId;
  auto fail = [&](Error e) {
    result.status = RunStatus::Failed;
    result.error = std::move(e);
    return result;
  };
  Expected<RunRecord> record = deps.store->loadRun(runId);
  if (!record)
    return fail(record.error());
  if (record->workflowHash != wf.sourceSha256)
    return fail(Error(ErrorCode::InvalidInput,
                      "run '" + runId +
                          "' was started by a different version of this "
                          "workflow; it cannot be resumed by this one"));
  Expected<std::vector<Event>> events = deps.store->loadEvents(runId);
  if (!events)
    return fail(events.error());
  // A run_finished last in the log with run.json not saying so: the store
  // failed after the run's last event. The run is done; run.json catches up.
  bool finishedInLog =
      !events->empty() && events->back().type == "run_finished";
  if (finishedInLog && record->status != RunStatus::Finished) {
    RunRecord done = *record;
    done.status = RunStatus::Finished;
    done.error = nullptr;
    done.updatedAt = deps.clock->timestamp();
    done.finishedAt = events->back().timestamp;
    if (Status saved = deps.store->updateRun(done); !saved.ok()) {
      result.status = RunStatus::FailedResumable;
      result.error = saved.error();
      return result;
    }
    record->status = RunStatus::Finished;
  }
  if (record->status == RunStatus::Finished) {
    // Nothing left to do: report the run as it ended.
    const std::vector<Event> *done = &*events;
    // The latest output of every node, in name order as a finished run
    // reports them.
    std::map<std::string, const Json *> latest;
    NodeIndex nodes(wf);
    for (const Event &e : *done) {
      if (e.type != "node_finished" || !e.data.contains("output"))
        continue;
      int index = nodes.find(e.nodeId);
      if (index >= 0 && !wf.nodes[size_t(index)].isTerminal())
        latest[e.nodeId] = &e.data["output"];
    }
    result.outputs = outputsByName(latest);
    result.status = RunStatus::Finished;
    return result;
  }
  if (record->status == RunStatus::Failed)
    return fail(Error(ErrorCode::InvalidInput,
                      "run '" + runId + "' failed for good (" +
                          record->error.value("message", std::string()) +
                          "); start a new run"));

  State st;
  st.record = *record;
  st.workspace = options.workspace.empty() || options.workspace == "."
                     ? record->extra.value("workspace", std::string("."))
                     : options.workspace;
  RunOptions effective = options;
  for (auto it = record->inputs.begin(); it != record->inputs.end(); ++it)
    if (!effective.vars.count(it.key()) && it.value() != "[redacted]")
      effective.vars[it.key()] = it.value();
  if (effective.preset.empty())
    effective.preset = record->extra.value("preset", std::string());
  Expected<Json> vars = resolveVars(effective);
  if (!vars)
    return fail(vars.error());
  st.vars = *vars;
  BudgetDesc limits =
      options.budgetOverride ? *options.budgetOverride : wf.budget;
  st.budget = std::make_unique<Budget>(limits, *deps.clock);
  for (const Event &e : *events) {
    if (isRunLevel(e.type))
      continue;
    if (e.type == "session_saved" && e.data.contains("session_id"))
      st.sessions[e.data["session_id"].get<std::string>()] =
          messagesFromJson(e.data.value("messages", Json::array()));
    st.recorded[e.branchId].push_back(e);
  }
  st.calls.load(*events);
  // The budget starts from what the run spent: every call in its log,
  // once, whether it is replayed, asked again or never reached.
  if (st.calls.spent().tokens != 0 || st.calls.spent().costUsd != 0) {
    st.budget->recordLlm(st.calls.spent().tokens, st.calls.spent().costUsd);
    (void)st.budget->takeNotices(); // Already in the log.
  }
  if (record->status == RunStatus::PausedWaitingHuman) {
    if (answers.is_null() || (answers.is_object() && answers.empty()))
      return fail(Error(ErrorCode::InvalidInput,
                        "run '" + runId + "' is waiting for answers to '" +
                            record->extra.value("pending_node", std::string()) +
                            "'; give them with --answer or --answers-file"));
    st.pendingInteraction =
        record->extra.value("pending_interaction", std::string());
    st.pendingAnswers = answers;
    // The pause's own node_started is in the log; the gate re-runs live
    // with the answers, so drop it from what replay expects.
    std::deque<Event> &main = st.recorded[""];
    for (auto it = main.rbegin(); it != main.rend(); ++it)
      if (it->type == "human_input_requested") {
        auto fwd = std::next(it).base();
        main.erase(fwd, main.end());
        break;
      }
  }
  st.record.status = RunStatus::Running;
  st.record.error = nullptr;
  if (Status saved = deps.store->updateRun(st.record); !saved.ok()) {
    // Nothing ran: the run stays as it was, to be resumed again.
    result.status = RunStatus::FailedResumable;
    result.error = saved.error();
    return result;
  }
  return start(st, true);
}

std::string iterc::rt::newRunId(Clock &clock) {
  static std::atomic<uint64_t> counter{0};
  std::random_device rd;
  uint64_t r = (uint64_t(rd()) << 32) ^ rd() ^ counter++;
  std::string ts = clock.timestamp();
  std::string compact;
  for (char c : ts)
    if (std::isdigit(static_cast<unsigned char>(c)))
      compact.push_back(c);
  static const char hex[] = "0123456789abcdef";
  std::string suffix;
  for (int i = 0; i < 6; ++i, r >>= 4)
    suffix.push_back(hex[r & 15]);
  return "run_" + compact.substr(0, 14) + "_" + suffix;
}

Engine::Engine(const WorkflowDesc &workflow, EngineDeps deps)
    : impl(std::make_unique<Impl>(workflow, std::move(deps))) {}
Engine::~Engine() = default;

RunResult Engine::run(const RunOptions &options) { return impl->run(options); }

RunResult Engine::resume(const std::string &runId, const Json &answers,
                         const RunOptions &options) {
  return impl->resume(runId, answers, options);
}
