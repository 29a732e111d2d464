//===- BundleTest.cpp - iterc bundle, unbundle and build X.bundle ---------===//
//
// The bundle format (CodeGen/Bundle.h, docs/bundle.md): both forms carry any
// bytes (fences, NUL, 0xFF, CRLF, no final newline, a 1 MB line) and are
// deterministic; a Markdown reader sees exactly what is restored; damaged,
// altered or unsafe bundles are refused with the file named. Through the
// CLI: bundle/unbundle round trips, determinism across checkouts, refusals
// with exit 1 (2 for usage and I/O), and `iterc build X.bundle` giving the
// binary that building the source gives.
//
//===----------------------------------------------------------------------===//
#include "CodeGen/Bundle.h"
#include "TestUtil.h"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
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






/// Runs iterc with `args` in `dir`; its stderr goes to `dir`/stderr.txt.
int runIterc(const fs::path &dir, const std::string &args,
             const std::string &env = "") {
  return shell("cd " + quote(dir) + " && " + env + " " ITERC_BINARY " " + args +
               " >stdout.txt 2>stderr.txt");
}

std::string lastStderr(const fs::path &dir) {
  return readFile(dir / "stderr.txt");
}

/// Files that break naive bundle formats: fences of every length, bytes
/// that are not text, CR, no final newline, a 1 MB line, a fake heading.
std::vector<EmittedFile> awkwardFiles() {
  std::string longLine(1 << 20, 'x');
  longLine[1000] = '`';
  longLine[2000] = '\0';
  return {
      {"CMakeLists.txt", "cmake_minimum_required(VERSION 3.20)\n"},
      {"README.md", "# R\n\n```sh\nmake\n```\n\n````\nnested ``` fence\n````\n"
                    "``````\n"},
      {"binary.bin", std::string("\0\x01\xff\xfe``` \n\r\n\x7f", 12)},
      {"crlf.txt", "one\r\ntwo\r\n"},
      {"dir/sub/no-newline.txt", "last line without newline ````"},
      {"empty.txt", ""},
      {"fence-only.md", "```\n"},
      {"heading.md", "## `fake.txt`\n\n1 byte, sha256 `x`, text\n\n---\n"},
      {"latin1.txt", "caf\xe9\n"},
      {"long.txt", longLine + "\n"},
      {"long-text.txt", std::string(1 << 20, 'y') + "\n"},
      {"manifest.json", "{}\n"},
      {"newline-only.txt", "\n"},
      {"only-backticks-no-newline.txt", "`````"},
      {"tilde.md", "~~~\n   ```\n  ~~~~\n"},
      {"utf8 name \xc3\xa9.txt", "caf\xc3\xa9 \xe2\x9c\x93\ttab\n"},
  };
}

std::vector<EmittedFile> sorted(std::vector<EmittedFile> files) {
  std::stable_sort(files.begin(), files.end(),
                   [](const EmittedFile &a, const EmittedFile &b) {
                     return bundleOrderLess(a.path, b.path);
                   });
  return files;
}

std::string write(const std::vector<EmittedFile> &files, BundleForm form) {
  BundleError error;
  std::optional<std::string> out = writeBundle(files, form, error);
  INFO(error.describe());
  REQUIRE(out);
  return *out;
}

/// Reads a bundle that must be refused; returns the error.
BundleError refusal(const std::string &data) {
  BundleError error;
  std::optional<Bundle> bundle = readBundle(data, error);
  CHECK_FALSE(bundle);
  CHECK_FALSE(error.message.empty());
  return error;
}

void checkSame(const std::vector<EmittedFile> &a,
               const std::vector<EmittedFile> &b) {
  REQUIRE(a.size() == b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    INFO("file " << a[i].path);
    CHECK(a[i].path == b[i].path);
    CHECK(a[i].content.size() == b[i].content.size());
    CHECK(a[i].content == b[i].content);
  }
}

/// A binary-form bundle written by hand, without the writer's checks; the
/// digest and count are right unless told otherwise.
std::string rawBinary(const std::vector<EmittedFile> &files,
                      const std::string &version = "1") {
  std::string out = "iterc-bundle " + version + "\n";
  for (const EmittedFile &f : files)
    out += "file " + std::to_string(f.content.size()) + " " +
           sha256Hex(f.content) + " " + f.path + "\n" + f.content + "\n";
  return out + "end " + std::to_string(files.size()) + " " +
         bundleDigest(files) + "\n";
}

/// A fenced code block as a CommonMark reader sees it.
struct Fence {
  std::string info;
  std::string body;
};

