//===- CppEmitter.cpp - IR to C++ for runtime-lib -------------------------===//
//
// This file implements the C++ emitter. Generator objects mirror the output:
// SchemaGenerator writes a schema's type and its decode/encode functions,
// ExprGenerator turns an expression into a C++ expression over gen::Value,
// and TableGenerator writes the constant tables, naming every helper array
// after what it belongs to (kNode_review_user, kEdge3_with...) so that a
// diff of generated code reads like a diff of the workflow.
//
// Everything is emitted in declaration order; nothing hashed reaches output.
//
//===----------------------------------------------------------------------===//
#include "CodeGen/CppEmitter.h"
#include "Basic/Utf8.h"

#include "CodeGen/Printer.h"
#include "CodeGen/StackEmitter.h"
#include "Tools/GraphPrinter.h"

#include <kainjow/mustache.hpp>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <set>

using namespace iterc;
using namespace iterc::codegen;

namespace {

[[noreturn]] void bug(const std::string &message) {
  std::fprintf(stderr, "iterc: internal error in code generation: %s\n",
               message.c_str());
  std::abort();
}

bool isCppKeyword(const std::string &s) {
  static const std::set<std::string> keywords = {
      "alignas",       "alignof",     "and",
      "and_eq",        "asm",         "auto",
      "bitand",        "bitor",       "bool",
      "break",         "case",        "catch",
      "char",          "char8_t",     "char16_t",
      "char32_t",      "class",       "compl",
      "concept",       "const",       "consteval",
      "constexpr",     "constinit",   "const_cast",
      "continue",      "co_await",    "co_return",
      "co_yield",      "decltype",    "default",
      "delete",        "do",          "double",
      "dynamic_cast",  "else",        "enum",
      "explicit",      "export",      "extern",
      "false",         "float",       "for",
      "friend",        "goto",        "if",
      "inline",        "int",         "long",
      "mutable",       "namespace",   "new",
      "noexcept",      "not",         "not_eq",
      "nullptr",       "operator",    "or",
      "or_eq",         "private",     "protected",
      "public",        "register",    "reinterpret_cast",
      "requires",      "return",      "short",
      "signed",        "sizeof",      "static",
      "static_assert", "static_cast", "struct",
      "switch",        "template",    "this",
      "thread_local",  "throw",       "true",
      "try",           "typedef",     "typeid",
      "typename",      "union",       "unsigned",
      "using",         "virtual",     "void",
      "volatile",      "wchar_t",     "while",
      "xor",           "xor_eq",      "program",
      "decode",        "encode",      "std",
      "iterc",         "main"};
  return keywords.count(s) != 0;
}

/// A C++ identifier for arbitrary text: [A-Za-z0-9_] kept, anything else
/// '_', a leading digit prefixed, keywords suffixed.
std::string ident(const std::string &text) {
  std::string out;
  for (char c : text)
    out += (std::isalnum(static_cast<unsigned char>(c)) || c == '_') ? c : '_';
  if (out.empty() || std::isdigit(static_cast<unsigned char>(out[0])))
    out = "v_" + out;
  if (isCppKeyword(out) || out.find("__") != std::string::npos ||
      (out.size() > 1 && out[0] == '_' && std::isupper(out[1])))
    out += "_";
  return out;
}

std::string str(const std::string &text) { return cppString(text); }
std::string strOrNull(const std::string &text) {
  return text.empty() ? "nullptr" : cppString(text);
}
std::string boolText(bool b) { return b ? "true" : "false"; }
std::string num(int64_t v) { return std::to_string(v); }

std::string doubleText(double d) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.17g", d);
  std::string s = buf;
  if (s.find_first_of(".eEn") == std::string::npos)
    s += ".0";
  return s;
}

const char *fieldTypeEnum(ir::TypeKind t) {
  switch (t) {
  case ir::TypeKind::String:
    return "FieldType::String";
  case ir::TypeKind::Bool:
    return "FieldType::Bool";
  case ir::TypeKind::Int:
    return "FieldType::Int";
  case ir::TypeKind::Float:
    return "FieldType::Float";
  case ir::TypeKind::Json:
    return "FieldType::Json";
  case ir::TypeKind::StringList:
    return "FieldType::StringList";
  case ir::TypeKind::Files:
    return "FieldType::Files";
  }
  return "FieldType::Json";
}

const char *refNs(ir::RefNamespace ns) {
  switch (ns) {
  case ir::RefNamespace::Vars:
    return "RefNs::Vars";
  case ir::RefNamespace::Input:
    return "RefNs::Input";
  case ir::RefNamespace::Outputs:
    return "RefNs::Outputs";
  case ir::RefNamespace::Artifacts:
    return "RefNs::Artifacts";
  case ir::RefNamespace::Loop:
    return "RefNs::Loop";
  case ir::RefNamespace::Run:
    return "RefNs::Run";
  case ir::RefNamespace::Attachments:
    break;
  }
  bug("attachments references reach code generation (Sema rejects them)");
}

const char *nodeKind(ir::NodeKind k) {
  switch (k) {
  case ir::NodeKind::Agent:
    return "NodeKind::Agent";
  case ir::NodeKind::Judge:
    return "NodeKind::Judge";
  case ir::NodeKind::Router:
    return "NodeKind::Router";
  case ir::NodeKind::Join:
    return "NodeKind::Join";
  case ir::NodeKind::Human:
    return "NodeKind::Human";
  case ir::NodeKind::Tool:
    return "NodeKind::Tool";
  case ir::NodeKind::Compute:
    return "NodeKind::Compute";
  case ir::NodeKind::Verify:
    return "NodeKind::Verify";
  case ir::NodeKind::Done:
    return "NodeKind::Done";
  case ir::NodeKind::Fail:
    return "NodeKind::Fail";
  }
  return "NodeKind::Agent";
}

const char *routerMode(ir::RouterMode m) {
  switch (m) {
  case ir::RouterMode::FanOutAll:
    return "RouterMode::FanOutAll";
  case ir::RouterMode::Condition:
    return "RouterMode::Condition";
  case ir::RouterMode::RoundRobin:
    return "RouterMode::RoundRobin";
  case ir::RouterMode::Llm:
    return "RouterMode::Llm";
  }
  return "RouterMode::FanOutAll";
}

