//===- Sema.cpp - Semantic analysis: AST to checked IR --------------------===//
//
// This file implements semantic analysis in four passes:
//
//  1. collect declarations (duplicates, reserved names, top-level blocks);
//  2. lower each node's properties (known keys, value shapes, references,
//     unsupported Iterion features);
//  3. lower the workflow (entry, budget, edges, loops) and compute the graph
//     facts: reachability, strongly connected components, loop bodies and
//     entries, convergence points;
//  4. check every edge rule and every template/expression reference.
//
// Every pass is linear in the size of the file (reachability questions are
// answered on the condensation DAG with pruning by topological index), so a
// 10,000-node workflow checks in well under a second.
//
//===----------------------------------------------------------------------===//
#include "Sema/Sema.h"
#include "Basic/Utf8.h"
#include "IR/ShellCheck.h"
#include "Sema/ByteSize.h"
#include "Sema/ParallelGates.h"
#include "Sema/WorkdirPath.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <functional>
#include <set>
#include <unordered_map>
#include <unordered_set>

using namespace iterc;
using ast::Property;
using ast::Value;

namespace {

using Json = nlohmann::ordered_json;

/// Where a template reference was found and what it may see.
struct RefSite {
  ir::TemplateRef ref;
  int consumer = -1;      ///< Node that evaluates it, or -1 (workflow).
  int inputSchema = -1;   ///< Schema `{{input.x}}` is checked against.
  bool inputChecked = false;
  const char *inputWhat = "";  ///< Describes that schema in messages.
  bool shellContext = false;
};

struct ExprSite {
  ir::ExprPtr expr;
  int consumer = -1;
  int inputSchema = -1;
  bool inputChecked = false;
  const char *inputWhat = "";
};

class Sema {
public:
  Sema(const ast::File &file, const SourceManager &sources,
       DiagnosticEngine &diags)
      : file(file), sources(sources), diags(diags), fileId(file.fileId) {}

  std::unique_ptr<ir::Module> run();

private:
  // Pass 1.
  void collect();
  void addVars(const ast::VarsDecl &decl, bool workflowLevel);
  void checkSecret(const ast::Field &f, ir::Var &var);
  void addPrompt(const ast::PromptDecl &decl);
  void addSchema(const ast::SchemaDecl &decl);
  void addPresets();
  bool checkFieldType(const ast::TypeRef &type, ir::TypeKind &out,
                      bool allowFiles);
  // Pass 2.
  void lowerNode(const ast::NodeDecl &decl, ir::Node &node);
  void lowerRequestTimeout(const Property &p, ir::Node &node);
  void lowerModelTimeouts(const Property &p);
  void checkDeadlineOrder(SourceRange at, const std::string &owner,
                          int64_t connectMs, int64_t firstByteMs,
                          int64_t totalMs);
  void lowerMaxOutput(const Property &p, ir::Node &node);
  void lowerAgentLike(const ast::NodeDecl &decl, ir::Node &node,
                      const Property &p);
  void lowerService(const ast::NodeDecl &decl);
  void lowerMcpServer(const ast::NodeDecl &decl);
  bool handleUnsupported(const Property &p, const std::string &owner);
  // Pass 3.
  void lowerWorkflow(const ast::WorkflowDecl &decl);
  void lowerBudget(const Property &p);
  void lowerEdge(const ast::Edge &edge);
  void lowerNoProgress(const Property &p);
  void computeGraph();
  // Pass 4.
  void checkEdges();
  void checkRefs();
  void checkRef(const RefSite &site);
  void checkExprPaths(const ExprSite &site);
  void checkOutputsRef(const ir::TemplateRef &ref, int consumer,
                       SourceRange range);

  // Helpers.
  DiagnosticBuilder report(SourceRange range, diag::ID id) {
    return diags.report(fileId, range, id);
  }
  void unknownProperty(const Property &p, const std::string &owner,
                       const std::vector<std::string_view> &known);
  bool wantWord(const Property &p, std::string &out);
  bool wantString(const Property &p, std::string &out);
  bool wantInt(const Property &p, int64_t &out);
  bool wantBool(const Property &p, bool &out);
  bool wantNumber(const Property &p, double &out);
  bool wantNames(const Property &p, std::vector<std::string> &out);
  bool wantStrings(const Property &p, std::vector<std::string> &out);
  bool wantBlock(const Property &p);
  void invalidValue(const Property &p, const std::string &expected);
  int resolveSchema(const Property &p);
  int resolvePrompt(const Property &p);
  ir::Template makeTemplate(const Value &v);
  ir::Template makeTemplate(const std::string &text, SourceRange range);
  ir::ExprPtr makeExpr(const Value &v);
  bool parseDuration(const Property &p, int64_t &ms);
  bool parseDuration(const Value &v, const std::string &key, int64_t &ms);
  void checkEnv(const Value &v);
  void checkToolValues(const Property &body, const ir::Node &node,
                       bool isScript);
  Json literalJson(const Value &v);
  bool reaches(unsigned from, unsigned to);
  bool inLoopBody(unsigned node) const;
  void addRefs(const ir::Template &t, int consumer, int inputSchema,
               bool inputChecked, const char *what, bool shell = false);

  const ast::File &file;
  const SourceManager &sources;
  DiagnosticEngine &diags;
  unsigned fileId;
  std::unique_ptr<ir::Module> module = std::make_unique<ir::Module>();

  std::unordered_map<std::string, int> schemaIndex, promptIndex, varIndex,
      nodeIndex, loopIndex, serviceIndex, mcpIndex;
  std::vector<const ast::NodeDecl *> nodeDecls;
  std::vector<const ast::NodeDecl *> serviceDecls;
  std::vector<const ast::PromptDecl *> promptDecls;
  std::vector<const ast::SchemaDecl *> schemaDecls;
  const ast::WorkflowDecl *workflowDecl = nullptr;
  const ast::VarsDecl *topVars = nullptr;
  const ast::PresetsDecl *presetsDecl = nullptr;
  std::vector<RefSite> refSites;
  std::vector<ExprSite> exprSites;
  std::unordered_map<std::string, std::vector<unsigned>> publishers;
  std::vector<std::pair<const Property *, std::string>> noProgressProps;

  // Graph facts.
  std::vector<int> scc;            ///< SCC id per node (reverse topological).
  std::vector<bool> sccCyclic;
  std::vector<std::vector<unsigned>> sccSucc;
  std::vector<bool> reachableFromEntry;
  std::vector<bool> loopMember;
  std::unordered_map<uint64_t, bool> reachCache;
  std::unordered_set<unsigned> recoveredSources;
};

} // namespace

//===----------------------------------------------------------------------===//
// Value helpers
//===----------------------------------------------------------------------===//

static std::string describeValue(const Value &v) {
  switch (v.kind) {
  case Value::Kind::String:
    return "\"" + (v.text.size() > 40 ? truncateUtf8(v.text, 37) : v.text) +
           "\"";
  case Value::Kind::Int:
  case Value::Kind::Float:
  case Value::Kind::Ref:
    return "'" + v.text + "'";
  case Value::Kind::Bool:
    return v.boolValue ? "'true'" : "'false'";
  case Value::Kind::List:
    return "a list";
  case Value::Kind::Map:
    return "a map";
  }
  return "a value";
}

void Sema::invalidValue(const Property &p, const std::string &expected) {
  std::string what = p.isBlock ? "a block" : describeValue(p.value);
  report(p.isBlock ? p.key.range : p.value.range, diag::err_invalid_value)
      << what << p.key.text << expected;
}

bool Sema::wantWord(const Property &p, std::string &out) {
  if (!p.isBlock && (p.value.isWord() || p.value.isString())) {
    out = p.value.text;
    return true;
  }
  invalidValue(p, "a name");
  return false;
}

bool Sema::wantString(const Property &p, std::string &out) {
  if (!p.isBlock && (p.value.isString() || p.value.isWord())) {
    out = p.value.text;
    return true;
  }
  invalidValue(p, "a string");
  return false;
}

bool Sema::wantInt(const Property &p, int64_t &out) {
  if (!p.isBlock && p.value.kind == Value::Kind::Int) {
    out = p.value.intValue;
    return true;
  }
  invalidValue(p, "an integer");
  return false;
}

bool Sema::wantNumber(const Property &p, double &out) {
  if (!p.isBlock && p.value.isNumber()) {
    out = p.value.asNumber();
    return true;
  }
  invalidValue(p, "a number");
  return false;
}

bool Sema::wantBool(const Property &p, bool &out) {
  if (!p.isBlock && p.value.kind == Value::Kind::Bool) {
    out = p.value.boolValue;
    return true;
  }
  invalidValue(p, "true or false");
  return false;
}

bool Sema::wantBlock(const Property &p) {
  if (p.isBlock)
    return true;
  invalidValue(p, "an indented block");
  return false;
}

bool Sema::wantNames(const Property &p, std::vector<std::string> &out) {
  if (!p.isBlock && p.value.kind == Value::Kind::List) {
    for (const Value &item : p.value.items) {
      if (item.kind != Value::Kind::Ref && !item.isString()) {
        report(item.range, diag::err_invalid_value)
            << describeValue(item) << p.key.text << "a list of names";
        continue;
      }
      out.push_back(item.text);
    }
    return true;
  }
  if (!p.isBlock && (p.value.kind == Value::Kind::Ref || p.value.isString())) {
    out.push_back(p.value.text);
    return true;
  }
  invalidValue(p, "a list such as [a, b]");
  return false;
}

bool Sema::wantStrings(const Property &p, std::vector<std::string> &out) {
  if (!p.isBlock && p.value.kind == Value::Kind::List) {
    for (const Value &item : p.value.items) {
      if (!item.isString() && item.kind != Value::Kind::Ref &&
          !item.isNumber()) {
        report(item.range, diag::err_invalid_value)
            << describeValue(item) << p.key.text << "a list of strings";
        continue;
      }
      out.push_back(item.text);
    }
    return true;
  }
  if (!p.isBlock && p.value.isString()) {
    out.push_back(p.value.text);
    return true;
  }
  invalidValue(p, "a list of strings such as [\"a\", \"b\"]");
  return false;
}

void Sema::unknownProperty(const Property &p, const std::string &owner,
                           const std::vector<std::string_view> &known) {
  auto builder = report(p.key.range, diag::err_unknown_property);
    builder << p.key.text << owner;
  std::string best = closestMatch(p.key.text, known);
  if (!best.empty())
    builder << FixIt(p.key.range, best);
}

Json Sema::literalJson(const Value &v) {
  switch (v.kind) {
  case Value::Kind::String:
  case Value::Kind::Ref:
    return v.text;
  case Value::Kind::Int:
    return v.intValue;
  case Value::Kind::Float:
    return v.floatValue;
  case Value::Kind::Bool:
    return v.boolValue;
  case Value::Kind::List: {
    Json list = Json::array();
    for (const Value &item : v.items)
      list.push_back(literalJson(item));
    return list;
  }
  case Value::Kind::Map: {
    Json map = Json::object();
    for (const ast::MapEntry &e : v.entries)
      map[e.key.text] = literalJson(*e.value);
    return map;
  }
  }
  return nullptr;
}

ir::Template Sema::makeTemplate(const Value &v) {
  std::vector<ir::TemplateError> errors;
  ir::Template t = ir::parseTemplate(v.text, v.contentOffset, v.offsetsExact,
                                     v.range, errors);
  for (const ir::TemplateError &e : errors)
    report(e.range, diag::err_bad_template) << e.message;
  return t;
}

ir::Template Sema::makeTemplate(const std::string &text, SourceRange range) {
  std::vector<ir::TemplateError> errors;
  ir::Template t = ir::parseTemplate(text, range.begin, false, range, errors);
  for (const ir::TemplateError &e : errors)
    report(e.range, diag::err_bad_template) << e.message;
  return t;
}

ir::ExprPtr Sema::makeExpr(const Value &v) {
  ir::ExprError error;
  ir::ExprPtr e = ir::parseExpr(v.text, v.contentOffset, v.offsetsExact,
                                v.range, error);
  if (!e) {
    report(error.range, diag::err_expr_parse) << error.message;
    return nullptr;
  }
  ir::forEachCall(*e, [&](const ir::Expr &call) {
    const ir::BuiltinFunction *fn = ir::findBuiltin(call.op);
    if (!fn) {
      std::vector<std::string_view> names;
      for (const ir::BuiltinFunction &f : ir::builtinFunctions())
        names.push_back(f.name);
      auto b = report(call.range, diag::err_expr_unknown_function);
    b << call.op;
      std::string best = closestMatch(call.op, names);
      if (!best.empty())
        b.note(diag::note_did_you_mean, {best});
      return;
    }
    int n = call.args.size();
    // A quantifier `all(x in list: cond)` has its own shape (the parser
    // checked it).
    if (!call.var.empty())
      return;
    if (n < fn->minArgs || (fn->maxArgs >= 0 && n > fn->maxArgs)) {
      std::string want =
          fn->minArgs == fn->maxArgs
              ? std::to_string(fn->minArgs) + " argument" +
                    (fn->minArgs == 1 ? "" : "s")
              : "at least " + std::to_string(fn->minArgs) + " argument" +
                    (fn->minArgs == 1 ? "" : "s");
      report(call.range, diag::err_expr_arity)
          << fn->signature << want << std::to_string(n);
    }
  });
  return e;
}

/// Where each value of a tool command or script lands (C130, C131).
void Sema::checkToolValues(const Property &body, const ir::Node &node,
                           bool isScript) {
  const std::string &lang = node.language;
  bool shell = !isScript || lang.empty() || lang == "sh" || lang == "bash";
  const Value &v = body.value;
  std::vector<ir::ShellFinding> findings =
      shell ? ir::checkShellCommand(node.command, lang == "bash",
                                    v.offsetsExact, v.contentOffset)
            : ir::checkScriptValues(node.command, lang);
  for (const ir::ShellFinding &f : findings) {
    auto b = report(f.range, f.refused ? diag::err_shell_value_context
                                       : diag::warn_shell_value_code);
    b << f.what << f.why << f.advice;
    for (const auto &[range, text] : f.fixIts)
      b << FixIt(range, text);
  }
}

