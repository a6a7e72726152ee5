"""One module per output format: its escaping filters and the parser that reads generated files back."""
