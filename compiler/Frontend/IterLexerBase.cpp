//===- IterLexerBase.cpp - Line structure of the .iter language -----------===//
//
// This file implements IterLexerBase. It reads raw prompt bodies and block
// scalars straight from the character stream and keeps the ATN simulator's
// line and column in step, so every token, virtual or not, carries an exact
// position.
//
//===----------------------------------------------------------------------===//
#include "IterLexer.h"

#include <array>
#include <string>
#include <unordered_map>
#include <utility>

using namespace iterc_grammar;
using iterc::diag::ID;
namespace diag = iterc::diag;

static constexpr size_t NoType = static_cast<size_t>(-5);

IterLexerBase::IterLexerBase(antlr4::CharStream *input) : Lexer(input) {
  indents.push_back(0);
  lastTypes[0] = lastTypes[1] = lastTypes[2] = NoType;
}

void IterLexerBase::reset() {
  Lexer::reset();
  pending.clear();
  indents.assign(1, 0);
  problems.clear();
  bracketDepth = 0;
  droppedBrackets = 0;
  lastTypes[0] = lastTypes[1] = lastTypes[2] = NoType;
  sawSignificant = false;
  sawEof = false;
  strictEscapes = false;
  curLine = 1;
  curColumn = 0;
}

void IterLexerBase::notifyListeners(
    const antlr4::LexerNoViableAltException &) {
  size_t c = _input->LA(1);
  std::string text;
  if (c != antlr4::Token::EOF)
    text = antlrcpp::utf32_to_utf8(std::u32string(1, char32_t(c)));
  problem(diag::err_unexpected_char, tokenStartLine,
          tokenStartCharPositionInLine, 1, text);
}

void IterLexerBase::problem(ID id, size_t line, size_t column, size_t length,
                            std::string arg) {
  problems.push_back({id, line, column, length, std::move(arg)});
}

bool IterLexerBase::isNameType(size_t type) const {
  switch (type) {
  case IterLexer::IDENT:
  case IterLexer::VARS:
  case IterLexer::PRESETS:
  case IterLexer::PROMPT:
  case IterLexer::SCHEMA:
  case IterLexer::AGENT:
  case IterLexer::JUDGE:
  case IterLexer::ROUTER:
  case IterLexer::JOIN:
  case IterLexer::HUMAN:
  case IterLexer::TOOL:
  case IterLexer::COMPUTE:
  case IterLexer::VERIFY:
  case IterLexer::SERVICE:
  case IterLexer::MCP_SERVER:
  case IterLexer::WORKFLOW:
  case IterLexer::ATTACHMENTS:
  case IterLexer::CURSOR:
  case IterLexer::WHEN:
  case IterLexer::NOT:
  case IterLexer::AS:
  case IterLexer::WITH:
    return true;
  default:
    return false;
  }
}

size_t IterLexerBase::lastQueuedType() const {
  for (auto it = pending.rbegin(); it != pending.rend(); ++it)
    if ((*it)->getChannel() == antlr4::Token::DEFAULT_CHANNEL)
      return (*it)->getType();
  return lastTypes[0];
}

void IterLexerBase::track(const antlr4::Token &token) {
  if (token.getChannel() != antlr4::Token::DEFAULT_CHANNEL)
    return;
  size_t type = token.getType();
  if (!sawSignificant && type != IterLexer::NEWLINE &&
      type != IterLexer::INDENT && type != IterLexer::DEDENT &&
      type != antlr4::Token::EOF) {
    sawSignificant = true;
    if (token.getCharPositionInLine() > 0)
      problem(diag::err_unexpected_indent, token.getLine(), 0,
              token.getCharPositionInLine());
  }
  lastTypes[2] = lastTypes[1];
  lastTypes[1] = lastTypes[0];
  lastTypes[0] = type;
}

void IterLexerBase::queueToken(std::unique_ptr<antlr4::Token> token) {
  pending.push_back(std::move(token));
}

void IterLexerBase::queue(size_t type, std::string text) {
  size_t index = _input->index();
  auto token = _factory->create({this, _input}, type, text,
                                antlr4::Token::DEFAULT_CHANNEL, index,
                                index - 1, curLine, curColumn);
  pending.push_back(std::move(token));
}

