//===- McpHostileTest.cpp - stdio MCP servers that send broken JSON -------===//
//
// A stdio MCP server whose answer is not valid JSON must be reported at
// once, with a bounded excerpt of the line, not after the request timeout
// with the blame on the timeout. The servers are small python3 scripts
// written by the test (sh cannot print 200 KB lines portably).
//
//===----------------------------------------------------------------------===//
#include "iterc/rt/Mcp.h"

#include "RuntimeTestUtil.h"

#include <catch2/catch.hpp>

#include <chrono>

using namespace iterc::rt;
using iterc::rt::test::TempDir;
using iterc::rt::test::writeText;

namespace {

/// Answers `initialize` with `reply` (a Python expression for the line,
/// without its newline), then waits 30 s without answering anything else.
McpServerConfig pythonServer(const TempDir &dir, const std::string &reply) {
  std::string script = dir / "server.py";
  writeText(script, "import sys, time\n"
                    "sys.stdin.readline()\n"
                    "sys.stdout.write(" +
                        reply +
                        " + '\\n')\n"
                        "sys.stdout.flush()\n"
                        "time.sleep(30)\n");
  McpServerConfig config;
  config.name = "broken";
  config.transport = "stdio";
  config.command = "python3";
  config.args = {script};
  config.timeoutMs = 8000;
  return config;
}

int64_t msSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now() - start)
      .count();
}

} // namespace

TEST_CASE("MCP stdio: a reply that is not valid JSON is reported at once",
          "[mcp]") {
  TempDir tmp;
  SECTION("a cut JSON-RPC answer") {
    auto start = std::chrono::steady_clock::now();
    auto client = McpClient::connect(
        pythonServer(tmp, R"('{"jsonrpc":"2.0","id":0,"result":{"proto')"),
        nullptr);
    REQUIRE_FALSE(client.ok());
    const std::string &message = client.error().message;
    INFO(message);
    CHECK(client.error().code == ErrorCode::Tool);
    CHECK(message.find("mcp server 'broken'") != std::string::npos);
    CHECK(message.find("not valid JSON") != std::string::npos);
    CHECK(message.find(R"({"jsonrpc":"2.0","id":0,"result":{"proto)") !=
          std::string::npos);
    CHECK(msSince(start) < 4000);
  }
  SECTION("a 200 KB broken line is quoted as a bounded excerpt") {
    auto start = std::chrono::steady_clock::now();
    auto client = McpClient::connect(
        pythonServer(tmp, R"('{"jsonrpc":"2.0","id":0,"x":"' + 'a' * 200000)"),
        nullptr);
    REQUIRE_FALSE(client.ok());
    const std::string &message = client.error().message;
    INFO(message.substr(0, 3000));
    CHECK(client.error().code == ErrorCode::Tool);
    CHECK(message.find("not valid JSON") != std::string::npos);
    CHECK(message.find("200029 bytes") != std::string::npos);
    CHECK(message.size() < 4000);
    CHECK(msSince(start) < 4000);
  }
}
