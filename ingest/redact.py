"""Secrets never reach a model: find them with detect-secrets' plugins (plus the few patterns it
lacks) and overwrite them in place, so line numbers stay citable and the report names only where and
what kind, never the value.

The scan is two-tiered for speed: one combined prefilter regex runs over the whole text, and only
the lines it hits go through the (slow, per-line) detectors. Every occurrence of a found value is
redacted, even on lines no detector flagged, so a password repeated in a comment does not leak.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import PurePosixPath
from typing import Any

from longread.ingest.document import Document, Section, Symbol

REDACTOR_VERSION = "redact-1"  # bump when detection changes: cached clean verdicts expire
HIGH_ENTROPY = "High Entropy String"
_MIN_REPEAT = 8  # values shorter than this are not hunted down elsewhere in the text
_LONG_LINE = 4000  # beyond this, only the prefix-anchored patterns run (no backtracking risk)


@dataclass(frozen=True)
class Redaction:
    """One secret removed from the pack: where it was (1-based line, within `page` for a PDF)."""

    path: str
    line: int
    kind: str
    page: int | None = None


@dataclass(frozen=True, order=True)
class _Span:
    start: int
    end: int
    kind: str


def marker(kind: str) -> str:
    """The text a secret of `kind` is replaced with, e.g. `[REDACTED:aws-access-key]`."""
    return f"[REDACTED:{re.sub(r'[^a-z0-9]+', '-', kind.lower()).strip('-')}]"


# --- patterns detect-secrets lacks (or catches too narrowly) -------------------------------------

_PEM_BLOCK = re.compile(
    r"-----BEGIN (?P<label>[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?)-----"
    r"(?:(?!-----BEGIN ).){0,100000}?-----END (?P=label)-----",
    re.S,
)
_PEM_UNTERMINATED = re.compile(
    r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----(?P<body>(?:[\sA-Za-z0-9+/=]|\\n){32,})"
)
_PUTTY_BLOCK = re.compile(r"PuTTY-User-Key-File-\d:.{0,20000}?Private-MAC:[^\n]*", re.S)

_SECRET_NAME = (
    r"[\w.-]*(?:secret|token|api[_-]?key|apikey|passw(?:or)?d|pwd|credential|auth[_-]?key"
    r"|access[_-]?key|private[_-]?key|client[_-]?key)[\w.-]*"
)
_KEYWORD = (
    r"(?:secret|token|api[_-]?key|apikey|passw(?:or)?d|pwd|credential|auth[_-]?key"
    r"|access[_-]?key|private[_-]?key|client[_-]?key)"
)


@dataclass(frozen=True)
class _Pattern:
    """One pattern longread adds: it runs only on lines holding one of its (lowercase) `gates`."""

    kind: str
    regex: re.Pattern[str]
    gates: tuple[str, ...]
    group: int = 0
    must_look_random: bool = False


_PATTERNS = (
    _Pattern("GitHub Token", re.compile(r"\bgithub_pat_[A-Za-z0-9_]{22,}"), ("github_pat_",)),
    _Pattern(  # detect-secrets' JWT pattern stops before the signature
        "JSON Web Token",
        re.compile(r"\beyJ[A-Za-z0-9_=-]+\.eyJ[A-Za-z0-9_=-]+\.[A-Za-z0-9_+/=-]*"),
        ("eyj",),
    ),
    _Pattern("Google API Key", re.compile(r"\bAIza[0-9A-Za-z_\-]{35}"), ("aiza",)),
    _Pattern(
        "Stripe Key",
        re.compile(r"\b[rs]k_(?:live|test)_[0-9A-Za-z]{16,}"),
        ("k_live_", "k_test_"),
    ),
    _Pattern("API Key", re.compile(r"(?<![\w-])sk-[A-Za-z0-9_\-]{20,}"), ("sk-",), 0, True),
    _Pattern(
        "Slack Token",
        re.compile(r"\bx(?:ox[a-z]|app)-[A-Za-z0-9-]{10,}"),
        ("xox", "xapp-"),
        0,
        True,
    ),
    _Pattern(
        "Slack Webhook",
        re.compile(r"https://hooks\.slack\.com/[a-z]+/[A-Za-z0-9_/]{16,}"),
        ("hooks.slack",),
    ),
    _Pattern(
        "Password in URL",
        re.compile(r"(?i)\b[a-z][a-z0-9+.-]{1,20}://[^\s:/@'\"]*:([^\s@/'\"<>{}$%]{3,})@"),
        ("://",),
        1,
    ),
    _Pattern(
        "AWS Secret Key",
        re.compile(r"(?i)aws_?secret_?access_?key['\"]?\s*[:=]\s*['\"]?([A-Za-z0-9/+=]{40})"),
        ("aws",),
        1,
    ),
)

# fmt: off
_ASSIGNMENT = _Pattern(
    HIGH_ENTROPY,
    re.compile(
        rf"(?i){_KEYWORD}[\w.-]*['\"]?\s*(?::=|=>|=|:)\s*['\"]?"
        r"([A-Za-z0-9+/=_\-.~]{16,})(?![A-Za-z0-9+/=_\-.~(\[])"
    ),
    (
        "secret", "token", "_key", "-key", "apikey", "authkey", "accesskey", "privatekey",
        "clientkey", "passw", "pwd", "credential",
    ),
    1,
    True,
)
# fmt: on

# --- detect-secrets, used in process -------------------------------------------------------------

_DS_KINDS = {
    "Basic Auth Credentials": "Password in URL",
    "Base64 High Entropy String": HIGH_ENTROPY,
    "Secret Keyword": "Secret Assignment",
}
# Each regex plugin runs only on lines holding one of its gates (lowercase); plugins left out:
# PublicIP (not a secret), HexHighEntropyString (hashes; hex keys are caught by keyword).
# fmt: off
_DS_GATES: dict[str, tuple[str, ...]] = {
    "AWSKeyDetector": ("akia", "asia", "abia", "acca", "a3t", "aws"),
    "ArtifactoryDetector": ("akc", "artifactory"),
    "AzureStorageKeyDetector": ("accountkey",),
    "BasicAuthDetector": ("://",),
    "CloudantDetector": ("cloudant", "cl_key", "cl_pass", "cl_api"),
    "DiscordBotTokenDetector": (),  # no literal: runs on every candidate line
    "GitHubTokenDetector": ("ghp_", "gho_", "ghu_", "ghs_", "ghr_"),
    "GitLabTokenDetector": (
        "glpat-", "gldt-", "glft-", "glsoat-", "glrt-", "gr1348941", "glcbt-", "glimt-",
        "glptt-", "glagent-", "gloas-",
    ),
    "IbmCloudIamDetector": ("ibm", "_key", "_pass", "_token"),
    "IbmCosHmacDetector": ("secret",),
    "JwtTokenDetector": ("eyj",),
    "MailchimpDetector": ("-us",),
    "NpmDetector": ("_authtoken",),
    "OpenAIDetector": ("t3blbkfj",),
    "PypiTokenDetector": ("pypi-",),
    "SendGridDetector": ("sg.",),
    "SlackDetector": ("xox", "hooks.slack"),
    "SoftlayerDetector": ("softlayer", "sl_"),
    "SquareOAuthDetector": ("sq0csp-",),
    "StripeDetector": ("k_live_",),
    "TelegramBotTokenDetector": (":aa",),
    "TwilioKeyDetector": ("twilio",),
}
# detect-secrets' KeywordDetector denylist, as literals that every one of its matches contains.
_KEYWORD_GATES = (
    "_key", "apikey", "authkey", "servicekey", "accountkey", "dbkey", "databasekey", "privkey",
    "privatekey", "clientkey", "_pass", "dbpass", "databasepass", "keypass", "passw", "pwd",
    "secret", "contrase",
)
# fmt: on
_QUOTED_RUN = re.compile(rb"['\"][A-Za-z0-9+/=_.-]{20,}['\"]")
_BLOCK_GATES = ("private key", "putty-user-key-file")


@dataclass(frozen=True)
class _Detectors:
    """detect-secrets' plugin instances, built once (importing it pulls in `requests`)."""

    regex_plugins: tuple[tuple[Any, tuple[str, ...]], ...]
    keyword: Any
    base64: Any