void IterLexerBase::advance() {
  size_t c = _input->LA(1);
  if (c == antlr4::Token::EOF)
    return;
  _input->consume();
  if (c == '\n' || c == '\r') {
    ++curLine;
    curColumn = 0;
  } else {
    ++curColumn;
  }
}

IterLexerBase::LineStart IterLexerBase::consumeLineStart() {
  LineStart start;
  for (;;) {
    size_t c = _input->LA(1);
    if (c == ' ' || c == '\f') {
      ++start.indent;
    } else if (c == '\t') {
      if (!start.hasTab)
        start.tabColumn = curColumn;
      start.hasTab = true;
      start.indent = (start.indent / 8 + 1) * 8;
    } else {
      break;
    }
    advance();
  }
  size_t c = _input->LA(1);
  start.atEof = c == antlr4::Token::EOF;
  start.isComment = c == '#';
  return start;
}

void IterLexerBase::consumeRestOfLine(std::string &text) {
  std::u32string chars;
  for (;;) {
    size_t c = _input->LA(1);
    if (c == antlr4::Token::EOF || c == '\n' || c == '\r')
      break;
    chars.push_back(char32_t(c));
    advance();
  }
  text += antlrcpp::utf32_to_utf8(chars);
}

std::vector<IterLexerBase::RawLine>
IterLexerBase::readRawLines(LineStart first, unsigned outer,
                            unsigned &baseIndent, LineStart &end) {
  std::vector<RawLine> lines;
  std::vector<size_t> blankLines;
  bool haveBase = false;
  LineStart ls = first;
  for (;;) {
    size_t c = _input->LA(1);
    if (c == antlr4::Token::EOF) {
      end = ls;
      end.atEof = true;
      break;
    }
    if (c == '\n' || c == '\r') {
      blankLines.push_back(curLine);
      advance();
      ls = consumeLineStart();
      continue;
    }
    if (!haveBase) {
      if (ls.indent <= outer) {
        end = ls;
        break;
      }
      baseIndent = ls.indent;
      haveBase = true;
    } else if (ls.indent < baseIndent) {
      end = ls;
      break;
    }
    if (ls.hasTab)
      problem(diag::err_tab_indent, curLine, ls.tabColumn);
    for (size_t blank : blankLines)
      lines.push_back({std::string(), blank, 0, _input->index()});
    blankLines.clear();
    RawLine line;
    unsigned extra = ls.indent - baseIndent;
    line.line = curLine;
    line.column = curColumn >= extra ? curColumn - extra : 0;
    line.startIndex = _input->index() >= extra ? _input->index() - extra : 0;
    line.text.assign(extra, ' ');
    consumeRestOfLine(line.text);
    lines.push_back(std::move(line));
    if (_input->LA(1) == antlr4::Token::EOF) {
      end = LineStart();
      end.atEof = true;
      break;
    }
    advance();
    ls = consumeLineStart();
  }
  setLine(curLine);
  setCharPositionInLine(curColumn);
  return lines;
}

void IterLexerBase::processIndent(const LineStart &start) {
  if (start.hasTab)
    problem(diag::err_tab_indent, curLine, start.tabColumn);
  if (start.indent > indents.back()) {
    if (indents.size() >= MaxIndentDepth) {
      problem(diag::err_too_deep, curLine, 0, start.indent,
              std::to_string(MaxIndentDepth));
      return;
    }
    indents.push_back(start.indent);
    queue(IterLexer::INDENT);
    return;
  }
  while (start.indent < indents.back()) {
    // Dedenting to a width between two levels: report it and keep the line
    // in the inner block, which is what its author most likely meant.
    if (indents.size() >= 2 && start.indent > indents[indents.size() - 2]) {
      problem(diag::err_bad_dedent, curLine, 0, start.indent);
      return;
    }
    indents.pop_back();
    queue(IterLexer::DEDENT);
  }
}

void IterLexerBase::readPromptBody(LineStart first) {
  unsigned base = 0;
  LineStart end;
  std::vector<RawLine> lines =
      readRawLines(first, indents.back(), base, end);
  if (!lines.empty()) {
    size_t saveLine = curLine, saveColumn = curColumn;
    curLine = lines.front().line;
    curColumn = lines.front().column;
    indents.push_back(base);
    queue(IterLexer::INDENT);
    for (RawLine &line : lines) {
      size_t stop = line.startIndex + (line.text.empty() ? 0 : 0);
      auto token = _factory->create(
          {this, _input}, IterLexer::PROMPT_LINE, line.text,
          antlr4::Token::DEFAULT_CHANNEL, line.startIndex,
          stop > 0 ? stop - 1 : 0, line.line, line.column);
      pending.push_back(std::move(token));
    }
    curLine = saveLine;
    curColumn = saveColumn;
    queue(IterLexer::NEWLINE, "\n");
  }
  if (end.atEof || end.isComment)
    return;
  processIndent(end);
}