void Sema::checkEnv(const Value &v) {
  size_t at = 0;
  std::string problem = ir::checkEnvRefs(v.text, at);
  if (problem.empty())
    return;
  SourceRange range = v.offsetsExact
                          ? SourceRange(v.contentOffset + at,
                                        v.contentOffset + at + 2)
                          : v.range;
  report(range, diag::err_env_ref) << problem;
}

/// Go-style durations: "300ms", "30s", "5m", "1h30m", "1.5h".
static bool parseDurationText(std::string_view s, int64_t &ms) {
  if (s.empty())
    return false;
  double total = 0;
  size_t i = 0;
  while (i < s.size()) {
    size_t start = i;
    while (i < s.size() && (std::isdigit((unsigned char)s[i]) || s[i] == '.'))
      ++i;
    if (i == start)
      return false;
    double n = std::strtod(std::string(s.substr(start, i - start)).c_str(),
                           nullptr);
    size_t u = i;
    while (i < s.size() && std::isalpha((unsigned char)s[i]))
      ++i;
    std::string_view unit = s.substr(u, i - u);
    double factor;
    if (unit == "ms")
      factor = 1;
    else if (unit == "s")
      factor = 1000;
    else if (unit == "m")
      factor = 60000;
    else if (unit == "h")
      factor = 3600000;
    else
      return false;
    total += n * factor;
  }
  if (!std::isfinite(total) || total > 1e15)
    return false;
  ms = static_cast<int64_t>(total);
  return true;
}

bool Sema::parseDuration(const Property &p, int64_t &ms) {
  if (p.isBlock) {
    invalidValue(p, "a string");
    return false;
  }
  return parseDuration(p.value, p.key.text, ms);
}

/// A duration written as a string ("30s") or a bare integer of seconds.
bool Sema::parseDuration(const Value &v, const std::string &key, int64_t &ms) {
  if (v.kind == Value::Kind::Int) {
    constexpr int64_t maxSeconds = int64_t(1e12);
    if (v.intValue > maxSeconds || v.intValue < -maxSeconds) {
      report(v.range, diag::err_bad_duration) << v.text;
      return false;
    }
    ms = v.intValue * 1000;
    return true;
  }
  if (!v.isString() && !v.isWord()) {
    report(v.range, diag::err_invalid_value)
        << describeValue(v) << key << "a duration such as \"30s\"";
    return false;
  }
  if (v.text.find("${") != std::string::npos)
    return false;
  if (!parseDurationText(v.text, ms)) {
    report(v.range, diag::err_bad_duration) << v.text;
    return false;
  }
  return true;
}

//===----------------------------------------------------------------------===//
// Pass 1: collect declarations
//===----------------------------------------------------------------------===//

static bool isReserved(std::string_view name) {
  return name == "done" || name == "fail";
}

bool Sema::checkFieldType(const ast::TypeRef &type, ir::TypeKind &out,
                          bool allowFiles) {
  const std::string &n = type.name.text;
  if (type.list) {
    if (n == "string") {
      out = ir::TypeKind::StringList;
      return true;
    }
  } else if (n == "string") {
    out = ir::TypeKind::String;
    return true;
  } else if (n == "bool") {
    out = ir::TypeKind::Bool;
    return true;
  } else if (n == "int") {
    out = ir::TypeKind::Int;
    return true;
  } else if (n == "float") {
    out = ir::TypeKind::Float;
    return true;
  } else if (n == "json") {
    out = ir::TypeKind::Json;
    return true;
  } else if (n == "files" && allowFiles) {
    out = ir::TypeKind::Files;
    return true;
  }
  auto b = report(type.range, diag::err_invalid_type);
    b << (n + (type.list ? "[]" : ""));
  std::string best = closestMatch(
      n, {"string", "bool", "int", "float", "json", "files"});
  if (!best.empty() && !type.list)
    b << FixIt(type.name.range, best);
  out = ir::TypeKind::Json;
  return false;
}

void Sema::addVars(const ast::VarsDecl &decl, bool workflowLevel) {
  for (const ast::Field &f : decl.vars) {
    ir::Var var;
    var.name = f.name.text;
    var.range = f.range;
    checkFieldType(f.type, var.type, false);
    for (const Value &e : f.enumValues)
      var.enumValues.push_back(e.text);
    if (f.hasEnum && var.type != ir::TypeKind::String)
      report(f.type.range, diag::err_enum_on_non_string)
          << var.name << ir::typeName(var.type);
    if (!f.modifier.text.empty())
      checkSecret(f, var);
    if (f.defaultValue) {
      const Value &d = *f.defaultValue;
      var.hasDefault = true;
      var.defaultValue = literalJson(d);
      bool ok = true;
      switch (var.type) {
      case ir::TypeKind::String:
        ok = d.isString() || d.kind == Value::Kind::Ref;
        if (ok)
          checkEnv(d);
        break;
      case ir::TypeKind::Bool:
        ok = d.kind == Value::Kind::Bool;
        break;
      case ir::TypeKind::Int:
        ok = d.kind == Value::Kind::Int;
        break;
      case ir::TypeKind::Float:
        ok = d.isNumber();
        break;
      case ir::TypeKind::StringList:
        ok = d.kind == Value::Kind::List || d.isString();
        break;
      case ir::TypeKind::Json:
      case ir::TypeKind::Files:
        ok = true;
        break;
      }
      if (!ok) {
        std::string got = d.kind == Value::Kind::String  ? "a string"
                          : d.kind == Value::Kind::Int   ? "an integer"
                          : d.kind == Value::Kind::Float ? "a number"
                          : d.kind == Value::Kind::Bool  ? "a bool"
                                                         : "a structured value";
        report(d.range, diag::err_var_default_type)
            << var.name << got << ir::typeName(var.type);
      } else if (!var.enumValues.empty() && d.isString() &&
                 std::find(var.enumValues.begin(), var.enumValues.end(),
                           d.text) == var.enumValues.end()) {
        report(d.range, diag::err_enum_default) << d.text << var.name;
      }
    }
    auto it = varIndex.find(var.name);
    if (it != varIndex.end()) {
      if (workflowLevel) {
        // The workflow's own declaration wins over the file's.
        module->vars[it->second] = std::move(var);
        continue;
      }
      report(f.name.range, diag::err_duplicate_decl) << "variable" << var.name;
      continue;
    }
    varIndex[var.name] = module->vars.size();
    module->vars.push_back(std::move(var));
  }
}

/// `name: type secret`: the only modifier (C134), on a string (C134). A
/// literal default would be written into the generated source and the
/// executable, so it is worth a warning (C135): secrets come from the
/// environment (`"${NAME}"`) or `--var`.
void Sema::checkSecret(const ast::Field &f, ir::Var &var) {
  if (f.modifier.text != "secret") {
    auto b = report(f.modifier.range, diag::err_var_modifier);
    b << f.modifier.text << var.name;
    if (!closestMatch(f.modifier.text, {"secret"}).empty())
      b << FixIt(f.modifier.range, "secret");
    return;
  }
  var.secret = true;
  if (var.type != ir::TypeKind::String) {
    report(f.modifier.range, diag::err_secret_type)
        << var.name << ir::typeName(var.type);
    return;
  }
  if (f.defaultValue && f.defaultValue->isString() &&
      !f.defaultValue->text.empty() &&
      f.defaultValue->text.find("${") == std::string::npos)
    report(f.defaultValue->range, diag::warn_secret_literal) << var.name;
}

void Sema::addPrompt(const ast::PromptDecl &decl) {
  const std::string &name = decl.name.text;
  if (isReserved(name))
    report(decl.name.range, diag::err_reserved_name) << name << "prompt";
  if (promptIndex.count(name)) {
    report(decl.name.range, diag::err_duplicate_decl)
        .note(fileId, module->prompts[promptIndex[name]].range,
              diag::note_previous_here)
        << "prompt" << name;
    return;
  }
  ir::Prompt prompt;
  prompt.name = name;
  prompt.range = decl.name.range;
  // Split line by line so that every reference keeps its exact position.
  std::vector<ir::TemplateError> errors;
  for (size_t i = 0; i < decl.lines.size(); ++i) {
    const ast::PromptLine &line = decl.lines[i];
    ir::Template t = ir::parseTemplate(line.text, line.offset, true,
                                       SourceRange(line.offset, line.offset),
                                       errors);
    if (i > 0) {
      if (!prompt.body.parts.empty() && !prompt.body.parts.back().isRef)
        prompt.body.parts.back().literal += "\n";
      else {
        ir::TemplatePart nl;
        nl.literal = "\n";
        prompt.body.parts.push_back(nl);
      }
    }
    for (ir::TemplatePart &part : t.parts) {
      if (!part.isRef && !prompt.body.parts.empty() &&
          !prompt.body.parts.back().isRef)
        prompt.body.parts.back().literal += part.literal;
      else
        prompt.body.parts.push_back(std::move(part));
    }
  }
  prompt.body.source = decl.body();
  prompt.body.range = decl.range;
  for (const ir::TemplateError &e : errors)
    report(e.range, diag::err_bad_template) << e.message;
  promptIndex[name] = module->prompts.size();
  module->prompts.push_back(std::move(prompt));
  promptDecls.push_back(&decl);
}

void Sema::addSchema(const ast::SchemaDecl &decl) {
  const std::string &name = decl.name.text;
  if (isReserved(name))
    report(decl.name.range, diag::err_reserved_name) << name << "schema";
  if (schemaIndex.count(name)) {
    report(decl.name.range, diag::err_duplicate_decl)
        .note(fileId, module->schemas[schemaIndex[name]].range,
              diag::note_previous_here)
        << "schema" << name;
    return;
  }
  ir::Schema schema;
  schema.name = name;
  schema.range = decl.name.range;
  std::unordered_set<std::string> seen;
  for (const ast::Field &f : decl.fields) {
    if (!seen.insert(f.name.text).second) {
      report(f.name.range, diag::err_duplicate_decl) << "field" << f.name.text;
      continue;
    }
    ir::Field field;
    field.name = f.name.text;
    field.range = f.range;
    checkFieldType(f.type, field.type, true);
    for (const Value &e : f.enumValues) {
      if (!e.isString() && e.kind != Value::Kind::Ref)
        report(e.range, diag::err_invalid_value)
            << describeValue(e) << "enum" << "a string";
      field.enumValues.push_back(e.text);
    }
    if (f.hasEnum && field.type != ir::TypeKind::String)
      report(f.type.range, diag::err_enum_on_non_string)
          << field.name << ir::typeName(field.type);
    schema.fields.push_back(std::move(field));
  }
  schemaIndex[name] = module->schemas.size();
  module->schemas.push_back(std::move(schema));
  schemaDecls.push_back(&decl);
}

void Sema::addPresets() {
  if (!presetsDecl)
    return;
  std::unordered_set<std::string> seen;
  for (const ast::Preset &p : presetsDecl->presets) {
    if (!seen.insert(p.name.text).second) {
      report(p.name.range, diag::err_duplicate_decl) << "preset" << p.name.text;
      continue;
    }
    ir::Preset preset;
    preset.name = p.name.text;
    preset.range = p.range;
    for (const Property &value : p.values) {
      auto it = varIndex.find(value.key.text);
      if (it == varIndex.end()) {
        report(value.key.range, diag::err_preset_unknown_var)
            << preset.name << value.key.text;
        continue;
      }
      const ir::Var &var = module->vars[it->second];
      const Value &v = value.value;
      if (var.secret && !value.isBlock && v.isString() && !v.text.empty())
        report(v.range, diag::warn_secret_preset) << preset.name << var.name;
      bool ok = !value.isBlock;
      std::string got = "structured";
      if (ok) {
        switch (var.type) {
        case ir::TypeKind::String:
          ok = v.isString() || v.kind == Value::Kind::Ref;
          break;
        case ir::TypeKind::Bool:
          ok = v.kind == Value::Kind::Bool;
          break;
        case ir::TypeKind::Int:
          ok = v.kind == Value::Kind::Int;
          break;
        case ir::TypeKind::Float:
          ok = v.isNumber();
          break;
        default:
          ok = true;
        }
        got = v.kind == Value::Kind::String  ? "string"
              : v.kind == Value::Kind::Int   ? "int"
              : v.kind == Value::Kind::Float ? "float"
              : v.kind == Value::Kind::Bool  ? "bool"
                                             : "structured";
      }
      if (!ok) {
        report(value.isBlock ? value.key.range : v.range,
               diag::err_preset_type)
            << preset.name << var.name << got << ir::typeName(var.type);
        continue;
      }
      preset.values.emplace_back(var.name, literalJson(v));
    }
    module->presets.push_back(std::move(preset));
  }
}

