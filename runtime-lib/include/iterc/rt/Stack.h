//===- Stack.h - Bringing a workflow's services up and down -----*- C++ -*-===//
//
// This file declares the stack runtimes. A workflow's `services:` come up
// before its entry node, in depends_on order, each gated by its health
// check with a deadline, and go down when the run ends (also on failure and
// on interruption). Verify nodes reach a service by name through
// StackRuntime::endpoint.
//
// The local runtime runs each service as a child process (a `program`
// service) in its own process group, sandboxed with bubblewrap when it is
// installed: a read-only view of the system, its own /tmp and PID
// namespace, the workspace writable. It needs no container engine. A
// container runtime (docker or podman for `image` and `build` services)
// implements the same interface.
//
//===----------------------------------------------------------------------===//
#ifndef ITERC_RT_STACK_H
#define ITERC_RT_STACK_H

#include "iterc/rt/Core.h"

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace iterc::rt {

class Clock;
class HttpTransport;

struct HealthDesc {
  std::string http;                 ///< Path probed over HTTP, or empty.
  std::vector<std::string> command; ///< Or a command that must exit 0.
  int64_t intervalMs = 1000;
  int64_t timeoutMs = 30000; ///< Per probe.
  int64_t retries = 30;
};

/// A `service` declaration. A service runs from an image or a build
/// context under the container runtime, and from `program` under the local
/// runtime; a declaration may give both forms.
struct ServiceDesc {
  std::string name;
  std::string image;
  std::string buildContext;
  std::string dockerfile;
  std::string program;
  std::vector<std::string> command;
  std::vector<std::string> ports; ///< "8080" or "8080:80" (host:service).
  std::vector<std::pair<std::string, std::string>> env;
  std::vector<std::string> dependsOn;
  std::optional<HealthDesc> health;
  std::string workdir;
  /// For a `build` service without `dockerfile`: the Dockerfile iterc
  /// generated (FROM scratch, `program` as the entrypoint), which the
  /// container runtime builds with the context.
  std::string generatedDockerfile;
  /// `restart:`: "" (no), "on-failure" or "always": the run starts the
  /// service again when it ends on its own, at most `maxRestarts` times.
  std::string restart;
  int64_t maxRestarts = 0;
};

/// Where the runner reaches a service.
struct Endpoint {
  std::string host;
  int port = 0;
  std::string baseUrl() const {
    return "http://" + host + ":" + std::to_string(port);
  }
};

/// The host side of a port declaration ("8080:80" -> 8080, "9090" -> 9090);
/// nullopt when malformed.
std::optional<int> hostPort(const std::string &declaration);

/// The service side of a port declaration ("8080:80" -> 80, "9090" ->
/// 9090); nullopt when malformed.
std::optional<int> containerPort(const std::string &declaration);

/// `services` ordered so that every service comes after what it depends
/// on (declaration order otherwise); an InvalidInput error for an unknown
/// dependency or a cycle.
Expected<std::vector<const ServiceDesc *>>
startOrder(const std::vector<ServiceDesc> &all,
           const std::vector<std::string> &wanted);

/// A service that ended on its own while the stack was up.
struct ServiceExit {
  std::string service;
  std::string how;     ///< "exited with status 1", "was killed by signal 9".
  std::string logTail; ///< The last lines of its output.
  bool clean = false;  ///< It exited with status 0.
};

class StackRuntime {
public:
  virtual ~StackRuntime() = default;
  /// Starts `services` in order (see startOrder) and waits until each is
  /// healthy. On an error, what was started is stopped again and the error
  /// names the service and ends with the tail of its log.
  virtual Status up(const std::vector<const ServiceDesc *> &services) = 0;
  /// Stops `services` where they run and starts them again (or for the
  /// first time), each waited for until healthy: a tool node's `restart:`
  /// after it rebuilt them. On an error the failed service is stopped and
  /// the others keep running. down() stops restarted services too.
  virtual Status restart(const std::vector<const ServiceDesc *> &services) = 0;
  /// Stops everything up() or restart() started, in reverse order.
  /// Idempotent.
  virtual void down() = 0;
  /// How the runner reaches a running service.
  virtual std::optional<Endpoint> endpoint(const std::string &service) = 0;
  /// The last `lines` lines of a service's output.
  virtual std::string logTail(const std::string &service, size_t lines) = 0;
  /// The services that ended on their own since the last call (not those
  /// that down() or restart() stopped), each reported once; endpoint()
  /// no longer answers for them.
  virtual std::vector<ServiceExit> ended() { return {}; }
};

struct LocalRuntimeOptions {
  std::string workspace = "."; ///< Programs run here (relative programs too).
  std::string logDir;          ///< <service>.log files; empty: workspace.
  /// "auto": bubblewrap when installed; "on": required; "off": never.
  std::string sandbox = "auto";
  HttpTransport *http = nullptr; ///< For HTTP health checks; own if null.
  Clock *clock = nullptr;        ///< Defaults to the system clock.
  int64_t stopGraceMs = 5000;    ///< SIGTERM, then SIGKILL after this.
  /// The cap of one log file (<service>.log, rotated to <service>.log.1);
  /// 0: ITERC_SERVICE_LOG_BYTES or 8 MiB.
  uint64_t logCapBytes = 0;
};

std::unique_ptr<StackRuntime> makeLocalRuntime(LocalRuntimeOptions options);

struct ContainerRuntimeOptions {
  /// "podman", "docker", or empty for whichever is installed (podman
  /// first). An absolute path is used as is.
  std::string engine;
  /// Arguments put before every engine command, e.g. "--runtime runc
  /// --storage-driver vfs" for podman (ITERC_CONTAINER_ARGS).
  std::vector<std::string> engineArgs;
  /// Names containers, the network and built images: "<project>-<service>".
  /// Must be unique per running stack (e.g. "iterc-<workflow>-<run id>").
  std::string project = "iterc";
  /// Build contexts and relative paths resolve here.
  std::string workspace = ".";
  std::string logDir; ///< <service>.log files; empty: workspace.
  /// Empty: a network "<project>" made for the stack (services reach each
  /// other by name, declared ports are published on 127.0.0.1); "host":
  /// the host's network (no publishing; services listen on the host).
  std::string network;
  HttpTransport *http = nullptr; ///< For HTTP health checks; own if null.
  Clock *clock = nullptr;        ///< Defaults to the system clock.
  int64_t stopGraceMs = 5000;    ///< `stop --time`, then removal.
};

/// The container engine `wanted` ("" = podman, else docker) resolved on
/// the PATH; an error saying what was looked for when none is installed.
Expected<std::string> findContainerEngine(const std::string &wanted);

/// Services as containers through the docker or podman command line.
/// Errors (no engine, a failed build, a service that never became healthy)
/// name the service and end with the tail of its log.
std::unique_ptr<StackRuntime>
makeContainerRuntime(ContainerRuntimeOptions options);

/// Services run by someone else (e.g. `docker compose`, with this runner as
/// one of its services): up() and down() do nothing, and a service is
/// reached by its name on its container port.
std::unique_ptr<StackRuntime>
makeExternalRuntime(const std::vector<ServiceDesc> &services);

} // namespace iterc::rt

#endif // ITERC_RT_STACK_H
