//===- Program.cpp - The runtime side of generated code -------------------===//
//
// This file implements what Program.h promises generated code: the JSON
// value handle, the expression operators (thin wrappers over expr::), the
// schema decoding helpers, and loadProgram, which turns a program's
// constant tables into the engine's WorkflowDesc at start-up.
//
//===----------------------------------------------------------------------===//
#include "iterc/rt/Program.h"

#include "iterc/rt/Scope.h"
#include "iterc/rt/Workflow.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <new>

using namespace iterc::rt;
using gen::Value;

static_assert(sizeof(Json) <= 16 && alignof(Json) <= 8,
              "gen::Value's storage must hold an iterc::rt::Json");

namespace {
Json &J(Value &v) { return *static_cast<Json *>(v.impl()); }
const Json &J(const Value &v) { return *static_cast<const Json *>(v.impl()); }

Value wrap(Json j) {
  Value v;
  J(v) = std::move(j);
  return v;
}
} // namespace

//===----------------------------------------------------------------------===//
// Value
//===----------------------------------------------------------------------===//

Value::Value() noexcept { new (storage) Json(); }
Value::Value(bool b) { new (storage) Json(b); }
Value::Value(int64_t i) { new (storage) Json(i); }
Value::Value(double d) { new (storage) Json(d); }
Value::Value(const char *s) { new (storage) Json(s ? s : ""); }
Value::Value(const std::string &s) { new (storage) Json(s); }
Value::Value(const Value &other) { new (storage) Json(J(other)); }
Value::Value(Value &&other) noexcept {
  new (storage) Json(std::move(J(other)));
}
Value &Value::operator=(const Value &other) {
  if (this != &other)
    J(*this) = J(other);
  return *this;
}
Value &Value::operator=(Value &&other) noexcept {
  if (this != &other)
    J(*this) = std::move(J(other));
  return *this;
}
Value::~Value() { J(*this).~Json(); }

Value Value::array() { return wrap(Json::array()); }
Value Value::object() { return wrap(Json::object()); }

bool Value::isNull() const { return J(*this).is_null(); }
bool Value::isBool() const { return J(*this).is_boolean(); }
bool Value::isInt() const {
  return fieldValueMatches(FieldType::Int, J(*this));
}
bool Value::isNumber() const { return J(*this).is_number(); }
bool Value::isString() const { return J(*this).is_string(); }
bool Value::isArray() const { return J(*this).is_array(); }
bool Value::isObject() const { return J(*this).is_object(); }
const char *Value::typeName() const {
  const Json &j = J(*this);
  if (j.is_array())
    return "list";
  return jsonTypeName(j);
}

bool Value::asBool() const {
  const Json &j = J(*this);
  return j.is_boolean() ? j.get<bool>() : expr::truthy(j);
}
int64_t Value::asInt() const {
  const Json &j = J(*this);
  if (j.is_number_integer())
    return j.get<int64_t>();
  if (j.is_number())
    return static_cast<int64_t>(j.get<double>());
  return 0;
}
double Value::asDouble() const {
  const Json &j = J(*this);
  return j.is_number() ? j.get<double>() : 0.0;
}
std::string Value::asString() const {
  const Json &j = J(*this);
  return j.is_string() ? j.get<std::string>() : j.dump();
}

size_t Value::size() const {
  const Json &j = J(*this);
  return j.is_array() || j.is_object() ? j.size() : 0;
}
Value Value::at(size_t index) const {
  const Json &j = J(*this);
  return j.is_array() && index < j.size() ? wrap(j[index]) : Value();
}
bool Value::has(const char *key) const {
  const Json &j = J(*this);
  return j.is_object() && j.contains(key);
}
Value Value::get(const char *key) const {
  const Json &j = J(*this);
  if (!j.is_object())
    return Value();
  auto it = j.find(key);
  return it == j.end() ? Value() : wrap(*it);
}
void Value::set(const char *key, Value value) {
  Json &j = J(*this);
  if (!j.is_object())
    j = Json::object();
  j[key] = std::move(J(value));
}
void Value::push(Value value) {
  Json &j = J(*this);
  if (!j.is_array())
    j = Json::array();
  j.push_back(std::move(J(value)));
}

