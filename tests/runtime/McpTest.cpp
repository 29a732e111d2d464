//===- McpTest.cpp - Tests for the MCP client and toolbox -----------------===//
//
// This file tests the MCP client against the real reference server
// `@modelcontextprotocol/server-everything` (installed into tests/mcp by
// scripts/setup) over stdio and over Streamable HTTP, and against small
// /bin/sh servers that script the protocol's corners: server pings and
// notifications, stray output, pagination, annotations, a server that never
// answers, and one that exits at once. Without node or the installed package
// the tests that need them say why they were skipped and pass.
//
//===----------------------------------------------------------------------===//
#include "iterc/rt/Mcp.h"

#include "RuntimeTestUtil.h"

#include <catch2/catch.hpp>

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <fstream>
#include <thread>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

using namespace iterc::rt;

namespace {

int64_t elapsedMs(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now() - since)
      .count();
}

std::optional<std::string> findOnPath(const std::string &program) {
  const char *path = std::getenv("PATH");
  std::string dirs = path ? path : "/usr/local/bin:/usr/bin:/bin";
  size_t begin = 0;
  while (begin <= dirs.size()) {
    size_t end = dirs.find(':', begin);
    if (end == std::string::npos)
      end = dirs.size();
    std::string candidate = dirs.substr(begin, end - begin) + "/" + program;
    if (::access(candidate.c_str(), X_OK) == 0)
      return candidate;
    begin = end + 1;
  }
  return std::nullopt;
}

std::string everythingScript() {
  return std::string(ITERC_SOURCE_DIR) +
         "/tests/mcp/node_modules/@modelcontextprotocol/server-everything/"
         "dist/index.js";
}

/// True when node and the installed reference server are present; else
/// says why the test is skipped.
bool haveEverything() {
  if (!findOnPath("node")) {
    WARN("skipped: `node` is not on the PATH (scripts/setup installs the MCP "
         "test server when npm is available)");
    return false;
  }
  struct stat st;
  if (::stat(everythingScript().c_str(), &st) != 0) {
    WARN("skipped: tests/mcp/node_modules is missing; run "
         "`npm ci --prefix tests/mcp` (scripts/setup does)");
    return false;
  }
  return true;
}

McpServerConfig everythingStdio() {
  McpServerConfig config;
  config.name = "everything";
  config.transport = "stdio";
  config.command = "node";
  config.args = {everythingScript(), "stdio"};
  config.timeoutMs = 20000;
  return config;
}

McpServerConfig shellServer(const std::string &name, const std::string &script,
                            int64_t timeoutMs = 5000) {
  McpServerConfig config;
  config.name = name;
  config.transport = "stdio";
  config.command = "sh";
  config.args = {"-c", script};
  config.timeoutMs = timeoutMs;
  return config;
}

bool hasTool(const std::vector<ToolSpec> &tools, const std::string &name) {
  for (const ToolSpec &t : tools)
    if (t.name == name)
      return true;
  return false;
}

/// A port on 127.0.0.1 that was free a moment ago.
int freeLoopbackPort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr *>(&addr), sizeof addr) == 0);
  socklen_t len = sizeof addr;
  REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr *>(&addr), &len) == 0);
  ::close(fd);
  return ntohs(addr.sin_port);
}

bool acceptsConnections(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0)
    return false;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(uint16_t(port));
  bool ok =
      ::connect(fd, reinterpret_cast<sockaddr *>(&addr), sizeof addr) == 0;
  ::close(fd);
  return ok;
}

