//===- Build.h - iterc emit, build and run ----------------------*- C++ -*-===//
//
// This file declares the subcommands that turn a workflow into artifacts:
// `emit` (generated files only), `build` (one static executable, through a
// content-addressed cache) and `run` (build, then execute).
//
//===----------------------------------------------------------------------===//
#ifndef ITERC_DRIVER_BUILD_H
#define ITERC_DRIVER_BUILD_H

#include <string>
#include <vector>

namespace iterc {

namespace codegen {
struct EmittedFile;
} // namespace codegen

namespace codegen {
struct Skeletons;
} // namespace codegen

int runEmit(int argc, char **argv);
int runBuild(int argc, char **argv);
int runRun(int argc, char **argv);

/// Checks the workflow `text` (found at `path`, as given) and generates its
/// files as `iterc emit` does, printing diagnostics. Returns the exit status.
int emitWorkflowFiles(const std::string &path, const std::string &text,
                      std::vector<codegen::EmittedFile> &files);

/// Loads the code-generation templates from where `emit` finds them (next
/// to an installed iterc, or through iterc-layout.txt in a build tree).
bool findSkeletons(codegen::Skeletons &skeletons, std::string &error);

extern const char *emitHelp;
extern const char *buildHelp;
extern const char *runHelp;

} // namespace iterc

#endif // ITERC_DRIVER_BUILD_H
