//===- Bundle.cpp - A workflow and its emitted files in one file ----------===//
//
// This file implements the two forms of the bundle format (docs/bundle.md):
// writing, reading with full verification, and the check that a bundle
// holds one workflow consistent with its manifest.
//
// Readers verify in file order, so that a damaged file is named: its path,
// its length, its sha256; then the list as a whole (order, duplicates,
// conflicts, count, digest); last, that the input is byte for byte what
// the writer produces for those files (the canonical form).
//
//===----------------------------------------------------------------------===//
#include "CodeGen/Bundle.h"
#include "Basic/Utf8.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <set>

using namespace iterc;
using namespace iterc::codegen;

namespace {

constexpr std::string_view BinaryMagic = "iterc-bundle ";
constexpr std::string_view MarkdownMagic = "<!-- iterc-bundle ";
constexpr std::string_view MarkdownMagicEnd = " markdown -->";
constexpr std::string_view ManifestName = "manifest.json";
constexpr size_t Base64LineWidth = 76;
constexpr size_t MaxPathBytes = 4096;
constexpr size_t MaxComponentBytes = 255;
/// Lengths and counts have at most this many digits (up to 10^15 - 1).
constexpr size_t MaxDigits = 15;

bool startsWith(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

bool isHex64(std::string_view s) {
  return s.size() == 64 && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

/// A decimal number without sign or leading zeros.
std::optional<uint64_t> parseCount(std::string_view s) {
  if (s.empty() || s.size() > MaxDigits || (s.size() > 1 && s[0] == '0'))
    return std::nullopt;
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9')
      return std::nullopt;
    v = v * 10 + uint64_t(c - '0');
  }
  return v;
}

/// `s` for a message: control bytes escaped, at most 120 bytes.
std::string printable(std::string_view s) {
  static const char *hex = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < s.size() && i < 120; ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c < 0x20 || c == 0x7f) {
      out += "\\x";
      out += hex[c >> 4];
      out += hex[c & 15];
    } else {
      out += char(c);
    }
  }
  if (s.size() > 120)
    out += "...";
  return out;
}

bool isValidUtf8(std::string_view s) {
  return findInvalidUtf8(s) == std::string_view::npos;
}

const char *Base64Alphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 with padding, in lines of 76 characters, each ending
/// with a newline.
std::string base64Lines(std::string_view data) {
  std::string flat;
  flat.reserve((data.size() + 2) / 3 * 4);
  for (size_t i = 0; i < data.size(); i += 3) {
    uint32_t v = uint32_t(static_cast<unsigned char>(data[i])) << 16;
    if (i + 1 < data.size())
      v |= uint32_t(static_cast<unsigned char>(data[i + 1])) << 8;
    if (i + 2 < data.size())
      v |= uint32_t(static_cast<unsigned char>(data[i + 2]));
    flat += Base64Alphabet[(v >> 18) & 63];
    flat += Base64Alphabet[(v >> 12) & 63];
    flat += i + 1 < data.size() ? Base64Alphabet[(v >> 6) & 63] : '=';
    flat += i + 2 < data.size() ? Base64Alphabet[v & 63] : '=';
  }
  std::string out;
  for (size_t i = 0; i < flat.size(); i += Base64LineWidth)
    out.append(flat, i, Base64LineWidth).push_back('\n');
  return out;
}

/// Decodes base64 lines (newlines ignored). Strictness beyond the alphabet
/// and the padding comes from the canonical-form check.
std::optional<std::string> decodeBase64(std::string_view text) {
  std::string flat;
  for (char c : text)
    if (c != '\n')
      flat += c;
  if (flat.size() % 4)
    return std::nullopt;
  std::string out;
  for (size_t i = 0; i < flat.size(); i += 4) {
    uint32_t v = 0;
    int pad = 0;
    for (size_t k = 0; k < 4; ++k) {
      char c = flat[i + k];
      const char *at = c ? std::strchr(Base64Alphabet, c) : nullptr;
      if (c == '=' && i + 4 == flat.size() && k >= 2) {
        ++pad;
        v <<= 6;
        continue;
      }
      if (!at || pad)
        return std::nullopt;
      v = (v << 6) | uint32_t(at - Base64Alphabet);
    }
    out += char((v >> 16) & 255);
    if (pad < 2)
      out += char((v >> 8) & 255);
    if (pad < 1)
      out += char(v & 255);
  }
  return out;
}

