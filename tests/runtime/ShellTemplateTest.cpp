//===- ShellTemplateTest.cpp - Values reach tool commands as data ---------===//
//
// A property over real shells: every hostile value of a corpus, put into a
// command in every shell context (bare, adjacent to text, "…", '…', $'…',
// an assignment, an environment default, $(…), an unquoted here-document, a
// function body, after `set --`, a comment), rendered by renderShell and run
// by dash and by bash, reaches printf byte for byte, and the canary file the
// value tries to create never appears. The expected bytes come from the same
// command run with a plain word in the value's place (so what the shell does
// around the value — a here-document's newline, $'…' escapes — is the
// shell's own). Contexts where no insertion is safe are refused.
//
//===----------------------------------------------------------------------===//
#include "RuntimeTestUtil.h"

#include "iterc/rt/Scope.h"
#include "iterc/rt/ShellScan.h"
#include "iterc/rt/Tool.h"

#include <sys/stat.h>
#include <unistd.h>

using namespace iterc::rt;
using namespace iterc::rt::test;
namespace shell = iterc::shell;

namespace {

/// A template from text where `{{x}}` is the value vars.x, `{{!r}}` the raw
/// value vars.r.
Template templateOf(const std::string &text) {
  Template t;
  size_t from = 0;
  for (;;) {
    size_t x = text.find("{{x}}", from), r = text.find("{{!r}}", from);
    size_t at = std::min(x, r);
    if (at == std::string::npos) {
      t.parts.push_back({text.substr(from), std::nullopt});
      return t;
    }
    bool raw = at == r;
    t.parts.push_back({text.substr(from, at - from), std::nullopt});
    t.parts.push_back({"", TemplateRef{RefNs::Vars, {raw ? "r" : "x"}, raw}});
    from = at + (raw ? 6 : 5);
  }
}

std::string replaceAll(std::string text, const std::string &what,
                       const std::string &with) {
  for (size_t at = text.find(what); at != std::string::npos;
       at = text.find(what, at + with.size()))
    text.replace(at, what.size(), with);
  return text;
}

bool exists(const std::string &path) {
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0;
}

/// Runs `script` with `shellName` (dash, bash; "" = /bin/sh -c) in `dir`.
ToolResult run(const std::string &shellName, const std::string &script,
               const std::string &dir) {
  ToolInvocation inv;
  inv.command = script;
  inv.interpreter = shellName;
  inv.workdir = dir;
  inv.env = {{"PATH", std::getenv("PATH") ? std::getenv("PATH") : "/usr/bin"}};
  inv.outputCap = 4 << 20;
  inv.timeoutMs = 20000;
  Expected<ToolResult> r = makeProcessRunner()->run(inv);
  REQUIRE(r.ok());
  return *r;
}

const std::string kCanary = "pwned";

std::vector<std::string> hostileValues() {
  std::vector<std::string> v = {
      "",
      "plain",
      "two  words\tand tab",
      "'",
      "''",
      "\"",
      "`",
      "it's \"quoted\"",
      "'\"$(touch pwned)\"'",
      "$(touch pwned)",
      "`touch pwned`",
      "; touch pwned",
      "&& touch pwned",
      "| touch pwned",
      "\ntouch pwned\n",
      "a\r\nb\r",
      "back\\slash",
      "trailing\\",
      "\\",
      "\\'",
      "${IFS}",
      "$IFS$1$@$*$#$?$$",
      "$1",
      "*",
      "?",
      "[a-z]*",
      "~",
      "~root",
      "-n",
      "-e",
      "--",
      "#",
      "# comment",
      "%s%d%n",
      "EOF",
      "\nEOF\ntouch pwned\n",
      "$'\\x41'",
      "a[$(touch pwned)]",
      "x[`touch pwned`]",
      "$((1+1))",
      "}",
      "${x:-$(touch pwned)}",
      "\xc3\xa9t\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x98\x80",
      std::string("\xff\xfe\x80 invalid utf-8 \xc3"),
      std::string("\x01\x02\x1b[31m\x7f"),
      "__iterc_1",
      "${__iterc_1}",
  };
  return v;
}

/// Commands with `{{x}}` in every context that /bin/sh and bash share.
std::vector<std::string> posixContexts() {
  return {
      "printf '%s' {{x}}",
      "printf '%s' a{{x}}b",
      "printf '%s' \"{{x}}\"",
      "printf '%s' \"a{{x}}b\"",
      "printf '%s' '{{x}}'",
      "printf '%s' 'a{{x}}b'",
      "printf '%s' \"a\"'b'{{x}}'c'\"d\"",
      "X={{x}}; printf '%s' \"$X\"",
      "export X={{x}}; printf '%s' \"$X\"",
      "printf '%s' ${ITERC_TEST_UNSET_VARIABLE:-{{x}}}",
      "printf '%s' \"${ITERC_TEST_UNSET_VARIABLE:-{{x}}}\"",
      "v=$(printf '%s' {{x}}; printf .); printf '%s' \"${v%.}\"",
      "v=\"$(printf '%s' \"{{x}}\"; printf .)\"; printf '%s' \"${v%.}\"",
      "cat <<EOF\n{{x}}\nEOF\n",
      "cat <<EOF\na {{x}} b\n{{x}}\nEOF",
      "cat <<-EOF\n\t{{x}}\n\tEOF\n",
      "f() { printf '%s' \"{{x}}\"; }\nf",
      "f() { printf '%s' {{x}}; }; f a b",
      "set -- a b c; printf '%s' {{x}}",
      "set -- {{x}}; printf '%s' \"$1\"",
      "printf '%s' {{x}} # {{x}} ' \"",
      "if true; then printf '%s' {{x}}; fi",
      "case {{x}} in *) printf '%s' {{x}};; esac",
      "printf '%s' {{x}} | cat",
      "printf '%s' {{x}} > out.bin && cat out.bin",
  };
}

struct Case {
  std::string shellName;
  shell::Dialect dialect;
  std::string context;
};

/// The scanner's view of the one value of a /bin/sh command.
shell::SlotInfo onlySlotOf(const std::string &context) {
  std::string text;
  std::vector<size_t> at;
  for (const TemplatePart &p : templateOf(context).parts)
    p.ref ? at.push_back(text.size()) : (void)(text += p.literal);
  std::vector<shell::SlotInfo> slots =
      shell::scanSlots(text, at, shell::Dialect::Posix);
  REQUIRE(slots.size() == 1);
  return slots[0];
}

/// What the shell prints with a plain word in the value's place.
std::string printedWithPlainWord(const Case &c, const TempDir &dir) {
  ToolResult plain =
      run(c.shellName, replaceAll(c.context, "{{x}}", "QQQ"), dir.path());
  REQUIRE(plain.exitCode == 0);
  return plain.stdoutText;
}

/// Runs the case once per value — each rendered command in a subshell of
/// one script, its output and status followed by NUL separators — and
/// checks every value's bytes.
void checkValuesArrive(const Case &c, const std::vector<std::string> &values,
                       const TempDir &dir) {
  INFO("shell: " << c.shellName << "\ncontext: " << c.context);
  std::string expectedText = printedWithPlainWord(c, dir);
  std::string script;
  for (const std::string &value : values) {
    JsonScope scope;
    scope.vars["x"] = value;
    Expected<std::string> rendered =
        renderShell(templateOf(c.context), scope, c.dialect);
    INFO("value: " << value.substr(0, 200));
    REQUIRE(rendered.ok());
    script += "(\n" + *rendered + "\n)\nprintf '\\000%d\\000' $?\n";
  }
  ToolResult got = run(c.shellName, script, dir.path());
  INFO("stderr: " << got.stderrText);
  REQUIRE(got.exitCode == 0);
  CHECK_FALSE(exists(dir / kCanary));
  ::unlink((dir / kCanary).c_str());
  size_t at = 0;
  for (const std::string &value : values) {
    INFO("value: " << value.substr(0, 200));
    size_t sep = got.stdoutText.find('\0', at);
    REQUIRE(sep != std::string::npos);
    size_t end = got.stdoutText.find('\0', sep + 1);
    REQUIRE(end != std::string::npos);
    CHECK(got.stdoutText.substr(sep + 1, end - sep - 1) == "0");
    CHECK(got.stdoutText.substr(at, sep - at) ==
          replaceAll(expectedText, "QQQ", value));
    at = end + 1;
  }
  CHECK(at == got.stdoutText.size());
}

} // namespace