void Sema::collect() {
  std::vector<std::string_view> nodeKeywords;
  for (const auto &declPtr : file.decls) {
    const ast::Decl &decl = *declPtr;
    switch (decl.getKind()) {
    case ast::Decl::Kind::Vars:
      if (topVars) {
        report(decl.keywordRange, diag::err_duplicate_block) << "vars";
        break;
      }
      topVars = static_cast<const ast::VarsDecl *>(&decl);
      break;
    case ast::Decl::Kind::Presets:
      if (presetsDecl) {
        report(decl.keywordRange, diag::err_duplicate_block) << "presets";
        break;
      }
      presetsDecl = static_cast<const ast::PresetsDecl *>(&decl);
      break;
    case ast::Decl::Kind::Prompt:
      addPrompt(static_cast<const ast::PromptDecl &>(decl));
      break;
    case ast::Decl::Kind::Schema:
      addSchema(static_cast<const ast::SchemaDecl &>(decl));
      break;
    case ast::Decl::Kind::Block: {
      const auto &block = static_cast<const ast::BlockDecl &>(decl);
      if (block.keyword == "attachments")
        report(decl.keywordRange, diag::err_unsupported_feature)
            << "'attachments'"
            << "a compiled workflow takes its inputs as variables";
      else if (block.keyword == "secrets")
        report(decl.keywordRange, diag::err_unsupported_feature)
            << "'secrets'"
            << "declare the value as a variable and pass it from the "
               "environment with ${NAME}";
      else
        report(decl.keywordRange, diag::err_unknown_declaration)
            << block.keyword;
      break;
    }
    case ast::Decl::Kind::Workflow: {
      const auto &wf = static_cast<const ast::WorkflowDecl &>(decl);
      if (workflowDecl) {
        report(wf.name.range, diag::err_multiple_workflows)
            .note(fileId, workflowDecl->name.range, diag::note_previous_here)
            << wf.name.text;
        break;
      }
      workflowDecl = &wf;
      break;
    }
    case ast::Decl::Kind::Node: {
      const auto &node = static_cast<const ast::NodeDecl &>(decl);
      if (node.keyword == "service") {
        if (serviceIndex.count(node.name.text)) {
          report(node.name.range, diag::err_duplicate_decl)
              << "service" << node.name.text;
          break;
        }
        serviceIndex[node.name.text] = serviceDecls.size();
        serviceDecls.push_back(&node);
        break;
      }
      if (node.keyword == "mcp_server") {
        lowerMcpServer(node);
        break;
      }
      if (node.keyword == "cursor") {
        report(node.keywordRange, diag::warn_unsupported_feature)
            << "'cursor'";
        break;
      }
      if (isReserved(node.name.text)) {
        report(node.name.range, diag::err_reserved_node_name)
            << node.name.text;
        break;
      }
      auto it = nodeIndex.find(node.name.text);
      if (it != nodeIndex.end()) {
        report(node.name.range, diag::err_duplicate_node)
            .note(fileId, nodeDecls[it->second]->name.range,
                  diag::note_previous_here)
            << node.name.text;
        break;
      }
      nodeIndex[node.name.text] = nodeDecls.size();
      nodeDecls.push_back(&node);
      break;
    }
    }
  }
  if (topVars)
    addVars(*topVars, false);
}

//===----------------------------------------------------------------------===//
// Pass 2: nodes
//===----------------------------------------------------------------------===//

int Sema::resolveSchema(const Property &p) {
  std::string name;
  if (p.isBlock || !p.value.isWord()) {
    if (!p.isBlock && p.value.isString()) {
      report(p.value.range, diag::err_invalid_value)
          << describeValue(p.value) << p.key.text
          << "a schema name without quotes"
          << FixIt(p.value.range, p.value.text);
      return -1;
    }
    invalidValue(p, "a schema name");
    return -1;
  }
  name = p.value.text;
  auto it = schemaIndex.find(name);
  if (it != schemaIndex.end())
    return it->second;
  auto b = report(p.value.range, diag::err_unknown_schema);
    b << name;
  std::vector<std::string_view> names;
  for (const ir::Schema &s : module->schemas)
    names.push_back(s.name);
  std::string best = closestMatch(name, names);
  if (!best.empty())
    b << FixIt(p.value.range, best);
  return -1;
}

int Sema::resolvePrompt(const Property &p) {
  if (p.isBlock || !p.value.isWord()) {
    if (!p.isBlock && p.value.isString()) {
      report(p.value.range, diag::err_invalid_value)
          << describeValue(p.value) << p.key.text
          << "the name of a prompt declared with 'prompt NAME:'";
      return -1;
    }
    invalidValue(p, "a prompt name");
    return -1;
  }
  const std::string &name = p.value.text;
  auto it = promptIndex.find(name);
  if (it != promptIndex.end())
    return it->second;
  auto b = report(p.value.range, diag::err_unknown_prompt);
    b << name;
  std::vector<std::string_view> names;
  for (const ir::Prompt &pr : module->prompts)
    names.push_back(pr.name);
  std::string best = closestMatch(name, names);
  if (!best.empty())
    b << FixIt(p.value.range, best);
  return -1;
}

/// Iterion properties iterc recognises without implementing. Returns true
/// when `p` was one of them (and has been reported).
bool Sema::handleUnsupported(const Property &p, const std::string &owner) {
  const std::string &key = p.key.text;
  if (key == "backend" || key == "default_backend" || key == "delegate") {
    std::string value = p.isBlock ? "" : p.value.text;
    if (value.empty() || value == "claw" || value == "auto")
      report(p.key.range, diag::warn_unsupported_feature)
          << ("'" + key + "'");
    else
      report(p.value.range, diag::err_unsupported_feature)
          << ("delegation to the '" + value + "' backend")
          << "iterc calls the model named by 'model' directly";
    return true;
  }
  if (key == "provider" || key == "tool_policy" || key == "capabilities" ||
      key == "cursors" || key == "interaction_timeout") {
    report(p.key.range, diag::warn_unsupported_feature) << ("'" + key + "'");
    return true;
  }
  if (key == "compaction") {
    if (p.isBlock) {
      for (const Property &c : p.children) {
        double v = 0;
        if (c.key.text == "threshold") {
          if (wantNumber(c, v) && !(v > 0 && v <= 1))
            report(c.value.range, diag::err_compaction_values)
                << "threshold" << "in (0, 1]";
        } else if (c.key.text == "preserve_recent") {
          int64_t n = 0;
          if (wantInt(c, n) && n < 1)
            report(c.value.range, diag::err_compaction_values)
                << "preserve_recent" << "at least 1";
        }
      }
    }
    report(p.key.range, diag::warn_unsupported_feature) << "'compaction'";
    return true;
  }
  if (key == "memory") {
    bool enabled = false;
    if (p.isBlock)
      for (const Property &c : p.children)
        if (c.key.text == "enabled" && !c.isBlock &&
            c.value.kind == Value::Kind::Bool)
          enabled = c.value.boolValue;
    if (enabled)
      report(p.key.range, diag::err_unsupported_feature)
          << "'memory'" << "an agent's tools would differ from what it asks for";
    else
      report(p.key.range, diag::warn_unsupported_feature) << "'memory'";
    return true;
  }
  if (key == "sandbox") {
    std::string mode;
    if (p.isBlock) {
      mode = "inline";
      for (const Property &c : p.children)
        if (c.key.text == "mode" && !c.isBlock)
          mode = c.value.text;
    } else {
      mode = p.value.text;
    }
    if (mode != "" && mode != "none" && mode != "auto" && mode != "inline") {
      report(p.isBlock ? p.key.range : p.value.range, diag::err_sandbox_mode)
          << mode;
      return true;
    }
    if (mode == "none" || mode.empty())
      report(p.key.range, diag::warn_unsupported_feature) << "'sandbox'";
    else
      report(p.key.range, diag::err_unsupported_feature)
          << "'sandbox'"
          << "run the generated container image to isolate the workflow";
    return true;
  }
  if (key == "worktree") {
    std::string mode = p.isBlock ? "" : p.value.text;
    if (mode == "auto")
      report(p.value.range, diag::err_unsupported_feature)
          << "'worktree: auto'"
          << "run the workflow in a checkout of its own instead";
    else
      report(p.key.range, diag::warn_unsupported_feature) << "'worktree'";
    return true;
  }
  if (key == "attachments") {
    report(p.key.range, diag::err_unsupported_feature)
        << "'attachments'" << "a compiled workflow takes its inputs as variables";
    return true;
  }
  (void)owner;
  return false;
}

static const std::vector<std::string_view> &agentKeys() {
  static const std::vector<std::string_view> keys = {"model",
                                                     "input",
                                                     "output",
                                                     "publish",
                                                     "system",
                                                     "user",
                                                     "session",
                                                     "tools",
                                                     "tool_max_steps",
                                                     "reasoning_effort",
                                                     "readonly",
                                                     "max_tokens",
                                                     "await",
                                                     "interaction",
                                                     "interaction_prompt",
                                                     "interaction_model",
                                                     "mcp",
                                                     "write_files",
                                                     "request_timeout"};
  return keys;
}

static bool parseAwait(const std::string &text, ir::AwaitMode &out) {
  if (text == "wait_all")
    out = ir::AwaitMode::WaitAll;
  else if (text == "best_effort")
    out = ir::AwaitMode::BestEffort;
  else if (text == "none")
    out = ir::AwaitMode::None;
  else
    return false;
  return true;
}

static bool parseInteraction(const std::string &text, ir::Interaction &out) {
  if (text == "human" || text == "pause_until_answers")
    out = ir::Interaction::Human;
  else if (text == "llm" || text == "auto_answer")
    out = ir::Interaction::Llm;
  else if (text == "llm_or_human" || text == "auto_or_pause")
    out = ir::Interaction::LlmOrHuman;
  else if (text == "none")
    out = ir::Interaction::None;
  else
    return false;
  return true;
}

void Sema::lowerAgentLike(const ast::NodeDecl &decl, ir::Node &node,
                          const Property &p) {
  const std::string &key = p.key.text;
  std::string text;
  if (key == "model") {
    if (wantString(p, node.model))
      checkEnv(p.value);
  } else if (key == "input") {
    node.input = resolveSchema(p);
  } else if (key == "output") {
    node.output = resolveSchema(p);
  } else if (key == "publish") {
    if (wantWord(p, node.publish))
      publishers[node.publish].push_back(node.index);
  } else if (key == "system") {
    node.system = resolvePrompt(p);
  } else if (key == "user") {
    node.user = resolvePrompt(p);
  } else if (key == "session") {
    if (!wantWord(p, text))
      return;
    if (text == "fresh")
      node.session = ir::SessionMode::Fresh;
    else if (text == "inherit")
      node.session = ir::SessionMode::Inherit;
    else if (text == "fork")
      node.session = ir::SessionMode::Fork;
    else if (text == "artifacts_only")
      node.session = ir::SessionMode::ArtifactsOnly;
    else if (text == "inherit_if_available")
      node.session = ir::SessionMode::InheritIfAvailable;
    else if (text == "persist")
      report(p.value.range, diag::err_unsupported_feature)
          << "'session: persist'"
          << "pass what the node must remember through its input";
    else
      invalidValue(p, "fresh, inherit, fork, artifacts_only or "
                      "inherit_if_available");
  } else if (key == "tools") {
    wantNames(p, node.tools);
  } else if (key == "tool_max_steps") {
    if (wantInt(p, node.toolMaxSteps) && node.toolMaxSteps < 1)
      invalidValue(p, "an integer of at least 1");
  } else if (key == "reasoning_effort") {
    if (!wantWord(p, text))
      return;
    node.reasoningEffort = text;
    if (text.find("${") != std::string::npos) {
      checkEnv(p.value);
      return;
    }
    static const std::set<std::string> efforts = {"low", "medium", "high",
                                                  "xhigh", "max"};
    if (!efforts.count(text))
      report(p.value.range, diag::err_reasoning_effort) << text;
  } else if (key == "readonly") {
    wantBool(p, node.readonly);
  } else if (key == "max_tokens") {
    int64_t n = 0;
    if (wantInt(p, n)) {
      if (n < 1)
        invalidValue(p, "an integer of at least 1");
      node.maxTokens = n;
    }
  } else if (key == "await") {
    if (wantWord(p, text) && !parseAwait(text, node.await))
      invalidValue(p, "wait_all or best_effort");
  } else if (key == "interaction") {
    if (wantWord(p, text) && !parseInteraction(text, node.interaction))
      invalidValue(p, "human, llm, llm_or_human or none");
  } else if (key == "interaction_prompt") {
    node.interactionPrompt = resolvePrompt(p);
  } else if (key == "interaction_model") {
    if (wantString(p, node.interactionModel))
      checkEnv(p.value);
  } else if (key == "mcp") {
    if (!wantBlock(p))
      return;
    for (const Property &c : p.children) {
      if (c.key.text == "servers") {
        std::vector<std::string> servers;
        wantNames(c, servers);
        for (const std::string &s : servers) {
          if (!mcpIndex.count(s))
            report(c.value.range, diag::err_mcp_config)
                << s << "no mcp_server with this name is declared";
          node.mcpServers.push_back(s);
        }
      } else if (c.key.text == "disable" || c.key.text == "inherit" ||
                 c.key.text == "autoload_project") {
        report(c.key.range, diag::warn_unsupported_feature)
            << ("'mcp." + c.key.text + "'");
      } else {
        unknownProperty(c, "an mcp block",
                        {"servers", "disable", "inherit", "autoload_project"});
      }
    }
  } else if (key == "write_files") {
    wantWord(p, node.writeFiles);
  } else if (key == "request_timeout") {
    lowerRequestTimeout(p, node);
  } else {
    (void)decl;
  }
}

/// `max_output: "4MiB"` (or a number of bytes): what a tool's stdout and
/// stderr each keep, 1 KiB to 1 GiB (C145).
void Sema::lowerMaxOutput(const Property &p, ir::Node &node) {
  std::optional<int64_t> bytes;
  if (!p.isBlock && p.value.kind == Value::Kind::Int)
    bytes = sema::parseByteSize(p.value.text);
  else if (!p.isBlock && p.value.isString())
    bytes = sema::parseByteSize(p.value.text);
  if (bytes && *bytes >= sema::minMaxOutput && *bytes <= sema::maxMaxOutput)
    node.maxOutputBytes = *bytes;
  else
    report(p.value.range, diag::err_tool_max_output) << node.name
                                                     << p.value.text;
}