/// The fence for text content: one backtick more than its longest run of
/// backticks, at least three.
std::string fenceFor(std::string_view content) {
  size_t longest = 0, run = 0;
  for (char c : content) {
    run = c == '`' ? run + 1 : 0;
    longest = std::max(longest, run);
  }
  return std::string(std::max<size_t>(3, longest + 1), '`');
}

bool endsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() &&
         s.substr(s.size() - suffix.size()) == suffix;
}

/// The fence's info string for a text file (for syntax highlighting only).
std::string_view infoFor(std::string_view path) {
  std::string_view name = path.substr(path.find_last_of('/') + 1);
  if (endsWith(name, ".iter"))
    return "iter";
  if (endsWith(name, ".cpp") || endsWith(name, ".h"))
    return "cpp";
  if (name == "CMakeLists.txt" || endsWith(name, ".cmake"))
    return "cmake";
  if (name == "Dockerfile")
    return "dockerfile";
  if (endsWith(name, ".yaml") || endsWith(name, ".yml"))
    return "yaml";
  if (endsWith(name, ".md"))
    return "markdown";
  if (endsWith(name, ".json"))
    return "json";
  return "text";
}

std::string plural(size_t n, const char *word) {
  return std::to_string(n) + " " + word + (n == 1 ? "" : "s");
}

/// The sha256 of every file, in order.
std::vector<std::string> hashes(const std::vector<EmittedFile> &files) {
  std::vector<std::string> out;
  out.reserve(files.size());
  for (const EmittedFile &f : files)
    out.push_back(sha256Hex(f.content));
  return out;
}

std::string digestOf(const std::vector<EmittedFile> &files,
                     const std::vector<std::string> &sha) {
  std::string index;
  for (size_t i = 0; i < files.size(); ++i)
    index += std::to_string(files[i].content.size()) + " " + sha[i] + " " +
             files[i].path + "\n";
  return sha256Hex(index);
}

std::string renderBinary(const std::vector<EmittedFile> &files,
                         const std::vector<std::string> &sha) {
  size_t size = 64;
  for (const EmittedFile &f : files)
    size += f.content.size() + f.path.size() + 96;
  std::string out;
  out.reserve(size);
  out += BinaryMagic;
  out += std::to_string(BundleFormatVersion) + "\n";
  for (size_t i = 0; i < files.size(); ++i) {
    out += "file " + std::to_string(files[i].content.size()) + " " + sha[i] +
           " " + files[i].path + "\n";
    out += files[i].content;
    out += '\n';
  }
  out +=
      "end " + std::to_string(files.size()) + " " + digestOf(files, sha) + "\n";
  return out;
}

