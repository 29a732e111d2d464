//===- IterLexerBase.h - Line structure of the .iter language ---*- C++ -*-===//
//
// This file declares the superclass of the ANTLR-generated IterLexer. The
// generated lexer recognises the tokens inside a line; this class owns the
// line structure around them:
//
//  * INDENT / DEDENT from an indentation stack (spaces only, any consistent
//    width); blank and comment-only lines do not affect indentation; tabs and
//    dedents to a width that is not on the stack are diagnosed.
//  * A NEWLINE at the end of every non-blank logical line, none inside
//    brackets (so `with { ... }` and `[...]` may span lines).
//  * Prompt bodies: after `prompt NAME:` the indented lines are read raw, one
//    PROMPT_LINE token each, base indentation stripped and relative
//    indentation kept; `##` and `{{...}}` are content. Any name works,
//    including keywords such as `user` or `system`.
//  * Block scalars: after `key: |` the indented lines become one BLOCK_STRING.
//
// Lexical problems are collected in `problems`; the parse driver turns them
// into diagnostics. Modelled on grammars-v4's PythonLexerBase, with a real
// queue, a reset that resets, and DEDENTs anchored on the dedented line.
//
//===----------------------------------------------------------------------===//
#ifndef ITERC_FRONTEND_ITERLEXERBASE_H
#define ITERC_FRONTEND_ITERLEXERBASE_H

#include "Basic/Diagnostic.h"

#include "antlr4-runtime.h"

#include <deque>
#include <memory>
#include <string>
#include <vector>

namespace iterc_grammar {

class IterLexerBase : public antlr4::Lexer {
public:
  explicit IterLexerBase(antlr4::CharStream *input);

  std::unique_ptr<antlr4::Token> nextToken() override;
  void reset() override;
  // Position accessors without the runtime's dynamic_cast per call (the
  // interpreter of a lexer is always a LexerATNSimulator).
  size_t getLine() const override { return simulator()->getLine(); }
  size_t getCharPositionInLine() override {
    return simulator()->getCharPositionInLine();
  }
  void setLine(size_t line) override { simulator()->setLine(line); }
  void setCharPositionInLine(size_t column) override {
    simulator()->setCharPositionInLine(column);
  }
  void notifyListeners(const antlr4::LexerNoViableAltException &e) override;

  /// A lexical problem at a (1-based line, 0-based code-point column).
  struct Problem {
    iterc::diag::ID id;
    size_t line;
    size_t column;
    size_t length;
    std::string arg;
  };
  const std::vector<Problem> &getProblems() const { return problems; }
  /// True when the file opted into standard string escapes with a leading
  /// `## strict-escape: on` comment.
  bool hasStrictEscapes() const { return strictEscapes; }

  /// Lexes identifiers, keywords, quoted strings and punctuation directly
  /// instead of through the ATN simulator (on by default). Both paths
  /// produce the same tokens; tests compare them.
  void setFastPath(bool enabled) { fastPath = enabled; }

  static constexpr unsigned MaxIndentDepth = 100;
  static constexpr unsigned MaxBracketDepth = 64;

private:
  antlr4::atn::LexerATNSimulator *simulator() const {
    return static_cast<antlr4::atn::LexerATNSimulator *>(_interpreter);
  }

  struct RawLine {
    std::string text;
    size_t line;
    size_t column;      ///< Column where `text` starts.
    size_t startIndex;  ///< Char index where `text` starts.
  };
  /// What ended a raw body: the indentation of the first line that does not
  /// belong to it, already consumed.
  struct LineStart {
    unsigned indent = 0;
    bool hasTab = false;
    size_t tabColumn = 0;
    bool atEof = false;
    bool isComment = false;
  };

  LineStart fastNewline;

  void handleNewline(std::unique_ptr<antlr4::Token> token);
  void handleEof(std::unique_ptr<antlr4::Token> token);
  void readPromptBody(LineStart first);
  void readBlockScalar(std::unique_ptr<antlr4::Token> pipe);
  /// Reads lines indented deeper than `outer`, starting at a line whose
  /// leading whitespace (`first`) is consumed. Returns the lines and, in
  /// `end`, the line start that stopped the body.
  std::vector<RawLine> readRawLines(LineStart first, unsigned outer,
                                    unsigned &baseIndent, LineStart &end);
  LineStart consumeLineStart();
  void consumeRestOfLine(std::string &text);
  void processIndent(const LineStart &start);
  void queue(size_t type, std::string text = std::string());
  void queueToken(std::unique_ptr<antlr4::Token> token);
  size_t lastQueuedType() const;
  void track(const antlr4::Token &token);
  void problem(iterc::diag::ID id, size_t line, size_t column,
               size_t length = 1, std::string arg = std::string());
  bool isNameType(size_t type) const;
  void checkDirective(const antlr4::Token &comment);
  void advance();
  std::unique_ptr<antlr4::Token> lexFast();

  std::deque<std::unique_ptr<antlr4::Token>> pending;
  std::vector<unsigned> indents;
  std::vector<Problem> problems;
  unsigned bracketDepth = 0;
  unsigned droppedBrackets = 0;
  size_t lastTypes[3];
  bool sawSignificant = false;
  bool sawEof = false;
  bool strictEscapes = false;
  bool fastPath = true;
  // Indentation measured by the fast path for the NEWLINE it just produced.
  bool haveFastNewline = false;
  // Where raw reading is: kept in step with the ATN simulator's position.
  size_t curLine = 1;
  size_t curColumn = 0;
};

} // namespace iterc_grammar

#endif // ITERC_FRONTEND_ITERLEXERBASE_H
