//===- Stack.cpp - Bringing a workflow's services up and down -------------===//
//
// This file implements the start order of a stack and the local runtime:
// services as child processes in their own process groups (optionally
// inside bubblewrap), their output in per-service log files, health checks
// over HTTP or by command with a deadline, and teardown in reverse order.
//
//===----------------------------------------------------------------------===//
#include "iterc/rt/Stack.h"

#include "FileText.h"
#include "ServiceLog.h"
#include "ServicePorts.h"
#include "StackCommon.h"
#include "ToolSpawn.h"

#include "iterc/rt/Clock.h"
#include "iterc/rt/Http.h"
#include "iterc/rt/Tool.h"

#include <cerrno>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <functional>
#include <map>
#include <set>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <thread>

using namespace iterc::rt;

namespace {

std::optional<int> portNumber(const std::string &text) {
  if (text.empty() || text.size() > 5 ||
      text.find_first_not_of("0123456789") != std::string::npos)
    return std::nullopt;
  int port = std::stoi(text);
  if (port < 1 || port > 65535)
    return std::nullopt;
  return port;
}

} // namespace

std::optional<int> iterc::rt::hostPort(const std::string &declaration) {
  size_t colon = declaration.find(':');
  if (colon != std::string::npos && !portNumber(declaration.substr(colon + 1)))
    return std::nullopt;
  return portNumber(declaration.substr(0, colon));
}

std::optional<int> iterc::rt::containerPort(const std::string &declaration) {
  size_t colon = declaration.find(':');
  if (colon != std::string::npos && !portNumber(declaration.substr(0, colon)))
    return std::nullopt;
  return portNumber(colon == std::string::npos ? declaration
                                               : declaration.substr(colon + 1));
}

Expected<std::vector<const ServiceDesc *>>
iterc::rt::startOrder(const std::vector<ServiceDesc> &all,
                      const std::vector<std::string> &wanted) {
  std::map<std::string, const ServiceDesc *> byName;
  for (const ServiceDesc &s : all)
    byName[s.name] = &s;
  std::vector<const ServiceDesc *> order;
  std::set<std::string> done, visiting;
  // Depth-first over depends_on: a service after everything it needs.
  std::function<Status(const std::string &, const std::string &)> visit =
      [&](const std::string &name, const std::string &from) -> Status {
    if (done.count(name))
      return Status::success();
    auto it = byName.find(name);
    if (it == byName.end())
      return Error(
          ErrorCode::InvalidInput,
          "unknown service '" + name + "'" +
              (from.empty() ? "" : " (a dependency of '" + from + "')"));
    if (!visiting.insert(name).second)
      return Error(ErrorCode::InvalidInput,
                   "services depend on each other in a cycle through '" + name +
                       "'");
    for (const std::string &dep : it->second->dependsOn)
      if (Status s = visit(dep, name); !s.ok())
        return s;
    visiting.erase(name);
    done.insert(name);
    order.push_back(it->second);
    return Status::success();
  };
  for (const std::string &name : wanted)
    if (Status s = visit(name, ""); !s.ok())
      return s.error();
  return order;
}

namespace {

bool haveBwrap(std::string &path) {
  std::optional<std::string> found = resolveProgram("bwrap", {});
  if (!found)
    return false;
  path = *found;
  return true;
}

/// Runs `argv` to completion with a deadline; true when it exits 0.
bool runCheck(const std::vector<std::string> &argv, const std::string &cwd,
              const std::vector<std::pair<std::string, std::string>> &env,
              int64_t timeoutMs) {
  std::unique_ptr<ToolRunner> runner = makeProcessRunner();
  ToolInvocation inv;
  std::string command;
  for (const std::string &a : argv)
    command += (command.empty() ? "" : " ") + shellQuote(a);
  inv.command = command;
  inv.workdir = cwd;
  inv.env = env;
  inv.timeoutMs = timeoutMs;
  Expected<ToolResult> r = runner->run(inv);
  return r.ok() && !r->timedOut && r->exitCode == 0;
}

class LocalRuntime : public StackRuntime {
public:
  explicit LocalRuntime(LocalRuntimeOptions o) : opts(std::move(o)) {
    defaultClockAndHttp(opts.clock, opts.http, ownHttp);
    if (opts.logDir.empty())
      opts.logDir = opts.workspace;
    if (opts.logCapBytes == 0)
      opts.logCapBytes = serviceLogCap();
  }
  ~LocalRuntime() override { down(); }

  Status up(const std::vector<const ServiceDesc *> &services) override {
    for (const ServiceDesc *s : services) {
      Status started = start(*s);
      if (started.ok())
        started = waitHealthy(*s);
      if (!started.ok()) {
        down();
        return started;
      }
    }
    return Status::success();
  }

