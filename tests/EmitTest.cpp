//===- EmitTest.cpp - iterc emit: printer, golden files, reproducibility --===//
//
// Golden tests pin every file `iterc emit` writes for every example
// (tests/golden/emit/<example>/; on a mismatch the actual file is written
// next to the expected one as <file>.actual, and ITERC_UPDATE_GOLDEN=1
// rewrites the expected files). Reproducibility tests emit and build from
// two checkout paths and compare bytes.
//
//===----------------------------------------------------------------------===//
#include "CodeGen/CppEmitter.h"
#include "CodeGen/Emit.h"
#include "CodeGen/Printer.h"
#include "TestUtil.h"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <sys/wait.h>
#include <unistd.h>

using namespace iterc;
using namespace iterc::codegen;
namespace fs = std::filesystem;

namespace {

using iterc::test::readFile;
using iterc::test::writeFile;
using iterc::test::shell;
using iterc::test::quote;
using iterc::test::TempDir;



Skeletons skeletons() {
  fs::path dir = fs::path(ITERC_SOURCE_DIR) / "templates";
  return Skeletons{readFile(dir / "workflow.h.mustache"),
                   readFile(dir / "workflow.cpp.mustache"),
                   readFile(dir / "CMakeLists.txt.mustache")};
}

std::vector<fs::path> examples() {
  std::vector<fs::path> out;
  for (const auto &e :
       fs::directory_iterator(fs::path(ITERC_SOURCE_DIR) / "examples"))
    if (e.path().extension() == ".iter")
      out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<EmittedFile> emitExample(const fs::path &path) {
  std::string text = readFile(path);
  std::string recorded = "examples/" + path.filename().string();
  test::CheckResult r = test::checkSource(text, recorded);
  REQUIRE(r.codes().empty());
  REQUIRE(r.module);
  return emitWorkflow(*r.module, makeEmitContext(*r.module, recorded, text),
                      skeletons());
}




/// True when a 64-bit ELF image has a PT_INTERP program header (it needs a
/// dynamic loader).
bool hasInterpreter(const std::string &elf) {
  REQUIRE(elf.size() > 64);
  REQUIRE(elf.compare(0, 4,
                      "\x7f"
                      "ELF") == 0);
  REQUIRE(elf[4] == 2); // ELFCLASS64
  auto read = [&](size_t at, size_t n) {
    uint64_t v = 0;
    for (size_t i = 0; i < n; ++i)
      v |= uint64_t(static_cast<unsigned char>(elf[at + i])) << (8 * i);
    return v;
  };
  uint64_t phoff = read(32, 8), phentsize = read(54, 2), phnum = read(56, 2);
  for (uint64_t i = 0; i < phnum; ++i)
    if (read(phoff + i * phentsize, 4) == 3) // PT_INTERP
      return true;
  return false;
}

} // namespace

TEST_CASE("the printer substitutes variables and manages indentation",
          "[emit]") {
  std::string out;
  Printer p(out);
  p.emit({{"name", "answer"}, {"value", "42"}}, R"cc(
    //~ This line is for the generator's reader only.
    int $name$() {
      return $value$; // costs $$0
    }
  )cc");
  {
    NamespaceScope ns(p, "outer");
    Printer::Indent indent(p);
    p.emit({{"body", "a;\nb;"}}, R"cc(
      {
        $body$
      }
    )cc");
  }
  CHECK(out == "int answer() {\n"
               "  return 42; // costs $0\n"
               "}\n"
               "namespace outer {\n"
               "  {\n"
               "    a;\n"
               "    b;\n"
               "  }\n"
               "} // namespace outer\n");
}

TEST_CASE("the printer aborts on a variable the call does not give", "[emit]") {
  pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    // The test framework's own SIGABRT handler must not report this one.
    std::signal(SIGABRT, SIG_DFL);
    ::close(1);
    ::close(2);
    std::string out;
    Printer p(out);
    p.emit({{"x", "1"}}, R"cc(
      $x$ $y$
    )cc");
    ::_exit(0);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  CHECK(WIFSIGNALED(status));
  CHECK(WTERMSIG(status) == SIGABRT);
}

TEST_CASE("C++ string literals escape every byte that needs it", "[emit]") {
  CHECK(cppString("a\"b\\c") == "\"a\\\"b\\\\c\"");
  CHECK(cppString(std::string("x\0y", 3)) == "\"x\\000y\"");
  CHECK(cppString("\x01"
                  "7") == "\"\\0017\"");
  CHECK(cppString("?\?=") == "\"?\"\"?=\"");
  CHECK(cppString("one\ntwo", 2) == "\"one\\n\"\n  \"two\"");
  CHECK(cppString("caf\xc3\xa9") == "\"caf\xc3\xa9\"");
}

TEST_CASE("sha256 and the recorded source path", "[emit]") {
  CHECK(sha256Hex("abc") ==
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(recordedSourcePath("./examples//a.iter") == "examples/a.iter");
  CHECK(recordedSourcePath("/home/me/src/a.iter") == "a.iter");
  CHECK(programNameFor("PR Review-2") == "pr_review-2");
}

TEST_CASE("emitted files of every example match the golden files",
          "[emit][golden]") {
  std::vector<fs::path> all = examples();
  REQUIRE(all.size() >= 8);
  const char *update = std::getenv("ITERC_UPDATE_GOLDEN");
  bool updating = update && std::string(update) == "1";
  for (const fs::path &example : all) {
    std::string stem = example.stem().string();
    INFO("example " << stem);
    fs::path dir = fs::path(ITERC_SOURCE_DIR) / "tests/golden/emit" / stem;
    std::vector<EmittedFile> files = emitExample(example);
    std::set<std::string> expectedNames;
    if (fs::exists(dir))
      for (const auto &e : fs::directory_iterator(dir))
        if (e.path().extension() != ".actual")
          expectedNames.insert(e.path().filename().string());
    std::set<std::string> actualNames;
    for (const EmittedFile &f : files) {
      actualNames.insert(f.path);
      fs::path expected = dir / f.path;
      if (updating) {
        writeFile(expected, f.content);
        fs::remove(dir / (f.path + ".actual"));
        continue;
      }
      INFO("file " << f.path);
      std::string want = fs::exists(expected) ? readFile(expected) : "";
      if (want != f.content)
        writeFile(dir / (f.path + ".actual"), f.content);
      else
        fs::remove(dir / (f.path + ".actual"));
      CHECK(want == f.content);
    }
    if (!updating)
      CHECK(expectedNames == actualNames);
  }
}

TEST_CASE("every emitted file says what generated it", "[emit]") {
  for (const fs::path &example : examples()) {
    INFO("example " << example.filename().string());
    std::string header = "Generated by iterc " ITERC_VERSION " from examples/" +
                         example.filename().string() + ". DO NOT EDIT.";
    std::vector<EmittedFile> files = emitExample(example);
    for (const EmittedFile &f : files) {
      INFO("file " << f.path);
      if (f.path == "manifest.json")
        continue;
      std::string first = f.content.substr(0, f.content.find('\n'));
      CHECK(first.find(header) != std::string::npos);
    }
  }
}

TEST_CASE("the manifest lists the sha256 of the source and of every file",
          "[emit]") {
  fs::path example = fs::path(ITERC_SOURCE_DIR) / "examples/pr_review.iter";
  std::vector<EmittedFile> files = emitExample(example);
  REQUIRE(files.back().path == "manifest.json");
  nlohmann::json manifest = nlohmann::json::parse(files.back().content);
  CHECK(manifest["iterc_version"] == ITERC_VERSION);
  CHECK(manifest["source"]["path"] == "examples/pr_review.iter");
  CHECK(manifest["source"]["sha256"] == sha256Hex(readFile(example)));
  REQUIRE(manifest["files"].size() == files.size() - 1);
  for (size_t i = 0; i + 1 < files.size(); ++i) {
    CHECK(manifest["files"][i]["path"] == files[i].path);
    CHECK(manifest["files"][i]["sha256"] == sha256Hex(files[i].content));
  }
}

TEST_CASE("emitting from two checkout paths gives the same bytes",
          "[emit][repro]") {
  TempDir a, b;
  for (const fs::path &root : {a.path, b.path}) {
    fs::create_directories(root / "co" / "examples");
    fs::copy(fs::path(ITERC_SOURCE_DIR) / "examples/ci_fix_loop.iter",
             root / "co/examples/ci_fix_loop.iter");
    REQUIRE(shell("cd " + quote(root / "co") +
                  " && " ITERC_BINARY
                  " emit examples/ci_fix_loop.iter -o out") == 0);
  }
  size_t compared = 0;
  for (const auto &e : fs::directory_iterator(a.path / "co/out")) {
    INFO(e.path().filename().string());
    fs::path other = b.path / "co/out" / e.path().filename();
    REQUIRE(fs::exists(other));
    CHECK(readFile(e.path()) == readFile(other));
    ++compared;
  }
  CHECK(compared == 7);
  // And the same as emitting twice in place.
  REQUIRE(shell("cd " + quote(a.path / "co") +
                " && " ITERC_BINARY
                " emit examples/ci_fix_loop.iter -o out2") == 0);
  for (const auto &e : fs::directory_iterator(a.path / "co/out"))
    CHECK(readFile(e.path()) ==
          readFile(a.path / "co/out2" / e.path().filename()));
}

TEST_CASE("building from two checkout paths gives a byte-identical binary",
          "[emit][repro][build]") {
  TempDir a, b;
  std::vector<std::string> binaries;
  for (const fs::path &root : {a.path, b.path}) {
    fs::create_directories(root / "checkout" / "examples");
    fs::copy(fs::path(ITERC_SOURCE_DIR) / "examples/llm_router.iter",
             root / "checkout/examples/llm_router.iter");
    // Separate caches: both builds really compile.
    REQUIRE(shell("cd " + quote(root / "checkout") +
                  " && ITERC_CACHE_DIR=" + quote(root / "cache") +
                  " " ITERC_BINARY
                  " build examples/llm_router.iter -o wf") == 0);
    binaries.push_back(readFile(root / "checkout/wf"));
  }
  REQUIRE(binaries[0].size() > 100000);
  CHECK(binaries[0] == binaries[1]);
  // Fully static: an ELF executable without a program interpreter.
  CHECK(!hasInterpreter(binaries[0]));
  CHECK(hasInterpreter(readFile(ITERC_BINARY))); // iterc itself is dynamic
  // The checkout and cache paths appear nowhere in the binary.
  CHECK(binaries[0].find(a.path.string()) == std::string::npos);
  CHECK(binaries[0].find(ITERC_SOURCE_DIR) == std::string::npos);
}

TEST_CASE("a cached rebuild reuses the binary and replays warnings",
          "[emit][build]") {
  TempDir dir;
  std::string source =
      readFile(fs::path(ITERC_SOURCE_DIR) / "examples/llm_router.iter");
  writeFile(dir.path / "wf.iter", source);
  std::string env = "cd " + quote(dir.path) +
                    " && ITERC_CACHE_DIR=" + quote(dir.path / "cache") + " ";
  REQUIRE(shell(env + ITERC_BINARY " build wf.iter -o one 2>first.txt") == 0);
  REQUIRE(shell(env + ITERC_BINARY
                " build wf.iter -o two --verbose 2>second.txt") == 0);
  CHECK(readFile(dir.path / "one") == readFile(dir.path / "two"));
  CHECK(readFile(dir.path / "second.txt").find("cache hit") !=
        std::string::npos);
  // A changed source is a different entry.
  writeFile(dir.path / "wf.iter", source + "\n## changed\n");
  REQUIRE(shell(env + ITERC_BINARY
                " build wf.iter -o three --verbose 2>third.txt") == 0);
  CHECK(readFile(dir.path / "third.txt").find("cache hit") ==
        std::string::npos);
  // Errors: nothing built, exit 1, diagnostics shown.
  writeFile(dir.path / "bad.iter", "workflow w:\n  entry: nowhere\n");
  CHECK(shell(env + ITERC_BINARY " build bad.iter -o bad 2>bad.txt") == 1);
  CHECK(!fs::exists(dir.path / "bad"));
  CHECK(readFile(dir.path / "bad.txt").find("error") != std::string::npos);
}

TEST_CASE("iterc emit and build --context write the generated Dockerfiles of "
          "services under services/",
          "[emit][build]") {
  TempDir dir;
  const std::string source = R"(service api:
  build: "./api"
  program: "bin/server"
  command: ["--port", "8080"]
  ports: ["8080"]

service db:
  image: "postgres:16"

schema out:
  ok: bool

agent a:
  model: "openai/gpt-4o-mini"
  output: out

workflow packaged:
  entry: a
  services: [api, db]
  a -> done
)";
  writeFile(dir.path / "wf.iter", source);
  test::CheckResult r = test::checkSource(source, "wf.iter");
  REQUIRE(r.codes().empty());
  std::vector<EmittedFile> files = emitWorkflow(
      *r.module, makeEmitContext(*r.module, "wf.iter", source), skeletons());
  const EmittedFile *generated = nullptr;
  const EmittedFile *cpp = nullptr;
  for (const EmittedFile &f : files) {
    if (f.path == "services/api/Dockerfile")
      generated = &f;
    if (f.path == "packaged.cpp")
      cpp = &f;
  }
  REQUIRE(generated);
  REQUIRE(cpp);
  // compose builds it from services/api/, where `iterc build --context`
  // copies the program; the C++ tables hold the variant that copies it from
  // the service's own context (the container runtime's).
  CHECK(generated->content.find("COPY --chmod=0555 app/server /app/server\n") !=
        std::string::npos);
  CHECK(cpp->content.find("COPY --chmod=0555 bin/server /app/server") !=
        std::string::npos);
  // Only the service that packages a program has one.
  size_t dockerfiles = 0;
  for (const EmittedFile &f : files)
    dockerfiles += f.path.rfind("services/", 0) == 0;
  CHECK(dockerfiles == 1);
  // The same text is in the C++ tables.
  CHECK(cpp->content.find(".generatedDockerfile = " +
                          cppString(generated->content, 4).substr(0, 40)) !=
        std::string::npos);
  // The manifest lists it like every file.
  nlohmann::json manifest = nlohmann::json::parse(files.back().content);
  bool listed = false;
  for (const nlohmann::json &f : manifest["files"])
    if (f["path"] == "services/api/Dockerfile")
      listed = f["sha256"] == sha256Hex(generated->content);
  CHECK(listed);

  // iterc emit writes it, creating the directories.
  std::string env = "cd " + quote(dir.path) +
                    " && ITERC_CACHE_DIR=" + quote(dir.path / "cache") + " ";
  REQUIRE(shell(env + ITERC_BINARY " emit wf.iter -o out") == 0);
  CHECK(readFile(dir.path / "out/services/api/Dockerfile") ==
        generated->content);
  CHECK(readFile(dir.path / "out/packaged.cpp") == cpp->content);
  // The generated tables compile, and the container build context holds
  // the file too.
  REQUIRE(shell(env + ITERC_BINARY
                " build wf.iter -o packaged --context ctx 2>build.txt") == 0);
  CHECK(readFile(dir.path / "ctx/services/api/Dockerfile") ==
        generated->content);
  CHECK(fs::exists(dir.path / "ctx/packaged"));
}

TEST_CASE("a workflow named main gets a namespace that does not clash with "
          "int main",
          "[emit]") {
  // `namespace main` next to the generated `int main` does not compile.
  CHECK(codegen::cppNamespace("main") != "main");
  CHECK(codegen::cppNamespace("main_flow") == "main_flow");
}
