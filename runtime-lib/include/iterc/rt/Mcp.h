//===- Mcp.h - Model Context Protocol client and toolbox --------*- C++ -*-===//
//
// This file declares the runtime's MCP client and the Toolbox that puts the
// tools of several MCP servers in front of agents as `mcp.<server>.<tool>`.
// A client speaks JSON-RPC 2.0 to one server, either over stdio (a child
// process in its own process group, newline-delimited JSON on its stdin and
// stdout) or over the Streamable HTTP transport (POSTs whose replies are a
// JSON body or a `text/event-stream` body, with the `Mcp-Session-Id` kept
// across requests). Every request has a deadline; a stdio server that misses
// it is killed. No call throws.
//
//===----------------------------------------------------------------------===//
#ifndef ITERC_RT_MCP_H
#define ITERC_RT_MCP_H

#include "iterc/rt/AgentTools.h"
#include "iterc/rt/Core.h"
#include "iterc/rt/Http.h"
#include "iterc/rt/Llm.h"

#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace iterc::rt {

/// The protocol revision the client asks for in `initialize`.
constexpr const char *kMcpProtocolVersion = "2025-03-26";

struct McpServerConfig {
  std::string name;
  std::string transport; ///< stdio | http | sse ("" = stdio without url)
  std::string command;   ///< stdio: the program (looked up on the PATH)
  std::vector<std::string> args;
  std::string url; ///< http/sse: the MCP endpoint
  /// stdio: added to (or replacing) PATH, HOME and LANG of this process;
  /// nothing else is inherited. http/sse: ignored.
  std::vector<std::pair<std::string, std::string>> env;
  int64_t timeoutMs = 30000; ///< Per request; 0 or less: no deadline.
};

/// One tool as a server lists it.
struct McpTool {
  ToolSpec spec; ///< The server's own tool name.
  Json annotations = Json::object();
  /// The server says the tool does not modify its environment.
  bool readOnly() const;
};

/// A connection to one MCP server. Thread-safe: requests are serialized.
class McpClient {
public:
  /// Starts (stdio) or reaches (http, sse) the server and performs the
  /// `initialize` handshake. `http` is used for http/sse servers; when null
  /// the client makes its own Beast transport. The transport must outlive
  /// the client. The legacy HTTP+SSE transport (a long-lived GET stream) is
  /// not supported: `sse` servers are tried with Streamable HTTP, which
  /// current servers accept on the same endpoint.
  static Expected<std::unique_ptr<McpClient>>
  connect(const McpServerConfig &config, HttpTransport *http);

  /// Closes stdin, waits 500 ms, kills the process group and reaps it
  /// (stdio); ends the session with a DELETE (http).
  ~McpClient();
  McpClient(const McpClient &) = delete;
  McpClient &operator=(const McpClient &) = delete;

  const std::string &name() const;
  /// `serverInfo` from the initialize result.
  const Json &serverInfo() const;
  /// The protocol revision the server chose.
  const std::string &protocolVersion() const;

  /// Every tool of the server (following `nextCursor`).
  Expected<std::vector<ToolSpec>> listTools();
  /// The same, with each tool's annotations.
  Expected<std::vector<McpTool>> listToolDetails();

  /// Calls a tool. The result is what a model sees: a single text item as
  /// a string (parsed when it is JSON), otherwise the `content` array; a
  /// failure the server reports (`isError`, or a JSON-RPC error such as an
  /// unknown tool or invalid arguments) is `{"error": text}`. An Error only
  /// when the request could not be completed: ErrorCode::Timeout (a stdio
  /// server is then killed), ErrorCode::Tool (the server died or is
  /// unusable), ErrorCode::Http* (transport).
  Expected<Json> callTool(const std::string &name, const Json &arguments);

  /// Sends any request and returns its `result` (a JSON-RPC error is an
  /// ErrorCode::Tool error).
  Expected<Json> request(const std::string &method, Json params);

  class Impl;

private:
  explicit McpClient(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl;
};

/// The tools of several MCP servers, named `mcp.<server>.<tool>`.
class McpToolbox : public Toolbox {
public:
  /// Lists `client`'s tools and takes the client over.
  Status add(std::unique_ptr<McpClient> client);
  /// Connects to every server and adds it; the first failure is returned.
  static Expected<std::unique_ptr<McpToolbox>>
  connectAll(const std::vector<McpServerConfig> &servers, HttpTransport *http);

  std::optional<ToolSpec> find(const std::string &name) override;
  /// `mcp.<server>.*` (one server's tools), `mcp.*` (all), or an exact name.
  std::vector<ToolSpec> expand(const std::string &pattern) override;
  /// An unknown name is an ErrorCode::Tool error.
  Expected<Json> call(const std::string &name, const Json &arguments) override;
  /// True unless the tool is annotated `readOnlyHint: true`.
  bool mutates(const std::string &name) override;

private:
  struct Entry {
    McpClient *client = nullptr;
    std::string server;
    McpTool tool; ///< spec.name is the qualified name.
  };
  const Entry *lookup(const std::string &name);

  std::mutex mutex;
  std::vector<std::unique_ptr<McpClient>> clients;
  std::deque<Entry> entries; ///< In server, then listing order (stable).
  std::map<std::string, size_t> byName;
};

} // namespace iterc::rt

#endif // ITERC_RT_MCP_H