void IterLexerBase::readBlockScalar(std::unique_ptr<antlr4::Token> pipe) {
  size_t pipeLine = pipe->getLine();
  size_t pipeColumn = pipe->getCharPositionInLine();
  size_t pipeIndex = pipe->getStartIndex();
  queueToken(std::move(pipe));
  curLine = getLine();
  curColumn = getCharPositionInLine();
  // The rest of the `key: |` line: blanks and an optional comment.
  while (_input->LA(1) == ' ' || _input->LA(1) == '\t')
    advance();
  if (_input->LA(1) == '#' && _input->LA(2) == '#') {
    size_t line = curLine, column = curColumn, index = _input->index();
    std::string text;
    consumeRestOfLine(text);
    pending.push_back(_factory->create(
        {this, _input}, IterLexer::COMMENT, text, antlr4::Token::HIDDEN_CHANNEL,
        index, _input->index() - 1, line, column));
  } else if (_input->LA(1) != '\n' && _input->LA(1) != '\r' &&
             _input->LA(1) != antlr4::Token::EOF) {
    problem(diag::err_text_after_pipe, curLine, curColumn);
    std::string ignored;
    consumeRestOfLine(ignored);
  }
  LineStart first;
  if (_input->LA(1) == antlr4::Token::EOF) {
    first.atEof = true;
  } else {
    advance();
    first = consumeLineStart();
  }
  unsigned base = 0;
  LineStart end;
  std::vector<RawLine> lines =
      readRawLines(first, indents.back(), base, end);
  std::string text;
  for (const RawLine &line : lines)
    text += line.text + "\n";
  size_t line = lines.empty() ? pipeLine : lines.front().line;
  size_t column = lines.empty() ? pipeColumn + 1 : lines.front().column;
  size_t index = lines.empty() ? pipeIndex + 1 : lines.front().startIndex;
  pending.push_back(_factory->create({this, _input}, IterLexer::BLOCK_STRING,
                                     text, antlr4::Token::DEFAULT_CHANNEL,
                                     index, index > 0 ? index - 1 : 0, line,
                                     column));
  if (bracketDepth > 0)
    return;
  queue(IterLexer::NEWLINE, "\n");
  if (end.atEof || end.isComment)
    return;
  processIndent(end);
}

void IterLexerBase::handleNewline(std::unique_ptr<antlr4::Token> token) {
  if (bracketDepth > 0)
    return;
  curLine = getLine();
  curColumn = getCharPositionInLine();
  // Measure the indentation that the NEWLINE token swallowed.
  LineStart start;
  std::string text = haveFastNewline ? std::string() : token->getText();
  if (haveFastNewline)
    start = fastNewline;
  haveFastNewline = false;
  size_t column = 0;
  for (char ch : text) {
    if (ch == '\n' || ch == '\r') {
      start = LineStart();
      column = 0;
      continue;
    }
    if (ch == '\t') {
      if (!start.hasTab)
        start.tabColumn = column;
      start.hasTab = true;
      start.indent = (start.indent / 8 + 1) * 8;
    } else {
      ++start.indent;
    }
    ++column;
  }
  size_t next = _input->LA(1);
  start.atEof = next == antlr4::Token::EOF;
  start.isComment = next == '#';
  bool blank = next == '\n' || next == '\r';

  bool promptHeader = lastTypes[0] == IterLexer::COLON &&
                      isNameType(lastTypes[1]) &&
                      lastTypes[2] == IterLexer::PROMPT;
  if (sawSignificant && lastQueuedType() != IterLexer::NEWLINE) {
    auto nl = _factory->create({this, _input}, IterLexer::NEWLINE, "\n",
                               antlr4::Token::DEFAULT_CHANNEL,
                               token->getStartIndex(), token->getStartIndex(),
                               token->getLine(),
                               token->getCharPositionInLine());
    pending.push_back(std::move(nl));
  }
  if (promptHeader) {
    readPromptBody(start);
    return;
  }
  if (blank || start.atEof || start.isComment)
    return;
  processIndent(start);
}