std::string renderMarkdown(const std::vector<EmittedFile> &files,
                           const std::vector<std::string> &sha) {
  size_t size = 1024;
  for (const EmittedFile &f : files)
    size += f.content.size() * 4 / 3 + f.path.size() + 256;
  std::string out;
  out.reserve(size);
  out += MarkdownMagic;
  out += std::to_string(BundleFormatVersion);
  out += MarkdownMagicEnd;
  out += "\n# iterc bundle\n\n";
  out += "This bundle holds " + plural(files.size(), "file") +
         ". `iterc unbundle` restores them byte for byte\n"
         "after checking every length and sha256; `iterc build` builds the "
         "bundled\n"
         "workflow. Each file has a heading with its path, a line with its "
         "length,\n"
         "sha256 and encoding, and its content in a fence longer than any run "
         "of\n"
         "backticks inside it: text as is (the fence adds a final newline "
         "where the\n"
         "line says \"no final newline\"), anything else in base64. The "
         "format is\n"
         "described in docs/bundle.md of iterc's sources.\n\n";
  for (size_t i = 0; i < files.size(); ++i) {
    const std::string &content = files[i].content;
    bool text = isMarkdownText(content);
    bool noFinalNewline = text && !content.empty() && content.back() != '\n';
    out += "## `" + files[i].path + "`\n\n";
    out += plural(content.size(), "byte") + ", sha256 `" + sha[i] + "`, " +
           (text ? "text" : "base64") +
           (noFinalNewline ? ", no final newline" : "") + "\n\n";
    if (text) {
      std::string fence = fenceFor(content);
      out += fence;
      out += infoFor(files[i].path);
      out += '\n';
      out += content;
      if (noFinalNewline)
        out += '\n';
      out += fence + "\n\n";
    } else {
      out += "```base64\n" + base64Lines(content) + "```\n\n";
    }
  }
  out += "---\n\nBundle digest: sha256 `" + digestOf(files, sha) + "` over " +
         plural(files.size(), "file") + ".\n";
  return out;
}

std::string render(const std::vector<EmittedFile> &files,
                   const std::vector<std::string> &sha, BundleForm form) {
  return form == BundleForm::Binary ? renderBinary(files, sha)
                                    : renderMarkdown(files, sha);
}

/// Checks the list as a whole: paths, order, duplicates, and no file
/// inside another file.
bool checkList(const std::vector<EmittedFile> &files, BundleError &error) {
  std::set<std::string_view> paths;
  for (size_t i = 0; i < files.size(); ++i) {
    const std::string &path = files[i].path;
    if (std::string why = checkBundlePath(path); !why.empty()) {
      error = {path, why};
      return false;
    }
    if (!paths.insert(path).second) {
      error = {path, "the bundle holds this path twice"};
      return false;
    }
    if (i > 0 && !bundleOrderLess(files[i - 1].path, path)) {
      error = {path, "out of order: it comes after '" + files[i - 1].path +
                         "' (files are sorted by path, manifest.json last)"};
      return false;
    }
  }
  for (const EmittedFile &f : files)
    for (size_t slash = f.path.find('/'); slash != std::string::npos;
         slash = f.path.find('/', slash + 1))
      if (paths.count(std::string_view(f.path).substr(0, slash))) {
        error = {f.path, "is inside '" + f.path.substr(0, slash) +
                             "', which the bundle holds as a file"};
        return false;
      }
  return true;
}

/// The checks after parsing: the list, the count and digest the trailer
/// gives, the canonical form. `starts` are the offsets where each file's
/// part of `data` begins, to name the file around a difference.
std::optional<Bundle> finish(std::string_view data, BundleForm form,
                             std::vector<EmittedFile> files,
                             const std::vector<std::string> &sha,
                             const std::vector<size_t> &starts, uint64_t count,
                             std::string_view digest, BundleError &error) {
  if (!checkList(files, error))
    return std::nullopt;
  if (count != files.size()) {
    error = {"", "the bundle says it holds " + plural(count, "file") +
                     " but holds " + std::to_string(files.size()) +
                     ": a file was added or removed"};
    return std::nullopt;
  }
  if (digest != digestOf(files, sha)) {
    error = {"", "the bundle digest does not match its files: a file was "
                 "added, removed, renamed or reordered, or the digest "
                 "was altered"};
    return std::nullopt;
  }
  std::string canonical = render(files, sha, form);
  if (canonical != data) {
    size_t at = 0;
    while (at < data.size() && at < canonical.size() &&
           data[at] == canonical[at])
      ++at;
    size_t line = 1 + size_t(std::count(data.begin(), data.begin() + at, '\n'));
    std::string file;
    for (size_t i = 0; i < starts.size(); ++i)
      if (starts[i] <= at)
        file = files[i].path;
    error = {file, "the bundle is not in the exact form iterc writes (line " +
                       std::to_string(line) +
                       " differs): it was edited or damaged"};
    return std::nullopt;
  }
  Bundle bundle;
  bundle.form = form;
  bundle.files = std::move(files);
  return bundle;
}

