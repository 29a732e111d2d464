//===- ContainerStack.cpp - Services as docker or podman containers -------===//
//
// This file implements the container runtime of a stack: `image` and
// `build` services as containers through the docker or podman command line
// (every argument shell-quoted, run by the process runner with a deadline),
// a network made for the stack or the host's network, health checks over
// HTTP from the runner or by a command inside the container, logs captured
// into per-service log files (so that they outlive the containers), and
// teardown in reverse order.
//
//===----------------------------------------------------------------------===//
#include "iterc/rt/Stack.h"

#include "FileText.h"
#include "StackCommon.h"
#include "ToolSpawn.h"

#include "iterc/rt/Clock.h"
#include "iterc/rt/Http.h"
#include "iterc/rt/Tool.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <sys/stat.h>
#include <unistd.h>

extern char **environ;

using namespace iterc::rt;

namespace {

/// The caller's PATH, for finding the engine the way a shell would.
std::vector<std::pair<std::string, std::string>> pathEnvironment() {
  if (const char *path = std::getenv("PATH"))
    return {{"PATH", path}};
  return {};
}

bool isExecutableFile(const std::string &path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) &&
         ::access(path.c_str(), X_OK) == 0;
}

} // namespace

Expected<std::string>
iterc::rt::findContainerEngine(const std::string &wanted) {
  const std::string hint = " (`--stack local` runs `program` services "
                           "without a container engine)";
  if (wanted.find('/') != std::string::npos) {
    if (isExecutableFile(wanted))
      return wanted;
    return Error(ErrorCode::InvalidInput, "the container engine '" + wanted +
                                              "' is not an executable file" +
                                              hint);
  }
  std::vector<std::string> names;
  if (wanted.empty())
    names = {"podman", "docker"};
  else
    names = {wanted};
  for (const std::string &name : names)
    if (std::optional<std::string> found =
            resolveProgram(name, pathEnvironment()))
      if (isExecutableFile(*found))
        return *found;
  return Error(ErrorCode::InvalidInput,
               wanted.empty() ? "no container engine found: looked for podman "
                                "and docker on the PATH" +
                                    hint
                              : "the container engine '" + wanted +
                                    "' was not found on the PATH" + hint);
}

namespace {

constexpr int64_t kCommandMs = 120000;   ///< inspect, logs, rm, network.
constexpr int64_t kRunMs = 600000;       ///< run (vfs copies the image).
constexpr int64_t kBuildMs = 3600000;    ///< build.
constexpr int64_t kSettleMs = 500;       ///< No health check: alive after.
constexpr size_t kLogLines = 1000;       ///< Captured into the log file.
constexpr size_t kFailureTailLines = 20; ///< Shown in an error.

std::string trimmed(std::string text) {
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back())))
    text.pop_back();
  size_t start = 0;
  while (start < text.size() &&
         std::isspace(static_cast<unsigned char>(text[start])))
    ++start;
  return text.substr(start);
}

/// `path` as an absolute path (relative to the current directory).
std::string absolute(const std::string &path) {
  if (!path.empty() && path[0] == '/')
    return path;
  char cwd[4096];
  if (!::getcwd(cwd, sizeof cwd))
    return path;
  if (path.empty() || path == ".")
    return cwd;
  return std::string(cwd) + "/" + path;
}

/// What the engine sees of the runner's environment: what it needs to find
/// its configuration, storage and daemon, not the runner's secrets.
std::vector<std::pair<std::string, std::string>> engineEnvironment() {
  static const std::vector<std::string> names = splitWords(
      "PATH HOME USER LOGNAME LANG LC_ALL TMPDIR TZ XDG_RUNTIME_DIR "
      "XDG_CONFIG_HOME XDG_DATA_HOME DBUS_SESSION_BUS_ADDRESS SSL_CERT_FILE "
      "SSL_CERT_DIR HTTP_PROXY HTTPS_PROXY NO_PROXY http_proxy https_proxy "
      "no_proxy REGISTRY_AUTH_FILE CONTAINER_HOST CONTAINER_CONNECTION "
      "CONTAINER_SSHKEY");
  static const std::vector<std::string> prefixes =
      splitWords("DOCKER_ CONTAINERS_ BUILDAH_ BUILDKIT_ PODMAN_ STORAGE_");
  std::vector<std::pair<std::string, std::string>> env;
  for (char **e = environ; e && *e; ++e) {
    std::string entry = *e;
    size_t eq = entry.find('=');
    if (eq == std::string::npos || eq == 0)
      continue;
    std::string key = entry.substr(0, eq);
    bool wanted = false;
    for (const std::string &name : names)
      wanted = wanted || key == name;
    for (const std::string &prefix : prefixes)
      wanted = wanted || key.compare(0, prefix.size(), prefix) == 0;
    if (wanted)
      env.emplace_back(key, entry.substr(eq + 1));
  }
  return env;
}

