//===- Expr.cpp - The expression language ---------------------------------===//
//
// This file implements the expression tokenizer, a precedence-climbing
// parser with a depth limit (so hostile input cannot exhaust the stack), and
// the canonical printer.
//
//===----------------------------------------------------------------------===//
#include "IR/Expr.h"

#include <algorithm>
#include <cstdlib>
#include <functional>
#include <set>

using namespace iterc;
using namespace iterc::ir;

const std::vector<BuiltinFunction> &ir::builtinFunctions() {
  static const std::vector<BuiltinFunction> table = {
      {"length", 1, 1, "length(value)"},
      {"concat", 1, -1, "concat(list, ...)"},
      {"unique", 1, 1, "unique(list)"},
      {"contains", 2, 2, "contains(haystack, needle)"},
      {"join", 2, 2, "join(list, separator)"},
      {"if", 3, 3, "if(condition, then, else)"},
      {"exists", 1, 1, "exists(path)"},
      {"all", 1, 1, "all(list) or all(x in list: condition)"},
      {"any", 1, 1, "any(list) or any(x in list: condition)"},
  };
  return table;
}

const BuiltinFunction *ir::findBuiltin(std::string_view name) {
  for (const BuiltinFunction &f : builtinFunctions())
    if (name == f.name)
      return &f;
  return nullptr;
}

namespace {

struct Token {
  enum Kind {
    End,
    Number,
    String,
    Name,
    Op,
    LParen,
    RParen,
    Comma,
    Dot,
    Colon
  };
  Kind kind = End;
  std::string text;
  size_t begin = 0, end = 0;
};

class ExprParser {
public:
  ExprParser(std::string_view text, uint32_t base, bool exact,
             SourceRange whole, ExprError &error)
      : text(text), base(base), exact(exact), whole(whole), error(error) {}

  ExprPtr parse() {
    if (!lexAll())
      return nullptr;
    ExprPtr e = parseBinary(0);
    if (!e)
      return nullptr;
    if (cur().kind != Token::End)
      return fail("unexpected '" + cur().text + "' after the expression",
                  cur());
    return e;
  }

private:
  static constexpr int MaxDepth = 128;

  SourceRange rangeOf(size_t b, size_t e) const {
    return exact ? SourceRange(base + b, base + e) : whole;
  }
  ExprPtr fail(std::string message, const Token &at) {
    if (error.message.empty()) {
      error.message = std::move(message);
      error.range = rangeOf(at.begin, std::max(at.end, at.begin + 1));
    }
    return nullptr;
  }
  const Token &cur() const { return tokens[pos]; }

