//===- ShellScan.cpp - Where values land in a shell command ---------------===//
//
// This file implements the context scanner of ShellScan.h: a small reader of
// POSIX sh (and bash) syntax with a stack of frames — the command level,
// '…', "…", $'…', ${…}, $(…) and (…), arithmetic, backticks and
// here-document bodies — that records, at each place a value goes, the
// context the shell will be in there. It does not run or expand anything;
// where it cannot be sure the value stays data, it refuses the place.
//
//===----------------------------------------------------------------------===//
#include "iterc/rt/ShellScan.h"

#include <algorithm>
#include <cctype>
#include <deque>

using namespace iterc::shell;

namespace {

enum class FrameKind {
  Command,     ///< Words and operators: the top level, $(…), (…), <(…).
  DoubleQuote, ///< "…"
  SingleQuote, ///< '…'
  AnsiC,       ///< $'…'
  Param,       ///< ${…}
  Arith,       ///< $((…)), ((…)), $[…]
  Backtick,    ///< `…`
  HereDoc,     ///< A here-document body.
};

struct HereDocSpec {
  std::string delimiter;
  bool quoted = false;      ///< Any quoting in the word: the body is literal.
  bool stripTabs = false;   ///< `<<-`
  bool unmatchable = false; ///< A value in the word: no line ends it.
};

struct Frame {
  FrameKind kind = FrameKind::Command;
  Refusal pending = Refusal::None; ///< For a value right here (after \ or $).

  // Command
  bool closesWithParen = false;
  bool inComment = false;
  bool commandStart = true;
  bool inDoubleBracket = false;
  int caseDepth = 0;
  std::string word;
  bool wordHasSlot = false;
  bool sawShell = false;     ///< A word `sh`, `bash`, `su`... in this command.
  bool valueIsCode = false;  ///< `eval`, `let`, `ssh`, or a shell's `-c`.
  bool codeWordOnly = false; ///< Only the word after `-c` is code.
  std::string commandName;   ///< The command's first word, once read.
  size_t wordStart = std::string::npos; ///< Where the current word began.
  bool integerAttr = false;  ///< `declare -i` and the like: values are
                             ///< evaluated as arithmetic.
  std::deque<HereDocSpec> hereDocs; ///< Announced, bodies not read yet.
  bool readingDelimiter = false;
  bool delimiterStarted = false;
  char delimiterQuote = 0;
  HereDocSpec delimiter;

  // Param: inside "…" (or an unquoted here-document), and where its name
  // starts (a value there would be the name).
  bool insideDoubleQuote = false;
  size_t nameAt = 0;
  // Param, Arith: nesting of braces / parens / brackets.
  int depth = 0;
  char closer = ')'; ///< Arith: ')' for (( )), ']' for $[ ].

