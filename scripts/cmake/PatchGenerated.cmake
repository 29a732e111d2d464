# Rewrites the ANTLR-generated parser so that it reaches its ATN simulator
# with a static_cast instead of a dynamic_cast at every decision. The
# parser's interpreter is always a ParserATNSimulator (IterParser creates it),
# so the cast cannot fail; it is only much cheaper.
file(READ ${FILE} text)
string(REPLACE "getInterpreter<atn::ParserATNSimulator>()"
  "static_cast<atn::ParserATNSimulator *>(_interpreter)" text "${text}")
file(WRITE ${FILE} "${text}")
