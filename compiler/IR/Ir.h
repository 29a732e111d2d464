//===- Ir.h - Checked intermediate representation ---------------*- C++ -*-===//
//
// This file declares the IR that semantic analysis produces from the AST:
// every reference resolved to the declaration it names, every schema field
// typed, every template split into literal text and typed references, every
// expression parsed, and the graph facts computed (loops with their bodies
// and entries, convergence points, reachability). Code generation and the
// tools on top of the front end (graph, explain, ...) read only this.
//
// The IR is flat and in source order: vectors indexed by small integers, no
// pointers into the AST, nothing hashed that reaches output.
//
//===----------------------------------------------------------------------===//
#ifndef ITERC_IR_IR_H
#define ITERC_IR_IR_H

#include "Basic/SourceManager.h"
#include "IR/Expr.h"
#include "IR/Template.h"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace iterc::ir {

enum class TypeKind { String, Bool, Int, Float, Json, StringList, Files };
const char *typeName(TypeKind type);

struct Field {
  std::string name;
  TypeKind type = TypeKind::String;
  std::vector<std::string> enumValues;
  SourceRange range;
};

struct Schema {
  std::string name;
  std::vector<Field> fields;
  SourceRange range;
  const Field *find(std::string_view field) const;
};

struct Prompt {
  std::string name;
  Template body;
  SourceRange range;
};

struct Var {
  std::string name;
  TypeKind type = TypeKind::String;
  std::vector<std::string> enumValues;
  bool hasDefault = false;
  nlohmann::ordered_json defaultValue;
  bool secret = false;
  SourceRange range;
};

struct Preset {
  std::string name;
  std::vector<std::pair<std::string, nlohmann::ordered_json>> values;
  SourceRange range;
};

enum class NodeKind {
  Agent, Judge, Router, Join, Human, Tool, Compute, Verify, Done, Fail
};
const char *nodeKindName(NodeKind kind);

enum class RouterMode { FanOutAll, Condition, RoundRobin, Llm };
enum class AwaitMode { None, WaitAll, BestEffort };
enum class Interaction { None, Human, Llm, LlmOrHuman };
enum class SessionMode { Fresh, Inherit, Fork, ArtifactsOnly, InheritIfAvailable };
const char *routerModeName(RouterMode mode);
const char *awaitModeName(AwaitMode mode);
const char *interactionName(Interaction mode);
const char *sessionModeName(SessionMode mode);

/// A named boolean check of a verify node.
struct Check {
  std::string name;
  std::string source;  ///< The expression as written.
  ExprPtr expr;
  SourceRange range;
};

/// An HTTP probe of a verify node.
struct HttpCheck {
  std::string name;
  std::string service;   ///< Target service, or empty when `url` is set.
  Template url;          ///< Absolute URL (when no service).
  std::string method = "GET";
  Template path;
  Template body;
  std::vector<std::pair<std::string, Template>> headers;
  int64_t expectStatus = 200;
  std::optional<std::string> expectBodyContains;
  /// `expect_json:` entries: a check name and an expression over the parsed
  /// body (bare names are its fields) that must be true.
  std::vector<std::pair<std::string, Check>> expectJson;
  int64_t timeoutMs = 10000;
  SourceRange range;
};

struct Node {
  NodeKind kind = NodeKind::Agent;
  std::string name;
  unsigned index = 0;
  SourceRange range;
  SourceRange nameRange;

  // Agents, judges, LLM routers and LLM-backed humans.
  std::string model;           ///< May contain ${ENV} references.
  int input = -1;              ///< Schema index, or -1.
  int output = -1;             ///< Schema index, or -1.
  int system = -1;             ///< Prompt index, or -1.
  int user = -1;               ///< Prompt index, or -1.
  std::string publish;
  SessionMode session = SessionMode::Fresh;
  std::vector<std::string> tools;
  int64_t toolMaxSteps = 0;
  std::string reasoningEffort;
  bool readonly = false;
  std::optional<int64_t> maxTokens;
  /// `request_timeout`: per-attempt deadlines of the node's model calls in
  /// ms; 0: unset (the run's default).
  int64_t requestConnectMs = 0;
  int64_t requestFirstByteMs = 0;
  int64_t requestTotalMs = 0;
  AwaitMode await = AwaitMode::None;
  std::vector<std::string> mcpServers;
  std::string writeFiles;      ///< Output field of type files to write out.

  // Routers.
  RouterMode routerMode = RouterMode::FanOutAll;
  bool multi = false;

  // Humans.
  Interaction interaction = Interaction::Human;
  int instructions = -1;       ///< Prompt index, or -1.
  int interactionPrompt = -1;  ///< Prompt index, or -1.
  std::string interactionModel;
  int64_t minAnswers = 0;

  // Tools.
  Template command;
  std::string script;
  std::string language;
  std::optional<int64_t> timeoutMs;
  /// `max_output`: bytes kept of each of stdout and stderr; unset: 1 MiB.
  std::optional<int64_t> maxOutputBytes;
  std::string workdir;
  std::vector<std::pair<std::string, Template>> env;
  std::vector<std::string> inheritEnv;
  bool capture = false;
  bool approval = false;
  /// Services started again (waited for until healthy) after the command
  /// succeeds: the tool rebuilt them.
  std::vector<std::string> restart;