/// CommonMark fences and the level-2 headings outside them: an opening
/// fence is 0-3 spaces then 3+ backticks (info without backticks) or 3+
/// tildes; it is closed by 0-3 spaces, at least as many of the same
/// character, and only spaces after.
void commonMark(const std::string &markdown, std::vector<Fence> &fences,
                std::vector<std::string> &headings) {
  std::istringstream in(markdown);
  std::string line;
  bool inside = false;
  char fenceChar = 0;
  size_t fenceLength = 0;
  Fence current;
  auto leading = [](const std::string &l, size_t from, char c) {
    size_t n = 0;
    while (from + n < l.size() && l[from + n] == c)
      ++n;
    return n;
  };
  while (std::getline(in, line)) {
    size_t indent = leading(line, 0, ' ');
    if (inside) {
      size_t run = indent <= 3 ? leading(line, indent, fenceChar) : 0;
      bool closes =
          run >= fenceLength &&
          line.find_first_not_of(' ', indent + run) == std::string::npos;
      if (closes) {
        fences.push_back(current);
        inside = false;
      } else {
        current.body += line + "\n";
      }
      continue;
    }
    if (indent <= 3) {
      for (char c : {'`', '~'}) {
        size_t run = leading(line, indent, c);
        std::string info = line.substr(indent + run);
        if (run >= 3 && (c == '~' || info.find('`') == std::string::npos)) {
          inside = true;
          fenceChar = c;
          fenceLength = run;
          current = Fence{info, ""};
          break;
        }
      }
      if (inside)
        continue;
    }
    if (line.rfind("## ", 0) == 0)
      headings.push_back(line);
  }
  CHECK_FALSE(inside);
}

std::string base64Decode(const std::string &text) {
  static const std::string alphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  uint32_t bits = 0;
  int count = 0;
  for (char c : text) {
    size_t v = alphabet.find(c);
    if (v == std::string::npos)
      continue;
    bits = (bits << 6) | uint32_t(v);
    count += 6;
    if (count >= 8) {
      count -= 8;
      out += char((bits >> count) & 255);
    }
  }
  return out;
}

std::string manifestFor(const std::vector<EmittedFile> &emitted,
                        const std::string &sourcePath,
                        const std::string &source,
                        const std::string &version = ITERC_VERSION) {
  nlohmann::ordered_json m;
  m["generator"] = "iterc";
  m["iterc_version"] = version;
  m["workflow"] = "w";
  m["program"] = "w";
  m["source"] = {{"path", sourcePath}, {"sha256", sha256Hex(source)}};
  m["files"] = nlohmann::ordered_json::array();
  for (const EmittedFile &f : emitted)
    m["files"].push_back({{"path", f.path},
                          {"sha256", sha256Hex(f.content)},
                          {"bytes", f.content.size()}});
  return m.dump(2) + "\n";
}

/// The files of a workflow bundle (source, files, manifest) whose
/// generated files are the awkward ones.
std::vector<EmittedFile> awkwardWorkflow() {
  std::vector<EmittedFile> emitted;
  for (EmittedFile &f : awkwardFiles())
    if (f.path != "manifest.json")
      emitted.push_back(std::move(f));
  std::string source = "## a source with ``` and ```` in a comment\r\n"
                       "workflow w:\n  entry: a";
  emitted.push_back(
      {"manifest.json", manifestFor(sorted(emitted), "dir/wf.iter", source)});
  return workflowBundleFiles(emitted, "dir/wf.iter", source);
}

/// Replaces a file of a parsed bundle and fixes the manifest, so that every
/// hash of the result is consistent again.
std::vector<EmittedFile> withFile(std::vector<EmittedFile> files,
                                  const std::string &path,
                                  const std::string &content,
                                  const std::string &version = "") {
  nlohmann::ordered_json manifest;
  for (EmittedFile &f : files) {
    if (f.path == path)
      f.content = content;
    if (f.path == "manifest.json")
      manifest = nlohmann::ordered_json::parse(f.content);
  }
  if (!version.empty())
    manifest["iterc_version"] = version;
  for (auto &entry : manifest["files"])
    for (const EmittedFile &f : files)
      if (entry["path"] == f.path) {
        entry["sha256"] = sha256Hex(f.content);
        entry["bytes"] = f.content.size();
      }
  for (EmittedFile &f : files)
    if (f.path == "manifest.json")
      f.content = manifest.dump(2) + "\n";
  return files;
}

std::vector<EmittedFile> parsed(const std::string &data) {
  BundleError error;
  std::optional<Bundle> bundle = readBundle(data, error);
  INFO(error.describe());
  REQUIRE(bundle);
  return bundle->files;
}