/// `request_timeout: "5m"` (the total of each attempt) or a block of
/// `connect`, `first_byte` and `total`.
void Sema::lowerRequestTimeout(const Property &p, ir::Node &node) {
  auto positive = [&](const Property &q, const char *what, int64_t &out) {
    int64_t ms = 0;
    if (!parseDuration(q, ms))
      return;
    if (ms <= 0)
      report(q.value.range, diag::err_request_timeout) << node.name << what;
    else
      out = ms;
  };
  if (!p.isBlock) {
    positive(p, "total", node.requestTotalMs);
    return;
  }
  for (const Property &c : p.children) {
    if (c.key.text == "connect")
      positive(c, "connect", node.requestConnectMs);
    else if (c.key.text == "first_byte")
      positive(c, "first_byte", node.requestFirstByteMs);
    else if (c.key.text == "total")
      positive(c, "total", node.requestTotalMs);
    else
      unknownProperty(c, "a request_timeout block",
                      {"connect", "first_byte", "total"});
  }
  checkDeadlineOrder(p.key.range, node.name, node.requestConnectMs,
                     node.requestFirstByteMs, node.requestTotalMs);
}

/// C143 when `connect` or `first_byte` is not shorter than `total`.
void Sema::checkDeadlineOrder(SourceRange at, const std::string &owner,
                              int64_t connectMs, int64_t firstByteMs,
                              int64_t totalMs) {
  if (!totalMs)
    return;
  auto seconds = [](int64_t ms) {
    return ms % 1000 ? std::to_string(ms) + "ms"
                     : std::to_string(ms / 1000) + "s";
  };
  for (auto [what, ms] : {std::pair<const char *, int64_t>{"connect", connectMs},
                          {"first_byte", firstByteMs}})
    if (ms >= totalMs)
      report(at, diag::warn_request_timeout_order)
          << owner << what << seconds(ms) << seconds(totalMs);
}

/// `request_timeouts: {"openai/o3": {first_byte: "20m", total: "25m"},
/// "anthropic/*": "10m"}`: per model (or every model of a provider), the
/// deadlines of nodes that set no `request_timeout` of their own.
void Sema::lowerModelTimeouts(const Property &p) {
  const char *expected = "a map from \"provider/model\" or \"provider/*\" "
                         "to a duration or {connect, first_byte, total}";
  if (p.isBlock || p.value.kind != Value::Kind::Map) {
    invalidValue(p, expected);
    return;
  }
  for (const ast::MapEntry &e : p.value.entries) {
    ir::ModelTimeouts t;
    t.model = e.key.text;
    size_t slash = t.model.find('/');
    bool wellFormed = slash != std::string::npos && slash > 0 &&
                      slash + 1 < t.model.size() &&
                      t.model.find_first_of(" \t${") == std::string::npos &&
                      (t.model.find('*') == std::string::npos ||
                       t.model.substr(slash) == "/*");
    bool repeated = std::any_of(
        module->workflow.modelTimeouts.begin(), module->workflow.modelTimeouts.end(),
        [&](const ir::ModelTimeouts &o) { return o.model == t.model; });
    if (!wellFormed || repeated) {
      report(e.key.range, diag::err_invalid_value)
          << ("'" + t.model + "'" + (repeated ? " (given twice)" : ""))
          << p.key.text
          << "each key once, a model such as \"openai/o3\" or every "
             "model of a provider, \"openai/*\"";
      continue;
    }
    auto positive = [&](const Value &v, const std::string &key,
                        const char *what, int64_t &out) {
      int64_t ms = 0;
      if (!parseDuration(v, key, ms))
        return;
      if (ms <= 0)
        report(v.range, diag::err_request_timeout) << t.model << what;
      else
        out = ms;
    };
    const Value &v = *e.value;
    if (v.kind != Value::Kind::Map) {
      positive(v, p.key.text, "total", t.totalMs);
    } else {
      for (const ast::MapEntry &c : v.entries) {
        if (c.key.text == "connect")
          positive(*c.value, c.key.text, "connect", t.connectMs);
        else if (c.key.text == "first_byte")
          positive(*c.value, c.key.text, "first_byte", t.firstByteMs);
        else if (c.key.text == "total")
          positive(*c.value, c.key.text, "total", t.totalMs);
        else
          report(c.key.range, diag::err_invalid_value)
              << ("'" + c.key.text + "'") << p.key.text
              << "connect, first_byte or total";
      }
    }
    checkDeadlineOrder(e.key.range, t.model, t.connectMs, t.firstByteMs,
                       t.totalMs);
    module->workflow.modelTimeouts.push_back(std::move(t));
  }
}

void Sema::lowerNode(const ast::NodeDecl &decl, ir::Node &node) {
  const std::string &kw = decl.keyword;
  std::string owner = kw + " '" + decl.name.text + "'";
  std::string text;
  auto unknown = [&](const Property &p,
                     const std::vector<std::string_view> &keys) {
    if (!handleUnsupported(p, owner))
      unknownProperty(p, owner, keys);
  };

  if (kw == "agent" || kw == "judge") {
    node.kind = kw == "agent" ? ir::NodeKind::Agent : ir::NodeKind::Judge;
    for (const Property &p : decl.properties) {
      const auto &keys = agentKeys();
      if (std::find(keys.begin(), keys.end(), p.key.text) == keys.end()) {
        unknown(p, keys);
        continue;
      }
      lowerAgentLike(decl, node, p);
    }
    if (node.model.empty() && !decl.find("backend") && !decl.find("delegate"))
      report(decl.name.range, diag::err_missing_model) << kw << node.name;
    return;
  }

  if (kw == "router") {
    node.kind = ir::NodeKind::Router;
    static const std::vector<std::string_view> keys = {
        "mode",  "model",  "system",
        "user",  "multi",  "reasoning_effort",
        "input", "output", "request_timeout"};
    std::vector<const Property *> llmOnly;
    for (const Property &p : decl.properties) {
      const std::string &key = p.key.text;
      if (key == "mode") {
        if (!wantWord(p, text))
          continue;
        if (text == "fan_out_all")
          node.routerMode = ir::RouterMode::FanOutAll;
        else if (text == "condition")
          node.routerMode = ir::RouterMode::Condition;
        else if (text == "round_robin")
          node.routerMode = ir::RouterMode::RoundRobin;
        else if (text == "llm")
          node.routerMode = ir::RouterMode::Llm;
        else if (text == "fan_out_each")
          report(p.value.range, diag::err_unsupported_feature)
              << "'mode: fan_out_each'"
              << "fan out with 'fan_out_all' over one edge per branch";
        else
          invalidValue(p, "fan_out_all, condition, round_robin or llm");
      } else if (key == "multi") {
        wantBool(p, node.multi);
        llmOnly.push_back(&p);
      } else if (key == "model" || key == "system" || key == "user" ||
                 key == "reasoning_effort" || key == "input" ||
                 key == "output" || key == "request_timeout") {
        lowerAgentLike(decl, node, p);
        if (key != "input" && key != "output")
          llmOnly.push_back(&p);
      } else if (key == "backend" || key == "provider") {
        llmOnly.push_back(&p);
        handleUnsupported(p, owner);
      } else {
        unknown(p, keys);
      }
    }
    if (node.routerMode != ir::RouterMode::Llm)
      for (const Property *p : llmOnly)
        report(p->key.range, diag::err_llm_only_property) << p->key.text;
    if (node.routerMode == ir::RouterMode::Llm && node.model.empty())
      report(decl.name.range, diag::warn_llm_router_default_model)
          << node.name;
    return;
  }

  if (kw == "human") {
    node.kind = ir::NodeKind::Human;
    static const std::vector<std::string_view> keys = {"input",
                                                       "output",
                                                       "publish",
                                                       "instructions",
                                                       "interaction",
                                                       "interaction_prompt",
                                                       "interaction_model",
                                                       "model",
                                                       "system",
                                                       "min_answers",
                                                       "await",
                                                       "mode",
                                                       "request_timeout"};
    const Property *mode = nullptr, *interaction = nullptr;
    for (const Property &p : decl.properties) {
      const std::string &key = p.key.text;
      if (key == "instructions") {
        node.instructions = resolvePrompt(p);
      } else if (key == "min_answers") {
        if (wantInt(p, node.minAnswers) && node.minAnswers < 0)
          invalidValue(p, "a non-negative integer");
      } else if (key == "mode") {
        // The classic spelling: pause_until_answers | auto_answer |
        // auto_or_pause.
        mode = &p;
        if (wantWord(p, text)) {
          if (text != "pause_until_answers" && text != "auto_answer" &&
              text != "auto_or_pause")
            invalidValue(p, "pause_until_answers, auto_answer or "
                            "auto_or_pause");
          else
            parseInteraction(text, node.interaction);
        }
      } else if (key == "interaction") {
        interaction = &p;
        lowerAgentLike(decl, node, p);
      } else if (key == "input" || key == "output" || key == "publish" ||
                 key == "interaction_prompt" || key == "interaction_model" ||
                 key == "model" || key == "system" || key == "await" ||
                 key == "request_timeout") {
        lowerAgentLike(decl, node, p);
      } else {
        unknown(p, keys);
      }
    }
    if (mode && interaction)
      report(mode->key.range, diag::err_legacy_human_mode_conflict)
          << node.name;
    return;
  }

  if (kw == "tool") {
    node.kind = ir::NodeKind::Tool;
    static const std::vector<std::string_view> keys = {
        "command", "script", "language", "input", "output", "publish",
        "await", "timeout", "workdir", "env", "inherit_env", "capture",
        "approval", "restart", "max_output"};
    const Property *command = nullptr, *script = nullptr;
    for (const Property &p : decl.properties) {
      const std::string &key = p.key.text;
      if (key == "command") {
        command = &p;
        if (wantString(p, text)) {
          checkEnv(p.value);
          node.command = makeTemplate(p.value);
        }
      } else if (key == "script") {
        script = &p;
        if (wantString(p, node.script))
          node.command = makeTemplate(p.value);
      } else if (key == "language") {
        if (wantWord(p, node.language)) {
          static const std::set<std::string> langs = {
              "sh", "bash", "js", "node", "py", "python", "python3"};
          if (!langs.count(node.language))
            invalidValue(p, "sh, bash, node or python3");
        }
      } else if (key == "timeout") {
        int64_t ms = 0;
        if (parseDuration(p, ms)) {
          if (ms <= 0)
            report(p.value.range, diag::err_tool_timeout) << node.name;
          else
            node.timeoutMs = ms;
        }
      } else if (key == "max_output") {
        lowerMaxOutput(p, node);
      } else if (key == "workdir") {
        std::string confined;
        if (wantString(p, node.workdir))
          if (std::string problem =
                  sema::workdirProblem(node.workdir, confined);
              !problem.empty()) {
            auto b = report(p.value.range, diag::err_tool_workdir);
            b << node.workdir << node.name << problem;
            if (confined.find_first_of("\"\\") == std::string::npos)
              b << FixIt(p.value.range, "\"" + confined + "\"");
          }
      } else if (key == "env") {
        auto addEnv = [&](const ast::Name &k, const Value &v) {
          static const auto valid = [](const std::string &s) {
            if (s.empty() || std::isdigit((unsigned char)s[0]))
              return false;
            for (char c : s)
              if (!std::isalnum((unsigned char)c) && c != '_')
                return false;
            return true;
          };
          if (!valid(k.text))
            report(k.range, diag::err_env_name) << k.text;
          if (!v.isString() && !v.isNumber() && v.kind != Value::Kind::Bool &&
              v.kind != Value::Kind::Ref) {
            report(v.range, diag::err_invalid_value)
                << describeValue(v) << k.text << "a string";
            return;
          }
          node.env.emplace_back(k.text, v.isString() ? makeTemplate(v)
                                                     : makeTemplate(v.text,
                                                                    v.range));
        };
        if (p.isBlock) {
          for (const Property &c : p.children)
            addEnv(c.key, c.value);
        } else if (p.value.kind == Value::Kind::Map) {
          for (const ast::MapEntry &e : p.value.entries)
            addEnv(e.key, *e.value);
        } else {
          invalidValue(p, "a map such as { CI: \"1\" }");
        }
      } else if (key == "inherit_env") {
        wantNames(p, node.inheritEnv);
      } else if (key == "capture") {
        wantBool(p, node.capture);
      } else if (key == "restart") {
        // Services this tool rebuilds: started again once it succeeds.
        wantNames(p, node.restart);
        for (const std::string &name : node.restart)
          if (!serviceIndex.count(name)) {
            auto b = report(p.value.range, diag::err_unknown_service);
            b << name;
            std::vector<std::string_view> names;
            for (const ast::NodeDecl *s : serviceDecls)
              names.push_back(s->name.text);
            std::string best = closestMatch(name, names);
            if (!best.empty())
              b.note(fileId, serviceDecls[serviceIndex[best]]->name.range,
                     diag::note_declared_here, {best});
          }
      } else if (key == "approval") {
        if (wantWord(p, text)) {
          if (text == "required")
            node.approval = true;
          else if (text == "none")
            node.approval = false;
          else
            report(p.value.range, diag::err_approval) << text;
        }
      } else if (key == "input" || key == "output" || key == "publish" ||
                 key == "await") {
        lowerAgentLike(decl, node, p);
      } else {
        unknown(p, keys);
      }
    }
    if ((command != nullptr) == (script != nullptr))
      report(decl.name.range, diag::err_tool_command_and_script) << node.name;
    if (!node.language.empty() && !script)
      if (const Property *language = decl.find("language"))
        invalidValue(*language, "no language: 'language' applies only to "
                                "a 'script'");
    if (const Property *body = command ? command : script)
      checkToolValues(*body, node, script != nullptr);
    if (command && !node.command.hasRefs()) {
      static const std::set<std::string> builtins = {"privacy_filter",
                                                     "privacy_unfilter"};
      if (builtins.count(node.command.source))
        report(command->value.range, diag::warn_tool_builtin)
            << node.command.source;
    }
    return;
  }

  if (kw == "compute") {
    node.kind = ir::NodeKind::Compute;
    static const std::vector<std::string_view> keys = {"input", "output",
                                                       "publish", "await",
                                                       "expr"};
    const Property *expr = nullptr;
    for (const Property &p : decl.properties) {
      const std::string &key = p.key.text;
      if (key == "expr") {
        expr = &p;
        if (!wantBlock(p))
          continue;
        for (const Property &c : p.children) {
          std::string source;
          if (!wantString(c, source))
            continue;
          ir::Check check;
          check.name = c.key.text;
          check.source = source;
          check.range = c.range;
          check.expr = makeExpr(c.value);
          node.exprs.push_back(std::move(check));
        }
      } else if (key == "input" || key == "output" || key == "publish" ||
                 key == "await") {
        lowerAgentLike(decl, node, p);
      } else {
        unknown(p, keys);
      }
    }
    if (!expr || node.exprs.empty())
      report(decl.name.range, diag::err_compute_no_expr) << node.name;
    return;
  }

  if (kw == "join") {
    node.kind = ir::NodeKind::Join;
    node.await = ir::AwaitMode::WaitAll;
    static const std::vector<std::string_view> keys = {"strategy", "require",
                                                       "output"};
    for (const Property &p : decl.properties) {
      const std::string &key = p.key.text;
      if (key == "strategy") {
        if (wantWord(p, text) && (!parseAwait(text, node.await) ||
                                  node.await == ir::AwaitMode::None))
          invalidValue(p, "wait_all or best_effort");
      } else if (key == "require") {
        wantNames(p, node.require);
      } else if (key == "output") {
        node.output = resolveSchema(p);
      } else {
        unknown(p, keys);
      }
    }
    return;
  }

  if (kw == "verify") {
    node.kind = ir::NodeKind::Verify;
    static const std::vector<std::string_view> keys = {
        "input", "publish", "await", "checks", "http", "assertions"};
    for (const Property &p : decl.properties) {
      const std::string &key = p.key.text;
      if (key == "checks") {
        if (!wantBlock(p))
          continue;
        for (const Property &c : p.children) {
          std::string source;
          if (!wantString(c, source))
            continue;
          ir::Check check;
          check.name = c.key.text;
          check.source = source;
          check.range = c.range;
          check.expr = makeExpr(c.value);
          node.checks.push_back(std::move(check));
        }
      } else if (key == "http") {
        if (!wantBlock(p))
          continue;
        for (const Property &c : p.children) {
          ir::HttpCheck http;
          http.name = c.key.text;
          http.range = c.range;
          if (!wantBlock(c))
            continue;
          static const std::vector<std::string_view> httpKeys = {
              "service", "url", "method", "path", "body", "headers",
              "expect_status", "expect_body", "expect_json", "timeout"};
          bool haveTarget = false;
          for (const Property &h : c.children) {
            const std::string &hk = h.key.text;
            if (hk == "service") {
              if (wantWord(h, http.service)) {
                haveTarget = true;
                if (!serviceIndex.count(http.service)) {
                  auto b = report(h.value.range, diag::err_unknown_service);
    b << http.service;
                  std::vector<std::string_view> names;
                  for (const ast::NodeDecl *s : serviceDecls)
                    names.push_back(s->name.text);
                  std::string best = closestMatch(http.service, names);
                  if (!best.empty())
                    b << FixIt(h.value.range, best);
                }
              }
            } else if (hk == "url") {
              if (wantString(h, text)) {
                haveTarget = true;
                http.url = makeTemplate(h.value);
              }
            } else if (hk == "method") {
              if (wantWord(h, http.method)) {
                static const std::set<std::string> methods = {
                    "GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"};
                if (!methods.count(http.method))
                  report(h.value.range, diag::err_http_check_method)
                      << http.name << http.method;
              }
            } else if (hk == "path") {
              if (wantString(h, text)) {
                http.path = makeTemplate(h.value);
                if (!text.empty() && text[0] != '/')
                  report(h.value.range, diag::err_http_check)
                      << http.name << "the path must start with '/'";
              }
            } else if (hk == "body") {
              if (wantString(h, text))
                http.body = makeTemplate(h.value);
            } else if (hk == "headers") {
              if (!h.isBlock && h.value.kind == Value::Kind::Map) {
                for (const ast::MapEntry &e : h.value.entries)
                  http.headers.emplace_back(e.key.text,
                                            makeTemplate(*e.value));
              } else if (h.isBlock) {
                for (const Property &hh : h.children)
                  http.headers.emplace_back(hh.key.text,
                                            makeTemplate(hh.value));
              } else {
                invalidValue(h, "a map of header names to strings");
              }
            } else if (hk == "expect_status") {
              if (wantInt(h, http.expectStatus) &&
                  (http.expectStatus < 100 || http.expectStatus > 599))
                invalidValue(h, "an HTTP status between 100 and 599");
            } else if (hk == "expect_body") {
              std::string s;
              if (wantString(h, s))
                http.expectBodyContains = s;
            } else if (hk == "expect_json") {
              if (!wantBlock(h))
                continue;
              for (const Property &j : h.children) {
                std::string source;
                if (!wantString(j, source))
                  continue;
                ir::Check check;
                check.name = j.key.text;
                check.source = source;
                check.range = j.range;
                check.expr = makeExpr(j.value);
                http.expectJson.emplace_back(j.key.text, std::move(check));
              }
            } else if (hk == "timeout") {
              int64_t ms = 0;
              if (parseDuration(h, ms))
                http.timeoutMs = ms;
            } else {
              unknownProperty(h, "http check '" + http.name + "'", httpKeys);
            }
          }
          if (!haveTarget)
            report(c.key.range, diag::err_http_check)
                << http.name << "it needs a 'service' or a 'url'";
          node.httpChecks.push_back(std::move(http));
        }
      } else if (key == "assertions") {
        std::string source;
        if (wantString(p, source)) {
          node.assertions = makeTemplate(p.value);
          // The list comes from an earlier node; a literal would be
          // assertions written in the file, which `checks:` already are.
          if (!node.assertions.isSingleRef())
            report(p.value.range, diag::err_verify_assertions)
                << node.name << source;
        }
      } else if (key == "input" || key == "publish" || key == "await") {
        lowerAgentLike(decl, node, p);
      } else {
        unknown(p, keys);
      }
    }
    if (node.checks.empty() && node.httpChecks.empty() &&
        node.assertions.empty())
      report(decl.name.range, diag::err_verify_no_checks) << node.name;
    return;
  }
}

