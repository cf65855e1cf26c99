"""Which language a file is written in, by its name: decides tree-sitter outlines and `kind`."""

from __future__ import annotations

from pathlib import PurePosixPath

# Languages with a tree-sitter outline (grammar wheels installed with longread).
OUTLINED = frozenset(
    {"python", "javascript", "typescript", "tsx", "go", "rust", "java", "c", "cpp"}
)

_BY_SUFFIX = {
    ".py": "python", ".pyi": "python",
    ".js": "javascript", ".mjs": "javascript", ".cjs": "javascript", ".jsx": "javascript",
    ".ts": "typescript", ".mts": "typescript", ".cts": "typescript", ".tsx": "tsx",
    ".go": "go", ".rs": "rust", ".java": "java",
    ".c": "c", ".h": "c",
    ".cc": "cpp", ".cpp": "cpp", ".cxx": "cpp", ".hpp": "cpp", ".hh": "cpp", ".hxx": "cpp",
    ".rb": "ruby", ".php": "php", ".cs": "csharp", ".kt": "kotlin", ".swift": "swift",
    ".scala": "scala", ".sh": "shell", ".bash": "shell", ".pl": "perl", ".lua": "lua",
    ".sql": "sql", ".html": "html", ".css": "css", ".scss": "css",
    ".md": "markdown", ".rst": "rst", ".txt": "text",
    ".toml": "toml", ".yaml": "yaml", ".yml": "yaml", ".json": "json", ".xml": "xml",
    ".ipynb": "json",
}
_BY_NAME = {"Makefile": "make", "Dockerfile": "docker", "CMakeLists.txt": "cmake"}
_PROSE = frozenset({"markdown", "rst", "text"})


def language_for(path: str) -> str | None:
    """The language of `path` by suffix or well-known name; None when unknown."""
    pure = PurePosixPath(path)
    return _BY_NAME.get(pure.name) or _BY_SUFFIX.get(pure.suffix.lower())


def is_code(language: str | None) -> bool:
    """Source code (as opposed to prose or unknown text): its documents get kind "code"."""
    return language is not None and language not in _PROSE
