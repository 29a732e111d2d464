//===- ReplaceFile.h - Rewriting a file in place, atomically ----*- C++ -*-===//
//
// `iterc fmt -i` rewrites a file the user owns and may reach through a
// symlink. The new content goes to a temporary file beside the file the
// path resolves to, with that file's mode and (when permitted) owner and
// group, is flushed to disk and renamed over it: a symlink stays a symlink,
// a 0600 file stays 0600, and a reader sees the old or the new text, never
// half of one.
//
//===----------------------------------------------------------------------===//
#ifndef ITERC_DRIVER_REPLACEFILE_H
#define ITERC_DRIVER_REPLACEFILE_H

#include <string>

namespace iterc {

/// Replaces the content of the regular file `path` names (following
/// symlinks) with `content`. On failure, `error` says why and the file is
/// unchanged.
bool replaceFileContent(const std::string &path, const std::string &content,
                        std::string &error);

} // namespace iterc

#endif // ITERC_DRIVER_REPLACEFILE_H
