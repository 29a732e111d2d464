//===- ExamplesRunTest.cpp - Every example, built and run end to end ------===//
//
// Builds each workflow of examples/ with the real `iterc build` (a cache
// inside the build tree, never ~/.cache), runs the executable from its
// cassette (examples/cassettes/, recorded by scripts/record-cassettes against
// tests/e2e/fake_llm_server.py) in a fresh workspace and store, and checks
// what the run did: exit codes, the final status, the nodes visited in order,
// loop iterations and key outputs. The steps (run, then resume with answers
// or a larger budget), the variables and the workspace each example needs
// come from examples/replies/<example>.json, shared with the script that
// records the cassettes.
//
// Also: the real HTTP path (the compiled binary against the fake server on
// loopback, OpenAI and Anthropic wire formats, tool calls), and a cassette
// miss failing loudly. A failing replay usually means a request changed:
// re-record with scripts/record-cassettes EXAMPLE.
//
// Set ITERC_E2E_KEEP=1 to keep the temporary directories.
//
//===----------------------------------------------------------------------===//
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <poll.h>
#include <set>
#include <sstream>
#include <string>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

namespace fs = std::filesystem;
using Json = nlohmann::json;

namespace {

//===----------------------------------------------------------------------===//
// Processes
//===----------------------------------------------------------------------===//

/// Environment changes for a child: a value sets, nullopt unsets.
using EnvChanges = std::map<std::string, std::optional<std::string>>;

struct ProcResult {
  int exitCode = -1; ///< -1 when killed by a signal or not started.
  std::string out;
  std::string err;
  bool timedOut = false;
};

/// In the child, after fork: environment, directory, stdio, exec. Never
/// returns.
[[noreturn]] void execChild(const std::vector<std::string> &argv,
                            const EnvChanges &env, const std::string &cwd,
                            int outFd, int errFd) {
  ::setpgid(0, 0); // Its own group: a timeout kills the tools it runs too.
  for (const auto &[name, value] : env) {
    if (value)
      ::setenv(name.c_str(), value->c_str(), 1);
    else
      ::unsetenv(name.c_str());
  }
  if (!cwd.empty() && ::chdir(cwd.c_str()) != 0)
    ::_exit(126);
  int devnull = ::open("/dev/null", O_RDONLY);
  if (devnull >= 0)
    ::dup2(devnull, 0);
  ::dup2(outFd, 1);
  ::dup2(errFd, 2);
  std::vector<char *> args;
  for (const std::string &a : argv)
    args.push_back(const_cast<char *>(a.c_str()));
  args.push_back(nullptr);
  ::execvp(args[0], args.data());
  std::string msg = "exec " + argv[0] + ": " + std::strerror(errno) + "\n";
  (void)!::write(2, msg.data(), msg.size());
  ::_exit(127);
}

/// Runs argv to completion (or `timeoutSec`, then kills its process group),
/// capturing stdout and stderr.
ProcResult runProcess(const std::vector<std::string> &argv,
                      const EnvChanges &env = {}, const std::string &cwd = "",
                      int timeoutSec = 300) {
  ProcResult r;
  int outPipe[2], errPipe[2];
  if (::pipe(outPipe) != 0)
    return r;
  if (::pipe(errPipe) != 0) {
    ::close(outPipe[0]);
    ::close(outPipe[1]);
    return r;
  }
  pid_t pid = ::fork();
  if (pid == 0) {
    ::close(outPipe[0]);
    ::close(errPipe[0]);
    execChild(argv, env, cwd, outPipe[1], errPipe[1]);
  }
  ::close(outPipe[1]);
  ::close(errPipe[1]);
  if (pid < 0) {
    ::close(outPipe[0]);
    ::close(errPipe[0]);
    return r;
  }
  auto deadline =
      std::chrono::steady_clock::now() + std::chrono::seconds(timeoutSec);
  struct pollfd fds[2] = {{outPipe[0], POLLIN, 0}, {errPipe[0], POLLIN, 0}};
  int openFds = 2;
  char buf[65536];
  while (openFds > 0) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                    deadline - std::chrono::steady_clock::now())
                    .count();
    if (left <= 0) {
      r.timedOut = true;
      ::kill(-pid, SIGKILL);
      break;
    }
    int n = ::poll(fds, 2, int(std::min<long long>(left, 1000)));
    if (n < 0 && errno != EINTR)
      break;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR)))
        continue;
      ssize_t got = ::read(fds[i].fd, buf, sizeof buf);
      if (got > 0) {
        (i == 0 ? r.out : r.err).append(buf, size_t(got));
      } else if (got == 0 || errno != EINTR) {
        ::close(fds[i].fd);
        fds[i].fd = -1;
        --openFds;
      }
    }
  }
  for (auto &f : fds)
    if (f.fd >= 0)
      ::close(f.fd);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status))
    r.exitCode = WEXITSTATUS(status);
  return r;
}

bool haveProgram(const std::string &name) {
  ProcResult r =
      runProcess({"/bin/sh", "-c", "command -v " + name}, {}, "", 30);
  return r.exitCode == 0;
}

