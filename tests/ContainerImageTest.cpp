//===- ContainerImageTest.cpp - Images that can run what they are for -----===//
//
// The generated images must run as generated: a packaged service's HTTP
// health check runs iterc's probe in exec form (its scratch image has no
// shell, wget or curl), a health command in that image is C140, and a
// workflow with tool nodes names a base image with a shell (`runner_image`)
// or gets the note C141. tests/container/services_test.sh builds and runs
// the images with podman.
//
//===----------------------------------------------------------------------===//
#include "TestUtil.h"

#include "CodeGen/StackEmitter.h"

#include <catch2/catch.hpp>

#include <sstream>

using namespace iterc;
using namespace iterc::codegen;
using namespace iterc::test;

namespace {

EmitContext demoContext() {
  EmitContext ctx;
  ctx.programName = "demo";
  ctx.sourcePath = "examples/demo.iter";
  ctx.sourceSha256 = std::string(64, 'a');
  ctx.itercVersion = "0.1.0";
  return ctx;
}

bool hasLine(const std::string &text, const std::string &line) {
  std::istringstream in(text);
  std::string l;
  while (std::getline(in, l))
    if (l == line)
      return true;
  return false;
}

/// `services` and a workflow that starts `api` from a verify node.
std::string withApi(const std::string &services) {
  return services + R"(
verify smoke:
  http:
    up:
      service: api
      path: "/healthz"
      expect_status: 200

workflow demo:
  entry: smoke
  services: [api]
  smoke -> done when passed
  smoke -> fail when not passed
)";
}

const std::string kPackagedHttp = R"(service api:
  build: "./api"
  program: "./bin/server"
  ports: ["18080:8080"]
  health:
    http: "/healthz"
    timeout: "3s"
)";

std::unique_ptr<ir::Module> compileClean(const std::string &text) {
  CheckResult r = checkSource(text, "demo.iter");
  INFO(r.render());
  REQUIRE(r.codes().empty());
  REQUIRE(r.module);
  return std::move(r.module);
}

const std::string kToolWorkflow = R"(tool test:
  command: "echo ok"
  capture: true

workflow ci:
)";

} // namespace