const char *awaitMode(ir::AwaitMode m) {
  switch (m) {
  case ir::AwaitMode::None:
    return "AwaitMode::None";
  case ir::AwaitMode::WaitAll:
    return "AwaitMode::WaitAll";
  case ir::AwaitMode::BestEffort:
    return "AwaitMode::BestEffort";
  }
  return "AwaitMode::None";
}

const char *interaction(ir::Interaction i) {
  switch (i) {
  case ir::Interaction::None:
    return "Interaction::None";
  case ir::Interaction::Human:
    return "Interaction::Human";
  case ir::Interaction::Llm:
    return "Interaction::Llm";
  case ir::Interaction::LlmOrHuman:
    return "Interaction::LlmOrHuman";
  }
  return "Interaction::Human";
}

const char *sessionMode(ir::SessionMode s) {
  switch (s) {
  case ir::SessionMode::Fresh:
    return "SessionMode::Fresh";
  case ir::SessionMode::Inherit:
    return "SessionMode::Inherit";
  case ir::SessionMode::Fork:
    return "SessionMode::Fork";
  case ir::SessionMode::ArtifactsOnly:
    return "SessionMode::ArtifactsOnly";
  case ir::SessionMode::InheritIfAvailable:
    return "SessionMode::InheritIfAvailable";
  }
  return "SessionMode::Fresh";
}

/// `{kArray, n}` or `{}` for an empty span.
std::string span(const std::string &array, size_t n) {
  return n == 0 ? "{}" : "{" + array + ", " + std::to_string(n) + "}";
}

/// A one-line comment: the text with line breaks shown as spaces, cut.
std::string commentText(std::string text) {
  for (char &c : text)
    if (c == '\n' || c == '\r')
      c = ' ';
  if (text.size() > 70)
    text = truncateUtf8(text, 67);
  return text;
}

//===----------------------------------------------------------------------===//
// Expressions
//===----------------------------------------------------------------------===//

class ExprGenerator {
public:
  std::string generate(const ir::Expr &e) {
    switch (e.kind) {
    case ir::Expr::Kind::Literal:
      return literal(e.literal);
    case ir::Expr::Kind::Path: {
      std::string segs;
      for (size_t i = 0; i < e.path.size(); ++i)
        segs += (i ? ", " : "") + str(e.path[i]);
      return "path(s, " + std::string(refNs(e.ns)) + ", {" + segs + "})";
    }
    case ir::Expr::Kind::Unary: {
      if (e.args.size() != 1)
        bug("unary operator without one operand");
      std::string a = generate(*e.args[0]);
      if (e.op == "!")
        return "notOp(" + a + ")";
      if (e.op == "-")
        return "neg(" + a + ")";
      bug("unknown unary operator " + e.op);
    }
    case ir::Expr::Kind::Binary: {
      if (e.args.size() != 2)
        bug("binary operator without two operands");
      std::string a = generate(*e.args[0]);
      std::string b = generate(*e.args[1]);
      // && and || short-circuit: the right side is not evaluated when the
      // left decides.
      if (e.op == "&&")
        return "Value(truthy(" + a + ") && truthy(" + b + "))";
      if (e.op == "||")
        return "Value(truthy(" + a + ") || truthy(" + b + "))";
      static const std::pair<const char *, const char *> ops[] = {
          {"==", "eq"}, {"!=", "ne"}, {"<", "lt"},  {"<=", "le"},
          {">", "gt"},  {">=", "ge"}, {"+", "add"}, {"-", "sub"},
          {"*", "mul"}, {"/", "div"}, {"%", "mod"}};
      for (const auto &[op, fn] : ops)
        if (e.op == op)
          return std::string(fn) + "(" + a + ", " + b + ")";
      bug("unknown binary operator " + e.op);
    }
    case ir::Expr::Kind::Local: {
      std::string name;
      for (auto it = locals.rbegin(); it != locals.rend() && name.empty(); ++it)
        if (it->first == e.var)
          name = it->second;
      if (name.empty())
        bug("quantifier variable " + e.var + " outside its quantifier");
      if (e.path.empty())
        return name;
      std::string segs;
      for (size_t i = 0; i < e.path.size(); ++i)
        segs += (i ? ", " : "") + str(e.path[i]);
      return "member(" + name + ", {" + segs + "})";
    }
    case ir::Expr::Kind::Call: {
      if (!e.var.empty())
        return quantifier(e);
      std::vector<std::string> args;
      for (const ir::ExprPtr &a : e.args)
        args.push_back(generate(*a));
      auto arity = [&](size_t n) {
        if (args.size() != n)
          bug(e.op + "() with " + std::to_string(args.size()) + " arguments");
      };
      if (e.op == "if") {
        arity(3);
        return "(truthy(" + args[0] + ") ? Value(" + args[1] + ") : Value(" +
               args[2] + "))";
      }
      if (e.op == "exists") {
        arity(1);
        return "exists(s, " + args[0] + ")";
      }
      if (e.op == "concat") {
        std::string all;
        for (size_t i = 0; i < args.size(); ++i)
          all += (i ? ", " : "") + args[i];
        return "concat({" + all + "})";
      }
      if (e.op == "length" || e.op == "unique") {
        arity(1);
        return e.op + "(" + args[0] + ")";
      }
      if (e.op == "all" || e.op == "any") {
        arity(1);
        return e.op + "Of(" + args[0] + ")";
      }
      if (e.op == "contains" || e.op == "join") {
        arity(2);
        return e.op + "(" + args[0] + ", " + args[1] + ")";
      }
      bug("unknown function " + e.op);
    }
    }
    bug("unknown expression kind");
  }

private:
  /// `all(x in list: cond)`: allOf(list, [&](const Value &q1_x) {...}); the
  /// parameter is numbered by nesting depth so nested quantifiers never
  /// shadow each other.
  std::string quantifier(const ir::Expr &e) {
    if (e.args.size() != 2)
      bug("quantifier without a list and a condition");
    std::string list = generate(*e.args[0]);
    std::string param =
        "q" + std::to_string(locals.size() + 1) + "_" + ident(e.var);
    locals.emplace_back(e.var, param);
    std::string body = generate(*e.args[1]);
    locals.pop_back();
    return e.op + "Of(" + list + ", [&](const Value &" + param +
           ") { return Value(" + body + "); })";
  }

