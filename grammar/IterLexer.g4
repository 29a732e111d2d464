// IterLexer.g4 - lexer for the .iter workflow language.
//
// Only what can be recognised inside one line lives here. The line structure
// of the language (INDENT/DEDENT, blank and comment-only lines, implicit line
// joining inside brackets) and the two raw-text forms whose extent depends on
// indentation (prompt bodies and `|` block scalars) are handled by the base
// class IterLexerBase, which the build names through the `superClass` option
// and injects as a target-specific header. The grammar itself stays
// target-neutral.
lexer grammar IterLexer;

options { superClass = IterLexerBase; }

// Virtual tokens produced by IterLexerBase.
tokens { INDENT, DEDENT, PROMPT_LINE, BLOCK_STRING }

// Declaration keywords. Every keyword is contextual: the parser's `name` rule
// accepts each of them wherever a name is expected.
VARS        : 'vars';
PRESETS     : 'presets';
PROMPT      : 'prompt';
SCHEMA      : 'schema';
AGENT       : 'agent';
JUDGE       : 'judge';
ROUTER      : 'router';
JOIN        : 'join';
HUMAN       : 'human';
TOOL        : 'tool';
COMPUTE     : 'compute';
VERIFY      : 'verify';
SERVICE     : 'service';
MCP_SERVER  : 'mcp_server';
WORKFLOW    : 'workflow';
ATTACHMENTS : 'attachments';
CURSOR      : 'cursor';

// Edge clause keywords.
WHEN : 'when';
NOT  : 'not';
AS   : 'as';
WITH : 'with';

TRUE  : 'true';
FALSE : 'false';

ARROW       : '->';
COLON       : ':';
COMMA       : ',';
ASSIGN      : '=';
DOT         : '.';
STAR        : '*';
LIST_SUFFIX : '[]';
LBRACK      : '[';
RBRACK      : ']';
LBRACE      : '{';
RBRACE      : '}';
LPAREN      : '(';
RPAREN      : ')';
// A `|` right after `:` starts a block scalar; IterLexerBase reads its body.
PIPE        : '|';

FLOAT : '-'? DIGITS '.' DIGITS ([eE] [+-]? DIGITS)?;
INT   : '-'? DIGITS;

IDENT : [\p{L}_] [\p{L}\p{N}_]*;

// Quoted strings cannot span lines. A backslash always takes the next
// character with it, so `\"` never ends a string; whether the backslash is
// kept (legacy mode) or decoded (`## strict-escape: on`) is decided later.
STRING              : '"' (ESCAPE | ~["\\\r\n])* '"';
UNTERMINATED_STRING : '"' (ESCAPE | ~["\\\r\n])* '\\'?;

// Backtick raw strings: no escapes, may span lines.
RAW_STRING              : '`' ~'`'* '`';
UNTERMINATED_RAW_STRING : '`' ~'`'*;

// `##` starts a comment, whole-line or after tokens. Comments are kept on the
// hidden channel so that `iterc fmt` can put them back.
COMMENT : '##' ~[\r\n]* -> channel(HIDDEN);
// A single `#` is a common slip; it is reported (with a fix-it) and then
// treated as a comment so that the rest of the file still parses.
BAD_COMMENT : ('#' ~[#\r\n] ~[\r\n]* | '#') -> channel(HIDDEN);

NEWLINE : ('\r'? '\n' | '\r') [ \t\f]*;

WS : [ \t\f]+ -> skip;

fragment DIGITS : [0-9]+;
fragment ESCAPE : '\\' ~[\r\n];

// Anything else is one bad character; IterLexerBase reports it.
ERROR_CHAR : .;
