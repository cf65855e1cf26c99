"""Files a query names outright: a path or a traceback frame (`lib/ansible/modules/copy.py`,
`File ".../sqlalchemy/orm/session.py", line 12`) or a dotted module name
(`ansible.module_utils.facts.timeout`). A reader who pastes one wants that file, whatever its words
score; BM25 alone sees only the words `orm` and `session`, which a hundred files share.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import PurePosixPath

MAX_FILES = 3  # a name that more files end with names none of them
_CANDIDATE = re.compile(r"[\w.\\/-]+")
_IDENTIFIER = re.compile(r"^[A-Za-z_]\w*$")
_WORD = re.compile(r"[A-Za-z_]\w{2,}")
_SCOPE = re.compile(r"^\s*(?:\w+\(([\w-]+)\)|([\w-]+))!?:\s")
_BACKTICKED = re.compile(r"`([^`\n]+)`")
_CODE_LIKE = re.compile(r"_|\d")
CODE_SUFFIXES = frozenset(
    {".py", ".pyi", ".go", ".rs", ".js", ".ts", ".java", ".c", ".h", ".cpp", ".rb"}
)


def named_files(paths: Sequence[str], query: str) -> frozenset[str]:
    """The files whose path (or module path) the query spells, each name naming at most
    MAX_FILES files; the longest spelling that names any file wins."""
    spellings = [_keys(candidate) for candidate in _candidates(query)] if query else []
    ends = {key.rpartition("/")[2] for keys in spellings for key in keys}
    if not ends:
        return frozenset()
    # only a path holding a spelling's last segment can end with the spelling (a 10M-token
    # repository's every path suffix costs a tenth of a second to index)
    index = _suffix_index(path for path in paths if any(end in path for end in ends))
    found: set[str] = set()
    for keys in spellings:
        for key in keys:
            hits = index.get(key)
            if hits:
                if len(hits) <= MAX_FILES:
                    found.update(hits)
                break
    return frozenset(found)


def module_files(
    paths: Sequence[str], query: str, *, keep: Callable[[str], bool]
) -> frozenset[str]:
    """The code files (those `keep` allows) whose name without suffix the query writes as code:
    the subject's scope (`dnf5: fix ...`, `fix(canvas): ...`), a `backticked` word or an
    identifier with `_` or a digit (`service_facts`, `vf2pp`), case aside, when at most
    MAX_FILES share it. Plain words (`result`, `graph`) name too many files to mean one."""
    words = {word.lower().replace("-", "_") for word in _code_words(query)}
    stems: dict[str, list[str]] = defaultdict(list)
    for path in paths:
        pure = PurePosixPath(path)
        stem = pure.stem.lower()
        if stem in words and pure.suffix in CODE_SUFFIXES and keep(path):
            stems[stem].append(path)
    return frozenset(path for hits in stems.values() if len(hits) <= MAX_FILES for path in hits)


def defining_files(
    definers: Mapping[str, Sequence[str]], query: str, *, keep: Callable[[str], bool]
) -> frozenset[str]:
    """The files (those `keep` allows) defining a name the query writes as code, exactly
    (`node_connectivity`, `Session.execute`'s `execute` is too plain: no `_`, no backticks),
    when at most MAX_FILES define it."""
    found: set[str] = set()
    for word in _code_words(query):
        paths = [path for path in definers.get(word, ()) if keep(path)]
        if len(paths) <= MAX_FILES:
            found.update(paths)
    return frozenset(found)


def _code_words(query: str) -> set[str]:
    scope = _SCOPE.match(query)
    words = {scope.group(1) or scope.group(2)} if scope else set()
    words.update(word for quoted in _BACKTICKED.findall(query) for word in _WORD.findall(quoted))
    words.update(word for word in _WORD.findall(query) if _CODE_LIKE.search(word))
    return words


def _suffix_index(paths: Iterable[str]) -> dict[str, list[str]]:
    """Every trailing run of path segments -> the files it ends; also without the file's suffix
    (`orm/session`) and, for a package's `__init__`, as the package (`ansible/modules`)."""
    index: dict[str, list[str]] = defaultdict(list)
    for path in paths:
        pure = PurePosixPath(path)
        spellings = {pure.parts}
        if pure.suffix:
            module = pure.with_suffix("").parts
            spellings.add(module)
            if pure.stem == "__init__" and len(module) > 1:
                spellings.add(module[:-1])
        for parts in spellings:
            for start in range(len(parts)):
                index["/".join(parts[start:])].append(path)
    return index


def _candidates(query: str) -> list[str]:
    """Words of the query that look like a path (a `/`) or a dotted name (a `.` inside)."""
    found = []
    for raw in _CANDIDATE.findall(query.replace("\\", "/")):
        word = raw.strip(".-/")
        if "/" in word or "." in word:
            found.append(word)
    return found


def _keys(candidate: str) -> list[str]:
    """Spellings of a candidate to look up, longest first: a path's trailing segments (the last
    alone only with a suffix, `copy.py`), a dotted name's leading modules (two or more)."""
    if "/" in candidate or PurePosixPath(candidate).suffix in {".py", ".pyi"}:
        parts = [part for part in candidate.split("/") if part]
        least = 1 if "." in parts[-1] else 2
        return ["/".join(parts[start:]) for start in range(len(parts) - least + 1)]
    parts = candidate.split(".")
    if not all(_IDENTIFIER.match(part) for part in parts):
        return []
    return ["/".join(parts[:end]) for end in range(len(parts), 1, -1)]
