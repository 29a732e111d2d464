//===- FmtInPlaceTest.cpp - iterc fmt -i keeps the file it rewrites -------===//
//
// This file tests what `iterc fmt -i` leaves behind: the file's mode (a
// private 0600 file stays private), its owner and group (when the test runs
// as root and can give a file away), a symlink stays a symlink and the file
// it names is formatted, and no temporary file is left over.
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

const std::string messyText = "agent a:\n    model:    \"m\"\n\n";
const std::string canonicalText = "agent a:\n  model: \"m\"\n";

int fmtInPlace(const fs::path &file) {
  return shell(std::string(ITERC_BINARY) + " fmt -i " + quote(file) +
               " >/dev/null 2>&1");
}

struct stat statOf(const fs::path &path, bool follow = true) {
  struct stat st;
  REQUIRE((follow ? ::stat(path.c_str(), &st) : ::lstat(path.c_str(), &st)) ==
          0);
  return st;
}

size_t entries(const fs::path &dir) {
  size_t n = 0;
  for ([[maybe_unused]] const auto &e : fs::directory_iterator(dir))
    ++n;
  return n;
}

} // namespace

TEST_CASE("fmt -i keeps the file's mode", "[fmt][driver]") {
  TempDir dir;
  for (mode_t mode : {mode_t(0600), mode_t(0640), mode_t(0755)}) {
    INFO("mode " << std::oct << mode);
    fs::path file = dir.path / "wf.iter";
    writeFile(file, messyText);
    REQUIRE(::chmod(file.c_str(), mode) == 0);
    REQUIRE(fmtInPlace(file) == 0);
    CHECK(readFile(file) == canonicalText);
    CHECK((statOf(file).st_mode & 07777) == mode);
    CHECK(entries(dir.path) == 1); // no temporary file left over
  }
}

TEST_CASE("fmt -i writes through a symlink", "[fmt][driver]") {
  TempDir dir;
  fs::create_directories(dir.path / "real");
  fs::create_directories(dir.path / "links");
  fs::path target = dir.path / "real/wf.iter";
  writeFile(target, messyText);
  REQUIRE(::chmod(target.c_str(), 0600) == 0);
  fs::path link = dir.path / "links/wf.iter";
  fs::path chain = dir.path / "links/chain.iter";
  REQUIRE(::symlink("../real/wf.iter", link.c_str()) == 0);
  REQUIRE(::symlink("wf.iter", chain.c_str()) == 0);

  REQUIRE(fmtInPlace(chain) == 0);
  CHECK(S_ISLNK(statOf(link, false).st_mode));
  CHECK(S_ISLNK(statOf(chain, false).st_mode));
  CHECK(fs::read_symlink(link) == "../real/wf.iter");
  CHECK(readFile(target) == canonicalText);
  CHECK((statOf(target).st_mode & 07777) == 0600);
  CHECK(entries(dir.path / "real") == 1);
  CHECK(entries(dir.path / "links") == 2);
}

TEST_CASE("fmt -i keeps the file's owner and group", "[fmt][driver]") {
  if (::geteuid() != 0) {
    WARN("SKIPPED: giving a file to another owner needs root");
    return;
  }
  TempDir dir;
  fs::path file = dir.path / "wf.iter";
  writeFile(file, messyText);
  REQUIRE(::chown(file.c_str(), 4321, 4322) == 0);
  REQUIRE(fmtInPlace(file) == 0);
  CHECK(readFile(file) == canonicalText);
  CHECK(statOf(file).st_uid == 4321);
  CHECK(statOf(file).st_gid == 4322);
}
