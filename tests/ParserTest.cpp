//===- ParserTest.cpp - The grammar and the AST it builds -----------------===//
//
// One test per construct of IterParser.g4, asserting the shape of the AST,
// plus clause rules, keyword names and syntax error recovery. Semantic
// analysis is off unless a test needs it.
//
//===----------------------------------------------------------------------===//
#include "TestUtil.h"

#include <catch2/catch.hpp>

#include <string>
#include <vector>

using namespace iterc;
using namespace iterc::test;

namespace {

using Codes = std::vector<std::string>;
using Kind = ast::Value::Kind;

CheckResult parse(const std::string &text) {
  return checkSource(text, "parse.iter", /*runSema=*/false);
}

LineColumn lcAt(const CheckResult &r, uint32_t offset) {
  return r.sources->getLineColumn(0, offset);
}

LineColumn diagLc(const CheckResult &r, size_t i) {
  REQUIRE(i < r.diags.size());
  return r.sources->getLineColumn(r.diags[i].fileId, r.diags[i].range.begin);
}

template <class T> const T *declAt(const CheckResult &r, size_t i) {
  REQUIRE(r.ast);
  REQUIRE(i < r.ast->decls.size());
  const T *d = dynamic_cast<const T *>(r.ast->decls[i].get());
  REQUIRE(d);
  return d;
}

const ast::Property &propOf(const ast::NodeDecl *node, const std::string &key) {
  const ast::Property *p = node->find(key);
  INFO("property " << key);
  REQUIRE(p);
  return *p;
}

const ast::Field &fieldOf(const std::vector<ast::Field> &fields,
                          const std::string &name) {
  for (const ast::Field &f : fields)
    if (f.name.text == name)
      return f;
  FAIL("no field " << name);
  return fields.front();
}

const ast::WorkflowDecl *onlyWorkflow(const CheckResult &r) {
  REQUIRE(r.ast);
  for (const auto &d : r.ast->decls)
    if (auto *w = dynamic_cast<const ast::WorkflowDecl *>(d.get()))
      return w;
  FAIL("no workflow");
  return nullptr;
}

/// A workflow around edges, parsed without sema.
CheckResult edges(const std::string &body) {
  return parse("workflow w:\n  entry: a\n" + body);
}

} // namespace

//===----------------------------------------------------------------------===//
// vars, presets, prompt, schema
//===----------------------------------------------------------------------===//

TEST_CASE("parser: vars with types, enums and defaults", "[parser]") {
  CheckResult r = parse("vars:\n"
                        "  topic: string\n"
                        "  count: int = 3\n"
                        "  ratio: float = 0.5\n"
                        "  flag: bool = true\n"
                        "  tags: string[]\n"
                        "  mode: string [enum: \"fast\", \"slow\"] = \"fast\"\n"
                        "  cfg: json\n"
                        "  neg: int = -2\n");
  CHECK(r.allCodes().empty());
  REQUIRE(r.ast->decls.size() == 1);
  auto *v = declAt<ast::VarsDecl>(r, 0);
  REQUIRE(v->vars.size() == 8);
  CHECK(v->vars[0].name.text == "topic");
  CHECK(v->vars[0].type.name.text == "string");
  CHECK_FALSE(v->vars[0].type.list);
  CHECK_FALSE(v->vars[0].defaultValue);
  const ast::Field &count = fieldOf(v->vars, "count");
  CHECK(count.type.name.text == "int");
  REQUIRE(count.defaultValue);
  CHECK(count.defaultValue->kind == Kind::Int);
  CHECK(count.defaultValue->intValue == 3);
  const ast::Field &ratio = fieldOf(v->vars, "ratio");
  REQUIRE(ratio.defaultValue);
  CHECK(ratio.defaultValue->kind == Kind::Float);
  CHECK(ratio.defaultValue->floatValue == Approx(0.5));
  const ast::Field &flag = fieldOf(v->vars, "flag");
  REQUIRE(flag.defaultValue);
  CHECK(flag.defaultValue->kind == Kind::Bool);
  CHECK(flag.defaultValue->boolValue);
  const ast::Field &tags = fieldOf(v->vars, "tags");
  CHECK(tags.type.name.text == "string");
  CHECK(tags.type.list);
  const ast::Field &mode = fieldOf(v->vars, "mode");
  CHECK(mode.hasEnum);
  REQUIRE(mode.enumValues.size() == 2);
  CHECK(mode.enumValues[0].text == "fast");
  CHECK(mode.enumValues[1].text == "slow");
  REQUIRE(mode.defaultValue);
  CHECK(mode.defaultValue->text == "fast");
  CHECK(fieldOf(v->vars, "cfg").type.name.text == "json");
  CHECK(fieldOf(v->vars, "neg").defaultValue->intValue == -2);
  CHECK(lcAt(r, count.name.range.begin).line == 3);
  CHECK(lcAt(r, count.name.range.begin).column == 3);
}