void Sema::lowerMcpServer(const ast::NodeDecl &decl) {
  if (mcpIndex.count(decl.name.text)) {
    report(decl.name.range, diag::err_duplicate_mcp_server) << decl.name.text;
    return;
  }
  ir::McpServer server;
  server.name = decl.name.text;
  server.range = decl.name.range;
  static const std::vector<std::string_view> keys = {"transport", "command",
                                                     "args", "url", "auth"};
  bool hasCommand = false, hasArgs = false, hasUrl = false;
  for (const Property &p : decl.properties) {
    const std::string &key = p.key.text;
    if (key == "transport") {
      if (wantWord(p, server.transport) && server.transport != "stdio" &&
          server.transport != "http" && server.transport != "sse")
        invalidValue(p, "stdio, http or sse");
    } else if (key == "command") {
      hasCommand = wantString(p, server.command);
      checkEnv(p.value);
    } else if (key == "args") {
      hasArgs = wantStrings(p, server.args);
    } else if (key == "url") {
      hasUrl = wantString(p, server.url);
      checkEnv(p.value);
    } else if (key == "auth") {
      if (!wantBlock(p))
        continue;
      for (const Property &a : p.children)
        if (a.key.text == "type" && !a.isBlock && a.value.text != "oauth2")
          report(a.value.range, diag::err_mcp_auth_type)
              << server.name << a.value.text;
    } else {
      unknownProperty(p, "mcp_server '" + server.name + "'", keys);
    }
  }
  if (server.transport.empty())
    server.transport = hasUrl ? "http" : "stdio";
  if (server.transport == "stdio" && !hasCommand)
    report(decl.name.range, diag::err_mcp_config)
        << server.name << "the stdio transport needs a 'command'";
  if (server.transport != "stdio") {
    if (!hasUrl)
      report(decl.name.range, diag::err_mcp_config)
          << server.name << "the " + server.transport + " transport needs a 'url'";
    if (hasCommand || hasArgs)
      report(decl.name.range, diag::err_mcp_config)
          << server.name
          << "the " + server.transport +
                 " transport cannot take 'command' or 'args'";
  }
  mcpIndex[server.name] = module->mcpServers.size();
  module->mcpServers.push_back(std::move(server));
}

/// Why `program` cannot be the file a generated Dockerfile copies from the
/// build context, or "" when it can: the path must stay inside the context
/// and hold nothing a Dockerfile COPY would expand, split or match.
/// An image reference the generated Dockerfile can name after FROM as is:
/// [registry/]name[:tag][@digest], so letters, digits and `._-/:@` only,
/// starting with a letter or digit.
static bool isImageReference(std::string_view ref) {
  if (ref.empty() || ref.size() > 255 ||
      !std::isalnum(static_cast<unsigned char>(ref[0])))
    return false;
  return std::all_of(ref.begin(), ref.end(), [](char c) {
    return (std::isalnum(static_cast<unsigned char>(c)) &&
            static_cast<unsigned char>(c) < 0x80) ||
           std::string_view("._-/:@").find(c) != std::string_view::npos;
  });
}

static std::string packagedProgramProblem(std::string_view program) {
  if (program.front() == '/')
    return "it is absolute; name it relative to the build context";
  for (char c : program) {
    unsigned char u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u == 0x7f)
      return "it holds a space or a control character, which a Dockerfile "
             "COPY line cannot carry";
    if (std::string_view("$\\\"'*?[]").find(c) != std::string_view::npos)
      return std::string("it holds '") + c +
             "', which a Dockerfile COPY would expand or match";
  }
  if (program.back() == '/')
    return "it names a directory";
  bool named = false;
  size_t start = 0;
  while (start <= program.size()) {
    size_t slash = program.find('/', start);
    std::string_view part = program.substr(
        start, slash == std::string_view::npos ? std::string_view::npos
                                               : slash - start);
    if (part == "..")
      return "it leaves the build context with '..'";
    if (!part.empty() && part != ".")
      named = true;
    if (slash == std::string_view::npos)
      break;
    start = slash + 1;
  }
  if (!named || program.substr(program.rfind('/') + 1) == ".")
    return "it names no file";
  return std::string();
}