/// A temporary directory, removed with its contents unless ITERC_E2E_KEEP.
class TempDir {
public:
  explicit TempDir(const std::string &tag) {
    std::string pattern =
        (fs::temp_directory_path() / ("iterc-e2e-" + tag + "-XXXXXX")).string();
    std::vector<char> buf(pattern.begin(), pattern.end());
    buf.push_back('\0');
    if (::mkdtemp(buf.data()))
      path_ = buf.data();
  }
  ~TempDir() {
    const char *keep = std::getenv("ITERC_E2E_KEEP");
    if (keep && *keep && std::string(keep) != "0") {
      std::fprintf(stderr, "ExamplesRunTest: kept %s\n", path_.c_str());
      return;
    }
    std::error_code ec;
    if (!path_.empty())
      fs::remove_all(path_, ec);
  }
  TempDir(const TempDir &) = delete;
  TempDir &operator=(const TempDir &) = delete;
  const std::string &path() const { return path_; }
  std::string operator/(const std::string &rel) const {
    return (fs::path(path_) / rel).string();
  }

private:
  std::string path_;
};

//===----------------------------------------------------------------------===//
// The fake LLM server
//===----------------------------------------------------------------------===//

/// tests/e2e/fake_llm_server.py on 127.0.0.1, started with a replies file;
/// stopped (its process group killed) when destroyed, also on a failure.
class FakeServer {
public:
  /// With `tls`, the server speaks HTTPS with tests/e2e/tls_test_cert.pem.
  FakeServer(const std::string &replies, const std::string &log,
             bool tls = false)
      : tls_(tls) {
    int outPipe[2];
    if (::pipe(outPipe) != 0)
      return;
    std::string script =
        std::string(ITERC_SOURCE_DIR) + "/tests/e2e/fake_llm_server.py";
    std::vector<std::string> argv = {"python3", script,  "--replies",
                                     replies,   "--log", log};
    if (tls)
      argv.insert(argv.end(), {"--tls-cert", certFile(), "--tls-key",
                               std::string(ITERC_SOURCE_DIR) +
                                   "/tests/e2e/tls_test_key.pem"});
    int errFd = ::open("/dev/null", O_WRONLY);
    if (const char *verbose = std::getenv("ITERC_E2E_VERBOSE");
        verbose && *verbose)
      errFd = ::dup(2);
    pid_ = ::fork();
    if (pid_ == 0) {
      ::close(outPipe[0]);
      execChild(argv, {}, "", outPipe[1], errFd);
    }
    ::close(outPipe[1]);
    if (errFd >= 0)
      ::close(errFd);
    if (pid_ < 0) {
      ::close(outPipe[0]);
      return;
    }
    // The first line of stdout is the port: wait for it (no sleeps), at
    // most 30 s.
    std::string line;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    struct pollfd fd = {outPipe[0], POLLIN, 0};
    while (line.find('\n') == std::string::npos) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                      deadline - std::chrono::steady_clock::now())
                      .count();
      if (left <= 0 || ::poll(&fd, 1, int(left)) <= 0)
        break;
      char buf[256];
      ssize_t got = ::read(outPipe[0], buf, sizeof buf);
      if (got <= 0)
        break;
      line.append(buf, size_t(got));
    }
    ::close(outPipe[0]);
    port_ = std::atoi(line.c_str());
  }
  ~FakeServer() {
    if (pid_ > 0) {
      ::kill(-pid_, SIGTERM);
      ::kill(pid_, SIGTERM);
      int status;
      while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
      }
    }
  }
  FakeServer(const FakeServer &) = delete;
  FakeServer &operator=(const FakeServer &) = delete;

  int port() const { return port_; }
  static std::string certFile() {
    return std::string(ITERC_SOURCE_DIR) + "/tests/e2e/tls_test_cert.pem";
  }
  /// The variables that point every provider at this server.
  EnvChanges env() const {
    std::string base = std::string(tls_ ? "https" : "http") +
                       "://127.0.0.1:" + std::to_string(port_);
    return {{"OPENAI_BASE_URL", base + "/v1"},
            {"OPENAI_API_KEY", "sk-fake-e2e"},
            {"ANTHROPIC_BASE_URL", base},
            {"ANTHROPIC_API_KEY", "sk-ant-fake-e2e"},
            {"OPENROUTER_BASE_URL", base + "/v1"},
            {"OPENROUTER_API_KEY", "sk-or-fake-e2e"},
            {"OLLAMA_BASE_URL", base}};
  }

private:
  bool tls_ = false;
  pid_t pid_ = -1;
  int port_ = 0;
};

//===----------------------------------------------------------------------===//
// Examples: building, workspaces, steps
//===----------------------------------------------------------------------===//

std::string repoPath(const std::string &rel) {
  return std::string(ITERC_SOURCE_DIR) + "/" + rel;
}