  bool lexAll() {
    size_t i = 0;
    while (i < text.size()) {
      char c = text[i];
      if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
        ++i;
        continue;
      }
      Token t;
      t.begin = i;
      if (std::isdigit(static_cast<unsigned char>(c))) {
        size_t j = i;
        while (j < text.size() && std::isdigit(static_cast<unsigned char>(text[j])))
          ++j;
        if (j + 1 < text.size() && text[j] == '.' &&
            std::isdigit(static_cast<unsigned char>(text[j + 1]))) {
          ++j;
          while (j < text.size() && std::isdigit(static_cast<unsigned char>(text[j])))
            ++j;
        }
        t.kind = Token::Number;
        t.text = std::string(text.substr(i, j - i));
        i = j;
      } else if (c == '\'' || c == '"') {
        size_t j = i + 1;
        std::string value;
        while (j < text.size() && text[j] != c) {
          if (text[j] == '\\' && j + 1 < text.size()) {
            char n = text[j + 1];
            value.push_back(n == 'n' ? '\n' : n == 't' ? '\t' : n);
            j += 2;
            continue;
          }
          value.push_back(text[j++]);
        }
        if (j >= text.size()) {
          t.end = text.size();
          fail("unterminated string in expression", t);
          return false;
        }
        t.kind = Token::String;
        t.text = value;
        i = j + 1;
      } else if (std::isalpha(static_cast<unsigned char>(c)) || c == '_' ||
                 static_cast<unsigned char>(c) >= 0x80) {
        size_t j = i;
        while (j < text.size() &&
               (std::isalnum(static_cast<unsigned char>(text[j])) ||
                text[j] == '_' || static_cast<unsigned char>(text[j]) >= 0x80))
          ++j;
        t.kind = Token::Name;
        t.text = std::string(text.substr(i, j - i));
        i = j;
      } else if (c == '(' || c == ')' || c == ',' || c == '.' || c == ':') {
        t.kind = c == '('   ? Token::LParen
                 : c == ')' ? Token::RParen
                 : c == ',' ? Token::Comma
                 : c == ':' ? Token::Colon
                            : Token::Dot;
        t.text = std::string(1, c);
        ++i;
      } else {
        static const char *ops[] = {"||", "&&", "==", "!=", "<=", ">=", "<",
                                    ">",  "+",  "-",  "*",  "/",  "%",  "!"};
        bool matched = false;
        for (const char *op : ops) {
          size_t n = std::char_traits<char>::length(op);
          if (text.compare(i, n, op) == 0) {
            t.kind = Token::Op;
            t.text = op;
            i += n;
            matched = true;
            break;
          }
        }
        if (!matched) {
          t.end = i + 1;
          fail(std::string("unexpected character '") + c + "'" +
                   (c == '\\' ? "; write strings inside an expression in "
                                 "single quotes, e.g. 'x'"
                               : ""),
               t);
          return false;
        }
      }
      t.end = i;
      tokens.push_back(std::move(t));
    }
    Token end;
    end.begin = end.end = text.size();
    end.text = "end of expression";
    tokens.push_back(end);
    if (tokens.size() == 1) {
      fail("empty expression", tokens[0]);
      return false;
    }
    return true;
  }

  static int precedence(const std::string &op) {
    if (op == "||")
      return 1;
    if (op == "&&")
      return 2;
    if (op == "==" || op == "!=")
      return 3;
    if (op == "<" || op == "<=" || op == ">" || op == ">=")
      return 4;
    if (op == "+" || op == "-")
      return 5;
    if (op == "*" || op == "/" || op == "%")
      return 6;
    return 0;
  }

  ExprPtr parseBinary(int minPrec) {
    if (++depth > MaxDepth)
      return fail("expression is nested too deeply", cur());
    ExprPtr lhs = parseUnary();
    while (lhs && cur().kind == Token::Op) {
      int prec = precedence(cur().text);
      if (prec == 0 || prec <= minPrec)
        break;
      Token op = cur();
      ++pos;
      ExprPtr rhs = parseBinary(prec);
      if (!rhs)
        return nullptr;
      auto e = std::make_shared<Expr>();
      e->kind = Expr::Kind::Binary;
      e->op = op.text;
      e->range = lhs->range.merge(rhs->range);
      e->args = {lhs, rhs};
      lhs = e;
    }
    --depth;
    return lhs;
  }

  ExprPtr parseUnary() {
    if (cur().kind == Token::Op && (cur().text == "!" || cur().text == "-")) {
      Token op = cur();
      ++pos;
      if (++depth > MaxDepth)
        return fail("expression is nested too deeply", op);
      ExprPtr operand = parseUnary();
      --depth;
      if (!operand)
        return nullptr;
      auto e = std::make_shared<Expr>();
      e->kind = Expr::Kind::Unary;
      e->op = op.text;
      e->range = rangeOf(op.begin, op.end).merge(operand->range);
      e->args = {operand};
      return e;
    }
    return parsePrimary();
  }

