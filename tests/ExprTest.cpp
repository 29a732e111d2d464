//===- ExprTest.cpp - Quantifiers, check operands, verify assertions ------===//
//
// The compiler's side of verify nodes: quantifiers `all(x in list: cond)`
// and `any(...)` parsed, printed, checked and generated; the operands a
// failed check shows; `assertions:` and its diagnostic C136; and one
// workflow built with the real `iterc build` and run, so that generated
// quantifiers and operands are seen working end to end.
//
//===----------------------------------------------------------------------===//
#include "IR/Expr.h"
#include "CodeGen/CppEmitter.h"
#include "TestUtil.h"

#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

using namespace iterc;
using namespace iterc::test;
namespace fs = std::filesystem;

namespace {

ir::ExprPtr parse(const std::string &text, std::string *error = nullptr) {
  ir::ExprError e;
  ir::ExprPtr expr = ir::parseExpr(text, 0, true, SourceRange(), e);
  if (error)
    *error = e.message;
  return expr;
}

std::vector<std::string> operandTexts(const std::string &text) {
  std::vector<std::string> out;
  for (const ir::ExprPtr &op : ir::operandsOf(parse(text)))
    out.push_back(ir::printExpr(*op));
  return out;
}

} // namespace

TEST_CASE("expr: quantifiers parse, bind their variable and print back",
          "[expr]") {
  ir::ExprPtr e = parse("all(t in outputs.run.tests: t.ok && t.ms < 100)");
  REQUIRE(e);
  CHECK(e->kind == ir::Expr::Kind::Call);
  CHECK(e->op == "all");
  CHECK(e->var == "t");
  REQUIRE(e->args.size() == 2);
  CHECK(e->args[0]->kind == ir::Expr::Kind::Path);
  CHECK(e->args[0]->ns == ir::RefNamespace::Outputs);
  const ir::Expr &ok = *e->args[1]->args[0];
  CHECK(ok.kind == ir::Expr::Kind::Local);
  CHECK(ok.var == "t");
  CHECK(ok.path == std::vector<std::string>{"ok"});
  CHECK(ir::printExpr(*e) ==
        "all(t in outputs.run.tests: (t.ok && (t.ms < 100)))");

  // Nested: the inner variable shadows nothing, the outer one stays bound;
  // outside the quantifier `t` is an input field again.
  ir::ExprPtr nested =
      parse("any(s in suites: all(c in s.cases: c.ok == s.ok)) && t");
  REQUIRE(nested);
  CHECK(ir::printExpr(*nested) ==
        "(any(s in suites: all(c in s.cases: (c.ok == s.ok))) && t)");
  const ir::Expr &t = *nested->args[1];
  CHECK(t.kind == ir::Expr::Kind::Path);
  CHECK(t.implicitInput);

  // The one-argument form: every (some) element true.
  ir::ExprPtr plain = parse("all(outputs.review.approvals)");
  REQUIRE(plain);
  CHECK(plain->var.empty());
  CHECK(ir::printExpr(*plain) == "all(outputs.review.approvals)");
}

TEST_CASE("expr: malformed quantifiers are syntax errors", "[expr]") {
  std::string error;
  CHECK_FALSE(parse("all(x in list)", &error));
  CHECK(error.find("expected ':'") != std::string::npos);
  CHECK_FALSE(parse("all(vars in list: vars)", &error));
  CHECK(error.find("cannot name the element") != std::string::npos);
  CHECK_FALSE(parse("any(x in list: x.ok", &error));
  CHECK(error.find("expected ')'") != std::string::npos);
}

TEST_CASE("expr: a failed check shows its paths and calls", "[expr]") {
  CHECK(operandTexts("outputs.build.exit_code == 0") ==
        std::vector<std::string>{"outputs.build.exit_code"});
  CHECK(operandTexts("length(failed) == 2") ==
        std::vector<std::string>{"length(failed)", "failed"});
  // The whole expression is the failure itself: only its arguments.
  CHECK(operandTexts("contains(outputs.t.stderr, 'warning')") ==
        std::vector<std::string>{"outputs.t.stderr"});
  // Repeated paths once; a quantifier's element has no value outside it.
  CHECK(operandTexts("x > 1 && x < 5 && all(t in tests: t.ok)") ==
        std::vector<std::string>{"x", "all(t in tests: t.ok)", "tests"});
  CHECK(operandTexts("1 == 2").empty());
}

TEST_CASE("sema: quantifiers check their list, not their variable", "[expr]") {
  std::string decls = "schema report:\n  tests: json\n  flags: json\n\n"
                      "tool run:\n  command: \"true\"\n  output: report\n\n"
                      "verify green:\n  checks:\n"
                      "    all_ok: \"all(t in outputs.run.tests: t.ok)\"\n"
                      "    some: \"any(outputs.run.flags)\"\n";
  std::string edges = "  run -> green\n  green -> done when passed\n"
                      "  green -> fail when not passed\n";
  CheckResult good = checkSource(withWorkflow(decls, edges, "run"));
  CHECK(good.allCodes().empty());

  std::string unknown = decls + "    bad: \"all(t in outputs.nope.x: t)\"\n";
  CheckResult bad = checkSource(withWorkflow(unknown, edges, "run"));
  CHECK(bad.hasCode("C029"));

  std::string arity = decls + "    two: \"all(a, b)\"\n";
  CHECK(checkSource(withWorkflow(arity, edges, "run")).hasCode("C105"));
}