/// A repository name the engines accept: lower case.
std::string imageTag(const std::string &project, const std::string &service) {
  std::string tag = project + "-" + service;
  for (char &c : tag)
    c = char(std::tolower(static_cast<unsigned char>(c)));
  return tag + ":latest";
}

class ContainerRuntime : public StackRuntime {
public:
  explicit ContainerRuntime(ContainerRuntimeOptions o) : opts(std::move(o)) {
    defaultClockAndHttp(opts.clock, opts.http, ownHttp);
    opts.workspace = absolute(opts.workspace);
    opts.logDir = opts.logDir.empty() ? opts.workspace : absolute(opts.logDir);
    struct stat st;
    workdir = ::stat(opts.workspace.c_str(), &st) == 0 && S_ISDIR(st.st_mode)
                  ? opts.workspace
                  : "/";
    env = engineEnvironment();
  }
  ~ContainerRuntime() override { down(); }

  Status up(const std::vector<const ServiceDesc *> &services) override {
    if (services.empty())
      return Status::success();
    if (Status ready = prepare(services.front()->name); !ready.ok())
      return ready;
    for (const ServiceDesc *s : services) {
      Status started = start(*s);
      if (started.ok())
        started = waitHealthy(*s, running.back());
      if (!started.ok()) {
        down();
        return started;
      }
    }
    return Status::success();
  }

  Status restart(const std::vector<const ServiceDesc *> &services) override {
    if (services.empty())
      return Status::success();
    if (Status ready = prepare(services.front()->name); !ready.ok())
      return ready;
    for (const ServiceDesc *s : services) {
      for (auto it = running.begin(); it != running.end(); ++it)
        if (it->desc->name == s->name) {
          stop(*it);
          running.erase(it);
          break;
        }
      Status started = start(*s);
      if (started.ok())
        started = waitHealthy(*s, running.back());
      if (!started.ok()) {
        stop(running.back());
        running.pop_back();
        return started;
      }
    }
    return Status::success();
  }

  /// The engine found and the stack's network made, once.
  Status prepare(const std::string &first) {
    if (opts.project.empty())
      return Error(ErrorCode::InvalidInput,
                   "service '" + first +
                       "': the container runtime needs a project name");
    if (engine.empty()) {
      Expected<std::string> found = findContainerEngine(opts.engine);
      if (!found)
        return Error(found.error().code, "service '" + first +
                                             "' needs a container engine: " +
                                             found.error().message);
      engine = *found;
    }
    return ensureNetwork(first);
  }

  void down() override {
    try {
      for (auto it = running.rbegin(); it != running.rend(); ++it)
        stop(*it);
      running.clear();
      if (networkMade) {
        engineRun({"network", "rm", networkName}, kCommandMs);
        networkMade = false;
      }
    } catch (...) {
      // Teardown never throws: it also runs in the destructor.
    }
  }

  std::optional<Endpoint> endpoint(const std::string &service) override {
    for (const Running &r : running)
      if (r.desc->name == service && r.started && !r.ended) {
        for (const std::string &p : r.desc->ports)
          if (std::optional<int> port =
                  hostNetwork() ? containerPort(p) : hostPort(p))
            return Endpoint{"127.0.0.1", *port};
        return std::nullopt;
      }
    return std::nullopt;
  }

  std::string logTail(const std::string &service, size_t lines) override {
    for (Running &r : running)
      if (r.desc->name == service)
        captureLogs(r);
    return logFileTail(logPath(service), lines);
  }