//===----------------------------------------------------------------------===//
// Expression operators
//===----------------------------------------------------------------------===//

bool gen::truthy(const Value &v) { return expr::truthy(J(v)); }

Value gen::path(const Scope &scope, RefNs ns,
                std::initializer_list<const char *> segments) {
  std::vector<std::string> p(segments.begin(), segments.end());
  return wrap(expr::path(scope, ns, p));
}

#define ITERC_UNARY(NAME)                                                      \
  Value gen::NAME(const Value &a) { return wrap(expr::NAME(J(a))); }
#define ITERC_BINARY(NAME)                                                     \
  Value gen::NAME(const Value &a, const Value &b) {                            \
    return wrap(expr::NAME(J(a), J(b)));                                       \
  }
ITERC_UNARY(notOp)
ITERC_UNARY(neg)
ITERC_UNARY(length)
ITERC_UNARY(unique)
ITERC_BINARY(eq)
ITERC_BINARY(ne)
ITERC_BINARY(lt)
ITERC_BINARY(le)
ITERC_BINARY(gt)
ITERC_BINARY(ge)
ITERC_BINARY(add)
ITERC_BINARY(sub)
ITERC_BINARY(mul)
ITERC_BINARY(div)
ITERC_BINARY(mod)
ITERC_BINARY(contains)
ITERC_BINARY(join)
#undef ITERC_UNARY
#undef ITERC_BINARY

Value gen::concat(std::initializer_list<Value> args) {
  std::vector<Json> all;
  all.reserve(args.size());
  for (const Value &a : args)
    all.push_back(J(a));
  return wrap(expr::concat(all));
}

Value gen::exists(const Scope &scope, const Value &relativePath) {
  return wrap(expr::exists(scope, J(relativePath)));
}

Value gen::member(const Value &v,
                  std::initializer_list<const char *> segments) {
  std::vector<std::string> p(segments.begin(), segments.end());
  return wrap(expr::member(J(v), p));
}

Value gen::allOf(const Value &list) { return wrap(expr::all(J(list))); }
Value gen::anyOf(const Value &list) { return wrap(expr::any(J(list))); }

//===----------------------------------------------------------------------===//
// Schema decoding
//===----------------------------------------------------------------------===//

namespace {
/// The field's value when present and of `type`; otherwise records the
/// problem and returns null.
const Json *field(const Value &object, const char *name, FieldType type,
                  gen::Errors &errors) {
  const Json &obj = J(object);
  auto it = obj.find(name);
  if (it == obj.end()) {
    errors.push_back(std::string("field '") + name + "' is missing");
    return nullptr;
  }
  if (!fieldValueMatches(type, *it)) {
    errors.push_back(std::string("field '") + name + "': expected " +
                     fieldTypeName(type) + ", got " + jsonTypeName(*it));
    return nullptr;
  }
  return &*it;
}
} // namespace

bool gen::expectObject(const Value &value, Errors &errors) {
  if (J(value).is_object())
    return true;
  errors.push_back(std::string("expected a JSON object, got ") +
                   jsonTypeName(J(value)));
  return false;
}

bool gen::decodeString(const Value &object, const char *name, std::string &out,
                       Errors &errors) {
  const Json *v = field(object, name, FieldType::String, errors);
  if (v)
    out = v->get<std::string>();
  return v != nullptr;
}

bool gen::decodeBool(const Value &object, const char *name, bool &out,
                     Errors &errors) {
  const Json *v = field(object, name, FieldType::Bool, errors);
  if (v)
    out = v->get<bool>();
  return v != nullptr;
}

bool gen::decodeInt(const Value &object, const char *name, int64_t &out,
                    Errors &errors) {
  const Json *v = field(object, name, FieldType::Int, errors);
  if (v)
    out = v->is_number_integer() ? v->get<int64_t>()
                                 : static_cast<int64_t>(v->get<double>());
  return v != nullptr;
}