  ExprPtr parsePrimary() {
    Token t = cur();
    auto e = std::make_shared<Expr>();
    e->range = rangeOf(t.begin, t.end);
    switch (t.kind) {
    case Token::Number:
      ++pos;
      if (t.text.find('.') != std::string::npos)
        e->literal = std::strtod(t.text.c_str(), nullptr);
      else
        e->literal = std::strtoll(t.text.c_str(), nullptr, 10);
      return e;
    case Token::String:
      ++pos;
      e->literal = t.text;
      return e;
    case Token::LParen: {
      ++pos;
      ExprPtr inner = parseBinary(0);
      if (!inner)
        return nullptr;
      if (cur().kind != Token::RParen)
        return fail("expected ')'", cur());
      ++pos;
      return inner;
    }
    case Token::Name:
      break;
    default:
      return fail(t.kind == Token::End ? "expression ends too early"
                                       : "unexpected '" + t.text + "'",
                  t);
    }
    ++pos;
    if (t.text == "true" || t.text == "false") {
      e->literal = t.text == "true";
      return e;
    }
    if (t.text == "null") {
      e->literal = nullptr;
      return e;
    }
    if (cur().kind == Token::LParen && (t.text == "all" || t.text == "any") &&
        pos + 2 < tokens.size() && tokens[pos + 1].kind == Token::Name &&
        tokens[pos + 2].kind == Token::Name && tokens[pos + 2].text == "in")
      return parseQuantifier(t, e);
    if (cur().kind == Token::LParen) {
      ++pos;
      e->kind = Expr::Kind::Call;
      e->op = t.text;
      if (cur().kind != Token::RParen) {
        for (;;) {
          ExprPtr arg = parseBinary(0);
          if (!arg)
            return nullptr;
          e->args.push_back(arg);
          if (cur().kind == Token::Comma) {
            ++pos;
            continue;
          }
          break;
        }
      }
      if (cur().kind != Token::RParen)
        return fail("expected ')' or ',' in the call of '" + t.text + "'",
                    cur());
      e->range = e->range.merge(rangeOf(cur().begin, cur().end));
      ++pos;
      return e;
    }
    // A path.
    e->kind = Expr::Kind::Path;
    std::vector<std::string> segments{t.text};
    size_t end = t.end;
    while (cur().kind == Token::Dot) {
      ++pos;
      if (cur().kind != Token::Name)
        return fail("expected a name after '.'", cur());
      segments.push_back(cur().text);
      end = cur().end;
      ++pos;
    }
    e->range = rangeOf(t.begin, end);
    for (auto it = bound.rbegin(); it != bound.rend(); ++it) {
      if (segments[0] != *it)
        continue;
      e->kind = Expr::Kind::Local;
      e->var = segments[0];
      e->path.assign(segments.begin() + 1, segments.end());
      return e;
    }
    static const std::pair<const char *, RefNamespace> namespaces[] = {
        {"vars", RefNamespace::Vars},
        {"input", RefNamespace::Input},
        {"outputs", RefNamespace::Outputs},
        {"artifacts", RefNamespace::Artifacts},
        {"loop", RefNamespace::Loop},
        {"run", RefNamespace::Run}};
    for (const auto &[name, ns] : namespaces) {
      if (segments[0] == name && segments.size() >= 2) {
        e->ns = ns;
        e->path.assign(segments.begin() + 1, segments.end());
        return e;
      }
    }
    e->ns = RefNamespace::Input;
    e->implicitInput = true;
    e->path = segments;
    return e;
  }

  /// `all(x in list: cond)`: `t` is the name, `e` the node to fill; the
  /// current token is '('.
  ExprPtr parseQuantifier(const Token &t, const std::shared_ptr<Expr> &e) {
    ++pos; // (
    const Token &var = cur();
    static const char *reserved[] = {"vars", "input", "outputs", "artifacts",
                                     "loop", "run",   "true",    "false",
                                     "null", "in"};
    for (const char *r : reserved)
      if (var.text == r)
        return fail("'" + var.text +
                        "' cannot name the element of a quantifier; choose "
                        "another name",
                    var);
    e->kind = Expr::Kind::Call;
    e->op = t.text;
    e->var = var.text;
    pos += 2; // name in
    ExprPtr list = parseBinary(0);
    if (!list)
      return nullptr;
    if (cur().kind != Token::Colon)
      return fail("expected ':' before the condition of '" + t.text + "(" +
                      var.text + " in ...: condition)'",
                  cur());
    ++pos;
    bound.push_back(var.text);
    ExprPtr body = parseBinary(0);
    bound.pop_back();
    if (!body)
      return nullptr;
    if (cur().kind != Token::RParen)
      return fail("expected ')' after the condition of '" + t.text + "'",
                  cur());
    e->range = e->range.merge(rangeOf(cur().begin, cur().end));
    ++pos;
    e->args = {list, body};
    return e;
  }