  /// One `inspect` per running container: those that stopped on their own
  /// (crashed, killed) are reported once, with their logs captured.
  std::vector<ServiceExit> ended() override {
    std::vector<ServiceExit> exits;
    for (Running &r : running) {
      if (!r.started || r.ended)
        continue;
      State st = state(r);
      if (st.running)
        continue;
      r.ended = true;
      captureLogs(r);
      exits.push_back(ServiceExit{
          r.desc->name, describeEnd(st),
          logFileTail(logPath(r.desc->name), kFailureTailLines),
          st.known && st.exitCode == 0});
    }
    return exits;
  }

private:
  struct Running {
    const ServiceDesc *desc = nullptr;
    std::string container;
    std::string builtTag;    ///< The image this runtime built, or "".
    std::string buildOutput; ///< Kept at the head of the log file.
    std::string address;     ///< On the stack's network, when known.
    bool started = false;    ///< `run` was tried: a container may exist.
    bool ended = false;      ///< ended() reported it.
  };

  struct State {
    bool known = false; ///< inspect answered.
    bool running = false;
    int exitCode = 0;
    std::string problem; ///< Why inspect did not answer.
  };

  bool hostNetwork() const { return opts.network == "host"; }

  /// The engine as messages name it ("podman", not its path).
  std::string engineName() const {
    return engine.substr(engine.rfind('/') + 1);
  }

  std::string logPath(const std::string &service) const {
    return opts.logDir + "/" + service + ".log";
  }

  std::string commandLine(const std::vector<std::string> &args) const {
    std::string command = shellQuote(engine);
    for (const std::string &a : opts.engineArgs)
      command += " " + shellQuote(a);
    for (const std::string &a : args)
      command += " " + shellQuote(a);
    return command;
  }

  /// Runs `<engine> <engineArgs> args...`; with `merged`, stderr goes to
  /// stdout (in order).
  Expected<ToolResult> engineRun(const std::vector<std::string> &args,
                                 int64_t timeoutMs, bool merged = false) {
    ToolInvocation inv;
    inv.command = commandLine(args) + (merged ? " 2>&1" : "");
    inv.workdir = workdir;
    inv.env = env;
    inv.timeoutMs = timeoutMs;
    return runner->run(inv);
  }

  /// Why an engine command failed, in a few words and its own message.
  std::string whyFailed(const std::string &what,
                        const Expected<ToolResult> &r) const {
    std::string head = "`" + std::string(what) + "`";
    if (!r.ok())
      return head + " could not run: " + r.error().message;
    if (r->timedOut)
      return head + " timed out after " + std::to_string(r->durationMs) + " ms";
    std::string said = trimmed(r->stderrText);
    if (said.empty())
      said = trimmed(r->stdoutText);
    if (said.size() > 2000)
      said = "..." + said.substr(said.size() - 2000);
    return head + " exited with status " + std::to_string(r->exitCode) +
           (said.empty() ? "" : ": " + said);
  }

  static bool succeeded(const Expected<ToolResult> &r) {
    return r.ok() && !r->timedOut && r->exitCode == 0;
  }

  Status ensureNetwork(const std::string &first) {
    if (!opts.network.empty() || networkMade)
      return Status::success();
    networkName = opts.project;
    // One left by a run that crashed has the same name: it is ours.
    if (!succeeded(
            engineRun({"network", "inspect", networkName}, kCommandMs))) {
      Expected<ToolResult> made =
          engineRun({"network", "create", networkName}, kCommandMs);
      if (!succeeded(made))
        return Error(ErrorCode::Tool,
                     "service '" + first + "': cannot create the network '" +
                         networkName + "': " +
                         whyFailed(engineName() + " network create", made));
    }
    networkMade = true;
    return Status::success();
  }

  /// The log file: the build's output, then the container's latest output.
  void captureLogs(Running &r) {
    if (!r.started)
      return;
    Expected<ToolResult> logs = engineRun(
        {"logs", "--tail", std::to_string(kLogLines), r.container}, kCommandMs,
        /*merged=*/true);
    if (!succeeded(logs))
      return; // the container is gone: keep what was captured before
    writeFileText(logPath(r.desc->name), r.buildOutput + logs->stdoutText,
                  nullptr, /*followLinks=*/false);
  }

  Error failure(Running &r, const std::string &what) {
    captureLogs(r);
    const std::string &name = r.desc->name;
    std::string tail = logFileTail(logPath(name), kFailureTailLines);
    return Error(ErrorCode::Tool,
                 "service '" + name + "' " + what +
                     (tail.empty() ? " (its log is empty)"
                                   : "; the end of its log (" + logPath(name) +
                                         "):\n" + tail));
  }