TEST_CASE("parser: an enum suffix must say 'enum'", "[parser]") {
  CheckResult r = parse("schema s:\n  m: string [enmu: \"a\"]\n");
  REQUIRE(r.codes() == Codes{"E002"});
  CHECK(diagLc(r, 0).line == 2);
  CHECK(diagLc(r, 0).column == 14);
  REQUIRE(r.diags[0].fixIts.size() == 1);
  CHECK(r.diags[0].fixIts[0].replacement == "enum");
}

TEST_CASE("parser: presets", "[parser]") {
  CheckResult r = parse("presets:\n"
                        "  quick:\n"
                        "    count: 1\n"
                        "    mode: \"fast\"\n"
                        "\n"
                        "  slow:\n"
                        "    count: 10\n");
  CHECK(r.allCodes().empty());
  auto *p = declAt<ast::PresetsDecl>(r, 0);
  REQUIRE(p->presets.size() == 2);
  CHECK(p->presets[0].name.text == "quick");
  REQUIRE(p->presets[0].values.size() == 2);
  CHECK(p->presets[0].values[1].key.text == "mode");
  CHECK(p->presets[0].values[1].value.text == "fast");
  CHECK(p->presets[1].name.text == "slow");
  CHECK(p->presets[1].values[0].value.intValue == 10);
}

TEST_CASE("parser: prompt declaration", "[parser]") {
  CheckResult r = parse("prompt write:\n  Write about {{input.topic}}.\n");
  CHECK(r.allCodes().empty());
  auto *p = declAt<ast::PromptDecl>(r, 0);
  CHECK(p->name.text == "write");
  CHECK(p->body() == "Write about {{input.topic}}.");
  CHECK(lcAt(r, p->keywordRange.begin).column == 1);
  CHECK(lcAt(r, p->name.range.begin).column == 8);
}

TEST_CASE("parser: schema with every type", "[parser]") {
  CheckResult r = parse("schema everything:\n"
                        "  s: string\n"
                        "  b: bool\n"
                        "  i: int\n"
                        "  f: float\n"
                        "  j: json\n"
                        "  l: string[]\n"
                        "  fs: files\n"
                        "  e: string [enum: \"a\", \"b\", \"c\",]\n");
  CHECK(r.allCodes().empty());
  auto *s = declAt<ast::SchemaDecl>(r, 0);
  CHECK(s->name.text == "everything");
  REQUIRE(s->fields.size() == 8);
  const char *types[] = {"string", "bool", "int",   "float",
                         "json",   "string", "files", "string"};
  for (size_t i = 0; i < 8; ++i)
    CHECK(s->fields[i].type.name.text == types[i]);
  CHECK(s->fields[5].type.list);
  CHECK_FALSE(s->fields[0].type.list);
  CHECK(s->fields[7].hasEnum);
  CHECK(s->fields[7].enumValues.size() == 3);
}

TEST_CASE("parser: an empty schema parses", "[parser]") {
  CheckResult r = parse("schema s:\n\nagent a:\n  model: \"m\"\n");
  CHECK(r.allCodes().empty());
  REQUIRE(r.ast->decls.size() == 2);
  CHECK(declAt<ast::SchemaDecl>(r, 0)->fields.empty());
}

//===----------------------------------------------------------------------===//
// Node declarations and values
//===----------------------------------------------------------------------===//

