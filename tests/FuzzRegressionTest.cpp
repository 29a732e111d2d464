//===- FuzzRegressionTest.cpp - Inputs the fuzzer once broke --------------===//
//
// Every file in tests/fuzz/regressions/ is an input, minimised by libFuzzer,
// that once crashed, hung or tripped a sanitizer in the front end. Each must
// now go through the whole front end and every renderer and come back.
//
//===----------------------------------------------------------------------===//
#include "TestUtil.h"

#include <catch2/catch.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

using namespace iterc;
using namespace iterc::test;
namespace fs = std::filesystem;

TEST_CASE("fuzzer regressions go through the front end", "[fuzz]") {
  fs::path dir = fs::path(ITERC_SOURCE_DIR) / "tests" / "fuzz" / "regressions";
  std::vector<fs::path> files;
  if (fs::is_directory(dir))
    for (const fs::directory_entry &entry : fs::directory_iterator(dir))
      if (entry.is_regular_file() && entry.path().extension() == ".iter")
        files.push_back(entry.path());
  std::sort(files.begin(), files.end());
  if (files.empty()) {
    WARN("no fuzzer regressions in " << dir.string());
    return;
  }
  for (const fs::path &path : files) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    INFO(path.filename().string());
    CheckResult r = checkSource(ss.str(), path.filename().string());
    // Returning at all is the point; the renderings must be well formed.
    std::string text = r.render(DiagnosticFormat::Text);
    std::string json = r.render(DiagnosticFormat::Json);
    std::string sarif = r.render(DiagnosticFormat::Sarif);
    CHECK_NOTHROW(nlohmann::json::parse(json));
    CHECK_NOTHROW(nlohmann::json::parse(sarif));
    CHECK((r.diags.empty() || !text.empty()));
  }
}
