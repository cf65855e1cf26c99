"""`longread mcp` and /mcp: one corpus served to agents through the official MCP SDK."""