TEST_CASE("parser: every node keyword declares a node", "[parser]") {
  std::string kind = GENERATE(as<std::string>{}, "agent", "judge", "router",
                              "join", "human", "tool", "compute", "verify",
                              "service", "mcp_server", "cursor");
  INFO(kind);
  CheckResult r = parse(kind + " n:\n  a: 1\n  b: \"x\"\n");
  CHECK(r.allCodes().empty());
  REQUIRE(r.ast->decls.size() == 1);
  auto *n = declAt<ast::NodeDecl>(r, 0);
  CHECK(n->keyword == kind);
  CHECK(n->name.text == "n");
  CHECK(n->properties.size() == 2);
  CHECK(lcAt(r, n->name.range.begin).column == kind.size() + 2);
}

TEST_CASE("parser: a node without a body parses", "[parser]") {
  CheckResult r = parse("join j:\nagent a:\n  model: \"m\"\n");
  CHECK(r.allCodes().empty());
  REQUIRE(r.ast->decls.size() == 2);
  CHECK(declAt<ast::NodeDecl>(r, 0)->properties.empty());
}

TEST_CASE("parser: property values of every form", "[parser]") {
  CheckResult r = parse("agent n:\n"
                        "  s: \"str\"\n"
                        "  r: `raw`\n"
                        "  b: |\n"
                        "    block\n"
                        "  i: 42\n"
                        "  f: 1.5\n"
                        "  t: true\n"
                        "  fl: false\n"
                        "  ref: verdict\n"
                        "  kw: human\n"
                        "  star: mcp.server.*\n"
                        "  dotted: mcp.server.tool\n"
                        "  list: [a, \"b\", 3, [x], {k: \"v\"}]\n"
                        "  empty: []\n"
                        "  emptyspaced: [ ]\n"
                        "  map: { k: \"v\", n: 1 flag: true }\n"
                        "  emptymap: {}\n"
                        "  nested:\n"
                        "    inner: 1\n"
                        "    deeper:\n"
                        "      x: \"y\"\n");
  CHECK(r.allCodes().empty());
  auto *n = declAt<ast::NodeDecl>(r, 0);
  CHECK(n->properties.size() == 17);

  const ast::Value &s = propOf(n, "s").value;
  CHECK(s.kind == Kind::String);
  CHECK(s.form == ast::Value::StringForm::Quoted);
  CHECK(s.text == "str");
  CHECK(lcAt(r, s.contentOffset).column == 7);

  const ast::Value &raw = propOf(n, "r").value;
  CHECK(raw.form == ast::Value::StringForm::Raw);
  CHECK(raw.text == "raw");

  const ast::Value &b = propOf(n, "b").value;
  CHECK(b.form == ast::Value::StringForm::Block);
  CHECK(b.text == "block\n");

  CHECK(propOf(n, "i").value.kind == Kind::Int);
  CHECK(propOf(n, "i").value.intValue == 42);
  CHECK(propOf(n, "f").value.kind == Kind::Float);
  CHECK(propOf(n, "t").value.kind == Kind::Bool);
  CHECK(propOf(n, "t").value.boolValue);
  CHECK_FALSE(propOf(n, "fl").value.boolValue);

  const ast::Value &ref = propOf(n, "ref").value;
  CHECK(ref.kind == Kind::Ref);
  CHECK(ref.isWord());
  CHECK(ref.text == "verdict");
  CHECK(propOf(n, "kw").value.text == "human");
  CHECK(propOf(n, "kw").value.isWord());

  const ast::Value &star = propOf(n, "star").value;
  CHECK(star.kind == Kind::Ref);
  CHECK(star.text == "mcp.server.*");
  REQUIRE(star.refParts.size() == 3);
  CHECK(star.refParts[2].text == "*");
  CHECK(lcAt(r, star.refParts[2].range.begin).column == 20);
  CHECK(propOf(n, "dotted").value.refParts.size() == 3);
  CHECK_FALSE(propOf(n, "dotted").value.isWord());

  const ast::Value &list = propOf(n, "list").value;
  CHECK(list.kind == Kind::List);
  REQUIRE(list.items.size() == 5);
  CHECK(list.items[0].kind == Kind::Ref);
  CHECK(list.items[1].kind == Kind::String);
  CHECK(list.items[2].kind == Kind::Int);
  CHECK(list.items[3].kind == Kind::List);
  CHECK(list.items[4].kind == Kind::Map);
  CHECK(propOf(n, "empty").value.kind == Kind::List);
  CHECK(propOf(n, "empty").value.items.empty());
  CHECK(propOf(n, "emptyspaced").value.items.empty());

  const ast::Value &map = propOf(n, "map").value;
  CHECK(map.kind == Kind::Map);
  REQUIRE(map.entries.size() == 3);
  CHECK(map.entries[0].key.text == "k");
  CHECK(map.entries[0].value->text == "v");
  CHECK(map.entries[1].value->intValue == 1);
  CHECK(map.entries[2].value->boolValue);
  CHECK(propOf(n, "emptymap").value.kind == Kind::Map);
  CHECK(propOf(n, "emptymap").value.entries.empty());

  const ast::Property &nested = propOf(n, "nested");
  CHECK(nested.isBlock);
  REQUIRE(nested.children.size() == 2);
  CHECK(nested.children[0].key.text == "inner");
  CHECK(nested.children[1].isBlock);
  REQUIRE(nested.children[1].children.size() == 1);
  CHECK(nested.children[1].children[0].value.text == "y");
}

