"""Token counters are named by what they count with: the name keys the token-count cache."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner
from tokenizers import Tokenizer, pre_tokenizers
from tokenizers.models import WordLevel

from longread.analysis.cli.commands import cli

TEXT = "1234 5678 9012\n"


def tokenizer_folder(folder: Path, pre_tokenizer: pre_tokenizers.PreTokenizer) -> Path:
    """A real tokenizer.json, every piece one [UNK] token: `pre_tokenizer` sets the count."""
    tokenizer = Tokenizer(WordLevel({"[UNK]": 0}, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizer
    folder.mkdir(parents=True)
    tokenizer.save(str(folder / "tokenizer.json"))
    return folder


def test_same_named_tokenizer_folders_never_share_counts(tmp_path: Path) -> None:
    """Two tokenizers in folders both called `model`, one cache: the second pack is counted with
    its own tokenizer, not served the first one's cached counts."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "a.txt").write_text(TEXT)
    words = tokenizer_folder(tmp_path / "one" / "model", pre_tokenizers.WhitespaceSplit())
    digits = tokenizer_folder(tmp_path / "two" / "model", pre_tokenizers.Digits(True))
    counted = []
    for folder in (words, digits):
        manifest = tmp_path / f"{folder.parent.name}.json"
        result = CliRunner().invoke(cli, [
            "--cache-dir", str(tmp_path / "cache"), "pack", str(corpus), "--tokenizer",
            str(folder), "-o", str(tmp_path / "pack.xml"), "--manifest", str(manifest),
        ])
        assert result.exit_code == 0, result.output
        data = json.loads(manifest.read_text())
        counted.append((data["tokenizer"], data["documents"][0]["tokens"]))
    (words_name, words_tokens), (digits_name, digits_tokens) = counted
    assert words_name != digits_name and words_name.startswith("hf:model@sha256:")
    assert digits_tokens > words_tokens