TEST_CASE("shell template: hostile values reach dash and bash byte for byte "
          "in every context",
          "[shell-template]") {
  TempDir dir;
  ScopedEnv unset("ITERC_TEST_UNSET_VARIABLE", nullptr);
  std::vector<Case> cases;
  for (const std::string &context : posixContexts())
    for (const char *shellName : {"dash", "bash"})
      cases.push_back({shellName, shell::Dialect::Posix, context});
  // $'…' is bash's (dash 0.5.12 reads `$` and then '…').
  for (const char *context :
       {"printf '%s' $'{{x}}'", "printf '%s' $'a\\t{{x}}\\x41\\n'",
        "printf '%s' $'\\'{{x}}\\''"})
    cases.push_back({"bash", shell::Dialect::Bash, context});
  for (const Case &c : cases)
    checkValuesArrive(c, hostileValues(), dir);
}

TEST_CASE("shell template: a 1 MiB value through /bin/sh and both shells",
          "[shell-template]") {
  TempDir dir;
  std::string big;
  for (size_t k = 0; big.size() < (1 << 20); ++k)
    big += "'\"$(touch pwned)`\\\n "[k % 17];
  big.resize(1 << 20);
  for (const char *context : {"printf '%s' {{x}}", "printf '%s' \"{{x}}\"",
                              "printf '%s' 'a{{x}}b'", "cat <<EOF\n{{x}}\nEOF"})
    for (const char *shellName : {"dash", "bash"})
      checkValuesArrive({shellName, shell::Dialect::Posix, context}, {big},
                        dir);
  // The runner's own path: `sh -c` cannot take 1 MiB in one argument; the
  // command goes to /bin/sh in a file.
  JsonScope scope;
  scope.vars["x"] = big;
  Expected<std::string> rendered = renderShell(
      templateOf("printf '%s' \"{{x}}\""), scope, shell::Dialect::Posix);
  REQUIRE(rendered.ok());
  ToolResult got = run("", *rendered, dir.path());
  CHECK(got.exitCode == 0);
  CHECK(got.stdoutText == big);
  CHECK_FALSE(exists(dir / kCanary));
}

