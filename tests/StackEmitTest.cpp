//===- StackEmitTest.cpp - Dockerfile, compose file and README ------------===//
//
// Checks the stack emitters on small workflows: the important lines of each
// file, determinism, that no secret value leaks, that compose.yaml validates
// against the Compose Specification (and docker-compose when installed), and
// that the Dockerfile really builds and runs with podman: non-root, with a
// writable /data volume that survives the container.
//
//===----------------------------------------------------------------------===//
#include "TestUtil.h"

#include "CodeGen/StackEmitter.h"

#include <catch2/catch.hpp>

#include <algorithm>

#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

using namespace iterc;
using namespace iterc::codegen;
using namespace iterc::test;
namespace fs = std::filesystem;

namespace {

using iterc::test::readFile;
using iterc::test::writeFile;
using iterc::test::TempDir;

const char *const kSha =
    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

EmitContext contextFor(const std::string &program,
                       const std::string &source = "examples/demo.iter") {
  EmitContext ctx;
  ctx.programName = program;
  ctx.sourcePath = source;
  ctx.sourceSha256 = kSha;
  ctx.itercVersion = "0.1.0";
  return ctx;
}

/// Checks `text` and returns its module; fails the test on any error.
std::unique_ptr<ir::Module> compile(const std::string &text) {
  CheckResult r = checkSource(text, "demo.iter");
  INFO(r.render());
  REQUIRE(r.codes().empty());
  REQUIRE(r.module);
  return std::move(r.module);
}

std::vector<std::string> lines(const std::string &text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line))
    out.push_back(line);
  return out;
}

bool hasLine(const std::string &text, const std::string &line) {
  for (const std::string &l : lines(text))
    if (l == line)
      return true;
  return false;
}

/// Index of the first line equal to `line` from line `from` on, or -1.
int lineIndex(const std::string &text, const std::string &line,
              size_t from = 0) {
  std::vector<std::string> ls = lines(text);
  for (size_t i = from; i < ls.size(); ++i)
    if (ls[i] == line)
      return static_cast<int>(i);
  return -1;
}

int run(const std::string &command) {
  int status = std::system(command.c_str());
  if (status == -1 || !WIFEXITED(status))
    return -1;
  return WEXITSTATUS(status);
}

bool onPath(const std::string &tool) {
  return run("command -v " + tool + " >/dev/null 2>&1") == 0;
}




const std::string kStackSource = R"(vars:
  topic: string
  api_base: string = "${API_BASE:-https://api.example.com}"
  words: int = 500

prompt ask:
  Approve {{vars.topic}}?

schema decision:
  approved: bool
  reason: string

schema out:
  ok: bool

service db:
  image: "postgres:16"
  env:
    POSTGRES_PASSWORD: "pa$word"
    POSTGRES_DB: "app"
  ports: ["5432"]
  health:
    command: ["pg_isready", "-U", "postgres"]
    interval: "2s"
    timeout: "5s"
    retries: 10

service api:
  build: "./api"
  dockerfile: "Dockerfile.dev"
  command: ["./server", "--port", "8080"]
  ports: ["8081:8080"]
  env: { DATABASE_URL: "postgres://db:5432/app" }
  depends_on: [db, mock]
  workdir: "/srv"
  health:
    http: "/healthz?full=1"
    interval: "1500ms"
    retries: 15

service cache:
  image: "redis:7"

service mock:
  program: "./bin/mock-server"
  ports: ["9090"]

agent writer:
  model: "${WRITER_MODEL:-anthropic/claude-3-5-haiku-latest}"
  output: out

human gate:
  output: decision
  instructions: ask

tool build:
  command: "make TOKEN=${BUILD_TOKEN} all"
  capture: true

workflow stack:
  entry: writer
  services: [db, api, mock, cache]
  budget:
    max_tokens: 1000
    max_cost_usd: 1.5
  writer -> gate
  gate -> build when approved
  gate -> fail when not approved
  build -> done
)";

const std::string kPlainSource = R"(schema out:
  ok: bool

agent a:
  model: "openai/gpt-4o-mini"
  output: out

workflow plain:
  entry: a
  a -> done when ok
  a -> fail when not ok
)";

/// Compose files to validate: a name and the text.
using ComposeFiles = std::vector<std::pair<std::string, std::string>>;

/// Runs tests/scripts/validate_compose.py once on `files` (docker-compose
/// config too when `dockerCompose` and it is installed); returns its exit
/// status, or -2 when it cannot run here (a WARN says why).
int validateCompose(const ComposeFiles &files, std::string &output,
                    bool dockerCompose = true) {
  std::string schema =
      std::string(ITERC_SOURCE_DIR) + "/../shared/data/compose-spec.json";
  if (!fs::exists(schema)) {
    WARN("SKIPPED: compose-spec schema not found at " + schema);
    return -2;
  }
  if (!onPath("python3") ||
      run("python3 -c 'import yaml, jsonschema' >/dev/null 2>&1") != 0) {
    WARN("SKIPPED: python3 with python3-yaml and python3-jsonschema is not "
         "installed");
    return -2;
  }
  TempDir dir;
  std::string args;
  for (const auto &[name, text] : files) {
    fs::path file = dir.path / (name + ".yaml");
    writeFile(file, text);
    args += " '" + file.string() + "'";
  }
  std::string script =
      std::string(ITERC_SOURCE_DIR) + "/tests/scripts/validate_compose.py";
  int rc = run("python3 '" + script + "' --schema '" + schema + "'" +
               (dockerCompose ? "" : " --no-docker-compose") + args + " > '" +
               (dir.path / "out.txt").string() + "' 2>&1");
  output = readFile(dir.path / "out.txt");
  if (dockerCompose &&
      output.find("docker-compose config: SKIPPED") != std::string::npos)
    WARN("SKIPPED: docker-compose config (docker-compose not installed); "
         "the schema check ran");
  return rc;
}

} // namespace

//===----------------------------------------------------------------------===//
// Dockerfile
//===----------------------------------------------------------------------===//