/// Every regular file under `dir`, by relative path.
std::map<std::string, std::string> tree(const fs::path &dir) {
  std::map<std::string, std::string> out;
  for (const auto &e : fs::recursive_directory_iterator(dir))
    if (e.is_regular_file())
      out[fs::relative(e.path(), dir).string()] = readFile(e.path());
  return out;
}

} // namespace

TEST_CASE("both bundle forms carry any bytes unchanged", "[bundle]") {
  std::vector<EmittedFile> files = awkwardFiles();
  for (BundleForm form : {BundleForm::Binary, BundleForm::Markdown}) {
    INFO((form == BundleForm::Binary ? "binary" : "markdown"));
    std::string data = write(files, form);
    BundleError error;
    std::optional<Bundle> bundle = readBundle(data, error);
    INFO(error.describe());
    REQUIRE(bundle);
    CHECK(bundle->form == form);
    checkSame(bundle->files, sorted(files));
    CHECK(bundle->files.back().path == "manifest.json");
    // Writing what was read gives the same bytes; so does any input order.
    CHECK(write(bundle->files, form) == data);
    std::vector<EmittedFile> reversed(files.rbegin(), files.rend());
    CHECK(write(reversed, form) == data);
  }
  // The digest is the same for both forms.
  std::string binary = write(files, BundleForm::Binary);
  std::string digest = bundleDigest(sorted(files));
  CHECK(binary.find("\nend 16 " + digest + "\n") != std::string::npos);
  CHECK(write(files, BundleForm::Markdown)
            .find("Bundle digest: sha256 `" + digest + "` over 16 files.\n") !=
        std::string::npos);
}

TEST_CASE("a Markdown reader sees exactly the files a bundle restores",
          "[bundle]") {
  std::vector<EmittedFile> files = sorted(awkwardFiles());
  std::string markdown = write(files, BundleForm::Markdown);
  CHECK(markdown.rfind("<!-- iterc-bundle 1 markdown -->\n", 0) == 0);
  std::vector<Fence> fences;
  std::vector<std::string> headings;
  commonMark(markdown, fences, headings);
  REQUIRE(fences.size() == files.size());
  REQUIRE(headings.size() == files.size());
  for (size_t i = 0; i < files.size(); ++i) {
    const EmittedFile &f = files[i];
    INFO("file " << f.path);
    CHECK(headings[i] == "## `" + f.path + "`");
    bool text = isMarkdownText(f.content);
    if (text) {
      bool noFinal = !f.content.empty() && f.content.back() != '\n';
      CHECK(fences[i].body == f.content + (noFinal ? "\n" : ""));
      CHECK(
          (markdown.find(", no final newline\n\n", markdown.find(headings[i])) <
           markdown.find("\n```", markdown.find(headings[i]))) == noFinal);
    } else {
      CHECK(fences[i].info == "base64");
      CHECK(base64Decode(fences[i].body) == f.content);
    }
  }
  // Which files are text is decided by their bytes.
  for (const char *path : {"binary.bin", "crlf.txt", "latin1.txt", "long.txt"})
    CHECK_FALSE(isMarkdownText(
        std::find_if(files.begin(), files.end(), [&](const EmittedFile &f) {
          return f.path == path;
        })->content));
  for (const char *path : {"README.md", "empty.txt", "long-text.txt",
                           "utf8 name \xc3\xa9.txt", "tilde.md"})
    CHECK(isMarkdownText(
        std::find_if(files.begin(), files.end(), [&](const EmittedFile &f) {
          return f.path == path;
        })->content));
  // The fence is one backtick longer than the longest run in the content.
  CHECK(markdown.find("\n```````markdown\n# R\n") != std::string::npos);
  CHECK(markdown.find("\n``````text\n`````\n``````\n") != std::string::npos);
  CHECK(markdown.find("\n````markdown\n~~~\n") != std::string::npos);
}

