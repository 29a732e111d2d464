//===- ProgramTest.cpp - Generated-code interface: tables, values, decoders
//===//
//
// Tests the part of runtime-lib that generated code calls: gen::Value, the
// expression operators, the schema decoders (whose messages must match
// SchemaDesc::validate's) and loadProgram, which turns constant tables like
// the ones iterc emits into the engine's WorkflowDesc. The tables here are
// written the way the C++ emitter writes them.
//
//===----------------------------------------------------------------------===//
#include "iterc/rt/Program.h"
#include "iterc/rt/Engine.h"
#include "iterc/rt/Scope.h"

#include <catch2/catch.hpp>

#include <cstdlib>

// Tables name only the members they set, as generated code does.
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

using namespace iterc::rt;
using namespace iterc::rt::gen;

namespace {

struct Item {
  std::string name;
  int64_t count = 0;
  enum class kind_t { small, large } kind = kind_t::small;
  std::vector<std::string> tags;
};

bool decode(const Value &value, Item &out, Errors &errors) {
  if (!expectObject(value, errors))
    return false;
  size_t before = errors.size();
  decodeString(value, "name", out.name, errors);
  decodeInt(value, "count", out.count, errors);
  if (int i = 0; decodeEnum(value, "kind", {"small", "large"}, i, errors))
    out.kind = static_cast<Item::kind_t>(i);
  decodeStringList(value, "tags", out.tags, errors);
  return errors.size() == before;
}

void validateItem(const Value &value, Errors &errors) {
  Item item;
  decode(value, item, errors);
}

Value countIsBig(const Scope &s) {
  return gt(path(s, RefNs::Outputs, {"make", "count"}), Value(int64_t(2)));
}

Value computeCount(const Scope &s) {
  return add(path(s, RefNs::Vars, {"start"}), Value(int64_t(1)));
}

Value computeName(const Scope &s) {
  return Value(truthy(path(s, RefNs::Vars, {"loud"})) ? "BIG" : "small");
}

constexpr const char *kKindValues[] = {"small", "large"};
constexpr FieldInfo kItemFields[] = {
    {"name", FieldType::String},
    {"count", FieldType::Int},
    {"kind", FieldType::String, {kKindValues, 2}},
    {"tags", FieldType::StringList},
};
constexpr SchemaInfo kSchemas[] = {{"item", {kItemFields, 4}, validateItem}};

constexpr CheckInfo kMakeCompute[] = {
    {"name", "if(vars.loud, \"BIG\", \"small\")", computeName},
    {"count", "vars.start + 1", computeCount},
};
constexpr const char *kPath_start[] = {"start"};
constexpr Part kPrompt[] = {
    {.literal = "start at "},
    {.isRef = true, .ns = RefNs::Vars, .path = {kPath_start, 1}},
};
constexpr NodeInfo kNodes[] = {
    {.kind = NodeKind::Compute, .name = "make", .exprs = {kMakeCompute, 2}},
    {.kind = NodeKind::Done, .name = "done"},
    {.kind = NodeKind::Fail, .name = "fail"},
};
constexpr Binding kWith[] = {{"note", {kPrompt, 2}}};
constexpr EdgeInfo kEdges[] = {
    {.from = 0,
     .to = 1,
     .cond = EdgeCond::Expr,
     .exprText = "outputs.make.count > 2",
     .expr = countIsBig,
     .with = {kWith, 1}},
    {.from = 0, .to = 2},
};
constexpr VarInfo kVars[] = {
    {.name = "start", .type = FieldType::Int, .defaultJson = "1"},
    {.name = "loud", .type = FieldType::Bool, .defaultJson = "false"},
    {.name = "token", .type = FieldType::String, .secret = true},
};
constexpr PresetValue kBigValues[] = {{"start", "5"}, {"loud", "true"}};
constexpr PresetInfo kPresets[] = {{"big", {kBigValues, 2}}};
constexpr const char *kWebCommand[] = {"-m", "http.server"};
constexpr const char *kWebPorts[] = {"8000:80"};
constexpr EnvValue kWebEnv[] = {
    {"MODE", "test"},
    {"URL",
     "http://${ITERC_PROGRAM_TEST_HOST:-localhost}:${ITERC_PROGRAM_TEST_PORT}/"
     "x"}};
constexpr const char *kHealthCommand[] = {"true"};
constexpr HealthInfo kWebHealth = {
    .command = {kHealthCommand, 1}, .intervalMs = 50, .retries = 3};
constexpr const char *kWebDeps[] = {"db"};
constexpr ServiceInfo kServices[] = {
    {.name = "db", .image = "postgres:16"},
    {.name = "web",
     .program = "python3",
     .command = {kWebCommand, 2},
     .ports = {kWebPorts, 1},
     .env = {kWebEnv, 2},
     .dependsOn = {kWebDeps, 1},
     .health = &kWebHealth},
};
constexpr const char *kStackNames[] = {"web"};
constexpr ProgramInfo kProgram = {
    .programName = "demo",
    .workflowName = "demo",
    .sourcePath = "demo.iter",
    .sourceSha256 = "abc",
    .itercVersion = "9.9.9",
    .schemas = {kSchemas, 1},
    .nodes = {kNodes, 3},
    .edges = {kEdges, 2},
    .vars = {kVars, 3},
    .presets = {kPresets, 1},
    .budget = {.maxIterations = 10, .maxCostUsd = 1.5},
    .entry = 0,
    .services = {kServices, 2},
    .stack = {kStackNames, 1},
};

} // namespace