std::string readText(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

Json loadSpec(const std::string &example) {
  std::string path = repoPath("examples/replies/" + example + ".json");
  std::string text = readText(path);
  INFO("replies file " << path);
  REQUIRE(!text.empty());
  return Json::parse(text);
}

/// What every child gets: no real provider, no ambient cassette or store,
/// messages in the C locale.
EnvChanges baseEnv() {
  EnvChanges env;
  for (const char *name :
       {"ITERC_CASSETTE", "ITERC_PRICES", "ITERC_STORE_DIR", "OPENAI_BASE_URL",
        "OPENAI_API_KEY", "ANTHROPIC_BASE_URL", "ANTHROPIC_API_KEY",
        "OPENROUTER_BASE_URL", "OPENROUTER_API_KEY", "OLLAMA_BASE_URL",
        "SSL_CERT_FILE"})
    env[name] = std::nullopt;
  env["LANG"] = "C";
  env["LC_ALL"] = "C";
  return env;
}

EnvChanges merged(EnvChanges a, const EnvChanges &b) {
  for (const auto &[k, v] : b)
    a[k] = v;
  return a;
}

/// Builds examples/<name>.iter with ITERC_BINARY into `dir`; the build
/// cache lives in the build tree (shared by test runs, never ~/.cache).
std::string buildExample(const std::string &name, const TempDir &dir) {
  std::string iterc = ITERC_BINARY;
  INFO("iterc binary " << iterc << " (build it: ninja iterc)");
  REQUIRE(::access(iterc.c_str(), X_OK) == 0);
  std::string cache = (fs::path(iterc).parent_path() / "e2e-cache").string();
  std::string out = dir / ("bin/" + name);
  fs::create_directories(dir / "bin");
  ProcResult r = runProcess(
      {iterc, "build", repoPath("examples/" + name + ".iter"), "-o", out},
      merged(baseEnv(), {{"ITERC_CACHE_DIR", cache}}), "", 600);
  INFO("iterc build " << name << " stderr:\n" << r.err);
  REQUIRE(r.exitCode == 0);
  REQUIRE(::access(out.c_str(), X_OK) == 0);
  return out;
}

/// The files, executable bits and setup command of a replies file's
/// "workspace" (as scripts/record-cassettes does).
void prepareWorkspace(const Json &spec, const std::string &ws) {
  fs::create_directories(ws);
  if (!spec.contains("workspace"))
    return;
  const Json &w = spec["workspace"];
  const Json files = w.value("files", Json::object());
  for (auto it = files.begin(); it != files.end(); ++it) {
    fs::path p = fs::path(ws) / it.key();
    fs::create_directories(p.parent_path());
    std::ofstream(p, std::ios::binary) << it.value().get<std::string>();
  }
  for (const Json &rel : w.value("executable", Json::array()))
    fs::permissions(fs::path(ws) / rel.get<std::string>(),
                    fs::perms::owner_all | fs::perms::group_read |
                        fs::perms::group_exec | fs::perms::others_read |
                        fs::perms::others_exec);
  if (w.contains("setup")) {
    ProcResult r = runProcess({"/bin/sh", "-c", w["setup"].get<std::string>()},
                              baseEnv(), ws, 120);
    INFO("workspace setup stderr:\n" << r.err);
    REQUIRE(r.exitCode == 0);
  }
}

std::vector<std::string> valueArgs(const Json &values,
                                   const std::string &flag) {
  std::vector<std::string> args;
  for (auto it = values.begin(); it != values.end(); ++it) {
    args.push_back(flag);
    args.push_back(it.key() + "=" +
                   (it.value().is_string() ? it.value().get<std::string>()
                                           : it.value().dump()));
  }
  return args;
}

/// One invocation of the executable with --json: its events and result.
struct Step {
  ProcResult proc;
  std::vector<Json> events;
  Json result; ///< The {"type":"result"} (or "plan") object, or null.

  std::string status() const {
    return result.is_object() ? result.value("status", std::string()) : "";
  }
  std::string describe() const {
    return "exit " + std::to_string(proc.exitCode) + ", result " +
           (result.is_null() ? std::string("(none)") : result.dump()) +
           "\nstderr:\n" + proc.err;
  }
};

Step parseStep(ProcResult proc) {
  Step s;
  s.proc = std::move(proc);
  std::istringstream lines(s.proc.out);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.empty())
      continue;
    Json j = Json::parse(line, nullptr, false);
    if (j.is_discarded() || !j.is_object())
      continue;
    std::string type = j.value("type", std::string());
    if (type == "result" || type == "plan")
      s.result = j;
    else
      s.events.push_back(j);
  }
  return s;
}

/// An example being run: its executable, workspace, store and the events of
/// every step so far.
struct Session {
  std::string name;
  Json spec;
  TempDir tmp;
  std::string wf;
  std::string workspace;
  std::string store;
  std::vector<Json> events; ///< Every step's events, in order.
  std::vector<Step> steps;

  explicit Session(const std::string &example)
      : name(example), spec(loadSpec(example)), tmp(example) {
    REQUIRE(!tmp.path().empty());
    wf = buildExample(example, tmp);
    workspace = tmp / "workspace";
    store = tmp / "store";
    prepareWorkspace(spec, workspace);
  }

  /// Runs step `index` of the replies file's "runs" with `providerArgs`
  /// (--cassette FILE, or --record FILE) and `env`; checks its expected exit
  /// code and status.
  const Step &runStep(size_t index,
                      const std::vector<std::string> &providerArgs,
                      const EnvChanges &env) {
    const Json &runs = spec["runs"];
    REQUIRE(index < runs.size());
    const Json &step = runs[index];
    std::string command = step.value("command", std::string("run"));
    std::vector<std::string> argv = {wf,    command,       "--json", "--run-id",
                                     "e2e", "--store-dir", store};
    if (command == "run") {
      argv.push_back("--workspace");
      argv.push_back(workspace);
      for (const std::string &a :
           valueArgs(spec.value("vars", Json::object()), "--var"))
        argv.push_back(a);
    } else {
      for (const std::string &a :
           valueArgs(step.value("answers", Json::object()), "--answer"))
        argv.push_back(a);
    }
    for (const Json &a : step.value("args", Json::array()))
      argv.push_back(a.get<std::string>());
    argv.insert(argv.end(), providerArgs.begin(), providerArgs.end());
    steps.push_back(parseStep(runProcess(argv, env, tmp.path(), 600)));
    const Step &s = steps.back();
    events.insert(events.end(), s.events.begin(), s.events.end());
    INFO(name << " step " << index << " (" << command << "): " << s.describe());
    REQUIRE_FALSE(s.proc.timedOut);
    REQUIRE(s.result.is_object());
    CHECK(s.proc.exitCode == step.value("expect_exit", 0));
    CHECK(s.result.value("exit_code", -1) == s.proc.exitCode);
    if (step.contains("expect_status"))
      CHECK(s.status() == step["expect_status"].get<std::string>());
    return s;
  }

