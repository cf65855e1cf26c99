"""Secrets written inside strings, and secrets used as file or folder names, never reach a pack,
its manifest or serve's token map; a redacted name is still a citable id (through the CLI and a
real server)."""

from __future__ import annotations

import base64
import json
import random
import string
import subprocess
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from longread.analysis.cli.commands import cli
from tests.fakes import register_scripted
from tests.trees import write_files
from tests.webserver import serving

ALNUM = string.ascii_letters + string.digits
HEX = "0123456789abcdef"


def _fake(rng: random.Random, alphabet: str, length: int) -> str:
    """Random characters in a credential's shape, never a real one."""
    return "".join(rng.choice(alphabet) for _ in range(length))


def _git(root: Path, files: dict[str, str | bytes]) -> Path:
    write_files(root, files)
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    subprocess.run(["git", "-C", str(root), "add", "."], check=True)
    return root


def _pack(tmp_path: Path, root: Path, *extra: str) -> tuple[str, str]:
    """The pack's text and its manifest's JSON text, through `longread pack`."""
    out, manifest = tmp_path / "pack.out", tmp_path / "manifest.json"
    result = CliRunner().invoke(cli, ["--cache-dir", str(tmp_path / "cache"), "pack", str(root),
                                      "-o", str(out), "--manifest", str(manifest), *extra])
    assert result.exit_code == 0, result.output
    return out.read_text(encoding="utf-8"), manifest.read_text(encoding="utf-8")


def _in_strings(rng: random.Random) -> dict[str, tuple[str, str, str]]:
    """{file: (its text, the secret in it, the kind the manifest names)}, one shape a file."""
    basic = base64.b64encode(f"deploy:{_fake(rng, ALNUM, 14)}".encode()).decode()
    bearer = _fake(rng, ALNUM, 32)
    twilio_sid, twilio_key = "AC" + _fake(rng, HEX, 32), "SK" + _fake(rng, HEX, 32)
    azure = _fake(rng, ALNUM + "+/", 86) + "=="
    return {
        "basic.py": (f'HEADERS = {{"Authorization": "Basic {basic}"}}\n', basic,
                     "Authorization Header"),
        "bearer.js": (f"const headers = {{Authorization: `Bearer {bearer}`}};\n", bearer,
                      "Authorization Header"),
        "bearer.py": (f'curl = "curl -H \'Authorization: Bearer {bearer}\' https://x"\n', bearer,
                      "Authorization Header"),
        "dsn.py": ('DSN = "host=db.internal user=app password=Tr0ub4dor&3xyz"\n',
                   "Tr0ub4dor&3xyz", "Password"),
        "odbc.cs": ('var cs = "Server=db;Uid=sa;Pwd=Tr0ub4dor&3xyz;";\n', "Tr0ub4dor&3xyz",
                    "Password"),
        "login.py": ('hint = "password: Tr0ub4dor&3xyz"\n', "Tr0ub4dor&3xyz", "Password"),
        "run.sh": ("mysql --password=Tr0ub4dor\\&3xyz app\n", "Tr0ub4dor\\&3xyz", "Password"),
        "sid.py": (f'ACCOUNT = "{twilio_sid}"\n', twilio_sid, "Twilio Key"),
        "key.py": (f"client = Client('{twilio_key}', region='ie1')\n", twilio_key, "Twilio Key"),
        "azure.py": ('CONN = "DefaultEndpointsProtocol=https;AccountName=notes;'
                     f'AccountKey={azure};EndpointSuffix=core.windows.net"\n', azure,
                     "Azure Storage Account access key"),
    }


def test_secrets_inside_strings_never_reach_the_pack_or_the_manifest(tmp_path: Path) -> None:
    shapes = _in_strings(random.Random(15))
    root = _git(tmp_path / "repo", {name: text for name, (text, _, _) in shapes.items()})
    for _ in range(2):  # the second run takes clean verdicts from the cache: still no leak
        text, manifest = _pack(tmp_path, root)
        for name, (_, secret, kind) in shapes.items():
            assert secret not in text and secret not in manifest, name
            assert secret[-8:] not in text, name  # no tail either: the Azure key's "==" goes too
            found = {(r["path"], r["kind"]) for r in json.loads(manifest)["redactions"]}
            assert (name, kind) in found, name
        assert "];EndpointSuffix=core.windows.net" in text
        assert "user=app password=[REDACTED:password]" in text