std::string hashMismatch(const std::string &expected,
                         const std::string &actual) {
  return "the content does not match its sha256 (the bundle says " +
         expected.substr(0, 16) + "..., the content has " +
         actual.substr(0, 16) + "...): the file was altered or damaged";
}

std::optional<Bundle> readBinary(std::string_view data, size_t pos,
                                 BundleError &error) {
  std::vector<EmittedFile> files;
  std::vector<std::string> sha;
  std::vector<size_t> starts;
  auto after = [&]() {
    return files.empty() ? std::string("after its header line")
                         : "after the file '" + files.back().path + "'";
  };
  while (true) {
    size_t newline = data.find('\n', pos);
    if (newline == std::string_view::npos) {
      error = {"", "truncated: the bundle ends " + after() +
                       " without its 'end' line"};
      return std::nullopt;
    }
    size_t start = pos;
    std::string_view line = data.substr(pos, newline - pos);
    pos = newline + 1;
    if (startsWith(line, "end ")) {
      std::string_view rest = line.substr(4);
      size_t space = rest.find(' ');
      std::optional<uint64_t> count = space == std::string_view::npos
                                          ? std::nullopt
                                          : parseCount(rest.substr(0, space));
      std::string_view digest =
          space == std::string_view::npos ? "" : rest.substr(space + 1);
      if (!count || !isHex64(digest)) {
        error = {"", "malformed 'end' line '" + printable(line) + "'"};
        return std::nullopt;
      }
      if (pos != data.size()) {
        error = {"", "unexpected data after the 'end' line"};
        return std::nullopt;
      }
      return finish(data, BundleForm::Binary, std::move(files), sha, starts,
                    *count, digest, error);
    }
    if (!startsWith(line, "file ")) {
      error = {"", "expected a 'file' or 'end' line " + after() + ", found '" +
                       printable(line) + "'"};
      return std::nullopt;
    }
    // file <bytes> <sha256> <path>
    std::string_view rest = line.substr(5);
    size_t space = rest.find(' ');
    std::optional<uint64_t> bytes = space == std::string_view::npos
                                        ? std::nullopt
                                        : parseCount(rest.substr(0, space));
    std::string_view hash, path;
    if (bytes && rest.size() > space + 66 && rest[space + 65] == ' ') {
      hash = rest.substr(space + 1, 64);
      path = rest.substr(space + 66);
    }
    if (!bytes || !isHex64(hash)) {
      error = {"",
               "malformed file header '" + printable(line) + "' " + after()};
      return std::nullopt;
    }
    EmittedFile file;
    file.path = std::string(path);
    if (std::string why = checkBundlePath(file.path); !why.empty()) {
      error = {file.path, why};
      return std::nullopt;
    }
    if (data.size() - pos < *bytes) {
      error = {file.path, "truncated: the bundle ends after " +
                              std::to_string(data.size() - pos) + " of its " +
                              plural(*bytes, "byte")};
      return std::nullopt;
    }
    file.content = std::string(data.substr(pos, *bytes));
    pos += *bytes;
    if (pos == data.size()) {
      error = {file.path,
               "truncated: the bundle ends right after this file's content"};
      return std::nullopt;
    }
    if (data[pos] != '\n') {
      error = {file.path, "its content is not followed by a newline: its "
                          "length is wrong or the bundle was altered"};
      return std::nullopt;
    }
    ++pos;
    std::string actual = sha256Hex(file.content);
    if (actual != hash) {
      error = {file.path, hashMismatch(std::string(hash), actual)};
      return std::nullopt;
    }
    starts.push_back(start);
    sha.push_back(std::move(actual));
    files.push_back(std::move(file));
  }
}