  /// Every step of "runs", replayed from the committed cassette.
  void replayAll() {
    std::string cassette =
        repoPath("examples/cassettes/" + name + ".cassette.json");
    INFO("cassette " << cassette << " (record it: scripts/record-cassettes "
                     << name << ")");
    REQUIRE(fs::exists(cassette));
    for (size_t i = 0; i < spec["runs"].size(); ++i)
      runStep(i, {"--cassette", cassette}, baseEnv());
  }

  /// Node names of every event of `type` (node_started, node_finished...).
  std::vector<std::string> nodes(const std::string &type,
                                 bool mainOnly = false) const {
    std::vector<std::string> out;
    for (const Json &e : events)
      if (e.value("type", std::string()) == type &&
          (!mainOnly || !e.contains("branch_id")))
        out.push_back(e.value("node_id", std::string()));
    return out;
  }

  std::vector<Json> ofType(const std::string &type) const {
    std::vector<Json> out;
    for (const Json &e : events)
      if (e.value("type", std::string()) == type)
        out.push_back(e);
    return out;
  }

  /// The last iteration reached by loop `loop` (from edge_selected).
  int64_t loopIterations(const std::string &loop) const {
    int64_t n = 0;
    for (const Json &e : ofType("edge_selected")) {
      const Json &d = e["data"];
      if (d.value("loop", std::string()) == loop)
        n = std::max(n, d.value("iteration", int64_t(0)));
    }
    return n;
  }

  const Json &finalResult() const { return steps.back().result; }
  Json output(const std::string &node) const {
    const Json &outs = finalResult()["outputs"];
    return outs.contains(node) ? outs[node] : Json();
  }
};

std::string joined(const std::vector<std::string> &v) {
  std::string out;
  for (const std::string &s : v)
    out += (out.empty() ? "" : ", ") + s;
  return out;
}

/// `actual` is the concatenation of `groups`, each group in any order
/// (parallel branches start and finish in no fixed order).
bool matchesGroups(const std::vector<std::string> &actual,
                   const std::vector<std::vector<std::string>> &groups) {
  size_t pos = 0;
  for (const auto &group : groups) {
    if (pos + group.size() > actual.size())
      return false;
    std::multiset<std::string> want(group.begin(), group.end());
    std::multiset<std::string> got(actual.begin() + long(pos),
                                   actual.begin() + long(pos + group.size()));
    if (want != got)
      return false;
    pos += group.size();
  }
  return pos == actual.size();
}

#define CHECK_SEQUENCE(actual, ...)                                            \
  do {                                                                         \
    std::vector<std::string> seq_ = (actual);                                  \
    INFO("visited: " << joined(seq_));                                         \
    CHECK(matchesGroups(seq_,                                                  \
                        std::vector<std::vector<std::string>>{__VA_ARGS__}));  \
  } while (0)

bool contains(const std::string &haystack, const std::string &needle) {
  return haystack.find(needle) != std::string::npos;
}

} // namespace

//===----------------------------------------------------------------------===//
// Every example from its cassette
//===----------------------------------------------------------------------===//

TEST_CASE("e2e: every example has replies and a cassette", "[e2e]") {
  size_t examples = 0;
  for (const fs::directory_entry &entry :
       fs::directory_iterator(repoPath("examples"))) {
    if (entry.path().extension() != ".iter")
      continue;
    ++examples;
    std::string name = entry.path().stem().string();
    INFO("example " << name << ": add examples/replies/" << name
                    << ".json, then run scripts/record-cassettes " << name);
    REQUIRE(fs::exists(repoPath("examples/replies/" + name + ".json")));
    Json spec = loadSpec(name);
    CHECK(spec.contains("vars"));
    if (spec.value("dry_run_only", false))
      continue;
    CHECK_FALSE(spec.value("runs", Json::array()).empty());
    std::string cassette =
        repoPath("examples/cassettes/" + name + ".cassette.json");
    REQUIRE(fs::exists(cassette));
    Json c = Json::parse(readText(cassette));
    CHECK(c.value("version", 0) == 1);
    CHECK_FALSE(c.value("entries", Json::array()).empty());
  }
  CHECK(examples >= 10);
}

TEST_CASE("e2e: pr_review runs both reviewers in parallel and the judge "
          "approves",
          "[e2e]") {
  Session s("pr_review");
  s.replayAll();
  CHECK(s.finalResult()["final_node"] == "verdict_judge");
  CHECK_SEQUENCE(s.nodes("node_started"), {"reviewers"},
                 {"correctness", "maintainability"}, {"verdict_judge"},
                 {"done"});
  CHECK_SEQUENCE(s.nodes("node_finished"), {"reviewers"},
                 {"correctness", "maintainability"}, {"verdict_judge"},
                 {"done"});
  // The reviewers ran as branches, the judge on the main line.
  std::vector<std::string> main = s.nodes("node_finished", true);
  CHECK(std::count(main.begin(), main.end(), "correctness") == 0);
  CHECK(std::count(main.begin(), main.end(), "verdict_judge") == 1);
  CHECK(s.ofType("llm_response").size() == 3);
  Json verdict = s.output("verdict_judge");
  CHECK(verdict["approved"] == true);
  CHECK(verdict["severity"] == "minor");
  CHECK(s.output("correctness")["blocking"] == false);
  CHECK(s.output("maintainability")["blocking"] == false);
  bool published = false;
  for (const Json &e : s.ofType("artifact_written"))
    published = published || e["data"].value("publish", "") == "review_verdict";
  CHECK(published);
}