  // HereDoc
  HereDocSpec doc;
  bool lineStart = true;
};

bool isBlank(char c) { return c == ' ' || c == '\t'; }
bool isOperatorChar(char c) {
  return c == ';' || c == '&' || c == '|' || c == '(' || c == ')' || c == '<' ||
         c == '>';
}

bool isReservedWord(const std::string &w) {
  static const char *const words[] = {
      "if",  "then", "else", "elif", "fi", "do", "done", "while", "until",
      "for", "case", "esac", "in",   "{",  "}",  "!",    "time",  "function"};
  return std::find(std::begin(words), std::end(words), w) != std::end(words);
}

bool isAssignmentWord(const std::string &w) {
  size_t eq = w.find('=');
  if (eq == std::string::npos || eq == 0 ||
      std::isdigit(static_cast<unsigned char>(w[0])))
    return false;
  for (size_t k = 0; k < eq; ++k)
    if (!std::isalnum(static_cast<unsigned char>(w[k])) && w[k] != '_')
      return false;
  return true;
}

/// Builtins whose `-i` gives variables the integer attribute: bash then
/// evaluates every value assigned to them as arithmetic.
bool declaresAttributes(const std::string &w) {
  return w == "declare" || w == "typeset" || w == "local" || w == "export" ||
         w == "readonly";
}

/// `a[` (no `]` yet): a word that names an array element, whose index bash
/// evaluates as arithmetic in assignments and in `unset`, `test -v`,
/// `declare`, `read`, `printf -v` alike.
bool opensSubscript(std::string_view word) {
  size_t k = 0;
  while (k < word.size() &&
         (std::isalnum(static_cast<unsigned char>(word[k])) || word[k] == '_'))
    ++k;
  return k > 0 && !std::isdigit(static_cast<unsigned char>(word[0])) &&
         k < word.size() && word[k] == '[' &&
         word.find(']', k) == std::string_view::npos;
}

/// A word's text without the quote characters the shell removes.
std::string unquoted(std::string_view word) {
  std::string out;
  for (char c : word)
    if (c != '\'' && c != '"' && c != '\\')
      out += c;
  return out;
}

/// Inside `${…}`, the text from the name on: `a[` opens an index and `a:`
/// (not `:-`, `:=`, `:?`, `:+`) a substring offset, both arithmetic.
bool inParamArithmetic(std::string_view param) {
  size_t k = 0;
  while (k < param.size() &&
         (std::isalnum(static_cast<unsigned char>(param[k])) || param[k] == '_'))
    ++k;
  if (k == 0 || k >= param.size())
    return false;
  if (param[k] == '[')
    return param.find(']', k) == std::string_view::npos;
  // A value right after the ':' is the offset (and could spell `:-` itself).
  return param[k] == ':' &&
         (k + 1 == param.size() ||
          std::string_view("-=?+").find(param[k + 1]) == std::string_view::npos);
}

bool isShellName(const std::string &w) {
  std::string base =
      w.substr(w.rfind('/') == std::string::npos ? 0 : w.rfind('/') + 1);
  static const char *const shells[] = {"sh",  "bash", "dash", "ksh",    "zsh",
                                       "ash", "mksh", "su",   "busybox"};
  return std::find(std::begin(shells), std::end(shells), base) !=
         std::end(shells);
}

class Scanner {
public:
  Scanner(std::string_view text, const std::vector<size_t> &offsets,
          Dialect dialect)
      : text(text), offsets(offsets), dialect(dialect),
        hasSlot(text.size() + 1, false) {
    for (size_t o : offsets)
      hasSlot[std::min(o, text.size())] = true;
  }

  std::vector<SlotInfo> run() {
    frames.push_back(Frame{});
    size_t next = 0; // next slot to report
    std::vector<SlotInfo> out;
    for (i = 0;;) {
      while (next < offsets.size() && std::min(offsets[next], n()) == i) {
        out.push_back(slotHere());
        ++next;
      }
      top().pending = Refusal::None;
      if (i >= n())
        break;
      step();
    }
    return out;
  }

private:
  size_t n() const { return text.size(); }
  Frame &top() { return frames.back(); }
  bool slotAt(size_t p) const { return p <= n() && hasSlot[p]; }
  /// The character at `j` (> i), or -1 past the end or when a value lies
  /// between i and j (the shell would see the value's text there).
  int peek(size_t j) const {
    if (j >= n())
      return -1;
    for (size_t p = i + 1; p <= j; ++p)
      if (hasSlot[p])
        return -1;
    return static_cast<unsigned char>(text[j]);
  }
  void push(FrameKind kind) {
    Frame f;
    f.kind = kind;
    frames.push_back(std::move(f));
  }
  void pop() {
    if (frames.size() > 1)
      frames.pop_back();
  }

  SlotInfo slotHere();
  void step();
  void stepCommand(char c);
  void readDelimiter(char c);
  void finishDelimiter();
  void endWord();
  void newCommand();
  bool dollar(bool allowAnsiC, bool allowParam);
  void backslash();
  void expanding(char c, bool allowAnsiC);
  void stepHereDoc(char c);

