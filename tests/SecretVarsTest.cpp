//===- SecretVarsTest.cpp - Secret variables in the language
//---------------===//
//
// `name: string secret [= default]`: accepted by the parser and Sema (the
// IR variable is secret), wrong modifiers and non-string secrets are C134,
// a secret written in the file is C135, and the generated variable table
// marks exactly the secret variables `secret = true`. Formatting is
// covered by the fmt golden case tests/golden/fmt/secret_vars.
//
//===----------------------------------------------------------------------===//
#include "CodeGen/Emit.h"
#include "TestUtil.h"

#include <catch2/catch.hpp>

#include <filesystem>

using namespace iterc;
using namespace iterc::test;
using namespace iterc::codegen;

namespace {

/// A complete file: the variables `vars` (and `presets`), one agent whose
/// user prompt is `prompt`.
std::string fileWithVars(const std::string &vars, const std::string &presets,
                         const std::string &prompt) {
  return "vars:\n" + vars + presets + "\nprompt ask:\n  " + prompt +
         "\n\nschema out:\n  ok: bool\n\n"
         "agent writer:\n  model: \"openai/gpt-4o-mini\"\n  output: out\n"
         "  user: ask\n\n"
         "workflow main:\n  entry: writer\n  writer -> done\n";
}

const ir::Var *findVar(const ir::Module &m, const std::string &name) {
  for (const ir::Var &v : m.vars)
    if (v.name == name)
      return &v;
  return nullptr;
}

} // namespace

TEST_CASE("a variable marked secret checks and is secret in the IR",
          "[secret][sema]") {
  CheckResult r = checkSource(
      fileWithVars("  token: string secret = \"${API_TOKEN}\"\n"
                   "  tier: string [enum: \"free\", \"paid\"] secret\n"
                   "  topic: string = \"rust\"\n"
                   "  secret: string = \"a variable may be named secret\"\n",
                   "", "{{vars.token}} {{vars.tier}} {{vars.topic}}"));
  INFO(r.render());
  REQUIRE(r.allCodes().empty());
  REQUIRE(r.module);
  REQUIRE(findVar(*r.module, "token"));
  CHECK(findVar(*r.module, "token")->secret);
  CHECK(findVar(*r.module, "token")->defaultValue == "${API_TOKEN}");
  CHECK(findVar(*r.module, "tier")->secret);
  CHECK(findVar(*r.module, "tier")->enumValues.size() == 2);
  CHECK_FALSE(findVar(*r.module, "topic")->secret);
  CHECK_FALSE(findVar(*r.module, "secret")->secret);

  // A workflow-level vars block takes the mark too.
  CheckResult inWorkflow = checkSource(
      "prompt ask:\n  {{vars.key}}\n\n"
      "schema out:\n  ok: bool\n\nagent writer:\n  model: \"m\"\n"
      "  output: out\n  user: ask\n\n"
      "workflow main:\n  vars:\n    key: string secret\n  entry: writer\n"
      "  writer -> done\n");
  INFO(inWorkflow.render());
  REQUIRE(inWorkflow.allCodes().empty());
  CHECK(findVar(*inWorkflow.module, "key")->secret);
}

TEST_CASE("C134: a misspelt modifier or a secret that is not a string",
          "[secret][sema]") {
  CheckResult typo = checkSource(fileWithVars(
      "  token: string secert = \"${API_TOKEN}\"\n", "", "{{vars.token}}"));
  CHECK(typo.codes() == std::vector<std::string>{"C134"});
  CHECK(typo.render().find("'secert' is not a modifier of variable 'token'") !=
        std::string::npos);
  CHECK(typo.render().find("secret") != std::string::npos);

  CheckResult number =
      checkSource(fileWithVars("  pin: int secret\n", "", "{{vars.pin}}"));
  CHECK(number.codes() == std::vector<std::string>{"C134"});
  CHECK(number.render().find("secret variable 'pin' is int") !=
        std::string::npos);
}

TEST_CASE("C135: a secret written in the file is a warning", "[secret][sema]") {
  CheckResult literal = checkSource(fileWithVars(
      "  token: string secret = \"sk-live-123456\"\n", "", "{{vars.token}}"));
  CHECK(literal.codes().empty());
  CHECK(literal.codes(Severity::Warning) == std::vector<std::string>{"C135"});

  CheckResult preset = checkSource(
      fileWithVars("  token: string secret\n",
                   "\npresets:\n  prod:\n    token: \"sk-live-123456\"\n",
                   "{{vars.token}}"));
  CHECK(preset.codes().empty());
  CHECK(preset.codes(Severity::Warning) == std::vector<std::string>{"C135"});
  CHECK(preset.render().find("preset 'prod' gives secret variable 'token'") !=
        std::string::npos);

  // From the environment, empty, or not secret: no warning.
  CheckResult fine = checkSource(
      fileWithVars("  token: string secret = \"${TOKEN:-}\"\n"
                   "  other: string secret = \"\"\n"
                   "  plain: string = \"sk-not-a-secret\"\n",
                   "", "{{vars.token}} {{vars.other}} {{vars.plain}}"));
  CHECK(fine.allCodes().empty());
}

TEST_CASE("the generated variable table marks the secret variables",
          "[secret][emit]") {
  std::string source =
      fileWithVars("  token: string secret = \"${API_TOKEN}\"\n"
                   "  topic: string = \"rust\"\n",
                   "", "{{vars.token}} {{vars.topic}}");
  CheckResult r = checkSource(source, "secret.iter");
  REQUIRE(r.codes().empty());
  REQUIRE(r.module);
  namespace fs = std::filesystem;
  fs::path templates = fs::path(ITERC_SOURCE_DIR) / "templates";
  Skeletons skeletons{readFile(templates / "workflow.h.mustache"),
                      readFile(templates / "workflow.cpp.mustache"),
                      readFile(templates / "CMakeLists.txt.mustache")};
  std::vector<EmittedFile> files = emitWorkflow(
      *r.module, makeEmitContext(*r.module, "secret.iter", source), skeletons);
  std::string cpp;
  for (const EmittedFile &f : files)
    if (f.path.size() > 4 && f.path.compare(f.path.size() - 4, 4, ".cpp") == 0)
      cpp += f.content;
  REQUIRE_FALSE(cpp.empty());
  size_t token = cpp.find(".name = \"token\"");
  size_t topic = cpp.find(".name = \"topic\"");
  REQUIRE(token != std::string::npos);
  REQUIRE(topic != std::string::npos);
  // Each entry of the table ends with a line "  },".
  std::string tokenEntry = cpp.substr(token, cpp.find("\n  },", token) - token);
  std::string topicEntry = cpp.substr(topic, cpp.find("\n  },", topic) - topic);
  CHECK(tokenEntry.find(".secret = true") != std::string::npos);
  CHECK(topicEntry.find(".secret") == std::string::npos);
}