/// The everything server in Streamable HTTP mode on a loopback port, in its
/// own process group; killed at scope exit. The server calls
/// `app.listen(PORT)` (all interfaces), so a preloaded script makes every
/// port-only listen() bind 127.0.0.1.
class HttpEverything {
public:
  HttpEverything() {
    char pattern[] = "/tmp/iterc-mcp-test-XXXXXX";
    char *made = ::mkdtemp(pattern);
    REQUIRE(made != nullptr);
    dir = made;
    preload = dir + "/loopback.cjs";
    log = dir + "/server.log";
    std::ofstream(preload)
        << "const net = require('net');\n"
           "const listen = net.Server.prototype.listen;\n"
           "net.Server.prototype.listen = function (...args) {\n"
           "  if ((typeof args[0] === 'number' || typeof args[0] === "
           "'string')\n"
           "      && typeof args[1] !== 'string')\n"
           "    args.splice(1, 0, '127.0.0.1');\n"
           "  return listen.apply(this, args);\n"
           "};\n";
    port = freeLoopbackPort();
    std::vector<std::string> argStrings = {
        "node", "--require", preload, everythingScript(), "streamableHttp"};
    std::vector<std::string> envStrings = {"PORT=" + std::to_string(port)};
    for (const char *key : {"PATH", "HOME"})
      if (const char *value = std::getenv(key))
        envStrings.push_back(std::string(key) + "=" + value);
    std::vector<char *> argv, envp;
    for (std::string &s : argStrings)
      argv.push_back(s.data());
    argv.push_back(nullptr);
    for (std::string &s : envStrings)
      envp.push_back(s.data());
    envp.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawnattr_t attr;
    posix_spawn_file_actions_init(&actions);
    posix_spawnattr_init(&attr);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 1, log.c_str(),
                                     O_WRONLY | O_CREAT | O_TRUNC, 0600);
    posix_spawn_file_actions_adddup2(&actions, 1, 2);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSID);
    std::string node = findOnPath("node").value_or("/usr/bin/node");
    int err = ::posix_spawn(&pid, node.c_str(), &actions, &attr, argv.data(),
                            envp.data());
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
    REQUIRE(err == 0);
  }
  ~HttpEverything() {
    if (pid > 0) {
      ::kill(-pid, SIGKILL);
      int status = 0;
      ::waitpid(pid, &status, 0);
    }
    ::unlink(preload.c_str());
    ::unlink(log.c_str());
    ::rmdir(dir.c_str());
  }
  HttpEverything(const HttpEverything &) = delete;
  HttpEverything &operator=(const HttpEverything &) = delete;

  /// Waits (at most ~10 s) until the server accepts connections.
  bool waitReady() {
    auto start = std::chrono::steady_clock::now();
    while (elapsedMs(start) < 10000) {
      if (acceptsConnections(port))
        return true;
      int status = 0;
      if (::waitpid(pid, &status, WNOHANG) == pid) {
        pid = -1;
        return false;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return false;
  }

  std::string logText() const {
    std::ifstream in(log);
    return std::string(std::istreambuf_iterator<char>(in),
                       std::istreambuf_iterator<char>());
  }

  std::string url() const {
    return "http://127.0.0.1:" + std::to_string(port) + "/mcp";
  }

private:
  std::string dir, preload, log;
  pid_t pid = -1;
  int port = 0;
};

/// A stdio server in sh: answers a server ping before initializing, prints
/// noise and notifications, pages its tool list, and answers one call.
const char *scriptedServer = R"SH(
idof() { printf '%s' "$1" | sed -n 's/.*"id":\([0-9][0-9]*\).*/\1/p'; }
read -r line; id=$(idof "$line")
case "$line" in *'"method":"initialize"'*'"protocolVersion":"2025-03-26"'*) ;;
  *) echo "bad initialize: $line" >&2; exit 6;; esac