  Status build(const ServiceDesc &s, Running &r, std::string &image) {
    std::string context = s.buildContext == "." ? opts.workspace
                          : s.buildContext[0] == '/'
                              ? s.buildContext
                              : opts.workspace + "/" + s.buildContext;
    image = imageTag(opts.project, s.name);
    std::vector<std::string> args = {"build", "-t", image};
    if (!s.generatedDockerfile.empty()) {
      std::string path = opts.logDir + "/" + s.name + ".Dockerfile";
      if (!writeFileText(path, s.generatedDockerfile))
        return Error(ErrorCode::Store, "service '" + s.name +
                                           "': cannot write its Dockerfile (" +
                                           path + "): " + std::strerror(errno));
      args.insert(args.end(), {"-f", path});
    } else if (!s.dockerfile.empty()) {
      args.insert(args.end(), {"-f", s.dockerfile[0] == '/'
                                         ? s.dockerfile
                                         : context + "/" + s.dockerfile});
    }
    args.push_back(context);
    r.builtTag = image;
    Expected<ToolResult> built = engineRun(args, kBuildMs, /*merged=*/true);
    if (built.ok()) {
      r.buildOutput = built->stdoutText;
      if (!r.buildOutput.empty() && r.buildOutput.back() != '\n')
        r.buildOutput += '\n';
      writeFileText(logPath(s.name), r.buildOutput, nullptr,
                    /*followLinks=*/false);
    }
    if (!succeeded(built)) {
      std::string why =
          !built.ok() ? built.error().message
          : built->timedOut
              ? "it timed out after " + std::to_string(kBuildMs / 1000) + " s"
              : "`" + engineName() + " build` exited with status " +
                    std::to_string(built->exitCode);
      return failure(r, "could not be built from '" + context + "': " + why);
    }
    return Status::success();
  }

  Status start(const ServiceDesc &s) {
    running.emplace_back();
    Running &r = running.back();
    r.desc = &s;
    r.container = opts.project + "-" + s.name;
    if (!writeFileText(logPath(s.name), "", nullptr, /*followLinks=*/false))
      return Error(ErrorCode::Store, "cannot write the log of service '" +
                                         s.name + "' (" + logPath(s.name) +
                                         "): " + std::strerror(errno));
    std::string image = s.image;
    if (image.empty()) {
      if (s.buildContext.empty())
        return Error(ErrorCode::InvalidInput,
                     "service '" + s.name +
                         "' has neither an image nor a build context: the "
                         "container runtime runs `image` and `build` "
                         "services; `--stack local` runs `program` services");
      if (Status built = build(s, r, image); !built.ok())
        return built;
    }

    std::vector<std::string> args = {"run",     "-d",
                                     "--name",  r.container,
                                     "--pull",  "never",
                                     "--label", "iterc.project=" + opts.project,
                                     "--label", "iterc.service=" + s.name};
    if (hostNetwork()) {
      args.insert(args.end(), {"--network", "host"});
    } else {
      args.insert(args.end(),
                  {"--network",
                   opts.network.empty() ? networkName : opts.network,
                   "--network-alias", s.name});
      // The services started before this one by name, also where the
      // network has no DNS (podman's CNI without the dnsname plugin).
      for (const Running &other : running)
        if (&other != &r && !other.address.empty())
          args.insert(args.end(),
                      {"--add-host", other.desc->name + ":" + other.address});
      for (const std::string &p : s.ports) {
        std::optional<int> host = hostPort(p), inside = containerPort(p);
        if (!host || !inside)
          return Error(ErrorCode::InvalidInput,
                       "service '" + s.name + "': malformed port '" + p + "'");
        args.insert(args.end(), {"-p", "127.0.0.1:" + std::to_string(*host) +
                                           ":" + std::to_string(*inside)});
      }
    }
    for (const auto &[key, value] : s.env)
      args.insert(args.end(), {"-e", key + "=" + value});
    if (!s.workdir.empty())
      args.insert(args.end(), {"-w", s.workdir});
    args.push_back(image);
    args.insert(args.end(), s.command.begin(), s.command.end());

    // A container of the same name left by a run that crashed.
    engineRun({"rm", "-f", "-v", r.container}, kCommandMs);
    r.started = true;
    Expected<ToolResult> ran = engineRun(args, kRunMs);
    if (!succeeded(ran)) {
      std::string why = whyFailed(engineName() + " run", ran);
      if (!s.image.empty())
        why += " (images are not pulled: the image '" + s.image +
               "' must be present locally)";
      return failure(r, "could not be started: " + why);
    }
    if (!hostNetwork()) {
      Expected<ToolResult> addr = engineRun(
          {"inspect", "-f",
           "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}",
           r.container},
          kCommandMs);
      if (succeeded(addr)) {
        std::string words = trimmed(addr->stdoutText);
        r.address = words.substr(0, words.find(' '));
      }
    }
    return Status::success();
  }

