//===- SourceManager.cpp - Owner of source buffers ------------------------===//
//
// This file implements SourceManager: buffer normalisation and the mapping
// between byte offsets and line/column positions.
//
//===----------------------------------------------------------------------===//
#include "Basic/SourceManager.h"

#include <algorithm>

using namespace iterc;

SourceRange SourceRange::merge(SourceRange other) const {
  if (isEmpty() && begin == 0)
    return other;
  return SourceRange(std::min(begin, other.begin), std::max(end, other.end));
}

static bool isContinuationByte(unsigned char c) { return (c & 0xC0) == 0x80; }

unsigned iterc::countCodePoints(std::string_view text) {
  unsigned n = 0;
  for (unsigned char c : text)
    if (!isContinuationByte(c))
      ++n;
  return n;
}

unsigned SourceManager::addBuffer(std::string displayName, std::string text) {
  if (text.size() >= 3 && text.compare(0, 3, "\xEF\xBB\xBF") == 0)
    text.erase(0, 3);
  if (text.find('\r') != std::string::npos) {
    std::string out;
    out.reserve(text.size());
    for (size_t i = 0; i < text.size(); ++i) {
      if (text[i] == '\r' && i + 1 < text.size() && text[i + 1] == '\n')
        continue;
      out.push_back(text[i]);
    }
    text.swap(out);
  }
  Buffer buffer;
  buffer.name = std::move(displayName);
  buffer.lineStarts.push_back(0);
  for (size_t i = 0; i < text.size(); ++i) {
    unsigned char c = text[i];
    if (c >= 0x80)
      buffer.ascii = false;
    if (c == '\n' || (c == '\r' && (i + 1 >= text.size() || text[i + 1] != '\n')))
      buffer.lineStarts.push_back(i + 1);
  }
  buffer.text = std::move(text);
  buffers.push_back(std::move(buffer));
  return buffers.size() - 1;
}

LineColumn SourceManager::getLineColumn(unsigned fileId,
                                        uint32_t offset) const {
  const Buffer &buffer = buffers[fileId];
  offset = std::min<uint32_t>(offset, buffer.text.size());
  auto it = std::upper_bound(buffer.lineStarts.begin(),
                             buffer.lineStarts.end(), offset);
  unsigned line = it - buffer.lineStarts.begin();
  uint32_t start = buffer.lineStarts[line - 1];
  unsigned column =
      buffer.ascii
          ? offset - start + 1
          : countCodePoints(std::string_view(buffer.text)
                                .substr(start, offset - start)) + 1;
  return {line, column};
}

uint32_t SourceManager::getLineStart(unsigned fileId, unsigned line) const {
  const Buffer &buffer = buffers[fileId];
  if (line == 0)
    return 0;
  if (line > buffer.lineStarts.size())
    return buffer.text.size();
  return buffer.lineStarts[line - 1];
}

std::string_view SourceManager::getLineText(unsigned fileId,
                                            unsigned line) const {
  const Buffer &buffer = buffers[fileId];
  if (line == 0 || line > buffer.lineStarts.size())
    return {};
  uint32_t start = buffer.lineStarts[line - 1];
  uint32_t end = line < buffer.lineStarts.size() ? buffer.lineStarts[line]
                                                 : buffer.text.size();
  std::string_view text(buffer.text);
  text = text.substr(start, end - start);
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r'))
    text.remove_suffix(1);
  return text;
}

uint32_t SourceManager::getOffset(unsigned fileId, unsigned line,
                                  unsigned cpColumn) const {
  const Buffer &buffer = buffers[fileId];
  uint32_t start = getLineStart(fileId, line);
  if (buffer.ascii)
    return std::min<uint32_t>(start + cpColumn, buffer.text.size());
  uint32_t pos = start;
  while (cpColumn > 0 && pos < buffer.text.size()) {
    ++pos;
    while (pos < buffer.text.size() &&
           isContinuationByte(buffer.text[pos]))
      ++pos;
    --cpColumn;
  }
  return pos;
}
