//===- Mcp.cpp - Model Context Protocol client and toolbox ----------------===//
//
// This file implements the MCP client over its two transports and the
// toolbox built on it. Both transports share the JSON-RPC layer: a request
// gets the next integer id and waits for the response with that id; on the
// way, server notifications (log messages, progress, list changes) are
// ignored, a server `ping` is answered, and any other server request is
// refused with "method not found" (the client declares no capabilities).
//
// stdio: the server runs through posix_spawn in a new session (so its own
// process group) with pipes on stdin, stdout and stderr and only PATH, HOME,
// LANG and the configured variables in its environment. Requests are
// written and responses read with poll() against the request's deadline,
// reading stdout while writing so a chatty server cannot deadlock a large
// request. SIGPIPE is blocked in the writing thread around each write. A
// background thread drains stderr into a capped tail that error messages
// quote. A missed deadline kills the process group; a server that closes
// its output is reaped and reported with its exit status and stderr tail.
//
// http: each message is one POST; the reply is a JSON body or an event
// stream whose `data` fields carry the messages. The session id from the
// initialize reply is sent on every later request, and a DELETE ends the
// session when the client goes away.
//
//===----------------------------------------------------------------------===//
#include "iterc/rt/Mcp.h"

#include "InvalidReply.h" // utf8Prefix

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <thread>

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

using namespace iterc::rt;

#ifndef ITERC_VERSION
#define ITERC_VERSION "0.1.0"
#endif

namespace {

/// How much of a server's stderr is kept, and how much an error quotes.
constexpr size_t stderrKeepBytes = 16 << 10;
constexpr size_t stderrQuoteBytes = 2000;
/// The longest line a stdio server may send.
constexpr size_t maxLineBytes = kMaxHttpBodyBytes;
/// How long a closing server gets before its group is killed.
constexpr int64_t closeGraceMs = 500;
/// How long a server that closed its output gets to exit, and its stderr to
/// reach end of file, before the error is reported.
constexpr int64_t exitWaitMs = 1000;
constexpr int64_t stderrWaitMs = 300;
/// Pagination guard for tools/list.
constexpr int maxPages = 1000;

int64_t nowMs() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(steady_clock::now().time_since_epoch())
      .count();
}

std::string errnoText(int err) { return std::strerror(err); }

std::string trimmed(std::string_view text) {
  size_t begin = 0, end = text.size();
  while (begin < end && std::isspace(static_cast<unsigned char>(text[begin])))
    ++begin;
  while (end > begin && std::isspace(static_cast<unsigned char>(text[end - 1])))
    --end;
  return std::string(text.substr(begin, end - begin));
}

/// The last `bytes` of `text`, marked when cut.
std::string tailOf(const std::string &text, size_t bytes) {
  std::string t = trimmed(text);
  if (t.size() <= bytes)
    return t;
  return "..." + t.substr(t.size() - bytes);
}

/// True when `line` starts like a JSON-RPC message (an object or a batch)
/// after blanks: one that then does not parse is a broken answer, not log
/// output.
bool looksLikeJson(std::string_view line) {
  for (char c : line)
    if (!std::isspace(static_cast<unsigned char>(c)))
      return c == '{' || c == '[';
  return false;
}

/// The size of `line` and its first 300 bytes (whole UTF-8 characters),
/// for an error message.
std::string lineExcerpt(const std::string &line) {
  constexpr size_t excerptBytes = 300;
  std::string head = utf8Prefix(line, excerptBytes);
  return std::to_string(line.size()) + " bytes" +
         (head.size() < line.size() ? ", starting: " + head + "..."
                                    : ": " + head);
}

bool isResponse(const Json &msg) {
  return msg.is_object() && msg.contains("id") && !msg.contains("method") &&
         (msg.contains("result") || msg.contains("error"));
}

std::string rpcErrorText(const Json &error) {
  std::string text;
  if (error.is_object()) {
    if (error.contains("message") && error["message"].is_string())
      text = error["message"].get<std::string>();
    if (error.contains("code") && error["code"].is_number_integer())
      text += " (code " + std::to_string(error["code"].get<int64_t>()) + ")";
    if (error.contains("data") && !error["data"].is_null())
      text +=
          ": " + (error["data"].is_string() ? error["data"].get<std::string>()
                                            : error["data"].dump());
  } else {
    text = error.dump();
  }
  return text.empty() ? "unknown error" : text;
}

/// The text items of a `content` array, joined by newlines.
std::string contentText(const Json &content) {
  std::string text;
  if (!content.is_array())
    return content.is_null() ? "" : content.dump();
  for (const Json &item : content) {
    if (item.is_object() && item.value("type", "") == "text" &&
        item.contains("text") && item["text"].is_string()) {
      if (!text.empty())
        text += "\n";
      text += item["text"].get<std::string>();
    }
  }
  return text.empty() ? content.dump() : text;
}