TEST_CASE("e2e: ci_fix_loop: the tool fails, the agent fixes the code, the "
          "tool passes",
          "[e2e]") {
  Session s("ci_fix_loop");
  s.replayAll();
  CHECK_SEQUENCE(s.nodes("node_started"), {"run_tests"}, {"tests_green"},
                 {"fixer"}, {"run_tests"}, {"tests_green"}, {"done"});
  CHECK(s.loopIterations("fix_loop") == 1);
  // The first test run really failed, the second really passed.
  std::vector<Json> tools = s.ofType("tool_called");
  REQUIRE(tools.size() == 2);
  CHECK(tools[0]["data"]["exit_code"] == 1);
  CHECK(tools[1]["data"]["exit_code"] == 0);
  CHECK(s.output("tests_green")["passed"] == true);
  Json run = s.output("run_tests");
  CHECK(run["exit_code"] == 0);
  CHECK(contains(run.value("stdout", ""), "ok   add 2 3 = 5"));
  CHECK_FALSE(contains(run.value("stdout", ""), "FAIL"));
  // write_files put the fix into the workspace.
  CHECK(contains(readText(s.workspace + "/repo/calc.sh"), "$(($2 + $3))"));
}

TEST_CASE("e2e: assertion_first: the plan's assertions fail, are named, and "
          "the informed retry meets them",
          "[e2e]") {
  Session s("assertion_first");
  s.replayAll();
  CHECK_SEQUENCE(s.nodes("node_started"), {"plan"}, {"execute"}, {"run"},
                 {"proof"}, {"execute"}, {"run"}, {"proof"}, {"done"});
  CHECK(s.loopIterations("fix") == 1);
  // The first proof failed on exactly the two assertions the first
  // attempt missed, each named as the planner named it.
  Json firstProof;
  for (const Json &e : s.ofType("node_finished"))
    if (e.value("node_id", "") == "proof") {
      firstProof = e["data"]["output"];
      break;
    }
  REQUIRE(firstProof.is_object());
  CHECK(firstProof["passed"] == false);
  REQUIRE(firstProof["failures"].size() == 2);
  CHECK(firstProof["failures"][0]["check"] == "greets the world");
  CHECK(firstProof["failures"][0]["actual"] == "stdout: Hi, World\n");
  CHECK(firstProof["failures"][1]["check"] == "records the greeting");
  CHECK(firstProof["failures"][1]["actual"] == "no such file");
  CHECK(s.output("proof")["passed"] == true);
  CHECK(contains(readText(s.workspace + "/greeting.conf"), "greeting=Hello"));
}

TEST_CASE("e2e: plan_execute_critic: the critic rejects once, the informed "
          "re-plan passes",
          "[e2e]") {
  Session s("plan_execute_critic");
  s.replayAll();
  CHECK_SEQUENCE(s.nodes("node_started"), {"planner"}, {"executor"}, {"critic"},
                 {"planner"}, {"executor"}, {"critic"}, {"done"});
  CHECK(s.loopIterations("replan") == 1);
  // The executor used the workspace tools: list, read, then read again.
  std::vector<std::string> tools;
  for (const Json &e : s.ofType("tool_called"))
    if (e.value("node_id", "") == "executor")
      tools.push_back(e["data"].value("tool", ""));
  CHECK(joined(tools) == "list_files, read_file, read_file");
  CHECK(s.output("critic")["pass"] == true);
  CHECK(contains(s.output("executor").value("result", ""), "3 open items"));
  // The second plan saw the critic's advice (informed retry).
  bool informed = false;
  for (const Json &e : s.ofType("node_finished"))
    if (e.value("node_id", "") == "planner" &&
        e["data"].value("iteration", -1) == 1)
      informed = contains(e["data"]["output"].value("rationale", ""),
                          "counted closed items");
  CHECK(informed);
}

TEST_CASE("e2e: approval_gate pauses for a person, loops on feedback, "
          "resumes on approval",
          "[e2e]") {
  if (!haveProgram("git")) {
    WARN("SKIPPED: approval_gate needs git for its changelog tool");
    return;
  }
  Session s("approval_gate");
  std::string cassette =
      repoPath("examples/cassettes/approval_gate.cassette.json");
  REQUIRE(fs::exists(cassette));

  const Step &first = s.runStep(0, {"--cassette", cassette}, baseEnv());
  CHECK(first.result["node"] == "approve");
  CHECK(
      contains(first.result["questions"].value("notes", ""), "acme-cli 1.4.0"));
  CHECK(contains(first.result.value("resume_command", ""),
                 "resume --run-id e2e"));
  CHECK_SEQUENCE(s.nodes("node_started"), {"changelog"}, {"writer"},
                 {"approve"});
  // The changelog tool read the workspace's git history.
  CHECK(contains(s.output("changelog").value("stdout", ""),
                 "Config: move the server URL under [server] (breaking)"));

  const Step &second = s.runStep(1, {"--cassette", cassette}, baseEnv());
  CHECK(second.result["node"] == "approve");
  CHECK(contains(second.result["questions"].value("notes", ""), "BREAKING"));
  CHECK(s.loopIterations("revise") == 1);

  const Step &third = s.runStep(2, {"--cassette", cassette}, baseEnv());
  CHECK_SEQUENCE(s.nodes("node_started"), {"changelog"}, {"writer"},
                 {"approve"}, {"writer"}, {"approve"}, {"publish_release"});
  CHECK(s.output("approve")["approved"] == true);
  // `approval: required`: the tool pauses for a person with its command.
  CHECK(third.result["node"] == "publish_release");
  CHECK(contains(third.result["questions"].value("command", ""),
                 "scripts/release"));
  CHECK(contains(third.result.value("resume_command", ""),
                 "--answer approved=<bool>"));
  CHECK(s.output("publish_release").is_null());

  const Step &fourth = s.runStep(3, {"--cassette", cassette}, baseEnv());
  CHECK(fourth.result["status"] == "finished");
  CHECK(contains(s.output("publish_release").value("result", ""),
                 "released acme-cli"));
}