TEST_CASE("gen::Value holds JSON values", "[program]") {
  Value v = Value::object();
  v.set("n", Value(int64_t(3)));
  v.set("f", Value(2.0));
  v.set("s", Value("x"));
  Value list = Value::array();
  list.push(Value(true));
  v.set("l", list);
  CHECK(v.isObject());
  CHECK(v.size() == 4);
  CHECK(v.get("n").isInt());
  CHECK(v.get("f").isInt()); // an integral float counts as an int
  CHECK(!Value(2.5).isInt());
  CHECK(v.get("s").asString() == "x");
  CHECK(v.get("l").at(0).asBool());
  CHECK(v.get("missing").isNull());
  CHECK(std::string(v.get("l").typeName()) == "list");
  Value copy = v;
  copy.set("n", Value(int64_t(4)));
  CHECK(v.get("n").asInt() == 3);
  Value moved = std::move(copy);
  CHECK(moved.get("n").asInt() == 4);
}

TEST_CASE("gen operators follow the expression semantics", "[program]") {
  JsonScope scope;
  scope.vars = {{"a", 2}, {"b", "2"}, {"list", {"x", "y", "x"}}};
  CHECK(truthy(eq(path(scope, RefNs::Vars, {"a"}), Value(int64_t(2)))));
  CHECK(!truthy(eq(path(scope, RefNs::Vars, {"a"}), Value("3"))));
  CHECK(length(unique(path(scope, RefNs::Vars, {"list"}))).asInt() == 2);
  CHECK(join(path(scope, RefNs::Vars, {"list"}), Value("-")).asString() ==
        "x-y-x");
  CHECK(truthy(contains(path(scope, RefNs::Vars, {"list"}), Value("y"))));
  CHECK(path(scope, RefNs::Vars, {"nope", "deeper"}).isNull());
  CHECK(concat({Value::array(), path(scope, RefNs::Vars, {"list"})}).size() ==
        3);
}

TEST_CASE("generated decoders report what SchemaDesc::validate reports",
          "[program]") {
  WorkflowDesc wf = loadProgram(kProgram);
  REQUIRE(wf.schemas.size() == 1);
  SchemaDesc tableOnly = wf.schemas[0];
  tableOnly.validator = nullptr; // the interpreter-free table check
  const Json samples[] = {
      Json::parse(R"({"name":"a","count":1,"kind":"small","tags":[]})"),
      Json::parse(R"({"name":1,"count":"x","kind":"huge","tags":[1]})"),
      Json::parse(R"({"count":1.0,"kind":"large"})"),
      Json::parse(R"([1,2])"),
  };
  for (const Json &sample : samples) {
    INFO(sample.dump());
    CHECK(wf.schemas[0].validate(sample) == tableOnly.validate(sample));
  }
  CHECK(wf.schemas[0].validate(samples[0]).empty());
  CHECK(wf.schemas[0].validate(samples[1]).size() == 4);
}