/// What a model sees of a tools/call result.
Json toolResultValue(const Json &result) {
  if (!result.is_object())
    return result;
  Json content = result.contains("content") ? result["content"] : Json();
  if (result.value("isError", false))
    return Json{{"error", contentText(content)}};
  if (content.is_array() && content.size() == 1 && content[0].is_object() &&
      content[0].value("type", "") == "text" && content[0].contains("text") &&
      content[0]["text"].is_string()) {
    const std::string &text = content[0]["text"].get_ref<const std::string &>();
    std::string t = trimmed(text);
    if (!t.empty() && (t.front() == '{' || t.front() == '[')) {
      if (auto parsed = parseJson(t))
        return std::move(*parsed);
    }
    return text;
  }
  if ((!content.is_array() || content.empty()) &&
      result.contains("structuredContent"))
    return result["structuredContent"];
  return content.is_null() ? Json::array() : content;
}

/// Blocks SIGPIPE in this thread for its lifetime and swallows a SIGPIPE
/// raised meanwhile, so a write to a dead server is an EPIPE error.
class SigpipeGuard {
public:
  SigpipeGuard() {
    sigemptyset(&pipeSet);
    sigaddset(&pipeSet, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipeSet, &oldMask);
    sigset_t pending;
    sigpending(&pending);
    wasPending = sigismember(&pending, SIGPIPE) == 1;
  }
  ~SigpipeGuard() {
    if (!wasPending) {
      sigset_t pending;
      sigpending(&pending);
      if (sigismember(&pending, SIGPIPE) == 1) {
        struct timespec zero = {0, 0};
        sigtimedwait(&pipeSet, nullptr, &zero);
      }
    }
    pthread_sigmask(SIG_SETMASK, &oldMask, nullptr);
  }
  SigpipeGuard(const SigpipeGuard &) = delete;
  SigpipeGuard &operator=(const SigpipeGuard &) = delete;

private:
  sigset_t pipeSet;
  sigset_t oldMask;
  bool wasPending = false;
};

/// Parses an event stream into the `data` of each event.
std::vector<std::string> sseData(const std::string &body) {
  std::vector<std::string> events;
  std::string data;
  bool hasData = false;
  auto dispatch = [&]() {
    if (hasData && !data.empty())
      events.push_back(data);
    data.clear();
    hasData = false;
  };
  size_t pos = 0;
  while (pos < body.size()) {
    size_t end = body.find_first_of("\r\n", pos);
    std::string_view line(body.data() + pos,
                          (end == std::string::npos ? body.size() : end) - pos);
    if (end == std::string::npos)
      pos = body.size();
    else
      pos = end + ((body[end] == '\r' && end + 1 < body.size() &&
                    body[end + 1] == '\n')
                       ? 2
                       : 1);
    if (line.empty()) {
      dispatch();
      continue;
    }
    if (line.front() == ':')
      continue; // A comment.
    size_t colon = line.find(':');
    std::string_view field = line.substr(0, colon);
    std::string_view value;
    if (colon != std::string_view::npos) {
      value = line.substr(colon + 1);
      if (!value.empty() && value.front() == ' ')
        value.remove_prefix(1);
    }
    if (field == "data") {
      if (hasData)
        data += "\n";
      data.append(value);
      hasData = true;
    }
  }
  dispatch(); // A last event without its blank line.
  return events;
}

} // namespace

bool McpTool::readOnly() const {
  return annotations.is_object() && annotations.contains("readOnlyHint") &&
         annotations["readOnlyHint"].is_boolean() &&
         annotations["readOnlyHint"].get<bool>();
}

//===----------------------------------------------------------------------===//
// The JSON-RPC layer shared by both transports
//===----------------------------------------------------------------------===//

class McpClient::Impl {
public:
  explicit Impl(McpServerConfig config) : config(std::move(config)) {}
  virtual ~Impl() = default;

  McpServerConfig config;
  Json serverInfo = Json::object();
  Json capabilities = Json::object();
  std::string protocolVersion;
  std::mutex mutex;

  std::string who() const { return "mcp server '" + config.name + "'"; }

  /// Sends a request and returns the whole response message (which holds a
  /// `result` or an `error`). The caller holds `mutex`.
  Expected<Json> exchange(const std::string &method, const Json &params) {
    int64_t id = nextId++;
    Json msg = {{"jsonrpc", "2.0"}, {"id", id}, {"method", method}};
    if (!params.is_null())
      msg["params"] = params;
    return roundTrip(msg, id, method);
  }