/// Lines of a Markdown bundle, with their offsets. Every line the writer
/// writes ends with a newline: a last line without one was cut short, and
/// counts as the end of the data.
struct LineReader {
  std::string_view data;
  size_t pos = 0;
  size_t lineStart = 0; ///< Offset of the line `next` returned last.

  std::optional<std::string_view> next() {
    size_t newline = data.find('\n', pos);
    if (newline == std::string_view::npos)
      return std::nullopt;
    lineStart = pos;
    pos = newline + 1;
    return data.substr(lineStart, newline - lineStart);
  }
};

/// "<n> byte(s), sha256 `<hex>`, text|base64[, no final newline]"
struct Descriptor {
  uint64_t bytes = 0;
  std::string sha;
  bool base64 = false;
  bool noFinalNewline = false;
};

std::optional<Descriptor> parseDescriptor(std::string_view line) {
  Descriptor d;
  size_t space = line.find(' ');
  std::optional<uint64_t> bytes = space == std::string_view::npos
                                      ? std::nullopt
                                      : parseCount(line.substr(0, space));
  if (!bytes)
    return std::nullopt;
  d.bytes = *bytes;
  std::string_view rest = line.substr(space + 1);
  std::string_view unit = *bytes == 1 ? "byte, sha256 `" : "bytes, sha256 `";
  if (!startsWith(rest, unit) || rest.size() < unit.size() + 65)
    return std::nullopt;
  d.sha = std::string(rest.substr(unit.size(), 64));
  rest = rest.substr(unit.size() + 64);
  if (!isHex64(d.sha))
    return std::nullopt;
  if (rest == "`, text") {
  } else if (rest == "`, text, no final newline") {
    d.noFinalNewline = true;
  } else if (rest == "`, base64") {
    d.base64 = true;
  } else {
    return std::nullopt;
  }
  return d;
}