TEST_CASE("a damaged bundle is refused with the file named", "[bundle]") {
  std::vector<EmittedFile> files = sorted(awkwardFiles());
  std::string binary = write(files, BundleForm::Binary);
  std::string markdown = write(files, BundleForm::Markdown);

  SECTION("a changed byte in any file") {
    for (const EmittedFile &f : files) {
      if (f.content.empty())
        continue;
      INFO("file " << f.path);
      std::string header = "file " + std::to_string(f.content.size()) + " " +
                           sha256Hex(f.content) + " " + f.path + "\n";
      size_t at = binary.find(header);
      REQUIRE(at != std::string::npos);
      std::string damaged = binary;
      damaged[at + header.size() + f.content.size() / 2] ^= 0x20;
      BundleError error = refusal(damaged);
      CHECK(error.file == f.path);
      CHECK(error.message.find("sha256") != std::string::npos);
    }
    // In the Markdown form: a text file and a base64 one.
    for (auto [path, marker] :
         {std::pair<std::string, std::string>{"README.md", "nested"},
          {"binary.bin", "AAH"}}) {
      INFO("file " << path);
      std::string damaged = markdown;
      size_t at = damaged.find(marker, damaged.find("## `" + path + "`"));
      REQUIRE(at != std::string::npos);
      damaged[at] = damaged[at] == 'B' ? 'C' : 'B';
      BundleError error = refusal(damaged);
      CHECK(error.file == path);
      CHECK(error.message.find("sha256") != std::string::npos);
    }
  }

  SECTION("a bundle cut short anywhere") {
    for (const std::string *data : {&binary, &markdown}) {
      std::vector<size_t> cuts;
      for (size_t i = 0; i < data->size(); i += 997)
        cuts.push_back(i);
      for (size_t i = data->size() > 300 ? data->size() - 300 : 0;
           i < data->size(); ++i)
        cuts.push_back(i);
      for (size_t cut : cuts) {
        INFO("cut at " << cut << " of " << data->size());
        BundleError error;
        CHECK_FALSE(readBundle(data->substr(0, cut), error));
      }
    }
    BundleError error =
        refusal(binary.substr(0, binary.find("long.txt") + 100));
    CHECK(error.file == "long.txt");
    CHECK(error.message.find("truncated") != std::string::npos);
    error = refusal(markdown.substr(0, markdown.find("## `long.txt`") + 100));
    CHECK(error.file == "long.txt");
    CHECK(error.message.find("truncated") != std::string::npos);
  }

  SECTION("an unknown format version") {
    BundleError error = refusal("iterc-bundle 2\n" + binary.substr(15));
    CHECK(error.message.find("version '2'") != std::string::npos);
    std::string md = markdown;
    md.replace(0, md.find('\n'), "<!-- iterc-bundle 2 markdown -->");
    CHECK(refusal(md).message.find("version '2'") != std::string::npos);
    CHECK(refusal("PK\x03\x04").message.find("not an iterc bundle") !=
          std::string::npos);
  }

  SECTION("unsafe, duplicate and conflicting paths") {
    for (const char *path : {"../evil", "a/../../evil", "/etc/passwd", "a//b",
                             "./a", "a/", "a\\b", "a`b", "a\rb", "a\nb"}) {
      INFO("path " << path);
      if (std::string(path) != "a\nb") {
        BundleError error = refusal(rawBinary({{path, "x"}}));
        CHECK(error.file == path);
      }
      BundleError writeError;
      CHECK_FALSE(writeBundle({{path, "x"}}, BundleForm::Binary, writeError));
      CHECK(writeError.file == path);
    }
    CHECK(refusal(rawBinary({{"../evil", "x"}})).describe() ==
          "file '../evil': the path contains '..'");
    CHECK(refusal(rawBinary({{"a", "1"}, {"a", "1"}})).message.find("twice") !=
          std::string::npos);
    CHECK(refusal(rawBinary({{"b", "1"}, {"a", "1"}}))
              .message.find("out of order") != std::string::npos);
    CHECK(refusal(rawBinary({{"manifest.json", "1"}, {"z", "1"}}))
              .message.find("out of order") != std::string::npos);
    BundleError error = refusal(rawBinary({{"a", "1"}, {"a/b", "1"}}));
    CHECK(error.file == "a/b");
    CHECK(error.message.find("inside 'a'") != std::string::npos);
  }

  SECTION("a changed header, count, digest or form") {
    // A renamed file keeps its hash: the digest tells.
    std::string renamed = binary;
    size_t at = renamed.find(" crlf.txt\n");
    renamed.replace(at, 10, " crlg.txt\n");
    CHECK(refusal(renamed).message.find("digest") != std::string::npos);
    std::string counted = binary;
    counted.replace(counted.rfind("\nend 16 "), 8, "\nend 15 ");
    CHECK(refusal(counted).message.find("16") != std::string::npos);
    CHECK(refusal(binary + "x").message.find("after the 'end' line") !=
          std::string::npos);
    std::string zero = rawBinary({{"a", "1"}});
    zero.replace(zero.find("file 1 "), 7, "file 01 ");
    CHECK(refusal(zero).message.find("malformed") != std::string::npos);
    // Markdown: prose, a fence's length and an encoding are pinned too.
    std::string prose = markdown;
    prose.replace(prose.find("byte for byte"), 4, "BYTE");
    CHECK(refusal(prose).message.find("not in the exact form") !=
          std::string::npos);
    std::string fence = markdown;
    at = fence.find("\n```````markdown\n# R\n");
    fence.replace(at, 8, "\n````````");
    fence.replace(fence.find("\n```````\n", at + 10), 9, "\n````````\n");
    BundleError error = refusal(fence);
    CHECK(error.file == "README.md");
    CHECK(error.message.find("not in the exact form") != std::string::npos);
  }
}