  /// Sends a notification. The caller holds `mutex`.
  Status notify(const std::string &method) {
    Json msg = {{"jsonrpc", "2.0"}, {"method", method}};
    auto sent = roundTrip(msg, -1, method);
    if (!sent)
      return sent.error();
    return Status::success();
  }

  /// `exchange` with a JSON-RPC error turned into an error.
  Expected<Json> call(const std::string &method, const Json &params) {
    auto reply = exchange(method, params);
    if (!reply)
      return reply.error();
    if (reply->contains("error"))
      return Error(ErrorCode::Tool, who() + ": '" + method + "' failed: " +
                                        rpcErrorText((*reply)["error"]));
    Json result = reply->contains("result") ? (*reply)["result"] : Json();
    return result.is_null() ? Json::object() : result;
  }

  Status initialize() {
    Json params = {
        {"protocolVersion", kMcpProtocolVersion},
        {"capabilities", Json::object()},
        {"clientInfo", {{"name", "iterc"}, {"version", ITERC_VERSION}}}};
    auto result = call("initialize", params);
    if (!result)
      return result.error();
    if (!result->is_object() || !result->contains("protocolVersion") ||
        !(*result)["protocolVersion"].is_string())
      return Error(ErrorCode::Tool,
                   who() + ": the initialize result has no protocolVersion");
    protocolVersion = (*result)["protocolVersion"].get<std::string>();
    if (result->contains("serverInfo"))
      serverInfo = (*result)["serverInfo"];
    if (result->contains("capabilities"))
      capabilities = (*result)["capabilities"];
    initialized = true;
    return notify("notifications/initialized");
  }

protected:
  /// Sends `msg` and, for a request (`id` >= 0), returns the response with
  /// that id; for a notification, null.
  virtual Expected<Json> roundTrip(const Json &msg, int64_t id,
                                   const std::string &method) = 0;

  /// Looks at one message from the server. Returns true when it is the
  /// response with `id` (stored in `response`); a server request gets its
  /// answer appended to `replies`.
  static bool handleIncoming(const Json &msg, int64_t id, Json &response,
                             std::vector<Json> &replies) {
    if (!msg.is_object())
      return false;
    if (isResponse(msg))
      if (id >= 0 && msg["id"] == Json(id)) {
        response = msg;
        return true;
      }
    if (msg.contains("method") && msg.contains("id") && !msg["id"].is_null()) {
      Json reply = {{"jsonrpc", "2.0"}, {"id", msg["id"]}};
      if (msg["method"] == "ping")
        reply["result"] = Json::object();
      else
        reply["error"] = {{"code", -32601}, {"message", "Method not found"}};
      replies.push_back(std::move(reply));
    }
    // Notifications (log messages, progress...) and stray responses: ignored.
    return false;
  }

  /// Each message in a JSON-RPC payload (a message or a batch).
  static std::vector<Json> messagesIn(Json payload) {
    std::vector<Json> messages;
    if (payload.is_array()) {
      for (Json &item : payload)
        messages.push_back(std::move(item));
    } else {
      messages.push_back(std::move(payload));
    }
    return messages;
  }

  bool initialized = false;

private:
  int64_t nextId = 1;
};

namespace {

//===----------------------------------------------------------------------===//
// stdio
//===----------------------------------------------------------------------===//

class StdioClient final : public McpClient::Impl {
public:
  using Impl::Impl;
  ~StdioClient() override { shutdown(); }

