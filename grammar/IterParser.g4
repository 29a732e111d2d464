// IterParser.g4 - parser for the .iter workflow language.
//
// The parser recognises shape only. Which properties a declaration accepts,
// which values they take and what the names refer to is decided by the AST
// builder and semantic analysis, which can say so with a precise diagnostic
// ("unknown property 'modle' on agent 'writer'; did you mean 'model'?")
// instead of a generic syntax error. Node bodies are therefore generic
// property blocks; the constructs whose shape is the language's own (edges,
// schema fields, variables, prompts) have their own rules.
parser grammar IterParser;

options { tokenVocab = IterLexer; }

/// file ::= item* EOF
file : item* EOF ;

/// One top-level item. The driver parses items one at a time (see
/// ParseDriver) so that memory stays bounded on very large files.
item
  : declaration
  | NEWLINE
  ;

declaration
  : varsDecl
  | presetsDecl
  | promptDecl
  | schemaDecl
  | workflowDecl
  | nodeDecl
  | blockDecl
  ;

/// varsDecl ::= 'vars' ':' NEWLINE INDENT varField+ DEDENT
varsDecl : VARS COLON NEWLINE INDENT (varField | NEWLINE)+ DEDENT ;

/// varField ::= name ':' type [enum] ['secret'] ['=' value] NEWLINE
/// The modifier is a plain name (no keyword, so `secret` stays a valid
/// name everywhere); the AST builder and Sema check that it says `secret`.
varField : name COLON typeRef enumSuffix? modifier=name? (ASSIGN value)? NEWLINE ;

/// presetsDecl ::= 'presets' ':' NEWLINE INDENT preset+ DEDENT
presetsDecl : PRESETS COLON NEWLINE INDENT (preset | NEWLINE)+ DEDENT ;

/// preset ::= name ':' NEWLINE INDENT (name ':' value NEWLINE)+ DEDENT
preset : name COLON NEWLINE INDENT (property | NEWLINE)+ DEDENT ;

/// promptDecl ::= 'prompt' name ':' NEWLINE INDENT PROMPT_LINE+ NEWLINE DEDENT
/// The body lines are produced by IterLexerBase in raw mode.
promptDecl : PROMPT name COLON NEWLINE (INDENT PROMPT_LINE+ NEWLINE DEDENT)? ;

/// schemaDecl ::= 'schema' name ':' NEWLINE INDENT schemaField+ DEDENT
schemaDecl : SCHEMA name COLON NEWLINE (INDENT (schemaField | NEWLINE)+ DEDENT)? ;

/// schemaField ::= name ':' type [enum] NEWLINE
schemaField : name COLON typeRef enumSuffix? NEWLINE ;

/// type ::= name ['[]']
typeRef : name LIST_SUFFIX? ;

/// enum ::= '[' 'enum' ':' value (',' value)* ']'
enumSuffix : LBRACK name COLON value (COMMA value)* COMMA? RBRACK ;

/// nodeDecl ::= nodeKind name ':' NEWLINE INDENT property* DEDENT
nodeDecl : kind=nodeKeyword name COLON NEWLINE (INDENT (property | NEWLINE)+ DEDENT)? ;

nodeKeyword
  : AGENT | JUDGE | ROUTER | JOIN | HUMAN | TOOL | COMPUTE | VERIFY
  | SERVICE | MCP_SERVER | CURSOR
  ;

/// blockDecl ::= name ':' NEWLINE INDENT property* DEDENT
/// Any other top-level block (`attachments:`, `secrets:`, ...): semantic
/// analysis names the Iterion features iterc does not implement and rejects
/// the rest, instead of the parser failing on them.
blockDecl : name COLON NEWLINE (INDENT (property | NEWLINE)+ DEDENT)? ;

/// workflowDecl ::= 'workflow' name ':' NEWLINE INDENT (property | edge)+ DEDENT
workflowDecl
  : WORKFLOW name COLON NEWLINE (INDENT (workflowItem | NEWLINE)+ DEDENT)? ;

workflowItem : varsDecl | edge | property ;

/// edge ::= name '->' name clause* NEWLINE
edge : src=name ARROW dst=name edgeClause* NEWLINE ;

edgeClause
  : WHEN NOT? cond=name                              # whenField
  | WHEN NOT? expr=(STRING | RAW_STRING)             # whenExpr
  | AS loop=name LPAREN cap=(INT | STRING | RAW_STRING) RPAREN  # asLoop
  | WITH map                                         # withMap
  ;

/// property ::= name ':' value NEWLINE
///            | name ':' NEWLINE INDENT property+ DEDENT
property
  : key=name COLON value NEWLINE                                # valueProperty
  | key=name COLON NEWLINE (INDENT (property | NEWLINE)+ DEDENT)? # blockProperty
  ;

value
  : STRING          # stringValue
  | RAW_STRING      # rawStringValue
  | PIPE BLOCK_STRING  # blockStringValue
  | INT             # intValue
  | FLOAT           # floatValue
  | (TRUE | FALSE)  # boolValue
  | ref             # refValue
  | list            # listValue
  | map             # mapValue
  ;

/// A bare reference: `schema_name`, `mcp.server.tool`, `mcp.server.*`.
ref : name (DOT (name | STAR))* ;

list : LBRACK (value (COMMA value)* COMMA?)? RBRACK | LIST_SUFFIX ;

/// Inline map; commas are optional and it may span lines.
map : LBRACE (mapEntry (COMMA? mapEntry)* COMMA?)? RBRACE ;

/// A key is a name or a quoted string (`"Content-Type": "..."`).
mapEntry : (key=name | quotedKey=STRING) COLON value ;

/// Every keyword is also a valid name.
name
  : IDENT
  | VARS | PRESETS | PROMPT | SCHEMA | AGENT | JUDGE | ROUTER | JOIN | HUMAN
  | TOOL | COMPUTE | VERIFY | SERVICE | MCP_SERVER | WORKFLOW | ATTACHMENTS
  | CURSOR | WHEN | NOT | AS | WITH
  ;
