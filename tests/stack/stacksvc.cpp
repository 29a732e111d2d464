//===- stacksvc.cpp - A tiny HTTP service for the stack runtime tests -----===//
//
// A static program the container stack tests run as services (copied into a
// FROM scratch image) and as their client:
//
//   stacksvc serve --port N [--host ADDR] [--upstream http://HOST:PORT]
//                  [--fail-health]
//   stacksvc put URL      PUT, prints the status; exit 0 on 2xx, else 1
//   stacksvc get URL      GET, prints the body; exit 0 on 2xx, else 1
//
// The server answers GET /healthz (200 "ok", 503 with --fail-health),
// PUT /items/<name> (201, kept in memory) and GET /items (a JSON array of
// the names; with --upstream, the upstream's GET /items body: the "api" in
// front of a "store"). One request per connection; one log line per request
// on stdout; SIGTERM ends it with status 0.
//
//===----------------------------------------------------------------------===//
#include <arpa/inet.h>
#include <cctype>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <netdb.h>
#include <netinet/in.h>
#include <string>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>
#include <vector>

namespace {

void say(int fd, const std::string &text) {
  size_t done = 0;
  while (done < text.size()) {
    ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return;
    done += size_t(n);
  }
}

void onTerminate(int) { ::_exit(0); }

void setTimeouts(int fd, int seconds) {
  timeval tv{seconds, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

struct Url {
  std::string host;
  std::string port = "80";
  std::string path = "/";
};

bool parseUrl(const std::string &text, Url &url) {
  const std::string scheme = "http://";
  if (text.compare(0, scheme.size(), scheme) != 0)
    return false;
  std::string rest = text.substr(scheme.size());
  size_t slash = rest.find('/');
  std::string authority = rest.substr(0, slash);
  if (slash != std::string::npos)
    url.path = rest.substr(slash);
  size_t colon = authority.rfind(':');
  url.host = authority.substr(0, colon);
  if (colon != std::string::npos)
    url.port = authority.substr(colon + 1);
  return !url.host.empty() && !url.port.empty();
}

/// Connects to host:port (numeric or resolved); -1 on failure.
int connectTo(const Url &url) {
  addrinfo hints{}, *found = nullptr;
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  if (::getaddrinfo(url.host.c_str(), url.port.c_str(), &hints, &found) != 0)
    return -1;
  int fd = -1;
  for (addrinfo *a = found; a; a = a->ai_next) {
    fd = ::socket(a->ai_family, a->ai_socktype, a->ai_protocol);
    if (fd < 0)
      continue;
    setTimeouts(fd, 10);
    if (::connect(fd, a->ai_addr, a->ai_addrlen) == 0)
      break;
    ::close(fd);
    fd = -1;
  }
  ::freeaddrinfo(found);
  return fd;
}

std::string readAll(int fd) {
  std::string text;
  char buffer[4096];
  for (;;) {
    ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return text;
    text.append(buffer, size_t(n));
  }
}

/// One request as a client; status 0 when there was no valid reply.
int request(const std::string &method, const std::string &target,
            std::string &body) {
  Url url;
  if (!parseUrl(target, url))
    return 0;
  int fd = connectTo(url);
  if (fd < 0)
    return 0;
  say(fd, method + " " + url.path + " HTTP/1.1\r\nHost: " + url.host + ":" +
              url.port + "\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
  std::string reply = readAll(fd);
  ::close(fd);
  int status = 0;
  if (reply.compare(0, 5, "HTTP/") != 0 ||
      std::sscanf(reply.c_str(), "HTTP/%*s %d", &status) != 1)
    return 0;
  size_t end = reply.find("\r\n\r\n");
  body = end == std::string::npos ? "" : reply.substr(end + 4);
  return status;
}

struct Server {
  bool failHealth = false;
  std::string upstream;
  std::vector<std::string> items;
};

std::string reasonOf(int status) {
  switch (status) {
  case 200:
    return "OK";
  case 201:
    return "Created";
  case 400:
    return "Bad Request";
  case 404:
    return "Not Found";
  case 405:
    return "Method Not Allowed";
  case 502:
    return "Bad Gateway";
  default:
    return "Service Unavailable";
  }
}

bool validName(const std::string &name) {
  if (name.empty() || name.size() > 200)
    return false;
  for (char c : name)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' &&
        c != '.')
      return false;
  return true;
}

/// The reply to one request: status and body.
int answer(Server &server, const std::string &method, const std::string &path,
           std::string &body) {
  if (path == "/healthz") {
    if (method != "GET")
      return 405;
    body = server.failHealth ? "failing\n" : "ok";
    return server.failHealth ? 503 : 200;
  }
  if (path == "/items") {
    if (method != "GET")
      return 405;
    if (!server.upstream.empty()) {
      int status = request("GET", server.upstream + "/items", body);
      if (status == 0)
        body = "upstream unreachable\n";
      return status == 0 ? 502 : status;
    }
    body = "[";
    for (size_t i = 0; i < server.items.size(); ++i)
      body += (i ? ",\"" : "\"") + server.items[i] + "\"";
    body += "]";
    return 200;
  }
  const std::string prefix = "/items/";
  if (path.compare(0, prefix.size(), prefix) == 0) {
    if (method != "PUT")
      return 405;
    std::string name = path.substr(prefix.size());
    if (!validName(name)) {
      body = "bad item name\n";
      return 400;
    }
    server.items.push_back(name);
    body = "stored " + name + "\n";
    return 201;
  }
  body = "not found\n";
  return 404;
}

void handle(Server &server, int fd) {
  setTimeouts(fd, 5);
  std::string text;
  char buffer[4096];
  size_t end = std::string::npos;
  while ((end = text.find("\r\n\r\n")) == std::string::npos &&
         text.size() < 65536) {
    ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      break;
    text.append(buffer, size_t(n));
  }
  std::string method, path, body;
  int status = 400;
  size_t lineEnd = text.find("\r\n");
  std::string line = text.substr(0, lineEnd);
  size_t sp1 = line.find(' ');
  size_t sp2 = sp1 == std::string::npos ? sp1 : line.find(' ', sp1 + 1);
  if (end != std::string::npos && sp2 != std::string::npos) {
    method = line.substr(0, sp1);
    path = line.substr(sp1 + 1, sp2 - sp1 - 1);
    status = answer(server, method, path, body);
  } else {
    body = "bad request\n";
  }
  say(fd, "HTTP/1.1 " + std::to_string(status) + " " + reasonOf(status) +
              "\r\nContent-Type: text/plain\r\nContent-Length: " +
              std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" +
              body);
  ::shutdown(fd, SHUT_WR);
  say(1, (method.empty() ? "-" : method) + " " + (path.empty() ? "-" : path) +
             " " + std::to_string(status) + "\n");
}

int serve(int argc, char **argv) {
  Server server;
  int port = 0;
  std::string host = "0.0.0.0";
  for (int i = 2; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--fail-health")
      server.failHealth = true;
    else if (arg == "--port" && i + 1 < argc)
      port = std::atoi(argv[++i]);
    else if (arg == "--host" && i + 1 < argc)
      host = argv[++i];
    else if (arg == "--upstream" && i + 1 < argc)
      server.upstream = argv[++i];
    else {
      say(2, "stacksvc: unknown argument '" + arg + "'\n");
      return 2;
    }
  }
  if (port <= 0 || port > 65535) {
    say(2, "stacksvc: serve needs --port N\n");
    return 2;
  }
  struct sigaction action {};
  action.sa_handler = onTerminate;
  ::sigaction(SIGTERM, &action, nullptr);
  ::sigaction(SIGINT, &action, nullptr);
  ::signal(SIGPIPE, SIG_IGN);

  int listener = ::socket(AF_INET, SOCK_STREAM, 0);
  int on = 1;
  ::setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(uint16_t(port));
  if (::inet_pton(AF_INET, host.c_str(), &addr.sin_addr) != 1) {
    say(2, "stacksvc: --host must be an IPv4 address\n");
    return 2;
  }
  if (listener < 0 ||
      ::bind(listener, reinterpret_cast<sockaddr *>(&addr), sizeof addr) != 0 ||
      ::listen(listener, 64) != 0) {
    say(2, "stacksvc: cannot listen on " + host + ":" + std::to_string(port) +
               ": " + std::strerror(errno) + "\n");
    return 1;
  }
  say(1, "stacksvc listening on " + host + ":" + std::to_string(port) +
             (server.upstream.empty() ? "" : " upstream " + server.upstream) +
             (server.failHealth ? " (failing health)" : "") + "\n");
  for (;;) {
    int fd = ::accept(listener, nullptr, nullptr);
    if (fd < 0)
      continue;
    handle(server, fd);
    ::close(fd);
  }
}

} // namespace

int main(int argc, char **argv) {
  std::string mode = argc > 1 ? argv[1] : "";
  if (mode == "serve")
    return serve(argc, argv);
  if ((mode == "put" || mode == "get") && argc == 3) {
    std::string body;
    int status = request(mode == "put" ? "PUT" : "GET", argv[2], body);
    if (mode == "put")
      say(1, std::to_string(status) + "\n");
    else
      say(1, body);
    return status >= 200 && status < 300 ? 0 : 1;
  }
  say(2, "usage: stacksvc serve --port N [--host ADDR] [--upstream URL] "
         "[--fail-health]\n       stacksvc put URL\n       stacksvc get URL\n");
  return 2;
}
