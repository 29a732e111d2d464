//===- Program.h - What generated code sees of the runtime ------*- C++ -*-===//
//
// This file declares the whole interface between a compiled workflow and
// runtime-lib: constant tables that describe the workflow (ProgramInfo and
// the structs it points to), the JSON value handle that compiled
// expressions and schema decoders work on (gen::Value), the operators
// compiled expressions call, and the entry point a generated main() calls.
//
// Generated code includes only this header, which includes only <cstdint>,
// <initializer_list>, <string> and <vector>: a generated translation unit
// compiles in a fraction of a second, and its tables are constant data that
// need no code to build. The runtime turns a ProgramInfo into the engine's
// WorkflowDesc once, at start-up (loadProgram).
//
//===----------------------------------------------------------------------===//
#ifndef ITERC_RT_PROGRAM_H
#define ITERC_RT_PROGRAM_H

#include "iterc/rt/Enums.h"

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

namespace iterc::rt {

class Scope;
struct WorkflowDesc;

namespace gen {

/// A JSON value. The representation lives in runtime-lib; generated code
/// only constructs, inspects and combines values through these functions.
class Value {
public:
  Value() noexcept;
  Value(std::nullptr_t) noexcept : Value() {}
  Value(bool b);
  Value(int i) : Value(static_cast<int64_t>(i)) {}
  Value(int64_t i);
  Value(double d);
  Value(const char *s);
  Value(const std::string &s);
  Value(const Value &other);
  Value(Value &&other) noexcept;
  Value &operator=(const Value &other);
  Value &operator=(Value &&other) noexcept;
  ~Value();

  static Value array();
  static Value object();

  bool isNull() const;
  bool isBool() const;
  /// An integer, or a float with an integral value.
  bool isInt() const;
  bool isNumber() const;
  bool isString() const;
  bool isArray() const;
  bool isObject() const;
  /// "null", "bool", "int", "float", "string", "list" or "object".
  const char *typeName() const;

  bool asBool() const;
  int64_t asInt() const;
  double asDouble() const;
  std::string asString() const;

  /// Elements of an array, members of an object; 0 otherwise.
  size_t size() const;
  Value at(size_t index) const;
  bool has(const char *key) const;
  Value get(const char *key) const;
  void set(const char *key, Value value);
  void push(Value value);