TEST_CASE("the Dockerfile builds a non-root FROM scratch image", "[stack]") {
  auto m = compile(kPlainSource);
  std::string d = emitDockerfile(*m, contextFor("plain"));
  CHECK(lines(d).front() ==
        "# Generated by iterc 0.1.0 from examples/demo.iter. DO NOT EDIT.");
  CHECK(hasLine(d, "FROM scratch AS empty"));
  CHECK(hasLine(d, "FROM scratch"));
  CHECK(hasLine(d, "COPY --chmod=0444 ca-certificates.crt "
                   "/etc/ssl/certs/ca-certificates.crt"));
  CHECK(hasLine(d, "ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt \\"));
  CHECK(hasLine(d, "    ITERC_STORE_DIR=/data"));
  CHECK(hasLine(d, "COPY --chmod=0555 plain /usr/local/bin/plain"));
  CHECK(hasLine(d, "COPY --from=empty --chown=65532:65532 / /data/"));
  CHECK(hasLine(d, "COPY --from=empty --chown=65532:65532 / /workspace/"));
  CHECK(hasLine(d, "USER 65532:65532"));
  CHECK(hasLine(d, "WORKDIR /workspace"));
  CHECK(hasLine(d, "VOLUME [\"/data\"]"));
  CHECK(hasLine(d, "ENTRYPOINT [\"/usr/local/bin/plain\"]"));
  CHECK(hasLine(d, "CMD [\"run\"]"));
  CHECK(hasLine(d, "LABEL org.opencontainers.image.title=\"plain\" \\"));
  CHECK(hasLine(d, "      org.opencontainers.image.version=\"0.1.0\" \\"));
  CHECK(hasLine(d, "      org.opencontainers.image.revision=\"sha256:" +
                       std::string(kSha) + "\" \\"));
  CHECK(hasLine(d, "      org.opencontainers.image.source="
                   "\"examples/demo.iter\""));
  CHECK(d.find("org.opencontainers.image.description=") != std::string::npos);
  // The directories exist (owned by the user) before USER, WORKDIR and
  // VOLUME refer to them.
  CHECK(lineIndex(d, "COPY --from=empty --chown=65532:65532 / /data/") <
        lineIndex(d, "VOLUME [\"/data\"]"));
  CHECK(lineIndex(d, "COPY --from=empty --chown=65532:65532 / /workspace/") <
        lineIndex(d, "WORKDIR /workspace"));
  // The comment at the top says what the build context must hold.
  CHECK(hasLine(d, "#   plain" + std::string(16, ' ') +
                       "the static executable, from"));
  CHECK(hasLine(d, "#     " + std::string(19, ' ') +
                       "iterc build examples/demo.iter -o plain"));
  CHECK(d.find("#   ca-certificates.crt  a CA bundle") != std::string::npos);
}

TEST_CASE("the Dockerfile has no RUN and only exec-form commands", "[stack]") {
  auto m = compile(kStackSource);
  std::string d = emitDockerfile(*m, contextFor("stack"));
  const std::set<std::string> allowed = {"FROM",   "LABEL",      "COPY",
                                         "ENV",    "USER",       "WORKDIR",
                                         "VOLUME", "ENTRYPOINT", "CMD"};
  bool continued = false;
  for (const std::string &l : lines(d)) {
    bool wasContinued = continued;
    continued = !l.empty() && l.back() == '\\';
    if (l.empty() || l[0] == '#' || wasContinued)
      continue;
    std::string word = l.substr(0, l.find(' '));
    INFO(l);
    CHECK(allowed.count(word));
    if (word == "ENTRYPOINT" || word == "CMD" || word == "VOLUME")
      CHECK(l.substr(word.size() + 1, 1) == "[");
  }
}

TEST_CASE("Dockerfile labels escape quotes, backslashes and $", "[stack]") {
  auto m = compile(kPlainSource);
  EmitContext ctx = contextFor("plain", "dir/we\"ird $HOME.iter");
  std::string d = emitDockerfile(*m, ctx);
  CHECK(hasLine(d, "      org.opencontainers.image.source="
                   "\"dir/we\\\"ird \\$HOME.iter\""));
}

//===----------------------------------------------------------------------===//
// compose.yaml
//===----------------------------------------------------------------------===//

TEST_CASE("compose: the runner passes provider keys and ${ENV} refs by name",
          "[stack]") {
  auto m = compile(kStackSource);
  std::string c = emitCompose(*m, contextFor("stack"));
  CHECK(lines(c).front() ==
        "# Generated by iterc 0.1.0 from examples/demo.iter. DO NOT EDIT.");
  CHECK(hasLine(c, "services:"));
  CHECK(hasLine(c, "  \"stack\":"));
  CHECK(hasLine(c, "      context: \".\""));
  CHECK(hasLine(c, "      dockerfile: \"Dockerfile\""));
  CHECK(hasLine(c, "    image: \"iterc/stack:0123456789ab\""));
  CHECK(hasLine(c, "      - \"runs:/data\""));
  CHECK(hasLine(c, "volumes:"));
  CHECK(hasLine(c, "  \"runs\": {}"));
  // Sorted, de-duplicated names; never a value.
  std::vector<std::string> expected = {
      "ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL", "API_BASE",
      "BUILD_TOKEN",       "OLLAMA_BASE_URL",    "OPENAI_API_KEY",
      "OPENAI_BASE_URL",   "OPENROUTER_API_KEY", "OPENROUTER_BASE_URL",
      "WRITER_MODEL"};
  CHECK(runnerEnvironment(*m) == expected);
  int at = lineIndex(c, "    environment:");
  REQUIRE(at >= 0);
  std::vector<std::string> ls = lines(c);
  CHECK(ls[at + 1] == "      - \"ITERC_STACK=external\"");
  for (size_t i = 0; i < expected.size(); ++i)
    CHECK(ls[at + 2 + i] == "      - \"" + expected[i] + "\"");
  CHECK(c.find("https://api.example.com") == std::string::npos);
  CHECK(c.find("claude-3-5-haiku") == std::string::npos);
}

TEST_CASE("compose: depends_on is gated by health checks", "[stack]") {
  auto m = compile(kStackSource);
  std::string c = emitCompose(*m, contextFor("stack"));
  std::vector<std::string> ls = lines(c);
  // The runner waits for every workflow service that compose runs.
  int dep = lineIndex(c, "    depends_on:");
  REQUIRE(dep >= 0);
  CHECK(ls[dep + 1] == "      \"db\":");
  CHECK(ls[dep + 2] == "        condition: \"service_healthy\"");
  CHECK(ls[dep + 3] == "      \"api\":");
  CHECK(ls[dep + 4] == "        condition: \"service_healthy\"");
  CHECK(ls[dep + 5] == "      \"cache\":");
  CHECK(ls[dep + 6] == "        condition: \"service_started\"");
  // The program service is not a container.
  CHECK(c.find("\"mock\":") == std::string::npos);
  CHECK(c.find("# mock: a program service, started on the host") !=
        std::string::npos);
  CHECK(hasLine(c, "  # mock: program ./bin/mock-server is a process on "
                   "the host, not a"));

  // db: image, ports, env in declaration order with $ escaped, health.
  int db = lineIndex(c, "  \"db\":");
  REQUIRE(db >= 0);
  CHECK(ls[db + 1] == "    image: \"postgres:16\"");
  CHECK(ls[db + 2] == "    ports:");
  CHECK(ls[db + 3] == "      - \"5432\"");
  CHECK(ls[db + 4] == "    environment:");
  CHECK(ls[db + 5] == "      \"POSTGRES_PASSWORD\": \"pa$$word\"");
  CHECK(ls[db + 6] == "      \"POSTGRES_DB\": \"app\"");
  CHECK(ls[db + 7] == "    networks: [\"stack\"]");
  CHECK(ls[db + 8] == "    healthcheck:");
  CHECK(ls[db + 9] ==
        "      test: [\"CMD\", \"pg_isready\", \"-U\", \"postgres\"]");
  CHECK(ls[db + 10] == "      interval: \"2s\"");
  CHECK(ls[db + 11] == "      timeout: \"5s\"");
  CHECK(ls[db + 12] == "      retries: 10");

  // api: build, command, working_dir, depends_on, HTTP health via wget/curl
  // on the container port.
  int api = lineIndex(c, "  \"api\":");
  REQUIRE(api >= 0);
  CHECK(ls[api + 1] == "    build:");
  CHECK(ls[api + 2] == "      context: \"./api\"");
  CHECK(ls[api + 3] == "      dockerfile: \"Dockerfile.dev\"");
  CHECK(ls[api + 4] == "    command: [\"./server\", \"--port\", \"8080\"]");
  CHECK(ls[api + 5] == "    ports:");
  CHECK(ls[api + 6] == "      - \"8081:8080\"");
  CHECK(hasLine(c, "    working_dir: \"/srv\""));
  CHECK(hasLine(c, "      test: [\"CMD-SHELL\", \"wget -q -O /dev/null "
                   "'http://127.0.0.1:8080/healthz?full=1' || curl -fsS -o "
                   "/dev/null 'http://127.0.0.1:8080/healthz?full=1' || exit "
                   "1\"]"));
  CHECK(hasLine(c, "      interval: \"1500ms\""));
  CHECK(hasLine(c, "      timeout: \"30s\""));
  CHECK(hasLine(c, "      retries: 15"));
  int apiDep = lineIndex(c,
                         "    # mock: a program service, started on the "
                         "host, not by compose",
                         api);
  CHECK(apiDep > api);
  CHECK(lineIndex(c, "    depends_on:", api) == apiDep + 1);
  CHECK(ls[apiDep + 2] == "      \"db\":");
  CHECK(ls[apiDep + 3] == "        condition: \"service_healthy\"");

  // cache: an image and nothing else.
  int cache = lineIndex(c, "  \"cache\":");
  REQUIRE(cache >= 0);
  CHECK(ls[cache + 1] == "    image: \"redis:7\"");
}

