//===- Expr.h - The expression language -------------------------*- C++ -*-===//
//
// This file declares the expressions of `when "..."` edges, `compute` nodes
// and verify checks:
//
//   expr    ::= or
//   or      ::= and ('||' and)*
//   and     ::= eq ('&&' eq)*
//   eq      ::= rel (('==' | '!=') rel)*
//   rel     ::= add (('<' | '<=' | '>' | '>=') add)*
//   add     ::= mul (('+' | '-') mul)*
//   mul     ::= unary (('*' | '/' | '%') unary)*
//   unary   ::= ('!' | '-') unary | primary
//   primary ::= number | string | 'true' | 'false' | 'null'
//             | ('all' | 'any') '(' name 'in' expr ':' expr ')'
//             | name '(' [expr (',' expr)*] ')' | path | '(' expr ')'
//   path    ::= name ('.' name)*      (a bare name means input.<name>)
//
// Inside a quantifier `all(x in list: cond)`, a path starting with `x`
// reads the element being tested (Kind::Local).
//
// Expressions are parsed at compile time and lowered to C++; nothing is
// parsed when a workflow runs.
//
//===----------------------------------------------------------------------===//
#ifndef ITERC_IR_EXPR_H
#define ITERC_IR_EXPR_H

#include "Basic/SourceManager.h"
#include "IR/Template.h"

#include <nlohmann/json.hpp>

#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace iterc::ir {

struct Expr;
using ExprPtr = std::shared_ptr<const Expr>;

struct Expr {
  enum class Kind { Literal, Path, Unary, Binary, Call, Local };
  Kind kind = Kind::Literal;
  nlohmann::ordered_json literal;       ///< Literal
  RefNamespace ns = RefNamespace::Input; ///< Path
  std::vector<std::string> path;        ///< Path: segments after ns
  bool implicitInput = false;           ///< Path written as a bare name
  std::string op;                       ///< Unary/Binary operator, Call name
  /// Call of a quantifier: the variable bound to each element (args are
  /// the list and the condition); Local: the variable read (path: the
  /// segments after it).
  std::string var;
  std::vector<ExprPtr> args;            ///< Operands / call arguments
  SourceRange range;
};

/// The functions expressions may call, with their arity (-1 = 1 or more).
struct BuiltinFunction {
  const char *name;
  int minArgs;
  int maxArgs;  ///< -1: no upper bound
  const char *signature;
};
const BuiltinFunction *findBuiltin(std::string_view name);
const std::vector<BuiltinFunction> &builtinFunctions();

struct ExprError {
  std::string message;
  SourceRange range;
};

/// Parses an expression; positions as in parseTemplate. Returns null and
/// sets `error` on a syntax error.
ExprPtr parseExpr(std::string_view text, uint32_t base, bool exact,
                  SourceRange whole, ExprError &error);

/// Canonical text of an expression (fully parenthesised where needed).
std::string printExpr(const Expr &expr);

/// The parts of a check worth showing when it fails: every distinct path
/// and call (not the whole expression when it is itself a call), in the
/// order written, at most `max`. `length(failed) == 2` gives
/// `length(failed)` and `failed`.
std::vector<ExprPtr> operandsOf(const ExprPtr &expr, size_t max = 8);

/// Calls `fn` on every path in the expression.
void forEachPath(const Expr &expr, const std::function<void(const Expr &)> &fn);
void forEachCall(const Expr &expr, const std::function<void(const Expr &)> &fn);

} // namespace iterc::ir

#endif // ITERC_IR_EXPR_H
