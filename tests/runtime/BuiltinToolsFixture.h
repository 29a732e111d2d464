//===- BuiltinToolsFixture.h - The built-in tools over a workspace -*- C++ -*-//
//
// A temporary workspace (and a directory outside it), a process runner and
// the built-in toolbox over them, with calls that must succeed, return text
// or fail with `{"error": ...}`: shared by the agent tool tests.
//
//===----------------------------------------------------------------------===//
#ifndef ITERC_TESTS_RUNTIME_BUILTINTOOLSFIXTURE_H
#define ITERC_TESTS_RUNTIME_BUILTINTOOLSFIXTURE_H

#include "iterc/rt/AgentTools.h"

#include "RuntimeTestUtil.h"

#include <catch2/catch.hpp>

#include <memory>
#include <string>

namespace iterc::rt::test {

struct BuiltinToolsFixture {
  TempDir ws;
  TempDir outside;
  std::unique_ptr<ToolRunner> runner = makeProcessRunner();
  std::unique_ptr<Toolbox> tools;

  explicit BuiltinToolsFixture(int64_t timeoutMs = 20000)
      : tools(makeBuiltinToolbox(ws.path(), *runner, timeoutMs)) {}

  Json call(const std::string &name, const Json &args) {
    Expected<Json> r = tools->call(name, args);
    INFO(name << " " << args.dump());
    INFO((r ? std::string() : r.error().message));
    REQUIRE(r.ok());
    return *r;
  }
  /// Calls a tool that must succeed with text.
  std::string text(const std::string &name, const Json &args) {
    Json r = call(name, args);
    INFO(r.dump());
    REQUIRE(r.is_string());
    return r.get<std::string>();
  }
  /// Calls a tool that must fail with `{"error": ...}`; the message.
  std::string error(const std::string &name, const Json &args) {
    Json r = call(name, args);
    INFO(r.dump());
    REQUIRE(r.is_object());
    REQUIRE(r.contains("error"));
    REQUIRE(r["error"].is_string());
    return r["error"].get<std::string>();
  }
};

} // namespace iterc::rt::test

#endif // ITERC_TESTS_RUNTIME_BUILTINTOOLSFIXTURE_H
