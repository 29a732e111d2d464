//===- ReplaceFile.cpp - Rewriting a file in place, atomically ------------===//
#include "Driver/ReplaceFile.h"

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

namespace {

std::string errnoText() { return std::strerror(errno); }

bool writeAll(int fd, const std::string &content) {
  size_t done = 0;
  while (done < content.size()) {
    ssize_t n = ::write(fd, content.data() + done, content.size() - done);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return false;
    done += size_t(n);
  }
  return true;
}

} // namespace

bool iterc::replaceFileContent(const std::string &path,
                               const std::string &content, std::string &error) {
  // The file the path finally names: a symlink is written through.
  char resolved[PATH_MAX];
  if (!::realpath(path.c_str(), resolved)) {
    error = "cannot resolve '" + path + "': " + errnoText();
    return false;
  }
  std::string target = resolved;
  struct stat st;
  if (::stat(target.c_str(), &st) != 0) {
    error = "cannot read '" + target + "': " + errnoText();
    return false;
  }
  if (!S_ISREG(st.st_mode)) {
    error = "'" + path + "' is not a regular file";
    return false;
  }
  size_t slash = target.find_last_of('/');
  std::string dir = slash == 0 ? "/" : target.substr(0, slash);
  std::string pattern =
      dir + "/." + target.substr(slash + 1) + ".iterc-fmt-XXXXXX";
  std::vector<char> buf(pattern.begin(), pattern.end());
  buf.push_back('\0');
  int fd = ::mkostemp(buf.data(), O_CLOEXEC); // 0600 until fchmod below
  if (fd < 0) {
    error = "cannot create a temporary file in '" + dir + "': " + errnoText();
    return false;
  }
  std::string tmp = buf.data();
  auto fail = [&](const std::string &what) {
    error = what + ": " + errnoText();
    ::close(fd);
    ::unlink(tmp.c_str());
    return false;
  };
  if (!writeAll(fd, content))
    return fail("cannot write '" + tmp + "'");
  // Owner and group first (a change of owner may clear set-id bits), then
  // the mode. Only root may give a file away; the group may still be kept.
  if (::fchown(fd, st.st_uid, st.st_gid) != 0)
    (void)::fchown(fd, uid_t(-1), st.st_gid);
  if (::fchmod(fd, st.st_mode & 07777) != 0)
    return fail("cannot set the mode of '" + tmp + "'");
  if (::fsync(fd) != 0)
    return fail("cannot flush '" + tmp + "'");
  if (::close(fd) != 0) {
    error = "cannot write '" + tmp + "': " + errnoText();
    ::unlink(tmp.c_str());
    return false;
  }
  if (::rename(tmp.c_str(), target.c_str()) != 0) {
    error = "cannot replace '" + target + "': " + errnoText();
    ::unlink(tmp.c_str());
    return false;
  }
  // The rename itself is durable once the directory is flushed.
  if (int dirFd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      dirFd >= 0) {
    ::fsync(dirFd);
    ::close(dirFd);
  }
  return true;
}