TEST_CASE("shell template: values from the environment are data too",
          "[shell-template]") {
  TempDir dir;
  for (const std::string &value : hostileValues()) {
    ScopedEnv env("ITERC_TEST_HOSTILE", value.c_str());
    for (const auto &[context, unsetText] :
         {std::pair{"printf '%s' ${ITERC_TEST_HOSTILE:-fallback}", "fallback"},
          std::pair{"printf '%s' \"${ITERC_TEST_HOSTILE}\"", ""},
          std::pair{"printf '%s' '${ITERC_TEST_HOSTILE}'", ""}}) {
      JsonScope scope;
      Expected<std::string> rendered =
          renderShell(templateOf(context), scope, shell::Dialect::Posix);
      REQUIRE(rendered.ok());
      INFO("context: " << context << "\nvalue: " << value);
      ToolResult got = run("dash", *rendered, dir.path());
      CHECK(got.stdoutText == (value.empty() ? unsetText : value));
      CHECK_FALSE(exists(dir / kCanary));
    }
  }
  // A value naming a variable of the runner is not expanded again.
  ScopedEnv secret("ITERC_TEST_SECRET", "s3cret");
  JsonScope scope;
  scope.vars["x"] = "${ITERC_TEST_SECRET}";
  Expected<std::string> rendered = renderShell(templateOf("printf '%s' {{x}}"),
                                               scope, shell::Dialect::Posix);
  REQUIRE(rendered.ok());
  CHECK(rendered->find("s3cret") == std::string::npos);
  CHECK(run("dash", *rendered, dir.path()).stdoutText ==
        "${ITERC_TEST_SECRET}");
  CHECK(renderTextWithEnv(templateOf("{{x}} ${ITERC_TEST_SECRET}"), scope) ==
        "${ITERC_TEST_SECRET} s3cret");
}

