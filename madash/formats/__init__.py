"""One module per output format madash generates: its escaping filters and a reader.

Each module holds the filters the templates insert values through (registered in
madash.render under the names its docstring gives) and a parser that reads the
generated text back the way the consuming program does, so that the tests, and the
re-reading stage before packaging, can prove a value means in the file exactly what
it meant in the site model. A filter never mangles a value it cannot represent: it
raises RenderError (see madash.errors), since the site model should have refused it.
"""