TEST_CASE("e2e: --approve runs an approval-gated tool without pausing",
          "[e2e]") {
  if (!haveProgram("git")) {
    WARN("SKIPPED: approval_gate needs git for its changelog tool");
    return;
  }
  Session s("approval_gate");
  std::string cassette =
      repoPath("examples/cassettes/approval_gate.cassette.json");
  std::vector<std::string> approve = {"--cassette", cassette, "--approve",
                                      "publish_release"};
  s.spec["runs"][2]["expect_exit"] = 0;
  s.spec["runs"][2]["expect_status"] = "finished";
  for (size_t i = 0; i < 3; ++i)
    s.runStep(i, approve, baseEnv());
  CHECK(contains(s.output("publish_release").value("result", ""),
                 "released acme-cli"));
}

TEST_CASE("e2e: approval_gate_classic: a model answers the legal gate, a "
          "person the classic one",
          "[e2e]") {
  Session s("approval_gate_classic");
  std::string cassette =
      repoPath("examples/cassettes/approval_gate_classic.cassette.json");
  REQUIRE(fs::exists(cassette));
  const Step &first = s.runStep(0, {"--cassette", cassette}, baseEnv());
  CHECK(first.proc.exitCode == 3);
  CHECK(first.result["node"] == "approve");
  Json legal = first.result["outputs"]["legal_review"];
  CHECK(legal["approved"] == true);
  CHECK(legal["needs_human_input"] == false);
  CHECK(s.ofType("human_input_requested").size() == 1);

  const Step &second = s.runStep(1, {"--cassette", cassette}, baseEnv());
  CHECK(second.proc.exitCode == 0);
  CHECK(second.result["final_node"] == "approve");
  CHECK_SEQUENCE(s.nodes("node_started"), {"writer"}, {"legal_review"},
                 {"approve"}, {"done"});
  CHECK(s.output("approve")["approved"] == true);
  CHECK(s.output("approve")["feedback"] == "Ship it.");
  CHECK(s.ofType("human_answers_recorded").size() == 1);
}

TEST_CASE("e2e: classic_join waits for three parallel reviewers", "[e2e]") {
  Session s("classic_join");
  s.replayAll();
  CHECK_SEQUENCE(s.nodes("node_started"), {"fan_out"},
                 {"security", "performance", "style"}, {"reviews"},
                 {"reporter"}, {"done"});
  CHECK(s.ofType("join_ready").size() == 1);
  Json report = s.output("reporter");
  CHECK(report["blocking"] == false);
  CHECK(contains(report.value("text", ""), "Performance"));
  CHECK(s.output("performance")["findings"].size() == 1);
  CHECK(s.output("security")["findings"].empty());
}

TEST_CASE("e2e: llm_router picks the billing specialist", "[e2e]") {
  Session s("llm_router");
  s.replayAll();
  CHECK_SEQUENCE(s.nodes("node_started"), {"triage"}, {"billing_specialist"},
                 {"done"});
  CHECK(s.output("triage")["selected_route"] == "billing_specialist");
  CHECK(s.output("billing_specialist")["escalate"] == false);
  CHECK(s.finalResult()["final_node"] == "billing_specialist");
}

TEST_CASE("e2e: budget_refine hits its token budget, then finishes when "
          "resumed with a larger one",
          "[e2e]") {
  Session s("budget_refine");
  std::string cassette =
      repoPath("examples/cassettes/budget_refine.cassette.json");
  REQUIRE(fs::exists(cassette));
  const Step &first = s.runStep(0, {"--cassette", cassette}, baseEnv());
  CHECK(first.proc.exitCode == 4);
  CHECK(first.result["error"].value("code", "") == "BUDGET_EXCEEDED");
  CHECK(first.result["error"].value("node", "") == "critic");
  CHECK(first.result["error"].value("resumable", false) == true);
  CHECK(first.result["usage"].value("tokens", int64_t(0)) == 66440);
  CHECK(contains(first.result.value("resume_command", ""), "--max-tokens"));
  CHECK_SEQUENCE(s.nodes("node_started"), {"writer"}, {"critic"}, {"writer"},
                 {"critic"}, {"writer"}, {"critic"});
  CHECK_SEQUENCE(s.nodes("node_finished"), {"writer"}, {"critic"}, {"writer"},
                 {"critic"}, {"writer"});
  std::vector<Json> exceeded = s.ofType("budget_exceeded");
  REQUIRE(exceeded.size() == 1);
  CHECK(exceeded[0]["data"]["dimension"] == "tokens");
  CHECK(s.ofType("budget_warning").size() >= 1);
  CHECK(s.loopIterations("refine") == 2);

  const Step &second = s.runStep(1, {"--cassette", cassette}, baseEnv());
  CHECK(second.proc.exitCode == 0);
  CHECK(s.output("critic")["score"] == 9);
  CHECK(second.result["usage"].value("tokens", int64_t(0)) == 66440 + 5620);
  CHECK_SEQUENCE(s.nodes("node_finished"), {"writer"}, {"critic"}, {"writer"},
                 {"critic"}, {"writer"}, {"critic"}, {"done"});
  // Resuming did not call the model again for the steps already done.
  CHECK(s.ofType("llm_response").size() == 6);
}

