//===- Workflow.h - The static description of a workflow --------*- C++ -*-===//
//
// This file declares the tables a compiled workflow hands to the engine:
// schemas, nodes, edges, loops, variables, budget. Generated code builds one
// WorkflowDesc from constants; tests build them by hand. Templates arrive
// already split into literal parts and typed references, and expressions
// arrive as compiled functions: nothing is parsed at run time.
//
//===----------------------------------------------------------------------===//
#ifndef ITERC_RT_WORKFLOW_H
#define ITERC_RT_WORKFLOW_H

#include "iterc/rt/Core.h"
#include "iterc/rt/Enums.h"
#include "iterc/rt/Http.h"
#include "iterc/rt/Stack.h"

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace iterc::rt {

/// "string", "bool", "int", "float", "json", "string[]" or "files".
const char *fieldTypeName(FieldType type);
/// "null", "bool", "int", "float", "string", "array" or "object".
const char *jsonTypeName(const Json &value);
/// A value of the field type (an int may be written as an integral float).
bool fieldValueMatches(FieldType type, const Json &value);

struct FieldDesc {
  std::string name;
  FieldType type = FieldType::String;
  std::vector<std::string> enumValues;
};

struct SchemaDesc {
  std::string name;
  std::vector<FieldDesc> fields;

  /// The JSON Schema handed to providers for structured output.
  Json jsonSchema() const;
  /// Field-level problems of `value` ("field 'score': expected int, got
  /// string"); empty when valid. Fields starting with '_' are ignored.
  std::vector<std::string> validate(const Json &value) const;

  /// Generated code's own validator; when set, validate() uses it.
  std::function<std::vector<std::string>(const Json &)> validator;
};

struct TemplateRef {
  RefNs ns = RefNs::Vars;
  std::vector<std::string> path;
  bool raw = false; ///< `{{!x}}`: not shell-quoted in tool commands.
};

struct TemplatePart {
  std::string literal;
  std::optional<TemplateRef> ref;
};

/// A pre-split template. Empty means "not set".
struct Template {
  std::vector<TemplatePart> parts;
  bool empty() const { return parts.empty(); }
  /// One reference and nothing else: renders to the referenced value itself
  /// (typed), not to text.
  bool isSingleRef() const { return parts.size() == 1 && parts[0].ref; }
};

class Scope;
/// A compiled expression (`when "..."`, compute, verify checks).
using ExprFn = std::function<Json(const Scope &)>;

/// A part of a check worth showing when the check fails: a path or a call
/// (`outputs.build.exit_code`, `length(failed)`) and its compiled value.
struct OperandDesc {
  std::string text; ///< Canonical expression text.
  ExprFn fn;
};

struct CheckDesc {
  std::string name;
  std::string source; ///< As written, for failure reports.
  ExprFn fn;
  /// What a failure reports besides the source: `actual` lists each
  /// operand with its value ("outputs.build.exit_code = 1").
  std::vector<OperandDesc> operands = {};
};

struct HttpCheckDesc {
  std::string name;
  std::string service; ///< Probe this service by name, or...
  Template url;        ///< ...this absolute URL.
  std::string method = "GET";
  Template path;
  Template body;
  std::vector<std::pair<std::string, Template>> headers;
  int64_t expectStatus = 200;
  std::optional<std::string> expectBodyContains;
  /// Check name -> expression over the parsed response body (its fields
  /// are the expression's `input`; other namespaces read the run).
  std::vector<std::pair<std::string, CheckDesc>> expectJson;
  int64_t timeoutMs = 10000;
};

struct NodeDesc {
  NodeKind kind = NodeKind::Agent;
  std::string name;

  std::string model; ///< May hold ${ENV} references.
  int input = -1;    ///< Schema index or -1.
  int output = -1;
  Template system;
  Template user;
  std::string publish;
  SessionMode session = SessionMode::Fresh;
  std::vector<std::string> tools;
  int64_t toolMaxSteps = 0;
  std::string reasoningEffort;
  bool readonly = false;
  std::optional<int64_t> maxTokens;
  /// `request_timeout`: deadlines of each attempt of the node's model calls
  /// in ms; 0: the run's default.
  int64_t requestConnectMs = 0;
  int64_t requestFirstByteMs = 0;
  int64_t requestTotalMs = 0;
  AwaitMode await = AwaitMode::None;
  std::vector<std::string> mcpServers;
  std::string writeFiles; ///< Output field of type files.

  RouterMode routerMode = RouterMode::FanOutAll;
  bool multi = false;

  Interaction interaction = Interaction::Human;
  Template instructions;
  std::string interactionModel;

  Template command;     ///< Tool: shell command (or script body).
  std::string language; ///< Tool script interpreter, "" = sh.
  bool isScript = false;
  std::optional<int64_t> timeoutMs;
  /// Tool: `max_output`, bytes kept of each of stdout and stderr; 0: the
  /// runner's default (1 MiB).
  size_t maxOutputBytes = 0;
  std::string workdir;
  std::vector<std::pair<std::string, Template>> env;
  std::vector<std::string> inheritEnv;
  bool capture = false;
  bool approval = false;
  /// Tool: services (re)started, and waited for until healthy, after the
  /// command succeeds (it rebuilt them).
  std::vector<std::string> restart;

  std::vector<CheckDesc> exprs;  ///< Compute: output field -> expr.
  std::vector<CheckDesc> checks; ///< Verify.
  std::vector<HttpCheckDesc> httpChecks;
  /// Verify: assertions produced at run time (a list, see Assertions.h).
  Template assertions;
  std::vector<std::string> require; ///< Classic join.

  bool isTerminal() const {
    return kind == NodeKind::Done || kind == NodeKind::Fail;
  }
};

struct EdgeDesc {
  int from = 0;
  int to = 0;
  enum class Cond { None, Field, Expr } cond = Cond::None;
  std::string field;
  bool negated = false;
  std::string exprText;
  ExprFn expr;
  int loop = -1;
  std::vector<std::pair<std::string, Template>> with;
};

struct LoopDesc {
  std::string name;
  std::optional<int64_t> cap;
  Template capTemplate;
  std::vector<int> body;
  std::vector<int> entries;
  int64_t noProgress = 0;
};

struct VarDesc {
  std::string name;
  FieldType type = FieldType::String;
  std::optional<Json> defaultValue; ///< May hold ${ENV} references.
  std::vector<std::string> enumValues;
  bool secret = false;
};

struct PresetDesc {
  std::string name;
  std::vector<std::pair<std::string, Json>> values;
};

struct BudgetDesc {
  std::optional<int64_t> maxParallelBranches;
  std::optional<int64_t> maxTokens;
  std::optional<int64_t> maxIterations;
  std::optional<double> maxCostUsd;
  std::optional<int64_t> maxDurationMs;
};

/// An `mcp_server` declaration.
struct McpServerDesc {
  std::string name;
  std::string transport; ///< stdio | http | sse
  std::string command;
  std::vector<std::string> args;
  std::string url;
};

/// An entry of `request_timeouts:`: deadlines of a model's requests (ms;
/// 0: unset) for nodes without a `request_timeout` of their own.
struct ModelTimeoutsDesc {
  std::string model; ///< "provider/model" or "provider/*".
  int64_t connectMs = 0;
  int64_t firstByteMs = 0;
  int64_t totalMs = 0;
};

struct WorkflowDesc {
  std::string name;
  std::string sourceSha256;
  std::string itercVersion;
  std::vector<SchemaDesc> schemas;
  std::vector<NodeDesc> nodes; ///< Declared nodes, then done, then fail.
  std::vector<EdgeDesc> edges; ///< Declaration order.
  std::vector<LoopDesc> loops;
  std::vector<VarDesc> vars;
  std::vector<PresetDesc> presets;
  std::vector<McpServerDesc> mcpServers;
  std::vector<ServiceDesc> services; ///< Every `service` declaration.
  std::vector<std::string> stack;    ///< The workflow's `services: [..]`.
  std::vector<ModelTimeoutsDesc> modelTimeouts; ///< Source order.
  BudgetDesc budget;
  int entry = 0;

  int doneIndex() const { return int(nodes.size()) - 2; }
  int failIndex() const { return int(nodes.size()) - 1; }
  /// A node's index by name, or -1: a linear search (see NodeIndex for
  /// lookups per event).
  int findNode(std::string_view name) const;
  /// Outgoing edge indices per node, in declaration order (computed).
  std::vector<std::vector<int>> outgoing() const;
  /// The deadlines of a node's requests to "provider/model", each field
  /// from the first that sets it: the node's `request_timeout`, the
  /// workflow's entry for the model, its entry for "provider/*". 0 where
  /// none does (the run's default applies).
  RequestTimeouts requestTimeouts(const NodeDesc &node,
                                  const std::string &provider,
                                  const std::string &model) const;
};

/// Node indices by name, in constant time: for code that looks a node up
/// for every event of a run. `wf` must outlive it.
class NodeIndex {
public:
  explicit NodeIndex(const WorkflowDesc &wf);
  /// The node's index, or -1.
  int find(std::string_view name) const;

private:
  std::unordered_map<std::string_view, int> byName;
};

/// Expands ${NAME} and ${NAME:-default} (defaults may nest) from the
/// environment; an unset or empty NAME without a default expands to "".
std::string expandEnv(const std::string &text);

/// The answers a tool with `approval: required` waits for: {approved: bool}.
const SchemaDesc &approvalSchema();
/// The schema of the answers `node` pauses for: a human gate's output
/// schema, approvalSchema() for a tool needing approval; null otherwise.
const SchemaDesc *answerSchema(const WorkflowDesc &wf, const NodeDesc &node);

/// Whether `node` calls a model: agents, judges, LLM routers, and human
/// gates that an LLM may answer.
bool callsModel(const NodeDesc &node);

/// Appends `done` and `fail` to a hand-built table (tests use this).
void addTerminals(WorkflowDesc &wf);

} // namespace iterc::rt

#endif // ITERC_RT_WORKFLOW_H
