//===- BuildCache.h - Trusting the build cache no more than needed -*- C++ -*-//
//
// `iterc build` and `iterc run` reuse executables from the build cache
// ($ITERC_CACHE_DIR). The cache must be the user's own: its root is created
// 0700 and refused when another user owns it or group or others may write
// it. Each entry records the sha256 of its executable when it is inserted,
// and a hit is used only through a descriptor whose content matched it, so
// an executable replaced in the cache is neither copied nor run.
//
//===----------------------------------------------------------------------===//
#ifndef ITERC_DRIVER_BUILDCACHE_H
#define ITERC_DRIVER_BUILDCACHE_H

#include <string>

namespace iterc::buildcache {

/// Creates `root` (and missing parents) with mode 0700, then checks that it
/// is a directory owned by this user that neither group nor others may
/// write. On failure `error` says why and what to do.
bool prepareRoot(const std::string &root, std::string &error);

/// Creates the directory `path` with mode 0700; an existing one is fine.
bool makePrivateDir(const std::string &path);

/// Records the sha256 of `entry`/`program` in the entry (`program.sha256`).
bool recordChecksum(const std::string &entry, const std::string &program,
                    std::string &error);

/// Opens `entry`/`program` (not through a symlink) and checks its content
/// against the recorded sha256. Returns a descriptor at offset 0 (close on
/// exec), or -1 with `error` saying why the entry cannot be trusted.
int openVerified(const std::string &entry, const std::string &program,
                 std::string &error);

} // namespace iterc::buildcache

#endif // ITERC_DRIVER_BUILDCACHE_H