std::optional<Bundle> readMarkdown(std::string_view data, BundleError &error) {
  LineReader in{data};
  in.next(); // The header line, checked by the caller.
  std::optional<std::string_view> line;
  // The preamble is prose; the canonical-form check pins it.
  while (true) {
    line = in.next();
    if (!line) {
      error = {"", "truncated: the bundle ends before its first file and "
                   "before its digest"};
      return std::nullopt;
    }
    if (startsWith(*line, "## ") || *line == "---")
      break;
  }
  std::vector<EmittedFile> files;
  std::vector<std::string> sha;
  std::vector<size_t> starts;
  auto malformed = [&](const std::string &file, const std::string &what) {
    size_t lineNo =
        1 + size_t(std::count(data.begin(), data.begin() + in.lineStart, '\n'));
    error = {file, "line " + std::to_string(lineNo) + ": " + what};
    return std::nullopt;
  };
  auto truncated = [&](const std::string &file) {
    error = {file, "truncated: the bundle ends inside this file's part"};
    return std::nullopt;
  };
  while (startsWith(*line, "## ")) {
    size_t start = in.lineStart;
    if (line->size() < 6 || (*line)[3] != '`' || line->back() != '`')
      return malformed("", "expected a heading '## `PATH`', found '" +
                               printable(*line) + "'");
    EmittedFile file;
    file.path = std::string(line->substr(4, line->size() - 5));
    if (std::string why = checkBundlePath(file.path); !why.empty()) {
      error = {file.path, why};
      return std::nullopt;
    }
    if (!(line = in.next()))
      return truncated(file.path);
    if (!line->empty())
      return malformed(file.path, "expected an empty line after the heading");
    if (!(line = in.next()))
      return truncated(file.path);
    std::optional<Descriptor> desc = parseDescriptor(*line);
    if (!desc)
      return malformed(file.path,
                       "expected '<N> bytes, sha256 `<hex>`, text|base64', "
                       "found '" +
                           printable(*line) + "'");
    if (!(line = in.next()))
      return truncated(file.path);
    if (!line->empty())
      return malformed(file.path,
                       "expected an empty line after the length and sha256");
    if (!(line = in.next()))
      return truncated(file.path);
    size_t ticks = 0;
    while (ticks < line->size() && (*line)[ticks] == '`')
      ++ticks;
    if (ticks < 3 || line->find('`', ticks) != std::string_view::npos)
      return malformed(file.path, "expected the opening fence (```...)");
    std::string fence(ticks, '`');
    size_t bodyStart = in.pos;
    while (true) {
      if (!(line = in.next()))
        return truncated(file.path);
      if (*line == fence)
        break;
    }
    std::string_view body = data.substr(bodyStart, in.lineStart - bodyStart);
    if (desc->base64) {
      std::optional<std::string> decoded = decodeBase64(body);
      if (!decoded) {
        error = {file.path, "its base64 content is not valid base64"};
        return std::nullopt;
      }
      file.content = std::move(*decoded);
    } else {
      file.content = std::string(body);
      if (desc->noFinalNewline) {
        if (file.content.empty())
          return malformed(file.path, "an empty fence cannot lose its final "
                                      "newline");
        file.content.pop_back();
      }
    }
    if (file.content.size() != desc->bytes) {
      error = {file.path,
               "the content has " + plural(file.content.size(), "byte") +
                   ", the bundle says " + std::to_string(desc->bytes) +
                   ": the file was altered or damaged"};
      return std::nullopt;
    }
    std::string actual = sha256Hex(file.content);
    if (actual != desc->sha) {
      error = {file.path, hashMismatch(desc->sha, actual)};
      return std::nullopt;
    }
    if (!(line = in.next()))
      return truncated(file.path);
    if (!line->empty())
      return malformed(file.path, "expected an empty line after the fence");
    if (!(line = in.next())) {
      error = {"", "truncated: the bundle ends after the file '" + file.path +
                       "' without its digest"};
      return std::nullopt;
    }
    starts.push_back(start);
    sha.push_back(std::move(actual));
    files.push_back(std::move(file));
  }
  std::string after =
      files.empty() ? "" : " after the file '" + files.back().path + "'";
  if (*line != "---")
    return malformed("", "expected '## `PATH`' or '---'" + after + ", found '" +
                             printable(*line) + "'");
  if (!(line = in.next()) || !line->empty() || !(line = in.next())) {
    error = {"", "truncated: the bundle ends before its digest line"};
    return std::nullopt;
  }
  // Bundle digest: sha256 `<hex>` over <n> file(s).
  constexpr std::string_view prefix = "Bundle digest: sha256 `";
  std::string_view digest, countText;
  if (startsWith(*line, prefix) && line->size() > prefix.size() + 71 &&
      line->substr(prefix.size() + 64, 7) == "` over ") {
    digest = line->substr(prefix.size(), 64);
    countText = line->substr(prefix.size() + 71);
    countText = countText.substr(0, countText.find(' '));
  }
  std::optional<uint64_t> count = parseCount(countText);
  if (!count || !isHex64(digest))
    return malformed("", "expected 'Bundle digest: sha256 `<hex>` over <N> "
                         "files.', found '" +
                             printable(*line) + "'");
  return finish(data, BundleForm::Markdown, std::move(files), sha, starts,
                *count, digest, error);
}

/// The version in a header line `prefix<version><suffix>`, or nullopt.
std::optional<std::string_view> headerVersion(std::string_view line,
                                              std::string_view prefix,
                                              std::string_view suffix) {
  if (!startsWith(line, prefix) || !endsWith(line, suffix) ||
      line.size() < prefix.size() + suffix.size())
    return std::nullopt;
  return line.substr(prefix.size(),
                     line.size() - prefix.size() - suffix.size());
}

} // namespace

std::string BundleError::describe() const {
  return file.empty() ? message : "file '" + printable(file) + "': " + message;
}