printf '%s\n' 'this line is not JSON'
printf '%s\n' '{"jsonrpc":"2.0","method":"notifications/message","params":{"level":"info","data":"starting"}}'
printf '%s\n' '{"jsonrpc":"2.0","id":"srv-1","method":"ping"}'
read -r pong
case "$pong" in *srv-1*result*) ;; *) echo "no pong: $pong" >&2; exit 7;; esac
printf '{"jsonrpc":"2.0","id":%s,"result":{"protocolVersion":"2025-03-26","capabilities":{"tools":{}},"serverInfo":{"name":"scripted","version":"1"}}}\n' "$id"
read -r line
case "$line" in *notifications/initialized*) ;; *) echo "no initialized: $line" >&2; exit 8;; esac
read -r line; id=$(idof "$line")
printf '{"jsonrpc":"2.0","id":%s,"result":{"tools":[{"name":"first","description":"one","inputSchema":{"type":"object"}}],"nextCursor":"page2"}}\n' "$id"
read -r line; id=$(idof "$line")
case "$line" in *'"cursor":"page2"'*) ;; *) echo "no cursor: $line" >&2; exit 9;; esac
printf '{"jsonrpc":"2.0","id":%s,"result":{"tools":[{"name":"second","inputSchema":{"type":"object"},"annotations":{"readOnlyHint":true}}]}}\n' "$id"
while read -r line; do
  id=$(idof "$line")
  printf '%s\n' '{"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":1,"progress":1}}'
  case "$line" in
    *'"name":"first"'*) printf '{"jsonrpc":"2.0","id":%s,"result":{"content":[{"type":"text","text":"{\\"answer\\": 42}"}]}}\n' "$id";;
    *) printf '{"jsonrpc":"2.0","id":%s,"result":{"content":[{"type":"text","text":"a"},{"type":"text","text":"b"}]}}\n' "$id";;
  esac
done
)SH";

/// Initializes, then never answers again.
const char *hangAfterInit = R"SH(
read -r line; id=$(printf '%s' "$line" | sed -n 's/.*"id":\([0-9][0-9]*\).*/\1/p')
printf '{"jsonrpc":"2.0","id":%s,"result":{"protocolVersion":"2025-03-26","capabilities":{"tools":{}},"serverInfo":{"name":"hang","version":"1"}}}\n' "$id"
read -r line
sleep 30
)SH";

} // namespace

TEST_CASE("MCP stdio client against server-everything", "[mcp]") {
  if (!haveEverything())
    return;
  auto client = McpClient::connect(everythingStdio(), nullptr);
  if (!client)
    FAIL(client.error().message);
  McpClient &mcp = **client;
  CHECK(mcp.protocolVersion() == "2025-03-26");
  CHECK(mcp.serverInfo().is_object());

  auto tools = mcp.listTools();
  REQUIRE(tools.ok());
  CHECK(hasTool(*tools, "echo"));
  CHECK(hasTool(*tools, "get-sum"));
  for (const ToolSpec &t : *tools)
    CHECK(t.inputSchema.is_object());

  auto echo = mcp.callTool("echo", Json{{"message", "hello mcp"}});
  REQUIRE(echo.ok());
  REQUIRE(echo->is_string());
  CHECK(echo->get<std::string>().find("hello mcp") != std::string::npos);

  auto sum = mcp.callTool("get-sum", Json{{"a", 2}, {"b", 40}});
  REQUIRE(sum.ok());
  REQUIRE(sum->is_string());
  CHECK(sum->get<std::string>().find("42") != std::string::npos);

  // Arguments the tool's schema rejects: the server's failure is a result.
  auto bad = mcp.callTool("get-sum", Json{{"a", "two"}});
  REQUIRE(bad.ok());
  REQUIRE(bad->is_object());
  REQUIRE(bad->contains("error"));
  CHECK((*bad)["error"].is_string());

  auto unknown = mcp.callTool("no-such-tool", Json::object());
  REQUIRE(unknown.ok());
  REQUIRE(unknown->is_object());
  REQUIRE(unknown->contains("error"));
  CHECK((*unknown)["error"].get<std::string>().find("no-such-tool") !=
        std::string::npos);

  // Still usable after the errors.
  auto again = mcp.callTool("echo", Json{{"message", "still here"}});
  REQUIRE(again.ok());
  CHECK(again->get<std::string>().find("still here") != std::string::npos);
}