  Status start() {
    std::vector<std::pair<std::string, std::string>> env;
    for (const char *key : {"PATH", "HOME", "LANG"})
      if (const char *value = std::getenv(key))
        env.emplace_back(key, value);
    for (const auto &[key, value] : config.env) {
      auto it = std::find_if(env.begin(), env.end(),
                             [&](const auto &kv) { return kv.first == key; });
      if (it != env.end())
        it->second = value;
      else
        env.emplace_back(key, value);
    }
    if (config.command.empty())
      return Error(ErrorCode::InvalidInput, who() + ": no command to run");
    auto program = resolveProgram(config.command, env);
    if (!program)
      return Error(ErrorCode::Tool, who() + ": cannot find '" + config.command +
                                        "' on the PATH");

    int inPipe[2], outPipe[2], errPipe[2];
    if (::pipe2(inPipe, O_CLOEXEC) != 0)
      return Error(ErrorCode::Tool, who() + ": pipe: " + errnoText(errno));
    if (::pipe2(outPipe, O_CLOEXEC) != 0) {
      int err = errno;
      ::close(inPipe[0]);
      ::close(inPipe[1]);
      return Error(ErrorCode::Tool, who() + ": pipe: " + errnoText(err));
    }
    if (::pipe2(errPipe, O_CLOEXEC) != 0) {
      int err = errno;
      for (int fd : {inPipe[0], inPipe[1], outPipe[0], outPipe[1]})
        ::close(fd);
      return Error(ErrorCode::Tool, who() + ": pipe: " + errnoText(err));
    }

    std::vector<std::string> argStrings;
    argStrings.push_back(config.command);
    argStrings.insert(argStrings.end(), config.args.begin(), config.args.end());
    std::vector<std::string> envStrings;
    for (const auto &[key, value] : env)
      envStrings.push_back(key + "=" + value);
    auto cStrings = [](std::vector<std::string> &strings) {
      std::vector<char *> result;
      for (std::string &s : strings)
        result.push_back(s.data());
      result.push_back(nullptr);
      return result;
    };
    std::vector<char *> argv = cStrings(argStrings);
    std::vector<char *> envp = cStrings(envStrings);

    posix_spawn_file_actions_t actions;
    posix_spawnattr_t attr;
    posix_spawn_file_actions_init(&actions);
    posix_spawnattr_init(&attr);
    posix_spawn_file_actions_adddup2(&actions, inPipe[0], 0);
    posix_spawn_file_actions_adddup2(&actions, outPipe[1], 1);
    posix_spawn_file_actions_adddup2(&actions, errPipe[1], 2);
    posix_spawn_file_actions_addclosefrom_np(&actions, 3);
    sigset_t defaults, mask;
    sigfillset(&defaults);
    sigemptyset(&mask);
    posix_spawnattr_setsigdefault(&attr, &defaults);
    posix_spawnattr_setsigmask(&attr, &mask);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGDEF |
                                        POSIX_SPAWN_SETSIGMASK);
    pid_t child = -1;
    int spawnErr = ::posix_spawn(&child, program->c_str(), &actions, &attr,
                                 argv.data(), envp.data());
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
    ::close(inPipe[0]);
    ::close(outPipe[1]);
    ::close(errPipe[1]);
    if (spawnErr != 0) {
      for (int fd : {inPipe[1], outPipe[0], errPipe[0]})
        ::close(fd);
      return Error(ErrorCode::Tool, who() + ": cannot start '" + *program +
                                        "': " + errnoText(spawnErr));
    }
    pid = child;
    inFd = inPipe[1];
    outFd = outPipe[0];
    errFd = errPipe[0];
    for (int fd : {inFd, outFd, errFd})
      ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
    stderrThread = std::thread([this] { drainStderr(); });
    return Status::success();
  }

protected:
  Expected<Json> roundTrip(const Json &msg, int64_t id,
                           const std::string &method) override {
    if (!deadReason.empty())
      return Error(ErrorCode::Tool, who() + " " + deadReason);
    int64_t deadline =
        config.timeoutMs > 0 ? nowMs() + config.timeoutMs : int64_t(-1);
    Status sent = writeLine(msg.dump(), deadline, method);
    if (!sent)
      return sent.error();
    if (id < 0)
      return Json();
    while (true) {
      // Every complete line already read.
      size_t newline;
      while ((newline = inBuffer.find('\n')) != std::string::npos) {
        std::string line = inBuffer.substr(0, newline);
        inBuffer.erase(0, newline + 1);
        auto payload = parseJson(line);
        if (!payload && looksLikeJson(line))
          return fail(ErrorCode::Tool,
                      "sent a line that is not valid JSON while answering '" +
                          method + "' (" + lineExcerpt(line) + ")");
        if (!payload) {
          // Not JSON-RPC (a stray print): ignored, named if nothing comes.
          ++strayLines;
          lastStray = lineExcerpt(line);
          continue;
        }
        Json response;
        std::vector<Json> replies;
        bool found = false;
        for (const Json &m : messagesIn(std::move(*payload)))
          found = handleIncoming(m, id, response, replies) || found;
        for (const Json &reply : replies) {
          Status ok = writeLine(reply.dump(), deadline, method);
          if (!ok)
            return ok.error();
        }
        if (found)
          return response;
      }
      if (inBuffer.size() > maxLineBytes)
        return fail(ErrorCode::Tool, "sent a line longer than " +
                                         std::to_string(maxLineBytes) +
                                         " bytes");
      Status got = readSome(deadline, method);
      if (!got)
        return got.error();
    }
  }

private:
  pid_t pid = -1;
  int inFd = -1, outFd = -1, errFd = -1;
  std::string inBuffer;
  /// Why the server can no longer be used ("" while it can).
  std::string deadReason;
  /// Lines that were not JSON at all (log output), and the last one.
  size_t strayLines = 0;
  std::string lastStray;

  std::thread stderrThread;
  std::atomic<bool> stopStderr{false};
  std::mutex stderrMutex;
  std::condition_variable stderrCv;
  std::string stderrTail;
  bool stderrDone = false;

