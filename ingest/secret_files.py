"""Files that are secrets as a whole (.env, private keys, credential stores): they stay out of the
pack entirely, named in the manifest with the reason."""

from __future__ import annotations

import re
from pathlib import PurePosixPath

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