TEST_CASE("MCP toolbox over server-everything", "[mcp]") {
  if (!haveEverything())
    return;
  auto box = McpToolbox::connectAll({everythingStdio()}, nullptr);
  if (!box)
    FAIL(box.error().message);
  McpToolbox &tools = **box;

  auto echo = tools.find("mcp.everything.echo");
  REQUIRE(echo.has_value());
  CHECK(echo->name == "mcp.everything.echo");
  CHECK(!echo->description.empty());
  CHECK_FALSE(tools.find("echo").has_value());
  CHECK_FALSE(tools.find("mcp.other.echo").has_value());

  auto all = tools.expand("mcp.everything.*");
  CHECK(all.size() >= 5);
  CHECK(hasTool(all, "mcp.everything.get-sum"));
  for (const ToolSpec &t : all)
    CHECK(t.name.rfind("mcp.everything.", 0) == 0);
  CHECK(tools.expand("mcp.other.*").empty());
  CHECK(tools.expand("mcp.*").size() == all.size());

  auto result = tools.call("mcp.everything.echo", Json{{"message", "via box"}});
  REQUIRE(result.ok());
  CHECK(result->get<std::string>().find("via box") != std::string::npos);

  auto unknown = tools.call("mcp.everything.nope", Json::object());
  REQUIRE_FALSE(unknown.ok());
  CHECK(unknown.error().code == ErrorCode::Tool);
  CHECK(unknown.error().message.find("mcp.everything.nope") !=
        std::string::npos);

  CHECK_FALSE(tools.mutates("mcp.everything.echo")); // readOnlyHint: true
  CHECK(tools.mutates("mcp.everything.nope"));
}

TEST_CASE("MCP stdio protocol corners with a scripted server", "[mcp]") {
  auto client =
      McpClient::connect(shellServer("scripted", scriptedServer), nullptr);
  if (!client)
    FAIL(client.error().message);
  CHECK((*client)->serverInfo().value("name", "") == "scripted");

  // Pagination, and annotations through the toolbox.
  McpToolbox box;
  Status added = box.add(std::move(*client));
  if (!added)
    FAIL(added.error().message);
  auto all = box.expand("mcp.scripted.*");
  REQUIRE(all.size() == 2);
  CHECK(all[0].name == "mcp.scripted.first");
  CHECK(all[0].description == "one");
  CHECK(all[1].name == "mcp.scripted.second");
  CHECK(box.mutates("mcp.scripted.first"));
  CHECK_FALSE(box.mutates("mcp.scripted.second"));

  // JSON-looking text is parsed; several items stay a content array.
  auto first = box.call("mcp.scripted.first", Json::object());
  REQUIRE(first.ok());
  CHECK(*first == Json{{"answer", 42}});
  auto second = box.call("mcp.scripted.second", Json::object());
  REQUIRE(second.ok());
  REQUIRE(second->is_array());
  CHECK(second->size() == 2);
}

TEST_CASE("MCP stdio timeouts kill the server", "[mcp]") {
  SECTION("a server that never answers") {
    auto start = std::chrono::steady_clock::now();
    McpServerConfig config;
    config.name = "silent";
    config.command = "sleep";
    config.args = {"30"};
    config.timeoutMs = 300;
    auto client = McpClient::connect(config, nullptr);
    REQUIRE_FALSE(client.ok());
    CHECK(client.error().code == ErrorCode::Timeout);
    CHECK(client.error().message.find("'silent'") != std::string::npos);
    CHECK(client.error().message.find("initialize") != std::string::npos);
    CHECK(elapsedMs(start) < 5000);
  }
  SECTION("a server that stops answering after initialize") {
    auto start = std::chrono::steady_clock::now();
    auto client =
        McpClient::connect(shellServer("hang", hangAfterInit, 400), nullptr);
    if (!client)
      FAIL(client.error().message);
    auto tools = (*client)->listTools();
    REQUIRE_FALSE(tools.ok());
    CHECK(tools.error().code == ErrorCode::Timeout);
    CHECK(tools.error().message.find("tools/list") != std::string::npos);
    // The server was killed: later calls fail at once.
    auto later = (*client)->callTool("x", Json::object());
    REQUIRE_FALSE(later.ok());
    CHECK(later.error().code == ErrorCode::Tool);
    client->reset();
    CHECK(elapsedMs(start) < 5000); // `sleep 30` did not hold anything up.
  }
}

