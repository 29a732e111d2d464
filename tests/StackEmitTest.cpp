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
  for (size_t i = 0; i < expected.size(); ++i)
    CHECK(ls[at + 1 + i] == "      - \"" + expected[i] + "\"");
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
  CHECK(ls[db + 7] == "    healthcheck:");
  CHECK(ls[db + 8] ==
        "      test: [\"CMD\", \"pg_isready\", \"-U\", \"postgres\"]");
  CHECK(ls[db + 9] == "      interval: \"2s\"");
  CHECK(ls[db + 10] == "      timeout: \"5s\"");
  CHECK(ls[db + 11] == "      retries: 10");

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