TEST_CASE("parser: duplicate properties keep the last one", "[parser]") {
  CheckResult r = parse("agent a:\n  model: \"one\"\n  model: \"two\"\n");
  CHECK(r.allCodes().empty());
  auto *a = declAt<ast::NodeDecl>(r, 0);
  CHECK(a->properties.size() == 2);
  CHECK(propOf(a, "model").value.text == "two");
}

TEST_CASE("parser: attachments block", "[parser]") {
  CheckResult r = parse("attachments:\n"
                        "  logo:\n"
                        "    type: image\n"
                        "    required: true\n");
  CHECK(r.allCodes().empty());
  auto *b = declAt<ast::BlockDecl>(r, 0);
  CHECK(b->keyword == "attachments");
  REQUIRE(b->properties.size() == 1);
  CHECK(b->properties[0].isBlock);
  CHECK(b->properties[0].children.size() == 2);
}

//===----------------------------------------------------------------------===//
// Workflows and edges
//===----------------------------------------------------------------------===//

TEST_CASE("parser: workflow with entry, budget, vars and properties",
          "[parser]") {
  CheckResult r = parse("workflow main:\n"
                        "  entry: a\n"
                        "  a -> b\n"
                        "  budget:\n"
                        "    max_cost_usd: 1.5\n"
                        "    max_tokens: 1000\n"
                        "  vars:\n"
                        "    x: int = 1\n"
                        "  default_backend: \"claw\"\n"
                        "  b -> done\n");
  CHECK(r.allCodes().empty());
  auto *w = onlyWorkflow(r);
  CHECK(w->name.text == "main");
  using IK = ast::WorkflowDecl::Item::Kind;
  REQUIRE(w->items.size() == 6);
  CHECK(w->items[0].kind == IK::Property);
  CHECK(w->items[1].kind == IK::Edge);
  CHECK(w->items[2].kind == IK::Property);
  CHECK(w->items[3].kind == IK::Vars);
  CHECK(w->items[4].kind == IK::Property);
  CHECK(w->items[5].kind == IK::Edge);
  CHECK(w->items[5].index == 1);
  REQUIRE(w->find("entry"));
  CHECK(w->find("entry")->value.text == "a");
  const ast::Property *budget = w->find("budget");
  REQUIRE(budget);
  CHECK(budget->isBlock);
  REQUIRE(budget->children.size() == 2);
  CHECK(budget->children[0].value.floatValue == Approx(1.5));
  REQUIRE(w->vars.size() == 1);
  REQUIRE(w->vars[0]->vars.size() == 1);
  CHECK(w->vars[0]->vars[0].defaultValue->intValue == 1);
  CHECK(w->edges.size() == 2);
}

