"""One frozen Settings object, built once: flags > LONGREAD_* environment > config file > defaults.

The config file is `longread.toml` in the working directory, or the `[tool.longread]` table of its
pyproject.toml; a fetched repository's own file is read only when the user trusts it
(`--trust-remote-config`), then over the working directory's, key by key.
Nothing below the CLI reads the environment; it is handed what it needs from here.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from longread.engine.options import EngineOptions, env_var, flag_name, toml_keys
from longread.ingest.errors import UsageError
from longread.ingest.pg_store import check_url


def default_cache_dir(environ: Mapping[str, str]) -> Path:
    xdg = environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg) / "longread"


@dataclass(frozen=True)
class _Caches:
    """Where both caches live; first among the settings, as errors list them."""

    cache_dir: Path = Path()  # filled from XDG_CACHE_HOME when not given
    # A postgresql:// URL: both caches live in that database instead of cache_dir (CI fleets).
    cache_url: str = ""


@dataclass(frozen=True)
class Settings(EngineOptions, _Caches):
    """Every setting: the caches, the engine options (declared once in engine/options.py) and
    redaction."""

    redact: bool = True

    @property
    def ingest_cache_path(self) -> Path:
        return self.cache_dir / "ingest.sqlite"

    @property
    def answer_cache_path(self) -> Path:
        return self.cache_dir / "answers.sqlite"

    @property
    def ingest_cache(self) -> Path | str:
        """Where the ingest cache lives: the shared database's URL, else the SQLite file."""
        return self.cache_url or self.ingest_cache_path

    @property
    def answer_cache(self) -> Path | str:
        return self.cache_url or self.answer_cache_path

    @property
    def models_dir(self) -> Path:
        return self.cache_dir / "models"


def load_settings(
    flags: Mapping[str, Any],
    *,
    environ: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    warn: Callable[[str], None] | None = None,
    trusted_dirs: Sequence[Path] = (),
) -> Settings:
    """Resolve every setting; `flags` holds the CLI's values (None where the flag was not given).

    `trusted_dirs`: folders (trusted remote checkouts) whose config file counts too, over the
    working directory's.

    An unknown key in the config file (a typo such as `modle`) is one `warn` line naming it, not
    an error: the same file may be read by an older or newer longread.
    """
    environ = os.environ if environ is None else environ
    file_values = _read_config_file(cwd or Path.cwd())
    for folder in trusted_dirs:
        file_values |= _read_config_file(folder)
    if warn is not None:
        for key in unknown_keys(file_values):
            warn(f"unknown key {key!r} in the config file, ignored{_did_you_mean(key)}")
    values: dict[str, Any] = {}
    for spec in fields(Settings):
        raw, source = _pick(spec.name, flags, environ, file_values)
        if raw is not None:
            values[spec.name] = _convert(spec, raw, source)
    settings = Settings(**values)
    if settings.cache_url:
        check_url(settings.cache_url, _pick("cache_url", flags, environ, file_values)[1])
    if settings.cache_dir == Path():
        settings = dataclasses.replace(settings, cache_dir=default_cache_dir(environ))
    return settings


KNOWN_KEYS = tuple(spec.name.replace("_", "-") for spec in fields(Settings))


def unknown_keys(file_values: Mapping[str, Any]) -> list[str]:
    """Config keys that name no setting (`max_tokens` and `max-tokens` are both known)."""
    return sorted(key for key in file_values if key.replace("_", "-") not in KNOWN_KEYS)


def check_setting_names(flags: Mapping[str, Any]) -> None:
    """Settings named in code (`api.make_settings`) must exist: a typo there is a UsageError, not
    the silent default a config file's unknown key gets (another version may have written it)."""
    names = [spec.name for spec in fields(Settings)]
    for key in flags:
        if key in names:
            continue
        if key.startswith("no_") and key[3:] in names:
            hint = f" (did you mean {key[3:]}=False?)"
        else:
            close = difflib.get_close_matches(key, names, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else f"; known: {', '.join(names)}"
        raise UsageError(f"unknown setting {key!r}{hint}")


def _did_you_mean(key: str) -> str:
    close = difflib.get_close_matches(key.replace("_", "-"), KNOWN_KEYS, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _pick(
    name: str, flags: Mapping[str, Any], environ: Mapping[str, str], file_values: Mapping[str, Any]
) -> tuple[Any, str]:
    if flags.get(name) is not None:
        return flags[name], flag_name(name)
    env_name = env_var(name)
    if env_name in environ:
        return environ[env_name], env_name
    for candidate in toml_keys(name):
        if candidate in file_values:
            return file_values[candidate], f"config key {candidate}"
    return None, ""


def _convert(spec: dataclasses.Field[Any], raw: Any, source: str) -> Any:
    kind = str(spec.type)
    try:
        if kind == "Path":
            return Path(os.path.expanduser(str(raw)))
        if kind.startswith("bool"):
            return raw if isinstance(raw, bool) else _parse_bool(str(raw))
        if kind == "int":
            return int(raw)
        if kind == "float":
            return float(raw)
        return str(raw)
    except ValueError as exc:
        raise UsageError(f"{source}: cannot read {raw!r} as {kind}") from exc


def _parse_bool(raw: str) -> bool:
    lowered = raw.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError(raw)


def _read_config_file(cwd: Path) -> dict[str, Any]:
    dedicated = cwd / "longread.toml"
    try:
        if dedicated.is_file():
            return tomllib.loads(dedicated.read_text(encoding="utf-8"))
        pyproject = cwd / "pyproject.toml"
        if pyproject.is_file():
            data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
            return dict(data.get("tool", {}).get("longread", {}))
    except (tomllib.TOMLDecodeError, OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read config file in {cwd}: {exc}") from exc
    return {}