TEST_CASE("compose: no services, no depends_on", "[stack]") {
  auto m = compile(kPlainSource);
  std::string c = emitCompose(*m, contextFor("plain"));
  CHECK(c.find("depends_on") == std::string::npos);
  CHECK(c.find("healthcheck") == std::string::npos);
  CHECK(lineIndex(c, "volumes:") > lineIndex(c, "  \"plain\":"));
  // Every string scalar is double-quoted: no line has a bare value after
  // "key: " other than numbers, {} and flow lists.
  for (const std::string &l : lines(c)) {
    if (l.empty() || l[0] == '#')
      continue;
    size_t colon = l.find(": ");
    std::string value =
        colon == std::string::npos ? std::string() : l.substr(colon + 2);
    if (l.find("- ") != std::string::npos && l.find("- ") < l.find('"'))
      value = l.substr(l.find("- ") + 2);
    if (value.empty())
      continue;
    INFO(l);
    CHECK((value[0] == '"' || value[0] == '[' || value == "{}" ||
           std::isdigit(static_cast<unsigned char>(value[0]))));
  }
}

TEST_CASE("compose: a service named like the program gets its own runner "
          "name",
          "[stack]") {
  auto m = compile(R"(schema out:
  ok: bool

service stack:
  image: "nginx:1.27"

agent a:
  model: "openai/gpt-4o-mini"
  output: out

workflow stack:
  entry: a
  services: [stack]
  a -> done
)");
  std::string c = emitCompose(*m, contextFor("stack"));
  CHECK(hasLine(c, "  \"stack-runner\":"));
  CHECK(hasLine(c, "  \"stack\":"));
}

TEST_CASE("compose validates against the Compose Specification", "[stack]") {
  // The small workflows and the example with services, also through
  // docker-compose config (about a second per file).
  ComposeFiles full;
  full.emplace_back("plain",
                    emitCompose(*compile(kPlainSource), contextFor("plain")));
  full.emplace_back("stack",
                    emitCompose(*compile(kStackSource), contextFor("stack")));
  // Every example of the repository, against the schema.
  ComposeFiles examples;
  std::vector<fs::path> paths;
  for (const auto &entry :
       fs::directory_iterator(std::string(ITERC_SOURCE_DIR) + "/examples"))
    if (entry.path().extension() == ".iter")
      paths.push_back(entry.path());
  std::sort(paths.begin(), paths.end());
  REQUIRE(!paths.empty());
  for (const fs::path &path : paths) {
    std::string name = path.stem().string();
    CheckResult r =
        checkSource(readRepoFile("examples/" + path.filename().string()),
                    path.filename().string());
    INFO(r.render());
    REQUIRE(r.codes().empty());
    examples.emplace_back(name, emitCompose(*r.module, contextFor(name)));
    if (!r.module->services.empty())
      full.push_back(examples.back());
  }

  std::string output;
  int rc = validateCompose(full, output);
  if (rc == -2)
    return;
  {
    INFO("validator:\n" << output);
    CHECK(rc == 0);
    for (const auto &[name, text] : full)
      CHECK(output.find(name + ".yaml: compose-spec schema: ok") !=
            std::string::npos);
  }
  rc = validateCompose(examples, output, /*dockerCompose=*/false);
  {
    INFO("validator:\n" << output);
    CHECK(rc == 0);
    CHECK(output.find("validate_compose: all files valid") !=
          std::string::npos);
  }

  // The validator itself rejects a broken file.
  rc = validateCompose({{"broken", "services:\n  \"x\":\n    image: 5\n"
                                   "    bogus: \"y\"\n"}},
                       output, /*dockerCompose=*/false);
  INFO(output);
  CHECK(rc == 1);
  CHECK(output.find("bogus") != std::string::npos);
  CHECK(output.find("validate_compose: INVALID") != std::string::npos);
}

TEST_CASE("compose quotes hostile strings so that YAML reads them back",
          "[stack]") {
  auto m = compile(kStackSource);
  ir::Service *db = nullptr;
  for (ir::Service &s : m->services)
    if (s.name == "db")
      db = &s;
  REQUIRE(db);
  const std::string weird =
      "q\"uote b\\ack \nnew\ttab $HOME ${X} "
      "\xe2\x80\xa8ls \xc2\x85nel \x7f\x01 "
      "\xff bad \xc3\xa9 \xf0\x9f\x98\x80 : # - [ ] { } , &a *b !t |";
  const std::string readBack =
      "q\"uote b\\ack \nnew\ttab $$HOME $${X} "
      "\xe2\x80\xa8ls \xc2\x85nel \x7f\x01 "
      "\xef\xbf\xbd bad \xc3\xa9 \xf0\x9f\x98\x80 : # - [ ] { } , &a *b !t |";
  db->env.emplace_back("WEIRD", weird);
  db->command = {"yes", "no", "on", "~", "null", "0x1F", "1e3", "-", "true"};
  EmitContext ctx = contextFor("stack", "odd\xe2\x80\xa8"
                                        "dir/\xff\x85"
                                        "name\n.iter");
  std::string compose = emitCompose(*m, ctx);
  CHECK(hasLine(compose, "    command: [\"yes\", \"no\", \"on\", \"~\", "
                         "\"null\", \"0x1F\", \"1e3\", \"-\", \"true\"]"));
  std::string output;
  int rc = validateCompose({{"hostile", compose}}, output);
  if (rc == -2)
    return;
  INFO(compose << "\nvalidator:\n" << output);
  CHECK(rc == 0);

  TempDir dir;
  writeFile(dir.path / "compose.yaml", compose);
  rc = run("python3 -c 'import json, sys, yaml; "
           "d = yaml.safe_load(open(sys.argv[1], encoding=\"utf-8\")); "
           "db = d[\"services\"][\"db\"]; "
           "print(json.dumps([db[\"environment\"][\"WEIRD\"], "
           "db[\"command\"]]))' '" +
           (dir.path / "compose.yaml").string() + "' > '" +
           (dir.path / "out.json").string() + "' 2>&1");
  std::string json = readFile(dir.path / "out.json");
  INFO(json);
  REQUIRE(rc == 0);
  nlohmann::json parsed = nlohmann::json::parse(json);
  CHECK(parsed[0].get<std::string>() == readBack);
  CHECK(parsed[1] == nlohmann::json(db->command));
}

