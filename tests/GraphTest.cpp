//===- GraphTest.cpp - Mermaid and DOT renderings of a workflow -----------===//
#include "TestUtil.h"

#include "Tools/GraphPrinter.h"

#include <catch2/catch.hpp>

using namespace iterc;
using namespace iterc::test;

namespace {

std::string graphOf(const std::string &relativePath, GraphFormat format) {
  CheckResult r = checkSource(readRepoFile(relativePath), relativePath);
  INFO(r.render());
  REQUIRE(r.codes().empty());
  REQUIRE(r.module);
  return printGraph(*r.module, format);
}

} // namespace

TEST_CASE("graph: DOT edges use the nodes' font", "[graph]") {
  std::string dot = graphOf("examples/service_codegen.iter", GraphFormat::Dot);
  CHECK(dot.find("  node [fontname=\"Helvetica\"];\n"
                 "  edge [fontname=\"Helvetica\"];\n") != std::string::npos);
}

TEST_CASE("graph: the fallback edge after conditional ones is labelled",
          "[graph]") {
  // contract -> done when passed; ... when not passed; contract -> fail
  std::string dot = graphOf("examples/service_codegen.iter", GraphFormat::Dot);
  std::string mermaid =
      graphOf("examples/service_codegen.iter", GraphFormat::Mermaid);
  CHECK(dot.find("[label=\"otherwise\"]") != std::string::npos);
  CHECK(mermaid.find("-->|\"otherwise\"|") != std::string::npos);
  // An edge with no conditional sibling stays unlabelled (coder -> build).
  CHECK(mermaid.find("|\"otherwise\"| n") != std::string::npos);
  size_t labelled = 0;
  for (size_t at = mermaid.find("otherwise"); at != std::string::npos;
       at = mermaid.find("otherwise", at + 1))
    ++labelled;
  CHECK(labelled == 1);
}

TEST_CASE("graph: services and restart edges appear", "[graph]") {
  std::string mermaid =
      graphOf("examples/service_codegen.iter", GraphFormat::Mermaid);
  std::string dot = graphOf("examples/service_codegen.iter", GraphFormat::Dot);
  CHECK(mermaid.find("s0([\"app (service)\"])") != std::string::npos);
  CHECK(dot.find("s0 [label=\"app (service)\", shape=box3d];") !=
        std::string::npos);
  // `tool build` restarts app.
  CHECK(mermaid.find(" -.->|\"restart\"| s0\n") != std::string::npos);
  CHECK(dot.find(" -> s0 [label=\"restart\", style=dotted];") !=
        std::string::npos);

  // service_stack: the workflow starts db and api; api depends on db.
  std::string stack =
      graphOf("examples/service_stack.iter", GraphFormat::Mermaid);
  CHECK(stack.find("start -.->|\"starts\"| s0\n") != std::string::npos);
  CHECK(stack.find("start -.->|\"starts\"| s1\n") != std::string::npos);
  CHECK(stack.find("s1 -.->|\"depends on\"| s0\n") != std::string::npos);
}