bool gen::decodeFloat(const Value &object, const char *name, double &out,
                      Errors &errors) {
  const Json *v = field(object, name, FieldType::Float, errors);
  if (v)
    out = v->get<double>();
  return v != nullptr;
}

bool gen::decodeJson(const Value &object, const char *name, Value &out,
                     Errors &errors) {
  const Json *v = field(object, name, FieldType::Json, errors);
  if (v)
    out = wrap(*v);
  return v != nullptr;
}

bool gen::decodeStringList(const Value &object, const char *name,
                           std::vector<std::string> &out, Errors &errors) {
  const Json *v = field(object, name, FieldType::StringList, errors);
  if (!v)
    return false;
  out.clear();
  for (const Json &item : *v)
    out.push_back(item.get<std::string>());
  return true;
}

bool gen::decodeEnum(const Value &object, const char *name,
                     std::initializer_list<const char *> allowed, int &out,
                     Errors &errors) {
  const Json *v = field(object, name, FieldType::String, errors);
  if (!v)
    return false;
  const std::string &s = v->get_ref<const std::string &>();
  int index = 0;
  std::string list;
  for (const char *candidate : allowed) {
    if (s == candidate) {
      out = index;
      return true;
    }
    list += (index++ ? ", " : "") + std::string(candidate);
  }
  errors.push_back(std::string("field '") + name + "': '" + s +
                   "' is not one of " + list);
  return false;
}

bool gen::decodeFiles(const Value &object, const char *name,
                      std::vector<File> &out, Errors &errors) {
  const Json *v = field(object, name, FieldType::Files, errors);
  if (!v)
    return false;
  out.clear();
  for (const Json &item : *v)
    out.push_back(
        {item["path"].get<std::string>(), item["content"].get<std::string>()});
  return true;
}

Value gen::encodeStringList(const std::vector<std::string> &list) {
  return wrap(Json(list));
}

Value gen::encodeFiles(const std::vector<File> &files) {
  Json all = Json::array();
  for (const File &f : files)
    all.push_back({{"path", f.path}, {"content", f.content}});
  return wrap(std::move(all));
}

//===----------------------------------------------------------------------===//
// loadProgram
//===----------------------------------------------------------------------===//