TEST_CASE("MCP stdio servers that cannot start", "[mcp]") {
  SECTION("exits at once") {
    auto client = McpClient::connect(
        shellServer("broken",
                    "echo 'fatal: config file /nope is missing' >&2; exit 3"),
        nullptr);
    REQUIRE_FALSE(client.ok());
    CHECK(client.error().code == ErrorCode::Tool);
    const std::string &message = client.error().message;
    CHECK(message.find("'broken'") != std::string::npos);
    CHECK(message.find("exited with status 3") != std::string::npos);
    CHECK(message.find("fatal: config file /nope is missing") !=
          std::string::npos);
  }
  SECTION("dies in the middle of a session") {
    auto client = McpClient::connect(
        shellServer("dies",
                    "read -r line; id=$(printf '%s' \"$line\" | sed -n "
                    "'s/.*\"id\":\\([0-9][0-9]*\\).*/\\1/p'); printf "
                    "'{\"jsonrpc\":\"2.0\",\"id\":%s,\"result\":{"
                    "\"protocolVersion\":\"2025-03-26\",\"capabilities\":{}}}"
                    "\\n' \"$id\"; read -r line; read -r line; echo 'out of "
                    "memory' >&2; kill -9 $$"),
        nullptr);
    if (!client)
      FAIL(client.error().message);
    auto tools = (*client)->listTools();
    REQUIRE_FALSE(tools.ok());
    CHECK(tools.error().code == ErrorCode::Tool);
    CHECK(tools.error().message.find("signal 9") != std::string::npos);
    CHECK(tools.error().message.find("out of memory") != std::string::npos);
  }
  SECTION("a program that does not exist") {
    McpServerConfig config;
    config.name = "ghost";
    config.command = "iterc-no-such-mcp-server";
    auto client = McpClient::connect(config, nullptr);
    REQUIRE_FALSE(client.ok());
    CHECK(client.error().code == ErrorCode::Tool);
    CHECK(client.error().message.find("iterc-no-such-mcp-server") !=
          std::string::npos);
  }
  SECTION("the environment is an allowlist plus config.env") {
    test::ScopedEnv secret("ITERC_MCP_TEST_SECRET", "leaked");
    McpServerConfig config = shellServer(
        "env", "echo \"secret=${ITERC_MCP_TEST_SECRET:-none} given=$GIVEN "
               "home=${HOME:+set}\" >&2; exit 1");
    config.env = {{"GIVEN", "yes"}};
    auto client = McpClient::connect(config, nullptr);
    REQUIRE_FALSE(client.ok());
    CHECK(client.error().message.find("secret=none given=yes") !=
          std::string::npos);
  }
}

TEST_CASE("MCP Streamable HTTP client against server-everything", "[mcp]") {
  if (!haveEverything())
    return;
  HttpEverything server;
  if (!server.waitReady())
    FAIL("the streamable HTTP server did not start: " + server.logText());

  McpServerConfig config;
  config.name = "web";
  config.transport = "http";
  config.url = server.url();
  config.timeoutMs = 20000;
  auto transport = makeHttpTransport();
  auto client = McpClient::connect(config, transport.get());
  if (!client)
    FAIL(client.error().message + "\nserver log:\n" + server.logText());
  CHECK(!(*client)->protocolVersion().empty());

  // These only work when the session id is sent back.
  auto tools = (*client)->listTools();
  if (!tools)
    FAIL(tools.error().message);
  CHECK(hasTool(*tools, "echo"));
  auto echo = (*client)->callTool("echo", Json{{"message", "over http"}});
  REQUIRE(echo.ok());
  REQUIRE(echo->is_string());
  CHECK(echo->get<std::string>().find("over http") != std::string::npos);
  auto sum = (*client)->callTool("get-sum", Json{{"a", 1.5}, {"b", 2}});
  REQUIRE(sum.ok());
  CHECK(sum->get<std::string>().find("3.5") != std::string::npos);
  auto unknown = (*client)->callTool("no-such-tool", Json::object());
  REQUIRE(unknown.ok());
  CHECK(unknown->contains("error"));

  // Nothing listens on a port that was just free.
  McpServerConfig dead = config;
  dead.url = "http://127.0.0.1:" + std::to_string(freeLoopbackPort()) + "/mcp";
  auto refused = McpClient::connect(dead, transport.get());
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().message.find("'web'") != std::string::npos);
}
