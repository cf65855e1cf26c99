"""The one splitter agrees with `sed -n Np` on every separator that `str.splitlines` breaks at."""

from __future__ import annotations

import shutil
import subprocess

import pytest
from hypothesis import given
from hypothesis import strategies as st

from longread.ingest.lines import line_count, split_lines

ODD_BREAKS = "\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029\r"
texts = st.text(alphabet=st.sampled_from(list("ab \n") + list(ODD_BREAKS)), max_size=60)


def test_only_newline_breaks() -> None:
    assert split_lines("import os\n\x0c\ndef target():\n    return 42\n") == [
        "import os",
        "\x0c",
        "def target():",
        "    return 42",
    ]
    assert split_lines("a\r\nb\r\n") == ["a", "b"]
    assert split_lines("a\u2028b") == ["a\u2028b"]
    assert split_lines("") == [] and split_lines("\n") == [""]


@given(texts)
def test_keepends_round_trips_and_counts_agree(text: str) -> None:
    assert "".join(split_lines(text, keepends=True)) == text
    assert len(split_lines(text)) == len(split_lines(text, keepends=True)) == line_count(text)


@pytest.mark.skipif(shutil.which("sed") is None, reason="needs sed")
def test_line_n_is_sed_n(tmp_path) -> None:
    text = "one\x0ctwo\nthree\u2028four\nfive\x85six\r\nseven\n"
    path = tmp_path / "f.txt"
    path.write_bytes(text.encode("utf-8"))
    for number, line in enumerate(split_lines(text), 1):
        shown = subprocess.run(
            ["sed", "-n", f"{number}p", str(path)], capture_output=True, check=True
        ).stdout.decode("utf-8")
        assert shown.rstrip("\n").removesuffix("\r") == line