TEST_CASE("a workflow bundle matches its manifest", "[bundle]") {
  std::vector<EmittedFile> files = awkwardWorkflow();
  BundleError error;
  std::optional<WorkflowBundle> w =
      checkWorkflowBundle(Bundle{BundleForm::Binary, files}, error);
  INFO(error.describe());
  REQUIRE(w);
  CHECK(w->sourcePath == "dir/wf.iter");
  CHECK(w->itercVersion == ITERC_VERSION);
  CHECK(w->emitted.back().path == "manifest.json");
  CHECK(w->emitted.size() == files.size() - 1);

  auto refused = [](const std::vector<EmittedFile> &files) {
    BundleError error;
    CHECK_FALSE(checkWorkflowBundle(Bundle{BundleForm::Binary, files}, error));
    return error;
  };
  // A file changed consistently in the bundle but not in the manifest.
  std::vector<EmittedFile> changed = files;
  for (EmittedFile &f : changed)
    if (f.path == "crlf.txt")
      f.content = "changed\n";
  CHECK(refused(changed).file == "crlf.txt");
  for (EmittedFile &f : changed)
    if (f.path == "source/dir/wf.iter")
      f.content = "changed\n";
  CHECK(refused(changed).file == "source/dir/wf.iter");
  CHECK(refused(withFile(changed, "crlf.txt", "changed\n")).file ==
        "source/dir/wf.iter");
  std::vector<EmittedFile> extra = files;
  extra.insert(extra.begin(), {"aaa.txt", "x"});
  CHECK(refused(extra).file == "aaa.txt");
  std::vector<EmittedFile> missing = files;
  missing.erase(missing.begin());
  CHECK(refused(missing).file == files.front().path);
  std::vector<EmittedFile> twoSources = files;
  twoSources.push_back({"source/other.iter", "x"});
  CHECK(refused(sorted(twoSources)).message.find("second source") !=
        std::string::npos);
  std::vector<EmittedFile> noManifest = files;
  noManifest.pop_back();
  CHECK(refused(noManifest).message.find("no manifest.json") !=
        std::string::npos);
}

TEST_CASE("iterc bundle and unbundle round-trip a workflow in both forms",
          "[bundle]") {
  TempDir dir;
  fs::path co = dir.path / "co";
  fs::create_directories(co / "examples");
  fs::copy(fs::path(ITERC_SOURCE_DIR) / "examples/pr_review.iter",
           co / "examples/pr_review.iter");
  REQUIRE(runIterc(co, "emit examples/pr_review.iter -o emitted") == 0);
  REQUIRE(runIterc(co, "bundle examples/pr_review.iter -o pr.bundle") == 0);
  REQUIRE(runIterc(co, "bundle examples/pr_review.iter --format=markdown -o "
                       "pr.review") == 0);
  REQUIRE(runIterc(co, "bundle examples/pr_review.iter -o pr.bundle.md") == 0);
  CHECK(readFile(co / "pr.review") == readFile(co / "pr.bundle.md"));
  CHECK(readFile(co / "pr.bundle").rfind("iterc-bundle 1\n", 0) == 0);

  std::map<std::string, std::string> expected = tree(co / "emitted");
  REQUIRE(expected.size() == 7);
  expected["source/examples/pr_review.iter"] =
      readFile(co / "examples/pr_review.iter");
  for (const char *bundle : {"pr.bundle", "pr.bundle.md"}) {
    INFO(bundle);
    REQUIRE(runIterc(co, std::string("unbundle ") + bundle + " -o out-" +
                             bundle) == 0);
    CHECK(tree(co / (std::string("out-") + bundle)) == expected);
    REQUIRE(runIterc(co, std::string("unbundle --check ") + bundle) == 0);
    CHECK(readFile(co / "stdout.txt").find("intact: 8 files") !=
          std::string::npos);
  }
  // One form converts to the other, verified, with the same bytes.
  REQUIRE(runIterc(co, "bundle pr.bundle --format=markdown -o conv.md") == 0);
  CHECK(readFile(co / "conv.md") == readFile(co / "pr.bundle.md"));
  REQUIRE(runIterc(co, "bundle pr.bundle.md -o conv.bundle") == 0);
  CHECK(readFile(co / "conv.bundle") == readFile(co / "pr.bundle"));
  // Unbundling again over the same directory is fine.
  CHECK(runIterc(co, "unbundle pr.bundle -o out-pr.bundle") == 0);
}

