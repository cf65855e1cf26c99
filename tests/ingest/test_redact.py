"""Secrets planted in a corpus never survive redaction; ordinary code is left alone."""

from __future__ import annotations

import base64
import json
import random
import string
import uuid
from dataclasses import dataclass
from hashlib import sha1, sha256

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from longread.ingest.document import Document, Outline, Section, Symbol
from longread.ingest.redact import (
    Redaction,
    marker,
    redact_document,
    redact_paths,
    redact_text,
)
from longread.ingest.secret_files import is_secret_file

UPPER_DIGITS = string.ascii_uppercase + string.digits
ALNUM = string.ascii_letters + string.digits
URLSAFE = ALNUM + "-_"


@dataclass(frozen=True)
class Planted:
    path: str
    line: str  # contains {s} where the secret goes
    secret: str
    kind: str


def _fake(rng: random.Random, alphabet: str, length: int) -> str:
    """A fake credential: random characters in a real credential's shape, never a real one."""
    return "".join(rng.choice(alphabet) for _ in range(length))


def _b64url(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def _private_key(rng: random.Random) -> str:
    body = "\n".join(_fake(rng, ALNUM + "+/", 64) for _ in range(4))
    return f"-----BEGIN RSA PRIVATE KEY-----\n{body}\n-----END RSA PRIVATE KEY-----"


def _planted(rng: random.Random) -> list[Planted]:
    jwt = ".".join(
        [
            _b64url({"alg": "HS256", "typ": "JWT"}),
            _b64url({"sub": _fake(rng, string.digits, 10), "name": "Fake User"}),
            _fake(rng, URLSAFE, 43),
        ]
    )
    slack_hook = (
        f"https://hooks.slack.com/services/T{_fake(rng, UPPER_DIGITS, 8)}"
        f"/B{_fake(rng, UPPER_DIGITS, 10)}/{_fake(rng, ALNUM, 24)}"
    )
    return [
        Planted(
            "app/settings.py",
            "AWS_ACCESS_KEY_ID = '{s}'",
            "AKIA" + _fake(rng, UPPER_DIGITS, 16),
            "AWS Access Key",
        ),
        Planted(
            "app/settings.py",
            "aws_secret_access_key = {s}",
            _fake(rng, ALNUM + "/+", 40),
            "AWS Secret Key",
        ),
        Planted("app/settings.py", "GH = 'ghp_{s}'", _fake(rng, ALNUM, 36), "GitHub Token"),
        Planted(
            "app/settings.py",
            "GH_FINE = '{s}'",
            "github_pat_" + _fake(rng, ALNUM, 22) + "_" + _fake(rng, ALNUM, 59),
            "GitHub Token",
        ),
        Planted(
            "app/settings.py", "GITLAB = '{s}'", "glpat-" + _fake(rng, URLSAFE, 20), "GitLab Token"
        ),
        Planted(
            "app/settings.py",
            "SLACK_BOT = '{s}'",
            f"xoxb-{_fake(rng, string.digits, 12)}-{_fake(rng, string.digits, 13)}-"
            + _fake(rng, string.ascii_lowercase + string.digits, 24),
            "Slack Token",
        ),
        Planted("app/settings.py", "WEBHOOK = '{s}'", slack_hook, "Slack Webhook"),
        Planted(
            "app/settings.py",
            "GOOGLE_MAPS = '{s}'",
            "AIza" + _fake(rng, URLSAFE, 35),
            "Google API Key",
        ),
        Planted(
            "app/settings.py", "STRIPE = '{s}'", "sk_live_" + _fake(rng, ALNUM, 24), "Stripe Key"
        ),
        Planted(
            "app/settings.py", "OPENAI = '{s}'", "sk-proj-" + _fake(rng, URLSAFE, 48), "API Key"
        ),
        Planted(
            "app/settings.py",
            "ANTHROPIC = '{s}'",
            "sk-ant-api03-" + _fake(rng, URLSAFE, 93),
            "API Key",
        ),
        Planted("app/settings.py", "SESSION = '{s}'", jwt, "JSON Web Token"),
        Planted(
            "app/settings.py",
            'SECRET_KEY = "{s}"',
            _fake(rng, ALNUM + "!@#%^&*", 50),
            "Secret Assignment",
        ),
        Planted(
            "app/settings.py",
            "db_password = '{s}'",
            "hunter2-" + _fake(rng, ALNUM, 6),
            "Secret Assignment",
        ),
        Planted(
            "deploy/config.yaml",
            "database: postgres://app:{s}@db.internal:5432/app",
            _fake(rng, ALNUM, 16),
            "Password in URL",
        ),
        Planted(
            "deploy/config.yaml",
            "mongo: mongodb+srv://admin:{s}@cluster0.example.net/db",
            _fake(rng, ALNUM, 14),
            "Password in URL",
        ),
        Planted(
            "deploy/config.yaml",
            "cache: redis://:{s}@localhost:6379/0",
            _fake(rng, ALNUM, 18),
            "Password in URL",
        ),
        Planted("deploy/config.yaml", "api_key: {s}", _fake(rng, ALNUM, 32), "Secret Assignment"),
        Planted(
            "docs/setup.md",
            "Export `SERVICE_TOKEN={s}` before running.",
            _fake(rng, ALNUM, 40),
            "High Entropy String",
        ),
        Planted(
            "docs/setup.md",
            "client_secret: {s}",
            _fake(rng, ALNUM + "-_", 36),
            "High Entropy String",
        ),
        Planted("keys/deploy_key.txt", "{s}", _private_key(rng), "Private Key"),
    ]


FILLER = [
    "import os",
    "",
    "def handler(event):",
    "    return {'status': 200, 'id': event['id']}",
    "# settings below are loaded from the environment in production",
]


def _corpus(planted: list[Planted]) -> dict[str, tuple[str, list[tuple[int, Planted]]]]:
    """Per path: the text, and at which line each planted secret starts (1-based)."""
    texts: dict[str, list[str]] = {}
    where: dict[str, list[tuple[int, Planted]]] = {}
    for number, plant in enumerate(planted):
        lines = texts.setdefault(plant.path, [])
        lines += FILLER[: 1 + number % len(FILLER)]
        where.setdefault(plant.path, []).append((len(lines) + 1, plant))
        lines += plant.line.format(s=plant.secret).split("\n")
    return {path: ("\n".join(lines) + "\n", where[path]) for path, lines in texts.items()}


@pytest.fixture(scope="module")
def planted() -> list[Planted]:
    return _planted(random.Random(20261128))


def test_no_planted_secret_leaks_and_every_one_is_reported(planted: list[Planted]) -> None:
    leaked, reported = [], set()
    for path, (text, where) in _corpus(planted).items():
        redacted, redactions = redact_text(text, path=path)
        assert redacted.count("\n") == text.count("\n")
        reported |= {(r.path, r.line, r.kind) for r in redactions}
        leaked += [p.secret for _, p in where if _fragments(p.secret) & _fragments(redacted)]
        for line, plant in where:
            assert (path, line, plant.kind) in reported, (plant.kind, line, redactions)
    assert len(planted) == 21 and leaked == []


def _fragments(text: str, size: int = 12) -> set[str]:
    """Every 12-character window: a leak of any part of a secret shows as a shared window."""
    return {text[i : i + size] for i in range(len(text) - size + 1)} - {""}


def test_private_key_block_is_redacted_line_by_line(planted: list[Planted]) -> None:
    key = next(p for p in planted if p.kind == "Private Key").secret
    text = f"notes\n{key}\nafter\n"
    redacted, redactions = redact_text(text, path="notes.txt")
    lines = redacted.split("\n")
    assert lines[0] == "notes" and lines[-2] == "after"
    assert all(line == marker("Private Key") for line in lines[1:-2])
    assert redactions == (Redaction(path="notes.txt", line=2, kind="Private Key"),)


def test_private_key_inside_a_string_literal_is_redacted() -> None:
    body = _fake(random.Random(3), ALNUM + "+/", 200)
    text = f'KEY = "-----BEGIN PRIVATE KEY-----\\n{body}\\n-----END PRIVATE KEY-----"\n'
    redacted, redactions = redact_text(text, path="k.py")
    assert body[:20] not in redacted and [r.kind for r in redactions] == ["Private Key"]


def test_a_found_secret_is_also_redacted_where_no_detector_would_see_it() -> None:
    password = _fake(random.Random(5), ALNUM, 10) + "7q"
    text = f"url = 'postgres://app:{password}@db:5432/x'\n# reminder: the pw is {password}\n"
    redacted, redactions = redact_text(text, path="a.py")
    assert password not in redacted
    assert [r.line for r in redactions] == [1, 2]
    assert {r.kind for r in redactions} == {"Password in URL"}


def test_redaction_markers_name_the_kind_not_the_value() -> None:
    assert marker("AWS Access Key") == "[REDACTED:aws-access-key]"
    secret = "AKIA" + _fake(random.Random(9), UPPER_DIGITS, 16)
    redacted, _ = redact_text(f"key = {secret}\n", path="x.cfg")
    assert redacted == "key = [REDACTED:aws-access-key]\n"


def test_redact_document_redacts_sections_and_outline_signatures() -> None:
    secret = "sk_live_" + _fake(random.Random(11), ALNUM, 24)
    text = f"def connect(key='{secret}'):\n    return key\n"
    symbol = Symbol(
        name="connect",
        kind="function",
        line=1,
        end_line=2,
        signature=f"def connect(key='{secret}'):",
    )
    doc = Document(
        path="db.py",
        kind="code",
        sha256="0" * 64,
        size=len(text),
        sections=(Section(text=text),),
        outline=Outline(language="python", symbols=(symbol,)),
    )
    redacted, redactions = redact_document(doc)
    assert secret not in redacted.text and secret not in redacted.outline.symbols[0].signature
    assert redactions == (Redaction(path="db.py", line=1, kind="Stripe Key"),)
    assert redacted.sha256 == doc.sha256


def test_pdf_redactions_carry_their_page() -> None:
    secret = "AKIA" + _fake(random.Random(13), UPPER_DIGITS, 16)
    doc = Document(
        path="r.pdf",
        kind="pdf",
        sha256="1" * 64,
        size=1,
        sections=(Section(text="intro", page=1), Section(text=f"a\nk {secret}", page=2)),
    )
    redacted, redactions = redact_document(doc)
    assert secret not in redacted.text
    assert redactions == (Redaction(path="r.pdf", line=2, kind="AWS Access Key", page=2),)


def test_clean_document_comes_back_unchanged() -> None:
    doc = Document(path="a.py", kind="code", sha256="2" * 64, size=3, sections=(Section("x=1"),))
    assert redact_document(doc) == (doc, ())


def _ordinary_code(rng: random.Random) -> str:
    digests = [sha256(str(i).encode()).hexdigest() for i in range(5)]
    return "\n".join(
        [
            "import hashlib, uuid",
            "from collections import OrderedDict",
            "",
            "def test_digest():",
            *[
                f"    assert hashlib.sha256(b'{i}').hexdigest() == '{d}'"
                for i, d in enumerate(digests)
            ],
            f"    assert sha1(b'x').hexdigest() == '{sha1(b'x').hexdigest()}'",
            f"REQUEST_ID = '{uuid.UUID(int=rng.getrandbits(128))}'",
            f"COMMIT = '{_fake(rng, '0123456789abcdef', 40)}'",
            "ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789'",
            "password = os.environ['DB_PASSWORD']",
            "token = tokenizer.next_token()",
            "secret_key = settings.SECRET_KEY",
            "api_key = get_api_key(user)",
            "def check_password(password: str) -> bool:",
            "    return password == stored_password",
            "token_stream = antlr4.CommonTokenStream(lexer)",
            "sorted(items, key=default_sort_key)",
            "url = 'https://docs.python.org/3/library/hashlib.html'",
            "PASSWORD_FIELD = 'password'",
            "# see https://example.com/path?x=1 for details",
            "id_map = {'a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6': 1}",
            "",
        ]
    )


def test_no_false_positive_on_ordinary_code() -> None:
    text = _ordinary_code(random.Random(17))
    assert redact_text(text, path="tests/test_hashes.py") == (text, ())


def test_lock_file_hashes_are_not_secrets() -> None:
    digests = [sha256(str(i).encode()).digest() for i in range(3)]
    text = "".join(
        f'"pkg{i}": {{"integrity": "sha512-{base64.b64encode(d * 2).decode()}"}},\n'
        for i, d in enumerate(digests)
    )
    assert redact_text(text, path="package-lock.json") == (text, ())


@pytest.mark.parametrize(
    ("relpath", "reason"),
    [
        (".env", "secrets file (.env): skipped by default"),
        ("svc/.env.production", "secrets file (.env.*): skipped by default"),
        ("docker/prod.env", "secrets file (.env): skipped by default"),
        ("certs/server.pem", "secrets file (*.pem): skipped by default"),
        ("tls/server.key", "secrets file (*.key): skipped by default"),
        ("home/.ssh/id_rsa", "secrets file (private SSH key): skipped by default"),
        ("home/.ssh/id_ed25519", "secrets file (private SSH key): skipped by default"),
        ("gcp/credentials.json", "secrets file (credentials.json): skipped by default"),
        (".aws/credentials", "secrets file (credentials): skipped by default"),
        (".npmrc", "secrets file (.npmrc with a token): skipped by default"),
        (".env.example", None),
        (".env.sample", None),
        ("config/.env.template", None),
        ("home/.ssh/id_rsa.pub", None),
        ("src/keys.py", None),
        ("docs/environment.md", None),
        ("src/credentials.py", None),
    ],
)
def test_is_secret_file(relpath: str, reason: str | None) -> None:
    assert is_secret_file(relpath) == reason


def test_token_configs_are_skipped_only_when_they_hold_a_token() -> None:
    token = "npm_" + _fake(random.Random(19), ALNUM, 36)
    assert is_secret_file(".npmrc", text="registry=https://registry.npmjs.org/\n") is None
    assert is_secret_file(".npmrc", text=f"//registry.npmjs.org/:_authToken={token}\n")
    assert is_secret_file("pkg/.pypirc", text="[pypi]\nusername = __token__\npassword = x\n")


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=400), st.data())
def test_redact_text_never_raises_and_keeps_lines(text: str, data: st.DataObject) -> None:
    secret = "AKIA" + data.draw(st.text(alphabet=UPPER_DIGITS, min_size=16, max_size=16))
    at = data.draw(st.integers(min_value=0, max_value=len(text)))
    for sample in (text, text[:at] + f" {secret} " + text[at:]):
        redacted, redactions = redact_text(sample, path="f.txt")
        assert len(redacted.split("\n")) == len(sample.split("\n"))
        assert len(redacted.splitlines()) == len(sample.splitlines())
        assert all(1 <= r.line <= sample.count("\n") + 1 for r in redactions)
    assert secret not in redacted