//===----------------------------------------------------------------------===//
// Services: container and local forms, generated Dockerfiles
//===----------------------------------------------------------------------===//

namespace {

/// A file declaring `services` (first, so that they start on line 1) and a
/// workflow that starts `started`.
std::string serviceFile(const std::string &services,
                        const std::string &started = "api") {
  return services + R"(
schema out:
  ok: bool

agent a:
  model: "openai/gpt-4o-mini"
  output: out

workflow svc:
  entry: a
  services: [)" +
         started + R"(]
  a -> done
)";
}

/// A build service that packages a program: iterc writes its Dockerfile.
const std::string kPackagedService = R"(service api:
  build: "./api"
  program: "./bin/server"
  command: ["--port", "8080", "--name", "a 'quoted' $NAME"]
  ports: ["8081:8080", "9090", "8080"]
  workdir: "/srv"
)";

std::string packagedAt(const std::string &context) {
  return "service api:\n  build: \"" + context +
         "\"\n  program: \"bin/server\"\n  ports: [\"8080\"]\n";
}

} // namespace

TEST_CASE("services: image or build, at least one source, dockerfile only "
          "with build (C116)",
          "[stack][sema]") {
  struct Case {
    std::string decl;
    std::string diagnostic; ///< "line:column: error[CODE]: message"
  };
  const std::vector<Case> cases = {
      {"service api:\n  image: \"x:1\"\n  build: \"./api\"\n"
       "  dockerfile: \"Dockerfile\"\n",
       "1:9: error[C116]: service 'api' has both 'image' and 'build'; its "
       "container runs a pulled image or a built one, not both"},
      {"service api:\n  ports: [\"8080\"]\n",
       "1:9: error[C116]: service 'api' runs nothing; give it an 'image', a "
       "'build' context or a 'program'"},
      {"service api:\n  image: \"x:1\"\n  dockerfile: \"Dockerfile\"\n",
       "3:3: error[C116]: service 'api' names a dockerfile but no 'build' "
       "context; 'dockerfile' only goes with 'build'"},
      {"service api:\n  program: \"./bin/api\"\n  dockerfile: \"Dockerfile\"\n",
       "3:3: error[C116]: service 'api' names a dockerfile but no 'build' "
       "context; 'dockerfile' only goes with 'build'"},
  };
  for (const Case &c : cases) {
    CheckResult r = checkSource(serviceFile(c.decl), "demo.iter");
    std::string text = r.render();
    INFO(c.decl << "\n" << text);
    CHECK(r.allCodes() == std::vector<std::string>{"C116"});
    CHECK(text.find("demo.iter:" + c.diagnostic + "\n") != std::string::npos);
  }
  // An empty source is an invalid value, and nothing more.
  CheckResult empty = checkSource(
      serviceFile("service api:\n  image: \"\"\n  program: \"x\"\n"),
      "demo.iter");
  CHECK(empty.allCodes() == std::vector<std::string>{"E020"});
  empty =
      checkSource(serviceFile("service api:\n  build: \"\"\n"), "demo.iter");
  CHECK(empty.allCodes() == std::vector<std::string>{"E020"});
  // A container form and a local form together are fine.
  for (const char *ok :
       {"service api:\n  image: \"x:1\"\n  program: \"/usr/bin/api\"\n",
        "service api:\n  build: \"./api\"\n  dockerfile: \"Dockerfile\"\n"
        "  program: \"../bin/api\"\n",
        "service api:\n  build: \"./api\"\n  program: \"bin/api\"\n",
        "service api:\n  image: \"x:1\"\n",
        "service api:\n  program: \"api\"\n"}) {
    CheckResult r = checkSource(serviceFile(ok), "demo.iter");
    INFO(ok << "\n" << r.render());
    CHECK(r.allCodes().empty());
  }
}

TEST_CASE("services: a build without dockerfile needs a program (C128)",
          "[stack][sema]") {
  CheckResult r = checkSource(
      serviceFile("service api:\n  build: \"./api\"\n  command: [\"x\"]\n"),
      "demo.iter");
  std::string text = r.render();
  INFO(text);
  CHECK(r.allCodes() == std::vector<std::string>{"C128"});
  CHECK(text.find("demo.iter:1:9: error[C128]: service 'api' is built from "
                  "'./api' but names no dockerfile; add 'dockerfile:' or "
                  "'program:' (the executable iterc packages FROM "
                  "scratch)\n") != std::string::npos);
  // The caret is under the service name.
  CHECK(text.find("service api:\n") != std::string::npos);
  CHECK(text.find("        ^~~") != std::string::npos);
}

TEST_CASE("services: a packaged program is a plain path inside the build "
          "context (C129)",
          "[stack][sema]") {
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"../bin/server", "it leaves the build context with '..'"},
      {"bin/../../server", "it leaves the build context with '..'"},
      {"/usr/bin/server",
       "it is absolute; name it relative to the build context"},
      {"bin/my server", "it holds a space or a control character, which a "
                        "Dockerfile COPY line cannot carry"},
      {"bin/$NAME",
       "it holds '$', which a Dockerfile COPY would expand or match"},
      {"bin/*", "it holds '*', which a Dockerfile COPY would expand or match"},
      {"bin/", "it names a directory"},
      {".", "it names no file"},
      {"bin/.", "it names no file"},
  };
  for (const auto &[program, reason] : bad) {
    CheckResult r = checkSource(
        serviceFile("service api:\n  build: \"./api\"\n  program: \"" +
                    program + "\"\n"),
        "demo.iter");
    std::string text = r.render();
    INFO(program << "\n" << text);
    CHECK(r.allCodes() == std::vector<std::string>{"C129"});
    CHECK(text.find("demo.iter:3:12: error[C129]: program '" + program +
                    "' of service 'api' must be a file inside its build "
                    "context './api': " +
                    reason + "\n") != std::string::npos);
  }
  for (const char *program :
       {"server", "./bin/server", "bin/./server", "bin//server", "a-b_c.1+x"}) {
    CheckResult r = checkSource(
        serviceFile("service api:\n  build: \"./api\"\n  program: \"" +
                    std::string(program) + "\"\n"),
        "demo.iter");
    INFO(program << "\n" << r.render());
    CHECK(r.allCodes().empty());
  }
}

