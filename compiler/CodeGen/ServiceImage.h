//===- ServiceImage.h - The layout of a packaged service's image -*- C++
//-*-===//
//
// This file declares the facts the generated files and `iterc build
// --context` share about a `build` service with `program` and no
// `dockerfile` (ir::Service::generatesDockerfile): iterc packages the program
// into a FROM-scratch image of its own.
//
// compose.yaml builds such an image from the directory services/<name>/,
// which iterc owns: the generated Dockerfile, the program copied to
// app/<file name>, and, when the service has an HTTP health check, the
// health probe `iterc-probe` (a copy of the workflow's static executable,
// whose hidden `__probe URL` command does one GET). The compose health
// check then runs in exec form, without a shell, wget or curl, which a
// scratch image does not have. `iterc emit` writes the Dockerfile there;
// `iterc build --context DIR` writes the rest.
//
// The container stack runtime builds the same image from the service's own
// build context instead, and probes its health from the runner, so its
// Dockerfile copies the program from where the source names it and has no
// probe.
//
//===----------------------------------------------------------------------===//
#ifndef ITERC_CODEGEN_SERVICEIMAGE_H
#define ITERC_CODEGEN_SERVICEIMAGE_H

#include "IR/Ir.h"

#include <string>
#include <vector>

namespace iterc::codegen {

/// Where the generated Dockerfile of a packaged service takes its files.
enum class ServiceImageContext {
  /// services/<name>/, filled by `iterc build --context` (compose.yaml and
  /// the emitted file).
  Packaged,
  /// The service's own build context (the container stack runtime).
  BuildContext,
};

/// The file name of the health probe in services/<name>/ and its path in the
/// image.
inline constexpr const char *kProbeFile = "iterc-probe";
inline constexpr const char *kProbeImagePath = "/iterc-probe";

/// A compose key (service and volume names, and the directory of a packaged
/// service): [a-zA-Z0-9._-] only, other characters as `_`.
std::string composeKey(const std::string &name);

/// "services/<name>" (the compose key of the name) for a packaged service;
/// "" for any other.
std::string packagedServiceDir(const ir::Service &s);

/// The program's path inside services/<name>/: "app/<file name>".
std::string packagedProgramPath(const ir::Service &s);

/// The program's path inside the service's build context, normalised: no
/// "." or empty components ("./bin//server" -> "bin/server").
std::string programInContext(const ir::Service &s);

/// True when the packaged image carries the health probe: a packaged
/// service with an HTTP health check.
bool usesHealthProbe(const ir::Service &s);

/// The exec-form health test of such a service, as compose's `test` list:
/// {"CMD", "/iterc-probe", "__probe", "http://127.0.0.1:<port><path>",
/// "<timeout ms>"}.
std::vector<std::string> probeHealthTest(const ir::Service &s);

} // namespace iterc::codegen

#endif // ITERC_CODEGEN_SERVICEIMAGE_H
