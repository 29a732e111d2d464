//===- ServicePorts.h - Who listens on a service's port ---------*- C++ -*-===//
//
// A local service whose port is taken dies with "address already in use"
// while its health check reaches whatever else listens there. These
// helpers tell whether a port is taken before a service starts, by whom,
// and whether the socket listening on it belongs to the service's own
// process tree (the listening socket's inode in /proc/net/tcp and tcp6,
// matched against the fds in /proc/PID/fd of the service and its
// descendants).
//
//===----------------------------------------------------------------------===//
#ifndef ITERC_RT_SRC_SERVICEPORTS_H
#define ITERC_RT_SRC_SERVICEPORTS_H

#include <optional>
#include <string>
#include <sys/types.h>
#include <vector>

namespace iterc::rt {

/// Whether something accepts TCP connections on 127.0.0.1:`port`.
bool loopbackAccepts(int port);

/// The inodes of the TCP sockets listening on `port` (any address, IPv4 and
/// IPv6) in this network namespace.
std::vector<unsigned long> listeningInodes(int port);

/// Why `port` cannot be given to a service ("port 8080 is already in use
/// (held by pid 42, python3)"), or nullopt when it is free.
std::optional<std::string> portTaken(int port);

enum class PortOwner {
  Service, ///< A process of the service's tree holds the listening socket.
  Foreign, ///< Someone else does (every fd of the tree could be read).
  Unknown, ///< Nothing listens here, or some fds could not be read.
};

/// Who holds the socket listening on `port`: `root` or one of its
/// descendants, someone else, or unknown.
PortOwner portOwner(pid_t root, int port);

} // namespace iterc::rt

#endif // ITERC_RT_SRC_SERVICEPORTS_H
