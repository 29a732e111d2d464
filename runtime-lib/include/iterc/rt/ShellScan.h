//===- ShellScan.h - Where values land in a shell command -------*- C++ -*-===//
//
// This file declares the scanner that reads a tool command as a POSIX shell
// (or bash) would, to learn the context of every value inserted into it:
// a bare word, inside "…", inside '…', inside $'…', an unquoted here-document
// body, a comment — or a context where no insertion is safe (arithmetic,
// [[ … ]], backticks, a quoted here-document, right after a backslash or a
// `$`). Commands then receive each value through a shell variable assigned
// at the top of the script, never as code.
//
// It depends on the standard library only: the runtime renders commands with
// it, and the compiler links the same source to check commands (C130, C131).
//
//===----------------------------------------------------------------------===//
#ifndef ITERC_RT_SHELLSCAN_H
#define ITERC_RT_SHELLSCAN_H

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace iterc::shell {

/// Which shell reads the command: /bin/sh (POSIX: `$'…'` is not assumed) or
/// bash (`$'…'` is ANSI-C quoting).
enum class Dialect { Posix, Bash };

/// Where a value lands.
enum class SlotContext {
  Bare,         ///< A word or part of one: `{{x}}`, `a{{x}}b`, `X={{x}}`.
  DoubleQuoted, ///< `"…{{x}}…"`.
  SingleQuoted, ///< `'…{{x}}…'`.
  AnsiC,        ///< `$'…{{x}}…'` (bash).
  HereDoc,      ///< The body of an unquoted here-document.
  Comment,      ///< After `#`: never run.
};

/// Why no insertion is safe at a place; None when one is. (The order is
/// that of the texts in ShellScan.cpp.)
enum class Refusal {
  None,
  Arithmetic,    ///< `$((…))`, `((…))`, `$[…]`: the value is evaluated.
  DoubleBracket, ///< `[[ … ]]`: bash evaluates operands of -eq etc.
  Backtick,      ///< `` `…` ``: re-parsed after backslash removal.
  QuotedHereDoc, ///< `<<'EOF'`: the body is literal text.
  HereDocWord,   ///< The delimiter word of a here-document.
  Backslash,     ///< Right after a `\`, which would escape the insertion.
  Dollar,        ///< Right after a `$`, which would change its meaning.
  AnsiCInSh,     ///< `$'…'` in a command run by /bin/sh.
  QuotedParam,   ///< Inside `${…}` within double quotes.
  Subscript,     ///< `a[…]`, `${a[…]}`, `${a:…}`: bash evaluates the index.
  IntegerVar,    ///< An argument of `declare -i` and the like.
};

struct SlotInfo {
  SlotContext context = SlotContext::Bare;
  Refusal refusal = Refusal::None;
  /// The value becomes code again: an argument of `eval`, `let`, `ssh`, or
  /// of `sh -c` / `bash -c` (C131).
  bool valueIsCode = false;
};

/// Scans `text`, the command with its values left out, and returns the
/// context of each value: `slotOffsets` (ascending; equal offsets for
/// adjacent values) are where they go.
std::vector<SlotInfo> scanSlots(std::string_view text,
                                const std::vector<size_t> &slotOffsets,
                                Dialect dialect);

/// What to write at a slot so that the shell reads the variable `var` as
/// exactly its value: `"${var}"`, `${var}`, `'"${var}"'` or `'"${var}"$'`.
std::string slotReference(SlotContext context, std::string_view var);

/// `var='value'` (a `'` written as `'\''`): exact for every byte but NUL.
std::string assignment(std::string_view var, std::string_view value);

/// Why a refused place cannot take a value, and what to write instead.
std::string_view refusalReason(Refusal refusal);
std::string_view refusalAdvice(Refusal refusal);

/// A command split into text and values. `Text` is the author's literal
/// text, where `${NAME}` and `${NAME:-default}` are environment references;
/// `Code` is text inserted as code (`{{!x}}`), scanned but not searched for
/// environment references; `Ref` is a value (the caller's index `ref`);
/// `Env` is an environment reference found by splitEnvRefs, with its default.
struct Piece {
  enum class Kind { Text, Code, Ref, Env };
  Kind kind = Kind::Text;
  std::string text; ///< Text, Code: the text; Env: the variable's name.
  size_t ref = 0;   ///< Ref: the caller's index.
  bool hasDefault = false;
  std::vector<Piece> fallback; ///< Env: the default, itself pieces.
};

/// Finds the environment references of `Text` pieces the way expandEnv does
/// (a default may contain values: `${A:-{{vars.x}}}`); a malformed one stays
/// text.
std::vector<Piece> splitEnvRefs(const std::vector<Piece> &pieces);

} // namespace iterc::shell

#endif // ITERC_RT_SHELLSCAN_H
