//===- EmitContext.h - What every emitter knows about its input -*- C++ -*-===//
//
// This file declares EmitContext: the facts about one compilation that the
// emitters (C++, CMake, Dockerfile, compose, README, manifest) share. Every
// field is derived from the source text and iterc's version only, never from
// the machine, the time or the checkout path, so emitted files are
// byte-reproducible.
//
//===----------------------------------------------------------------------===//
#ifndef ITERC_CODEGEN_EMITCONTEXT_H
#define ITERC_CODEGEN_EMITCONTEXT_H

#include <string>

namespace iterc::codegen {

struct EmitContext {
  /// The executable's name: the workflow name, lower-cased, with every
  /// character outside [a-z0-9_-] replaced by '_' (e.g. "pr_review").
  std::string programName;
  /// The source path as given, relative, with '/' separators (e.g.
  /// "examples/pr_review.iter"); only its file name is used when the path
  /// is absolute.
  std::string sourcePath;
  /// Lower-case hex sha256 of the source bytes.
  std::string sourceSha256;
  /// iterc's version, e.g. "0.1.0".
  std::string itercVersion;
};

} // namespace iterc::codegen

#endif // ITERC_CODEGEN_EMITCONTEXT_H
