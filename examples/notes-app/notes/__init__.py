"""A small command-line notebook."""

__version__ = "0.3.1"