TEST_CASE("e2e: codegen_loop writes a C program, builds it and runs its "
          "self-test",
          "[e2e]") {
  if (!haveProgram("make") || !haveProgram("cc")) {
    WARN("SKIPPED: codegen_loop needs make and cc to build the generated "
         "program");
    return;
  }
  Session s("codegen_loop");
  s.replayAll();
  CHECK_SEQUENCE(s.nodes("node_started"), {"coder"}, {"build"}, {"works"},
                 {"coder"}, {"build"}, {"works"}, {"done"});
  CHECK(s.loopIterations("iterate") == 1);
  CHECK(s.output("works")["passed"] == true);
  CHECK(contains(s.output("build").value("stdout", ""), "SELFTEST OK"));
  // The generated files are in the workspace, and the program was built.
  CHECK(fs::exists(s.workspace + "/Makefile"));
  CHECK(contains(readText(s.workspace + "/fib.c"), "unsigned long long"));
  REQUIRE(fs::exists(s.workspace + "/fib"));
  ProcResult fib = runProcess({s.workspace + "/fib", "50"});
  CHECK(fib.out == "12586269025\n");
}

TEST_CASE("e2e: service_stack is planned by --dry-run (services are not "
          "brought up yet)",
          "[e2e]") {
  Json spec = loadSpec("service_stack");
  REQUIRE(spec.value("dry_run_only", false));
  TempDir tmp("service_stack");
  std::string wf = buildExample("service_stack", tmp);
  fs::create_directories(tmp / "workspace");
  std::vector<std::string> argv = {wf,
                                   "run",
                                   "--dry-run",
                                   "--json",
                                   "--workspace",
                                   tmp / "workspace",
                                   "--store-dir",
                                   tmp / "store"};
  for (const std::string &a : valueArgs(spec["vars"], "--var"))
    argv.push_back(a);
  // The plan is refused (exit 2) when a model's provider has no key.
  EnvChanges withKey = merged(baseEnv(), {{"OPENAI_API_KEY", "sk-plan-only"}});
  Step step = parseStep(runProcess(argv, withKey, tmp.path(), 60));
  INFO(step.describe());
  CHECK(step.proc.exitCode == 0);
  REQUIRE(step.result.is_object());
  CHECK(step.result["type"] == "plan");
  CHECK(step.result["workflow"] == "contract");
  CHECK(step.result["entry"] == "migrate");
  std::vector<std::string> nodes;
  for (const Json &n : step.result["nodes"])
    nodes.push_back(n.value("name", ""));
  CHECK(joined(nodes) == "migrate, api_contract, diagnose, done, fail");
  CHECK(step.result["variables"][0]["value"] == "widget");
  // A dry run writes nothing.
  CHECK_FALSE(fs::exists(tmp / "store"));
  CHECK(fs::is_empty(tmp / "workspace"));
}

//===----------------------------------------------------------------------===//
// The stack in the plan
//===----------------------------------------------------------------------===//

TEST_CASE("e2e: the dry-run plan lists the services in start order, and "
          "what the chosen runtime cannot start",
          "[e2e]") {
  TempDir tmp("service_stack_plan");
  std::string wf = buildExample("service_stack", tmp);
  EnvChanges withKey = merged(baseEnv(), {{"OPENAI_API_KEY", "sk-plan-only"}});
  Step step = parseStep(
      runProcess({wf, "run", "--dry-run", "--json"}, withKey, tmp.path(), 60));
  INFO(step.describe());
  REQUIRE(step.result.is_object());
  const Json &services = step.result["services"];
  REQUIRE(services.size() == 2);
  CHECK(services[0]["name"] == "db"); // api depends on db
  CHECK(services[1]["name"] == "api");
  CHECK(services[1]["depends_on"] == Json::array({"db"}));
  CHECK(step.result["stack"] == "local");
  // Neither has a local form: the plan says so before anything runs.
  CHECK(
      contains(services[0]["problem"].get<std::string>(), "--stack container"));

  Step container = parseStep(
      runProcess({wf, "run", "--dry-run", "--json", "--stack", "container"},
                 withKey, tmp.path(), 60));
  INFO(container.describe());
  CHECK(container.result["stack"] == "container");
  CHECK(container.result["services"][0]["problem"].is_null());

  ProcResult bad = runProcess({wf, "run", "--dry-run", "--stack", "vm"},
                              baseEnv(), tmp.path(), 60);
  CHECK(bad.exitCode == 2);
  CHECK(contains(bad.err, "unknown stack runtime 'vm'"));
}

//===----------------------------------------------------------------------===//
// The real HTTP path, and cassette misses
//===----------------------------------------------------------------------===//

namespace {

std::vector<Json> readJsonLines(const std::string &path) {
  std::vector<Json> out;
  std::istringstream lines(readText(path));
  std::string line;
  while (std::getline(lines, line))
    if (!line.empty())
      out.push_back(Json::parse(line));
  return out;
}

bool pythonAvailable() {
  ProcResult r = runProcess({"python3", "--version"}, {}, "", 30);
  if (r.exitCode != 0) {
    WARN("SKIPPED: python3 is not installed; the live fake-server tests need "
         "it (tests/e2e/fake_llm_server.py)");
    return false;
  }
  return true;
}

} // namespace