  void drainStderr() {
    char buf[4096];
    while (!stopStderr.load()) {
      struct pollfd p = {errFd, POLLIN, 0};
      int r = ::poll(&p, 1, 50);
      if (r < 0 && errno == EINTR)
        continue;
      if (r <= 0)
        continue;
      ssize_t n = ::read(errFd, buf, sizeof buf);
      if (n < 0 && (errno == EINTR || errno == EAGAIN))
        continue;
      if (n <= 0)
        break;
      std::lock_guard<std::mutex> lock(stderrMutex);
      stderrTail.append(buf, size_t(n));
      if (stderrTail.size() > 2 * stderrKeepBytes)
        stderrTail.erase(0, stderrTail.size() - stderrKeepBytes);
    }
    std::lock_guard<std::mutex> lock(stderrMutex);
    stderrDone = true;
    stderrCv.notify_all();
  }

  std::string stderrQuote() {
    std::unique_lock<std::mutex> lock(stderrMutex);
    stderrCv.wait_for(lock, std::chrono::milliseconds(stderrWaitMs),
                      [&] { return stderrDone; });
    std::string tail = tailOf(stderrTail, stderrQuoteBytes);
    return tail.empty() ? " (no stderr output)" : "; stderr: " + tail;
  }

  /// Marks the server unusable, stops it and returns the error.
  Error fail(ErrorCode code, const std::string &what) {
    std::string quote = stderrQuote();
    terminate();
    deadReason = "is not usable: it " + what;
    return Error(code, who() + " " + what + quote);
  }

  /// The server closed its output or its input: wait for its exit status.
  Error died(const std::string &method) {
    std::string how = "closed its output";
    int64_t until = nowMs() + exitWaitMs;
    while (pid > 0) {
      siginfo_t info;
      std::memset(&info, 0, sizeof info);
      if (::waitid(P_PID, id_t(pid), &info, WEXITED | WNOHANG | WNOWAIT) == 0 &&
          info.si_pid == pid) {
        if (info.si_code == CLD_EXITED)
          how = "exited with status " + std::to_string(info.si_status);
        else
          how = "was killed by signal " + std::to_string(info.si_status);
        break;
      }
      if (nowMs() >= until)
        break;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return fail(ErrorCode::Tool,
                how + (initialized ? " during '" : " while starting ('") +
                    method + (initialized ? "'" : "')"));
  }

  Error timedOut(const std::string &method) {
    terminate();
    deadReason = "is not usable: it was stopped after not answering '" +
                 method + "' in time";
    std::string stray =
        strayLines == 0
            ? ""
            : "; it printed " + std::to_string(strayLines) +
                  " line(s) that are not JSON-RPC, the last (" + lastStray +
                  ")";
    return Error(ErrorCode::Timeout, who() + " did not answer '" + method +
                                         "' within " +
                                         std::to_string(config.timeoutMs) +
                                         " ms; the server was stopped" +
                                         stray);
  }

  /// Reads what stdout has into `inBuffer`, waiting until the deadline.
  Status readSome(int64_t deadline, const std::string &method) {
    while (true) {
      int wait = -1;
      if (deadline >= 0) {
        int64_t left = deadline - nowMs();
        if (left <= 0)
          return timedOut(method);
        wait = int(std::min<int64_t>(left, 1000));
      }
      struct pollfd p = {outFd, POLLIN, 0};
      int r = ::poll(&p, 1, wait);
      if (r < 0 && errno == EINTR)
        continue;
      if (r < 0)
        return fail(ErrorCode::Tool,
                    "could not be polled: " + errnoText(errno));
      if (r == 0)
        continue;
      char buf[65536];
      ssize_t n = ::read(outFd, buf, sizeof buf);
      if (n < 0 && (errno == EINTR || errno == EAGAIN))
        continue;
      if (n <= 0)
        return died(method);
      inBuffer.append(buf, size_t(n));
      return Status::success();
    }
  }

  /// Writes one message line, reading stdout meanwhile.
  Status writeLine(std::string text, int64_t deadline,
                   const std::string &method) {
    text.push_back('\n');
    size_t done = 0;
    SigpipeGuard guard;
    while (done < text.size()) {
      int wait = -1;
      if (deadline >= 0) {
        int64_t left = deadline - nowMs();
        if (left <= 0)
          return timedOut(method);
        wait = int(std::min<int64_t>(left, 1000));
      }
      struct pollfd p[2] = {{inFd, POLLOUT, 0}, {outFd, POLLIN, 0}};
      int r = ::poll(p, 2, wait);
      if (r < 0 && errno == EINTR)
        continue;
      if (r < 0)
        return fail(ErrorCode::Tool,
                    "could not be polled: " + errnoText(errno));
      if (p[1].revents & (POLLIN | POLLHUP)) {
        char buf[65536];
        ssize_t n = ::read(outFd, buf, sizeof buf);
        if (n == 0)
          return died(method);
        if (n > 0)
          inBuffer.append(buf, size_t(n));
      }
      if (p[0].revents & (POLLERR | POLLHUP))
        return died(method);
      if (p[0].revents & POLLOUT) {
        ssize_t n = ::write(inFd, text.data() + done, text.size() - done);
        if (n < 0 && errno == EPIPE)
          return died(method);
        if (n < 0 && errno != EINTR && errno != EAGAIN)
          return fail(ErrorCode::Tool,
                      "could not be written to: " + errnoText(errno));
        if (n > 0)
          done += size_t(n);
      }
    }
    return Status::success();
  }

  /// Kills the process group at once and reaps the server.
  void terminate() {
    if (inFd >= 0) {
      ::close(inFd);
      inFd = -1;
    }
    if (pid > 0) {
      ::kill(-pid, SIGKILL);
      int status = 0;
      while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
      }
      pid = -1;
    }
    stopReaders();
  }