TEST_CASE("sema: verify assertions must come from a run-time reference",
          "[expr]") {
  std::string edges = "  plan -> green\n  green -> done when passed\n"
                      "  green -> fail when not passed\n";
  std::string plan = "schema planned:\n  assertions: json\n\n"
                     "agent plan:\n  model: \"openai/gpt-4o-mini\"\n"
                     "  output: planned\n\n";
  CheckResult good = checkSource(withWorkflow(
      plan + "verify green:\n  assertions: \"{{outputs.plan.assertions}}\"\n",
      edges, "plan"));
  CHECK(good.allCodes().empty());
  CheckResult literal = checkSource(withWorkflow(
      plan + "verify green:\n  assertions: \"[]\"\n", edges, "plan"));
  CHECK(literal.hasCode("C136"));
  CheckResult unknown = checkSource(withWorkflow(
      plan + "verify green:\n  assertions: \"{{outputs.plann.assertions}}\"\n",
      edges, "plan"));
  CHECK(unknown.hasCode("C029"));
}

TEST_CASE("emit: quantifiers and operands become C++ over gen::Value",
          "[expr][emit]") {
  std::string decls = "tool run:\n  command: \"true\"\n  capture: true\n\n"
                      "verify green:\n  checks:\n"
                      "    all_ok: \"all(t in outputs.run.tests: t.ok)\"\n";
  std::string edges = "  run -> green\n  green -> done when passed\n"
                      "  green -> fail when not passed\n";
  CheckResult r = checkSource(withWorkflow(decls, edges, "run"));
  REQUIRE(r.module);
  codegen::EmitContext ctx;
  codegen::Skeletons sk;
  sk.workflowH = "{{{types}}}";
  sk.workflowCpp = "{{{body}}}";
  codegen::CppFiles files = codegen::emitCpp(*r.module, ctx, sk);
  std::string all = files.header + files.source;
  CHECK(all.find("allOf(path(s, RefNs::Outputs, {\"run\", \"tests\"}), "
                 "[&](const Value &q1_t) { return Value(member(q1_t, "
                 "{\"ok\"})); })") != std::string::npos);
  CHECK(all.find("constexpr OperandInfo kNode_green_check_all_ok_operands[]") !=
        std::string::npos);
  CHECK(all.find("{\"outputs.run.tests\", kNode_green_check_all_ok_op0}") !=
        std::string::npos);
}

TEST_CASE("build: a verify with quantifiers runs, and its failures show "
          "operands",
          "[expr][build]") {
  TempDir dir;
  writeFile(dir.path / "wf.iter", R"ITER(vars:
  want: int = 3

tool run:
  command: `printf '{"tests": [{"ok": true}, {"ok": false}]}'`
  output: results

schema results:
  tests: json

verify green:
  checks:
    all_ok: "all(t in outputs.run.tests: t.ok)"
    any_ok: "any(t in outputs.run.tests: t.ok)"
    enough: "length(outputs.run.tests) >= vars.want"

workflow w:
  entry: run
  run -> green
  green -> done when passed
  green -> fail when not passed
)ITER");
  std::string cd = "cd " + quote(dir.path) +
                   " && ITERC_CACHE_DIR=" + quote(dir.path / "cache") + " ";
  REQUIRE(shell(cd + ITERC_BINARY " build wf.iter -o wf 2>build.txt") == 0);
  int code = shell(cd + "./wf run --store-dir store --run-id r "
                        ">out.txt 2>err.txt");
  CHECK(code == 1);
  REQUIRE(shell(cd + "./wf inspect --store-dir store --run-id r --events "
                     "--json >events.txt") == 0);
  std::string events = readFile(dir.path / "events.txt");
  INFO(events);
  nlohmann::json failures;
  size_t begin = 0;
  while (begin < events.size()) {
    size_t end = events.find('\n', begin);
    std::string line = events.substr(begin, end - begin);
    begin = end == std::string::npos ? events.size() : end + 1;
    if (line.empty())
      continue;
    nlohmann::json e = nlohmann::json::parse(line);
    if (e.value("type", "") == "node_finished" &&
        e.value("node_id", "") == "green")
      failures = e["data"]["output"]["failures"];
  }
  REQUIRE(failures.is_array());
  REQUIRE(failures.size() == 2);
  CHECK(failures[0]["check"] == "all_ok");
  CHECK(failures[0]["actual"] ==
        "outputs.run.tests = [{\"ok\":true},{\"ok\":false}]");
  CHECK(failures[1]["check"] == "enough");
  CHECK(failures[1]["actual"] ==
        "length(outputs.run.tests) = 2, outputs.run.tests = "
        "[{\"ok\":true},{\"ok\":false}], vars.want = 3");
}
