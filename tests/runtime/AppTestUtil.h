//===- AppTestUtil.h - A workflow's command line in tests -------*- C++ -*-===//
//
// appMain in process with string streams, and reading back the files a run
// wrote; shared by the tests of the command line and of secrets.
//
//===----------------------------------------------------------------------===//
#ifndef ITERC_TESTS_RUNTIME_APPTESTUTIL_H
#define ITERC_TESTS_RUNTIME_APPTESTUTIL_H

#include "RuntimeTestUtil.h" // readText
#include "iterc/rt/App.h"

#include <sstream>
#include <string>
#include <vector>

namespace iterc::rt::test {

struct CliResult {
  int code = -1;
  std::string out;
  std::string err;
};

/// Runs the command line of `wf` as `invocation ARGS...` (not a terminal
/// unless `tty`).
inline CliResult runCli(const WorkflowDesc &wf, const AppInfo &info,
                        const std::vector<std::string> &args,
                        const std::string &invocation, bool tty = false) {
  std::ostringstream out, err;
  CliResult r;
  r.code = appMain(wf, info, args, AppIo{out, err, tty, invocation});
  r.out = out.str();
  r.err = err.str();
  return r;
}

} // namespace iterc::rt::test

#endif // ITERC_TESTS_RUNTIME_APPTESTUTIL_H
