"""Secrets never reach a pack through `longread pack`; the manifest says where they were."""

from __future__ import annotations

import json
import random
import string
from pathlib import Path

from click.testing import CliRunner

from longread.analysis.cli.commands import cli

ALNUM = string.ascii_letters + string.digits


def _fake(rng: random.Random, alphabet: str, length: int) -> str:
    return "".join(rng.choice(alphabet) for _ in range(length))


def _plant(root: Path) -> dict[str, str]:
    """Writes a small repository with secrets; returns {secret: kind the manifest must name}."""
    rng = random.Random(7)
    aws = "AKIA" + _fake(rng, string.ascii_uppercase + string.digits, 16)
    github = "ghp_" + _fake(rng, ALNUM, 36)
    db_password = _fake(rng, ALNUM, 18)
    key_body = _fake(rng, ALNUM + "+/", 64)
    (root / "app").mkdir()
    (root / "app" / "settings.py").write_text(
        "import os\n\n"
        f"AWS_ACCESS_KEY_ID = '{aws}'\n"
        f"GITHUB_TOKEN = '{github}'\n"
        f"DATABASE_URL = 'postgres://app:{db_password}@db.internal:5432/app'\n",
        encoding="utf-8",
    )
    (root / "deploy.pem").write_text(
        f"-----BEGIN RSA PRIVATE KEY-----\n{key_body}\n-----END RSA PRIVATE KEY-----\n",
        encoding="utf-8",
    )
    (root / "notes.md").write_text(
        f"Rotate the key:\n-----BEGIN RSA PRIVATE KEY-----\n{key_body}\n"
        "-----END RSA PRIVATE KEY-----\n",
        encoding="utf-8",
    )
    (root / ".env").write_text(f"SECRET_KEY={_fake(rng, ALNUM, 40)}\n", encoding="utf-8")
    return {aws: "AWS Access Key", github: "GitHub Token", db_password: "Password in URL",
            key_body: "Private Key"}


def _pack(tmp_path: Path, root: Path, *extra: str) -> tuple[str, dict]:
    out, manifest = tmp_path / "pack.xml", tmp_path / "manifest.json"
    result = CliRunner().invoke(cli, ["--cache-dir", str(tmp_path / "cache"), "pack", str(root),
                                      "-o", str(out), "--manifest", str(manifest), *extra])
    assert result.exit_code == 0, result.output
    return out.read_text(encoding="utf-8"), json.loads(manifest.read_text(encoding="utf-8"))


def test_planted_secrets_never_reach_the_pack(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    root.mkdir()
    planted = _plant(root)
    for _ in range(2):  # the second run takes the scanned text from the cache: still no leak
        text, manifest = _pack(tmp_path, root)
        leaked = [kind for secret, kind in planted.items() if secret in text]
        assert leaked == []
        kinds = {(r["path"], r["kind"]) for r in manifest["redactions"]}
        assert ("app/settings.py", "AWS Access Key") in kinds
        assert ("app/settings.py", "GitHub Token") in kinds
        assert ("app/settings.py", "Password in URL") in kinds
        assert ("notes.md", "Private Key") in kinds
        assert all(secret not in json.dumps(manifest) for secret in planted)
        skipped = {d["path"]: d.get("reason", "") for d in manifest["documents"]
                   if d["fidelity"] == "skipped"}
        assert "secrets file" in skipped[".env"]
        assert "secrets file" in skipped["deploy.pem"]
        assert "[REDACTED:" in text
        assert "import os" in text


def test_no_redact_keeps_everything(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    root.mkdir()
    planted = _plant(root)
    text, manifest = _pack(tmp_path, root, "--no-redact")
    assert all(secret in text for secret in planted)
    assert manifest["redactions"] == []


def test_an_outline_made_without_redaction_never_reaches_a_redacted_pack(tmp_path: Path) -> None:
    """Outlines are cached by the text outlined: after a --no-redact run over the same cache, a
    redacted run outlines the redacted text, so the signature's default shows no token."""
    root = tmp_path / "repo"
    (root / "app").mkdir(parents=True)
    token = "ghp_" + _fake(random.Random(3), ALNUM, 36)
    body = "".join(f"def helper_{i}(x):\n    value = x + {i}\n    return value\n\n"
                   for i in range(80))
    (root / "app" / "client.py").write_text(
        f'{body}def connect(host, token="{token}"):\n    return host\n', encoding="utf-8"
    )
    (root / "README.md").write_text("# Client\n", encoding="utf-8")
    guide = "".join(f"Step {i}: read the installation guide.\n" for i in range(300))
    (root / "guide.md").write_text(guide, encoding="utf-8")  # takes the slack's head
    args = ("--budget", "1100", "--query", "installation guide")
    plain, _ = _pack(tmp_path, root, "--no-redact", *args)
    text, manifest = _pack(tmp_path, root, *args)
    fidelity = {d["path"]: d["fidelity"] for d in manifest["documents"]}
    assert fidelity["app/client.py"] == "outline"
    assert f'token="{token}"' in plain  # the first run did outline the raw text
    assert token not in text and "def connect(host, token=" in text
    found = {(r["path"], r["kind"]) for r in manifest["redactions"]}
    assert ("app/client.py", "GitHub Token") in found
