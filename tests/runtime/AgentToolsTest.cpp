//===- AgentToolsTest.cpp - Tests for the built-in agent tools ------------===//
//
// This file tests the built-in workspace tools an agent can call (reading,
// listing, tree, search, writing, patching, commands, git) in a temporary
// workspace: their happy paths, their caps, their confinement to the
// workspace (absolute paths, `..`, symlinks leading out), failures reported
// as `{"error": ...}` data, the specs they advertise, which of them mutate
// the workspace, and the order in which a ToolboxChain consults its boxes.
//
//===----------------------------------------------------------------------===//
#include "iterc/rt/AgentTools.h"

#include "BuiltinToolsFixture.h"
#include "RuntimeTestUtil.h"

#include <catch2/catch.hpp>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

using namespace iterc::rt;
using iterc::rt::test::TempDir;

namespace {


void writeText(const std::string &path, const std::string &text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
  REQUIRE(out.good());
}

std::string readText(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

void makeDir(const std::string &path) {
  REQUIRE(::mkdir(path.c_str(), 0755) == 0);
}

void makeLink(const std::string &target, const std::string &link) {
  REQUIRE(::symlink(target.c_str(), link.c_str()) == 0);
}

using Fixture = iterc::rt::test::BuiltinToolsFixture;

bool contains(const std::string &text, const std::string &part) {
  return text.find(part) != std::string::npos;
}

bool haveGit() { return std::system("git --version >/dev/null 2>&1") == 0; }

/// A toolbox with fixed tools, recording its calls.
class FakeToolbox : public Toolbox {
public:
  FakeToolbox(std::string tag, std::vector<std::string> names, bool mut)
      : tag(std::move(tag)), names(std::move(names)), mut(mut) {}
  std::optional<ToolSpec> find(const std::string &name) override {
    for (const std::string &n : names)
      if (n == name)
        return ToolSpec{name, tag, Json{{"type", "object"}}};
    return std::nullopt;
  }
  std::vector<ToolSpec> expand(const std::string &pattern) override {
    std::vector<ToolSpec> result;
    if (pattern == "*")
      for (const std::string &n : names)
        result.push_back({n, tag, Json{{"type", "object"}}});
    return result;
  }
  Expected<Json> call(const std::string &name, const Json &) override {
    ++calls;
    return Json(tag + ":" + name);
  }
  bool mutates(const std::string &) override { return mut; }

  std::string tag;
  std::vector<std::string> names;
  bool mut;
  int calls = 0;
};

} // namespace

TEST_CASE("builtin tool specs, find and mutates", "[agenttools]") {
  Fixture f;
  const char *names[] = {"read_file",       "list_files", "tree",
                         "search_codebase", "write_file", "patch",
                         "run_command",     "git_diff",   "git_status"};
  for (const char *name : names) {
    INFO(name);
    std::optional<ToolSpec> spec = f.tools->find(name);
    REQUIRE(spec);
    CHECK(spec->name == name);
    CHECK(!spec->description.empty());
    REQUIRE(spec->inputSchema.is_object());
    CHECK(spec->inputSchema["type"] == "object");
    REQUIRE(spec->inputSchema["properties"].is_object());
    for (const auto &[key, value] : spec->inputSchema["properties"].items()) {
      INFO(key);
      CHECK(value.contains("type"));
      CHECK(value.contains("description"));
    }
    // The schema survives a round trip through text.
    std::optional<Json> parsed = parseJson(spec->inputSchema.dump());
    REQUIRE(parsed);
    CHECK(*parsed == spec->inputSchema);
  }
  CHECK(f.tools->find("read_file")->inputSchema["required"] ==
        Json::array({"path"}));
  CHECK(!f.tools->find("nope"));
  CHECK(!f.tools->find("mcp.x.read_file"));

  CHECK(f.tools->mutates("write_file"));
  CHECK(f.tools->mutates("patch"));
  CHECK(f.tools->mutates("run_command"));
  for (const char *name : {"read_file", "list_files", "tree", "search_codebase",
                           "git_diff", "git_status"}) {
    INFO(name);
    CHECK(!f.tools->mutates(name));
  }

  Expected<Json> unknown = f.tools->call("nope", Json::object());
  REQUIRE(!unknown.ok());
  CHECK(unknown.error().code == ErrorCode::Tool);
  CHECK(contains(unknown.error().message, "nope"));
  CHECK(f.tools->expand("*").empty());
}

TEST_CASE("bad arguments are data, not errors", "[agenttools]") {
  Fixture f;
  CHECK(contains(f.error("read_file", Json::object()), "path"));
  CHECK(contains(f.error("read_file", {{"path", 42}}), "string"));
  CHECK(contains(f.error("read_file", Json::array({1})), "object"));
  CHECK(contains(f.error("write_file", {{"path", "a.txt"}}), "content"));
  CHECK(contains(f.error("patch", {{"path", "a.txt"}, {"new", "x"}}), "old"));
  CHECK(contains(f.error("search_codebase", {{"pattern", ""}}), "pattern"));
  CHECK(contains(f.error("tree", {{"depth", "deep"}}), "integer"));
  CHECK(contains(f.error("run_command", Json::object()), "command"));
  // Null arguments are an empty object.
  CHECK(f.call("list_files", Json()).is_string());
}

TEST_CASE("read_file reads, slices and caps", "[agenttools]") {
  Fixture f;
  writeText(f.ws / "a.txt", "one\ntwo\nthree\nfour\n");
  CHECK(f.text("read_file", {{"path", "a.txt"}}) == "one\ntwo\nthree\nfour\n");
  CHECK(f.text("read_file", {{"path", "./a.txt"}}) ==
        "one\ntwo\nthree\nfour\n");
  CHECK(f.text("read_file", {{"path", "a.txt"}, {"offset", 2}}) ==
        "two\nthree\nfour\n");
  CHECK(f.text("read_file", {{"path", "a.txt"}, {"offset", 2}, {"limit", 2}}) ==
        "two\nthree\n");
  CHECK(f.text("read_file", {{"path", "a.txt"}, {"limit", 1}}) == "one\n");
  CHECK(contains(f.error("read_file", {{"path", "a.txt"}, {"offset", 9}}),
                 "past the end"));
  CHECK(contains(f.error("read_file", {{"path", "a.txt"}, {"offset", 0}}),
                 "offset"));

  // No trailing newline.
  writeText(f.ws / "b.txt", "x\ny");
  CHECK(f.text("read_file", {{"path", "b.txt"}, {"offset", 2}}) == "y");
  writeText(f.ws / "empty.txt", "");
  CHECK(f.text("read_file", {{"path", "empty.txt"}}).empty());

  makeDir(f.ws / "sub");
  writeText(f.ws / "sub/c.txt", "deep\n");
  CHECK(f.text("read_file", {{"path", "sub/c.txt"}}) == "deep\n");

  CHECK(contains(f.error("read_file", {{"path", "missing.txt"}}),
                 "No such file"));
  CHECK(contains(f.error("read_file", {{"path", "sub"}}), "directory"));
  writeText(f.ws / "bin.dat", std::string("ab\0cd", 5));
  CHECK(contains(f.error("read_file", {{"path", "bin.dat"}}), "binary"));

  // Invalid UTF-8 is replaced, so the result always serializes.
  writeText(f.ws / "latin1.txt", "caf\xe9\n");
  std::string latin = f.text("read_file", {{"path", "latin1.txt"}});
  CHECK(latin == "caf\xEF\xBF\xBD\n");
  CHECK_NOTHROW(Json(latin).dump());

  SECTION("the cap cuts at a line and says how to continue") {
    std::string line(1000, 'x');
    line += "\n";
    std::string big;
    for (int i = 0; i < 400; ++i)
      big += line; // 400400 bytes > 256 KiB
    writeText(f.ws / "big.txt", big);
    std::string text = f.text("read_file", {{"path", "big.txt"}});
    CHECK(text.size() < 256 * 1024 + 300);
    CHECK(contains(text, "[truncated"));
    // 262144 / 1001 = 261 whole lines.
    CHECK(contains(text, "lines 1-261"));
    CHECK(contains(text, "offset=262"));
    CHECK(text.substr(0, 261 * 1001) == big.substr(0, 261 * 1001));
    std::string rest =
        f.text("read_file", {{"path", "big.txt"}, {"offset", 262}});
    CHECK(!contains(rest, "[truncated"));
    CHECK(rest.size() == (400 - 261) * 1001);
  }
  SECTION("one huge line is cut too") {
    writeText(f.ws / "line.txt", std::string(300 * 1024, 'y'));
    std::string text = f.text("read_file", {{"path", "line.txt"}});
    CHECK(contains(text, "[truncated"));
    CHECK(text.size() < 256 * 1024 + 300);
  }
}

TEST_CASE("list_files and tree", "[agenttools]") {
  Fixture f;
  CHECK(f.text("list_files", Json::object()) == "(empty directory)");
  makeDir(f.ws / "src");
  makeDir(f.ws / "src/inner");
  makeDir(f.ws / "src/inner/deeper");
  makeDir(f.ws / "src/inner/deeper/deepest");
  writeText(f.ws / "src/inner/deeper/deepest/leaf.txt", "");
  writeText(f.ws / "src/main.cpp", "");
  writeText(f.ws / "b.txt", "");
  writeText(f.ws / "a.txt", "");
  makeDir(f.ws / ".git");
  writeText(f.ws / ".git/HEAD", "");

  CHECK(f.text("list_files", Json::object()) == ".git/\na.txt\nb.txt\nsrc/\n");
  CHECK(f.text("list_files", {{"path", "."}}) == ".git/\na.txt\nb.txt\nsrc/\n");
  CHECK(f.text("list_files", {{"path", "src"}}) == "inner/\nmain.cpp\n");
  CHECK(
      contains(f.error("list_files", {{"path", "a.txt"}}), "not a directory"));
  CHECK(contains(f.error("list_files", {{"path", "nope"}}), "No such"));

  CHECK(f.text("tree", Json::object()) == "./\n"
                                          "  a.txt\n"
                                          "  b.txt\n"
                                          "  src/\n"
                                          "    inner/\n"
                                          "      deeper/\n"
                                          "    main.cpp\n");
  CHECK(f.text("tree", {{"depth", 1}}) == "./\n  a.txt\n  b.txt\n  src/\n");
  CHECK(f.text("tree", {{"path", "src/inner"}, {"depth", 5}}) ==
        "src/inner/\n  deeper/\n    deepest/\n      leaf.txt\n");
  CHECK(contains(f.error("tree", {{"depth", 0}}), "depth"));

  SECTION("caps") {
    makeDir(f.ws / "many");
    for (int i = 0; i < 1100; ++i)
      writeText(f.ws / ("many/f" + std::to_string(10000 + i)), "");
    std::string list = f.text("list_files", {{"path", "many"}});
    CHECK(contains(list, "f10000\n"));
    CHECK(contains(list, "f10999\n"));
    CHECK(!contains(list, "f11000"));
    CHECK(contains(list, "100 more entries"));
    std::string tree = f.text("tree", {{"path", "many"}});
    CHECK(contains(tree, "[truncated after 1000 entries]"));
  }
}

TEST_CASE("search_codebase", "[agenttools]") {
  Fixture f;
  makeDir(f.ws / "src");
  writeText(f.ws / "src/a.cpp", "int main() {\n  return foo();\n}\n");
  writeText(f.ws / "src/b.h", "int foo();\r\nint bar();\n");
  writeText(f.ws / "notes.md", "call foo twice: foo foo\n");
  writeText(f.ws / "bin.o", std::string("foo\0\0\0", 6));
  makeDir(f.ws / ".git");
  writeText(f.ws / ".git/config", "foo\n");

  CHECK(f.text("search_codebase", {{"pattern", "foo"}}) ==
        "notes.md:1: call foo twice: foo foo\n"
        "src/a.cpp:2:   return foo();\n"
        "src/b.h:1: int foo();\n");
  CHECK(f.text("search_codebase", {{"pattern", "foo"}, {"path", "src"}}) ==
        "src/a.cpp:2:   return foo();\n"
        "src/b.h:1: int foo();\n");
  CHECK(f.text("search_codebase", {{"pattern", "foo"}, {"path", "src/b.h"}}) ==
        "src/b.h:1: int foo();\n");
  CHECK(
      contains(f.text("search_codebase", {{"pattern", "zzz"}}), "no matches"));
  // A plain search takes regex characters literally.
  CHECK(f.text("search_codebase", {{"pattern", "foo()"}}) ==
        "src/a.cpp:2:   return foo();\n"
        "src/b.h:1: int foo();\n");
  CHECK(
      contains(f.text("search_codebase", {{"pattern", "f.o"}}), "no matches"));

  SECTION("regex") {
    CHECK(f.text("search_codebase",
                 {{"pattern", "^int (foo|bar)\\(\\);$"}, {"regex", true}}) ==
          "src/b.h:1: int foo();\n"
          "src/b.h:2: int bar();\n");
    std::string bad =
        f.error("search_codebase", {{"pattern", "foo(("}, {"regex", true}});
    CHECK(contains(bad, "invalid regular expression"));
  }
  SECTION("at most 200 matches") {
    std::string many;
    for (int i = 0; i < 300; ++i)
      many += "needle " + std::to_string(i) + "\n";
    writeText(f.ws / "many.txt", many);
    std::string text = f.text("search_codebase", {{"pattern", "needle"}});
    size_t lines = size_t(std::count(text.begin(), text.end(), '\n'));
    CHECK(lines == 201); // 200 matches and the note
    CHECK(contains(text, "many.txt:200: needle 199\n"));
    CHECK(!contains(text, "needle 200"));
    CHECK(contains(text, "[stopped after 200 matches"));
  }
  SECTION("symlinks are not followed") {
    writeText(f.outside / "secret.txt", "foo secret\n");
    makeLink(f.outside.path(), f.ws / "escape");
    CHECK(!contains(f.text("search_codebase", {{"pattern", "secret"}}),
                    "secret.txt"));
    CHECK(contains(
        f.error("search_codebase", {{"pattern", "foo"}, {"path", "escape"}}),
        "outside the workspace"));
  }
}

TEST_CASE("write_file and patch", "[agenttools]") {
  Fixture f;
  Json r = f.call("write_file", {{"path", "dir/new.txt"}, {"content", "hi\n"}});
  CHECK(r["written"] == "dir/new.txt");
  CHECK(r["bytes"] == 3);
  CHECK(readText(f.ws / "dir/new.txt") == "hi\n");
  f.call("write_file", {{"path", "dir/new.txt"}, {"content", "bye\n"}});
  CHECK(readText(f.ws / "dir/new.txt") == "bye\n");
  CHECK(contains(f.error("write_file", {{"path", "."}, {"content", "x"}}),
                 "is a directory"));
  CHECK(contains(f.error("write_file", {{"path", "dir"}, {"content", "x"}}),
                 "is a directory"));

  writeText(f.ws / "code.py", "a = 1\nb = 2\nc = 1\n");
  Json p = f.call("patch",
                  {{"path", "code.py"}, {"old", "b = 2"}, {"new", "b = 3"}});
  CHECK(p["patched"] == "code.py");
  CHECK(p["line"] == 2);
  CHECK(readText(f.ws / "code.py") == "a = 1\nb = 3\nc = 1\n");

  std::string none =
      f.error("patch", {{"path", "code.py"}, {"old", "zzz"}, {"new", "y"}});
  CHECK(contains(none, "does not occur"));
  std::string twice =
      f.error("patch", {{"path", "code.py"}, {"old", " = 1"}, {"new", " = 9"}});
  CHECK(contains(twice, "occurs 2 times"));
  // Overlapping occurrences are ambiguous too.
  writeText(f.ws / "aaa.txt", "aaa");
  CHECK(contains(
      f.error("patch", {{"path", "aaa.txt"}, {"old", "aa"}, {"new", "b"}}),
      "occurs 2 times"));
  CHECK(readText(f.ws / "code.py") == "a = 1\nb = 3\nc = 1\n");
  CHECK(contains(
      f.error("patch", {{"path", "missing.py"}, {"old", "a"}, {"new", "b"}}),
      "No such"));
}

TEST_CASE("paths are confined to the workspace", "[agenttools]") {
  Fixture f;
  writeText(f.outside / "secret.txt", "top secret\n");
  makeDir(f.ws / "sub");
  writeText(f.ws / "sub/ok.txt", "ok\n");
  makeLink(f.outside / "secret.txt", f.ws / "file-link");
  makeLink(f.outside.path(), f.ws / "dir-link");
  makeLink(f.ws / "sub/ok.txt", f.ws / "inside-link");

  const std::string absolute = f.outside / "secret.txt";
  SECTION("absolute paths") {
    CHECK(contains(f.error("read_file", {{"path", absolute}}), "absolute"));
    CHECK(contains(f.error("list_files", {{"path", f.outside.path()}}),
                   "absolute"));
    CHECK(
        contains(f.error("write_file", {{"path", absolute}, {"content", "x"}}),
                 "absolute"));
    CHECK(contains(
        f.error("patch", {{"path", absolute}, {"old", "top"}, {"new", "x"}}),
        "absolute"));
    CHECK(contains(f.error("tree", {{"path", "/"}}), "absolute"));
    CHECK(contains(
        f.error("search_codebase", {{"pattern", "x"}, {"path", "/etc"}}),
        "absolute"));
  }
  SECTION("'..' components") {
    std::string up = "sub/../../" +
                     f.outside.path().substr(f.outside.path().rfind('/') + 1) +
                     "/secret.txt";
    CHECK(contains(f.error("read_file", {{"path", up}}), ".."));
    CHECK(
        contains(f.error("read_file", {{"path", "sub/../sub/ok.txt"}}), ".."));
    CHECK(contains(f.error("list_files", {{"path", ".."}}), ".."));
    CHECK(contains(f.error("write_file", {{"path", up}, {"content", "x"}}),
                   ".."));
    CHECK(contains(
        f.error("patch", {{"path", up}, {"old", "top"}, {"new", "x"}}), ".."));
    CHECK(contains(f.error("tree", {{"path", ".."}}), ".."));
  }
  SECTION("symlinks leading out") {
    CHECK(contains(f.error("read_file", {{"path", "file-link"}}),
                   "outside the workspace"));
    CHECK(contains(f.error("read_file", {{"path", "dir-link/secret.txt"}}),
                   "outside the workspace"));
    CHECK(contains(f.error("list_files", {{"path", "dir-link"}}),
                   "outside the workspace"));
    CHECK(contains(f.error("tree", {{"path", "dir-link"}}),
                   "outside the workspace"));
    CHECK(contains(
        f.error("write_file", {{"path", "file-link"}, {"content", "x"}}),
        "outside the workspace"));
    CHECK(contains(
        f.error("write_file", {{"path", "dir-link/new.txt"}, {"content", "x"}}),
        "outside the workspace"));
    CHECK(contains(
        f.error("patch", {{"path", "file-link"}, {"old", "top"}, {"new", "x"}}),
        "outside the workspace"));
    CHECK(readText(absolute) == "top secret\n");
    CHECK(::access((f.outside / "new.txt").c_str(), F_OK) != 0);
  }
  SECTION("dangling symlinks") {
    makeLink(f.outside / "not-yet.txt", f.ws / "dangling");
    CHECK(contains(
        f.error("write_file", {{"path", "dangling"}, {"content", "x"}}),
        "symlink"));
    CHECK(::access((f.outside / "not-yet.txt").c_str(), F_OK) != 0);
  }
  SECTION("symlinks inside the workspace") {
    // Reading through a link that stays inside is fine...
    CHECK(f.text("read_file", {{"path", "inside-link"}}) == "ok\n");
    // ...but writes never pass through a symlink.
    CHECK(!f.error("write_file", {{"path", "inside-link"}, {"content", "x"}})
               .empty());
    CHECK(readText(f.ws / "sub/ok.txt") == "ok\n");
  }
}

TEST_CASE("run_command", "[agenttools]") {
  Fixture f;
  Json r = f.call("run_command", {{"command", "echo out; echo err >&2; pwd"}});
  CHECK(r["exit_code"] == 0);
  CHECK(r["stdout"] == "out\n" + f.ws.path() + "\n");
  CHECK(r["stderr"] == "err\n");
  CHECK(!r.contains("error"));

  r = f.call("run_command", {{"command", "exit 3"}});
  CHECK(r["exit_code"] == 3);

  r = f.call("run_command", {{"command", "printf '%s' \"$HOME\"; "
                                         "test -n \"$PATH\" && echo path"}});
  CHECK(!r["stdout"].get<std::string>().empty());
  CHECK(contains(r["stdout"].get<std::string>(), "path"));

  r = f.call("run_command", {{"command", "echo made > made.txt"}});
  CHECK(readText(f.ws / "made.txt") == "made\n");

  SECTION("output is capped") {
    r = f.call("run_command",
               {{"command", "head -c 300000 /dev/zero | tr '\\0' a"}});
    CHECK(r["exit_code"] == 0);
    std::string out = r["stdout"].get<std::string>();
    CHECK(out.size() < 300000);
    CHECK(contains(out, "[stdout truncated"));
  }
  SECTION("a timeout kills the command") {
    Fixture slow(300);
    auto start = std::chrono::steady_clock::now();
    Json t = slow.call("run_command", {{"command", "sleep 10"}});
    auto took = std::chrono::steady_clock::now() - start;
    CHECK(took < std::chrono::seconds(5));
    CHECK(t["timed_out"] == true);
    CHECK(t["exit_code"] == -1);
    CHECK(contains(t["error"].get<std::string>(), "timed out"));
  }
}

TEST_CASE("run_command stops when the run says so (its deadline, an "
          "interrupt)",
          "[agenttools]") {
  TempDir ws;
  std::unique_ptr<ToolRunner> runner = makeProcessRunner();
  auto start = std::chrono::steady_clock::now();
  std::unique_ptr<Toolbox> tools = makeBuiltinToolbox(
      ws.path(), *runner, 20000, [&]() -> std::optional<Error> {
        if (std::chrono::steady_clock::now() - start <
            std::chrono::milliseconds(300))
          return std::nullopt;
        return Error(ErrorCode::Budget, "budget exceeded: duration");
      });
  Expected<Json> r = tools->call("run_command", {{"command", "sleep 20"}});
  REQUIRE(r.ok());
  INFO(r->dump());
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(5));
  CHECK(contains((*r)["error"].get<std::string>(),
                 "stopped: budget exceeded: duration"));
}