void IterLexerBase::handleEof(std::unique_ptr<antlr4::Token> token) {
  if (sawEof) {
    queueToken(std::move(token));
    return;
  }
  sawEof = true;
  curLine = getLine();
  curColumn = getCharPositionInLine();
  if (sawSignificant && lastQueuedType() != IterLexer::NEWLINE)
    queue(IterLexer::NEWLINE, "\n");
  while (indents.size() > 1) {
    indents.pop_back();
    queue(IterLexer::DEDENT);
  }
  queueToken(std::move(token));
}

void IterLexerBase::checkDirective(const antlr4::Token &comment) {
  if (sawSignificant || comment.getLine() > 32)
    return;
  std::string text = comment.getText();
  std::string squeezed;
  for (char c : text.substr(2))
    if (c != ' ' && c != '\t')
      squeezed.push_back(c);
  if (squeezed == "strict-escape:on" || squeezed == "strict-escape=on")
    strictEscapes = true;
}


namespace {
/// Keyword and punctuation token types, read from the grammar's vocabulary
/// (literal names such as 'agent' or '->'), so the fast path cannot drift
/// from IterLexer.g4.
struct FastTables {
  std::unordered_map<std::string, size_t> keywords;
  std::array<size_t, 128> single{};
  size_t arrow = 0, listSuffix = 0;

  explicit FastTables(const antlr4::dfa::Vocabulary &vocab) {
    for (size_t type = 1; type <= vocab.getMaxTokenType(); ++type) {
      std::string literal = vocab.getLiteralName(type);
      if (literal.size() < 3 || literal.front() != '\'' ||
          literal.back() != '\'')
        continue;
      std::string text = literal.substr(1, literal.size() - 2);
      bool word = true;
      for (char c : text)
        if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_')
          word = false;
      if (word)
        keywords.emplace(text, type);
      else if (text == "->")
        arrow = type;
      else if (text == "[]")
        listSuffix = type;
      else if (text.size() == 1)
        single[static_cast<unsigned char>(text[0])] = type;
    }
  }
};

bool isAsciiIdentStart(size_t c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}
bool isAsciiIdentChar(size_t c) {
  return isAsciiIdentStart(c) || (c >= '0' && c <= '9');
}
} // namespace

std::unique_ptr<antlr4::Token> IterLexerBase::lexFast() {
  static const FastTables tables(getVocabulary());
  // Inline blanks, as the WS rule skips them.
  size_t c = _input->LA(1);
  if (c == ' ' || c == '\t' || c == '\f') {
    size_t column = getCharPositionInLine();
    do {
      _input->consume();
      ++column;
      c = _input->LA(1);
    } while (c == ' ' || c == '\t' || c == '\f');
    setCharPositionInLine(column);
  }
  size_t length = 0, type = 0;
  if (isAsciiIdentStart(c)) {
    length = 1;
    while (isAsciiIdentChar(_input->LA(length + 1)))
      ++length;
    // A letter beyond ASCII continues the identifier: leave it to the ATN.
    size_t after = _input->LA(length + 1);
    if (after != antlr4::Token::EOF && after >= 0x80)
      return nullptr;
    type = IterLexer::IDENT;
  } else if (c == '"') {
    size_t i = 2;
    for (;;) {
      size_t ch = _input->LA(i);
      if (ch == antlr4::Token::EOF || ch == '\n' || ch == '\r')
        return nullptr;  // Unterminated: the ATN reports it.
      if (ch == '\\') {
        size_t next = _input->LA(i + 1);
        if (next == antlr4::Token::EOF || next == '\n' || next == '\r')
          return nullptr;
        i += 2;
        continue;
      }
      if (ch == '"')
        break;
      ++i;
    }
    length = i;
    type = IterLexer::STRING;
  } else if (c == '\n' || c == '\r') {
    // NEWLINE : ('\r'? '\n' | '\r') [ \t\f]* -- measured on the way.
    size_t start = _input->index();
    size_t line = getLine(), column = getCharPositionInLine();
    _input->consume();
    if (c == '\r' && _input->LA(1) == '\n')
      _input->consume();
    LineStart ls;
    size_t col = 0;
    for (size_t ch = _input->LA(1); ch == ' ' || ch == '\t' || ch == '\f';
         ch = _input->LA(1)) {
      if (ch == '\t') {
        if (!ls.hasTab)
          ls.tabColumn = col;
        ls.hasTab = true;
        ls.indent = (ls.indent / 8 + 1) * 8;
      } else {
        ++ls.indent;
      }
      ++col;
      _input->consume();
    }
    setLine(line + 1);
    setCharPositionInLine(col);
    fastNewline = ls;
    haveFastNewline = true;
    return _factory->create({this, _input}, IterLexer::NEWLINE, std::string(),
                            antlr4::Token::DEFAULT_CHANNEL, start,
                            _input->index() - 1, line, column);
  } else if (c == '-' && _input->LA(2) == '>') {
    length = 2;
    type = tables.arrow;
  } else if (c == '[' && _input->LA(2) == ']') {
    length = 2;
    type = tables.listSuffix;
  } else if (c < 128 && tables.single[c] != 0) {
    length = 1;
    type = tables.single[c];
  } else {
    return nullptr;
  }
  size_t start = _input->index();
  size_t line = getLine(), column = getCharPositionInLine();
  if (type == IterLexer::IDENT) {
    std::string word;
    for (size_t i = 1; i <= length; ++i)
      word.push_back(static_cast<char>(_input->LA(i)));
    auto it = tables.keywords.find(word);
    if (it != tables.keywords.end())
      type = it->second;
  }
  for (size_t i = 0; i < length; ++i)
    _input->consume();
  setCharPositionInLine(column + length);
  return _factory->create({this, _input}, type, std::string(),
                          antlr4::Token::DEFAULT_CHANNEL, start,
                          start + length - 1, line, column);
}

