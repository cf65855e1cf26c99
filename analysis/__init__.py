"""The jobs users run (ask, summarize, review, pack) and the CLI that calls them."""
