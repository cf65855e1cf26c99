"""Tests of longread.analysis: the jobs, the CLI, the web page and MCP, on their users' paths."""