TEST_CASE("shell template: places no value can be put safely are refused",
          "[shell-template]") {
  const std::vector<std::pair<std::string, shell::Refusal>> refused = {
      {"echo $(( {{x}} + 1 ))", shell::Refusal::Arithmetic},
      {"echo \"$(( {{x}} ))\"", shell::Refusal::Arithmetic},
      {"(( n = {{x}} ))", shell::Refusal::Arithmetic},
      {"echo $[ {{x}} ]", shell::Refusal::Arithmetic},
      {"echo $(( $(echo {{x}}) ))", shell::Refusal::Arithmetic},
      {"[[ {{x}} -eq 1 ]] && echo yes", shell::Refusal::DoubleBracket},
      {"echo `echo {{x}}`", shell::Refusal::Backtick},
      {"echo \"`echo {{x}}`\"", shell::Refusal::Backtick},
      {"cat <<'EOF'\n{{x}}\nEOF", shell::Refusal::QuotedHereDoc},
      {"cat <<\"EOF\"\n{{x}}\nEOF", shell::Refusal::QuotedHereDoc},
      {"cat <<\\EOF\n{{x}}\nEOF", shell::Refusal::QuotedHereDoc},
      {"cat <<E{{x}}F\nbody\nEOF", shell::Refusal::HereDocWord},
      {"echo \\{{x}}", shell::Refusal::Backslash},
      {"echo \"\\{{x}}\"", shell::Refusal::Backslash},
      {"cat <<EOF\n\\{{x}}\nEOF", shell::Refusal::Backslash},
      {"echo ${{x}}", shell::Refusal::Dollar},
      {"echo \"${{x}}\"", shell::Refusal::Dollar},
      {"echo $'{{x}}'", shell::Refusal::AnsiCInSh},
      {"echo $'\\''; echo '{{x}}'", shell::Refusal::AnsiCInSh},
      {"arr[{{x}}]=1", shell::Refusal::Subscript},
      {"a[\"{{x}}\"]=1; echo ${#a[@]}", shell::Refusal::Subscript},
      {"unset 'a[{{x}}]'", shell::Refusal::Subscript},
      {"test -v \"a[{{x}}]\" && echo set", shell::Refusal::Subscript},
      {"x=(1 2); echo ${x[{{x}}]}", shell::Refusal::Subscript},
      {"x=abc; echo ${x:{{x}}}", shell::Refusal::Subscript},
      {"declare -i n={{x}}", shell::Refusal::IntegerVar},
      {"f() { local -ri n=\"{{x}}\"; }; f", shell::Refusal::IntegerVar},
  };
  TempDir dir;
  for (const auto &[context, why] : refused) {
    INFO("context: " << context);
    Template t = templateOf(context);
    CHECK(onlySlotOf(context).refusal == why);
    JsonScope scope;
    scope.vars["x"] = "$(touch pwned)";
    Expected<std::string> rendered =
        renderShell(t, scope, shell::Dialect::Posix);
    REQUIRE_FALSE(rendered.ok());
    CHECK(rendered.error().message.find("{{vars.x}}") != std::string::npos);
    CHECK(rendered.error().message.find(shell::refusalReason(why)) !=
          std::string::npos);
  }
  // bash reads $'…': the value goes in.
  JsonScope scope;
  scope.vars["x"] = "v";
  CHECK(renderShell(templateOf("echo $'{{x}}'"), scope, shell::Dialect::Bash)
            .ok());
  // A NUL byte cannot be carried by any shell word.
  scope.vars["x"] = std::string("a\0b", 3);
  Expected<std::string> nul =
      renderShell(templateOf("echo {{x}}"), scope, shell::Dialect::Posix);
  REQUIRE_FALSE(nul.ok());
  CHECK(nul.error().message.find("NUL") != std::string::npos);
}