@lru_cache(maxsize=1)
def _detectors() -> _Detectors:
    from detect_secrets.core.plugins.util import get_mapping_from_secret_type_to_class

    by_name = {cls.__name__: cls for cls in get_mapping_from_secret_type_to_class().values()}
    return _Detectors(
        regex_plugins=tuple((by_name[name](), gates) for name, gates in _DS_GATES.items()),
        keyword=by_name["KeywordDetector"](),
        base64=by_name["Base64HighEntropyString"](limit=4.5),
    )


_ANCHORS = tuple(
    sorted(
        {gate for gates in _DS_GATES.values() for gate in gates}
        | {gate for pattern in (*_PATTERNS, _ASSIGNMENT) for gate in pattern.gates}
        | set(_KEYWORD_GATES)
        | set(_BLOCK_GATES)
    )
)  # a line holding none of these (nor a long quoted run) cannot hold a secret found here
# Searched over whole documents: an anchor holding a shorter one is found through it.
_DOC_ANCHORS = tuple(
    anchor.encode() for anchor in _ANCHORS if not any(a != anchor and a in anchor for a in _ANCHORS)
)


def _ds_regex_values(line: str, present: frozenset[str]) -> Iterator[tuple[str, str]]:
    """(kind, value) for every token-shaped secret detect-secrets' regex plugins find in `line`."""
    for plugin, gates in _detectors().regex_plugins:
        if gates and present.isdisjoint(gates):
            continue
        kind = _DS_KINDS.get(plugin.secret_type, plugin.secret_type)
        for regex in plugin.denylist:
            for match in regex.finditer(line):
                value = _secret_of(match).strip(" \t=:\"'")
                valid = getattr(plugin, "is_formally_valid", None)  # JWTs must decode
                if len(value) >= 3 and (valid is None or valid(value)):
                    yield kind, value