TEST_CASE("parser: edge clauses", "[parser]") {
  CheckResult r = edges("  a -> b\n"
                        "  a -> c when ok\n"
                        "  a -> d when not ok\n"
                        "  b -> e when \"x > 1 && y\"\n"
                        "  b -> e2 when `raw expr`\n"
                        "  c -> a as retry(3)\n"
                        "  d -> a as refine(\"{{vars.n}}\")\n"
                        "  e -> done with { k: \"v\", n: \"{{outputs.e}}\" }\n");
  CHECK(r.allCodes().empty());
  auto *w = onlyWorkflow(r);
  REQUIRE(w->edges.size() == 8);
  const auto &E = w->edges;

  CHECK(E[0].src.text == "a");
  CHECK(E[0].dst.text == "b");
  CHECK_FALSE(E[0].when);
  CHECK_FALSE(E[0].loop);
  CHECK_FALSE(E[0].with);
  CHECK(lcAt(r, E[0].dst.range.begin).column == 8);

  REQUIRE(E[1].when);
  CHECK_FALSE(E[1].when->negated);
  CHECK_FALSE(E[1].when->isExpr);
  CHECK(E[1].when->field.text == "ok");

  REQUIRE(E[2].when);
  CHECK(E[2].when->negated);
  CHECK(E[2].when->field.text == "ok");

  REQUIRE(E[3].when);
  CHECK(E[3].when->isExpr);
  CHECK_FALSE(E[3].when->negated);
  CHECK(E[3].when->expr.text == "x > 1 && y");

  REQUIRE(E[4].when);
  CHECK(E[4].when->isExpr);
  CHECK(E[4].when->expr.form == ast::Value::StringForm::Raw);
  CHECK(E[4].when->expr.text == "raw expr");

  REQUIRE(E[5].loop);
  CHECK(E[5].loop->name.text == "retry");
  CHECK(E[5].loop->cap.kind == Kind::Int);
  CHECK(E[5].loop->cap.intValue == 3);

  REQUIRE(E[6].loop);
  CHECK(E[6].loop->name.text == "refine");
  CHECK(E[6].loop->cap.kind == Kind::String);
  CHECK(E[6].loop->cap.text == "{{vars.n}}");

  REQUIRE(E[7].with);
  REQUIRE(E[7].with->entries.size() == 2);
  CHECK(E[7].with->entries[0].key.text == "k");
  CHECK(E[7].with->entries[1].value->text == "{{outputs.e}}");
}

TEST_CASE("parser: edge clauses in any order", "[parser]") {
  CheckResult r = edges("  a -> b when ok as l(2) with { k: \"v\" }\n"
                        "  a -> b with { k: \"v\" } when ok as l(2)\n"
                        "  a -> b as l(2) with { k: \"v\" } when not ok\n"
                        "  a -> b with {k: \"v\"} as l(2)\n");
  CHECK(r.allCodes().empty());
  auto *w = onlyWorkflow(r);
  REQUIRE(w->edges.size() == 4);
  for (size_t i = 0; i < 3; ++i) {
    INFO("edge " << i);
    REQUIRE(w->edges[i].when);
    REQUIRE(w->edges[i].loop);
    REQUIRE(w->edges[i].with);
    CHECK(w->edges[i].when->field.text == "ok");
    CHECK(w->edges[i].loop->cap.intValue == 2);
    CHECK(w->edges[i].with->entries.size() == 1);
  }
  CHECK(w->edges[2].when->negated);
  CHECK_FALSE(w->edges[3].when);
  CHECK(w->edges[3].loop);
}