  /// Quantifier variables in scope (name, C++ parameter), innermost last.
  std::vector<std::pair<std::string, std::string>> locals;

  std::string literal(const nlohmann::ordered_json &v) {
    switch (v.type()) {
    case nlohmann::ordered_json::value_t::null:
      return "Value()";
    case nlohmann::ordered_json::value_t::boolean:
      return "Value(" + boolText(v.get<bool>()) + ")";
    case nlohmann::ordered_json::value_t::number_integer:
      return "Value(int64_t(" + num(v.get<int64_t>()) + "))";
    case nlohmann::ordered_json::value_t::number_unsigned:
      return "Value(int64_t(" + std::to_string(v.get<uint64_t>()) + "))";
    case nlohmann::ordered_json::value_t::number_float:
      return "Value(" + doubleText(v.get<double>()) + ")";
    case nlohmann::ordered_json::value_t::string:
      return "Value(" + str(v.get<std::string>()) + ")";
    case nlohmann::ordered_json::value_t::array: {
      std::string items;
      for (const auto &item : v)
        items += "a.push(" + literal(item) + "); ";
      return "[] { Value a = Value::array(); " + items + "return a; }()";
    }
    case nlohmann::ordered_json::value_t::object: {
      std::string items;
      for (auto it = v.begin(); it != v.end(); ++it)
        items += "o.set(" + str(it.key()) + ", " + literal(it.value()) + "); ";
      return "[] { Value o = Value::object(); " + items + "return o; }()";
    }
    default:
      return "Value()";
    }
  }
};

//===----------------------------------------------------------------------===//
// Schemas
//===----------------------------------------------------------------------===//

class SchemaGenerator {
public:
  explicit SchemaGenerator(const ir::Schema &schema)
      : schema(schema), type(ident(schema.name)) {}

  const std::string &typeName() const { return type; }

  /// The struct, and the declarations of decode/encode (header).
  void generateDeclaration(Printer &p) const {
    p.emit({{"schema", schema.name}, {"type", type}}, R"cc(
      /// Schema `$schema$`.
      struct $type$ {
    )cc");
    {
      Printer::Indent indent(p);
      for (const ir::Field &f : schema.fields) {
        std::string member = ident(f.name);
        if (!f.enumValues.empty()) {
          std::string values;
          for (size_t i = 0; i < f.enumValues.size(); ++i)
            values += (i ? ", " : "") + enumerator(f, i);
          p.emit({{"enum", enumType(f)}, {"values", values}}, R"cc(
            enum class $enum$ { $values$ };
          )cc");
          p.emit({{"enum", enumType(f)},
                  {"member", member},
                  {"first", enumerator(f, 0)}},
                 R"cc(
                   $enum$ $member$ = $enum$::$first$;
                 )cc");
          continue;
        }
        p.emit({{"decl", memberDecl(f.type, member)}}, R"cc(
          $decl$;
        )cc");
      }
    }
    p.emit({{"type", type}}, R"cc(
      };
      /// Reads a value of `$type$`; false and field-level errors when it
      /// does not conform. Fields whose names start with '_' are not read.
      bool decode(const iterc::rt::gen::Value &value, $type$ &out,
                  iterc::rt::gen::Errors &errors);
      iterc::rt::gen::Value encode(const $type$ &in);

    )cc");
  }

  /// decode/encode definitions (source, outside the anonymous namespace).
  void generateDefinitions(Printer &p) const {
    p.emit({{"type", type}}, R"cc(
      bool decode(const Value &value, $type$ &out, Errors &errors) {
        if (!expectObject(value, errors))
          return false;
        size_t before = errors.size();
    )cc");
    {
      Printer::Indent indent(p);
      for (const ir::Field &f : schema.fields) {
        if (!f.name.empty() && f.name[0] == '_')
          continue;
        std::string member = ident(f.name);
        if (!f.enumValues.empty()) {
          std::string list;
          for (size_t i = 0; i < f.enumValues.size(); ++i)
            list += (i ? ", " : "") + str(f.enumValues[i]);
          p.emit({{"field", str(f.name)},
                  {"list", list},
                  {"member", member},
                  {"enum", type + "::" + enumType(f)}},
                 R"cc(
                   if (int i = 0; decodeEnum(value, $field$, {$list$}, i, errors))
                     out.$member$ = static_cast<$enum$>(i);
                 )cc");
          continue;
        }
        p.emit({{"fn", decoder(f.type)},
                {"field", str(f.name)},
                {"member", member}},
               R"cc(
                 $fn$(value, $field$, out.$member$, errors);
               )cc");
      }
    }
    p.emit({{"type", type}}, R"cc(
        return errors.size() == before;
      }

      Value encode(const $type$ &in) {
        Value out = Value::object();
    )cc");
    {
      Printer::Indent indent(p);
      for (const ir::Field &f : schema.fields) {
        std::string member = ident(f.name);
        std::string value;
        if (!f.enumValues.empty()) {
          std::string list;
          for (size_t i = 0; i < f.enumValues.size(); ++i)
            list += (i ? ", " : "") + str(f.enumValues[i]);
          p.emit({{"list", list}, {"member", member}, {"field", str(f.name)}},
                 R"cc(
                   {
                     static const char *const names[] = {$list$};
                     out.set($field$, Value(names[int(in.$member$)]));
                   }
                 )cc");
          continue;
        }
        switch (f.type) {
        case ir::TypeKind::StringList:
          value = "encodeStringList(in." + member + ")";
          break;
        case ir::TypeKind::Files:
          value = "encodeFiles(in." + member + ")";
          break;
        default:
          value = "Value(in." + member + ")";
        }
        p.emit({{"field", str(f.name)}, {"value", value}}, R"cc(
          out.set($field$, $value$);
        )cc");
      }
    }
    p.emit(R"cc(
        return out;
      }

    )cc");
  }