  // Compute: output field -> expression.
  std::vector<Check> exprs;

  // Verify.
  std::vector<Check> checks;
  std::vector<HttpCheck> httpChecks;
  /// Verify: `assertions:`, one reference to a list written at run time.
  Template assertions;

  // Join (classic): the strategy is `await`.
  std::vector<std::string> require;

  bool isTerminal() const {
    return kind == NodeKind::Done || kind == NodeKind::Fail;
  }
  /// True for nodes that call an LLM.
  bool callsModel() const;
};

struct WithEntry {
  std::string key;
  Template value;
  SourceRange range;
};

struct Edge {
  unsigned index = 0;
  unsigned from = 0;
  unsigned to = 0;
  enum class Cond { None, Field, Expr } cond = Cond::None;
  std::string field;     ///< Cond::Field
  bool negated = false;  ///< Cond::Field
  std::string exprText;  ///< Cond::Expr
  ExprPtr expr;          ///< Cond::Expr
  int loop = -1;         ///< Loop index, or -1.
  std::vector<WithEntry> with;
  SourceRange range;
  SourceRange condRange;
};

struct Loop {
  std::string name;
  std::optional<int64_t> cap;  ///< Literal cap.
  Template capTemplate;        ///< Templated cap (when !cap).
  std::vector<unsigned> edges;
  std::vector<unsigned> body;     ///< Nodes on a cycle through the loop.
  std::vector<unsigned> entries;  ///< Body nodes entered from outside.
  int64_t noProgress = 0;         ///< 0 = no no-progress policy.
  SourceRange range;
};

struct Budget {
  std::optional<int64_t> maxParallelBranches;
  std::optional<int64_t> maxTokens;
  std::optional<int64_t> maxIterations;
  std::optional<double> maxCostUsd;
  std::optional<int64_t> maxDurationMs;
  std::string maxDurationText;
};

struct HealthCheck {
  std::string http;          ///< Path probed over HTTP, or empty.
  std::vector<std::string> command;
  int64_t intervalMs = 1000;
  int64_t timeoutMs = 30000;
  int64_t retries = 30;
};

struct Service {
  std::string name;
  std::string image;
  std::string buildContext;
  std::string dockerfile;
  std::string program;
  std::vector<std::string> command;
  std::vector<std::string> ports;  ///< "8080" or "8080:80".
  std::vector<std::pair<std::string, std::string>> env;
  std::vector<std::string> dependsOn;
  std::optional<HealthCheck> health;
  std::string workdir;
  /// `restart:` no (""), on-failure or always: what the run does when the
  /// service ends on its own; at most `maxRestarts` times.
  std::string restart;
  int64_t maxRestarts = 3;
  SourceRange range;

  /// A `build` service without `dockerfile` packages `program`: iterc
  /// generates its Dockerfile (FROM scratch, the program as entrypoint).
  bool generatesDockerfile() const {
    return !buildContext.empty() && dockerfile.empty() && !program.empty();
  }
};

struct McpServer {
  std::string name;
  std::string transport;  ///< stdio | http | sse
  std::string command;
  std::vector<std::string> args;
  std::string url;
  SourceRange range;
};

/// One entry of the workflow's `request_timeouts:` map: the deadlines of
/// each attempt of a model's requests, for nodes that set none of their own.
struct ModelTimeouts {
  std::string model;  ///< "provider/model" or "provider/*".
  int64_t connectMs = 0, firstByteMs = 0, totalMs = 0;  ///< 0: unset.
};

struct Workflow {
  std::string name;
  SourceRange range;
  unsigned entry = 0;
  Budget budget;
  Interaction defaultInteraction = Interaction::Human;
  std::vector<Node> nodes;   ///< Declared nodes, then `done` and `fail`.
  std::vector<Edge> edges;   ///< In declaration order.
  std::vector<Loop> loops;
  std::vector<std::string> services;  ///< Started before entry.
  std::vector<std::string> mcpServers;
  /// `runner_image:`, the base of the runner's container image ("" for
  /// FROM scratch).
  std::string runnerImage;
  /// `request_timeouts:`, in source order.
  std::vector<ModelTimeouts> modelTimeouts;
  /// Nodes where parallel branches converge (explicit `await` or several
  /// distinct sources).
  std::vector<unsigned> convergencePoints;

  unsigned doneIndex() const { return nodes.size() - 2; }
  unsigned failIndex() const { return nodes.size() - 1; }
  int findNode(std::string_view name) const;
  /// Outgoing edge indices of a node, in declaration order.
  std::vector<std::vector<unsigned>> outgoing;
  std::vector<std::vector<unsigned>> incoming;
};

/// A checked `.iter` file.
struct Module {
  std::string sourceName;
  std::vector<Schema> schemas;
  std::vector<Prompt> prompts;
  std::vector<Var> vars;
  std::vector<Preset> presets;
  std::vector<Service> services;
  std::vector<McpServer> mcpServers;
  Workflow workflow;

  int findSchema(std::string_view name) const;
  int findPrompt(std::string_view name) const;
  int findVar(std::string_view name) const;
};

} // namespace iterc::ir

#endif // ITERC_IR_IR_H