TEST_CASE("iterc unbundle restores awkward bytes exactly, in both forms",
          "[bundle]") {
  TempDir dir;
  std::vector<EmittedFile> files = awkwardWorkflow();
  writeFile(dir.path / "w.bundle", write(files, BundleForm::Binary));
  writeFile(dir.path / "w.bundle.md", write(files, BundleForm::Markdown));
  for (const char *bundle : {"w.bundle", "w.bundle.md"}) {
    INFO(bundle);
    fs::path out = dir.path / (std::string("out-") + bundle);
    REQUIRE(runIterc(dir.path, std::string("unbundle ") + bundle + " -o " +
                                   quote(out)) == 0);
    std::map<std::string, std::string> restored = tree(out);
    REQUIRE(restored.size() == files.size());
    for (const EmittedFile &f : files) {
      INFO("file " << f.path);
      REQUIRE(restored.count(f.path));
      CHECK(restored[f.path] == f.content);
    }
  }
  // And through a conversion by the CLI.
  REQUIRE(runIterc(dir.path, "bundle w.bundle -o conv.md") == 0);
  CHECK(readFile(dir.path / "conv.md") == readFile(dir.path / "w.bundle.md"));
}

TEST_CASE("bundling twice or from two checkouts gives the same bytes",
          "[bundle][repro]") {
  TempDir a, b;
  std::vector<std::string> binaries, markdowns;
  for (const fs::path &root : {a.path, b.path}) {
    fs::path co = root / "checkout";
    fs::create_directories(co / "examples");
    fs::copy(fs::path(ITERC_SOURCE_DIR) / "examples/ci_fix_loop.iter",
             co / "examples/ci_fix_loop.iter");
    REQUIRE(runIterc(co, "bundle ./examples//ci_fix_loop.iter -o x.bundle") ==
            0);
    REQUIRE(runIterc(co, "bundle examples/ci_fix_loop.iter -o y.bundle") == 0);
    REQUIRE(runIterc(co, "bundle examples/ci_fix_loop.iter -o x.md") == 0);
    CHECK(readFile(co / "x.bundle") == readFile(co / "y.bundle"));
    binaries.push_back(readFile(co / "x.bundle"));
    markdowns.push_back(readFile(co / "x.md"));
  }
  CHECK(binaries[0] == binaries[1]);
  CHECK(markdowns[0] == markdowns[1]);
  CHECK(binaries[0].find("source/examples/ci_fix_loop.iter\n") !=
        std::string::npos);
  CHECK(binaries[0].find(a.path.string()) == std::string::npos);
}

TEST_CASE("iterc unbundle refuses damaged or unsafe bundles and writes "
          "nothing",
          "[bundle]") {
  TempDir dir;
  fs::path co = dir.path;
  fs::create_directories(co / "examples");
  fs::copy(fs::path(ITERC_SOURCE_DIR) / "examples/pr_review.iter",
           co / "examples/pr_review.iter");
  REQUIRE(runIterc(co, "bundle examples/pr_review.iter -o pr.bundle") == 0);
  REQUIRE(runIterc(co, "bundle examples/pr_review.iter -o pr.bundle.md") == 0);
  std::string binary = readFile(co / "pr.bundle");
  std::string markdown = readFile(co / "pr.bundle.md");

  auto refusedNaming = [&](const std::string &data, const std::string &what,
                           int status = 1) {
    INFO("expecting a refusal naming " << what);
    writeFile(co / "bad.bundle", data);
    fs::remove_all(co / "out");
    CHECK(runIterc(co, "unbundle bad.bundle -o out") == status);
    std::string err = lastStderr(co);
    INFO(err);
    CHECK(err.find(what) != std::string::npos);
    CHECK(err.find("bad.bundle") != std::string::npos);
    CHECK((!fs::exists(co / "out") || fs::is_empty(co / "out")));
    CHECK(runIterc(co, "build bad.bundle -o wf", "ITERC_CACHE_DIR=cache") ==
          status);
    CHECK(!fs::exists(co / "wf"));
  };

  // A flipped byte in the middle of the generated C++.
  std::string flipped = binary;
  size_t at = flipped.find(" pr_review.cpp\n");
  REQUIRE(at != std::string::npos);
  flipped[at + 5000] ^= 1;
  refusedNaming(flipped, "file 'pr_review.cpp'");
  // The same in the Markdown form, in the header file.
  flipped = markdown;
  at = flipped.find("## `pr_review.h`");
  at = flipped.find("namespace", at);
  flipped[at] = 'N';
  refusedNaming(flipped, "file 'pr_review.h'");
  // A flipped byte in the source.
  flipped = binary;
  at = flipped.find(" source/examples/pr_review.iter\n");
  flipped[at + 200] ^= 1;
  refusedNaming(flipped, "file 'source/examples/pr_review.iter'");
  // Cut short, an unknown version, a path leading out.
  refusedNaming(binary.substr(0, binary.size() / 2), "truncated");
  refusedNaming(markdown.substr(0, markdown.size() / 2), "truncated");
  refusedNaming("iterc-bundle 7\n" + binary.substr(15), "version '7'");
  refusedNaming(rawBinary({{"../evil.txt", "x"}}),
                "file '../evil.txt': the path contains '..'");
  CHECK(!fs::exists(dir.path.parent_path() / "evil.txt"));
  // Consistent hashes, but the manifest does not list the change.
  std::vector<EmittedFile> files = parsed(binary);
  for (EmittedFile &f : files)
    if (f.path == "compose.yaml")
      f.content += "# more\n";
  refusedNaming(write(files, BundleForm::Binary), "file 'compose.yaml'");

  // A symbolic link in DIR that would lead outside it.
  TempDir outside;
  fs::create_directories(co / "dest");
  fs::create_directory_symlink(outside.path, co / "dest/source");
  CHECK(runIterc(co, "unbundle pr.bundle -o dest") == 2);
  CHECK(lastStderr(co).find("symbolic link") != std::string::npos);
  CHECK(fs::is_empty(outside.path));
  CHECK(fs::is_symlink(co / "dest/source"));
  CHECK(std::distance(fs::directory_iterator(co / "dest"),
                      fs::directory_iterator()) == 1);
  // A link at a file's own path is replaced, not written through.
  fs::remove(co / "dest/source");
  writeFile(outside.path / "target", "keep");
  fs::create_symlink(outside.path / "target", co / "dest/manifest.json");
  CHECK(runIterc(co, "unbundle pr.bundle -o dest") == 0);
  CHECK(readFile(outside.path / "target") == "keep");
  CHECK(!fs::is_symlink(co / "dest/manifest.json"));
  CHECK(readFile(co / "dest/manifest.json").find("\"generator\"") !=
        std::string::npos);
}