TEST_CASE("parser: a duplicate clause is E030", "[parser]") {
  SECTION("when") {
    CheckResult r = edges("  a -> b when x when not y\n");
    REQUIRE(r.codes() == Codes{"E030"});
    CHECK(diagLc(r, 0).line == 3);
    CHECK(diagLc(r, 0).column == 17);
    REQUIRE(onlyWorkflow(r)->edges.size() == 1);
    CHECK(onlyWorkflow(r)->edges[0].when->field.text == "x");
  }
  SECTION("when with an expression") {
    CheckResult r = edges("  a -> b when x when \"y\"\n");
    REQUIRE(r.codes() == Codes{"E030"});
    CHECK(diagLc(r, 0).column == 17);
  }
  SECTION("as") {
    CheckResult r = edges("  a -> b as l(1) as m(2)\n");
    REQUIRE(r.codes() == Codes{"E030"});
    CHECK(diagLc(r, 0).column == 18);
    CHECK(onlyWorkflow(r)->edges[0].loop->name.text == "l");
  }
  SECTION("with") {
    CheckResult r = edges("  a -> b with {a: \"1\"} with {b: \"2\"}\n");
    REQUIRE(r.codes() == Codes{"E030"});
    CHECK(diagLc(r, 0).column == 24);
    CHECK(r.diags[0].message == "duplicate 'with' clause on this edge");
  }
}

TEST_CASE("parser: 'when not' with an expression is E002", "[parser]") {
  CheckResult r = edges("  a -> b when not \"x > 1\"\n");
  REQUIRE(r.codes() == Codes{"E002"});
  CHECK(diagLc(r, 0).line == 3);
  CHECK(diagLc(r, 0).column == 15);
  CHECK(r.diags[0].message.find("!(x > 1)") != std::string::npos);
}

TEST_CASE("parser: nodes named after keywords", "[parser]") {
  CheckResult r = parse("agent join:\n"
                        "  model: \"m\"\n"
                        "agent budget:\n"
                        "  model: \"m\"\n"
                        "judge when:\n"
                        "  model: \"m\"\n"
                        "schema input:\n"
                        "  agent: string\n"
                        "  prompt: bool\n"
                        "workflow w:\n"
                        "  entry: join\n"
                        "  join -> budget\n"
                        "  budget -> when\n"
                        "  when -> done when not prompt\n");
  CHECK(r.allCodes().empty());
  REQUIRE(r.ast->decls.size() == 5);
  CHECK(declAt<ast::NodeDecl>(r, 0)->name.text == "join");
  CHECK(declAt<ast::NodeDecl>(r, 0)->keyword == "agent");
  CHECK(declAt<ast::NodeDecl>(r, 1)->name.text == "budget");
  CHECK(declAt<ast::NodeDecl>(r, 2)->name.text == "when");
  auto *s = declAt<ast::SchemaDecl>(r, 3);
  CHECK(s->name.text == "input");
  REQUIRE(s->fields.size() == 2);
  CHECK(s->fields[0].name.text == "agent");
  auto *w = onlyWorkflow(r);
  // `budget -> when` is an edge, not a budget property.
  CHECK(w->properties.size() == 1);
  REQUIRE(w->edges.size() == 3);
  CHECK(w->edges[0].src.text == "join");
  CHECK(w->edges[1].src.text == "budget");
  CHECK(w->edges[1].dst.text == "when");
  CHECK(w->edges[2].src.text == "when");
  REQUIRE(w->edges[2].when);
  CHECK(w->edges[2].when->negated);
  CHECK(w->edges[2].when->field.text == "prompt");
}

TEST_CASE("parser: a keyword-named node checks cleanly end to end",
          "[parser]") {
  CheckResult r = checkSource("schema out:\n  ok: bool\n"
                              "agent budget:\n  model: \"m\"\n  output: out\n"
                              "workflow w:\n  entry: budget\n"
                              "  budget -> done\n");
  CHECK(r.allCodes().empty());
  REQUIRE(r.module);
}

//===----------------------------------------------------------------------===//
// Syntax errors and recovery
//===----------------------------------------------------------------------===//