  std::string_view text;
  const std::vector<size_t> &offsets;
  Dialect dialect;
  std::vector<bool> hasSlot;
  std::vector<Frame> frames;
  size_t i = 0;
  bool ambiguous = false; ///< sh and bash disagree from here on.
};

SlotInfo Scanner::slotHere() {
  SlotInfo s;
  for (const Frame &f : frames) {
    s.valueIsCode = s.valueIsCode || f.valueIsCode;
    if (s.refusal != Refusal::None)
      continue;
    if (f.kind == FrameKind::Arith)
      s.refusal = Refusal::Arithmetic;
    else if (f.kind == FrameKind::Backtick)
      s.refusal = Refusal::Backtick;
    else if (f.kind == FrameKind::HereDoc && f.doc.quoted)
      s.refusal = Refusal::QuotedHereDoc;
    else if (f.kind == FrameKind::Command && f.inDoubleBracket)
      s.refusal = Refusal::DoubleBracket;
    else if (f.kind == FrameKind::Param && i > f.nameAt &&
             inParamArithmetic(text.substr(f.nameAt, i - f.nameAt)))
      s.refusal = Refusal::Subscript;
  }
  // The innermost command: an index or an integer variable it is filling.
  for (auto it = frames.rbegin(); it != frames.rend(); ++it) {
    if (it->kind != FrameKind::Command)
      continue;
    if (s.refusal == Refusal::None && it->wordStart < i &&
        opensSubscript(unquoted(text.substr(it->wordStart, i - it->wordStart))))
      s.refusal = Refusal::Subscript;
    if (s.refusal == Refusal::None && it->integerAttr)
      s.refusal = Refusal::IntegerVar;
    break;
  }
  Frame &f = top();
  if (s.refusal == Refusal::None && ambiguous)
    s.refusal = Refusal::AnsiCInSh;
  if (s.refusal == Refusal::None)
    s.refusal = f.pending;
  switch (f.kind) {
  case FrameKind::Command:
    if (f.inComment) {
      s.context = SlotContext::Comment;
      break;
    }
    if (f.readingDelimiter) {
      f.delimiterStarted = true;
      f.delimiter.unmatchable = f.delimiter.quoted = true;
      if (s.refusal == Refusal::None)
        s.refusal = Refusal::HereDocWord;
    }
    f.wordHasSlot = true;
    s.context = SlotContext::Bare;
    break;
  case FrameKind::DoubleQuote:
    s.context = SlotContext::DoubleQuoted;
    break;
  case FrameKind::SingleQuote:
    s.context = SlotContext::SingleQuoted;
    break;
  case FrameKind::AnsiC:
    s.context = SlotContext::AnsiC;
    if (dialect == Dialect::Posix && s.refusal == Refusal::None)
      s.refusal = Refusal::AnsiCInSh;
    break;
  case FrameKind::Param:
    s.context = SlotContext::Bare;
    if (i == f.nameAt && s.refusal == Refusal::None)
      s.refusal = Refusal::Dollar;
    if (f.insideDoubleQuote && s.refusal == Refusal::None)
      s.refusal = Refusal::QuotedParam;
    break;
  case FrameKind::HereDoc:
    s.context = SlotContext::HereDoc;
    f.lineStart = false;
    break;
  case FrameKind::Arith:
  case FrameKind::Backtick:
    s.context = SlotContext::Bare;
    break;
  }
  return s;
}

void Scanner::step() {
  char c = text[i];
  switch (top().kind) {
  case FrameKind::Command:
    stepCommand(c);
    return;
  case FrameKind::SingleQuote:
    if (c == '\'')
      pop();
    ++i;
    return;
  case FrameKind::AnsiC:
    if (c == '\\') {
      // `\'` does not end $'…' in bash, but does end '…' in a /bin/sh that
      // has no $'…': the two read the rest differently.
      if (peek(i + 1) == '\'' && dialect == Dialect::Posix)
        ambiguous = true;
      backslash();
      return;
    }
    if (c == '\'')
      pop();
    ++i;
    return;
  case FrameKind::DoubleQuote:
    if (c == '"') {
      pop();
      ++i;
    } else {
      expanding(c, false);
    }
    return;
  case FrameKind::Param:
    if (c == '}' && top().depth == 0) {
      pop();
      ++i;
    } else if (c == '{' || c == '}') {
      top().depth += c == '{' ? 1 : -1;
      ++i;
    } else if (c == '\'' && !top().insideDoubleQuote) {
      push(FrameKind::SingleQuote);
      ++i;
    } else if (c == '"') {
      push(FrameKind::DoubleQuote);
      ++i;
    } else {
      expanding(c, !top().insideDoubleQuote);
    }
    return;
  case FrameKind::Arith: {
    Frame &f = top();
    char opener = f.closer == ')' ? '(' : '[';
    if (c == opener) {
      ++f.depth;
      ++i;
    } else if (c == f.closer && f.depth > 0) {
      --f.depth;
      ++i;
    } else if (c == f.closer) {
      bool pair = f.closer == ')' && peek(i + 1) == ')';
      pop();
      i += pair ? 2 : 1;
    } else if (c == '\'' || c == '"') {
      push(c == '"' ? FrameKind::DoubleQuote : FrameKind::SingleQuote);
      ++i;
    } else {
      expanding(c, false);
    }
    return;
  }
  case FrameKind::Backtick:
    if (c == '`')
      pop();
    if (c == '\\')
      backslash();
    else
      ++i;
    return;
  case FrameKind::HereDoc:
    stepHereDoc(c);
    return;
  }
}

/// What "…", ${…} and arithmetic share: `\`, backticks and `$`.
void Scanner::expanding(char c, bool allowAnsiC) {
  if (c == '\\') {
    backslash();
  } else if (c == '`') {
    push(FrameKind::Backtick);
    ++i;
  } else if (c != '$' || !dollar(allowAnsiC, true)) {
    ++i;
  }
}

/// A `\` at i: escapes the next character. Before a value, the value's
/// insertion would be escaped instead: refused.
void Scanner::backslash() {
  if (slotAt(i + 1)) {
    top().pending = Refusal::Backslash;
    ++i;
    return;
  }
  i += i + 1 < n() ? 2 : 1;
}

/// A `$` at i: opens $(…), $((…)), ${…}, $[…] or $'…' (bash). False when it
/// is a plain character (the caller consumes it).
bool Scanner::dollar(bool allowAnsiC, bool allowParam) {
  if (slotAt(i + 1)) {
    top().pending = Refusal::Dollar;
    ++i;
    return true;
  }
  int c1 = peek(i + 1);
  if (c1 == '(') {
    if (peek(i + 2) == '(') {
      push(FrameKind::Arith);
      i += 3;
      return true;
    }
    push(FrameKind::Command);
    top().closesWithParen = true;
    i += 2;
    return true;
  }
  if (c1 == '[') {
    push(FrameKind::Arith);
    top().closer = ']';
    i += 2;
    return true;
  }
  if (c1 == '{' && allowParam) {
    bool inDq = top().kind == FrameKind::DoubleQuote ||
                top().kind == FrameKind::HereDoc ||
                (top().kind == FrameKind::Param && top().insideDoubleQuote);
    push(FrameKind::Param);
    top().insideDoubleQuote = inDq;
    i += 2;
    top().nameAt = i;
    return true;
  }
  if (c1 == '\'' && allowAnsiC) {
    push(FrameKind::AnsiC);
    i += 2;
    return true;
  }
  return false;
}

void Scanner::newCommand() {
  Frame &f = top();
  f.commandStart = true;
  f.sawShell = false;
  f.valueIsCode = f.codeWordOnly = false;
  f.commandName.clear();
  f.integerAttr = false;
}

void Scanner::endWord() {
  Frame &f = top();
  // The word after `sh -c` is code; the words after it are $0, $1...
  if (f.codeWordOnly && f.valueIsCode && (!f.word.empty() || f.wordHasSlot))
    f.valueIsCode = f.codeWordOnly = false;
  f.wordStart = std::string::npos;
  std::string w = std::move(f.word);
  bool hadSlot = f.wordHasSlot;
  f.word.clear();
  f.wordHasSlot = false;
  if (w.empty() && !hadSlot)
    return;
  if (f.inDoubleBracket) {
    if (w == "]]")
      f.inDoubleBracket = false;
    return;
  }
  if (f.commandStart && !hadSlot) {
    if (w == "case")
      ++f.caseDepth;
    else if (w == "esac" && f.caseDepth > 0)
      --f.caseDepth;
    if (w == "[[") {
      f.inDoubleBracket = true;
      f.commandStart = false;
      return;
    }
    if (isReservedWord(w) || isAssignmentWord(w))
      return;
  }
  // `declare` and the like also count where the scanner may not see a
  // command start (`f() { local -i n=…; }`): refusing too much is safe.
  if (!hadSlot && (f.commandStart || declaresAttributes(w)))
    f.commandName = w;
  else if (!hadSlot && w.size() > 1 && w[0] == '-' &&
           w.find('i') != std::string::npos && declaresAttributes(f.commandName))
    f.integerAttr = true;
  f.commandStart = false;
  if (hadSlot)
    return;
  if (isShellName(w))
    f.sawShell = true;
  else if (f.sawShell && w.size() > 1 && w[0] == '-' && w[1] != '-' &&
           w.find('c') != std::string::npos)
    f.valueIsCode = f.codeWordOnly = true;
  else if (w == "eval" || w == "let" || w == "ssh") {
    f.valueIsCode = true;
    f.codeWordOnly = false;
  }
}

void Scanner::finishDelimiter() {
  Frame &f = top();
  if (f.delimiterStarted)
    f.hereDocs.push_back(f.delimiter);
  f.readingDelimiter = false;
}

/// The word after `<<`: its text without quotes, and whether any quoting
/// (which makes the body literal) was used.
void Scanner::readDelimiter(char c) {
  Frame &f = top();
  if (f.delimiterQuote == '\'') {
    if (c == '\'')
      f.delimiterQuote = 0;
    else
      f.delimiter.delimiter += c;
    ++i;
    return;
  }
  if (f.delimiterQuote == '"') {
    if (c == '"')
      f.delimiterQuote = 0;
    else
      f.delimiter.delimiter += c;
    ++i;
    return;
  }
  if (!f.delimiterStarted && isBlank(c)) {
    ++i;
    return;
  }
  if (isBlank(c) || c == '\n' || isOperatorChar(c)) {
    finishDelimiter();
    return; // the character is read again as an operator
  }
  f.delimiterStarted = true;
  if (c == '\'' || c == '"') {
    f.delimiterQuote = c;
    f.delimiter.quoted = true;
    ++i;
  } else if (c == '\\') {
    f.delimiter.quoted = true;
    if (i + 1 < n() && !slotAt(i + 1))
      f.delimiter.delimiter += text[i + 1];
    i += slotAt(i + 1) ? 1 : 2;
  } else {
    f.delimiter.delimiter += c;
    ++i;
  }
}

void Scanner::stepCommand(char c) {
  Frame &f = top();
  if (f.readingDelimiter) {
    readDelimiter(c);
    return;
  }
  if (f.inComment) {
    if (c != '\n') {
      ++i;
      return;
    }
    f.inComment = false;
  }
  if (f.wordStart == std::string::npos && !isBlank(c) && c != '\n' &&
      !isOperatorChar(c))
    f.wordStart = i;
  switch (c) {
  case ' ':
  case '\t':
    endWord();
    ++i;
    return;
  case '\n': {
    endWord();
    newCommand();
    ++i;
    if (!top().hereDocs.empty()) {
      HereDocSpec doc = top().hereDocs.front();
      top().hereDocs.pop_front();
      push(FrameKind::HereDoc);
      top().doc = doc;
    }
    return;
  }
  case '#':
    if (f.word.empty() && !f.wordHasSlot) {
      f.inComment = true;
      ++i;
      return;
    }
    break;
  case '\\':
    if (slotAt(i + 1)) {
      f.word += c;
      f.pending = Refusal::Backslash;
      ++i;
      return;
    }
    if (i + 1 < n() && text[i + 1] != '\n')
      f.word.append(text.substr(i, 2));
    i += 2;
    return;
  case '\'':
    f.word += c;
    push(FrameKind::SingleQuote);
    ++i;
    return;
  case '"':
    f.word += c;
    push(FrameKind::DoubleQuote);
    ++i;
    return;
  case '`':
    f.word += c;
    push(FrameKind::Backtick);
    ++i;
    return;
  case '$':
    f.word += c;
    if (!dollar(true, true))
      ++i;
    return;
  case '(':
    if (f.inDoubleBracket)
      break;
    endWord();
    if (f.commandStart && peek(i + 1) == '(') {
      push(FrameKind::Arith);
      i += 2;
      return;
    }
    push(FrameKind::Command);
    top().closesWithParen = true;
    ++i;
    return;
  case ')':
    if (f.inDoubleBracket)
      break;
    endWord();
    if (f.closesWithParen && f.caseDepth == 0) {
      pop();
      ++i;
      return;
    }
    newCommand();
    ++i;
    return;
  case '<':
  case '>':
    if (f.inDoubleBracket)
      break;
    endWord();
    if (peek(i + 1) == '(') {
      push(FrameKind::Command);
      top().closesWithParen = true;
      i += 2;
      return;
    }
    if (c == '<' && peek(i + 1) == '<') {
      if (peek(i + 2) == '<') { // here-string: an ordinary word follows
        i += 3;
        return;
      }
      bool strip = peek(i + 2) == '-';
      i += strip ? 3 : 2;
      f.readingDelimiter = true;
      f.delimiterStarted = false;
      f.delimiterQuote = 0;
      f.delimiter = HereDocSpec{};
      f.delimiter.stripTabs = strip;
      return;
    }
    ++i;
    return;
  case ';':
  case '&':
  case '|':
    if (f.inDoubleBracket)
      break;
    endWord();
    newCommand();
    ++i;
    return;
  default:
    break;
  }
  if (f.inDoubleBracket && isBlank(c)) {
    endWord();
    ++i;
    return;
  }
  top().word += c;
  ++i;
}

void Scanner::stepHereDoc(char c) {
  Frame &f = top();
  if (f.lineStart) {
    size_t eol = text.find('\n', i);
    if (eol == std::string_view::npos)
      eol = n();
    // A line holding a value never ends the body (the value's text is not
    // known here, and is never the delimiter).
    bool valueInLine = false;
    for (size_t p = i; p <= eol; ++p)
      valueInLine = valueInLine || hasSlot[p];
    std::string_view line = text.substr(i, eol - i);
    if (f.doc.stripTabs)
      while (!line.empty() && line.front() == '\t')
        line.remove_prefix(1);
    if (!valueInLine && !f.doc.unmatchable && line == f.doc.delimiter) {
      i = eol < n() ? eol + 1 : n();
      pop();
      Frame &below = top();
      if (below.kind == FrameKind::Command && !below.hereDocs.empty()) {
        HereDocSpec doc = below.hereDocs.front();
        below.hereDocs.pop_front();
        push(FrameKind::HereDoc);
        top().doc = doc;
      }
      return;
    }
    f.lineStart = false;
  }
  if (c == '\n') {
    f.lineStart = true;
    ++i;
    return;
  }
  if (f.doc.quoted) {
    ++i;
    return;
  }
  expanding(c, false);
}

} // namespace