  Status restart(const std::vector<const ServiceDesc *> &services) override {
    for (const ServiceDesc *s : services) {
      for (auto it = running.begin(); it != running.end(); ++it)
        if (it->desc->name == s->name) {
          stop(*it);
          running.erase(it);
          break;
        }
      size_t before = running.size();
      Status started = start(*s);
      if (started.ok())
        started = waitHealthy(*s);
      if (!started.ok()) {
        if (running.size() > before) {
          stop(running.back());
          running.pop_back();
        }
        return started;
      }
    }
    return Status::success();
  }

  void down() override {
    for (auto it = running.rbegin(); it != running.rend(); ++it)
      stop(*it);
    running.clear();
  }

  std::optional<Endpoint> endpoint(const std::string &service) override {
    for (Running &r : running)
      if (r.desc->name == service && !hasExited(r)) {
        for (const std::string &p : r.desc->ports)
          if (std::optional<int> port = hostPort(p))
            return Endpoint{"127.0.0.1", *port};
        return std::nullopt;
      }
    return std::nullopt;
  }

  std::string logTail(const std::string &service, size_t lines) override {
    for (Running &r : running)
      if (r.desc->name == service && r.log)
        r.log->settle();
    return serviceLogTail(logPath(service), lines);
  }

  std::vector<ServiceExit> ended() override {
    std::vector<ServiceExit> exits;
    for (Running &r : running)
      if (!r.reported && (hasExited(r) || endingNow(r))) {
        r.reported = true;
        r.log->finish(); // its output is complete: nothing writes any more
        exits.push_back(ServiceExit{
            r.desc->name, describeExit(r.status), logTail(r.desc->name, 20),
            WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0});
      }
    return exits;
  }

private:
  struct Running {
    const ServiceDesc *desc = nullptr;
    pid_t pid = -1;
    bool exited = false;
    int status = 0;
    bool reported = false; ///< ended() said so.
    std::unique_ptr<ServiceLog> log;
  };

  std::string logPath(const std::string &service) const {
    return opts.logDir + "/" + service + ".log";
  }

  std::vector<std::pair<std::string, std::string>>
  environment(const ServiceDesc &s) const {
    std::vector<std::pair<std::string, std::string>> env;
    for (const char *name : {"PATH", "HOME", "LANG", "TMPDIR"})
      if (const char *v = std::getenv(name))
        env.emplace_back(name, v);
    for (const auto &kv : s.env) {
      bool replaced = false;
      for (auto &e : env)
        if (e.first == kv.first) {
          e.second = kv.second;
          replaced = true;
        }
      if (!replaced)
        env.push_back(kv);
    }
    return env;
  }

  /// A `program` service's workdir is a directory of the workspace (start()
  /// refuses anything else through openWorkspaceDir).
  std::string workdirOf(const ServiceDesc &s) const {
    return s.workdir.empty() ? opts.workspace
                             : opts.workspace + "/" + s.workdir;
  }

  Error failure(const ServiceDesc &s, const std::string &what) {
    std::string tail = logTail(s.name, 20);
    return Error(ErrorCode::Tool,
                 "service '" + s.name + "' " + what +
                     (tail.empty() ? " (its log is empty)"
                                   : "; the end of its log (" +
                                         logPath(s.name) + "):\n" + tail));
  }