  /// The validator the schema table points at (anonymous namespace).
  void generateValidator(Printer &p, size_t index) const {
    p.emit({{"type", type}, {"index", std::to_string(index)}}, R"cc(
      void validateSchema$index$(const Value &value, Errors &errors) {
        $type$ decoded;
        decode(value, decoded, errors);
      }
    )cc");
  }

private:
  static std::string memberDecl(ir::TypeKind t, const std::string &member) {
    switch (t) {
    case ir::TypeKind::String:
      return "std::string " + member;
    case ir::TypeKind::Bool:
      return "bool " + member + " = false";
    case ir::TypeKind::Int:
      return "int64_t " + member + " = 0";
    case ir::TypeKind::Float:
      return "double " + member + " = 0";
    case ir::TypeKind::Json:
      return "iterc::rt::gen::Value " + member;
    case ir::TypeKind::StringList:
      return "std::vector<std::string> " + member;
    case ir::TypeKind::Files:
      return "std::vector<iterc::rt::gen::File> " + member;
    }
    return "iterc::rt::gen::Value " + member;
  }
  static const char *decoder(ir::TypeKind t) {
    switch (t) {
    case ir::TypeKind::String:
      return "decodeString";
    case ir::TypeKind::Bool:
      return "decodeBool";
    case ir::TypeKind::Int:
      return "decodeInt";
    case ir::TypeKind::Float:
      return "decodeFloat";
    case ir::TypeKind::Json:
      return "decodeJson";
    case ir::TypeKind::StringList:
      return "decodeStringList";
    case ir::TypeKind::Files:
      return "decodeFiles";
    }
    return "decodeJson";
  }
  static std::string enumType(const ir::Field &f) {
    return ident(f.name) + "_t";
  }
  /// Enumerators: identifiers from the values, de-duplicated by position.
  static std::string enumerator(const ir::Field &f, size_t i) {
    std::string name = ident(f.enumValues[i]);
    for (size_t j = 0; j < i; ++j)
      if (ident(f.enumValues[j]) == name)
        return name + "_" + std::to_string(i);
    return name;
  }

  const ir::Schema &schema;
  std::string type;
};

//===----------------------------------------------------------------------===//
// Tables
//===----------------------------------------------------------------------===//

class TableGenerator {
public:
  TableGenerator(const ir::Module &m, const EmitContext &ctx, Printer &p)
      : m(m), wf(m.workflow), ctx(ctx), p(p) {}

  void generate() {
    generateSchemas();
    generateNodes();
    generateEdges();
    generateLoops();
    generateVars();
    generateProgram();
  }

private:
  /// Emits the arrays a template needs and returns its Tpl initializer.
  std::string tpl(const ir::Template &t, const std::string &name) {
    if (t.empty())
      return "{}";
    std::vector<std::string> parts;
    for (size_t i = 0; i < t.parts.size(); ++i) {
      const ir::TemplatePart &part = t.parts[i];
      if (!part.isRef) {
        parts.push_back("{.literal = " + cppString(part.literal, 2) + "}");
        continue;
      }
      std::string path = name + "_path" + std::to_string(i);
      strings(path, part.ref.path);
      parts.push_back(
          "{.isRef = true, .ns = " + std::string(refNs(part.ref.ns)) +
          ", .path = " + span(path, part.ref.path.size()) +
          (part.ref.raw ? ", .raw = true}" : "}"));
    }
    std::string body;
    for (const std::string &part : parts)
      body += part + ",\n";
    body.pop_back();
    p.emit({{"name", name}, {"source", commentText(t.source)}, {"parts", body}},
           R"cc(
             // $source$
             constexpr Part $name$[] = {
               $parts$
             };
           )cc");
    return span(name, t.parts.size());
  }

  void strings(const std::string &name, const std::vector<std::string> &list) {
    if (list.empty())
      return;
    std::string items;
    for (size_t i = 0; i < list.size(); ++i)
      items += (i ? ", " : "") + str(list[i]);
    p.emit({{"name", name}, {"items", items}}, R"cc(
      constexpr const char *$name$[] = {$items$};
    )cc");
  }
  std::string stringsSpan(const std::string &name,
                          const std::vector<std::string> &list) {
    strings(name, list);
    return span(name, list.size());
  }

  std::string
  bindings(const std::string &name,
           const std::vector<std::pair<std::string, ir::Template>> &list) {
    if (list.empty())
      return "{}";
    std::vector<std::string> items;
    for (size_t i = 0; i < list.size(); ++i)
      items.push_back("{" + str(list[i].first) + ", " +
                      tpl(list[i].second, name + "_" + std::to_string(i)) +
                      "}");
    std::string body;
    for (const std::string &item : items)
      body += item + ",\n";
    body.pop_back();
    p.emit({{"name", name}, {"items", body}}, R"cc(
      constexpr Binding $name$[] = {
        $items$
      };
    )cc");
    return span(name, list.size());
  }

  /// A compiled expression: a function returning its value.
  std::string function(const ir::Expr &e, const std::string &name,
                       const std::string &source) {
    ExprGenerator gen;
    p.emit({{"name", name},
            {"source", commentText(source)},
            {"body", gen.generate(e)}},
           R"cc(
             // $source$
             Value $name$([[maybe_unused]] const Scope &s) {
               return $body$;
             }
           )cc");
    return name;
  }

  /// A check's operands (ir::operandsOf): one function each and the
  /// OperandInfo array naming them, `{}` when there are none.
  std::string operands(const ir::ExprPtr &e, const std::string &name) {
    std::vector<ir::ExprPtr> ops = ir::operandsOf(e);
    if (ops.empty())
      return "{}";
    std::string items;
    for (size_t i = 0; i < ops.size(); ++i) {
      std::string text = ir::printExpr(*ops[i]);
      std::string fn =
          function(*ops[i], name + "_op" + std::to_string(i), text);
      items += "{" + str(text) + ", " + fn + "},\n";
    }
    items.pop_back();
    p.emit({{"name", name + "_operands"}, {"items", items}}, R"cc(
      constexpr OperandInfo $name$[] = {
        $items$
      };
    )cc");
    return span(name + "_operands", ops.size());
  }