TEST_CASE("parser: two broken declarations are both reported", "[parser]") {
  CheckResult r = parse("agent a:\n"
                        "  model: \"m\"\n"
                        "\n"
                        "agent b\n"
                        "  model: \"m\"\n"
                        "\n"
                        "schema s:\n"
                        "  x string\n"
                        "\n"
                        "agent c:\n"
                        "  model: \"m\"\n"
                        "\n"
                        "workflow w:\n"
                        "  entry: a\n"
                        "  a -> done\n");
  std::vector<unsigned> lines;
  for (size_t i = 0; i < r.diags.size(); ++i)
    lines.push_back(diagLc(r, i).line);
  INFO(r.render());
  REQUIRE(r.diags.size() == 2);
  CHECK(lines == std::vector<unsigned>{4, 8});
  CHECK(r.diags[0].code == "E002");
  CHECK(diagLc(r, 0).column == 8);
  CHECK(r.diags[1].code == "E002");
  CHECK(diagLc(r, 1).column == 5);
  CHECK(r.diags[1].message.find("found name 'string'") != std::string::npos);
  // Later valid declarations are still in the AST.
  bool sawA = false, sawC = false, sawW = false;
  for (const auto &d : r.ast->decls) {
    if (auto *n = dynamic_cast<const ast::NodeDecl *>(d.get())) {
      sawA |= n->name.text == "a";
      sawC |= n->name.text == "c";
    }
    if (auto *w = dynamic_cast<const ast::WorkflowDecl *>(d.get()))
      sawW = w->edges.size() == 1 && w->name.text == "w";
  }
  CHECK(sawA);
  CHECK(sawC);
  CHECK(sawW);
}

TEST_CASE("parser: an unknown top-level word is reported and skipped",
          "[parser]") {
  CheckResult r = parse("agnet a:\n  model: \"m\"\nagent b:\n  model: \"m\"\n");
  REQUIRE(!r.diags.empty());
  CHECK(r.diags[0].code.substr(0, 2) == "E0");
  CHECK(diagLc(r, 0).line == 1);
  CHECK(diagLc(r, 0).column == 1);
  REQUIRE(!r.ast->decls.empty());
  auto *b = dynamic_cast<const ast::NodeDecl *>(r.ast->decls.back().get());
  REQUIRE(b);
  CHECK(b->name.text == "b");
}

TEST_CASE("parser: an edge missing its destination", "[parser]") {
  CheckResult r = edges("  a -> \n"
                        "  b -> done\n");
  INFO(r.render());
  REQUIRE(!r.diags.empty());
  CHECK(r.diags[0].code.substr(0, 2) == "E0");
  CHECK(diagLc(r, 0).line == 3);
  CHECK(diagLc(r, 0).column == 8);
}

TEST_CASE("parser: error recovery in an edge stays on its line",
          "[parser]") {
  // BUG: the recovery of `a -> ` (no destination) consumes the NEWLINE and
  // the first name of the next line: the AST gets an edge `a -> "\na"`
  // (a name containing a newline, which sema then reports as C001 unknown
  // node '\na'), and the next line `a -> b when` is reported as
  // "expected a name or end of line, found '->'" at 4:5 instead of its own
  // error (missing condition after `when`, at 4:14).
  CheckResult r = edges("  a -> \n"
                        "  a -> b when\n"
                        "  b -> done\n");
  INFO(r.render());
  REQUIRE(r.diags.size() == 2);
  CHECK(diagLc(r, 0).line == 3);
  CHECK(diagLc(r, 0).column == 8);
  CHECK(diagLc(r, 1).line == 4);
  CHECK(diagLc(r, 1).column == 14);
  auto *w = onlyWorkflow(r);
  for (const ast::Edge &e : w->edges) {
    CHECK(e.src.text.find('\n') == std::string::npos);
    CHECK(e.dst.text.find('\n') == std::string::npos);
  }
  REQUIRE(!w->edges.empty());
  CHECK(w->edges.back().src.text == "b");
  CHECK(w->edges.back().dst.text == "done");
}

TEST_CASE("parser: 'expected' messages do not contradict 'found'",
          "[parser]") {
  // BUG: describeExpected folds every keyword token into "a name", so at
  // top level, where only declaration keywords are valid, a misspelt
  // keyword gives "expected a name or end of line, found name 'agnet'".
  CheckResult r = parse("agnet a:\n  model: \"m\"\nagent b:\n  model: \"m\"\n");
  REQUIRE(!r.diags.empty());
  INFO(r.diags[0].message);
  CHECK(r.diags[0].message.find("expected a name") == std::string::npos);
}