namespace {
[[noreturn]] void corrupt(const char *what) {
  std::fprintf(stderr, "iterc runtime: corrupt program tables: %s\n", what);
  std::abort();
}

std::string str(const char *s) { return s ? s : ""; }

std::vector<std::string> strings(gen::Strings list) {
  return std::vector<std::string>(list.begin(), list.end());
}

Json constant(const char *json) {
  std::optional<Json> v = parseJson(json);
  if (!v)
    corrupt("a constant is not JSON");
  return *v;
}

Template tpl(gen::Tpl t) {
  Template out;
  for (const gen::Part &p : t) {
    TemplatePart part;
    if (p.isRef)
      part.ref = TemplateRef{p.ns, strings(p.path), p.raw};
    else
      part.literal = str(p.literal);
    out.parts.push_back(std::move(part));
  }
  return out;
}

std::vector<std::pair<std::string, Template>>
bindings(gen::Span<gen::Binding> list) {
  std::vector<std::pair<std::string, Template>> out;
  for (const gen::Binding &b : list)
    out.emplace_back(str(b.key), tpl(b.value));
  return out;
}

ExprFn fn(gen::ExprFn f) {
  if (!f)
    return {};
  return [f](const Scope &scope) { return J(f(scope)); };
}

CheckDesc check(const gen::CheckInfo &c) {
  CheckDesc d{str(c.name), str(c.source), fn(c.fn)};
  for (const gen::OperandInfo &op : c.operands)
    d.operands.push_back({str(op.text), fn(op.fn)});
  return d;
}

std::vector<CheckDesc> checks(gen::Span<gen::CheckInfo> list) {
  std::vector<CheckDesc> out;
  for (const gen::CheckInfo &c : list)
    out.push_back(check(c));
  return out;
}

std::optional<int64_t> limit(int64_t v) {
  return v < 0 ? std::nullopt : std::optional<int64_t>(v);
}

NodeDesc node(const gen::NodeInfo &n, size_t schemaCount) {
  NodeDesc d;
  d.kind = n.kind;
  d.name = str(n.name);
  d.model = str(n.model);
  if (n.input >= int(schemaCount) || n.output >= int(schemaCount))
    corrupt("a node names a schema out of range");
  d.input = n.input;
  d.output = n.output;
  d.system = tpl(n.system);
  d.user = tpl(n.user);
  d.publish = str(n.publish);
  d.session = n.session;
  d.tools = strings(n.tools);
  d.toolMaxSteps = n.toolMaxSteps;
  d.reasoningEffort = str(n.reasoningEffort);
  d.readonly = n.readonly;
  d.maxTokens = limit(n.maxTokens);
  d.requestConnectMs = n.requestConnectMs;
  d.requestFirstByteMs = n.requestFirstByteMs;
  d.requestTotalMs = n.requestTotalMs;
  d.await = n.await;
  d.mcpServers = strings(n.mcpServers);
  d.writeFiles = str(n.writeFiles);
  d.routerMode = n.routerMode;
  d.multi = n.multi;
  d.interaction = n.interaction;
  d.instructions = tpl(n.instructions);
  d.interactionModel = str(n.interactionModel);
  d.command = tpl(n.command);
  d.language = str(n.language);
  d.isScript = n.isScript;
  d.timeoutMs = limit(n.timeoutMs);
  d.maxOutputBytes = n.maxOutputBytes > 0 ? size_t(n.maxOutputBytes) : 0;
  d.workdir = str(n.workdir);
  d.env = bindings(n.env);
  d.inheritEnv = strings(n.inheritEnv);
  d.capture = n.capture;
  d.approval = n.approval;
  d.exprs = checks(n.exprs);
  d.checks = checks(n.checks);
  for (const gen::HttpCheckInfo &h : n.httpChecks) {
    HttpCheckDesc c;
    c.name = str(h.name);
    c.service = str(h.service);
    c.url = tpl(h.url);
    c.method = h.method ? h.method : "GET";
    c.path = tpl(h.path);
    c.body = tpl(h.body);
    c.headers = bindings(h.headers);
    c.expectStatus = h.expectStatus;
    if (h.expectBodyContains)
      c.expectBodyContains = h.expectBodyContains;
    for (const gen::JsonCheckInfo &j : h.expectJson)
      c.expectJson.emplace_back(str(j.path), check(j.check));
    c.timeoutMs = h.timeoutMs;
    d.httpChecks.push_back(std::move(c));
  }
  d.assertions = tpl(n.assertions);
  d.require = strings(n.require);
  d.restart = strings(n.restart);
  return d;
}
} // namespace