  /// `{name, source, fn}` of a check; a verify check (`withOperands`) also
  /// names the operands its failure shows.
  std::string checkInfo(const ir::Check &c, const std::string &fnName,
                        bool withOperands) {
    std::string fn = function(*c.expr, fnName, c.source);
    std::string ops = withOperands ? operands(c.expr, fnName) : "{}";
    return "{" + str(c.name) + ", " + str(c.source) + ", " + fn +
           (ops == "{}" ? "" : ", " + ops) + "}";
  }

  std::string checks(const std::vector<ir::Check> &list,
                     const std::string &name, bool withOperands) {
    if (list.empty())
      return "{}";
    std::string items;
    for (size_t i = 0; i < list.size(); ++i)
      items +=
          checkInfo(list[i], name + "_" + ident(list[i].name), withOperands) +
          ",\n";
    items.pop_back();
    p.emit({{"name", name}, {"items", items}}, R"cc(
      constexpr CheckInfo $name$[] = {
        $items$
      };
    )cc");
    return span(name, list.size());
  }

  void generateSchemas() {
    p.emit(R"cc(
      //===--- Schemas ---===//

    )cc");
    std::vector<std::string> items;
    for (size_t i = 0; i < m.schemas.size(); ++i) {
      const ir::Schema &s = m.schemas[i];
      SchemaGenerator(s).generateValidator(p, i);
      std::string fields;
      for (size_t j = 0; j < s.fields.size(); ++j) {
        const ir::Field &f = s.fields[j];
        std::string enums = stringsSpan("kSchema" + std::to_string(i) + "_" +
                                            ident(f.name) + "_values",
                                        f.enumValues);
        fields += "{" + str(f.name) + ", " + fieldTypeEnum(f.type) +
                  (enums == "{}" ? "" : ", " + enums) + "},\n";
      }
      std::string name = "kSchema" + std::to_string(i) + "_fields";
      if (!fields.empty()) {
        fields.pop_back();
        p.emit({{"name", name}, {"fields", fields}}, R"cc(
          constexpr FieldInfo $name$[] = {
            $fields$
          };
        )cc");
      }
      items.push_back("{" + str(s.name) + ", " + span(name, s.fields.size()) +
                      ", validateSchema" + std::to_string(i) + "}");
      p.emit("\n");
    }
    schemaTable = table("SchemaInfo", "kSchemas", items);
  }

  std::string table(const char *type, const std::string &name,
                    const std::vector<std::string> &items) {
    if (items.empty())
      return "{}";
    std::string body;
    for (const std::string &item : items)
      body += item + ",\n";
    body.pop_back();
    p.emit({{"type", type}, {"name", name}, {"items", body}}, R"cc(
      constexpr $type$ $name$[] = {
        $items$
      };

    )cc");
    return span(name, items.size());
  }

  void generateNodes() {
    p.emit(R"cc(
      //===--- Nodes ---===//

    )cc");
    std::vector<std::string> items;
    for (const ir::Node &n : wf.nodes)
      items.push_back(node(n));
    nodeTable = table("NodeInfo", "kNodes", items);
  }

  /// A prompt's template, emitted once however many nodes use it.
  std::string prompt(int index) {
    if (index < 0)
      return "{}";
    auto it = prompts.find(index);
    if (it != prompts.end())
      return it->second;
    std::string span =
        tpl(m.prompts[index].body, "kPrompt_" + ident(m.prompts[index].name));
    prompts.emplace(index, span);
    return span;
  }

  std::string node(const ir::Node &n) {
    std::string k = "kNode_" + ident(n.name);
    std::vector<std::pair<std::string, std::string>> f;
    f.emplace_back("kind", nodeKind(n.kind));
    f.emplace_back("name", str(n.name));
    if (!n.model.empty())
      f.emplace_back("model", str(n.model));
    if (n.input >= 0)
      f.emplace_back("input", num(n.input));
    if (n.output >= 0)
      f.emplace_back("output", num(n.output));
    // A model answering a human gate reads the interaction prompt.
    int system = n.system;
    if (n.kind == ir::NodeKind::Human && n.interactionPrompt >= 0)
      system = n.interactionPrompt;
    if (system >= 0)
      f.emplace_back("system", prompt(system));
    if (n.user >= 0)
      f.emplace_back("user", prompt(n.user));
    if (!n.publish.empty())
      f.emplace_back("publish", str(n.publish));
    if (n.session != ir::SessionMode::Fresh)
      f.emplace_back("session", sessionMode(n.session));
    if (!n.tools.empty())
      f.emplace_back("tools", stringsSpan(k + "_tools", n.tools));
    if (n.toolMaxSteps)
      f.emplace_back("toolMaxSteps", num(n.toolMaxSteps));
    if (!n.reasoningEffort.empty())
      f.emplace_back("reasoningEffort", str(n.reasoningEffort));
    if (n.readonly)
      f.emplace_back("readonly", "true");
    if (n.maxTokens)
      f.emplace_back("maxTokens", num(*n.maxTokens));
    if (n.requestConnectMs)
      f.emplace_back("requestConnectMs", num(n.requestConnectMs));
    if (n.requestFirstByteMs)
      f.emplace_back("requestFirstByteMs", num(n.requestFirstByteMs));
    if (n.requestTotalMs)
      f.emplace_back("requestTotalMs", num(n.requestTotalMs));
    if (n.await != ir::AwaitMode::None)
      f.emplace_back("await", awaitMode(n.await));
    if (!n.mcpServers.empty())
      f.emplace_back("mcpServers", stringsSpan(k + "_mcp", n.mcpServers));
    if (!n.writeFiles.empty())
      f.emplace_back("writeFiles", str(n.writeFiles));
    if (n.kind == ir::NodeKind::Router) {
      f.emplace_back("routerMode", routerMode(n.routerMode));
      if (n.multi)
        f.emplace_back("multi", "true");
    }
    if (n.kind == ir::NodeKind::Human) {
      f.emplace_back("interaction", interaction(n.interaction));
      if (n.instructions >= 0)
        f.emplace_back("instructions", prompt(n.instructions));
      if (!n.interactionModel.empty())
        f.emplace_back("interactionModel", str(n.interactionModel));
    }
    if (n.kind == ir::NodeKind::Tool) {
      f.emplace_back("command", tpl(n.command, k + "_command"));
      if (!n.language.empty())
        f.emplace_back("language", str(n.language));
      if (!n.script.empty())
        f.emplace_back("isScript", "true");
      if (n.timeoutMs)
        f.emplace_back("timeoutMs", num(*n.timeoutMs));
      if (n.maxOutputBytes)
        f.emplace_back("maxOutputBytes", num(*n.maxOutputBytes));
      if (!n.workdir.empty())
        f.emplace_back("workdir", str(n.workdir));
      if (!n.env.empty())
        f.emplace_back("env", bindings(k + "_env", n.env));
      if (!n.inheritEnv.empty())
        f.emplace_back("inheritEnv", stringsSpan(k + "_inherit", n.inheritEnv));
      if (n.capture)
        f.emplace_back("capture", "true");
      if (n.approval)
        f.emplace_back("approval", "true");
    }
    if (!n.exprs.empty())
      f.emplace_back("exprs", checks(n.exprs, k + "_compute", false));
    if (!n.checks.empty())
      f.emplace_back("checks", checks(n.checks, k + "_check", true));
    if (!n.httpChecks.empty())
      f.emplace_back("httpChecks", httpChecks(n, k + "_http"));
    if (!n.assertions.empty())
      f.emplace_back("assertions", tpl(n.assertions, k + "_assertions"));
    if (!n.require.empty())
      f.emplace_back("require", stringsSpan(k + "_require", n.require));
    if (!n.restart.empty())
      f.emplace_back("restart", stringsSpan(k + "_restart", n.restart));
    return designated(f);
  }

