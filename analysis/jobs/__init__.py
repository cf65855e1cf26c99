"""The jobs a user runs (pack, ask, summarize, review) and what they check answers against."""