TEST_CASE("a packaged service's HTTP health check runs iterc's probe in exec "
          "form",
          "[stack][containers]") {
  auto m = compileClean(withApi(kPackagedHttp));
  const ir::Service &api = m->services.front();
  std::string compose = emitCompose(*m, demoContext());
  INFO(compose);
  CHECK(hasLine(compose, "      test: [\"CMD\", \"/iterc-probe\", \"__probe\", "
                         "\"http://127.0.0.1:8080/healthz\", \"3000\"]"));
  CHECK(compose.find("CMD-SHELL") == std::string::npos);
  CHECK(hasLine(compose, "      context: \"services/api\""));

  // The emitted Dockerfile copies the probe from services/api/.
  std::string packaged = emitServiceDockerfile(api, demoContext());
  CHECK(hasLine(packaged, "COPY --chmod=0555 app/server /app/server"));
  CHECK(hasLine(packaged, "COPY --chmod=0555 iterc-probe /iterc-probe"));
  CHECK(hasLine(packaged, "ENTRYPOINT [\"/app/server\"]"));
  // The container runtime builds from the service's context, no probe.
  std::string runtime = emitServiceDockerfile(
      api, demoContext(), ServiceImageContext::BuildContext);
  CHECK(hasLine(runtime, "COPY --chmod=0555 bin/server /app/server"));
  CHECK(runtime.find("iterc-probe") == std::string::npos);

  // A service with its own Dockerfile or image keeps wget/curl: iterc does
  // not know what its image holds.
  auto own = compileClean(withApi(R"(service api:
  build: "./api"
  dockerfile: "Dockerfile"
  ports: ["8080"]
  health:
    http: "/healthz"
)"));
  std::string c = emitCompose(*own, demoContext());
  CHECK(c.find("\"CMD-SHELL\", \"wget -q -O /dev/null "
               "'http://127.0.0.1:8080/healthz'") != std::string::npos);
  CHECK(c.find("iterc-probe") == std::string::npos);
}

TEST_CASE("a health command in the generated FROM-scratch image is C140",
          "[stack][containers]") {
  CheckResult r = checkSource(withApi(R"(service api:
  build: "./api"
  program: "bin/server"
  ports: ["8080"]
  health:
    command: ["pg_isready"]
)"),
                              "demo.iter");
  INFO(r.render());
  REQUIRE(r.codes() == std::vector<std::string>{"C140"});
  const Diagnostic &d = r.diags.front();
  CHECK(r.sources->getLineColumn(d.fileId, d.range.begin).line == 6);
  // With its own Dockerfile, or run only as a program, a command is fine.
  for (const char *source :
       {"  build: \"./api\"\n  dockerfile: \"Dockerfile\"\n",
        "  program: \"bin/server\"\n"}) {
    CheckResult ok =
        checkSource(withApi(std::string("service api:\n") + source +
                            "  ports: [\"8080\"]\n  health:\n    command: "
                            "[\"pg_isready\"]\n"),
                    "demo.iter");
    INFO(source << ok.render());
    CHECK(ok.allCodes().empty());
  }
}

TEST_CASE("runner_image: the runner's Dockerfile starts FROM it; tool nodes "
          "without it get the note C141",
          "[stack][containers]") {
  CheckResult bare = checkSource(kToolWorkflow + "  entry: test\n  test -> "
                                                 "done\n",
                                 "demo.iter");
  INFO(bare.render());
  CHECK(bare.allCodes().empty()); // A note, neither error nor warning.
  REQUIRE(bare.hasCode("C141"));
  CHECK(bare.render().find("note[C141]") != std::string::npos);
  REQUIRE(bare.module);
  std::string scratch = emitDockerfile(*bare.module, demoContext());
  CHECK(hasLine(scratch, "FROM scratch"));

  auto m = compileClean(kToolWorkflow +
                        "  runner_image: \"docker.io/library/debian:12-slim@"
                        "sha256:" +
                        std::string(64, 'b') +
                        "\"\n  entry: test\n  test -> done\n");
  CheckResult again = checkSource(
      kToolWorkflow + "  runner_image: \"busybox:1.36\"\n  entry: test\n"
                      "  test -> done\n",
      "demo.iter");
  CHECK(!again.hasCode("C141"));
  std::string d = emitDockerfile(*m, demoContext());
  INFO(d);
  CHECK(hasLine(d, "FROM docker.io/library/debian:12-slim@sha256:" +
                       std::string(64, 'b')));
  CHECK(hasLine(d, "FROM scratch AS empty"));
  CHECK(hasLine(d, "USER 65532:65532"));
  CHECK(d.find("\nRUN") == std::string::npos);
  std::string readme = emitReadme(*m, demoContext());
  CHECK(readme.find("This workflow has tool nodes: their commands run with "
                    "`/bin/sh` of") != std::string::npos);

  // Anything but an image reference is refused: it is written after FROM.
  for (const char *bad : {"debian:12\\nRUN rm -rf /", "", "a b", "-x", "$X"}) {
    CheckResult r = checkSource(kToolWorkflow + "  runner_image: \"" + bad +
                                    "\"\n  entry: test\n  test -> done\n",
                                "demo.iter");
    INFO(bad << "\n" << r.render());
    CHECK(!r.codes().empty());
  }
  // An LLM-only workflow has no note.
  CheckResult llm = checkSource(R"(schema out:
  ok: bool

agent a:
  model: "openai/gpt-4o-mini"
  output: out

workflow w:
  entry: a
  a -> done
)",
                                "demo.iter");
  CHECK(!llm.hasCode("C141"));
}
