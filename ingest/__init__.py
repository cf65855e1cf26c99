"""Corpus -> documents -> context pack. Knows nothing of models or engines."""