std::vector<SlotInfo>
iterc::shell::scanSlots(std::string_view text,
                        const std::vector<size_t> &slotOffsets,
                        Dialect dialect) {
  return Scanner(text, slotOffsets, dialect).run();
}

std::string iterc::shell::slotReference(SlotContext context,
                                        std::string_view var) {
  std::string ref = "${" + std::string(var) + "}";
  switch (context) {
  case SlotContext::Bare:
  case SlotContext::Comment:
    return "\"" + ref + "\"";
  case SlotContext::DoubleQuoted:
  case SlotContext::HereDoc:
    return ref;
  case SlotContext::SingleQuoted:
    return "'\"" + ref + "\"'";
  case SlotContext::AnsiC:
    return "'\"" + ref + "\"$'";
  }
  return "\"" + ref + "\"";
}

std::string iterc::shell::assignment(std::string_view var,
                                     std::string_view value) {
  std::string out(var);
  out.reserve(var.size() + value.size() + 3);
  out += "='";
  for (char c : value) {
    if (c == '\'')
      out += "'\\''";
    else
      out += c;
  }
  out += '\'';
  return out;
}

namespace {

struct RefusalText {
  std::string_view reason, advice;
};

/// Indexed by Refusal.
constexpr RefusalText kRefusals[] = {
    {"", ""},
    {"inside arithmetic ($((…)), ((…)) or $[…]), where the shell evaluates "
     "a value as an expression",
     "assign the value to a variable, check that it is a number, then use "
     "the variable"},
    {"inside [[ … ]], where bash evaluates the operands of -eq, -lt and the "
     "like as expressions",
     "assign the value to a variable, check that it is a number, then use "
     "the variable"},
    {"inside backticks, whose text the shell reads a second time",
     "write $(…) instead of backticks"},
    {"in the body of a quoted here-document (<<'EOF'), which the shell does "
     "not expand",
     "use an unquoted delimiter (<<EOF) and escape $, ` and \\ in the body"},
    {"in the delimiter word of a here-document",
     "write the delimiter as plain text"},
    {"right after a backslash, which would escape it",
     "remove the backslash: the value arrives as it is"},
    {"right after a '$', which would change what the shell reads",
     "remove the '$' or separate it from the value"},
    {"inside $'…' in a command run by /bin/sh, which may not read $'…' (dash "
     "does not)",
     "use '…' or \"…\", or a script with language: bash"},
    {"inside ${…} within double quotes, which shells read differently",
     "assign the value to a variable first"},
    {"in an array index or a ${…:offset}, which bash evaluates as an "
     "arithmetic expression",
     "assign the value to a variable, check that it is a number, then use "
     "the variable"},
    {"in a command that gives variables the integer attribute (declare -i "
     "and the like), whose values bash evaluates as expressions",
     "assign the value to a plain variable, check that it is a number, then "
     "use the variable"},
};

} // namespace

