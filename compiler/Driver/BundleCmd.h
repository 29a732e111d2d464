//===- BundleCmd.h - iterc bundle and iterc unbundle ------------*- C++ -*-===//
//
// This file declares `iterc bundle` (a workflow, its generated files and its
// manifest in one file), `iterc unbundle` (verify and restore) and what
// `iterc build` needs to build from a bundle. The format is in
// CodeGen/Bundle.h and docs/bundle.md.
//
//===----------------------------------------------------------------------===//
#ifndef ITERC_DRIVER_BUNDLECMD_H
#define ITERC_DRIVER_BUNDLECMD_H

#include "CodeGen/Bundle.h"

#include <string>

namespace iterc {

int runBundle(int argc, char **argv);
int runUnbundle(int argc, char **argv);

extern const char *bundleHelp;
extern const char *unbundleHelp;

/// True when `iterc build` reads `path` as a bundle: its name ends in
/// .bundle or .bundle.md, or its first line is a bundle's.
bool isBundleInput(const std::string &path);

/// Reads and verifies the bundle at `path` for `iterc build`: every length
/// and sha256, the digest, the manifest. When another iterc version made
/// it, says so (only its source is used then). Prints why it is refused;
/// returns the exit status.
int loadBundleForBuild(const std::string &path,
                       codegen::WorkflowBundle &bundle);

/// After `iterc build` generated the files for the bundled source into
/// `generatedDir`: the generated files the bundle holds must be those, byte
/// for byte, unless another iterc version made the bundle. Prints the first
/// difference; returns the exit status.
int checkBundleAgainstBuild(const std::string &path,
                            const codegen::WorkflowBundle &bundle,
                            const std::string &generatedDir);

} // namespace iterc

#endif // ITERC_DRIVER_BUNDLECMD_H