TEST_CASE("a build service with a program gets a generated FROM-scratch "
          "Dockerfile",
          "[stack]") {
  auto m = compile(serviceFile(kPackagedService + R"(
service db:
  image: "postgres:16"
  program: "/usr/lib/postgresql/16/bin/postgres"

service plain:
  build: "./plain"
  program: "server"
)",
                               "api, db, plain"));
  EmitContext ctx = contextFor("svc");
  const ir::Service &api = m->services[0];
  const ir::Service &db = m->services[1];
  const ir::Service &plain = m->services[2];
  CHECK(api.generatesDockerfile());
  CHECK(!db.generatesDockerfile());
  CHECK(serviceDockerfilePath(api) == "services/api/Dockerfile");
  CHECK(serviceDockerfilePath(db).empty());
  CHECK(emitServiceDockerfile(db, ctx).empty());
  const auto inContext = ServiceImageContext::BuildContext;
  std::string d = emitServiceDockerfile(api, ctx, inContext);
  CHECK(d ==
        "# Generated by iterc 0.1.0 from examples/demo.iter. DO NOT EDIT.\n"
        "# The image of service 'api': FROM scratch with the program "
        "./bin/server, copied from the build context ./api.\n"
        "# COPY --chmod needs BuildKit (Docker's default builder) or "
        "buildah.\n"
        "FROM scratch\n"
        "COPY --chmod=0555 bin/server /app/server\n"
        "WORKDIR /srv\n"
        "USER 65532:65532\n"
        "EXPOSE 8080 9090\n"
        "ENTRYPOINT [\"/app/server\"]\n"
        "CMD [\"--port\", \"8080\", \"--name\", \"a 'quoted' $NAME\"]\n");
  auto again = compile(serviceFile(kPackagedService));
  CHECK(d == emitServiceDockerfile(again->services.front(), ctx, inContext));
  // The emitted file (compose's) takes the program from services/api/app.
  std::string packaged = emitServiceDockerfile(api, ctx);
  CHECK(hasLine(packaged, "COPY --chmod=0555 app/server /app/server"));
  CHECK(packaged.find("bin/server /app") == std::string::npos);
  CHECK(packaged.find("iterc-probe") == std::string::npos); // No health.
  // Without workdir, ports and command: /app, no EXPOSE, no CMD.
  std::string p = emitServiceDockerfile(plain, ctx, inContext);
  CHECK(hasLine(p, "COPY --chmod=0555 server /app/server"));
  CHECK(hasLine(p, "WORKDIR /app"));
  CHECK(hasLine(p, "ENTRYPOINT [\"/app/server\"]"));
  CHECK(p.find("EXPOSE") == std::string::npos);
  CHECK(p.find("CMD") == std::string::npos);

  // The README says how each service runs.
  std::string r = emitReadme(*m, ctx);
  CHECK(hasLine(r, "| `api` | build `./api` with program `./bin/server` "
                   "(generated `services/api/Dockerfile`) | `8081:8080`, "
                   "`9090`, `8080` | - | yes |"));
  CHECK(hasLine(r, "| `db` | image `postgres:16`; without containers, program "
                   "`/usr/lib/postgresql/16/bin/postgres` | - | - | yes |"));
}

TEST_CASE("compose builds a packaged program from services/<name>, whatever "
          "its build context",
          "[stack]") {
  EmitContext ctx = contextFor("svc");
  ComposeFiles files;
  for (const char *context :
       {"./api", ".", "apps//api/", "../api", "/srv/api", "./a/../../api"}) {
    auto m = compile(serviceFile(packagedAt(context)));
    std::string c = emitCompose(*m, ctx);
    INFO(c);
    int api = lineIndex(c, "  \"api\":");
    REQUIRE(api >= 0);
    int build = lineIndex(c, "    build:", api);
    REQUIRE(build > api);
    std::vector<std::string> ls = lines(c);
    CHECK(ls[build + 1] == "      context: \"services/api\"");
    CHECK(ls[build + 2] == "      dockerfile: \"Dockerfile\"");
    CHECK(ls[build - 3] == "    # Built from services/api/: the Dockerfile "
                           "iterc generated (FROM scratch),");
    CHECK(c.find("dockerfile_inline") == std::string::npos);
    files.emplace_back("packaged" + std::to_string(files.size()), c);
  }
  std::string output;
  int rc = validateCompose(files, output);
  if (rc == -2)
    return;
  INFO("validator:\n" << output);
  CHECK(rc == 0);
}

TEST_CASE("compose: one network named after the workflow; the runner is "
          "told the stack is external",
          "[stack]") {
  auto m = compile(kStackSource);
  std::string c = emitCompose(*m, contextFor("stack"));
  std::vector<std::string> ls = lines(c);
  // Top level: services, networks, volumes.
  int networks = lineIndex(c, "networks:");
  REQUIRE(networks > lineIndex(c, "services:"));
  CHECK(ls[networks + 1] == "  \"stack\": {}");
  CHECK(lineIndex(c, "volumes:") == networks + 2);
  // The runner and every service compose runs (db, api, cache; not the
  // program service mock) are on it.
  size_t attached = 0;
  for (const std::string &l : ls)
    attached += l == "    networks: [\"stack\"]";
  CHECK(attached == 4);
  int runner = lineIndex(c, "  \"stack\":");
  int runnerNetworks = lineIndex(c, "    networks: [\"stack\"]", runner);
  CHECK(runnerNetworks == lineIndex(c, "      - \"workspace:/workspace\"") + 1);
  // The runner reaches the services compose started; no value but this one
  // is written into its environment.
  int env = lineIndex(c, "    environment:", runner);
  CHECK(ls[env + 1] == "      - \"ITERC_STACK=external\"");
  for (int i = env + 2; ls[i] != "    volumes:"; ++i)
    CHECK(ls[i].find('=') == std::string::npos);
  // A workflow without services has the network too, and its runner keeps
  // the local stack runtime: compose starts nothing for it.
  std::string plain = emitCompose(*compile(kPlainSource), contextFor("plain"));
  CHECK(hasLine(plain, "    networks: [\"plain\"]"));
  CHECK(hasLine(plain, "  \"plain\": {}"));
  CHECK(!hasLine(plain, "      - \"ITERC_STACK=external\""));
  // So does one whose only services are programs (started by its tools).
  std::string programs = emitCompose(*compile(R"(service app:
  program: "./app/server"
  ports: ["9000"]

tool build:
  command: "make"
  restart: [app]

workflow programs:
  entry: build
  build -> done
)"),
                                     contextFor("programs"));
  CHECK(!hasLine(programs, "      - \"ITERC_STACK=external\""));
  CHECK(hasLine(programs, "  # app: program ./app/server is a process on the "
                          "host, not a"));
}

//===----------------------------------------------------------------------===//
// README.md
//===----------------------------------------------------------------------===//

