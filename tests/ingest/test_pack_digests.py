"""The same inputs give the same pack bytes: `longread pack` over examples/ in every style, with and
without a budget, with line numbers, with a query and with a tokenizer whose counts do not add up
(so the fitter refits), compared with digests recorded from main before the pack styles became
objects and fitting one loop (issue 16). A digest that changes is a behaviour change: record the
new one only when the change is meant (LONGREAD_RECORD_DIGESTS=1 prints the table).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from longread.analysis import api
from longread.analysis.cli.commands import cli
from longread.ingest.pack import split_pack
from longread.ingest.tokens import TiktokenCounter

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
RECORD = os.environ.get("LONGREAD_RECORD_DIGESTS") == "1"
NOTES_QUERY = "search notes by title"
REPORTS_QUERY = "sync conflicts"
# A real tokenizer.json whose counts do not add up across pieces: "\n" and the next character are
# one token, so a whole pack counts more than its blocks do and the fitter must shrink and refit.
NEWLINE_TOKENIZER = {
    "version": "1.0", "truncation": None, "padding": None, "added_tokens": [],
    "normalizer": None,
    "pre_tokenizer": {"type": "Split", "pattern": {"Regex": "\n."}, "behavior": "Isolated",
                      "invert": False},
    "post_processor": None, "decoder": None,
    "model": {"type": "WordLevel", "vocab": {"[UNK]": 0}, "unk_token": "[UNK]"},
}


def _cases() -> dict[str, tuple[str, ...]]:
    """Case id -> `pack` arguments after the corpus (TOKENIZER stands for the folder above)."""
    cases: dict[str, tuple[str, ...]] = {}
    for fmt in ("xml", "markdown", "plain"):
        style = ("--format", fmt)
        cases |= {
            f"notes-app/{fmt}": style,
            f"notes-app/{fmt}/budget": (*style, "--budget", "900"),
            f"notes-app/{fmt}/lines": (*style, "--line-numbers"),
            f"notes-app/{fmt}/budget-lines": (*style, "--budget", "400", "--line-numbers"),
            f"notes-app/{fmt}/query": (*style, "--budget", "600", "--query", NOTES_QUERY),
            f"notes-app/{fmt}/query-focus": (*style, "--budget", "400", "--query", NOTES_QUERY),
            f"notes-app/{fmt}/refit": (*style, "--budget", "150", "--query", NOTES_QUERY,
                                       "--tokenizer", "TOKENIZER"),
            f"reports/{fmt}": style,
            f"reports/{fmt}/budget": (*style, "--budget", "300"),
            f"reports/{fmt}/lines": (*style, "--line-numbers"),
            f"reports/{fmt}/query": (*style, "--budget", "200", "--query", REPORTS_QUERY),
            f"reports/{fmt}/refit": (*style, "--budget", "40", "--query", REPORTS_QUERY,
                                     "--tokenizer", "TOKENIZER"),
        }
    return cases


CASES = _cases()

# Case id -> (sha256 of the pack's bytes, sha256 of the manifest's JSON), the first 32 hex digits
# of each, recorded from main at ffffca0.
DIGESTS: dict[str, tuple[str, str]] = {
    "notes-app/markdown":
        ("09b276942c1d6b9dd994aa847a73d55a", "0b30f3969f6175d4405aa4fc09233db1"),
    "notes-app/markdown/budget":
        ("829bb7fe85d0e5c06267d6d66090b82b", "3d72e785e29933679323a2cb056bfb9d"),
    "notes-app/markdown/budget-lines":
        ("4d0acdcef6c802372cbcd4f297fd8af9", "375c0cafcbf1e4b2144acc36559054dc"),
    "notes-app/markdown/lines":
        ("84b066a2626b010041fec650f5ae074b", "3181baa8f36d9ad0ee7ce13e72fba17a"),
    "notes-app/markdown/query":
        ("a8e2c55c2fff944665fe294b9a1ee12f", "599b5c190bf1661e29d4048192a0c561"),
    "notes-app/markdown/query-focus":
        ("451c6c8ea6bef053bc350d05db3d9ade", "fa5c933af517afe6fe918dcf1514c7b7"),
    "notes-app/markdown/refit":
        ("dd58257691a028355fd89966ef0e21b6", "a720c93551e53a30942533e3d84912bc"),
    "notes-app/plain":
        ("733209c4e82e85dc37464c8e5620477c", "a9aa1131542d7a6bc4fb21ed8c0afba5"),
    "notes-app/plain/budget":
        ("7b0fed6b0cb98bb2b729eee57b5f052f", "61a4260b0def4ac6d69ec6455132b47a"),
    "notes-app/plain/budget-lines":
        ("cffd50057c84dc6284b4fd24c5ae5f13", "d2ddb6a201684ae715629241d573e8f6"),
    "notes-app/plain/lines":
        ("809f5bd1de6958d7ee1a95bb4df68ba0", "7a725fee457424e08065ab093f1b0766"),
    "notes-app/plain/query":
        ("4c80df84665334e83fc07fce2deb9658", "1dcc91228c4bb6d3495984de47685ae6"),
    "notes-app/plain/query-focus":
        ("05c8b2313d53873df446ad51f8e41cee", "6eff6311565120cbd47e52a63ce60dcc"),
    "notes-app/plain/refit":
        ("f66a1425b37e3268d712d7aa8f6e6544", "7f4904a33fff008d4b7a335925fc33c7"),
    "notes-app/xml":
        ("f3cafd079a58e44215251fd7380ec310", "d2adbf0ea9543301073fb99e2a92799f"),
    "notes-app/xml/budget":
        ("0e7fd3cb1464c44cd3dc0719810bc557", "624f2ef70c4e20587e82da397b7c82b1"),
    "notes-app/xml/budget-lines":
        ("76fc85bf7f0bf93ab4dc5348a017f5a5", "5dc8e43b72dfe7c24e529433c541cdf9"),
    "notes-app/xml/lines":
        ("2ecc8a22e5b3ee7c2d241c0d50b6e0fc", "0b245c59cec67a3be501efd6b7ee623e"),
    "notes-app/xml/query":
        ("01f991eab9fa83ea57db143778d3520f", "556b1e1046be17be525769d6aca465dc"),
    "notes-app/xml/query-focus":
        ("4559da95ed7378b58a8d6223bfa29cf0", "75fea9cd440c7c1bb2677aabe5384d74"),
    "notes-app/xml/refit":
        ("109bb0ad7a61135a8b6bc0a825d2ba3f", "af042188c1bd8dcf6281a283729d4081"),
    "reports/markdown":
        ("88f336456817e7adeeb4bd584fac18d6", "fa042e6673e008e24e9ebcb030f34437"),
    "reports/markdown/budget":
        ("e9505251e301b03d7da2418547b2d3ad", "fa91031397e04fb8c5fab5f6b44d0068"),
    "reports/markdown/lines":
        ("88f336456817e7adeeb4bd584fac18d6", "fa042e6673e008e24e9ebcb030f34437"),
    "reports/markdown/query":
        ("323a2d78ee944dcf49b64d12c03707ce", "69f586a625138298f09d2a82faaeccc8"),
    "reports/markdown/refit":
        ("4ba25e2a5d616a4e0e58f7dcca780a1f", "8f5284c036f2764fa40a50658edd16c8"),
    "reports/plain":
        ("49342fa38bb944523e91e0edde1d0b9d", "c2ea23bd3094009c32421b783f9334be"),
    "reports/plain/budget":
        ("d21cd9be95dab155b6ea1d8c879564ab", "76d9318e506a4c8ef5eb5944032baf55"),
    "reports/plain/lines":
        ("49342fa38bb944523e91e0edde1d0b9d", "c2ea23bd3094009c32421b783f9334be"),
    "reports/plain/query":
        ("22725a282a65b1b82533bd6524e44234", "6c88dc9f2d704a2957740eb1da554398"),
    "reports/plain/refit":
        ("ec985bd95c514af53eba65edfbe6bd3d", "0a4fdf8e4de583e6d5a48a80bbf1ecca"),
    "reports/xml":
        ("39aadbcf05b1142bdbd9696dc5fb8221", "f33889e1f45f0d922b7bc891fcddde61"),
    "reports/xml/budget":
        ("4c0d2a38c67f6ce35a5b605983194b71", "15f660d826fff154b2b5882c6431a7ff"),
    "reports/xml/lines":
        ("39aadbcf05b1142bdbd9696dc5fb8221", "f33889e1f45f0d922b7bc891fcddde61"),
    "reports/xml/query":
        ("0d2ddeda26ce396fceb35cef6e908451", "b0bc020907cf3981ab9fd6e4c087a5c7"),
    "reports/xml/refit":
        ("6c65fb89d5afe67c75a851eb179e8b2d", "99987b4c1b88ebe91d9bc291ca56c045"),
}

# (corpus, style) -> sha256 of each shard"s bytes (first 16 hex digits) of the full pack with line
# numbers cut into shards of 300 tokens, as map-reduce cuts it.
SHARD_DIGESTS: dict[tuple[str, str], tuple[str, ...]] = {
    ("notes-app", "markdown"): (
        "f3a255427f4d0ae0", "170e68af78600d6b", "0ce08d5d5fdd8191", "a4048413f8d8baaa",
        "55c907cdea5a0f32", "72dc1d8a5eacc304", "21bcae3baf7e28f7", "c290932fdbc991d1",
        "eef900be856af321", "7bb96cc8d31ffb7f", "16ba9b281a15a61a", "7d79fd1ac54cfb3e",
        "58965f10adbbe51c", "50e1d773c6a0e8a8", "57672f61e6ed98b9",
    ),
    ("notes-app", "plain"): (
        "b267cdcb3794a8ba", "3e9fcad657b34c83", "5f2a9732a6ab06c4", "f7b3b6d4770062c7",
        "8c46d2761600961e", "f9bb6f8c02e4b606", "7c6fd75fdd4a3974", "14ba52999452b0a2",
        "535f46efcb38639b", "73ead0a153dddab7", "3a1b74a85f69d946", "a25fd78d8ffc8212",
        "f8d54e9cdfdeadca", "4d92f2c1be482ad3",
    ),
    ("notes-app", "xml"): (
        "a2ddf263b1c4e606", "f874014f37a04650", "3c1662259f174580", "63f592c0f4af744c",
        "425bfd22d402e4dd", "c77ba3f5e23fd805", "0e82f625f7067ec7", "5aff17645f720c50",
        "e102e816d4ff41ce", "3e4fe2a7d21057b7", "482d4ebd1f08b78c", "77c657af541a4a94",
        "78f94706ca3bd550", "8c6fef908fd40c56", "3a94168633c320b8",
    ),
    ("reports", "markdown"): (
        "84a3902e83f80b36", "b01f1553d734b3c5", "960d54972fd83662",
    ),
    ("reports", "plain"): (
        "723b68c9acc004c1", "54845edf60ceff26", "11353283d1db88af",
    ),
    ("reports", "xml"): (
        "d7e62f37963a2663", "0a9217d96bf90d0a", "f113cabc07d6e735",
    ),
}


def _sha(data: bytes, digits: int = 32) -> str:
    return hashlib.sha256(data).hexdigest()[:digits]


def _pack(tmp_path: Path, case: str) -> tuple[str, str]:
    corpus = EXAMPLES / case.split("/")[0]
    tokenizer = tmp_path / "newline-tokenizer"
    tokenizer.mkdir()
    (tokenizer / "tokenizer.json").write_text(json.dumps(NEWLINE_TOKENIZER))
    args = [str(tokenizer) if arg == "TOKENIZER" else arg for arg in CASES[case]]
    out, manifest = tmp_path / "pack.out", tmp_path / "manifest.json"
    result = CliRunner().invoke(cli, [
        "--cache-dir", str(tmp_path / "cache"), "pack", str(corpus), *args,
        "-o", str(out), "--manifest", str(manifest),
    ])
    assert result.exit_code == 0, result.output
    return _sha(out.read_bytes()), _sha(manifest.read_bytes())


@pytest.mark.parametrize("case", sorted(CASES))
def test_longread_pack_over_the_examples_gives_the_bytes_main_gave(
    case: str, tmp_path: Path
) -> None:
    digests = _pack(tmp_path, case)
    if RECORD:
        print(f"RECORD {case!r}: {digests!r},")
        return
    assert digests == DIGESTS[case]


@pytest.mark.parametrize("corpus", ["notes-app", "reports"])
@pytest.mark.parametrize("fmt", ["xml", "markdown", "plain"])
def test_shards_of_an_example_pack_are_the_bytes_main_cut(
    corpus: str, fmt: str, tmp_path: Path
) -> None:
    pack = api.pack([str(EXAMPLES / corpus)], fmt=fmt, line_numbers=True, use_cache=False)
    shards = tuple(_sha(shard.data, 16) for shard in split_pack(pack, 300, TiktokenCounter()))
    if RECORD:
        print(f"RECORD {(corpus, fmt)!r}: {shards!r},")
        return
    assert shards == SHARD_DIGESTS[(corpus, fmt)]