def _names(rng: random.Random) -> tuple[dict[str, str | bytes], dict[str, str]]:
    """Files whose names hold secrets: a document, a folder, a secrets file and a binary (both
    skipped); and {secret: the id its file gets}."""
    aws = "AKIA" + _fake(rng, string.ascii_uppercase + string.digits, 16)
    github = "ghp_" + _fake(rng, ALNUM, 36)
    twilio = "SK" + _fake(rng, HEX, 32)
    slack = f"xoxb-{_fake(rng, string.digits, 12)}-{_fake(rng, ALNUM, 24)}"
    files: dict[str, str | bytes] = {
        f"keys/{aws}.py": "REGION = 'eu-west-1'\n",
        f"{github}/notes.md": "# Notes\nRotate the token monthly.\n",
        f"deploy/{twilio}.pem": "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
        f"img/{slack}.png": b"\x89PNG\r\n\x1a\n\x00\x00binary",
        "app.py": "def main():\n    return 0\n",
    }
    ids = {aws: "keys/[REDACTED:aws-access-key].py", github: "[REDACTED:github-token]/notes.md",
           twilio: "deploy/[REDACTED:twilio-key].pem", slack: "img/[REDACTED:slack-token].png"}
    return files, ids


@pytest.mark.parametrize("fmt", ["xml", "markdown", "plain"])
def test_secrets_in_file_names_never_reach_the_tree_ids_or_manifest(
    tmp_path: Path, fmt: str
) -> None:
    files, ids = _names(random.Random(8))
    root = _git(tmp_path / "repo", files)
    text, manifest = _pack(tmp_path, root, "--format", fmt)
    leaked = [secret for secret in ids if secret in text or secret in manifest]
    assert leaked == []
    listed = {d["path"]: d["fidelity"] for d in json.loads(manifest)["documents"]}
    assert listed == {"app.py": "full", "keys/[REDACTED:aws-access-key].py": "full",
                      "[REDACTED:github-token]/notes.md": "full",
                      "deploy/[REDACTED:twilio-key].pem": "skipped",
                      "img/[REDACTED:slack-token].png": "skipped"}
    assert "keys/[REDACTED:aws-access-key].py [full]" in text  # the tree line


def test_two_names_redacted_alike_get_distinct_ids(tmp_path: Path) -> None:
    rng = random.Random(4)
    first, second = ("AKIA" + _fake(rng, string.ascii_uppercase, 16) for _ in range(2))
    root = _git(tmp_path / "repo", {f"{first}.txt": "one\n", f"{second}.txt": "two\n"})
    text, manifest = _pack(tmp_path, root)
    paths = sorted(d["path"] for d in json.loads(manifest)["documents"])
    assert paths == ["[REDACTED:aws-access-key].txt", "[REDACTED:aws-access-key].txt~2"]
    assert first not in text + manifest and second not in text + manifest


def test_a_redacted_name_is_served_and_cited_by_its_id_and_never_shown(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """serve's token map (/api/pack) lists the redacted id; /api/source reads the file by it; an
    answer citing it checks out, and one citing the real name finds no such file."""
    files, ids = _names(random.Random(8))
    aws = next(iter(ids))
    reply = f"The region is set in `{ids[aws]}:1`; not in `keys/{aws}.py:1`."
    register_scripted(monkeypatch, lambda _system: reply)
    root = _git(tmp_path / "repo", files)
    with serving(tmp_path, root) as url:
        token_map = httpx.get(url + "api/pack")
        source = httpx.get(url + "api/source", params={"path": ids[aws]})
        asked = httpx.post(url + "api/ask", json={"question": "Which region?"}, timeout=60)
    assert token_map.status_code == 200 and source.status_code == 200, source.text
    assert all(secret not in token_map.text for secret in ids)
    assert ids[aws] in {d["path"] for d in token_map.json()["documents"]}
    assert source.json()["lines"] == ["REGION = 'eu-west-1'"]
    citations = asked.json()["answers"][0]["citations"]
    assert [(c["path"], c["status"]) for c in citations] == [
        (ids[aws], "ok"), (f"keys/{aws}.py", "unknown-path")]
