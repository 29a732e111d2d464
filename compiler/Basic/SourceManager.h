//===- SourceManager.h - Owner of source buffers ----------------*- C++ -*-===//
//
// This file declares SourceManager, which owns the text of every file the
// compiler reads and turns byte offsets into lines and columns. Everything
// else refers to source positions as (file id, byte offset) pairs, so an AST
// node carries eight bytes of position and never a file-name string.
//
//===----------------------------------------------------------------------===//
#ifndef ITERC_BASIC_SOURCEMANAGER_H
#define ITERC_BASIC_SOURCEMANAGER_H

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace iterc {

/// A half-open byte range [begin, end) inside one source buffer.
struct SourceRange {
  uint32_t begin = 0;
  uint32_t end = 0;

  SourceRange() = default;
  SourceRange(uint32_t begin, uint32_t end) : begin(begin), end(end) {}
  bool isEmpty() const { return end <= begin; }
  /// The smallest range covering both.
  SourceRange merge(SourceRange other) const;
};

/// A 1-based line and a 1-based column counted in Unicode code points.
struct LineColumn {
  unsigned line = 0;
  unsigned column = 0;
};

class SourceManager {
public:
  /// Adds a buffer; the text is normalised first (a UTF-8 byte-order mark is
  /// dropped and CRLF line endings become LF). Returns the new file id.
  unsigned addBuffer(std::string displayName, std::string text);

  unsigned getNumBuffers() const { return buffers.size(); }
  std::string_view getText(unsigned fileId) const {
    return buffers[fileId].text;
  }
  const std::string &getName(unsigned fileId) const {
    return buffers[fileId].name;
  }

  /// Line and column of a byte offset (clamped to the buffer).
  LineColumn getLineColumn(unsigned fileId, uint32_t offset) const;
  /// Byte offset where a 1-based line starts.
  uint32_t getLineStart(unsigned fileId, unsigned line) const;
  /// The text of a 1-based line, without its line break.
  std::string_view getLineText(unsigned fileId, unsigned line) const;
  /// Byte offset of a (1-based line, 0-based code-point column) position, as
  /// ANTLR reports them.
  uint32_t getOffset(unsigned fileId, unsigned line, unsigned cpColumn) const;
  /// True when the buffer holds only ASCII (byte offsets = code points).
  bool isAscii(unsigned fileId) const { return buffers[fileId].ascii; }
  unsigned getNumLines(unsigned fileId) const {
    return buffers[fileId].lineStarts.size();
  }

private:
  struct Buffer {
    std::string name;
    std::string text;
    std::vector<uint32_t> lineStarts;
    bool ascii = true;
  };
  std::vector<Buffer> buffers;
};

/// Number of code points in a UTF-8 string (invalid bytes count as one).
unsigned countCodePoints(std::string_view text);

} // namespace iterc

#endif // ITERC_BASIC_SOURCEMANAGER_H
