"""The Python API says what is wrong: a wrong type, a lone surrogate or an unknown setting is a
UsageError (a LongreadError, as api's docstring promises) naming the argument, never a
TypeError, AttributeError or UnicodeEncodeError from deep inside a job."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from longread.analysis import api
from longread.analysis.config import Settings
from longread.ingest.errors import LongreadError, UsageError

# A server nobody listens on: any call that got past its arguments would fail with exit 4.
NOWHERE = "http://127.0.0.1:9/v1"


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    (root / "docs").mkdir(parents=True)
    (root / "README.md").write_text("# Notes\nA notes app.\n")
    (root / "docs" / "guide.md").write_text("# Guide\nRun it.\n")
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    return root


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(cache_dir=tmp_path / "cache", backend="openai", base_url=NOWHERE)


CALLS: dict[str, tuple[Callable[[Path, Settings], Any], str]] = {
    "read_source start_line='2'": (
        lambda c, s: api.read_source(c, "README.md", start_line="2", settings=s),
        "start_line must be a whole number or None, not str '2'"),
    "read_source end_line=2.0": (
        lambda c, s: api.read_source(c, "README.md", end_line=2.0, settings=s),
        "end_line must be a whole number"),
    "read_source page=True": (
        lambda c, s: api.read_source(c, "README.md", page=True, settings=s),
        "page must be a whole number or None, not bool True"),
    "read_source path None": (
        lambda c, s: api.read_source(c, None, settings=s),
        "path must be a path inside the corpus as cited (a string), not None"),
    "read_source corpus None": (
        lambda c, s: api.read_source(None, "README.md", settings=s),
        "corpus must be a path or a non-empty list of paths, not None"),
    "pack budget='10'": (
        lambda c, s: api.pack(c, budget="10", settings=s),
        "budget must be a whole number or None, not str '10'"),
    "pack paths []": (lambda c, s: api.pack([], settings=s), "paths must be a path or a non-empty"),
    "pack paths [None]": (lambda c, s: api.pack([None], settings=s), "paths[0] must be a path"),
    "pack query 5": (lambda c, s: api.pack(c, query=5, settings=s), "query must be a string"),
    "ask None": (lambda c, s: api.ask(c, None, settings=s),
                 "questions must be a string or a list of strings, not None"),
    "ask 5": (lambda c, s: api.ask(c, 5, settings=s),
              "questions must be a string or a list of strings, not int 5"),
    "ask b'bytes'": (lambda c, s: api.ask(c, b"Where?", settings=s),
                     "questions must be a string or a list of strings"),
    "ask [5]": (lambda c, s: api.ask(c, ["Where?", 5], settings=s),
                "questions[1] must be a string, not int 5"),
    "ask lone surrogate": (lambda c, s: api.ask(c, "\ud800", settings=s),
                           "questions holds a lone surrogate (\\ud800): not Unicode text"),
    "ask budget '10'": (lambda c, s: api.ask(c, "Where?", budget="10", settings=s),
                        "budget must be a whole number"),
    "summarize focus 5": (lambda c, s: api.summarize(c, focus=5, settings=s),
                          "focus must be a string, not int 5"),
    "summarize focus surrogate": (lambda c, s: api.summarize(c, focus="a\udfffb", settings=s),
                                  "focus holds a lone surrogate (\\udfff)"),
    "pack include [3]": (lambda c, s: api.pack(c, include=[3], settings=s),
                         "include[0] must be a string"),
}


@pytest.mark.parametrize("name", list(CALLS))
def test_a_wrong_argument_is_a_usage_error_naming_it(
    corpus: Path, settings: Settings, name: str
) -> None:
    call, said = CALLS[name]
    with pytest.raises(UsageError) as raised:
        call(corpus, settings)
    assert said in str(raised.value) and "\n" not in str(raised.value)
    assert raised.value.exit_code == 2


def test_a_path_object_is_a_citable_path_too(corpus: Path, settings: Settings) -> None:
    source = api.read_source(corpus, Path("docs") / "guide.md", start_line=2, settings=settings)
    assert (source.path, source.lines) == ("docs/guide.md", ("Run it.",))


@pytest.mark.parametrize("place", ["x" * 100_000, "\ud800", "p=-1", ["p=1"]])
def test_a_place_that_is_none_is_one_short_line(
    corpus: Path, settings: Settings, place: Any
) -> None:
    with pytest.raises(UsageError) as raised:
        api.read_source(corpus, "README.md", place=place, settings=settings)
    message = str(raised.value)
    assert message.endswith("is not a place (see #p=N, #ch=N)")
    assert "\n" not in message and len(message) < 130


def test_one_include_pattern_as_a_string_is_one_pattern(corpus: Path, settings: Settings) -> None:
    packed = api.pack(corpus, include="docs/*", settings=settings)
    shown = [e.path for e in packed.manifest.documents if e.fidelity == "full"]
    assert shown == ["docs/guide.md"]


@pytest.mark.parametrize(("flags", "said"), [
    ({"backendd": "openai"}, "unknown setting 'backendd' (did you mean 'backend'?)"),
    ({"no_redact": True}, "unknown setting 'no_redact' (did you mean redact=False?)"),
    ({"colour": "red"}, "unknown setting 'colour'; known: cache_dir, cache_url, backend"),
])
def test_make_settings_refuses_an_unknown_setting(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, flags: dict[str, Any], said: str
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UsageError) as raised:
        api.make_settings(**flags)
    assert said in str(raised.value)


def test_make_settings_takes_every_known_setting(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    settings = api.make_settings(backend="openai", redact=False, max_tokens=64, cache_dir=None)
    assert (settings.backend, settings.redact, settings.max_tokens) == ("openai", False, 64)


@pytest.mark.slow
def test_every_error_of_the_api_is_a_longread_error(corpus: Path, settings: Settings) -> None:
    """What a careless script meets first: the call past its arguments fails as a LongreadError
    too (the server is not there: exit 4)."""
    with pytest.raises(LongreadError) as raised:
        api.ask(corpus, "Where?", settings=settings)
    assert raised.value.exit_code == 4
