//===- ServicePorts.cpp - Who listens on a service's port -----------------===//
//
// This file implements ServicePorts.h from what Linux shows in /proc: the
// listening sockets of /proc/net/tcp and tcp6 (state 0A) with their
// inodes, each process's parent in /proc/PID/stat, and its sockets as
// "socket:[INODE]" links in /proc/PID/fd. Nothing here trusts a process:
// unreadable entries make the answer Unknown, never Service.
//
//===----------------------------------------------------------------------===//
#include "ServicePorts.h"

#include "FileText.h"

#include <arpa/inet.h>
#include <cstdlib>
#include <dirent.h>
#include <map>
#include <netinet/in.h>
#include <set>
#include <sstream>
#include <sys/socket.h>
#include <unistd.h>

using namespace iterc::rt;

namespace {

/// The numeric entries of /proc (process ids).
std::vector<pid_t> allPids() {
  std::vector<pid_t> pids;
  DIR *dir = ::opendir("/proc");
  if (!dir)
    return pids;
  while (dirent *e = ::readdir(dir)) {
    char *end = nullptr;
    long pid = std::strtol(e->d_name, &end, 10);
    if (end && *end == '\0' && pid > 0)
      pids.push_back(pid_t(pid));
  }
  ::closedir(dir);
  return pids;
}

/// The parent of `pid` from /proc/PID/stat (after the command's ')').
std::optional<pid_t> parentOf(pid_t pid) {
  std::optional<std::string> stat =
      readFileText("/proc/" + std::to_string(pid) + "/stat");
  if (!stat)
    return std::nullopt;
  size_t close = stat->rfind(')');
  if (close == std::string::npos)
    return std::nullopt;
  std::istringstream rest(stat->substr(close + 1));
  std::string state;
  long ppid = 0;
  if (!(rest >> state >> ppid))
    return std::nullopt;
  return pid_t(ppid);
}

/// `root` and every process below it.
std::vector<pid_t> processTree(pid_t root) {
  std::multimap<pid_t, pid_t> children;
  for (pid_t pid : allPids())
    if (std::optional<pid_t> parent = parentOf(pid))
      children.emplace(*parent, pid);
  std::vector<pid_t> tree = {root};
  for (size_t i = 0; i < tree.size() && tree.size() < 100000; ++i) {
    auto [from, to] = children.equal_range(tree[i]);
    for (auto it = from; it != to; ++it)
      tree.push_back(it->second);
  }
  return tree;
}

/// Whether one of `pid`'s fds is one of `inodes`; nullopt when its fds
/// cannot be read (another user's process, or it is gone).
std::optional<bool> holdsSocket(pid_t pid,
                                const std::set<unsigned long> &inodes) {
  std::string fdDir = "/proc/" + std::to_string(pid) + "/fd";
  DIR *dir = ::opendir(fdDir.c_str());
  if (!dir)
    return std::nullopt;
  bool holds = false;
  while (dirent *e = ::readdir(dir)) {
    if (e->d_name[0] == '.')
      continue;
    char target[128];
    ssize_t n = ::readlinkat(::dirfd(dir), e->d_name, target, sizeof target - 1);
    if (n <= 0)
      continue;
    target[n] = '\0';
    unsigned long inode = 0;
    if (std::sscanf(target, "socket:[%lu]", &inode) == 1 && inodes.count(inode))
      holds = true;
  }
  ::closedir(dir);
  return holds;
}

std::string commandName(pid_t pid) {
  std::string comm =
      readFileText("/proc/" + std::to_string(pid) + "/comm").value_or("");
  while (!comm.empty() && comm.back() == '\n')
    comm.pop_back();
  for (char &c : comm)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f)
      c = '?';
  return comm;
}

} // namespace

bool iterc::rt::loopbackAccepts(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return false;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(uint16_t(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bool accepted =
      ::connect(fd, reinterpret_cast<sockaddr *>(&addr), sizeof addr) == 0;
  ::close(fd);
  return accepted;
}

std::vector<unsigned long> iterc::rt::listeningInodes(int port) {
  std::vector<unsigned long> inodes;
  for (const char *table : {"/proc/net/tcp", "/proc/net/tcp6"}) {
    std::istringstream lines(readFileText(table).value_or(""));
    std::string line;
    std::getline(lines, line); // the header
    while (std::getline(lines, line)) {
      // sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout
      // inode ...; local_address is HEXADDR:HEXPORT.
      std::istringstream fields(line);
      std::string sl, local, remote, state, queues, timer, retr, uid, timeout;
      unsigned long inode = 0;
      if (!(fields >> sl >> local >> remote >> state >> queues >> timer >>
            retr >> uid >> timeout >> inode))
        continue;
      size_t colon = local.rfind(':');
      if (state != "0A" || colon == std::string::npos)
        continue;
      if (std::strtol(local.c_str() + colon + 1, nullptr, 16) == port &&
          inode != 0)
        inodes.push_back(inode);
    }
  }
  return inodes;
}

std::optional<std::string> iterc::rt::portTaken(int port) {
  std::vector<unsigned long> inodes = listeningInodes(port);
  if (inodes.empty() && !loopbackAccepts(port))
    return std::nullopt;
  std::string holder;
  std::set<unsigned long> wanted(inodes.begin(), inodes.end());
  if (!wanted.empty())
    for (pid_t pid : allPids())
      if (holdsSocket(pid, wanted).value_or(false)) {
        holder = " (held by pid " + std::to_string(pid) + ", " +
                 commandName(pid) + ")";
        break;
      }
  return "port " + std::to_string(port) + " is already in use" + holder;
}

PortOwner iterc::rt::portOwner(pid_t root, int port) {
  std::vector<unsigned long> inodes = listeningInodes(port);
  if (inodes.empty())
    return PortOwner::Unknown;
  std::set<unsigned long> wanted(inodes.begin(), inodes.end());
  bool unreadable = false;
  for (pid_t pid : processTree(root)) {
    std::optional<bool> holds = holdsSocket(pid, wanted);
    if (holds.value_or(false))
      return PortOwner::Service;
    unreadable = unreadable || !holds;
  }
  return unreadable ? PortOwner::Unknown : PortOwner::Foreign;
}
