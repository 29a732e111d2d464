//===- FileText.h - Whole-file reads and writes without iostreams -*- C++
//-*-===//
//
// This file declares the two file helpers the runtime uses where it once
// would use std::ifstream and std::ofstream: a static executable that
// touches no file stream does not link the iostreams and locale machinery.
// A read returns the whole file or nothing (a read error is an error, never
// a shortened text); a write creates or truncates the file with mode 0666
// minus the umask.
//
//===----------------------------------------------------------------------===//
#ifndef ITERC_RT_SRC_FILETEXT_H
#define ITERC_RT_SRC_FILETEXT_H

#include <optional>
#include <string>
#include <string_view>

namespace iterc::rt {

/// The whole content of `path`, or nullopt when it cannot be opened or read
/// (errno says why).
/// With `followLinks` false a symlink at `path` is refused (O_NOFOLLOW):
/// for files in a directory others can write, such as the workspace.
std::optional<std::string> readFileText(const std::string &path,
                                        bool followLinks = true);

/// The whole content of the regular file `path`, or nullopt with `error`
/// saying why: it cannot be opened or read, it is a directory, it is not a
/// regular file (a FIFO, socket or device is refused without waiting for a
/// writer or reading forever), or it holds more than `maxBytes` bytes
/// (checked before reading and again while reading). `path` "-" reads
/// standard input, bounded the same way. `limitFor` names the limit in the
/// size error ("... the limit for a source file").
std::optional<std::string> readBoundedFile(const std::string &path,
                                           size_t maxBytes, std::string &error,
                                           std::string_view limitFor = {});

/// Creates or truncates `path` and writes `text` to it; false when the file
/// cannot be opened or a write fails (errno says why). `opened`, when given,
/// tells the two apart.
bool writeFileText(const std::string &path, std::string_view text,
                   bool *opened = nullptr, bool followLinks = true);

} // namespace iterc::rt

#endif // ITERC_RT_SRC_FILETEXT_H
