"""`longread serve`: the page, the JSON API and /mcp behind one guard; the page's files sit here."""