def _secret_of(match: re.Match[str]) -> str:
    """The secret in a detect-secrets match: its longest group after the start (the value of
    `key = value`), else the whole match (groups at the start are token prefixes like `ghp`)."""
    groups = [
        match.group(i)
        for i in range(1, (match.re.groups or 0) + 1)
        if match.group(i) and match.start(i) > match.start()
    ]
    return max(groups, key=len) if groups else match.group(0)


def _ds_heuristic_values(
    line: str, present: frozenset[str], path: str
) -> Iterator[tuple[str, str]]:
    """(kind, value) from detect-secrets' keyword and entropy plugins, through its own filters."""
    from detect_secrets.filters import heuristic
    from detect_secrets.plugins.keyword import QUOTES_REQUIRED_DENYLIST_REGEX_TO_GROUP as QUOTED
    from detect_secrets.plugins.keyword import REGEX_BY_FILETYPE
    from detect_secrets.util.filetype import determine_file_type

    found = _detectors()
    candidates: list[tuple[str, str]] = []
    if not present.isdisjoint(_KEYWORD_GATES):
        groups = REGEX_BY_FILETYPE.get(determine_file_type(path), QUOTED)
        candidates += [
            ("Secret Assignment", value)
            for value in found.keyword.analyze_string(line, denylist_regex_to_group=groups)
        ]
    candidates += [
        (HIGH_ENTROPY, value)
        for value in found.base64.analyze_string(line)
        if len(value) >= 20
        and len(set(value)) < len(value)  # an alphabet or a permutation, not a key
        and found.base64.calculate_shannon_entropy(value) > 4.5
    ]
    if not candidates or heuristic.is_lock_file(path) or heuristic.is_indirect_reference(line):
        return
    for kind, value in candidates:
        if not _ds_filtered(heuristic, value, line):
            yield kind, value


def _ds_filtered(heuristic: Any, value: str, line: str) -> bool:
    """detect-secrets' default false-positive filters for heuristic (non-token) findings."""
    return (
        heuristic.is_sequential_string(value)
        or heuristic.is_potential_uuid(value)
        or heuristic.is_likely_id_string(value, line)
        or heuristic.is_templated_secret(value)
        or heuristic.is_prefixed_with_dollar_sign(value)
        or heuristic.is_not_alphanumeric_string(value)
        or re.search(_KEYWORD, value, re.IGNORECASE) is not None  # a name, like 'DB_PASSWORD'
    )


# --- finding spans -------------------------------------------------------------------------------