  std::string httpChecks(const ir::Node &n, const std::string &name) {
    std::vector<std::string> items;
    for (size_t i = 0; i < n.httpChecks.size(); ++i) {
      const ir::HttpCheck &h = n.httpChecks[i];
      std::string k = name + std::to_string(i);
      std::vector<std::pair<std::string, std::string>> f;
      f.emplace_back("name", str(h.name));
      if (!h.service.empty())
        f.emplace_back("service", str(h.service));
      if (!h.url.empty())
        f.emplace_back("url", tpl(h.url, k + "_url"));
      if (h.method != "GET")
        f.emplace_back("method", str(h.method));
      if (!h.path.empty())
        f.emplace_back("path", tpl(h.path, k + "_path"));
      if (!h.body.empty())
        f.emplace_back("body", tpl(h.body, k + "_body"));
      if (!h.headers.empty())
        f.emplace_back("headers", bindings(k + "_headers", h.headers));
      if (h.expectStatus != 200)
        f.emplace_back("expectStatus", num(h.expectStatus));
      if (h.expectBodyContains)
        f.emplace_back("expectBodyContains", str(*h.expectBodyContains));
      if (!h.expectJson.empty()) {
        std::string json;
        for (size_t j = 0; j < h.expectJson.size(); ++j) {
          const ir::Check &c = h.expectJson[j].second;
          json += "{" + str(h.expectJson[j].first) + ", " +
                  checkInfo(c, k + "_json" + std::to_string(j), true) + "},\n";
        }
        json.pop_back();
        p.emit({{"name", k + "_json"}, {"items", json}}, R"cc(
          constexpr JsonCheckInfo $name$[] = {
            $items$
          };
        )cc");
        f.emplace_back("expectJson", span(k + "_json", h.expectJson.size()));
      }
      if (h.timeoutMs != 10000)
        f.emplace_back("timeoutMs", num(h.timeoutMs));
      items.push_back(designated(f));
    }
    std::string body;
    for (const std::string &item : items)
      body += item + ",\n";
    body.pop_back();
    p.emit({{"name", name}, {"items", body}}, R"cc(
      constexpr HttpCheckInfo $name$[] = {
        $items$
      };
    )cc");
    return span(name, items.size());
  }

  /// `{.a = x, .b = y}`, one member per line.
  static std::string
  designated(const std::vector<std::pair<std::string, std::string>> &fields) {
    std::string out = "{\n";
    for (const auto &[key, value] : fields) {
      std::string v = value;
      // Continuation lines of multi-line values line up under the member.
      std::string indented;
      for (char c : v) {
        indented.push_back(c);
        if (c == '\n')
          indented += "    ";
      }
      out += "    ." + key + " = " + indented + ",\n";
    }
    out += "}";
    return out;
  }

  void generateEdges() {
    p.emit(R"cc(
      //===--- Edges, in declaration order ---===//

    )cc");
    std::vector<std::string> items;
    for (const ir::Edge &e : wf.edges) {
      std::string k = "kEdge" + std::to_string(e.index);
      std::vector<std::pair<std::string, std::string>> f;
      f.emplace_back("from", num(e.from));
      f.emplace_back("to", num(e.to));
      if (e.cond == ir::Edge::Cond::Field) {
        f.emplace_back("cond", "EdgeCond::Field");
        f.emplace_back("field", str(e.field));
        if (e.negated)
          f.emplace_back("negated", "true");
      } else if (e.cond == ir::Edge::Cond::Expr) {
        f.emplace_back("cond", "EdgeCond::Expr");
        f.emplace_back("exprText", str(e.exprText));
        f.emplace_back("expr", function(*e.expr, k + "_when", e.exprText));
      }
      if (e.loop >= 0)
        f.emplace_back("loop", num(e.loop));
      if (!e.with.empty()) {
        std::vector<std::pair<std::string, ir::Template>> with;
        for (const ir::WithEntry &w : e.with)
          with.emplace_back(w.key, w.value);
        f.emplace_back("with", bindings(k + "_with", with));
      }
      std::string item = designated(f);
      item = "// " + wf.nodes[e.from].name + " -> " + wf.nodes[e.to].name +
             "\n" + item;
      items.push_back(item);
    }
    edgeTable = table("EdgeInfo", "kEdges", items);
  }