  Status start(const ServiceDesc &s) {
    if (s.program.empty())
      return Error(ErrorCode::InvalidInput,
                   "service '" + s.name + "' is " +
                       (s.image.empty() ? "built from '" + s.buildContext + "'"
                                        : "the image '" + s.image + "'") +
                       ": the local runtime runs `program` services only; "
                       "use the container runtime for images");
    std::vector<std::pair<std::string, std::string>> env = environment(s);
    std::string program = s.program;
    // A relative program path means the same file in both runtimes: under
    // the build context when the service has one (the container runtime
    // packages it from there), else under the workspace.
    if (program.find('/') != std::string::npos && program[0] != '/')
      program =
          (s.buildContext.empty() || s.buildContext == "." ? opts.workspace
           : s.buildContext[0] == '/'                      ? s.buildContext
                                      : opts.workspace + "/" + s.buildContext) +
          "/" + program;
    else if (program.find('/') == std::string::npos) {
      std::optional<std::string> found = resolveProgram(program, env);
      if (!found)
        return Error(ErrorCode::InvalidInput, "service '" + s.name +
                                                  "': program '" + s.program +
                                                  "' is not on the PATH");
      program = *found;
    }
    if (::access(program.c_str(), X_OK) != 0)
      return Error(ErrorCode::InvalidInput, "service '" + s.name +
                                                "': cannot run '" + program +
                                                "': " + std::strerror(errno));
    // A taken port: the service would die with "address already in use"
    // while its health check reached whoever holds the port.
    for (const std::string &p : s.ports)
      if (std::optional<int> port = hostPort(p))
        if (std::optional<std::string> taken = portTaken(*port))
          return Error(ErrorCode::InvalidInput,
                       "service '" + s.name + "' cannot start: " + *taken +
                           "; stop what holds it or declare another port");

    std::vector<std::string> argv;
    std::string bwrap;
    bool sandbox =
        opts.sandbox == "on" || (opts.sandbox == "auto" && haveBwrap(bwrap));
    if (opts.sandbox == "on" && !haveBwrap(bwrap))
      return Error(ErrorCode::InvalidInput,
                   "the sandbox was required but bubblewrap (bwrap) is not "
                   "installed");
    std::string cwd = workdirOf(s);
    if (sandbox) {
      // The system read-only, a private /tmp and PID namespace, the
      // workspace writable. The network is what the service needs: a
      // service with ports (the runner reaches it) or dependencies (it
      // reaches them) shares the host's; one with neither gets a network
      // namespace of its own with only its loopback.
      argv = {bwrap,
              "--ro-bind",
              "/",
              "/",
              "--dev",
              "/dev",
              "--proc",
              "/proc",
              "--tmpfs",
              "/tmp",
              "--bind",
              opts.workspace,
              opts.workspace,
              "--chdir",
              cwd,
              "--unshare-pid",
              "--die-with-parent",
              "--new-session"};
      if (s.ports.empty() && s.dependsOn.empty())
        argv.push_back("--unshare-net");
      argv.push_back("--");
    }
    argv.push_back(program);
    argv.insert(argv.end(), s.command.begin(), s.command.end());

    std::string log = logPath(s.name);
    Expected<std::unique_ptr<ServiceLog>> output =
        ServiceLog::open(log, opts.logCapBytes);
    if (!output)
      return Error(ErrorCode::Store, "cannot write the log of service '" +
                                         s.name + "' (" + log +
                                         "): " + output.error().message);
    int logFd = (*output)->writeFd();
    std::vector<std::string> envText;
    for (const auto &[k, v] : env)
      envText.push_back(k + "=" + v);
    std::vector<char *> args, envp;
    for (std::string &a : argv)
      args.push_back(a.data());
    args.push_back(nullptr);
    for (std::string &e : envText)
      envp.push_back(e.data());
    envp.push_back(nullptr);

    // Its working directory: inside the workspace, opened one component at
    // a time without following symlinks, as a tool's (the sandbox's
    // --chdir takes the same path, checked here).
    Expected<int> dirFd = openWorkspaceDir(opts.workspace, s.workdir);
    if (!dirFd)
      return Error(dirFd.error().code,
                   "service '" + s.name + "': " + dirFd.error().message);
    // Under a guard (ToolSpawn.h), like a tool: in a session of its own,
    // ended with the runner however the runner ends (a second Ctrl-C,
    // kill -9), and with every process it forks, a daemon in a session of
    // its own included, stopped with it.
    GuardedSpawn spawn;
    spawn.program = args[0];
    spawn.argv = args.data();
    spawn.envp = envp.data();
    spawn.workdir = cwd.c_str();
    spawn.workdirFd = *dirFd;
    spawn.stdoutFd = logFd;
    spawn.stderrFd = logFd;
    spawn.service = true;
    Expected<pid_t> spawned = spawnGuarded(spawn);
    ::close(*dirFd);
    if (!spawned)
      return Error(ErrorCode::Tool, "cannot start service '" + s.name +
                                        "': " + spawned.error().message);
    (*output)->start();
    running.emplace_back();
    running.back().desc = &s;
    running.back().pid = *spawned;
    running.back().log = std::move(*output);
    return Status::success();
  }