  void stopReaders() {
    stopStderr.store(true);
    if (stderrThread.joinable())
      stderrThread.join();
    if (errFd >= 0) {
      ::close(errFd);
      errFd = -1;
    }
    if (outFd >= 0) {
      ::close(outFd);
      outFd = -1;
    }
  }

  /// Closes stdin, gives the server its grace period, then kills the group
  /// (stragglers included) and reaps it.
  void shutdown() {
    if (inFd >= 0) {
      ::close(inFd);
      inFd = -1;
    }
    if (pid > 0) {
      int64_t until = nowMs() + closeGraceMs;
      while (nowMs() < until) {
        siginfo_t info;
        std::memset(&info, 0, sizeof info);
        if (::waitid(P_PID, id_t(pid), &info, WEXITED | WNOHANG | WNOWAIT) ==
                0 &&
            info.si_pid == pid)
          break;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
      // The unreaped leader keeps the group id from being reused.
      ::kill(-pid, SIGKILL);
      int status = 0;
      while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
      }
      pid = -1;
    }
    stopReaders();
  }
};

//===----------------------------------------------------------------------===//
// Streamable HTTP
//===----------------------------------------------------------------------===//

class HttpClient final : public McpClient::Impl {
public:
  HttpClient(McpServerConfig config, HttpTransport *transport)
      : Impl(std::move(config)), http(transport) {
    if (!http) {
      ownTransport = makeHttpTransport();
      http = ownTransport.get();
    }
  }

  ~HttpClient() override {
    if (sessionId.empty())
      return;
    HttpRequest request;
    request.method = "DELETE";
    request.url = config.url;
    request.headers = {{"Mcp-Session-Id", sessionId}};
    if (!protocolVersion.empty())
      request.headers.emplace_back("MCP-Protocol-Version", protocolVersion);
    request.timeoutMs = 1000;
    (void)http->send(request); // Best effort: the server may not care.
  }

protected:
  Expected<Json> roundTrip(const Json &msg, int64_t id,
                           const std::string &method) override {
    auto reply = post(msg, method);
    if (!reply)
      return reply.error();
    HttpResponse &response = *reply;
    std::string sid = response.header("mcp-session-id");
    if (!sid.empty() && sessionId.empty())
      sessionId = sid;
    if (id < 0)
      return Json();

    std::vector<Json> messages;
    std::string type = response.header("content-type");
    std::transform(type.begin(), type.end(), type.begin(),
                   [](unsigned char c) { return char(std::tolower(c)); });
    if (type.rfind("text/event-stream", 0) == 0) {
      for (const std::string &data : sseData(response.body))
        if (auto payload = parseJson(data))
          for (Json &m : messagesIn(std::move(*payload)))
            messages.push_back(std::move(m));
    } else if (auto payload = parseJson(response.body)) {
      messages = messagesIn(std::move(*payload));
    } else {
      return Error(ErrorCode::Tool,
                   who() + ": the reply to '" + method +
                       "' is not JSON: " + tailOf(response.body, 300));
    }
    Json found;
    std::vector<Json> replies;
    bool have = false;
    for (const Json &m : messages)
      have = handleIncoming(m, id, found, replies) || have;
    for (const Json &r : replies)
      (void)post(r, method); // Answers to server pings: best effort.
    if (have)
      return found;
    return Error(ErrorCode::Tool, who() + ": the reply to '" + method +
                                      "' holds no response with id " +
                                      std::to_string(id));
  }

private:
  HttpTransport *http = nullptr;
  std::unique_ptr<HttpTransport> ownTransport;
  std::string sessionId;