  void generateLoops() {
    if (wf.loops.empty())
      return;
    p.emit(R"cc(
      //===--- Loops ---===//

    )cc");
    std::vector<std::string> items;
    for (size_t i = 0; i < wf.loops.size(); ++i) {
      const ir::Loop &l = wf.loops[i];
      std::string k = "kLoop_" + ident(l.name);
      std::vector<std::pair<std::string, std::string>> f;
      f.emplace_back("name", str(l.name));
      if (l.cap)
        f.emplace_back("cap", num(*l.cap));
      else if (!l.capTemplate.empty())
        f.emplace_back("capTemplate", tpl(l.capTemplate, k + "_cap"));
      auto ints = [&](const std::string &name,
                      const std::vector<unsigned> &list) {
        if (list.empty())
          return std::string("{}");
        std::string items;
        for (size_t j = 0; j < list.size(); ++j)
          items += (j ? ", " : "") + std::to_string(list[j]);
        p.emit({{"name", name}, {"items", items}}, R"cc(
          constexpr int $name$[] = {$items$};
        )cc");
        return span(name, list.size());
      };
      f.emplace_back("body", ints(k + "_body", l.body));
      f.emplace_back("entries", ints(k + "_entries", l.entries));
      if (l.noProgress)
        f.emplace_back("noProgress", num(l.noProgress));
      items.push_back(designated(f));
    }
    loopTable = table("LoopInfo", "kLoops", items);
  }

  void generateVars() {
    if (!m.vars.empty()) {
      p.emit(R"cc(
        //===--- Variables ---===//

      )cc");
      std::vector<std::string> items;
      for (const ir::Var &v : m.vars) {
        std::vector<std::pair<std::string, std::string>> f;
        f.emplace_back("name", str(v.name));
        f.emplace_back("type", fieldTypeEnum(v.type));
        if (v.hasDefault)
          f.emplace_back("defaultJson", str(v.defaultValue.dump()));
        if (!v.enumValues.empty())
          f.emplace_back(
              "enumValues",
              stringsSpan("kVar_" + ident(v.name) + "_values", v.enumValues));
        if (v.secret)
          f.emplace_back("secret", "true");
        items.push_back(designated(f));
      }
      varTable = table("VarInfo", "kVars", items);
    }
    if (!m.presets.empty()) {
      std::vector<std::string> items;
      for (const ir::Preset &preset : m.presets) {
        std::string name = "kPreset_" + ident(preset.name);
        std::string values;
        for (const auto &[key, value] : preset.values)
          values += "{" + str(key) + ", " + str(value.dump()) + "},\n";
        if (!values.empty()) {
          values.pop_back();
          p.emit({{"name", name}, {"values", values}}, R"cc(
            constexpr PresetValue $name$[] = {
              $values$
            };
          )cc");
        }
        items.push_back("{" + str(preset.name) + ", " +
                        span(name, preset.values.size()) + "}");
      }
      presetTable = table("PresetInfo", "kPresets", items);
    }
    if (!wf.modelTimeouts.empty()) {
      std::vector<std::string> items;
      for (const ir::ModelTimeouts &t : wf.modelTimeouts)
        items.push_back("{" + str(t.model) + ", " + num(t.connectMs) + ", " +
                        num(t.firstByteMs) + ", " + num(t.totalMs) + "}");
      modelTimeoutTable = table("ModelTimeoutInfo", "kModelTimeouts", items);
    }
    if (!m.mcpServers.empty()) {
      std::vector<std::string> items;
      for (const ir::McpServer &s : m.mcpServers) {
        std::vector<std::pair<std::string, std::string>> f;
        f.emplace_back("name", str(s.name));
        f.emplace_back("transport", strOrNull(s.transport));
        if (!s.command.empty())
          f.emplace_back("command", str(s.command));
        if (!s.args.empty())
          f.emplace_back(
              "args", stringsSpan("kMcp_" + ident(s.name) + "_args", s.args));
        if (!s.url.empty())
          f.emplace_back("url", str(s.url));
        items.push_back(designated(f));
      }
      mcpTable = table("McpServerInfo", "kMcpServers", items);
    }
    if (!m.services.empty()) {
      p.emit(R"cc(
        //===--- Services ---===//

      )cc");
      std::vector<std::string> items;
      for (const ir::Service &svc : m.services) {
        std::string k = "kService_" + ident(svc.name);
        std::vector<std::pair<std::string, std::string>> f;
        f.emplace_back("name", str(svc.name));
        if (!svc.image.empty())
          f.emplace_back("image", str(svc.image));
        if (!svc.buildContext.empty())
          f.emplace_back("buildContext", str(svc.buildContext));
        if (!svc.dockerfile.empty())
          f.emplace_back("dockerfile", str(svc.dockerfile));
        if (!svc.program.empty())
          f.emplace_back("program", str(svc.program));
        if (!svc.command.empty())
          f.emplace_back("command", stringsSpan(k + "_command", svc.command));
        if (!svc.ports.empty())
          f.emplace_back("ports", stringsSpan(k + "_ports", svc.ports));
        if (!svc.env.empty()) {
          std::string env;
          for (const auto &[name, value] : svc.env)
            env += "{" + str(name) + ", " + str(value) + "},\n";
          env.pop_back();
          p.emit({{"name", k + "_env"}, {"items", env}}, R"cc(
            constexpr EnvValue $name$[] = {
              $items$
            };
          )cc");
          f.emplace_back("env", span(k + "_env", svc.env.size()));
        }
        if (!svc.dependsOn.empty())
          f.emplace_back("dependsOn",
                         stringsSpan(k + "_depends_on", svc.dependsOn));
        if (svc.health) {
          const ir::HealthCheck &h = *svc.health;
          std::vector<std::pair<std::string, std::string>> hf;
          if (!h.http.empty())
            hf.emplace_back("http", str(h.http));
          if (!h.command.empty())
            hf.emplace_back("command",
                            stringsSpan(k + "_health_command", h.command));
          hf.emplace_back("intervalMs", num(h.intervalMs));
          hf.emplace_back("timeoutMs", num(h.timeoutMs));
          hf.emplace_back("retries", num(h.retries));
          p.emit({{"name", k + "_health"}, {"value", designated(hf)}},
                 R"cc(
                   constexpr HealthInfo $name$ = $value$;
                 )cc");
          f.emplace_back("health", "&" + k + "_health");
        }
        if (!svc.workdir.empty())
          f.emplace_back("workdir", str(svc.workdir));
        if (!svc.restart.empty()) {
          f.emplace_back("restart", str(svc.restart));
          f.emplace_back("maxRestarts", num(svc.maxRestarts));
        }
        if (svc.generatesDockerfile())
          f.emplace_back(
              "generatedDockerfile",
              cppString(emitServiceDockerfile(
                            svc, ctx, ServiceImageContext::BuildContext),
                        4));
        items.push_back(designated(f));
      }
      serviceTable = table("ServiceInfo", "kServices", items);
      if (!wf.services.empty()) {
        stackTable = stringsSpan("kStack", wf.services);
        p.emit("\n");
      }
    }
  }