WorkflowDesc gen::loadProgram(const ProgramInfo &program) {
  WorkflowDesc wf;
  wf.name = str(program.workflowName);
  wf.sourceSha256 = str(program.sourceSha256);
  wf.itercVersion = str(program.itercVersion);

  for (const SchemaInfo &s : program.schemas) {
    SchemaDesc d;
    d.name = str(s.name);
    for (const FieldInfo &f : s.fields)
      d.fields.push_back(FieldDesc{str(f.name), f.type, strings(f.enumValues)});
    if (ValidateFn validate = s.validate)
      d.validator = [validate](const Json &value) {
        Errors errors;
        validate(wrap(value), errors);
        return errors;
      };
    wf.schemas.push_back(std::move(d));
  }

  if (program.nodes.size < 2 ||
      program.nodes.data[program.nodes.size - 2].kind != NodeKind::Done ||
      program.nodes.data[program.nodes.size - 1].kind != NodeKind::Fail)
    corrupt("the node table does not end with done and fail");
  for (const NodeInfo &n : program.nodes)
    wf.nodes.push_back(node(n, wf.schemas.size()));

  int nodeCount = int(wf.nodes.size());
  for (const EdgeInfo &e : program.edges) {
    if (e.from < 0 || e.from >= nodeCount || e.to < 0 || e.to >= nodeCount ||
        e.loop >= int(program.loops.size))
      corrupt("an edge refers to a node or loop out of range");
    EdgeDesc d;
    d.from = e.from;
    d.to = e.to;
    d.cond = static_cast<EdgeDesc::Cond>(e.cond);
    d.field = str(e.field);
    d.negated = e.negated;
    d.exprText = str(e.exprText);
    d.expr = fn(e.expr);
    d.loop = e.loop;
    d.with = bindings(e.with);
    wf.edges.push_back(std::move(d));
  }

  for (const LoopInfo &l : program.loops) {
    LoopDesc d;
    d.name = str(l.name);
    d.cap = limit(l.cap);
    d.capTemplate = tpl(l.capTemplate);
    d.body.assign(l.body.begin(), l.body.end());
    d.entries.assign(l.entries.begin(), l.entries.end());
    d.noProgress = l.noProgress;
    wf.loops.push_back(std::move(d));
  }

  for (const VarInfo &v : program.vars) {
    VarDesc d;
    d.name = str(v.name);
    d.type = v.type;
    if (v.defaultJson)
      d.defaultValue = constant(v.defaultJson);
    d.enumValues = strings(v.enumValues);
    d.secret = v.secret;
    wf.vars.push_back(std::move(d));
  }

  for (const PresetInfo &p : program.presets) {
    PresetDesc d;
    d.name = str(p.name);
    for (const PresetValue &v : p.values)
      d.values.emplace_back(str(v.name), constant(v.json));
    wf.presets.push_back(std::move(d));
  }

  for (const McpServerInfo &m : program.mcpServers)
    wf.mcpServers.push_back(McpServerDesc{str(m.name), str(m.transport),
                                          str(m.command), strings(m.args),
                                          str(m.url)});

  const BudgetInfo &b = program.budget;
  wf.budget.maxParallelBranches = limit(b.maxParallelBranches);
  wf.budget.maxTokens = limit(b.maxTokens);
  wf.budget.maxIterations = limit(b.maxIterations);
  if (b.maxCostUsd >= 0)
    wf.budget.maxCostUsd = b.maxCostUsd;
  wf.budget.maxDurationMs = limit(b.maxDurationMs);

  if (program.entry < 0 || program.entry >= nodeCount)
    corrupt("the entry node is out of range");
  wf.entry = program.entry;

  // ${NAME} references in a service are read from this process's
  // environment, as compose reads them from the host's for the same file.
  auto expanded = [](const char *text) { return expandEnv(str(text)); };
  auto expandedAll = [](Strings list) {
    std::vector<std::string> out = strings(list);
    for (std::string &s : out)
      s = expandEnv(s);
    return out;
  };
  for (const ServiceInfo &svc : program.services) {
    ServiceDesc d;
    d.name = str(svc.name);
    d.image = expanded(svc.image);
    d.buildContext = expanded(svc.buildContext);
    d.dockerfile = expanded(svc.dockerfile);
    d.program = expanded(svc.program);
    d.command = expandedAll(svc.command);
    d.ports = strings(svc.ports);
    for (const EnvValue &e : svc.env)
      d.env.emplace_back(str(e.name), expanded(e.value));
    d.dependsOn = strings(svc.dependsOn);
    if (svc.health)
      d.health = HealthDesc{
          str(svc.health->http), expandedAll(svc.health->command),
          svc.health->intervalMs, svc.health->timeoutMs, svc.health->retries};
    d.workdir = expanded(svc.workdir);
    d.generatedDockerfile = str(svc.generatedDockerfile);
    d.restart = str(svc.restart);
    d.maxRestarts = svc.maxRestarts;
    wf.services.push_back(std::move(d));
  }
  wf.stack = strings(program.stack);
  for (const ModelTimeoutInfo &t : program.modelTimeouts)
    wf.modelTimeouts.push_back(
        {str(t.model), t.connectMs, t.firstByteMs, t.totalMs});
  for (const std::string &name : wf.stack)
    if (std::none_of(wf.services.begin(), wf.services.end(),
                     [&](const ServiceDesc &d) { return d.name == name; }))
      corrupt("the stack names a service that is not declared");
  return wf;
}