  /// POSTs one message; a status other than 2xx is an error unless the
  /// body is a JSON-RPC error response (returned as a 200 would be).
  Expected<HttpResponse> post(const Json &msg, const std::string &method) {
    HttpRequest request;
    request.method = "POST";
    request.url = config.url;
    request.headers = {{"Content-Type", "application/json"},
                       {"Accept", "application/json, text/event-stream"}};
    if (!sessionId.empty())
      request.headers.emplace_back("Mcp-Session-Id", sessionId);
    if (!protocolVersion.empty())
      request.headers.emplace_back("MCP-Protocol-Version", protocolVersion);
    request.body = msg.dump();
    request.timeoutMs = config.timeoutMs > 0 ? config.timeoutMs : 0;
    auto reply = http->send(request);
    if (!reply)
      return Error(reply.error().code,
                   who() + ": '" + method + "': " + reply.error().message);
    int status = reply->status;
    if (status >= 200 && status < 300)
      return reply;
    if (auto body = parseJson(reply->body))
      if (isResponse(*body) && body->contains("error") && msg.contains("id") &&
          (*body)["id"] == msg["id"]) {
        reply->status = 200;
        reply->headers.emplace_back("Content-Type", "application/json");
        return reply;
      }
    std::string detail = tailOf(reply->body, 300);
    std::string text = who() + ": '" + method + "' got HTTP status " +
                       std::to_string(status) +
                       (detail.empty() ? "" : ": " + detail);
    if (status == 404 && !sessionId.empty())
      text += " (the session has ended)";
    if (config.transport == "sse" && !initialized &&
        (status == 404 || status == 405))
      text += " (the legacy HTTP+SSE transport is not supported; the server "
              "must accept Streamable HTTP POSTs at this URL)";
    return Error(ErrorCode::HttpStatus, text);
  }
};

} // namespace

//===----------------------------------------------------------------------===//
// McpClient
//===----------------------------------------------------------------------===//

McpClient::McpClient(std::unique_ptr<Impl> impl) : impl(std::move(impl)) {}
McpClient::~McpClient() = default;

Expected<std::unique_ptr<McpClient>>
McpClient::connect(const McpServerConfig &config, HttpTransport *http) {
  std::string transport = config.transport;
  if (transport.empty())
    transport = config.url.empty() ? "stdio" : "http";
  std::unique_ptr<Impl> impl;
  if (transport == "stdio") {
    auto stdio = std::make_unique<StdioClient>(config);
    Status started = stdio->start();
    if (!started)
      return started.error();
    impl = std::move(stdio);
  } else if (transport == "http" || transport == "sse") {
    if (config.url.empty())
      return Error(ErrorCode::InvalidInput,
                   "mcp server '" + config.name + "': no url");
    impl = std::make_unique<HttpClient>(config, http);
  } else {
    return Error(ErrorCode::InvalidInput,
                 "mcp server '" + config.name + "': unknown transport '" +
                     transport + "' (expected stdio, http or sse)");
  }
  impl->config.transport = transport;
  {
    std::lock_guard<std::mutex> lock(impl->mutex);
    Status ok = impl->initialize();
    if (!ok)
      return ok.error();
  }
  return std::unique_ptr<McpClient>(new McpClient(std::move(impl)));
}

const std::string &McpClient::name() const { return impl->config.name; }
const Json &McpClient::serverInfo() const { return impl->serverInfo; }
const std::string &McpClient::protocolVersion() const {
  return impl->protocolVersion;
}

Expected<Json> McpClient::request(const std::string &method, Json params) {
  std::lock_guard<std::mutex> lock(impl->mutex);
  return impl->call(method, params);
}

Expected<std::vector<McpTool>> McpClient::listToolDetails() {
  std::lock_guard<std::mutex> lock(impl->mutex);
  std::vector<McpTool> tools;
  std::string cursor;
  for (int page = 0; page < maxPages; ++page) {
    Json params = Json::object();
    if (!cursor.empty())
      params["cursor"] = cursor;
    auto reply = impl->exchange("tools/list", params);
    if (!reply)
      return reply.error();
    if (reply->contains("error")) {
      // A server without tools may not know the method at all.
      if (page == 0 && !impl->capabilities.contains("tools"))
        return tools;
      return Error(ErrorCode::Tool, impl->who() + ": 'tools/list' failed: " +
                                        rpcErrorText((*reply)["error"]));
    }
    Json *result = reply->contains("result") ? &(*reply)["result"] : nullptr;
    if (!result || !result->is_object())
      return Error(ErrorCode::Tool,
                   impl->who() + ": the tools/list result is not an object");
    if (result->contains("tools") && (*result)["tools"].is_array()) {
      for (const Json &t : (*result)["tools"]) {
        if (!t.is_object() || !t.contains("name") || !t["name"].is_string())
          continue;
        McpTool tool;
        tool.spec.name = t["name"].get<std::string>();
        if (t.contains("description") && t["description"].is_string())
          tool.spec.description = t["description"].get<std::string>();
        tool.spec.inputSchema =
            t.contains("inputSchema") && t["inputSchema"].is_object()
                ? t["inputSchema"]
                : Json{{"type", "object"}};
        if (t.contains("annotations") && t["annotations"].is_object())
          tool.annotations = t["annotations"];
        tools.push_back(std::move(tool));
      }
    }
    std::string next;
    if (result->contains("nextCursor") && (*result)["nextCursor"].is_string())
      next = (*result)["nextCursor"].get<std::string>();
    if (next.empty() || next == cursor)
      return tools;
    cursor = next;
  }
  return Error(ErrorCode::Tool, impl->who() +
                                    ": tools/list did not end after " +
                                    std::to_string(maxPages) + " pages");
}