  void generateProgram() {
    const ir::Budget &b = wf.budget;
    std::vector<std::pair<std::string, std::string>> budget;
    if (b.maxParallelBranches)
      budget.emplace_back("maxParallelBranches", num(*b.maxParallelBranches));
    if (b.maxTokens)
      budget.emplace_back("maxTokens", num(*b.maxTokens));
    if (b.maxIterations)
      budget.emplace_back("maxIterations", num(*b.maxIterations));
    if (b.maxCostUsd)
      budget.emplace_back("maxCostUsd", doubleText(*b.maxCostUsd));
    if (b.maxDurationMs)
      budget.emplace_back("maxDurationMs", num(*b.maxDurationMs));

    std::string mermaid = printGraph(m, GraphFormat::Mermaid);
    std::string dot = printGraph(m, GraphFormat::Dot);
    std::vector<std::pair<std::string, std::string>> f;
    f.emplace_back("programName", str(ctx.programName));
    f.emplace_back("workflowName", str(wf.name));
    f.emplace_back("sourcePath", str(ctx.sourcePath));
    f.emplace_back("sourceSha256", str(ctx.sourceSha256));
    f.emplace_back("itercVersion", str(ctx.itercVersion));
    f.emplace_back("schemas", schemaTable);
    f.emplace_back("nodes", nodeTable);
    f.emplace_back("edges", edgeTable);
    f.emplace_back("loops", loopTable);
    f.emplace_back("vars", varTable);
    f.emplace_back("presets", presetTable);
    f.emplace_back("mcpServers", mcpTable);
    f.emplace_back("budget", budget.empty() ? "{}" : designated(budget));
    f.emplace_back("entry", num(wf.entry));
    f.emplace_back("graphMermaid", cppString(mermaid, 4));
    f.emplace_back("graphDot", cppString(dot, 4));
    if (serviceTable != "{}")
      f.emplace_back("services", serviceTable);
    if (stackTable != "{}")
      f.emplace_back("stack", stackTable);
    if (modelTimeoutTable != "{}")
      f.emplace_back("modelTimeouts", modelTimeoutTable);
    p.emit({{"program", designated(f)}}, R"cc(
      //===--- The program ---===//

      constexpr ProgramInfo kProgram = $program$;
    )cc");
  }

  const ir::Module &m;
  const ir::Workflow &wf;
  const EmitContext &ctx;
  Printer &p;
  std::map<int, std::string> prompts;
  std::string schemaTable = "{}", nodeTable = "{}", edgeTable = "{}",
              loopTable = "{}", varTable = "{}", presetTable = "{}",
              mcpTable = "{}", serviceTable = "{}", stackTable = "{}",
              modelTimeoutTable = "{}";
};

std::string headerGuard(const std::string &program) {
  std::string g = "ITERC_GENERATED_";
  for (char c : program)
    g += std::isalnum(static_cast<unsigned char>(c))
             ? char(std::toupper(static_cast<unsigned char>(c)))
             : '_';
  return g + "_H";
}

} // namespace

std::string codegen::renderSkeleton(
    const std::string &skeleton,
    const std::vector<std::pair<std::string, std::string>> &vars) {
  kainjow::mustache::mustache tmpl(skeleton);
  if (!tmpl.is_valid())
    bug("a template does not parse: " + tmpl.error_message());
  tmpl.set_custom_escape([](const std::string &s) { return s; });
  kainjow::mustache::data data;
  for (const auto &[key, value] : vars)
    data.set(key, value);
  return tmpl.render(data);
}

std::string codegen::cppNamespace(const std::string &programName) {
  return ident(programName);
}

CppFiles codegen::emitCpp(const ir::Module &module, const EmitContext &ctx,
                          const Skeletons &skeletons) {
  std::string ns = cppNamespace(ctx.programName);

  std::string types;
  std::string definitions;
  {
    Printer typesPrinter(types);
    Printer defsPrinter(definitions);
    for (const ir::Schema &s : module.schemas) {
      SchemaGenerator gen(s);
      gen.generateDeclaration(typesPrinter);
      gen.generateDefinitions(defsPrinter);
    }
  }

  std::string body;
  {
    Printer p(body);
    TableGenerator(module, ctx, p).generate();
  }

  std::vector<std::pair<std::string, std::string>> vars = {
      {"version", ctx.itercVersion},
      {"source", ctx.sourcePath},
      {"workflow", module.workflow.name},
      {"sha256", ctx.sourceSha256},
      {"program", ctx.programName},
      {"namespace", ns},
      {"guard", headerGuard(ctx.programName)},
      {"types", types},
      {"body", body},
      {"definitions", definitions},
  };
  CppFiles files;
  files.header = renderSkeleton(skeletons.workflowH, vars);
  files.source = renderSkeleton(skeletons.workflowCpp, vars);
  return files;
}

std::string codegen::emitCMakeLists(const EmitContext &ctx,
                                    const Skeletons &skeletons) {
  return renderSkeleton(skeletons.cmakeLists, {{"version", ctx.itercVersion},
                                               {"source", ctx.sourcePath},
                                               {"workflow", ctx.programName},
                                               {"program", ctx.programName}});
}