TEST_CASE("shell template: a raw value is code, read before the contexts "
          "after it",
          "[shell-template]") {
  TempDir dir;
  JsonScope scope;
  scope.vars["r"] = "printf '%s' \"";
  scope.vars["x"] = "$(touch pwned)\"'";
  // The raw text opens "…": the value after it is inside double quotes.
  Expected<std::string> rendered =
      renderShell(templateOf("{{!r}}{{x}}\""), scope, shell::Dialect::Posix);
  REQUIRE(rendered.ok());
  ToolResult got = run("dash", *rendered, dir.path());
  CHECK(got.stdoutText == "$(touch pwned)\"'");
  CHECK_FALSE(exists(dir / kCanary));
  // Without values the command is left exactly as written.
  CHECK(*renderShell(templateOf("echo 'a' \"b\""), scope,
                     shell::Dialect::Posix) == "echo 'a' \"b\"");
}

TEST_CASE("shell template: a value that becomes code again is flagged",
          "[shell-template]") {
  auto flagged = [](const std::string &context) {
    return onlySlotOf(context).valueIsCode;
  };
  CHECK(flagged("sh -c 'echo {{x}}'"));
  CHECK(flagged("bash -ec \"echo {{x}}\""));
  CHECK(flagged("find . -exec /bin/sh -c 'echo {{x}}' \\;"));
  CHECK(flagged("eval \"echo {{x}}\""));
  CHECK(flagged("ssh host ls {{x}}"));
  CHECK_FALSE(flagged("echo {{x}}"));
  CHECK_FALSE(flagged("sh -c 'echo \"$1\"' sh {{x}}"));
  CHECK_FALSE(flagged("sh -c 'echo \"$1\"' sh; echo {{x}}"));
  CHECK_FALSE(flagged("echo sh -c; echo {{x}}"));
}

TEST_CASE("shell template: in random commands a value the scanner lets in "
          "never runs",
          "[shell-template]") {
  // Fragments of shell syntax, glued at random around values: whatever the
  // command means (often a syntax error), a value that renderShell accepts
  // must not run. `eval` and `sh -c` are left out: running a value there is
  // what the author wrote (C131 warns).
  const std::vector<std::string> fragments = {"echo ",   "printf '%s' ",
                                              "'",       "\"",
                                              "$(",      ")",
                                              "`",       "\\",
                                              "$",       "{",
                                              "}",       "((",
                                              "))",      "[[ ",
                                              " ]]",     "<<EOF\n",
                                              "<<'E'\n", "\nEOF\n",
                                              "\nE\n",   "\n",
                                              " ",       "#",
                                              ";",       "|",
                                              "a",       "=",
                                              "$'",      "(",
                                              "case ",   " in ",
                                              "*) ",     ";; esac",
                                              "f() { ",  "; }",
                                              "X=",      "a[",
                                              "]=1 ",    "declare -i n=",
                                              "${a:",    "${a["};
  const std::string value = "'\"$(touch pwned)`touch pwned`\"'a[$(touch "
                            "pwned)]\nEOF\nE\n";
  TempDir dir;
  uint32_t seed = 12345;
  auto next = [&](uint32_t bound) {
    seed = seed * 1103515245u + 12345u;
    return (seed >> 8) % bound;
  };
  int accepted = 0;
  for (int round = 0; round < 150; ++round) {
    std::string context;
    size_t length = 4 + next(10);
    bool hasValue = false;
    for (size_t k = 0; k < length; ++k) {
      if (next(4) == 0) {
        context += "{{x}}";
        hasValue = true;
      } else {
        context += fragments[next(uint32_t(fragments.size()))];
      }
    }
    if (!hasValue)
      context += "{{x}}";
    JsonScope scope;
    scope.vars["x"] = value;
    Expected<std::string> rendered =
        renderShell(templateOf(context), scope, shell::Dialect::Posix);
    if (!rendered)
      continue;
    ++accepted;
    for (const char *shellName : {"dash", "bash"}) {
      ToolInvocation inv;
      inv.command = *rendered;
      inv.interpreter = shellName;
      inv.workdir = dir.path();
      inv.env = {{"PATH", std::getenv("PATH") ? std::getenv("PATH") : ""}};
      inv.timeoutMs = 5000;
      REQUIRE(makeProcessRunner()->run(inv).ok());
      INFO("shell: " << shellName << "\ncontext: " << context
                     << "\nrendered: " << *rendered);
      CHECK_FALSE(exists(dir / kCanary));
      ::unlink((dir / kCanary).c_str());
    }
  }
  CHECK(accepted > 50); // the property is about something
}