void Sema::lowerService(const ast::NodeDecl &decl) {
  ir::Service svc;
  svc.name = decl.name.text;
  svc.range = decl.name.range;
  static const std::vector<std::string_view> keys = {
      "image", "build", "dockerfile", "program", "command", "ports",
      "env",   "health", "depends_on", "workdir", "restart", "max_restarts"};
  // The properties that say what runs. A property with an invalid value
  // (reported as such) still counts as present, so that the checks below
  // do not pile up on it.
  const Property *imageProp = nullptr, *buildProp = nullptr,
                 *dockerfileProp = nullptr, *programProp = nullptr,
                 *healthCommandProp = nullptr;
  bool invalidSource = false;
  auto wantSource = [&](const Property &p, std::string &out,
                        const Property *&given) {
    given = &p;
    if (!wantString(p, out)) {
      invalidSource = true;
    } else if (out.empty()) {
      invalidValue(p, "a non-empty string");
      invalidSource = true;
    }
  };
  for (const Property &p : decl.properties) {
    const std::string &key = p.key.text;
    std::string text;
    if (key == "restart") {
      if (wantWord(p, text)) {
        // Written as in compose ("on-failure"), or as a word (on_failure).
        if (text == "on-failure" || text == "on_failure")
          svc.restart = "on-failure";
        else if (text == "always")
          svc.restart = text;
        else if (text != "no")
          invalidValue(p, "no, \"on-failure\" or always");
      }
    } else if (key == "max_restarts") {
      int64_t n = 0;
      if (wantInt(p, n)) {
        if (n < 1 || n > 100)
          invalidValue(p, "an integer from 1 to 100");
        else
          svc.maxRestarts = n;
      }
    } else if (key == "image") {
      wantSource(p, svc.image, imageProp);
    } else if (key == "build") {
      wantSource(p, svc.buildContext, buildProp);
    } else if (key == "dockerfile") {
      wantSource(p, svc.dockerfile, dockerfileProp);
    } else if (key == "program") {
      wantSource(p, svc.program, programProp);
    } else if (key == "command") {
      wantStrings(p, svc.command);
    } else if (key == "ports") {
      std::vector<std::string> ports;
      wantStrings(p, ports);
      for (size_t i = 0; i < ports.size(); ++i) {
        const std::string &port = ports[i];
        auto validPart = [](std::string_view s) {
          if (s.empty() || s.size() > 5)
            return false;
          for (char c : s)
            if (!std::isdigit((unsigned char)c))
              return false;
          long n = std::stol(std::string(s));
          return n >= 1 && n <= 65535;
        };
        size_t colon = port.find(':');
        bool ok = colon == std::string::npos
                      ? validPart(port)
                      : validPart(std::string_view(port).substr(0, colon)) &&
                            validPart(std::string_view(port).substr(colon + 1));
        if (!ok) {
          SourceRange r = p.value.kind == Value::Kind::List &&
                                  i < p.value.items.size()
                              ? p.value.items[i].range
                              : p.value.range;
          report(r, diag::err_port_spec) << port;
        }
        svc.ports.push_back(port);
      }
    } else if (key == "env") {
      auto addEnv = [&](const ast::Name &k, const Value &v, bool block) {
        if (block || (!v.isString() && !v.isNumber() &&
                      v.kind != Value::Kind::Bool &&
                      v.kind != Value::Kind::Ref)) {
          report(block ? k.range : v.range, diag::err_invalid_value)
              << (block ? std::string("a block") : describeValue(v)) << k.text
              << "a string";
          return;
        }
        svc.env.emplace_back(k.text, v.text);
      };
      if (p.isBlock) {
        for (const Property &c : p.children)
          addEnv(c.key, c.value, c.isBlock);
      } else if (p.value.kind == Value::Kind::Map) {
        for (const ast::MapEntry &e : p.value.entries)
          addEnv(e.key, *e.value, false);
      } else {
        invalidValue(p, "a map such as { LOG_LEVEL: \"debug\" }");
      }
    } else if (key == "health") {
      if (!wantBlock(p))
        continue;
      ir::HealthCheck health;
      for (const Property &h : p.children) {
        if (h.key.text == "command")
          healthCommandProp = &h;
        int64_t ms = 0;
        if (h.key.text == "http") {
          if (wantString(h, health.http) && !health.http.empty() &&
              health.http[0] != '/')
            invalidValue(h, "a path starting with '/'");
        } else if (h.key.text == "command") {
          wantStrings(h, health.command);
        } else if (h.key.text == "interval") {
          if (parseDuration(h, ms))
            health.intervalMs = ms;
        } else if (h.key.text == "timeout") {
          if (parseDuration(h, ms))
            health.timeoutMs = ms;
        } else if (h.key.text == "retries") {
          if (wantInt(h, health.retries) && health.retries < 0)
            invalidValue(h, "a non-negative integer");
        } else {
          unknownProperty(h, "a health check",
                          {"http", "command", "interval", "timeout",
                           "retries"});
        }
      }
      svc.health = health;
    } else if (key == "depends_on") {
      wantNames(p, svc.dependsOn);
      for (const std::string &dep : svc.dependsOn)
        if (!serviceIndex.count(dep))
          report(p.value.range, diag::err_unknown_service) << dep;
    } else if (key == "workdir") {
      wantString(p, svc.workdir);
    } else {
      unknownProperty(p, "service '" + svc.name + "'", keys);
    }
  }
  // A service has a container form (`image`, or `build` with `dockerfile`
  // or `program`), a local form (`program`), or both.
  if (imageProp && buildProp)
    report(decl.name.range, diag::err_service_image_and_build) << svc.name;
  else if (!imageProp && !buildProp && !programProp)
    report(decl.name.range, diag::err_service_source) << svc.name;
  if (dockerfileProp && !buildProp)
    report(dockerfileProp->key.range, diag::err_service_dockerfile) << svc.name;
  if (buildProp && !imageProp && !dockerfileProp && !invalidSource) {
    if (!programProp) {
      report(decl.name.range, diag::err_service_no_dockerfile)
          << svc.name << svc.buildContext;
    } else if (std::string problem = packagedProgramProblem(svc.program);
               !problem.empty()) {
      report(programProp->value.range, diag::err_service_program_path)
          << svc.program << svc.name << svc.buildContext << problem;
    } else if (healthCommandProp && svc.health &&
               !svc.health->command.empty()) {
      // The generated image holds the program and nothing else: no shell,
      // no wget, no pg_isready for a health command to run.
      report(healthCommandProp->key.range, diag::err_service_health_command)
          << svc.name;
    }
  }
  module->services.push_back(std::move(svc));
}

//===----------------------------------------------------------------------===//
// Pass 3: workflow and graph
//===----------------------------------------------------------------------===//

void Sema::lowerBudget(const Property &p) {
  if (!wantBlock(p))
    return;
  ir::Budget &b = module->workflow.budget;
  static const std::vector<std::string_view> keys = {
      "max_parallel_branches", "max_duration", "max_cost_usd", "max_tokens",
      "max_iterations"};
  for (const Property &c : p.children) {
    const std::string &key = c.key.text;
    int64_t n = 0;
    if (key == "max_parallel_branches" || key == "max_tokens" ||
        key == "max_iterations") {
      if (!wantInt(c, n))
        continue;
      if (n < 1) {
        report(c.value.range, diag::err_budget_value)
            << key << "an integer of at least 1";
        continue;
      }
      if (key == "max_parallel_branches")
        b.maxParallelBranches = n;
      else if (key == "max_tokens")
        b.maxTokens = n;
      else
        b.maxIterations = n;
    } else if (key == "max_duration") {
      int64_t ms = 0;
      if (parseDuration(c, ms)) {
        if (ms <= 0)
          report(c.value.range, diag::err_budget_value)
              << key << "a positive duration";
        b.maxDurationMs = ms;
        b.maxDurationText = c.value.text;
      }
    } else if (key == "max_cost_usd") {
      double v = 0;
      if (!wantNumber(c, v))
        continue;
      if (!std::isfinite(v) || v < 0) {
        report(c.value.range, diag::err_budget_cost);
        continue;
      }
      b.maxCostUsd = v;
    } else {
      unknownProperty(c, "budget", keys);
    }
  }
}

void Sema::lowerEdge(const ast::Edge &e) {
  ir::Workflow &wf = module->workflow;
  auto resolve = [&](const ast::Name &name) -> int {
    if (name.text == "done")
      return wf.doneIndex();
    if (name.text == "fail")
      return wf.failIndex();
    auto it = nodeIndex.find(name.text);
    if (it != nodeIndex.end())
      return it->second;
    auto b = report(name.range, diag::err_unknown_node);
    b << name.text;
    std::vector<std::string_view> names;
    for (const ast::NodeDecl *d : nodeDecls)
      names.push_back(d->name.text);
    std::string best = closestMatch(name.text, names);
    if (!best.empty()) {
      b << FixIt(name.range, best);
      b.note(fileId, nodeDecls[nodeIndex[best]]->name.range,
             diag::note_declared_here, {best});
    }
    return -1;
  };
  // A name lost to a syntax error has been reported already.
  if (e.src.text.empty() || e.dst.text.empty())
    return;
  int from = resolve(e.src);
  int to = resolve(e.dst);
  if (from < 0 || to < 0)
    return;
  if (wf.nodes[from].isTerminal()) {
    report(e.src.range, diag::err_edge_from_terminal) << e.src.text;
    return;
  }
  ir::Edge edge;
  edge.index = wf.edges.size();
  edge.from = from;
  edge.to = to;
  edge.range = e.range;
  if (e.when) {
    edge.condRange = e.when->range;
    if (e.when->isExpr) {
      edge.cond = ir::Edge::Cond::Expr;
      edge.exprText = e.when->expr.text;
      edge.expr = makeExpr(e.when->expr);
      // `when not "..."` was reported by the parser; keep the edge but do
      // not judge its siblings by a condition the author did not write.
      if (e.when->negated)
        recoveredSources.insert(from);
      bool readsValue = false;
      if (edge.expr)
        ir::forEachPath(*edge.expr,
                        [&](const ir::Expr &) { readsValue = true; });
      if (edge.expr && !readsValue)
        report(e.when->expr.range, diag::warn_expr_always) << edge.exprText;
    } else if (e.when->field.text.empty()) {
      recoveredSources.insert(from);  // The parser reported the clause.
    } else {
      edge.cond = ir::Edge::Cond::Field;
      edge.field = e.when->field.text;
      edge.negated = e.when->negated;
    }
  }
  if (e.loop) {
    const std::string &name = e.loop->name.text;
    auto it = loopIndex.find(name);
    std::optional<int64_t> cap;
    ir::Template capTemplate;
    const Value &capValue = e.loop->cap;
    if (capValue.kind == Value::Kind::Int) {
      cap = capValue.intValue;
      if (*cap < 1)
        report(capValue.range, diag::err_loop_cap_too_small)
            << name << std::to_string(*cap);
    } else {
      capTemplate = makeTemplate(capValue);
      addRefs(capTemplate, from, -1, false, "");
    }
    if (it == loopIndex.end()) {
      ir::Loop loop;
      loop.name = name;
      loop.cap = cap;
      loop.capTemplate = capTemplate;
      loop.range = e.loop->range;
      loopIndex[name] = wf.loops.size();
      wf.loops.push_back(std::move(loop));
      it = loopIndex.find(name);
    } else {
      ir::Loop &loop = wf.loops[it->second];
      bool same = loop.cap && cap ? *loop.cap == *cap
                                  : loop.capTemplate.source ==
                                        capTemplate.source;
      if (!same)
        report(e.loop->range, diag::err_loop_cap_mismatch)
            .note(fileId, loop.range, diag::note_loop_other_cap,
                  {name, loop.cap ? std::to_string(*loop.cap)
                                  : loop.capTemplate.source})
            << name
            << (cap ? std::to_string(*cap) : "\"" + capTemplate.source + "\"")
            << (loop.cap ? std::to_string(*loop.cap)
                         : "\"" + loop.capTemplate.source + "\"");
    }
    edge.loop = it->second;
    wf.loops[edge.loop].edges.push_back(edge.index);
  }
  if (e.with) {
    std::set<std::string> keys;
    for (const ast::MapEntry &entry : e.with->entries) {
      if (!keys.insert(entry.key.text).second) {
        report(entry.key.range, diag::err_duplicate_decl)
            << "'with' key" << entry.key.text;
        continue;
      }
      ir::WithEntry w;
      w.key = entry.key.text;
      w.range = entry.key.range.merge(entry.value->range);
      if (!entry.value->isString()) {
        report(entry.value->range, diag::err_invalid_value)
            << describeValue(*entry.value) << entry.key.text
            << "a string (quote it)";
        continue;
      }
      w.value = makeTemplate(*entry.value);
      edge.with.push_back(std::move(w));
    }
  }
  wf.edges.push_back(std::move(edge));
}

void Sema::lowerNoProgress(const Property &p) {
  if (!wantBlock(p))
    return;
  std::set<std::string> seen;
  for (const Property &c : p.children) {
    if (!seen.insert(c.key.text).second) {
      report(c.key.range, diag::err_duplicate_decl)
          << "no_progress entry" << c.key.text;
      continue;
    }
    noProgressProps.emplace_back(&c, c.key.text);
  }
}

void Sema::lowerWorkflow(const ast::WorkflowDecl &decl) {
  ir::Workflow &wf = module->workflow;
  wf.name = decl.name.text;
  wf.range = decl.name.range;
  // Workflow-level vars first: they may be used by everything else.
  for (const auto &vars : decl.vars)
    addVars(*vars, true);
  addPresets();

  // Nodes in declaration order, then the two terminals.
  wf.nodes.resize(nodeDecls.size());
  for (size_t i = 0; i < nodeDecls.size(); ++i) {
    wf.nodes[i].index = i;
    wf.nodes[i].name = nodeDecls[i]->name.text;
    wf.nodes[i].range = nodeDecls[i]->range;
    wf.nodes[i].nameRange = nodeDecls[i]->name.range;
  }
  for (ir::NodeKind kind : {ir::NodeKind::Done, ir::NodeKind::Fail}) {
    ir::Node terminal;
    terminal.kind = kind;
    terminal.name = ir::nodeKindName(kind);
    terminal.index = wf.nodes.size();
    wf.nodes.push_back(std::move(terminal));
  }

  static const std::vector<std::string_view> keys = {
      "entry",        "budget",      "interaction",     "mcp",
      "services",     "no_progress", "runner_image",    "request_timeouts"};
  const Property *entry = nullptr;
  for (const Property &p : decl.properties) {
    const std::string &key = p.key.text;
    std::string text;
    if (key == "entry") {
      entry = &p;
    } else if (key == "budget") {
      lowerBudget(p);
    } else if (key == "interaction") {
      if (wantWord(p, text) && !parseInteraction(text, wf.defaultInteraction))
        invalidValue(p, "human, llm, llm_or_human or none");
    } else if (key == "mcp") {
      if (!wantBlock(p))
        continue;
      for (const Property &c : p.children) {
        if (c.key.text == "servers") {
          wantNames(c, wf.mcpServers);
          for (const std::string &s : wf.mcpServers)
            if (!mcpIndex.count(s))
              report(c.value.range, diag::err_mcp_config)
                  << s << "no mcp_server with this name is declared";
        } else {
          report(c.key.range, diag::warn_unsupported_feature)
              << ("'mcp." + c.key.text + "'");
        }
      }
    } else if (key == "services") {
      wantNames(p, wf.services);
      for (const std::string &s : wf.services)
        if (!serviceIndex.count(s))
          report(p.value.range, diag::err_services_unknown) << wf.name << s;
    } else if (key == "no_progress") {
      lowerNoProgress(p);
    } else if (key == "request_timeouts") {
      lowerModelTimeouts(p);
    } else if (key == "runner_image") {
      if (wantString(p, wf.runnerImage) && !isImageReference(wf.runnerImage))
        invalidValue(p, "an image reference such as "
                        "\"docker.io/library/debian:12-slim\"");
    } else if (!handleUnsupported(p, "workflow")) {
      unknownProperty(p, "workflow '" + wf.name + "'", keys);
    }
  }

  // Node properties (they need vars, schemas, prompts, services, MCP).
  for (size_t i = 0; i < nodeDecls.size(); ++i) {
    ir::Node &node = wf.nodes[i];
    if (nodeDecls[i]->keyword == "human")
      node.interaction = wf.defaultInteraction;
    lowerNode(*nodeDecls[i], node);
  }
  for (const ast::NodeDecl *svc : serviceDecls)
    lowerService(*svc);
  // Tool commands run with /bin/sh, which the default FROM-scratch runner
  // image does not have: a note, since many runs never use the image.
  if (wf.runnerImage.empty() &&
      std::any_of(wf.nodes.begin(), wf.nodes.end(), [](const ir::Node &n) {
        return n.kind == ir::NodeKind::Tool;
      }))
    report(decl.name.range, diag::note_tools_in_scratch_image) << wf.name;

  if (!entry) {
    report(decl.name.range, diag::err_missing_entry) << wf.name;
  } else {
    std::string name;
    if (wantWord(*entry, name)) {
      if (name == "done" || name == "fail") {
        wf.entry = name == "done" ? wf.doneIndex() : wf.failIndex();
      } else if (nodeIndex.count(name)) {
        wf.entry = nodeIndex[name];
      } else {
        auto b = report(entry->value.range, diag::err_unknown_entry);
    b << name;
        std::vector<std::string_view> names;
        for (const ast::NodeDecl *d : nodeDecls)
          names.push_back(d->name.text);
        std::string best = closestMatch(name, names);
        if (!best.empty())
          b << FixIt(entry->value.range, best);
      }
    }
  }

  for (const ast::Edge &e : decl.edges)
    lowerEdge(e);

  for (const auto &[prop, name] : noProgressProps) {
    auto it = loopIndex.find(name);
    if (it == loopIndex.end()) {
      auto b = report(prop->key.range, diag::err_no_progress_loop);
    b << name;
      std::vector<std::string_view> names;
      for (const ir::Loop &l : wf.loops)
        names.push_back(l.name);
      std::string best = closestMatch(name, names);
      if (!best.empty())
        b << FixIt(prop->key.range, best);
      continue;
    }
    int64_t n = 0;
    if (!prop->isBlock && prop->value.kind == Value::Kind::Int &&
        prop->value.intValue >= 1)
      n = prop->value.intValue;
    else
      report(prop->isBlock ? prop->key.range : prop->value.range,
             diag::err_no_progress_count)
          << name;
    wf.loops[it->second].noProgress = n;
  }
}