TEST_CASE("README: build, run, variables, gates, environment, exit codes",
          "[stack]") {
  auto m = compile(kStackSource);
  std::string r = emitReadme(*m, contextFor("stack"));
  CHECK(lines(r).front() == "<!-- Generated by iterc 0.1.0 from "
                            "examples/demo.iter. DO NOT EDIT. -->");
  CHECK(hasLine(r, "# stack"));
  CHECK(hasLine(r, "- Source: `examples/demo.iter`"));
  CHECK(hasLine(r, "- Source sha256: `" + std::string(kSha) + "`"));
  CHECK(hasLine(r, "iterc build 'examples/demo.iter' -o stack"));
  CHECK(hasLine(r, "cmake -S . -B build && cmake --build build"));
  CHECK(hasLine(r, "./stack run --var 'topic=TEXT'"));
  CHECK(r.find("./stack run --var 'topic=TEXT' --dry-run") !=
        std::string::npos);
  CHECK(r.find("--json") != std::string::npos);
  CHECK(r.find("--cassette FILE") != std::string::npos);
  CHECK(r.find("--record FILE") != std::string::npos);
  CHECK(hasLine(r, "./stack resume --run-id ID --answer 'approved=<bool>' "
                   "--answer 'reason=<string>'  # gate"));
  CHECK(r.find("./stack inspect") != std::string::npos);
  CHECK(r.find("./stack report") != std::string::npos);
  CHECK(r.find("./stack graph") != std::string::npos);
  // Variables.
  CHECK(hasLine(r, "| `topic` | `string` | required |"));
  CHECK(hasLine(r, "| `api_base` | `string` | "
                   "`\"${API_BASE:-https://api.example.com}\"` |"));
  CHECK(hasLine(r, "| `words` | `int` | `500` |"));
  // Human gate with its answer fields.
  CHECK(hasLine(r, "- `gate`: human; answers `approved` (bool), `reason` "
                   "(string)"));
  // Environment: provider by model prefix (through a ${VAR:-default}) and
  // every ${NAME}.
  CHECK(hasLine(r, "| `ANTHROPIC_API_KEY` | models `anthropic/...` "
                   "(`writer`) |"));
  CHECK(r.find("OPENAI_API_KEY` |") == std::string::npos);
  CHECK(hasLine(r, "| `API_BASE` | default of var `api_base` |"));
  CHECK(hasLine(r, "| `BUILD_TOKEN` | command of tool `build` |"));
  CHECK(hasLine(r, "| `WRITER_MODEL` | model of `writer` |"));
  // Exit codes.
  for (const char *row :
       {"| 0 | finished: the run reached `done` |",
        "| 1 | failed: it reached `fail`, or a provider, schema, tool, store "
        "or "
        "replay error stopped it |",
        "| 2 | usage error: unknown option, bad `--var` or `--answer`, missing "
        "variable or API key, unknown run id |",
        "| 3 | paused, waiting for a human: answer with `resume --answer` |",
        "| 4 | budget exceeded: `resume` with larger `--max-*` limits "
        "continues |",
        "| 5 | loop exhausted: a loop reached its cap and no other edge "
        "applied |",
        "| 6 | no progress: a loop stopped changing |",
        "| 7 | cancelled or interrupted |"})
    CHECK(hasLine(r, row));
  // Container, budget, services, nodes, graph.
  CHECK(hasLine(r, "docker build -t iterc/stack:0123456789ab .   # or: "
                   "podman build"));
  CHECK(hasLine(r, "docker compose -p stack run --rm stack run --var "
                   "'topic=TEXT'"));
  CHECK(hasLine(r, "docker compose -p stack run --rm stack resume --run-id "
                   "ID --answer key=value"));
  CHECK(hasLine(r, "- max tokens: 1000"));
  CHECK(hasLine(r, "- max cost: 1.5 USD"));
  CHECK(hasLine(r, "| `mock` | program `./bin/mock-server` (host; not in "
                   "compose.yaml) | `9090` | - | yes |"));
  CHECK(hasLine(r, "| `db` | image `postgres:16` | `5432` | "
                   "`pg_isready -U postgres` | yes |"));
  CHECK(hasLine(r, "| `writer` | agent | "
                   "`${WRITER_MODEL:-anthropic/claude-3-5-haiku-latest}` |"));
  CHECK(hasLine(r, "| `build` | tool | - |"));
  CHECK(hasLine(r, "```mermaid"));
  CHECK(hasLine(r, "flowchart TD"));
}

TEST_CASE("README of a workflow without gates, services or budget", "[stack]") {
  auto m = compile(kPlainSource);
  std::string r = emitReadme(*m, contextFor("plain"));
  CHECK(r.find("### Human gates") == std::string::npos);
  CHECK(r.find("resume --run-id") == std::string::npos);
  CHECK(r.find("## Services") == std::string::npos);
  CHECK(hasLine(r, "No budget limit is declared."));
  CHECK(hasLine(r, "The workflow declares no variables."));
  CHECK(hasLine(r, "./plain run"));
  CHECK(hasLine(r, "| `OPENAI_API_KEY` | models `openai/...` (`a`) |"));
  CHECK(hasLine(r, "docker run --rm -v plain-runs:/data -e OPENAI_API_KEY "
                   "iterc/plain:0123456789ab run"));
}

TEST_CASE("no secret default leaks into any stack file", "[stack]") {
  auto m = compile(R"(vars:
  token: string = "hunter2-secret-value"
  region: string = "eu"

presets:
  prod:
    token: "prod-secret-value"
    region: "us"

schema out:
  ok: bool

agent a:
  model: "openai/gpt-4o-mini"
  output: out

workflow secrets:
  entry: a
  a -> done
)");
  int token = m->findVar("token");
  REQUIRE(token >= 0);
  m->vars[token].secret = true;
  EmitContext ctx = contextFor("secrets");
  for (const std::string &text :
       {emitDockerfile(*m, ctx), emitCompose(*m, ctx), emitReadme(*m, ctx)}) {
    CHECK(text.find("hunter2") == std::string::npos);
    CHECK(text.find("prod-secret-value") == std::string::npos);
  }
  std::string r = emitReadme(*m, ctx);
  CHECK(hasLine(r, "| `token` | `string` | *secret: not shown* |"));
  CHECK(hasLine(r, "| `region` | `string` | `\"eu\"` |"));
  CHECK(hasLine(r, "- `prod`: `token` = *secret*, `region = \"us\"`"));
  CHECK(r.find("./secrets run --preset 'prod'  ") != std::string::npos);
}

//===----------------------------------------------------------------------===//
// Determinism
//===----------------------------------------------------------------------===//

