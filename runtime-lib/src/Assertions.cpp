//===- Assertions.cpp - Assertions written at run time --------------------===//
//
// This file implements checkAssertions (see Assertions.h): each assertion
// is validated against the built-in schema, then checked against a tool's
// captured result, a workspace file, a node's output or one of the
// workflow's services.
//
//===----------------------------------------------------------------------===//
#include "Assertions.h"

#include "Verify.h"

#include <cctype>
#include <cstring>
#include <fcntl.h>
#include <regex.h>
#include <sys/stat.h>
#include <unistd.h>

using namespace iterc::rt;
using iterc::rt::verify::AssertionEnv;

namespace {

constexpr size_t kMaxAssertions = 100;
constexpr size_t kMaxPattern = 256;
constexpr size_t kMaxMatchedText = 256 * 1024;
constexpr size_t kMaxFile = 1024 * 1024;
constexpr size_t kMaxHttpPath = 2048;
constexpr int64_t kHttpTimeoutMs = 10000;

const char *const kKinds =
    "exit_code, stdout_contains, stdout_matches, stderr_contains, "
    "stderr_matches, file_exists, file_contains, file_matches, json_equals, "
    "http_status, http_body_contains";

/// What one assertion found: nothing when it holds, else expected/actual.
struct Verdict {
  bool holds = true;
  std::string expected;
  std::string actual;
};

Verdict holds() { return Verdict(); }
Verdict fails(std::string expected, std::string actual) {
  return Verdict{false, std::move(expected), std::move(actual)};
}

/// The last `max` bytes of text (at a UTF-8 boundary), "..." before when
/// cut: the end of a test run's output says the most.
std::string tail(const std::string &text, size_t max = 200) {
  if (text.size() <= max)
    return text;
  size_t start = text.size() - max;
  while (start < text.size() &&
         (static_cast<unsigned char>(text[start]) & 0xC0) == 0x80)
    ++start;
  return "..." + text.substr(start);
}

std::string inQuotes(const std::string &text) {
  return "'" + verify::clipText(text, 200) + "'";
}

class FdGuard {
public:
  explicit FdGuard(int fd = -1) : fd(fd) {}
  ~FdGuard() {
    if (fd >= 0)
      ::close(fd);
  }
  FdGuard(const FdGuard &) = delete;
  FdGuard &operator=(const FdGuard &) = delete;
  void reset(int next) {
    if (fd >= 0)
      ::close(fd);
    fd = next;
  }
  int get() const { return fd; }

private:
  int fd;
};

/// A workspace file, reached component by component with O_NOFOLLOW so
/// that no absolute path, `..` or symlink leads out of the workspace.
struct ConfinedFile {
  bool exists = false;
  std::string content; ///< When read.
  std::string problem; ///< Why it cannot be used (refused, unreadable).
};

ConfinedFile openConfined(const std::string &workspace, const std::string &path,
                          bool read) {
  ConfinedFile out;
  if (path.empty() || path.find('\0') != std::string::npos) {
    out.problem = "an empty path or one with a NUL byte";
    return out;
  }
  if (path.front() == '/') {
    out.problem = "an absolute path (paths are relative to the workspace)";
    return out;
  }
  std::vector<std::string> parts;
  size_t begin = 0;
  while (begin <= path.size()) {
    size_t end = path.find('/', begin);
    if (end == std::string::npos)
      end = path.size();
    std::string part = path.substr(begin, end - begin);
    if (part == "..") {
      out.problem = "a path with '..' (paths stay inside the workspace)";
      return out;
    }
    if (!part.empty() && part != ".")
      parts.push_back(part);
    begin = end + 1;
  }
  if (parts.empty()) {
    out.problem = "the workspace itself, not a file";
    return out;
  }
  FdGuard dir(::open(workspace.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dir.get() < 0) {
    out.problem =
        "the workspace cannot be opened: " + std::string(std::strerror(errno));
    return out;
  }
  for (size_t i = 0; i + 1 < parts.size(); ++i) {
    int next = ::openat(dir.get(), parts[i].c_str(),
                        O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (next < 0) {
      if (errno != ENOENT)
        out.problem = "a path through a symlink or a non-directory";
      return out; // Missing: does not exist.
    }
    dir.reset(next);
  }
  struct stat st;
  if (::fstatat(dir.get(), parts.back().c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0)
    return out;
  if (S_ISLNK(st.st_mode)) {
    out.problem = "a symlink (not followed)";
    return out;
  }
  out.exists = true;
  if (!read)
    return out;
  if (!S_ISREG(st.st_mode)) {
    out.problem = "not a regular file";
    return out;
  }
  FdGuard fd(::openat(dir.get(), parts.back().c_str(),
                      O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
  if (fd.get() < 0 || ::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode)) {
    out.problem = "not a readable regular file";
    return out;
  }
  if (size_t(st.st_size) > kMaxFile) {
    out.problem = "larger than " + std::to_string(kMaxFile) + " bytes";
    return out;
  }
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      out.problem = "unreadable: " + std::string(std::strerror(errno));
      return out;
    }
    if (n == 0)
      break;
    out.content.append(buf, size_t(n));
    if (out.content.size() > kMaxFile) {
      out.problem = "larger than " + std::to_string(kMaxFile) + " bytes";
      return out;
    }
  }
  return out;
}

/// Whether `text` matches the POSIX extended regular expression `pattern`
/// (^ and $ also match at line ends); nullopt and `problem` for a pattern
/// refused or invalid. Back-references (`\1`), which can take exponential
/// time, are refused, and at most kMaxMatchedText bytes are searched.
std::optional<bool> matches(const std::string &pattern, const std::string &text,
                            std::string &problem) {
  if (pattern.empty() || pattern.size() > kMaxPattern ||
      pattern.find('\0') != std::string::npos) {
    problem = "a pattern of 1 to " + std::to_string(kMaxPattern) + " bytes";
    return std::nullopt;
  }
  for (size_t i = 0; i + 1 < pattern.size(); ++i) {
    if (pattern[i] != '\\')
      continue;
    if (std::isdigit(static_cast<unsigned char>(pattern[i + 1]))) {
      problem = "a pattern without back-references";
      return std::nullopt;
    }
    ++i;
  }
  regex_t re;
  int rc =
      ::regcomp(&re, pattern.c_str(), REG_EXTENDED | REG_NOSUB | REG_NEWLINE);
  if (rc != 0) {
    char message[256];
    ::regerror(rc, &re, message, sizeof message);
    problem = std::string("a valid POSIX extended pattern (") + message + ")";
    return std::nullopt;
  }
  std::string subject = text.substr(0, kMaxMatchedText);
  bool hit = ::regexec(&re, subject.c_str(), 0, nullptr, 0) == 0;
  ::regfree(&re);
  return hit;
}

/// The string member `key` of an assertion, or nullopt.
std::optional<std::string> stringField(const Json &a, const char *key) {
  auto it = a.find(key);
  if (it == a.end() || !it->is_string())
    return std::nullopt;
  return it->get<std::string>();
}

/// A malformed assertion: what was expected of its fields.
Verdict malformed(const std::string &what) {
  return fails("an assertion with " + what, "a malformed assertion");
}

Verdict checkToolStream(const Json &a, const std::string &kind,
                        const AssertionEnv &env) {
  std::optional<std::string> target = stringField(a, "target");
  if (!target || target->empty())
    return malformed("'target' naming a tool node");
  std::string stream = kind.substr(0, kind.find('_')); // stdout, stderr, exit
  std::string field = stream == "exit" ? "exit_code" : stream;
  std::optional<Json> value =
      env.scope ? env.scope->get(RefNs::Outputs, {*target, field})
                : std::nullopt;
  std::string of = field + " of '" + verify::clipText(*target, 80) + "'";
  if (kind == "exit_code") {
    auto expected = a.find("expected");
    if (expected == a.end() || !expected->is_number_integer())
      return malformed("an integer 'expected' exit code");
    std::string want = of + " = " + expected->dump();
    if (!value || !value->is_number_integer())
      return fails(want, "no exit code: '" + *target +
                             "' has not run or does not capture its result");
    if (*value != *expected)
      return fails(want, "exit code " + value->dump());
    return holds();
  }
  std::optional<std::string> expected = stringField(a, "expected");
  bool regex = kind.size() > 8 && kind.substr(kind.size() - 8) == "_matches";
  if (!expected)
    return malformed(regex ? "a pattern as 'expected'"
                           : "a text as 'expected'");
  std::string want =
      of + (regex ? " matching " : " containing ") + inQuotes(*expected);
  if (!value || !value->is_string())
    return fails(want, "no " + field + ": '" + *target +
                           "' has not run or does not capture its result");
  const std::string &text = value->get_ref<const std::string &>();
  // A stream the tool's cap cut says so: what was looked for may be in
  // the part that was not kept.
  std::string cut;
  std::optional<Json> truncated =
      env.scope->get(RefNs::Outputs, {*target, field + "_truncated"});
  if (truncated && *truncated == true) {
    std::optional<Json> total =
        env.scope->get(RefNs::Outputs, {*target, field + "_bytes"});
    cut = " (truncated: the first " + std::to_string(text.size()) + " of " +
          (total ? total->dump() : std::string("more")) +
          " bytes were kept; raise the tool's max_output)";
  }
  if (regex) {
    std::string problem;
    std::optional<bool> hit = matches(*expected, text, problem);
    if (!hit)
      return malformed(problem);
    return *hit ? holds() : fails(want, field + cut + ": " + tail(text));
  }
  return text.find(*expected) != std::string::npos
             ? holds()
             : fails(want, field + cut + ": " + tail(text));
}

Verdict checkFile(const Json &a, const std::string &kind,
                  const AssertionEnv &env) {
  std::optional<std::string> target = stringField(a, "target");
  if (!target)
    return malformed("'target' naming a file in the workspace");
  std::string file = "file " + inQuotes(*target);
  if (kind == "file_exists") {
    ConfinedFile f = openConfined(env.workspace, *target, false);
    if (!f.problem.empty())
      return fails(file + " existing", "refused: " + f.problem);
    return f.exists ? holds() : fails(file + " existing", "no such file");
  }
  std::optional<std::string> expected = stringField(a, "expected");
  bool regex = kind == "file_matches";
  if (!expected)
    return malformed(regex ? "a pattern as 'expected'"
                           : "a text as 'expected'");
  std::string want =
      file + (regex ? " matching " : " containing ") + inQuotes(*expected);
  ConfinedFile f = openConfined(env.workspace, *target, true);
  if (!f.problem.empty())
    return fails(want, "refused: " + f.problem);
  if (!f.exists)
    return fails(want, "no such file");
  if (regex) {
    std::string problem;
    std::optional<bool> hit = matches(*expected, f.content, problem);
    if (!hit)
      return malformed(problem);
    return *hit ? holds() : fails(want, "content: " + tail(f.content));
  }
  return f.content.find(*expected) != std::string::npos
             ? holds()
             : fails(want, "content: " + tail(f.content));
}

Verdict checkJson(const Json &a, const AssertionEnv &env) {
  std::optional<std::string> target = stringField(a, "target");
  auto expected = a.find("expected");
  if (!target || target->empty() || expected == a.end())
    return malformed("'target' (node.field...) and 'expected'");
  std::vector<std::string> path;
  size_t begin = 0;
  while (begin <= target->size()) {
    size_t end = target->find('.', begin);
    if (end == std::string::npos)
      end = target->size();
    path.push_back(target->substr(begin, end - begin));
    begin = end + 1;
  }
  std::optional<Json> value =
      env.scope ? env.scope->get(RefNs::Outputs, path) : std::nullopt;
  std::string want = "outputs." + verify::clipText(*target, 120) + " = " +
                     verify::shortText(*expected);
  if (!value)
    return fails(want, "no such output");
  return expr::truthy(expr::eq(*value, *expected))
             ? holds()
             : fails(want, verify::shortText(*value));
}

Verdict checkHttp(const Json &a, const std::string &kind,
                  const AssertionEnv &env) {
  std::optional<std::string> service = stringField(a, "service");
  std::optional<std::string> path = stringField(a, "target");
  if (!service || service->empty())
    return malformed("'service' naming one of the workflow's services");
  if (!path || path->empty() || path->front() != '/' ||
      path->size() > kMaxHttpPath)
    return malformed("'target', a path starting with '/'");
  for (unsigned char c : *path)
    if (c <= 0x20 || c == 0x7f)
      return malformed("'target', a path without spaces or control bytes");
  auto expected = a.find("expected");
  bool status = kind == "http_status";
  if (expected == a.end() ||
      (status ? !expected->is_number_integer() : !expected->is_string()))
    return malformed(status ? "an integer 'expected' status"
                            : "a text as 'expected'");
  std::string where =
      verify::clipText(*service, 80) + " " + verify::clipText(*path, 200);
  std::string want =
      status ? "GET " + where + " answering HTTP " + expected->dump()
             : "GET " + where + " answering a body containing " +
                   inQuotes(expected->get<std::string>());
  std::string why;
  std::optional<std::string> base =
      env.serviceUrl ? env.serviceUrl(*service, why) : std::nullopt;
  if (!base)
    return fails(want, why.empty() ? "no such service" : why);
  if (!env.http)
    return fails(want, "no HTTP client configured");
  HttpRequest request;
  request.method = "GET";
  request.url = *base + *path;
  request.timeoutMs = kHttpTimeoutMs;
  Expected<HttpResponse> response = env.http->send(request);
  if (!response)
    return fails(want, response.error().message);
  std::string got = "HTTP " + std::to_string(response->status);
  std::string excerpt = verify::clipText(response->body, 200);
  if (status)
    return response->status == expected->get<int64_t>()
               ? holds()
               : fails(want, got + (excerpt.empty() ? "" : ": " + excerpt));
  return response->body.find(expected->get<std::string>()) != std::string::npos
             ? holds()
             : fails(want, got + ": " + excerpt);
}

Verdict checkOne(const Json &a, const AssertionEnv &env) {
  std::optional<std::string> kind = stringField(a, "kind");
  if (!kind)
    return malformed(std::string("a 'kind' (") + kKinds + ")");
  if (*kind == "exit_code" || *kind == "stdout_contains" ||
      *kind == "stdout_matches" || *kind == "stderr_contains" ||
      *kind == "stderr_matches")
    return checkToolStream(a, *kind, env);
  if (*kind == "file_exists" || *kind == "file_contains" ||
      *kind == "file_matches")
    return checkFile(a, *kind, env);
  if (*kind == "json_equals")
    return checkJson(a, env);
  if (*kind == "http_status" || *kind == "http_body_contains")
    return checkHttp(a, *kind, env);
  return fails(std::string("an assertion with a known 'kind' (") + kKinds + ")",
               "kind " + inQuotes(*kind));
}

} // namespace

void verify::checkAssertions(const Json &given, const AssertionEnv &env,
                             Json &failures) {
  Json list = given;
  if (list.is_string())
    list = parseJson(given.get<std::string>()).value_or(given);
  if (!list.is_array() || list.empty()) {
    failures.push_back(failure("assertions", "a non-empty list of assertions",
                               shortText(given)));
    return;
  }
  for (size_t i = 0; i < list.size(); ++i) {
    std::string label = "assertions[" + std::to_string(i) + "]";
    if (i == kMaxAssertions) {
      failures.push_back(failure(
          label, "at most " + std::to_string(kMaxAssertions) + " assertions",
          std::to_string(list.size()) + " assertions"));
      return;
    }
    const Json &a = list[i];
    if (!a.is_object()) {
      failures.push_back(failure(label, "an assertion object", shortText(a)));
      continue;
    }
    if (std::optional<std::string> name = stringField(a, "name");
        name && !name->empty())
      label = clipText(*name, 80);
    Verdict v = checkOne(a, env);
    if (!v.holds)
      failures.push_back(failure(label, v.expected, v.actual));
  }
}