std::string codegen::checkBundlePath(std::string_view path) {
  if (path.empty())
    return "the path is empty";
  if (path.size() > MaxPathBytes)
    return "the path is longer than " + std::to_string(MaxPathBytes) + " bytes";
  if (path.front() == '/')
    return "the path is absolute";
  for (char ch : path) {
    unsigned char c = static_cast<unsigned char>(ch);
    if (c < 0x20 || c == 0x7f)
      return "the path contains a control character";
    if (c == '\\')
      return "the path contains a backslash";
    if (c == '`')
      return "the path contains a backtick";
  }
  if (!isValidUtf8(path))
    return "the path is not valid UTF-8";
  if (path.front() == ' ' || path.back() == ' ')
    return "the path starts or ends with a space";
  size_t start = 0;
  while (true) {
    size_t slash = path.find('/', start);
    std::string_view part = path.substr(start, slash == std::string_view::npos
                                                   ? std::string_view::npos
                                                   : slash - start);
    if (part.empty())
      return "the path has an empty component ('//' or a final '/')";
    if (part == "..")
      return "the path contains '..'";
    if (part == ".")
      return "the path contains '.' as a component";
    if (part.size() > MaxComponentBytes)
      return "a component of the path is longer than " +
             std::to_string(MaxComponentBytes) + " bytes";
    if (slash == std::string_view::npos)
      return "";
    start = slash + 1;
  }
}

bool codegen::bundleOrderLess(const std::string &a, const std::string &b) {
  bool aManifest = a == ManifestName, bManifest = b == ManifestName;
  if (aManifest != bManifest)
    return bManifest;
  return a < b; // char_traits<char> compares as unsigned char: bytewise.
}

std::string codegen::bundleDigest(const std::vector<EmittedFile> &files) {
  return digestOf(files, hashes(files));
}

bool codegen::isMarkdownText(std::string_view content) {
  for (char ch : content) {
    unsigned char c = static_cast<unsigned char>(ch);
    if ((c < 0x20 && c != '\t' && c != '\n') || c == 0x7f)
      return false;
  }
  return isValidUtf8(content);
}

std::optional<std::string> codegen::writeBundle(std::vector<EmittedFile> files,
                                                BundleForm form,
                                                BundleError &error) {
  std::stable_sort(files.begin(), files.end(),
                   [](const EmittedFile &a, const EmittedFile &b) {
                     return bundleOrderLess(a.path, b.path);
                   });
  if (!checkList(files, error))
    return std::nullopt;
  return render(files, hashes(files), form);
}

bool codegen::looksLikeBundle(std::string_view data) {
  return startsWith(data, BinaryMagic) || startsWith(data, MarkdownMagic);
}

std::optional<Bundle> codegen::readBundle(std::string_view data,
                                          BundleError &error) {
  size_t newline = data.find('\n');
  std::string_view first = data.substr(0, newline);
  bool markdown = startsWith(data, MarkdownMagic);
  if (!markdown && !startsWith(data, BinaryMagic)) {
    error = {"", "not an iterc bundle (it does not start with '" +
                     std::string(BinaryMagic) + "' or '" +
                     std::string(MarkdownMagic) + "')"};
    return std::nullopt;
  }
  std::optional<std::string_view> version =
      markdown ? headerVersion(first, MarkdownMagic, MarkdownMagicEnd)
               : headerVersion(first, BinaryMagic, "");
  if (newline == std::string_view::npos) {
    error = {"", "truncated: the bundle ends in its header line"};
    return std::nullopt;
  }
  if (!version || version->empty()) {
    error = {"", "malformed header line '" + printable(first) + "'"};
    return std::nullopt;
  }
  if (*version != std::to_string(BundleFormatVersion)) {
    error = {"", "unsupported bundle format version '" + printable(*version) +
                     "' (this iterc reads version " +
                     std::to_string(BundleFormatVersion) +
                     "; a newer iterc may read it)"};
    return std::nullopt;
  }
  return markdown ? readMarkdown(data, error)
                  : readBinary(data, newline + 1, error);
}

