"""What a secret looks like: detect-secrets' plugins, run in process behind cheap gates, plus the
patterns it lacks. `line_values` names every secret value on one line; `redact.py` finds the lines
worth scanning and rewrites them.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

HIGH_ENTROPY = "High Entropy String"
LONG_LINE = 4000  # beyond this, only the prefix-anchored patterns run (no backtracking risk)

# --- patterns detect-secrets lacks (or catches too narrowly) -------------------------------------

_KEYWORD = (
    r"(?:secret|token|api[_-]?key|apikey|passw(?:or)?d|pwd|credential|auth[_-]?key"
    r"|access[_-]?key|private[_-]?key|client[_-]?key)"
)


def looks_random(value: str) -> bool:
    """A key rather than a word or an identifier: letters and digits, and enough entropy."""
    if not (re.search(r"\d", value) and re.search(r"[A-Za-z]", value)):
        return False
    if re.fullmatch(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+", value):
        return False
    counts = [value.count(char) for char in set(value)]
    entropy = -sum(n / len(value) * math.log2(n / len(value)) for n in counts)
    return entropy >= 3.0


@dataclass(frozen=True)
class _Pattern:
    """One pattern longread adds: it runs only on lines holding one of its (lowercase) `gates`
    (with none, on every candidate line); `accept` vets each value (None: every one is a secret)."""

    kind: str
    regex: re.Pattern[str]
    gates: tuple[str, ...]
    group: int = 0
    accept: Callable[[str], bool] | None = None


def _basic_credentials(value: str) -> bool:
    """`Basic` auth's value: base64 of `user:password`, or a random-looking token."""
    try:
        decoded = base64.b64decode(value, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        decoded = ""
    return ":" in decoded or looks_random(value)


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
    _Pattern(
        "API Key", re.compile(r"(?<![\w-])sk-[A-Za-z0-9_\-]{20,}"), ("sk-",), 0, looks_random
    ),
    _Pattern(
        "Slack Token",
        re.compile(r"\bx(?:ox[a-z]|app)-[A-Za-z0-9-]{10,}"),
        ("xox", "xapp-"),
        0,
        looks_random,
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
    _Pattern(  # detect-secrets finds these only on a line that says "twilio"
        "Twilio Key", re.compile(r"\b(?:AC|SK)[0-9a-f]{32}\b"), ()
    ),
    _Pattern(  # a header written into a string: "Authorization: Basic dXNlcjpwYXNz"
        "Authorization Header",
        re.compile(r"(?i)\bbasic\s+([A-Za-z0-9+/]{8,}={0,2})(?![\w+/=])"),
        ("authorization",),
        1,
        _basic_credentials,
    ),
    _Pattern(
        "Authorization Header",
        re.compile(r"(?i)\bbearer\s+([A-Za-z0-9+/_\-.~]{20,}={0,2})(?![\w+/=.~-])"),
        ("bearer",),
        1,
        looks_random,
    ),
    _Pattern(  # a password inside a string: "host=db password=Tr0ub4dor&3xyz", "--password=..."
        "Password",
        re.compile(r"(?i)(?:passw(?:or)?d|pwd)\s*[=:]\s*(?!/)([^\s'\"`;,()\[\]{}<>]{6,}+)(?![(\[])"),
        ("passw", "pwd"),
        1,
        looks_random,  # not a name, a placeholder or a template
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
    looks_random,
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
# Lines worth a scan though they hold no anchor: a long quoted run, or a Twilio-shaped id
# (two searches: one alternation of both is four times slower).
UNANCHORED = (
    re.compile(rb"['\"][A-Za-z0-9+/=_.-]{20,}['\"]"),
    re.compile(rb"(?:AC|SK)[0-9a-f]{32}"),
)
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

    plugins: dict[str, Any] = get_mapping_from_secret_type_to_class()
    by_name = {cls.__name__: cls for cls in plugins.values()}
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
DOC_ANCHORS = tuple(
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
                # a trailing "=" is base64 padding (an Azure AccountKey's "=="): part of the value
                value = _secret_of(match).lstrip(" \t=:\"'").rstrip(" \t:\"'")
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


def _own_values(
    line: str, present: frozenset[str], patterns: tuple[_Pattern, ...]
) -> Iterator[tuple[str, str]]:
    """(kind, value) for the patterns longread adds to detect-secrets."""
    for pattern in patterns:
        if pattern.gates and present.isdisjoint(pattern.gates):
            continue
        for match in pattern.regex.finditer(line):
            value = match.group(pattern.group)
            if pattern.accept is None or pattern.accept(value):
                yield pattern.kind, value


def line_values(line: str, path: str) -> Iterator[tuple[str, str]]:
    lowered = line.lower()
    present = frozenset(anchor for anchor in _ANCHORS if anchor in lowered)
    yield from _own_values(line, present, _PATTERNS)
    yield from _ds_regex_values(line, present)
    if len(line) <= LONG_LINE:
        yield from _ds_heuristic_values(line, present, path)
    yield from _own_values(line, present, (_ASSIGNMENT,))