  std::vector<std::string> bound; ///< Quantifier variables, innermost last.
  std::string_view text;
  uint32_t base;
  bool exact;
  SourceRange whole;
  ExprError &error;
  std::vector<Token> tokens;
  size_t pos = 0;
  int depth = 0;
};

} // namespace

ExprPtr ir::parseExpr(std::string_view text, uint32_t base, bool exact,
                      SourceRange whole, ExprError &error) {
  ExprParser parser(text, base, exact, whole, error);
  return parser.parse();
}

std::string ir::printExpr(const Expr &expr) {
  switch (expr.kind) {
  case Expr::Kind::Literal:
    if (expr.literal.is_string()) {
      std::string out = "'";
      for (char c : expr.literal.get<std::string>()) {
        if (c == '\'' || c == '\\')
          out.push_back('\\');
        out.push_back(c);
      }
      return out + "'";
    }
    return expr.literal.dump();
  case Expr::Kind::Path: {
    std::string out = expr.implicitInput ? "" : refNamespaceName(expr.ns);
    for (const std::string &seg : expr.path)
      out += (out.empty() ? "" : ".") + seg;
    return out;
  }
  case Expr::Kind::Unary:
    return expr.op + printExpr(*expr.args[0]);
  case Expr::Kind::Binary:
    return "(" + printExpr(*expr.args[0]) + " " + expr.op + " " +
           printExpr(*expr.args[1]) + ")";
  case Expr::Kind::Local: {
    std::string out = expr.var;
    for (const std::string &seg : expr.path)
      out += "." + seg;
    return out;
  }
  case Expr::Kind::Call: {
    if (!expr.var.empty() && expr.args.size() == 2)
      return expr.op + "(" + expr.var + " in " + printExpr(*expr.args[0]) +
             ": " + printExpr(*expr.args[1]) + ")";
    std::string out = expr.op + "(";
    for (size_t i = 0; i < expr.args.size(); ++i)
      out += (i ? ", " : "") + printExpr(*expr.args[i]);
    return out + ")";
  }
  }
  return "";
}

void ir::forEachPath(const Expr &expr,
                     const std::function<void(const Expr &)> &fn) {
  if (expr.kind == Expr::Kind::Path)
    fn(expr);
  for (const ExprPtr &arg : expr.args)
    forEachPath(*arg, fn);
}

void ir::forEachCall(const Expr &expr,
                     const std::function<void(const Expr &)> &fn) {
  if (expr.kind == Expr::Kind::Call)
    fn(expr);
  for (const ExprPtr &arg : expr.args)
    forEachCall(*arg, fn);
}

/// The expression reads the element of a quantifier around it (and so has
/// no value on its own); `bound` are the quantifiers inside it.
static bool readsLocal(const Expr &e, std::vector<std::string> &bound) {
  if (e.kind == Expr::Kind::Local)
    return std::find(bound.begin(), bound.end(), e.var) == bound.end();
  bool quantifier = e.kind == Expr::Kind::Call && !e.var.empty();
  for (size_t i = 0; i < e.args.size(); ++i) {
    bool inBody = quantifier && i == 1;
    if (inBody)
      bound.push_back(e.var);
    bool reads = readsLocal(*e.args[i], bound);
    if (inBody)
      bound.pop_back();
    if (reads)
      return true;
  }
  return false;
}

static bool readsLocal(const Expr &e) {
  std::vector<std::string> bound;
  return readsLocal(e, bound);
}

std::vector<ExprPtr> ir::operandsOf(const ExprPtr &expr, size_t max) {
  std::vector<ExprPtr> out;
  std::set<std::string> seen;
  std::function<void(const ExprPtr &, bool)> visit = [&](const ExprPtr &e,
                                                         bool root) {
    if (!e || out.size() >= max)
      return;
    bool operand = (e->kind == Expr::Kind::Path ||
                    (e->kind == Expr::Kind::Call && !root)) &&
                   !readsLocal(*e);
    if (operand && seen.insert(printExpr(*e)).second)
      out.push_back(e);
    for (const ExprPtr &arg : e->args)
      visit(arg, false);
  };
  visit(expr, true);
  return out;
}