TEST_CASE("git_status and git_diff", "[agenttools]") {
  Fixture f;
  if (!haveGit()) {
    WARN("git is not installed; skipping");
    return;
  }
  // Not a repository (and git must not find one above the workspace).
  CHECK(contains(f.error("git_status", Json::object()), "not a git"));
  CHECK(contains(f.error("git_diff", Json::object()), "not a git"));

  std::string setup = "cd " + shellQuote(f.ws.path()) +
                      " && git init -q . && git config user.email t@example.com"
                      " && git config user.name T && printf 'one\\n' > a.txt"
                      " && git add a.txt && git commit -q -m init";
  REQUIRE(std::system(setup.c_str()) == 0);

  CHECK(f.text("git_status", Json::object()) == "(clean: no changes)");
  CHECK(f.text("git_diff", Json::object()) == "(no differences)");

  writeText(f.ws / "a.txt", "two\n");
  writeText(f.ws / "new.txt", "x\n");
  std::string status = f.text("git_status", Json::object());
  CHECK(contains(status, " M a.txt"));
  CHECK(contains(status, "?? new.txt"));
  std::string diff = f.text("git_diff", Json::object());
  CHECK(contains(diff, "-one"));
  CHECK(contains(diff, "+two"));
  CHECK(!contains(diff, "\x1b["));

  CHECK(f.text("git_diff", {{"args", Json::array({"--stat"})}}).find("a.txt") !=
        std::string::npos);
  CHECK(f.text("git_diff", {{"args", Json::array({"--", "new.txt"})}}) ==
        "(no differences)");
  CHECK(contains(f.text("git_diff", {{"args", "--name-only"}}), "a.txt"));
  CHECK(contains(f.error("git_diff", {{"args", Json::array({"--no-such"})}}),
                 "failed"));
  CHECK(contains(
      f.error("git_diff", {{"args", Json::array({"--output=/tmp/x"})}}),
      "does not allow"));
  // Arguments are words, not shell text.
  CHECK(
      contains(f.error("git_diff", {{"args", Json::array({"; touch pwned"})}}),
               "failed"));
  CHECK(::access((f.ws / "pwned").c_str(), F_OK) != 0);
}