TEST_CASE("iterc build X.bundle builds the binary the source builds",
          "[bundle][build]") {
  TempDir dir;
  fs::path co = dir.path;
  fs::create_directories(co / "examples");
  fs::copy(fs::path(ITERC_SOURCE_DIR) / "examples/llm_router.iter",
           co / "examples/llm_router.iter");
  std::string cacheA = "ITERC_CACHE_DIR=" + quote(co / "cacheA");
  std::string cacheB = "ITERC_CACHE_DIR=" + quote(co / "cacheB");
  REQUIRE(runIterc(co, "build examples/llm_router.iter -o from-source",
                   cacheA) == 0);
  REQUIRE(runIterc(co, "bundle examples/llm_router.iter -o r.bundle") == 0);
  REQUIRE(runIterc(co, "bundle examples/llm_router.iter -o r.bundle.md") == 0);
  // Another cache: the bundle is really compiled.
  REQUIRE(runIterc(co, "build r.bundle -o from-bundle", cacheB) == 0);
  std::string binary = readFile(co / "from-source");
  REQUIRE(binary.size() > 100000);
  CHECK(readFile(co / "from-bundle") == binary);
  // The same cache entry as the source's, whatever the bundle's name.
  fs::copy(co / "r.bundle.md", co / "review-copy");
  REQUIRE(runIterc(co, "build review-copy -o from-md --verbose", cacheA) == 0);
  CHECK(lastStderr(co).find("cache hit") != std::string::npos);
  CHECK(readFile(co / "from-md") == binary);
  // With no -o: ./<program>, as for a source.
  REQUIRE(runIterc(co, "build r.bundle", cacheA) == 0);
  CHECK(readFile(co / "triage") == binary);

  // Consistent hashes, but not what this iterc generates: refused.
  std::vector<EmittedFile> files = parsed(readFile(co / "r.bundle"));
  std::string cpp;
  for (const EmittedFile &f : files)
    if (f.path == "triage.cpp")
      cpp = f.content;
  REQUIRE(!cpp.empty());
  writeFile(co / "altered.bundle",
            write(withFile(files, "triage.cpp", cpp + "// extra\n"),
                  BundleForm::Binary));
  CHECK(runIterc(co, "build altered.bundle -o altered", cacheA) == 1);
  CHECK(lastStderr(co).find("file 'triage.cpp' is not what iterc") !=
        std::string::npos);
  CHECK(!fs::exists(co / "altered"));
  // `iterc run` takes a bundle as `build` does, with the same check.
  REQUIRE(runIterc(co, "run r.bundle -- --version", cacheA) == 0);
  CHECK(readFile(co / "stdout.txt").find("built by iterc") !=
        std::string::npos);
  CHECK(runIterc(co, "run altered.bundle -- --version", cacheA) == 1);
  CHECK(lastStderr(co).find("file 'triage.cpp' is not what iterc") !=
        std::string::npos);
  // Made by another iterc version: built from its source, with a note.
  writeFile(co / "old.bundle",
            write(withFile(files, "triage.cpp", cpp + "// old\n", "0.0.1-old"),
                  BundleForm::Binary));
  REQUIRE(runIterc(co, "build old.bundle -o from-old", cacheA) == 0);
  CHECK(lastStderr(co).find("made by iterc 0.0.1-old, this is iterc " +
                            std::string(ITERC_VERSION)) != std::string::npos);
  CHECK(readFile(co / "from-old") == binary);
}