TEST_CASE("loadProgram builds the engine's tables", "[program]") {
  ::unsetenv("ITERC_PROGRAM_TEST_HOST");
  ::setenv("ITERC_PROGRAM_TEST_PORT", "8123", 1);
  WorkflowDesc wf = loadProgram(kProgram);
  ::unsetenv("ITERC_PROGRAM_TEST_PORT");
  CHECK(wf.name == "demo");
  CHECK(wf.itercVersion == "9.9.9");
  REQUIRE(wf.nodes.size() == 3);
  CHECK(wf.doneIndex() == 1);
  REQUIRE(wf.nodes[0].exprs.size() == 2);
  CHECK(wf.nodes[0].exprs[1].source == "vars.start + 1");
  REQUIRE(wf.edges.size() == 2);
  CHECK(wf.edges[0].cond == EdgeDesc::Cond::Expr);
  REQUIRE(wf.edges[0].with.size() == 1);
  REQUIRE(wf.edges[0].with[0].second.parts.size() == 2);
  CHECK(wf.edges[0].with[0].second.parts[0].literal == "start at ");
  CHECK(wf.edges[0].with[0].second.parts[1].ref->path ==
        std::vector<std::string>{"start"});
  REQUIRE(wf.vars.size() == 3);
  CHECK(*wf.vars[0].defaultValue == Json(1));
  CHECK(!wf.vars[2].defaultValue);
  CHECK(wf.vars[2].secret);
  REQUIRE(wf.presets.size() == 1);
  CHECK(wf.presets[0].values[1].second == Json(true));
  CHECK(*wf.budget.maxIterations == 10);
  CHECK(*wf.budget.maxCostUsd == 1.5);
  CHECK(!wf.budget.maxTokens);
  REQUIRE(wf.services.size() == 2);
  CHECK(wf.services[0].image == "postgres:16");
  CHECK(!wf.services[0].health);
  const ServiceDesc &web = wf.services[1];
  CHECK(web.command == std::vector<std::string>{"-m", "http.server"});
  // ${NAME} references are read from the environment, defaults included.
  CHECK(web.env == std::vector<std::pair<std::string, std::string>>{
                       {"MODE", "test"}, {"URL", "http://localhost:8123/x"}});
  CHECK(web.dependsOn == std::vector<std::string>{"db"});
  REQUIRE(web.health);
  CHECK(web.health->command == std::vector<std::string>{"true"});
  CHECK(web.health->intervalMs == 50);
  CHECK(web.health->timeoutMs == 30000);
  CHECK(wf.stack == std::vector<std::string>{"web"});

  // Node lookups by name, linear and indexed, agree.
  NodeIndex index(wf);
  for (size_t i = 0; i < wf.nodes.size(); ++i) {
    CHECK(index.find(wf.nodes[i].name) == int(i));
    CHECK(wf.findNode(wf.nodes[i].name) == int(i));
  }
  CHECK(index.find("nowhere") == -1);
  CHECK(wf.findNode("nowhere") == -1);
}

TEST_CASE("a loaded program runs: compiled expressions drive the engine",
          "[program]") {
  WorkflowDesc wf = loadProgram(kProgram);
  auto store = makeMemoryStore();
  ProviderSet providers;
  EngineDeps deps;
  deps.store = store.get();
  deps.providers = &providers;
  Engine engine(wf, deps);

  RunOptions small;
  small.vars["token"] = "t";
  RunResult r = engine.run(small);
  CHECK(r.status == RunStatus::Failed); // count 2: not > 2, goes to fail
  CHECK(r.outputs["make"]["count"] == 2);
  CHECK(r.outputs["make"]["name"] == "small");

  RunOptions big;
  big.vars["token"] = "t";
  big.preset = "big";
  r = engine.run(big);
  CHECK(r.status == RunStatus::Finished);
  CHECK(r.outputs["make"]["count"] == 6);
  CHECK(r.outputs["make"]["name"] == "BIG");
}
