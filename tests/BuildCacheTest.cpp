//===- BuildCacheTest.cpp - The build cache is verified before use --------===//
//
// This file tests that `iterc build` and `iterc run` do not trust the build
// cache blindly: a cached executable replaced after it was built is neither
// copied nor run (the entry is built again, with a warning), new cache
// directories are private (0700), and a cache directory others may write
// or another user owns is refused.
//
//===----------------------------------------------------------------------===//
#include "TestUtil.h"

#include <catch2/catch.hpp>

#include <filesystem>
#include <sys/stat.h>
#include <unistd.h>

using namespace iterc::test;
namespace fs = std::filesystem;

namespace {

/// The one cached executable under `cache` (its entry has program.txt).
fs::path cachedExecutable(const fs::path &cache) {
  std::vector<fs::path> found;
  for (const auto &e : fs::recursive_directory_iterator(cache))
    if (e.path().filename() == "program.txt")
      found.push_back(e.path().parent_path() / readFile(e.path()));
  REQUIRE(found.size() == 1);
  return found[0];
}

mode_t modeOf(const fs::path &path) {
  struct stat st;
  REQUIRE(::stat(path.c_str(), &st) == 0);
  return st.st_mode & 07777;
}

/// Replaces the cached executable by a script that leaves a canary.
std::string tamper(const fs::path &binary, const fs::path &canary) {
  std::string fake = "#!/bin/sh\ntouch " + quote(canary) + "\n";
  fs::remove(binary);
  writeFile(binary, fake);
  fs::permissions(binary, fs::perms(0755));
  return fake;
}

} // namespace

TEST_CASE("a tampered cached executable is neither copied nor run",
          "[build][cache]") {
  TempDir dir;
  writeFile(dir.path / "wf.iter",
            readFile(fs::path(ITERC_SOURCE_DIR) / "examples/llm_router.iter"));
  fs::path cache = dir.path / "cache";
  std::string env =
      "cd " + quote(dir.path) + " && ITERC_CACHE_DIR=" + quote(cache) + " ";
  REQUIRE(shell(env + ITERC_BINARY " build wf.iter -o one 2>/dev/null") == 0);
  std::string original = readFile(dir.path / "one");
  REQUIRE(original.size() > 100000);

  // New cache directories are private.
  fs::path binary = cachedExecutable(cache);
  CHECK(modeOf(cache) == 0700);
  CHECK(modeOf(binary.parent_path()) == 0700);
  CHECK(modeOf(binary.parent_path().parent_path()) == 0700);

  fs::path canary = dir.path / "canary";
  std::string fake = tamper(binary, canary);
  REQUIRE(shell(env + ITERC_BINARY " build wf.iter -o two 2>two.txt") == 0);
  std::string copied = readFile(dir.path / "two");
  bool copiedFake = copied == fake, copiedOriginal = copied == original;
  CHECK(!copiedFake);
  CHECK(copiedOriginal);
  CHECK(readFile(dir.path / "two.txt").find("checksum") != std::string::npos);
  // The entry was built again: the cache holds the real executable.
  bool rebuilt = readFile(cachedExecutable(cache)) == original;
  CHECK(rebuilt);

  tamper(cachedExecutable(cache), canary);
  CHECK(shell(env + ITERC_BINARY
              " run wf.iter -- --help >run.txt 2>run-err.txt") == 0);
  CHECK(!fs::exists(canary));
  CHECK(readFile(dir.path / "run.txt").find("usage") != std::string::npos);
  bool rebuiltForRun = readFile(cachedExecutable(cache)) == original;
  CHECK(rebuiltForRun);
}

TEST_CASE("a cache directory others may write is refused", "[build][cache]") {
  TempDir dir;
  writeFile(dir.path / "wf.iter",
            readFile(fs::path(ITERC_SOURCE_DIR) / "examples/llm_router.iter"));
  fs::path cache = dir.path / "shared";
  fs::create_directories(cache);
  REQUIRE(::chmod(cache.c_str(), 0777) == 0);
  std::string env =
      "cd " + quote(dir.path) + " && ITERC_CACHE_DIR=" + quote(cache) + " ";
  CHECK(shell(env + ITERC_BINARY " build wf.iter -o wf 2>err.txt") == 2);
  CHECK(!fs::exists(dir.path / "wf"));
  std::string err = readFile(dir.path / "err.txt");
  CHECK(err.find("may be written by others (mode 0777)") != std::string::npos);
  CHECK(err.find("chmod 700") != std::string::npos);
  CHECK(shell(env + ITERC_BINARY " run wf.iter -- --help >/dev/null 2>&1") ==
        2);
  CHECK(fs::is_empty(cache));

  if (::geteuid() == 0) {
    // Another user's cache, private or not, is not ours to run from.
    REQUIRE(::chmod(cache.c_str(), 0700) == 0);
    REQUIRE(::chown(cache.c_str(), 4321, 4321) == 0);
    CHECK(shell(env + ITERC_BINARY " build wf.iter -o wf 2>err2.txt") == 2);
    CHECK(readFile(dir.path / "err2.txt").find("belongs to another user") !=
          std::string::npos);
  } else {
    WARN("SKIPPED: a cache owned by another user needs root to set up");
  }
}