def _looks_random(value: str) -> bool:
    """A key rather than a word or an identifier: letters and digits, and enough entropy."""
    if not (re.search(r"\d", value) and re.search(r"[A-Za-z]", value)):
        return False
    if re.fullmatch(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+", value):
        return False
    counts = [value.count(char) for char in set(value)]
    entropy = -sum(n / len(value) * math.log2(n / len(value)) for n in counts)
    return entropy >= 3.0


def _own_values(
    line: str, present: frozenset[str], patterns: tuple[_Pattern, ...]
) -> Iterator[tuple[str, str]]:
    """(kind, value) for the patterns longread adds to detect-secrets."""
    for pattern in patterns:
        if present.isdisjoint(pattern.gates):
            continue
        for match in pattern.regex.finditer(line):
            value = match.group(pattern.group)
            if not pattern.must_look_random or _looks_random(value):
                yield pattern.kind, value


def _line_values(line: str, path: str) -> Iterator[tuple[str, str]]:
    lowered = line.lower()
    present = frozenset(anchor for anchor in _ANCHORS if anchor in lowered)
    yield from _own_values(line, present, _PATTERNS)
    yield from _ds_regex_values(line, present)
    if len(line) <= _LONG_LINE:
        yield from _ds_heuristic_values(line, present, path)
    yield from _own_values(line, present, (_ASSIGNMENT,))


def _candidate_starts(raw: bytes) -> list[int]:
    """Byte offsets of the lines of `raw` that hold an anchor or a long quoted run, sorted."""
    lowered = raw.lower()
    starts = set()
    for anchor in _DOC_ANCHORS:
        index = lowered.find(anchor)
        while index >= 0:
            starts.add(lowered.rfind(b"\n", 0, index) + 1)
            end = lowered.find(b"\n", index)
            index = -1 if end < 0 else lowered.find(anchor, end)
    starts.update(raw.rfind(b"\n", 0, m.start()) + 1 for m in _QUOTED_RUN.finditer(raw))
    return sorted(starts)


def _candidate_lines(text: str) -> Iterator[tuple[int, str]]:
    """(offset, line) for each line of `text` worth a full scan, in order."""
    raw = text.encode("utf-8", "surrogatepass")
    ascii_only = len(raw) == len(text)
    offset, previous = 0, 0
    for start in _candidate_starts(raw):
        offset = (
            start
            if ascii_only
            else offset + len(raw[previous:start].decode("utf-8", "surrogatepass"))
        )
        previous = start
        end = text.find("\n", offset)
        yield offset, text[offset : len(text) if end < 0 else end]


def _block_spans(text: str) -> Iterator[_Span]:
    """Whole private-key blocks, which span lines and so escape any per-line detector."""
    if "PRIVATE KEY" in text:
        yield from (_Span(m.start(), m.end(), "Private Key") for m in _PEM_BLOCK.finditer(text))
        for match in _PEM_UNTERMINATED.finditer(text):
            yield _Span(match.start(), match.end("body"), "Private Key")
    if "PuTTY-User-Key-File" in text:
        yield from (_Span(m.start(), m.end(), "Private Key") for m in _PUTTY_BLOCK.finditer(text))


def _occurrences(haystack: str, value: str) -> Iterator[int]:
    index = haystack.find(value)
    while index >= 0:
        yield index
        index = haystack.find(value, index + len(value))


def _find_spans(text: str, path: str) -> list[_Span]:
    """Every secret in `text` as a character span, including repeats of a found value elsewhere."""
    spans = list(_block_spans(text))
    repeated: dict[str, str] = {}
    for offset, line in _candidate_lines(text):
        for kind, value in _line_values(line, path):
            spans += [
                _Span(offset + i, offset + i + len(value), kind) for i in _occurrences(line, value)
            ]
            if len(value) >= _MIN_REPEAT and _looks_random(value):
                repeated.setdefault(value, kind)
    for value, kind in repeated.items():
        spans += [_Span(i, i + len(value), kind) for i in _occurrences(text, value)]
    return _merge(spans)


def _merge(spans: list[_Span]) -> list[_Span]:
    """Overlapping spans become one, named after the earliest (then longest) of them."""
    merged: list[_Span] = []
    for span in sorted(spans, key=lambda s: (s.start, -s.end)):
        if merged and span.start < merged[-1].end:
            last = merged[-1]
            merged[-1] = _Span(last.start, max(last.end, span.end), last.kind)
        else:
            merged.append(span)
    return merged


# --- rewriting ----------------------------------------------------------------------------------

_LINE_BREAK = re.compile(r"(\r\n|[\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029])")


def _replace(text: str, spans: list[_Span]) -> str:
    """`text` with each span overwritten by its marker; line breaks inside a span are kept."""
    pieces: list[str] = []
    cursor = 0
    for span in spans:
        pieces.append(text[cursor : span.start])
        for part in _LINE_BREAK.split(text[span.start : span.end]):
            pieces.append(part if not part or _LINE_BREAK.fullmatch(part) else marker(span.kind))
        cursor = span.end
    pieces.append(text[cursor:])
    return "".join(pieces)


def redact_text(
    text: str, *, path: str, page: int | None = None
) -> tuple[str, tuple[Redaction, ...]]:
    """`text` with every secret found replaced by a marker, and where each one was."""
    spans = _find_spans(text, path)
    if not spans:
        return text, ()
    redactions = tuple(
        Redaction(path=path, line=text.count("\n", 0, span.start) + 1, kind=span.kind, page=page)
        for span in spans
    )
    return _replace(text, spans), redactions


def _redact_section(path: str, section: Section) -> tuple[Section, tuple[Redaction, ...]]:
    text, found = redact_text(section.text, path=path, page=section.page)
    return (dataclasses.replace(section, text=text) if found else section), found


def _redact_symbol(path: str, symbol: Symbol) -> Symbol:
    """Signatures reach the pack at outline fidelity; their secrets are already reported."""
    signature, found = redact_text(symbol.signature, path=path)
    return dataclasses.replace(symbol, signature=signature) if found else symbol


def redact_document(doc: Document) -> tuple[Document, tuple[Redaction, ...]]:
    """`doc` with its sections and outline redacted; `sha256` still names the source file."""
    results = [_redact_section(doc.path, section) for section in doc.sections]
    redactions = tuple(r for _, found in results for r in found)
    outline = doc.outline
    if outline is not None and outline.symbols:
        symbols = tuple(_redact_symbol(doc.path, symbol) for symbol in outline.symbols)
        outline = dataclasses.replace(outline, symbols=symbols)
    if not redactions and outline == doc.outline:
        return doc, ()
    sections = tuple(section for section, _ in results)
    return dataclasses.replace(doc, sections=sections, outline=outline), redactions


# --- files that are secrets as a whole -----------------------------------------------------------

_TEMPLATE_SUFFIXES = frozenset({"example", "sample", "template", "dist", "defaults", "tmpl"})
_KEY_SUFFIXES = frozenset({".pem", ".key", ".p12", ".pfx", ".jks", ".keystore", ".ppk", ".kdbx"})
_SECRET_NAMES = frozenset(
    {
        ".netrc",
        "_netrc",
        ".pgpass",
        ".git-credentials",
        ".htpasswd",
        "credentials.json",
        "client_secret.json",
        "service-account.json",
        "secrets.json",
        "secrets.yaml",
        "secrets.yml",
    }
)
_TOKEN_CONFIGS = frozenset({".npmrc", ".pypirc", ".yarnrc.yml"})
_TOKEN_IN_CONFIG = re.compile(r"(?i)_auth(?:token)?\s*=|password\s*[=:]|token\s*[=:]|npmAuthToken")


def _env_reason(name: str) -> str | None:
    if name == ".env" or name.endswith(".env"):
        return "secrets file (.env): skipped by default"
    if name.startswith(".env."):
        return (
            None
            if name.rsplit(".", 1)[-1] in _TEMPLATE_SUFFIXES
            else ("secrets file (.env.*): skipped by default")
        )
    return None


def is_secret_file(relpath: str, *, text: str | None = None) -> str | None:
    """Why a file is a secret as a whole and stays out of the pack, or None. Token configs
    (.npmrc, .pypirc) are skipped only when `text` shows a credential (always when unknown)."""
    pure = PurePosixPath(relpath)
    name = pure.name
    if reason := _env_reason(name):
        return reason
    if pure.suffix.lower() in _KEY_SUFFIXES:
        return f"secrets file (*{pure.suffix.lower()}): skipped by default"
    if re.fullmatch(r"id_(?:rsa|dsa|ecdsa|ed25519)(?:_[\w-]+)?", name):
        return "secrets file (private SSH key): skipped by default"
    if name in _SECRET_NAMES or (name == "credentials" and pure.parent.name == ".aws"):
        return f"secrets file ({name}): skipped by default"
    if name in _TOKEN_CONFIGS and (text is None or _TOKEN_IN_CONFIG.search(text)):
        return f"secrets file ({name} with a token): skipped by default"
    return None