TEST_CASE("ToolboxChain asks its boxes in order", "[agenttools]") {
  FakeToolbox first("first", {"a", "shared"}, true);
  FakeToolbox second("second", {"b", "shared"}, false);
  ToolboxChain chain;
  chain.add(&first);
  chain.add(&second);

  CHECK(chain.find("a")->description == "first");
  CHECK(chain.find("b")->description == "second");
  CHECK(chain.find("shared")->description == "first");
  CHECK(!chain.find("c"));

  CHECK(*chain.call("shared", Json::object()) == "first:shared");
  CHECK(*chain.call("b", Json::object()) == "second:b");
  CHECK(first.calls == 1);
  CHECK(second.calls == 1);
  Expected<Json> unknown = chain.call("c", Json::object());
  REQUIRE(!unknown.ok());
  CHECK(contains(unknown.error().message, "'c'"));

  CHECK(chain.mutates("a"));
  CHECK(chain.mutates("shared"));
  CHECK(!chain.mutates("b"));
  CHECK(!chain.mutates("c"));

  std::vector<ToolSpec> all = chain.expand("*");
  REQUIRE(all.size() == 3);
  CHECK(all[0].name == "a");
  CHECK(all[1].name == "shared");
  CHECK(all[1].description == "first");
  CHECK(all[2].name == "b");
  CHECK(chain.expand("nothing").empty());

  SECTION("with the builtin toolbox") {
    TempDir ws;
    std::unique_ptr<ToolRunner> runner = makeProcessRunner();
    std::unique_ptr<Toolbox> builtin = makeBuiltinToolbox(ws.path(), *runner);
    FakeToolbox shadow("shadow", {"read_file"}, true);
    ToolboxChain tools;
    tools.add(builtin.get());
    tools.add(&shadow);
    writeText(ws / "x.txt", "x\n");
    CHECK(*tools.call("read_file", {{"path", "x.txt"}}) == "x\n");
    CHECK(!tools.mutates("read_file"));
    CHECK(shadow.calls == 0);
    CHECK(tools.mutates("write_file"));
  }
}