TEST_CASE("parser: a missing colon after a declaration name", "[parser]") {
  CheckResult r = parse("schema s\n  x: string\n");
  REQUIRE(!r.diags.empty());
  CHECK(r.diags[0].code == "E002");
  CHECK(diagLc(r, 0).line == 1);
  CHECK(diagLc(r, 0).column == 9);
  CHECK(r.diags[0].message.find("':'") != std::string::npos);
}

TEST_CASE("parser: a value missing after a colon", "[parser]") {
  CheckResult r = parse("agent a:\n  model: \"m\"\n  output: ,\n  x: 1\n");
  REQUIRE(!r.diags.empty());
  CHECK(r.diags[0].code.substr(0, 2) == "E0");
  CHECK(diagLc(r, 0).line == 3);
  CHECK(diagLc(r, 0).column == 11);
}

TEST_CASE("parser: an edge outside a workflow is a syntax error",
          "[parser]") {
  CheckResult r = parse("a -> b\nagent a:\n  model: \"m\"\n");
  REQUIRE(!r.diags.empty());
  CHECK(diagLc(r, 0).line == 1);
  REQUIRE(!r.ast->decls.empty());
  CHECK(declAt<ast::NodeDecl>(r, r.ast->decls.size() - 1)->name.text == "a");
}

TEST_CASE("parser: a prompt body on the header line is an error",
          "[parser]") {
  CheckResult r = parse("prompt p: text\nagent a:\n  model: \"m\"\n");
  INFO(r.render());
  REQUIRE(r.hasCode("E001"));
  for (size_t i = 0; i < r.diags.size(); ++i) {
    CHECK(diagLc(r, i).line == 1);
    if (r.diags[i].code == "E001")
      CHECK(diagLc(r, i).column == 11);
  }
  // The next declaration is still parsed.
  CHECK(declAt<ast::NodeDecl>(r, r.ast->decls.size() - 1)->name.text == "a");
}

TEST_CASE("parser: diagnostics are in source order", "[parser]") {
  CheckResult r = parse("agent a\n  x: 1\nschema s\n  y: int\n"
                        "agent c:\n  z: \"unterminated\n");
  REQUIRE(r.diags.size() >= 3);
  for (size_t i = 1; i < r.diags.size(); ++i)
    CHECK(r.diags[i - 1].range.begin <= r.diags[i].range.begin);
}

TEST_CASE("parser: a large file with scattered errors is deterministic",
          "[parser]") {
  std::string text = "## strict-escape: on\n";
  for (int i = 0; i < 300; ++i) {
    std::string n = std::to_string(i);
    if (i % 50 == 7)
      text += "agent a" + n + "\n  model: \"m\"\n\n";  // missing colon
    else if (i % 50 == 31)
      text += "agent a" + n + ":\n  model: \"bad \\q\"\n\n";  // E005
    else
      text += "agent a" + n + ":\n  model: \"m\"\n\n";
  }
  text += "workflow w:\n  entry: a0\n  a0 -> done\n";
  CheckResult first = parse(text);
  CheckResult second = parse(text);
  CHECK(first.render() == second.render());
  CHECK(first.render(DiagnosticFormat::Json) ==
        second.render(DiagnosticFormat::Json));
  REQUIRE(first.codes().size() == 12);
  for (size_t i = 1; i < first.diags.size(); ++i)
    CHECK(first.diags[i - 1].range.begin < first.diags[i].range.begin);
  for (size_t i = 0; i < first.diags.size(); ++i) {
    unsigned agent = (diagLc(first, i).line - 2) / 3;
    INFO(first.diags[i].message);
    CHECK((agent % 50 == 7 || agent % 50 == 31));
    CHECK(first.diags[i].code == (agent % 50 == 7 ? "E002" : "E005"));
  }
  // Every valid agent and the workflow are in the AST.
  size_t nodes = 0;
  for (const auto &d : first.ast->decls)
    if (dynamic_cast<const ast::NodeDecl *>(d.get()))
      ++nodes;
  CHECK(nodes >= 294);
  CHECK(onlyWorkflow(first)->edges.size() == 1);
  CHECK(first.ast->strictEscapes);
}