/// Iterative Tarjan over the nodes; `useEdge` filters edges.
static void tarjan(const ir::Workflow &wf,
                   const std::function<bool(const ir::Edge &)> &useEdge,
                   std::vector<int> &sccOf, int &numScc) {
  size_t n = wf.nodes.size();
  sccOf.assign(n, -1);
  std::vector<int> index(n, -1), low(n, 0);
  std::vector<bool> onStack(n, false);
  std::vector<unsigned> stack;
  int counter = 0;
  numScc = 0;
  struct Frame {
    unsigned node;
    size_t next;
  };
  for (unsigned root = 0; root < n; ++root) {
    if (index[root] != -1)
      continue;
    std::vector<Frame> frames{{root, 0}};
    index[root] = low[root] = counter++;
    stack.push_back(root);
    onStack[root] = true;
    while (!frames.empty()) {
      Frame &f = frames.back();
      const std::vector<unsigned> &out = wf.outgoing[f.node];
      if (f.next < out.size()) {
        const ir::Edge &e = wf.edges[out[f.next++]];
        if (!useEdge(e))
          continue;
        unsigned w = e.to;
        if (index[w] == -1) {
          index[w] = low[w] = counter++;
          stack.push_back(w);
          onStack[w] = true;
          frames.push_back({w, 0});
        } else if (onStack[w]) {
          low[f.node] = std::min(low[f.node], index[w]);
        }
        continue;
      }
      unsigned v = f.node;
      frames.pop_back();
      if (!frames.empty())
        low[frames.back().node] = std::min(low[frames.back().node], low[v]);
      if (low[v] == index[v]) {
        for (;;) {
          unsigned w = stack.back();
          stack.pop_back();
          onStack[w] = false;
          sccOf[w] = numScc;
          if (w == v)
            break;
        }
        ++numScc;
      }
    }
  }
}

void Sema::computeGraph() {
  ir::Workflow &wf = module->workflow;
  size_t n = wf.nodes.size();
  wf.outgoing.assign(n, {});
  wf.incoming.assign(n, {});
  for (const ir::Edge &e : wf.edges) {
    wf.outgoing[e.from].push_back(e.index);
    wf.incoming[e.to].push_back(e.index);
  }

  // Reachability from entry (C016).
  reachableFromEntry.assign(n, false);
  std::vector<unsigned> work{wf.entry};
  reachableFromEntry[wf.entry] = true;
  while (!work.empty()) {
    unsigned v = work.back();
    work.pop_back();
    for (unsigned ei : wf.outgoing[v]) {
      unsigned w = wf.edges[ei].to;
      if (!reachableFromEntry[w]) {
        reachableFromEntry[w] = true;
        work.push_back(w);
      }
    }
  }

  // Strongly connected components of the whole graph.
  int numScc = 0;
  tarjan(wf, [](const ir::Edge &) { return true; }, scc, numScc);
  sccCyclic.assign(numScc, false);
  std::vector<int> sccSize(numScc, 0);
  for (unsigned v = 0; v < n; ++v)
    ++sccSize[scc[v]];
  sccSucc.assign(numScc, {});
  for (const ir::Edge &e : wf.edges) {
    if (scc[e.from] == scc[e.to]) {
      if (sccSize[scc[e.from]] > 1 || e.from == e.to)
        sccCyclic[scc[e.from]] = true;
    } else {
      sccSucc[scc[e.from]].push_back(scc[e.to]);
    }
  }

  // Cycles that no loop bounds (C019): SCCs of the graph without loop edges.
  std::vector<int> plainScc;
  int numPlain = 0;
  tarjan(wf, [](const ir::Edge &e) { return e.loop < 0; }, plainScc, numPlain);
  std::vector<int> plainSize(numPlain, 0);
  for (unsigned v = 0; v < n; ++v)
    ++plainSize[plainScc[v]];
  std::vector<int> reportedFor(numPlain, -1);
  // Report the last-declared edge inside each offending component: that is
  // the edge a reader sees closing the cycle.
  for (const ir::Edge &e : wf.edges) {
    if (e.loop >= 0 || plainScc[e.from] != plainScc[e.to])
      continue;
    int c = plainScc[e.from];
    if (plainSize[c] > 1 || e.from == e.to)
      reportedFor[c] = e.index;
  }
  for (int c = 0; c < numPlain; ++c) {
    if (reportedFor[c] < 0)
      continue;
    const ir::Edge &e = wf.edges[reportedFor[c]];
    report(e.range, diag::err_undeclared_cycle)
        << wf.nodes[e.from].name << wf.nodes[e.to].name;
  }

  // Loop bodies and entries.
  loopMember.assign(n, false);
  std::vector<int> mark(n, 0);
  int stamp = 0;
  for (ir::Loop &loop : wf.loops) {
    std::set<unsigned> body;
    for (unsigned ei : loop.edges) {
      const ir::Edge &e = wf.edges[ei];
      if (scc[e.from] != scc[e.to])
        continue;
      int comp = scc[e.from];
      // Forward from the target, backward from the source, inside the SCC.
      ++stamp;
      std::vector<unsigned> fwd{e.to};
      mark[e.to] = stamp;
      for (size_t i = 0; i < fwd.size(); ++i)
        for (unsigned oi : wf.outgoing[fwd[i]]) {
          unsigned w = wf.edges[oi].to;
          if (scc[w] == comp && mark[w] != stamp) {
            mark[w] = stamp;
            fwd.push_back(w);
          }
        }
      int fwdStamp = stamp;
      ++stamp;
      std::vector<unsigned> bwd{e.from};
      std::vector<int> seen;
      if (mark[e.from] == fwdStamp)
        body.insert(e.from);
      mark[e.from] = stamp;
      for (size_t i = 0; i < bwd.size(); ++i)
        for (unsigned ii : wf.incoming[bwd[i]]) {
          unsigned w = wf.edges[ii].from;
          if (scc[w] != comp || mark[w] == stamp)
            continue;
          if (mark[w] == fwdStamp)
            body.insert(w);
          mark[w] = stamp;
          bwd.push_back(w);
        }
      body.insert(e.to);
      body.insert(e.from);
    }
    loop.body.assign(body.begin(), body.end());
    for (unsigned v : loop.body) {
      loopMember[v] = true;
      bool entered = v == wf.entry;
      for (unsigned ii : wf.incoming[v])
        if (!body.count(wf.edges[ii].from))
          entered = true;
      if (entered)
        loop.entries.push_back(v);
    }
  }

  // Convergence points.
  for (unsigned v = 0; v < n; ++v) {
    const ir::Node &node = wf.nodes[v];
    if (node.isTerminal())
      continue;
    std::set<unsigned> sources;
    for (unsigned ii : wf.incoming[v])
      if (wf.edges[ii].loop < 0)
        sources.insert(wf.edges[ii].from);
    if (node.await != ir::AwaitMode::None || node.kind == ir::NodeKind::Join ||
        sources.size() >= 2)
      wf.convergencePoints.push_back(v);
  }
}

bool Sema::reaches(unsigned from, unsigned to) {
  int a = scc[from], b = scc[to];
  if (a == b)
    return from != to || sccCyclic[a];
  // Tarjan numbers SCCs in reverse topological order: an edge A->B between
  // components implies A > B, so only components above `b` can lead to it.
  if (a < b)
    return false;
  uint64_t key = (uint64_t(a) << 32) | uint64_t(b);
  auto it = reachCache.find(key);
  if (it != reachCache.end())
    return it->second;
  std::vector<int> work{a};
  std::unordered_set<int> seen{a};
  bool found = false;
  while (!work.empty() && !found) {
    int c = work.back();
    work.pop_back();
    for (int d : sccSucc[c]) {
      if (d == b) {
        found = true;
        break;
      }
      if (d > b && seen.insert(d).second)
        work.push_back(d);
    }
  }
  reachCache[key] = found;
  return found;
}

bool Sema::inLoopBody(unsigned node) const { return loopMember[node]; }

//===----------------------------------------------------------------------===//
// Pass 4: edge rules and references
//===----------------------------------------------------------------------===//

void Sema::checkEdges() {
  ir::Workflow &wf = module->workflow;
  const auto schemaOf = [&](const ir::Node &node) -> const ir::Schema * {
    return node.output >= 0 ? &module->schemas[node.output] : nullptr;
  };
  for (const ir::Node &node : wf.nodes) {
    if (node.isTerminal())
      continue;
    if (!reachableFromEntry[node.index])
      report(node.nameRange, diag::err_unreachable_node)
          << node.name << wf.nodes[wf.entry].name;
    if (node.await != ir::AwaitMode::None &&
        node.kind != ir::NodeKind::Join &&
        (node.session == ir::SessionMode::Inherit ||
         node.session == ir::SessionMode::Fork ||
         node.session == ir::SessionMode::InheritIfAvailable))
      report(node.nameRange, diag::err_session_at_convergence)
          << node.name << ir::sessionModeName(node.session);
    if (node.maxTokens && wf.budget.maxTokens &&
        *node.maxTokens > *wf.budget.maxTokens)
      report(node.nameRange, diag::warn_max_tokens_over_budget)
          << std::to_string(*node.maxTokens) << node.name
          << std::to_string(*wf.budget.maxTokens);
    if (!node.writeFiles.empty()) {
      const ir::Schema *out = schemaOf(node);
      const ir::Field *f = out ? out->find(node.writeFiles) : nullptr;
      if (!f || f->type != ir::TypeKind::Files)
        report(node.nameRange, diag::err_write_files_field)
            << node.writeFiles << node.name;
    }
    if (node.kind == ir::NodeKind::Human &&
        (node.interaction == ir::Interaction::Llm ||
         node.interaction == ir::Interaction::LlmOrHuman)) {
      std::string missing;
      if (node.model.empty() && node.interactionModel.empty())
        missing = "'model' or 'interaction_model'";
      if (node.output < 0)
        missing += std::string(missing.empty() ? "" : " and ") + "'output'";
      if (!missing.empty())
        report(node.nameRange, diag::err_llm_human_requirements)
            << node.name << ir::interactionName(node.interaction) << missing;
    }

    const std::vector<unsigned> &out = wf.outgoing[node.index];
    bool isRouter = node.kind == ir::NodeKind::Router;
    bool takesAll = isRouter && (node.routerMode == ir::RouterMode::FanOutAll ||
                                 node.routerMode == ir::RouterMode::RoundRobin ||
                                 node.routerMode == ir::RouterMode::Llm);
    unsigned pureUnconditional = 0, unconditional = 0;
    const ir::Edge *firstPure = nullptr;
    bool hasConditional = false, hasFallback = false;
    std::map<std::pair<std::string, bool>, const ir::Edge *> seenFields;
    std::map<std::string, const ir::Edge *> seenExprs;
    std::set<std::string> positive, negative;
    for (unsigned ei : out) {
      const ir::Edge &e = wf.edges[ei];
      if (e.cond == ir::Edge::Cond::None) {
        ++unconditional;
        if (e.loop < 0) {
          ++pureUnconditional;
          if (pureUnconditional == 2 && !takesAll)
            report(e.range, diag::err_multiple_default_edges)
                .note(fileId, firstPure->range, diag::note_other_edge)
                << node.name;
          if (!firstPure)
            firstPure = &e;
        }
        hasFallback = true;
        continue;
      }
      if (e.loop >= 0)
        hasFallback = true;
      hasConditional = true;
      if (isRouter && node.routerMode == ir::RouterMode::FanOutAll) {
        report(e.condRange, diag::warn_fan_out_condition)
            << node.name << "fan_out_all";
        continue;
      }
      if (isRouter && node.routerMode == ir::RouterMode::Llm &&
          e.cond == ir::Edge::Cond::Field) {
        report(e.condRange, diag::err_llm_router_condition) << node.name;
        continue;
      }
      if (e.cond == ir::Edge::Cond::Expr) {
        auto [it, inserted] = seenExprs.emplace(e.exprText, &e);
        if (!inserted && !recoveredSources.count(node.index))
          report(e.condRange, diag::err_ambiguous_condition)
              .note(fileId, it->second->range, diag::note_other_edge)
              << e.exprText << node.name;
        continue;
      }
      auto [it, inserted] =
          seenFields.emplace(std::make_pair(e.field, e.negated), &e);
      if (!inserted)
        report(e.condRange, diag::err_ambiguous_condition)
            .note(fileId, it->second->range, diag::note_other_edge)
            << ((e.negated ? "not " : "") + e.field) << node.name;
      (e.negated ? negative : positive).insert(e.field);
      // C013 / C014 against the source's output schema.
      if (node.kind == ir::NodeKind::Verify) {
        if (e.field != "passed")
          report(e.condRange, diag::err_condition_field_missing)
              << "verify output" << node.name << e.field;
        continue;
      }
      const ir::Schema *schema = schemaOf(node);
      if (!schema)
        continue;
      const ir::Field *field = schema->find(e.field);
      if (!field) {
        auto b = report(e.condRange, diag::err_condition_field_missing);
    b << schema->name << node.name << e.field;
        std::vector<std::string_view> names;
        for (const ir::Field &f : schema->fields)
          if (f.type == ir::TypeKind::Bool)
            names.push_back(f.name);
        std::string best = closestMatch(e.field, names);
        if (!best.empty())
          b.note(diag::note_did_you_mean, {best});
        b.note(fileId, schema->range, diag::note_schema_here, {schema->name});
      } else if (field->type != ir::TypeKind::Bool) {
        report(e.condRange, diag::err_condition_not_bool)
            .note(fileId, field->range, diag::note_declared_here, {field->name})
            << e.field << node.name << ir::typeName(field->type);
      }
    }
    if (recoveredSources.count(node.index))
      continue;
    if (hasConditional && !hasFallback && !takesAll &&
        positive.empty() && negative.empty()) {
      report(node.nameRange, diag::err_missing_fallback_expr) << node.name;
    } else if (hasConditional && !hasFallback && !takesAll) {
      bool exhaustive = false;
      for (const std::string &f : positive)
        if (negative.count(f))
          exhaustive = true;
      if (!exhaustive) {
        std::string field = !positive.empty()   ? *positive.begin()
                            : !negative.empty() ? *negative.begin()
                                                : "f";
        report(node.nameRange, diag::err_missing_fallback)
            << node.name << field;
      }
    }
    if (isRouter && node.routerMode == ir::RouterMode::RoundRobin &&
        unconditional < 2)
      report(node.nameRange, diag::err_round_robin_edges) << node.name;
    if (isRouter && node.routerMode == ir::RouterMode::Llm && out.size() < 2)
      report(node.nameRange, diag::err_llm_router_edges) << node.name;
    if (node.kind == ir::NodeKind::Join && out.size() != 1)
      report(node.nameRange, diag::err_join_edges) << node.name;
    if (node.kind == ir::NodeKind::Join)
      for (const std::string &req : node.require) {
        auto it = nodeIndex.find(req);
        bool ok = false;
        if (it != nodeIndex.end())
          for (unsigned ii : wf.incoming[node.index])
            if (wf.edges[ii].from == unsigned(it->second))
              ok = true;
        if (!ok)
          report(node.nameRange, diag::err_join_require) << node.name << req;
      }
  }

  // C028: the same `with` key into one target from two unconditional edges.
  for (const ir::Node &node : wf.nodes) {
    std::map<std::string, const ir::Edge *> keys;
    for (unsigned ii : wf.incoming[node.index]) {
      const ir::Edge &e = wf.edges[ii];
      if (e.cond != ir::Edge::Cond::None || e.loop >= 0)
        continue;
      for (const ir::WithEntry &w : e.with) {
        auto [it, inserted] = keys.emplace(w.key, &e);
        if (!inserted && it->second->from != e.from)
          report(w.range, diag::err_duplicate_with_key)
              .note(fileId, it->second->range, diag::note_other_edge)
              << w.key << node.name << wf.nodes[it->second->from].name;
      }
    }
  }
}