  /// The runtime's representation (an iterc::rt::Json); runtime-lib only.
  void *impl() { return storage; }
  const void *impl() const { return storage; }

private:
  alignas(8) unsigned char storage[16];
};

/// Field-level problems found while decoding a value into a schema type.
using Errors = std::vector<std::string>;

// Operators and built-in functions of compiled expressions (the same
// semantics as the interpreter-free expr:: functions of Scope.h).
bool truthy(const Value &v);
Value path(const Scope &scope, RefNs ns,
           std::initializer_list<const char *> segments);
Value notOp(const Value &a);
Value neg(const Value &a);
Value eq(const Value &a, const Value &b);
Value ne(const Value &a, const Value &b);
Value lt(const Value &a, const Value &b);
Value le(const Value &a, const Value &b);
Value gt(const Value &a, const Value &b);
Value ge(const Value &a, const Value &b);
Value add(const Value &a, const Value &b);
Value sub(const Value &a, const Value &b);
Value mul(const Value &a, const Value &b);
Value div(const Value &a, const Value &b);
Value mod(const Value &a, const Value &b);
Value length(const Value &a);
Value concat(std::initializer_list<Value> args);
Value unique(const Value &a);
Value contains(const Value &haystack, const Value &needle);
Value join(const Value &list, const Value &separator);
Value exists(const Scope &scope, const Value &relativePath);
/// The value at `segments` inside `v` (object keys, array indices as
/// digits); null when absent.
Value member(const Value &v, std::initializer_list<const char *> segments);
/// Quantifiers: every element (at least one element) of a list is true. A
/// value that is not a list gives false for both; all of [] is true.
Value allOf(const Value &list);
Value anyOf(const Value &list);
/// ...with a condition per element: `all(x in list: cond)` is
/// allOf(list, [&](const Value &x) { return cond; }).
template <typename Cond> Value allOf(const Value &list, Cond cond) {
  if (!list.isArray())
    return Value(false);
  for (size_t i = 0; i < list.size(); ++i)
    if (!truthy(cond(list.at(i))))
      return Value(false);
  return Value(true);
}
template <typename Cond> Value anyOf(const Value &list, Cond cond) {
  if (!list.isArray())
    return Value(false);
  for (size_t i = 0; i < list.size(); ++i)
    if (truthy(cond(list.at(i))))
      return Value(true);
  return Value(false);
}

// Decoding helpers for generated schema types. Each reads `object[field]`
// into `out`, or appends "field 'x': ..." to `errors` and leaves `out` as it
// was. The messages match SchemaDesc::validate's.
bool decodeString(const Value &object, const char *field, std::string &out,
                  Errors &errors);
bool decodeBool(const Value &object, const char *field, bool &out,
                Errors &errors);
bool decodeInt(const Value &object, const char *field, int64_t &out,
               Errors &errors);
bool decodeFloat(const Value &object, const char *field, double &out,
                 Errors &errors);
bool decodeJson(const Value &object, const char *field, Value &out,
                Errors &errors);
bool decodeStringList(const Value &object, const char *field,
                      std::vector<std::string> &out, Errors &errors);
/// A string that must be one of `allowed`; `out` receives its index.
bool decodeEnum(const Value &object, const char *field,
                std::initializer_list<const char *> allowed, int &out,
                Errors &errors);
/// A generated file: {path, content}.
struct File {
  std::string path;
  std::string content;
};
bool decodeFiles(const Value &object, const char *field, std::vector<File> &out,
                 Errors &errors);
/// The value is an object (else one error naming its type).
bool expectObject(const Value &value, Errors &errors);

Value encodeStringList(const std::vector<std::string> &list);
Value encodeFiles(const std::vector<File> &files);

//===----------------------------------------------------------------------===//
// Constant tables
//===----------------------------------------------------------------------===//

/// A constant array: pointer and length.
template <typename T> struct Span {
  const T *data = nullptr;
  uint32_t size = 0;
  const T *begin() const { return data; }
  const T *end() const { return data + size; }
};
using Strings = Span<const char *>;

/// One part of a pre-split template: literal text, or a reference.
struct Part {
  const char *literal = nullptr;
  bool isRef = false;
  RefNs ns = RefNs::Vars;
  Strings path;
  bool raw = false;
};
using Tpl = Span<Part>;

/// key: template (tool env, HTTP headers, edge `with`).
struct Binding {
  const char *key = nullptr;
  Tpl value;
};

using ExprFn = Value (*)(const Scope &);
using ValidateFn = void (*)(const Value &, Errors &);

struct FieldInfo {
  const char *name = nullptr;
  FieldType type = FieldType::String;
  Strings enumValues;
};

struct SchemaInfo {
  const char *name = nullptr;
  Span<FieldInfo> fields;
  ValidateFn validate = nullptr;
};

/// A path or call of a check, shown with its value when the check fails.
struct OperandInfo {
  const char *text = nullptr;
  ExprFn fn = nullptr;
};

struct CheckInfo {
  const char *name = nullptr;
  const char *source = nullptr;
  ExprFn fn = nullptr;
  Span<OperandInfo> operands = {};
};

struct JsonCheckInfo {
  const char *path = nullptr;
  CheckInfo check;
};

struct HttpCheckInfo {
  const char *name = nullptr;
  const char *service = nullptr;
  Tpl url;
  const char *method = "GET";
  Tpl path;
  Tpl body;
  Span<Binding> headers;
  int64_t expectStatus = 200;
  const char *expectBodyContains = nullptr;
  Span<JsonCheckInfo> expectJson;
  int64_t timeoutMs = 10000;
};

struct NodeInfo {
  NodeKind kind = NodeKind::Agent;
  const char *name = nullptr;
  const char *model = nullptr;
  int input = -1;
  int output = -1;
  Tpl system;
  Tpl user;
  const char *publish = nullptr;
  SessionMode session = SessionMode::Fresh;
  Strings tools;
  int64_t toolMaxSteps = 0;
  const char *reasoningEffort = nullptr;
  bool readonly = false;
  int64_t maxTokens = -1;
  int64_t requestConnectMs = 0;   ///< request_timeout.connect; 0: unset.
  int64_t requestFirstByteMs = 0; ///< request_timeout.first_byte.
  int64_t requestTotalMs = 0;     ///< request_timeout.total.
  AwaitMode await = AwaitMode::None;
  Strings mcpServers;
  const char *writeFiles = nullptr;
  RouterMode routerMode = RouterMode::FanOutAll;
  bool multi = false;
  Interaction interaction = Interaction::Human;
  Tpl instructions;
  const char *interactionModel = nullptr;
  Tpl command;
  const char *language = nullptr;
  bool isScript = false;
  int64_t timeoutMs = -1;
  int64_t maxOutputBytes = 0; ///< Tool `max_output`; 0: unset.
  const char *workdir = nullptr;
  Span<Binding> env;
  Strings inheritEnv;
  bool capture = false;
  bool approval = false;
  Span<CheckInfo> exprs;
  Span<CheckInfo> checks;
  Span<HttpCheckInfo> httpChecks;
  Tpl assertions;
  Strings require;
  Strings restart;
};

struct EdgeInfo {
  int from = 0;
  int to = 0;
  EdgeCond cond = EdgeCond::None;
  const char *field = nullptr;
  bool negated = false;
  const char *exprText = nullptr;
  ExprFn expr = nullptr;
  int loop = -1;
  Span<Binding> with;
};

struct LoopInfo {
  const char *name = nullptr;
  int64_t cap = -1; ///< -1: templated (capTemplate) or none.
  Tpl capTemplate;
  Span<int> body;
  Span<int> entries;
  int64_t noProgress = 0;
};

/// A constant value in JSON text (var defaults, preset values).
struct VarInfo {
  const char *name = nullptr;
  FieldType type = FieldType::String;
  const char *defaultJson = nullptr;
  Strings enumValues;
  bool secret = false;
};

struct PresetValue {
  const char *name = nullptr;
  const char *json = nullptr;
};

struct PresetInfo {
  const char *name = nullptr;
  Span<PresetValue> values;
};

struct McpServerInfo {
  const char *name = nullptr;
  const char *transport = nullptr;
  const char *command = nullptr;
  Strings args;
  const char *url = nullptr;
};

struct HealthInfo {
  const char *http = nullptr;
  Strings command;
  int64_t intervalMs = 1000;
  int64_t timeoutMs = 30000;
  int64_t retries = 30;
};

struct EnvValue {
  const char *name = nullptr;
  const char *value = nullptr;
};

struct ServiceInfo {
  const char *name = nullptr;
  const char *image = nullptr;
  const char *buildContext = nullptr;
  const char *dockerfile = nullptr;
  const char *program = nullptr;
  Strings command;
  Strings ports;
  Span<EnvValue> env;
  Strings dependsOn;
  const HealthInfo *health = nullptr;
  const char *workdir = nullptr;
  /// The Dockerfile iterc wrote for a `build` service that names none (it
  /// packages `program`); null otherwise.
  const char *generatedDockerfile = nullptr;
  const char *restart = nullptr; ///< on-failure | always; null: no.
  int64_t maxRestarts = 0;
};

/// A limit of -1 means "not set".
struct BudgetInfo {
  int64_t maxParallelBranches = -1;
  int64_t maxTokens = -1;
  int64_t maxIterations = -1;
  double maxCostUsd = -1;
  int64_t maxDurationMs = -1;
};

/// An entry of the workflow's `request_timeouts:` (ms; 0: unset).
struct ModelTimeoutInfo {
  const char *model = nullptr; ///< "provider/model" or "provider/*".
  int64_t connectMs = 0;
  int64_t firstByteMs = 0;
  int64_t totalMs = 0;
};

struct ProgramInfo {
  const char *programName = nullptr;
  const char *workflowName = nullptr;
  const char *sourcePath = nullptr;
  const char *sourceSha256 = nullptr;
  const char *itercVersion = nullptr;
  Span<SchemaInfo> schemas;
  Span<NodeInfo> nodes; ///< Declared nodes, then done, then fail.
  Span<EdgeInfo> edges;
  Span<LoopInfo> loops;
  Span<VarInfo> vars;
  Span<PresetInfo> presets;
  Span<McpServerInfo> mcpServers;
  BudgetInfo budget;
  int entry = 0;
  const char *graphMermaid = nullptr;
  const char *graphDot = nullptr;
  Span<ServiceInfo> services;
  Strings stack; ///< The services the workflow brings up.
  Span<ModelTimeoutInfo> modelTimeouts;
};

/// The engine's tables for a program. Aborts with a message on a table the
/// compiler could not have produced (a bug, not a user error).
WorkflowDesc loadProgram(const ProgramInfo &program);

/// What a generated main() returns: the executable's whole command line.
int programMain(const ProgramInfo &program, int argc, char **argv);

} // namespace gen
} // namespace iterc::rt

#endif // ITERC_RT_PROGRAM_H