def test_headers_passwords_and_sids_in_code_are_left_alone_when_they_are_not_secrets() -> None:
    """The shapes found inside strings (Authorization values, `password=` in a string, Twilio
    ids) are not found in the code that only builds them."""
    text = "\n".join([
        'headers["Authorization"] = f"Bearer {token}"',
        'headers = {"Authorization": "Bearer " + access_token}',
        'challenge = "Authorization: Basic realm=\\"api\\""',
        "# curl -H 'Authorization: Bearer YOUR_ACCESS_TOKEN_HERE' https://api.example.com",
        'url = f"postgres://db/app?password={password}"',
        'cmd = ["mysql", "--password=$DB_PASSWORD"]',
        'DSN = "host=db user=app password=%s" % pw',
        "conn = connect(password=password, user=user1)",
        "conn = connect(password=self.password)",
        'conn = connect(password=os.environ.get("DB_PASSWORD_2"))',
        "conn = connect(password=get_password(user1))",
        "def connect(password: str, pwd: Optional[str] = None) -> None:",
        'log.info("password: %s", masked)',
        'env = "PWD=/home/runner/work"',
        'cmd = f"--password={password}"',
        'ACCOUNT_SID = "AC" + sid',
        "ACCESS_LEVEL_DEFAULT = 'read'",
        "commit = 'ac0123456789abcdef0123456789abcdef'",
        "",
    ])
    assert redact_text(text, path="app/client.py") == (text, ())


def test_a_secret_in_a_file_name_is_redacted_and_ids_stay_unique() -> None:
    rng = random.Random(5)
    first, second = ("AKIA" + _fake(rng, UPPER_DIGITS, 16) for _ in range(2))
    paths = [f"keys/{first}.txt", f"keys/{second}.txt", "keys/[REDACTED:aws-access-key].txt",
             "src/tokenizer.py", "tests/test_password_reset.py", "docs/secret-handling.md"]
    ids = redact_paths(paths)
    marked = "keys/[REDACTED:aws-access-key].txt"
    assert {ids[paths[0]], ids[paths[1]]} == {f"{marked}~2", f"{marked}~3"}  # that id is taken
    assert all(ids[path] == path for path in paths[2:])
    assert redact_paths(paths, clean=paths) == {path: path for path in paths}
    assert redact_paths([]) == {}