Expected<std::vector<ToolSpec>> McpClient::listTools() {
  auto details = listToolDetails();
  if (!details)
    return details.error();
  std::vector<ToolSpec> specs;
  for (McpTool &tool : *details)
    specs.push_back(std::move(tool.spec));
  return specs;
}

Expected<Json> McpClient::callTool(const std::string &name,
                                   const Json &arguments) {
  std::lock_guard<std::mutex> lock(impl->mutex);
  Json params = {
      {"name", name},
      {"arguments", arguments.is_null() ? Json::object() : arguments}};
  auto reply = impl->exchange("tools/call", params);
  if (!reply)
    return reply.error();
  if (reply->contains("error"))
    return Json{{"error", rpcErrorText((*reply)["error"])}};
  return toolResultValue(reply->contains("result") ? (*reply)["result"]
                                                   : Json::object());
}

//===----------------------------------------------------------------------===//
// McpToolbox
//===----------------------------------------------------------------------===//

Status McpToolbox::add(std::unique_ptr<McpClient> client) {
  if (!client)
    return Error(ErrorCode::Internal, "no mcp client");
  auto tools = client->listToolDetails();
  if (!tools)
    return tools.error();
  std::lock_guard<std::mutex> lock(mutex);
  for (McpTool &tool : *tools) {
    Entry entry;
    entry.client = client.get();
    entry.server = client->name();
    entry.tool = std::move(tool);
    entry.tool.spec.name = "mcp." + client->name() + "." + entry.tool.spec.name;
    if (byName.count(entry.tool.spec.name))
      continue; // A server listing a name twice: the first one wins.
    byName[entry.tool.spec.name] = entries.size();
    entries.push_back(std::move(entry));
  }
  clients.push_back(std::move(client));
  return Status::success();
}

Expected<std::unique_ptr<McpToolbox>>
McpToolbox::connectAll(const std::vector<McpServerConfig> &servers,
                       HttpTransport *http) {
  auto box = std::make_unique<McpToolbox>();
  for (const McpServerConfig &server : servers) {
    auto client = McpClient::connect(server, http);
    if (!client)
      return client.error();
    Status added = box->add(std::move(*client));
    if (!added)
      return added.error();
  }
  return box;
}

const McpToolbox::Entry *McpToolbox::lookup(const std::string &name) {
  std::lock_guard<std::mutex> lock(mutex);
  auto it = byName.find(name);
  return it == byName.end() ? nullptr : &entries[it->second];
}

std::optional<ToolSpec> McpToolbox::find(const std::string &name) {
  const Entry *entry = lookup(name);
  if (!entry)
    return std::nullopt;
  return entry->tool.spec;
}

std::vector<ToolSpec> McpToolbox::expand(const std::string &pattern) {
  std::vector<ToolSpec> specs;
  std::lock_guard<std::mutex> lock(mutex);
  if (pattern.size() >= 2 &&
      pattern.compare(pattern.size() - 2, 2, ".*") == 0) {
    std::string prefix = pattern.substr(0, pattern.size() - 1); // "mcp.s."
    for (const Entry &entry : entries)
      if (entry.tool.spec.name.compare(0, prefix.size(), prefix) == 0)
        specs.push_back(entry.tool.spec);
    return specs;
  }
  auto it = byName.find(pattern);
  if (it != byName.end())
    specs.push_back(entries[it->second].tool.spec);
  return specs;
}

Expected<Json> McpToolbox::call(const std::string &name,
                                const Json &arguments) {
  const Entry *entry = lookup(name);
  if (!entry)
    return Error(ErrorCode::Tool, "unknown MCP tool '" + name + "'");
  std::string toolName = entry->tool.spec.name.substr(
      std::string("mcp.").size() + entry->server.size() + 1);
  return entry->client->callTool(toolName, arguments);
}

bool McpToolbox::mutates(const std::string &name) {
  const Entry *entry = lookup(name);
  return !entry || !entry->tool.readOnly();
}
