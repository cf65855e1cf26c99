"""Line numbers agree with git, grep and sed through the user's path: pack line N is `sed -n Np`,
and a citation check counts lines the same way (after a form feed or U+2028 nothing drifts)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from longread.analysis.cli.commands import cli
from longread.analysis.jobs.citations import CorpusIndex, check_citations
from longread.ingest.corpus import read_corpus
from longread.ingest.corpus_spec import CorpusSpec

pytestmark = pytest.mark.skipif(shutil.which("sed") is None, reason="needs sed")

ODD_BREAKS = ["\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029", "\r\n", "\r"]
_WORDS = ["def f():", "    return 42", "x = 1", "# note", "café", ""]
_BLOCK = re.compile(r'<document id="(?P<path>[^"]+)" fidelity="full">\n(?P<body>.*?)</document>\n',
                    re.S)

# A file: lines of ordinary text, some of which carry one of the separators somewhere inside
# (text enough around each that the file stays well under the binary sniffer's control share).
_line = st.tuples(st.sampled_from(_WORDS), st.sampled_from(["", *ODD_BREAKS]),
                  st.sampled_from(_WORDS)).map(lambda parts: "text on this line: " + "".join(parts))
_file = st.lists(_line, min_size=1, max_size=12).map(lambda lines: "\n".join(lines) + "\n")


def _git_repo(root: Path, files: dict[str, str]) -> Path:
    root.mkdir()
    for name, text in files.items():
        (root / name).write_bytes(text.encode("utf-8"))
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    subprocess.run(["git", "-C", str(root), "add", "."], check=True)
    return root


def _sed(path: Path, number: int) -> str:
    done = subprocess.run(["sed", "-n", f"{number}p", str(path)], capture_output=True, check=True)
    return done.stdout.decode("utf-8").removesuffix("\n").removesuffix("\r")


@pytest.mark.slow
@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(texts=st.lists(_file, min_size=1, max_size=3))
def test_pack_line_n_is_sed_line_n(tmp_path_factory: pytest.TempPathFactory,
                                   texts: list[str]) -> None:
    files = {f"f{i}.py": text for i, text in enumerate(texts)}
    repo = _git_repo(tmp_path_factory.mktemp("pack") / "repo", files)
    result = CliRunner().invoke(cli, ["--cache-dir", str(repo.parent / "cache"), "pack",
                                      str(repo), "--line-numbers", "--no-redact"])
    assert result.exit_code == 0, result.output
    blocks = {m["path"]: m["body"] for m in _BLOCK.finditer(result.stdout)}
    assert set(blocks) == set(files)
    for name, body in blocks.items():
        lines = body.split("\n")[:-1]
        assert len(lines) == files[name].count("\n")
        for number, line in enumerate(lines, start=1):
            assert line == f"{number}\t{_sed(repo / name, number)}"


def test_a_citation_past_the_last_line_after_a_form_feed_is_out_of_range(tmp_path: Path) -> None:
    repo = _git_repo(tmp_path / "repo", {"m.py": "import os\n\x0c\ndef target():\n    return 42\n"})
    index = CorpusIndex(read_corpus(CorpusSpec.of([repo])).documents)
    [past] = check_citations("It returns at `m.py:5` `return 42`.", index)
    [there] = check_citations("It returns at `m.py:4` `return 42`.", index)
    assert past.status == "out-of-range" and "(4 lines)" in past.detail
    assert there.status == "ok"
