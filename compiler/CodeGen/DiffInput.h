//===- DiffInput.h - Reading the two sides of iterc diff --------*- C++ -*-===//
//
// This file declares how `iterc diff` reads OLD and NEW into diff::Side:
//
//   - a `.iter` file (or "-"): checked, then emitted like `iterc emit`;
//   - a bundle (CodeGen/Bundle.h, either form), verified completely: its
//     source and the generated files it holds;
//   - an emit directory (anything with a manifest.json): the manifest and
//     the files it lists. Its source is used when the directory also holds
//     it under `source/` (as an unbundled bundle does) and its sha256
//     matches the manifest; otherwise there is no IR and only files are
//     compared.
//
// Reading is in two steps so that both .iter sides can be emitted with the
// same recorded source path (the path recorded in generated files would
// otherwise differ between, say, /tmp/old.iter and flow.iter and show up in
// every file): readDiffSide gathers what a side holds, loadDiffSides decides
// the recorded path, checks the sources and emits what is missing.
//
// Each kind of side is one reader called from readDiffSide: it sets the
// kind, the recorded path, the generated files and, when it carries the
// source, sourceText and sourceLabel; checking and comparing do not depend
// on where a side came from.
//
//===----------------------------------------------------------------------===//
#ifndef ITERC_CODEGEN_DIFFINPUT_H
#define ITERC_CODEGEN_DIFFINPUT_H

#include "CodeGen/CppEmitter.h"
#include "Tools/Diff.h"

#include <functional>
#include <optional>
#include <string>

namespace iterc::codegen {

/// One operand of `iterc diff`: where to read it and how to name it in the
/// output (the path as given, normally).
struct DiffInputSpec {
  std::string path;
  std::string label;
};

/// Reads a side without checking or emitting anything. Returns false and
/// sets `error` when it cannot be read.
bool readDiffSide(const DiffInputSpec &spec, diff::Side &side,
                  std::string &error);

struct DiffLoadOptions {
  /// Recorded source path for emitting .iter sides; "" picks one (the
  /// other side's manifest path, else NEW's path, else OLD's).
  std::string sourcePath;
  /// Loads the templates; called only when a .iter side is emitted.
  std::function<std::optional<Skeletons>(std::string &error)> skeletons;
  /// Colour the diagnostics.
  bool color = false;
};

/// Reads both sides, checks their sources and emits the files of .iter
/// sides. Returns false when a side cannot be read or a .iter side has
/// errors; `messages` then holds the errors and diagnostics to print.
bool loadDiffSides(const DiffInputSpec &oldSpec, const DiffInputSpec &newSpec,
                   const DiffLoadOptions &options, diff::Side &oldSide,
                   diff::Side &newSide, std::string &messages);

} // namespace iterc::codegen

#endif // ITERC_CODEGEN_DIFFINPUT_H