TEST_CASE("stack files are deterministic and depend on the source path only "
          "where they name it",
          "[stack]") {
  auto m1 = compile(kStackSource);
  auto m2 = compile(kStackSource);
  EmitContext a = contextFor("stack", "examples/demo.iter");
  EmitContext b = contextFor("stack", "other/place/renamed.iter");
  using Emit = std::string (*)(const ir::Module &, const EmitContext &);
  for (Emit emit :
       {Emit(emitDockerfile), Emit(emitCompose), Emit(emitReadme)}) {
    std::string first = emit(*m1, a);
    CHECK(first == emit(*m1, a));
    CHECK(first == emit(*m2, a));
    std::vector<std::string> la = lines(first), lb = lines(emit(*m1, b));
    REQUIRE(la.size() == lb.size());
    size_t differing = 0;
    for (size_t i = 0; i < la.size(); ++i) {
      if (la[i] == lb[i])
        continue;
      ++differing;
      INFO(la[i] << "\n" << lb[i]);
      CHECK(la[i].find("examples/demo.iter") != std::string::npos);
      CHECK(lb[i].find("other/place/renamed.iter") != std::string::npos);
    }
    CHECK(differing >= 1); // At least the header.
  }
  // An absolute path is reduced to its file name.
  std::string d = emitDockerfile(*m1, contextFor("stack", "/home/u/x.iter"));
  CHECK(d.find("/home/u") == std::string::npos);
  CHECK(lines(d).front() ==
        "# Generated by iterc 0.1.0 from x.iter. DO NOT EDIT.");
}

//===----------------------------------------------------------------------===//
// The Dockerfile under podman
//===----------------------------------------------------------------------===//

namespace {

/// A tiny static program standing in for the workflow executable: it
/// reports its user, the environment the image sets, and whether it can
/// write the run store and the workspace.
const char *const kProbeProgram = R"(#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
int main(int argc, char **argv) {
  if (argc > 1 && strcmp(argv[1], "--version") == 0) {
    puts("probe 1");
    return 0;
  }
  printf("args=%s\n", argc > 1 ? argv[1] : "");
  printf("uid=%d gid=%d\n", (int)getuid(), (int)getgid());
  const char *store = getenv("ITERC_STORE_DIR");
  const char *ca = getenv("SSL_CERT_FILE");
  printf("store=%s\n", store ? store : "");
  printf("ca=%s\n", ca && access(ca, R_OK) == 0 ? "readable" : "missing");
  char cwd[512];
  printf("cwd=%s\n", getcwd(cwd, sizeof cwd) ? cwd : "?");
  printf("previous=%s\n", access("/data/probe", F_OK) == 0 ? "yes" : "no");
  FILE *f = fopen("/data/probe", "w");
  if (!f || fputs("ok\n", f) < 0 || fclose(f) != 0) {
    perror("write /data/probe");
    return 1;
  }
  puts("wrote /data");
  f = fopen("workspace-probe", "w");
  if (!f || fclose(f) != 0) {
    perror("write workspace");
    return 1;
  }
  puts("wrote workspace");
  return 0;
}
)";

/// Removes the test image and volume at scope exit.
struct PodmanCleanup {
  std::string podman, image, volume;
  ~PodmanCleanup() {
    run(podman + " rmi -f " + image + " >/dev/null 2>&1");
    run(podman + " volume rm -f " + volume + " >/dev/null 2>&1");
  }
};

} // namespace

TEST_CASE("the Dockerfile builds and runs under podman: non-root, writable "
          "/data volume",
          "[stack][podman]") {
  if (!onPath("podman")) {
    WARN("SKIPPED: podman not installed");
    return;
  }
  if (!onPath("runc")) {
    WARN("SKIPPED: runc not installed (podman is run with --runtime runc)");
    return;
  }
  if (!onPath("cc")) {
    WARN("SKIPPED: no C compiler (cc) to build the static probe program");
    return;
  }
  TempDir dir;
  fs::path context = dir.path / "context";
  fs::create_directories(context);
  const std::string program = "stack_probe";
  writeFile(dir.path / "probe.c", kProbeProgram);
  if (run("cc -static -O2 -o '" + (context / program).string() + "' '" +
          (dir.path / "probe.c").string() + "' >/dev/null 2>&1") != 0) {
    WARN("SKIPPED: cc -static cannot link a static program here");
    return;
  }
  const fs::path ca = "/etc/ssl/certs/ca-certificates.crt";
  if (fs::exists(ca))
    fs::copy_file(ca, context / "ca-certificates.crt");
  else
    writeFile(context / "ca-certificates.crt", "# placeholder bundle\n");

  auto m = compile(kPlainSource);
  EmitContext ctx = contextFor(program);
  writeFile(context / "Dockerfile", emitDockerfile(*m, ctx));

  writeFile(dir.path / "containers.conf",
            "[containers]\ndefault_ulimits = []\n");
  std::string podman = "CONTAINERS_CONF='" +
                       (dir.path / "containers.conf").string() +
                       "' podman --runtime runc --storage-driver vfs";
  std::string suffix = std::to_string(getpid());
  PodmanCleanup cleanup{podman, "localhost/iterc-stack-test:" + suffix,
                        "iterc-stack-test-" + suffix};
  const std::string &image = cleanup.image;
  const std::string &volume = cleanup.volume;

  fs::path log = dir.path / "log.txt";
  // --layers=false: no image of the empty stage is left behind.
  int rc = run(podman + " build --layers=false -t " + image + " -f '" +
               (context / "Dockerfile").string() + "' '" + context.string() +
               "' > '" + log.string() + "' 2>&1");
  INFO("podman build:\n" << readFile(log));
  REQUIRE(rc == 0);

  rc = run(podman +
           " image inspect --format "
           "'{{.Config.User}} {{.Config.WorkingDir}} "
           "{{index .Config.Labels "
           "\"org.opencontainers.image.revision\"}}' " +
           image + " > '" + log.string() + "' 2>&1");
  std::string inspect = readFile(log);
  INFO("podman image inspect:\n" << inspect);
  REQUIRE(rc == 0);
  CHECK(inspect == "65532:65532 /workspace sha256:" + std::string(kSha) + "\n");

  // The image's own file system: what Docker copies into a fresh named
  // volume (podman would chown a fresh volume to the user anyway, so the
  // runs below alone cannot tell).
  fs::path tarFile = dir.path / "rootfs.tar";
  std::string container = "iterc-stack-test-" + suffix;
  rc = run(podman + " create --name " + container + " " + image +
           " >/dev/null 2>&1 && " + podman + " export -o '" + tarFile.string() +
           "' " + container + " > '" + log.string() + "' 2>&1; " + podman +
           " rm -f -v " + container + " >/dev/null 2>&1");
  rc = run("tar -tvf '" + tarFile.string() + "' > '" + log.string() + "' 2>&1");
  std::string listing = readFile(log);
  INFO("image file system:\n" << listing);
  REQUIRE(rc == 0);
  std::map<std::string, std::string> entries; // path -> "mode owner"
  for (const std::string &l : lines(listing)) {
    std::istringstream in(l);
    std::string mode, owner, size, date, time, path;
    if (in >> mode >> owner >> size >> date >> time >> path)
      entries[path] = mode + " " + owner;
  }
  CHECK(entries["data/"] == "drwxr-xr-x 65532/65532");
  CHECK(entries["workspace/"] == "drwxr-xr-x 65532/65532");
  CHECK(entries["usr/local/bin/" + program] == "-r-xr-xr-x 0/0");
  CHECK(entries["etc/ssl/certs/ca-certificates.crt"] == "-r--r--r-- 0/0");

  std::string runCmd =
      podman + " run --rm --network host -v " + volume + ":/data " + image;
  rc = run(runCmd + " > '" + log.string() + "' 2>&1");
  std::string first = readFile(log);
  INFO("first run:\n" << first);
  REQUIRE(rc == 0);
  CHECK(hasLine(first, "args=run"));
  CHECK(hasLine(first, "uid=65532 gid=65532"));
  CHECK(hasLine(first, "store=/data"));
  CHECK(hasLine(first, "ca=readable"));
  CHECK(hasLine(first, "cwd=/workspace"));
  CHECK(hasLine(first, "previous=no"));
  CHECK(hasLine(first, "wrote /data"));
  CHECK(hasLine(first, "wrote workspace"));

  // The store outlives the container.
  rc = run(runCmd + " > '" + log.string() + "' 2>&1");
  std::string second = readFile(log);
  INFO("second run:\n" << second);
  REQUIRE(rc == 0);
  CHECK(hasLine(second, "previous=yes"));

  rc = run(runCmd + " --version > '" + log.string() + "' 2>&1");
  CHECK(rc == 0);
  CHECK(readFile(log) == "probe 1\n");
}