  State state(const Running &r) {
    State st;
    Expected<ToolResult> got =
        engineRun({"inspect", "-f", "{{.State.Running}} {{.State.ExitCode}}",
                   r.container},
                  kCommandMs);
    if (!succeeded(got)) {
      st.problem = whyFailed(engineName() + " inspect", got);
      return st;
    }
    std::string text = trimmed(got->stdoutText);
    st.known = true;
    st.running = text.compare(0, 4, "true") == 0;
    size_t space = text.find(' ');
    if (space != std::string::npos)
      st.exitCode = std::atoi(text.c_str() + space + 1);
    return st;
  }

  static std::string describeEnd(const State &st) {
    if (!st.known)
      return "is gone (" + st.problem + ")";
    return "exited with status " + std::to_string(st.exitCode);
  }

  bool probe(const ServiceDesc &s, const Running &r, const HealthDesc &h) {
    if (!h.http.empty()) {
      std::optional<Endpoint> ep = endpoint(s.name);
      return ep && httpHealthy(*opts.http, *ep, h);
    }
    if (!h.command.empty()) {
      std::vector<std::string> args = {"exec", r.container};
      args.insert(args.end(), h.command.begin(), h.command.end());
      return succeeded(engineRun(args, h.timeoutMs));
    }
    return true;
  }

  Status waitHealthy(const ServiceDesc &s, Running &r) {
    if (!s.health) {
      // No health check: up once it has not died straight away.
      opts.clock->sleepMs(kSettleMs);
      State st = state(r);
      if (!st.running)
        return failure(r, describeEnd(st) + " right after starting");
      return Status::success();
    }
    const HealthDesc &h = *s.health;
    if (!h.http.empty() && !endpoint(s.name))
      return failure(r, "has an HTTP health check (GET " + h.http +
                            ") but no port to reach it on");
    std::optional<std::string> problem = waitUntilHealthy(
        *opts.clock, h,
        [&]() -> std::optional<std::string> {
          State st = state(r);
          if (st.running)
            return std::nullopt;
          return describeEnd(st);
        },
        [&] { return probe(s, r, h); });
    return problem ? Status(failure(r, *problem)) : Status::success();
  }

  void stop(Running &r) {
    if (r.started) {
      int64_t graceS = std::max<int64_t>(0, (opts.stopGraceMs + 999) / 1000);
      engineRun({"stop", "-t", std::to_string(graceS), r.container},
                opts.stopGraceMs + kCommandMs);
      captureLogs(r);
      engineRun({"rm", "-f", "-v", r.container}, kCommandMs);
      r.started = false;
    }
    // The stack's own image tag; layers another tag shares stay.
    if (!r.builtTag.empty()) {
      engineRun({"rmi", r.builtTag}, kCommandMs);
      r.builtTag.clear();
    }
  }

  ContainerRuntimeOptions opts;
  std::unique_ptr<HttpTransport> ownHttp;
  // `run -d` leaves the engine's monitor (conmon) running on purpose: the
  // container is stopped with `rm -f`, not when the command exits.
  std::unique_ptr<ToolRunner> runner = makeDaemonStartingRunner();
  std::vector<std::pair<std::string, std::string>> env;
  std::string workdir;
  std::string engine;
  std::string networkName;
  bool networkMade = false;
  std::vector<Running> running;
};

} // namespace

std::unique_ptr<StackRuntime>
iterc::rt::makeContainerRuntime(ContainerRuntimeOptions options) {
  return std::make_unique<ContainerRuntime>(std::move(options));
}