std::unique_ptr<antlr4::Token> IterLexerBase::nextToken() {
  for (;;) {
    if (!pending.empty()) {
      std::unique_ptr<antlr4::Token> token = std::move(pending.front());
      pending.pop_front();
      track(*token);
      return token;
    }
    std::unique_ptr<antlr4::Token> token;
    if (fastPath)
      token = lexFast();
    if (!token)
      token = Lexer::nextToken();
    size_t type = token->getType();
    auto *common = static_cast<antlr4::CommonToken *>(token.get());
    switch (type) {
    case IterLexer::NEWLINE:
      handleNewline(std::move(token));
      continue;
    case antlr4::Token::EOF:
      handleEof(std::move(token));
      continue;
    case IterLexer::COMMENT:
      checkDirective(*token);
      return token;
    case IterLexer::BAD_COMMENT:
      problem(diag::err_single_hash, token->getLine(),
              token->getCharPositionInLine());
      return token;
    case IterLexer::UNTERMINATED_STRING:
      problem(diag::err_unterminated_string, token->getLine(),
              token->getCharPositionInLine(),
              token->getStopIndex() - token->getStartIndex() + 1);
      common->setType(IterLexer::STRING);
      break;
    case IterLexer::UNTERMINATED_RAW_STRING:
      problem(diag::err_unterminated_raw, token->getLine(),
              token->getCharPositionInLine());
      common->setType(IterLexer::RAW_STRING);
      break;
    case IterLexer::ERROR_CHAR:
      problem(diag::err_unexpected_char, token->getLine(),
              token->getCharPositionInLine(), 1, token->getText());
      continue;
    case IterLexer::LBRACK:
    case IterLexer::LBRACE:
    case IterLexer::LPAREN:
      if (bracketDepth >= MaxBracketDepth) {
        if (droppedBrackets++ == 0)
          problem(diag::err_brackets_too_deep, token->getLine(),
                  token->getCharPositionInLine(), 1,
                  std::to_string(MaxBracketDepth));
        continue;
      }
      ++bracketDepth;
      break;
    case IterLexer::RBRACK:
    case IterLexer::RBRACE:
    case IterLexer::RPAREN:
      if (droppedBrackets > 0) {
        --droppedBrackets;
        continue;
      }
      if (bracketDepth > 0)
        --bracketDepth;
      break;
    case IterLexer::PIPE:
      if (lastTypes[0] == IterLexer::COLON) {
        readBlockScalar(std::move(token));
        continue;
      }
      break;
    default:
      break;
    }
    track(*token);
    return token;
  }
}