TEST_CASE("iterc bundle and unbundle: help, usage and input errors",
          "[bundle]") {
  TempDir dir;
  fs::path co = dir.path;
  fs::copy(fs::path(ITERC_SOURCE_DIR) / "examples/llm_router.iter",
           co / "wf.iter");
  REQUIRE(runIterc(co, "bundle wf.iter -o wf.bundle") == 0);
  CHECK(runIterc(co, "bundle --help") == 0);
  CHECK(readFile(co / "stdout.txt").rfind("usage: iterc bundle", 0) == 0);
  CHECK(runIterc(co, "unbundle -h") == 0);
  CHECK(readFile(co / "stdout.txt").rfind("usage: iterc unbundle", 0) == 0);
  CHECK(runIterc(co, "--help") == 0);
  CHECK(readFile(co / "stdout.txt").find("  unbundle  ") != std::string::npos);
  CHECK(runIterc(co, "build --help") == 0);
  CHECK(readFile(co / "stdout.txt").find("bundle") != std::string::npos);

  for (const char *args :
       {"bundle", "bundle wf.iter", "bundle wf.iter -o", "bundle -o x.bundle",
        "bundle wf.iter -o x --format=zip", "bundle wf.iter -o x --frobnicate",
        "bundle wf.iter other.iter -o x", "bundle - -o x",
        "bundle missing.iter -o x", "unbundle", "unbundle wf.bundle",
        "unbundle wf.bundle --check -o d", "unbundle wf.bundle -o",
        "unbundle a.bundle b.bundle -o d", "unbundle wf.bundle -o d --x",
        "unbundle missing.bundle -o d", "build missing.bundle"}) {
    INFO(args);
    CHECK(runIterc(co, args) == 2);
    CHECK_FALSE(lastStderr(co).empty());
  }
  CHECK(!fs::exists(co / "x"));
  CHECK(!fs::exists(co / "d"));
  // A recorded source path that a bundle cannot hold.
  fs::create_directories(co / "sub");
  CHECK(runIterc(co / "sub", "bundle ../wf.iter -o x.bundle") == 2);
  CHECK(lastStderr(co / "sub").find("'../wf.iter' is recorded") !=
        std::string::npos);
  CHECK(!fs::exists(co / "sub/x.bundle"));
  // A file in the way of DIR is an I/O error.
  writeFile(co / "plain", "x");
  CHECK(runIterc(co, "unbundle wf.bundle -o plain") == 2);
  // A workflow with errors: exit 1, no bundle.
  writeFile(co / "bad.iter", "workflow w:\n  entry: nowhere\n");
  CHECK(runIterc(co, "bundle bad.iter -o bad.bundle") == 1);
  CHECK(!fs::exists(co / "bad.bundle"));
  // Not a bundle at all.
  writeFile(co / "junk.bundle", "hello\n");
  CHECK(runIterc(co, "unbundle junk.bundle -o d") == 1);
  CHECK(lastStderr(co).find("not an iterc bundle") != std::string::npos);
  // To standard output.
  CHECK(runIterc(co, "bundle wf.iter -o -") == 0);
  CHECK(readFile(co / "stdout.txt") == readFile(co / "wf.bundle"));
}

TEST_CASE("the Markdown example of docs/bundle.md is what iterc writes",
          "[bundle][docs]") {
  std::string doc = test::readRepoFile("docs/bundle.md");
  size_t start = doc.find("````markdown\n");
  REQUIRE(start != std::string::npos);
  start += 13;
  size_t end = doc.find("\n````\n", start);
  REQUIRE(end != std::string::npos);
  std::string example = doc.substr(start, end + 1 - start);
  std::vector<EmittedFile> files = {{"b.bin", std::string("\0\xff", 2)},
                                    {"a.txt", "hello"}};
  CHECK(example == write(files, BundleForm::Markdown));
  checkSame(parsed(example), sorted(files));
}