TEST_CASE("e2e: live fake server: OpenAI and Anthropic structured output over "
          "HTTP",
          "[e2e][live]") {
  if (!pythonAvailable())
    return;
  Session s("pr_review");
  std::string log = s.tmp / "requests.jsonl";
  FakeServer server(repoPath("examples/replies/pr_review.json"), log);
  REQUIRE(server.port() > 0);
  std::string recorded = s.tmp / "recorded.cassette.json";
  s.runStep(0, {"--record", recorded}, merged(baseEnv(), server.env()));
  CHECK(s.output("verdict_judge")["approved"] == true);
  CHECK(s.output("maintainability")["summary"] ==
        "Small and readable; a test for the NULL-argument path would help.");

  std::vector<Json> requests = readJsonLines(log);
  REQUIRE(requests.size() == 3);
  std::multiset<std::string> seen;
  for (const Json &r : requests) {
    INFO(r.dump());
    CHECK_FALSE(r.contains("error"));
    seen.insert(r.value("api", "") + " " + r.value("path", "") + " " +
                r.value("key", "") + " " + r.value("model", ""));
  }
  CHECK(seen == std::multiset<std::string>{
                    "openai /v1/chat/completions review gpt-4o-mini",
                    "anthropic /v1/messages review claude-3-5-haiku-latest",
                    "openai /v1/chat/completions verdict gpt-4o-mini"});
  // --record wrote a cassette that replays the same run offline.
  Json cassette = Json::parse(readText(recorded));
  CHECK(cassette["entries"].size() == 3);
  for (const Json &e : cassette["entries"])
    CHECK(e["response"]["usage"].value("input_tokens", 0) > 0);
}

TEST_CASE("e2e: live fake server over HTTPS: the static executable checks "
          "the certificate, then talks TLS to both APIs",
          "[e2e][live]") {
  if (!pythonAvailable())
    return;
  // Not trusted: the server's certificate is not in the system's CAs.
  {
    Session s("pr_review");
    std::string log = s.tmp / "requests.jsonl";
    FakeServer server(repoPath("examples/replies/pr_review.json"), log, true);
    REQUIRE(server.port() > 0);
    s.spec["runs"][0]["expect_exit"] = 1;
    s.spec["runs"][0]["expect_status"] = "failed_resumable";
    const Step &step = s.runStep(0, {}, merged(baseEnv(), server.env()));
    INFO(step.describe());
    CHECK(contains(step.result.dump(), "certificate verification failed"));
    std::ifstream requests(log);
    CHECK(requests.peek() == std::ifstream::traits_type::eof());
  }
  // Trusted through SSL_CERT_FILE: the whole review runs over TLS.
  Session s("pr_review");
  std::string log = s.tmp / "requests.jsonl";
  FakeServer server(repoPath("examples/replies/pr_review.json"), log, true);
  REQUIRE(server.port() > 0);
  EnvChanges env = merged(baseEnv(), server.env());
  env["SSL_CERT_FILE"] = FakeServer::certFile();
  s.runStep(0, {}, env);
  CHECK(s.output("verdict_judge")["approved"] == true);
  std::vector<Json> requests = readJsonLines(log);
  CHECK(requests.size() == 3);
  size_t anthropic = 0;
  for (const Json &r : requests)
    anthropic += r.value("api", "") == "anthropic";
  CHECK(anthropic == 1);
}

TEST_CASE("e2e: live fake server: OpenAI tool calls run the workspace tools",
          "[e2e][live]") {
  if (!pythonAvailable())
    return;
  Session s("plan_execute_critic");
  std::string log = s.tmp / "requests.jsonl";
  FakeServer server(repoPath("examples/replies/plan_execute_critic.json"), log);
  REQUIRE(server.port() > 0);
  s.runStep(0, {"--record", s.tmp / "recorded.cassette.json"},
            merged(baseEnv(), server.env()));
  CHECK(s.output("critic")["pass"] == true);
  std::vector<Json> requests = readJsonLines(log);
  CHECK(requests.size() == 9);
  size_t anthropic = 0, withTools = 0;
  for (const Json &r : requests) {
    anthropic += r.value("api", "") == "anthropic";
    withTools += r.value("tools", Json::array()).size() == 2;
  }
  CHECK(anthropic == 2); // The planner, twice.
  CHECK(withTools == 5); // Every executor call offers read_file, list_files.
  // The recorded cassette equals the committed one (same requests, same
  // replies): the recording is deterministic.
  Json recorded = Json::parse(readText(s.tmp / "recorded.cassette.json"));
  Json committed = Json::parse(readText(
      repoPath("examples/cassettes/plan_execute_critic.cassette.json")));
  CHECK(recorded == committed);
}

TEST_CASE("e2e: a cassette miss fails loudly and names the request", "[e2e]") {
  Session s("llm_router");
  s.spec["vars"]["ticket"] = "How do I rotate my API key?";
  s.spec["runs"][0]["expect_exit"] = 1;
  s.spec["runs"][0]["expect_status"] = "failed_resumable";
  std::string cassette =
      repoPath("examples/cassettes/llm_router.cassette.json");
  const Step &step = s.runStep(0, {"--cassette", cassette}, baseEnv());
  const Json &error = step.result["error"];
  CHECK(error.value("code", "") == "REPLAY_MISS");
  CHECK(error.value("node", "") == "triage");
  std::string message = error.value("message", "");
  INFO(message);
  CHECK(contains(message, "replay miss"));
  CHECK(contains(message, "openai/gpt-4o-mini"));
  CHECK(contains(message, "How do I rotate my API key?"));
  CHECK(contains(message, "llm_router.cassette.json"));
  CHECK(contains(step.proc.err, "replay miss"));
  // Nothing ran past the router.
  CHECK_SEQUENCE(s.nodes("node_started"), {"triage"});
  CHECK(s.ofType("llm_response").empty());
}