namespace {

/// A tiny static program standing in for a service's program: it reports
/// its user, its working directory and its arguments.
const char *const kServiceProbe = R"(#include <stdio.h>
#include <unistd.h>
int main(int argc, char **argv) {
  char cwd[512];
  printf("uid=%d gid=%d\n", (int)getuid(), (int)getgid());
  printf("cwd=%s\n", getcwd(cwd, sizeof cwd) ? cwd : "?");
  printf("argv0=%s\n", argv[0]);
  for (int i = 1; i < argc; ++i)
    printf("arg=%s\n", argv[i]);
  return 0;
}
)";

} // namespace

TEST_CASE("a generated service Dockerfile builds and runs under podman: the "
          "program from the context, non-root, its command",
          "[stack][podman]") {
  if (!onPath("podman")) {
    WARN("SKIPPED: podman not installed");
    return;
  }
  if (!onPath("runc")) {
    WARN("SKIPPED: runc not installed (podman is run with --runtime runc)");
    return;
  }
  if (!onPath("cc")) {
    WARN("SKIPPED: no C compiler (cc) to build the static probe program");
    return;
  }
  TempDir dir;
  // The layout `iterc emit -o out` gives, with the context next to it.
  fs::path context = dir.path / "out" / "api";
  fs::create_directories(context / "bin");
  writeFile(dir.path / "probe.c", kServiceProbe);
  if (run("cc -static -O2 -o '" + (context / "bin" / "server").string() +
          "' '" + (dir.path / "probe.c").string() + "' >/dev/null 2>&1") != 0) {
    WARN("SKIPPED: cc -static cannot link a static program here");
    return;
  }
  auto m = compile(serviceFile(R"(service api:
  build: "./api"
  program: "./bin/server"
  command: ["--port", "8080", "two words", "$HOME"]
  ports: ["18080:8080"]
  workdir: "/srv/api dir"
)"));
  const ir::Service &api = m->services.front();
  fs::path dockerfile = dir.path / "out" / serviceDockerfilePath(api);
  // The container stack runtime's variant: the program from the context.
  writeFile(dockerfile,
            emitServiceDockerfile(api, contextFor("svc"),
                                  ServiceImageContext::BuildContext));

  writeFile(dir.path / "containers.conf",
            "[containers]\ndefault_ulimits = []\n");
  std::string podman = "CONTAINERS_CONF='" +
                       (dir.path / "containers.conf").string() +
                       "' podman --runtime runc --storage-driver vfs";
  std::string suffix = std::to_string(getpid());
  PodmanCleanup cleanup{podman, "localhost/iterc-service-test:" + suffix,
                        "iterc-service-test-" + suffix};
  const std::string &image = cleanup.image;
  fs::path log = dir.path / "log.txt";
  int rc = run(podman + " build --layers=false -t " + image + " -f '" +
               dockerfile.string() + "' '" + context.string() + "' > '" +
               log.string() + "' 2>&1");
  INFO("podman build:\n" << readFile(log));
  REQUIRE(rc == 0);

  rc = run(podman +
           " image inspect --format '{{.Config.User}}|{{.Config.WorkingDir}}|"
           "{{.Config.ExposedPorts}}' " +
           image + " > '" + log.string() + "' 2>&1");
  std::string inspect = readFile(log);
  INFO("podman image inspect:\n" << inspect);
  REQUIRE(rc == 0);
  CHECK(inspect.rfind("65532:65532|/srv/api dir|", 0) == 0);
  CHECK(inspect.find("8080/tcp") != std::string::npos);

  rc = run(podman + " run --rm --network none " + image + " > '" +
           log.string() + "' 2>&1");
  std::string out = readFile(log);
  INFO("podman run:\n" << out);
  REQUIRE(rc == 0);
  CHECK(out == "uid=65532 gid=65532\n"
               "cwd=/srv/api dir\n"
               "argv0=/app/server\n"
               "arg=--port\n"
               "arg=8080\n"
               "arg=two words\n"
               "arg=$HOME\n");
}

TEST_CASE("a service's restart policy: checked, and written to compose.yaml",
          "[stack]") {
  auto withPolicy = [](const std::string &props) {
    return "schema out:\n  ok: bool\n\nservice db:\n  image: \"postgres:16\"\n"
           "  ports: [\"5432\"]\n" +
           props +
           "\nverify v:\n  checks:\n    up: \"true\"\n\nworkflow w:\n  entry: v\n"
           "  services: [db]\n  v -> done\n";
  };
  CheckResult bad = checkSource(withPolicy("  restart: sometimes\n"));
  CHECK(bad.codes() == std::vector<std::string>{"E020"});
  CHECK(bad.render().find("expected no, \"on-failure\" or always") !=
        std::string::npos);
  CHECK(checkSource(withPolicy("  restart: \"on-failure\"\n  max_restarts: 0\n"))
            .codes() == std::vector<std::string>{"E020"});

  CheckResult ok = checkSource(
      withPolicy("  restart: \"on-failure\"\n  max_restarts: 5\n"),
      "policy.iter");
  INFO(ok.render());
  REQUIRE(ok.codes().empty());
  REQUIRE(ok.module->services.size() == 1);
  CHECK(ok.module->services[0].restart == "on-failure");
  CHECK(ok.module->services[0].maxRestarts == 5);
  std::string compose = emitCompose(*ok.module, contextFor("policy"));
  CHECK(hasLine(compose, "    restart: \"on-failure:5\""));
  CheckResult none = checkSource(withPolicy("  restart: no\n"), "none.iter");
  CheckResult word =
      checkSource(withPolicy("  restart: on_failure\n"), "word.iter");
  REQUIRE(word.codes().empty());
  CHECK(word.module->services[0].restart == "on-failure");
  REQUIRE(none.codes().empty());
  CHECK(none.module->services[0].restart.empty());
  CHECK(emitCompose(*none.module, contextFor("none")).find("restart:") ==
        std::string::npos);

  std::string output;
  int rc = validateCompose({{"policy", compose}}, output);
  if (rc == -2)
    return;
  INFO("validator:\n" << output);
  CHECK(rc == 0);
}
