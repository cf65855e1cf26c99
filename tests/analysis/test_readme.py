"""The README's configuration reference stays true: every setting is in its table, and every key,
variable and exit code it names is one longread reads or uses."""

from __future__ import annotations

import re
from dataclasses import fields
from pathlib import Path

from click.testing import CliRunner

from longread.analysis.cli.commands import cli
from longread.analysis.config import KNOWN_KEYS, Settings, load_settings

README = Path(__file__).resolve().parents[2] / "README.md"


def section(title: str) -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start:end]


def table_keys() -> set[str]:
    rows = [line for line in section("Configuration").split("\n") if line.startswith("| `")]
    return {key for row in rows for key in re.findall(r"`([a-z-]+)`", row.split("|")[1])}


def test_every_setting_is_a_key_of_the_readme_table_and_no_other() -> None:
    assert table_keys() == set(KNOWN_KEYS)


def test_each_key_is_read_from_longread_toml_and_its_environment_variable(tmp_path: Path) -> None:
    """A value for every documented key, once from the file and once from LONGREAD_<KEY>."""
    samples = {"int": "3", "float": "0.5", "str": "x", "Path": str(tmp_path / "c"),
               "bool | None": "true", "bool": "false"}
    kinds = {spec.name: str(spec.type) for spec in fields(Settings)}
    values = {key: samples[kinds[key.replace("-", "_")]] for key in table_keys()
              if key != "cache-url"}
    toml = "\n".join(f'{key} = "{value}"' for key, value in values.items())
    (tmp_path / "longread.toml").write_text(toml + "\n")
    warned: list[str] = []
    from_file = load_settings({}, environ={}, cwd=tmp_path, warn=warned.append)
    environ = {"LONGREAD_" + key.replace("-", "_").upper(): v for key, v in values.items()}
    from_env = load_settings({}, environ=environ, cwd=tmp_path / "elsewhere")
    assert warned == []
    assert from_file == from_env != Settings(cache_dir=from_file.cache_dir)


def test_the_exit_codes_table_holds_what_the_cli_exits_with(tmp_path: Path) -> None:
    codes = set(re.findall(r"^\| (\d+)", section("Configuration"), re.M))
    assert {"2", "3", "4", "5", "10"} <= codes
    cache = ["--cache-dir", str(tmp_path / "cache")]
    missing = CliRunner().invoke(cli, [*cache, "pack", str(tmp_path / "nope")])
    bad_flag = CliRunner().invoke(cli, [*cache, "pack", ".", "--budget", "x"])
    assert (missing.exit_code, bad_flag.exit_code) == (3, 2)
