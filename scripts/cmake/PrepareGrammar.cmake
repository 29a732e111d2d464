# Copies the target-neutral grammar into the build tree and injects the C++
# header that declares the lexer's base class.
file(READ ${IN}/IterLexer.g4 LEXER)
string(REPLACE "options { superClass = IterLexerBase; }"
  "options { superClass = IterLexerBase; }\n@header { #include \"Frontend/IterLexerBase.h\" }"
  LEXER "${LEXER}")
file(WRITE ${OUT}/IterLexer.g4 "${LEXER}")
configure_file(${IN}/IterParser.g4 ${OUT}/IterParser.g4 COPYONLY)