std::vector<EmittedFile>
codegen::workflowBundleFiles(const std::vector<EmittedFile> &emitted,
                             const std::string &recordedSourcePath,
                             const std::string &sourceText) {
  std::vector<EmittedFile> files = emitted;
  files.push_back(
      {std::string(BundleSourceDir) + recordedSourcePath, sourceText});
  std::stable_sort(files.begin(), files.end(),
                   [](const EmittedFile &a, const EmittedFile &b) {
                     return bundleOrderLess(a.path, b.path);
                   });
  return files;
}

std::optional<WorkflowBundle> codegen::checkWorkflowBundle(const Bundle &bundle,
                                                           BundleError &error) {
  WorkflowBundle out;
  const EmittedFile *source = nullptr, *manifestFile = nullptr;
  for (const EmittedFile &f : bundle.files) {
    if (startsWith(f.path, BundleSourceDir)) {
      if (source) {
        error = {f.path, "a second source (the bundle holds '" + source->path +
                             "' already)"};
        return std::nullopt;
      }
      source = &f;
    } else if (f.path == ManifestName) {
      manifestFile = &f;
    } else {
      out.emitted.push_back(f);
    }
  }
  if (!manifestFile || !source) {
    error = {"", std::string("no ") +
                     (manifestFile ? "source/ file" : "manifest.json") +
                     ": not the bundle of a workflow"};
    return std::nullopt;
  }
  auto bad = [&](const std::string &file, const std::string &what) {
    error = {file, what};
    return std::nullopt;
  };
  nlohmann::json manifest = nlohmann::json::parse(
      manifestFile->content, nullptr, /*allow_exceptions=*/false);
  auto string = [&](const nlohmann::json &object, const char *key) {
    return object.is_object() && object.contains(key) && object[key].is_string()
               ? object[key].get<std::string>()
               : std::string();
  };
  if (!manifest.is_object() || string(manifest, "generator") != "iterc")
    return bad(std::string(ManifestName),
               "is not a manifest written by iterc emit");
  out.itercVersion = string(manifest, "iterc_version");
  out.program = string(manifest, "program");
  const nlohmann::json &src =
      manifest.contains("source") ? manifest["source"] : nlohmann::json();
  if (out.itercVersion.empty() || out.program.empty() ||
      string(src, "path").empty() || string(src, "sha256").empty() ||
      !manifest.contains("files") || !manifest["files"].is_array())
    return bad(std::string(ManifestName),
               "lacks iterc_version, program, source or files");
  out.sourcePath = source->path.substr(BundleSourceDir.size());
  out.sourceText = source->content;
  if (string(src, "path") != out.sourcePath)
    return bad(std::string(ManifestName),
               "names the source '" + printable(string(src, "path")) +
                   "' but the bundle holds '" + source->path + "'");
  if (string(src, "sha256") != sha256Hex(source->content))
    return bad(source->path,
               "does not match the sha256 manifest.json gives the source: "
               "the source or the manifest was altered");
  std::set<std::string> listed;
  for (const nlohmann::json &entry : manifest["files"]) {
    std::string path = string(entry, "path");
    if (path.empty() || !entry.contains("bytes") ||
        !entry["bytes"].is_number_unsigned())
      return bad(std::string(ManifestName), "has a malformed 'files' entry");
    if (!listed.insert(path).second)
      return bad(std::string(ManifestName),
                 "lists '" + printable(path) + "' twice");
    auto it =
        std::find_if(out.emitted.begin(), out.emitted.end(),
                     [&](const EmittedFile &f) { return f.path == path; });
    if (it == out.emitted.end())
      return bad(path, "is listed in manifest.json but not in the bundle");
    if (entry["bytes"].get<uint64_t>() != it->content.size() ||
        string(entry, "sha256") != sha256Hex(it->content))
      return bad(path, "does not match the length and sha256 manifest.json "
                       "gives it: the file or the manifest was altered");
  }
  for (const EmittedFile &f : out.emitted)
    if (!listed.count(f.path))
      return bad(f.path, "is not listed in manifest.json");
  out.emitted.push_back(*manifestFile);
  return out;
}