void Sema::addRefs(const ir::Template &t, int consumer, int inputSchema,
                   bool inputChecked, const char *what, bool shell) {
  for (const ir::TemplateRef *ref : t.refs()) {
    RefSite site;
    site.ref = *ref;
    site.consumer = consumer;
    site.inputSchema = inputSchema;
    site.inputChecked = inputChecked;
    site.inputWhat = what;
    site.shellContext = shell;
    refSites.push_back(std::move(site));
  }
}

void Sema::checkOutputsRef(const ir::TemplateRef &ref, int consumer,
                           SourceRange range) {
  ir::Workflow &wf = module->workflow;
  const std::string &target = ref.path[0];
  auto it = nodeIndex.find(target);
  if (it == nodeIndex.end()) {
    auto b = report(range, diag::err_outputs_unknown_node);
    b << target;
    std::vector<std::string_view> names;
    for (const ast::NodeDecl *d : nodeDecls)
      names.push_back(d->name.text);
    std::string best = closestMatch(target, names);
    if (!best.empty())
      b.note(diag::note_did_you_mean, {best});
    return;
  }
  unsigned n = it->second;
  if (consumer >= 0 && unsigned(consumer) != n &&
      !reaches(n, unsigned(consumer))) {
    report(range, diag::err_ref_not_reachable)
        << target << wf.nodes[consumer].name;
    return;
  }
  if (ref.path.size() < 2)
    return;
  const std::string &field = ref.path[1];
  if (field == "history") {
    if (!inLoopBody(n))
      report(range, diag::err_history_not_in_loop) << target;
    return;
  }
  if (!field.empty() && field[0] == '_')
    return;
  const ir::Node &node = wf.nodes[n];
  if (node.kind == ir::NodeKind::Verify) {
    if (field != "passed" && field != "failures")
      report(range, diag::err_outputs_field_missing)
          << target << field << "passed, failures";
    return;
  }
  if (node.kind == ir::NodeKind::Tool && node.capture &&
      (field == "exit_code" || field == "stdout" || field == "stderr" ||
       field == "duration_ms" || field == "stdout_truncated" ||
       field == "stderr_truncated" || field == "stdout_bytes" ||
       field == "stderr_bytes"))
    return;
  if (node.output < 0) {
    report(range, diag::warn_outputs_no_schema) << target << ref.text;
    return;
  }
  const ir::Schema &schema = module->schemas[node.output];
  if (!schema.find(field)) {
    auto b = report(range, diag::err_outputs_field_missing);
    b << target << field << schema.name;
    std::vector<std::string_view> names;
    for (const ir::Field &f : schema.fields)
      names.push_back(f.name);
    std::string best = closestMatch(field, names);
    if (!best.empty())
      b.note(diag::note_did_you_mean, {best});
  }
}

void Sema::checkRef(const RefSite &site) {
  const ir::TemplateRef &ref = site.ref;
  SourceRange range = ref.range;
  switch (ref.ns) {
  case ir::RefNamespace::Vars: {
    const std::string &name = ref.path[0];
    if (!varIndex.count(name)) {
      auto b = report(range, diag::err_undeclared_var);
    b << name;
      std::vector<std::string_view> names;
      for (const ir::Var &v : module->vars)
        names.push_back(v.name);
      std::string best = closestMatch(name, names);
      if (!best.empty())
        b.note(diag::note_did_you_mean, {best});
    }
    return;
  }
  case ir::RefNamespace::Input: {
    if (!site.inputChecked || site.inputSchema < 0)
      return;
    const ir::Schema &schema = module->schemas[site.inputSchema];
    const std::string &field = ref.path[0];
    if (!field.empty() && field[0] == '_')
      return;
    if (!schema.find(field)) {
      auto b = report(range, diag::err_input_field_missing);
    b << field
               << (std::string(site.inputWhat) + " '" + schema.name + "'");
      std::vector<std::string_view> names;
      for (const ir::Field &f : schema.fields)
        names.push_back(f.name);
      std::string best = closestMatch(field, names);
      if (!best.empty())
        b.note(diag::note_did_you_mean, {best});
    }
    return;
  }
  case ir::RefNamespace::Outputs:
    checkOutputsRef(ref, site.consumer, range);
    return;
  case ir::RefNamespace::Artifacts: {
    const std::string &name = ref.path[0];
    if (!publishers.count(name)) {
      auto b = report(range, diag::err_unknown_artifact);
    b << name;
      std::vector<std::string_view> names;
      for (const auto &[k, v] : publishers)
        names.push_back(k);
      std::sort(names.begin(), names.end());
      std::string best = closestMatch(name, names);
      if (!best.empty())
        b.note(diag::note_did_you_mean, {best});
    }
    return;
  }
  case ir::RefNamespace::Loop: {
    const std::string &name = ref.path[0];
    if (!loopIndex.count(name)) {
      report(range, diag::err_unknown_loop_ref) << name;
      return;
    }
    if (ref.path.size() >= 2 && ref.path[1] != "iteration" &&
        ref.path[1] != "max" && ref.path[1] != "previous_output")
      report(range, diag::err_loop_ref_field) << name << ref.path[1];
    return;
  }
  case ir::RefNamespace::Run:
    if (ref.path[0] != "id")
      report(range, diag::err_run_ref_field) << ref.path[0];
    return;
  case ir::RefNamespace::Attachments:
    report(range, diag::err_unsupported_feature)
        << "'{{attachments...}}'"
        << "a compiled workflow takes its inputs as variables";
    return;
  }
}

void Sema::checkExprPaths(const ExprSite &site) {
  ir::forEachPath(*site.expr, [&](const ir::Expr &path) {
    if (path.path.empty())
      return;
    RefSite ref;
    ref.ref.ns = path.ns;
    ref.ref.path = path.path;
    ref.ref.text = ir::printExpr(path);
    ref.ref.range = path.range;
    ref.consumer = site.consumer;
    ref.inputSchema = site.inputSchema;
    ref.inputChecked = site.inputChecked;
    ref.inputWhat = site.inputWhat;
    checkRef(ref);
  });
}

void Sema::checkRefs() {
  ir::Workflow &wf = module->workflow;
  // Templates of each node: prompts, commands, checks.
  for (const ir::Node &node : wf.nodes) {
    if (node.isTerminal())
      continue;
    int in = node.input;
    const char *what = "the input schema";
    for (int prompt : {node.system, node.user, node.instructions,
                       node.interactionPrompt})
      if (prompt >= 0)
        addRefs(module->prompts[prompt].body, node.index, in, true, what);
    if (node.kind == ir::NodeKind::Tool) {
      addRefs(node.command, node.index, in, true, what, true);
      for (const auto &[k, v] : node.env)
        addRefs(v, node.index, in, true, what, true);
    }
    for (const ir::Check &c : node.checks)
      if (c.expr)
        exprSites.push_back({c.expr, int(node.index), in, true, what});
    for (const ir::Check &c : node.exprs)
      if (c.expr)
        exprSites.push_back({c.expr, int(node.index), in, true, what});
    addRefs(node.assertions, node.index, in, true, what);
    for (const ir::HttpCheck &h : node.httpChecks) {
      addRefs(h.url, node.index, in, true, what);
      addRefs(h.path, node.index, in, true, what);
      addRefs(h.body, node.index, in, true, what);
    }
  }
  // Edge mappings are evaluated when the source finishes: `{{input.x}}`
  // reads the source's output.
  for (const ir::Edge &e : wf.edges) {
    const ir::Node &src = wf.nodes[e.from];
    int schema = src.kind == ir::NodeKind::Router ? -1 : src.output;
    for (const ir::WithEntry &w : e.with)
      addRefs(w.value, e.from, schema, true, "the output schema");
    if (e.expr) {
      exprSites.push_back({e.expr, int(e.from), schema, true,
                           "the output schema"});
    }
  }
  for (const RefSite &site : refSites)
    checkRef(site);
  for (const ExprSite &site : exprSites)
    checkExprPaths(site);
}

std::unique_ptr<ir::Module> Sema::run() {
  module->sourceName = sources.getName(fileId);
  collect();
  if (!workflowDecl) {
    report(SourceRange(0, 0), diag::err_no_workflow);
    return nullptr;
  }
  lowerWorkflow(*workflowDecl);
  computeGraph();
  checkEdges();
  for (const sema::GateInBranch &g :
       sema::humanGatesInBranches(module->workflow))
    report(module->workflow.nodes[g.gate].nameRange, diag::err_human_in_branch)
        << module->workflow.nodes[g.gate].name
        << module->workflow.nodes[g.router].name;
  checkRefs();
  // Service dependency cycles.
  {
    size_t n = module->services.size();
    std::vector<int> state(n, 0);
    std::function<bool(size_t, std::vector<std::string> &)> visit =
        [&](size_t i, std::vector<std::string> &path) -> bool {
      state[i] = 1;
      path.push_back(module->services[i].name);
      for (const std::string &dep : module->services[i].dependsOn) {
        auto it = serviceIndex.find(dep);
        if (it == serviceIndex.end())
          continue;
        size_t j = it->second;
        if (state[j] == 1) {
          path.push_back(dep);
          return true;
        }
        if (state[j] == 0 && visit(j, path))
          return true;
      }
      path.pop_back();
      state[i] = 2;
      return false;
    };
    for (size_t i = 0; i < n; ++i) {
      std::vector<std::string> path;
      if (state[i] == 0 && visit(i, path)) {
        std::string text;
        for (size_t k = 0; k < path.size(); ++k)
          text += (k ? " -> " : "") + path[k];
        report(module->services[i].range, diag::err_service_cycle) << text;
        break;
      }
    }
  }
  return std::move(module);
}

std::unique_ptr<ir::Module> iterc::analyze(const ast::File &file,
                                           const SourceManager &sources,
                                           DiagnosticEngine &diags) {
  Sema sema(file, sources, diags);
  return sema.run();
}
