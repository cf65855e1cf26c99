"""The `longread` command: click code that parses flags, calls a job, and renders its result."""