  /// A service none of whose ports answers any more is ending: its guard
  /// exits a moment after the service's last process, so wait for that
  /// (up to a second) rather than let the next verify meet a closed port
  /// without saying why.
  bool endingNow(Running &r) {
    bool anyPort = false;
    for (const std::string &p : r.desc->ports)
      if (std::optional<int> port = hostPort(p)) {
        anyPort = true;
        if (loopbackAccepts(*port))
          return false;
      }
    if (!anyPort)
      return false;
    for (int i = 0; i < 100 && !hasExited(r); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    return r.exited;
  }

  /// Whether the service's process has ended (reaping it).
  bool hasExited(Running &r) {
    if (r.exited)
      return true;
    int status = 0;
    pid_t got = ::waitpid(r.pid, &status, WNOHANG);
    if (got == r.pid) {
      r.exited = true;
      r.status = status;
    }
    return r.exited;
  }

  static std::string describeExit(int status) {
    if (WIFEXITED(status))
      return "exited with status " + std::to_string(WEXITSTATUS(status));
    if (WIFSIGNALED(status))
      return "was killed by signal " + std::to_string(WTERMSIG(status));
    return "ended";
  }

  bool probe(const ServiceDesc &s, const HealthDesc &h) {
    if (!h.http.empty()) {
      std::optional<Endpoint> ep = endpoint(s.name);
      return ep && httpHealthy(*opts.http, *ep, h);
    }
    if (!h.command.empty())
      return runCheck(h.command, workdirOf(s), environment(s), h.timeoutMs);
    return true;
  }

  Status waitHealthy(const ServiceDesc &s) {
    Running &r = running.back();
    if (!s.health) {
      // No health check: up once it has not died straight away.
      opts.clock->sleepMs(100);
      if (hasExited(r))
        return failure(s, describeExit(r.status) + " right after starting");
      return Status::success();
    }
    std::optional<std::string> problem = waitUntilHealthy(
        *opts.clock, *s.health,
        [&]() -> std::optional<std::string> {
          if (!hasExited(r))
            return std::nullopt;
          return describeExit(r.status);
        },
        // Healthy only while its own process lives, before and after the
        // probe, and (where /proc tells) holds the listening socket.
        [&] {
          return probe(s, *s.health) && !hasExited(r) && ownsPorts(r);
        });
    return problem ? Status(failure(s, *problem)) : Status::success();
  }

  /// False when /proc shows that someone else listens on a port of `r`.
  bool ownsPorts(const Running &r) {
    for (const std::string &p : r.desc->ports)
      if (std::optional<int> port = hostPort(p))
        if (portOwner(r.pid, *port) == PortOwner::Foreign)
          return false;
    return true;
  }

  void stop(Running &r) {
    stopProcess(r);
    if (r.log)
      r.log->finish();
  }

  void stopProcess(Running &r) {
    if (hasExited(r))
      return;
    // The guard's pid: it relays to the service's processes, all of them.
    relayTerminate(r.pid);
    int64_t deadline = opts.clock->monotonicMs() + opts.stopGraceMs;
    while (!hasExited(r) && opts.clock->monotonicMs() < deadline)
      opts.clock->sleepMs(20);
    if (!hasExited(r)) {
      relayKill(r.pid);
      int status = 0;
      while (::waitpid(r.pid, &status, 0) < 0 && errno == EINTR) {
      }
      r.exited = true;
    }
    // A sandboxed service's processes live in their own PID namespace and
    // die after the sandbox's own process is reaped; stopped means that
    // nothing answers on its ports any more (a restart binds them again).
    int64_t portsDeadline = opts.clock->monotonicMs() + opts.stopGraceMs;
    for (const std::string &p : r.desc->ports)
      if (std::optional<int> port = hostPort(p))
        while (loopbackAccepts(*port) &&
               opts.clock->monotonicMs() < portsDeadline)
          opts.clock->sleepMs(10);
  }

  LocalRuntimeOptions opts;
  std::unique_ptr<HttpTransport> ownHttp;
  std::vector<Running> running;
};

} // namespace

std::unique_ptr<StackRuntime>
iterc::rt::makeLocalRuntime(LocalRuntimeOptions options) {
  return std::make_unique<LocalRuntime>(std::move(options));
}

namespace {

/// Services that `docker compose` (or any orchestrator) runs next to this
/// runner: reached by name on the service's own port.
class ExternalRuntime : public StackRuntime {
public:
  explicit ExternalRuntime(const std::vector<ServiceDesc> &services)
      : services(services) {}
  Status up(const std::vector<const ServiceDesc *> &) override {
    return Status::success();
  }
  Status restart(const std::vector<const ServiceDesc *> &services) override {
    if (services.empty())
      return Status::success();
    return Error(ErrorCode::InvalidInput,
                 "service '" + services.front()->name +
                     "' runs outside this runner (--stack external): it "
                     "cannot be restarted from here");
  }
  void down() override {}
  std::optional<Endpoint> endpoint(const std::string &service) override {
    for (const ServiceDesc &s : services)
      if (s.name == service)
        for (const std::string &p : s.ports)
          if (std::optional<int> port = containerPort(p))
            return Endpoint{s.name, *port};
    return std::nullopt;
  }
  std::string logTail(const std::string &, size_t) override { return ""; }

private:
  std::vector<ServiceDesc> services;
};

} // namespace

std::unique_ptr<StackRuntime>
iterc::rt::makeExternalRuntime(const std::vector<ServiceDesc> &services) {
  return std::make_unique<ExternalRuntime>(services);
}