std::string_view iterc::shell::refusalReason(Refusal refusal) {
  return kRefusals[static_cast<size_t>(refusal)].reason;
}

std::string_view iterc::shell::refusalAdvice(Refusal refusal) {
  return kRefusals[static_cast<size_t>(refusal)].advice;
}

namespace {

/// One unit of a command: a character of author text, or a whole piece
/// (a value or inserted code) that environment references do not look into.
struct Unit {
  char c = 0;
  int piece = -1;
  bool opaque() const { return piece >= 0; }
};

bool isNameChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
}

std::vector<Piece> parseEnv(const std::vector<Unit> &units,
                            const std::vector<Piece> &pieces, size_t from,
                            size_t to) {
  std::vector<Piece> out;
  std::string literal;
  auto flush = [&] {
    if (literal.empty())
      return;
    Piece p;
    p.text = std::move(literal);
    literal.clear();
    out.push_back(std::move(p));
  };
  auto charAt = [&](size_t k) -> int {
    return k < to && !units[k].opaque() ? units[k].c : -1;
  };
  for (size_t i = from; i < to;) {
    if (units[i].opaque()) {
      flush();
      out.push_back(pieces[size_t(units[i].piece)]);
      ++i;
      continue;
    }
    if (units[i].c == '$' && charAt(i + 1) == '{') {
      size_t j = i + 2;
      while (charAt(j) >= 0 && isNameChar(char(charAt(j))))
        ++j;
      Piece env;
      env.kind = Piece::Kind::Env;
      for (size_t k = i + 2; k < j; ++k)
        env.text += units[k].c;
      if (charAt(j) == '}') {
        flush();
        out.push_back(std::move(env));
        i = j + 1;
        continue;
      }
      if (charAt(j) == ':' && charAt(j + 1) == '-') {
        int depth = 1;
        size_t k = j + 2;
        for (; k < to; ++k) {
          if (units[k].opaque())
            continue;
          if (units[k].c == '{')
            ++depth;
          else if (units[k].c == '}' && --depth == 0)
            break;
        }
        if (k < to) {
          flush();
          env.hasDefault = true;
          env.fallback = parseEnv(units, pieces, j + 2, k);
          out.push_back(std::move(env));
          i = k + 1;
          continue;
        }
      }
    }
    literal += units[i].c;
    ++i;
  }
  flush();
  return out;
}

} // namespace

std::vector<Piece>
iterc::shell::splitEnvRefs(const std::vector<Piece> &pieces) {
  std::vector<Unit> units;
  for (size_t p = 0; p < pieces.size(); ++p) {
    if (pieces[p].kind != Piece::Kind::Text) {
      units.push_back(Unit{0, int(p)});
      continue;
    }
    for (char c : pieces[p].text)
      units.push_back(Unit{c, -1});
  }
  return parseEnv(units, pieces, 0, units.size());
}
