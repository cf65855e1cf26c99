"""Model output as users read it: no prompt scaffolding, and a loop cut where it starts.

Model text is untrusted on the way out as corpus text is on the way in. Every completion passes
through `clean` before it is shown, reduced or checked: chat-template tokens, fence lines and lines
of the prompt's own instructions the model echoed are removed, and degenerate repetition (the same
sentence, the same code block, a 6-word run more than 3 times) is cut at the start of the first
repeat. What was removed or cut is said in notes. The answer cache stores raw completions; this
step runs on the way out, so changing it needs no cache version bump for those entries.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from longread.engine.backend import Message

# Chat-template tokens of the common families; a backend adds its tokenizer's own special tokens.
DEFAULT_SPECIAL_TOKENS = frozenset({
    "<|im_start|>", "<|im_end|>", "<|endoftext|>", "<|end_of_text|>", "<|begin_of_text|>",
    "<|eot_id|>", "<|start_header_id|>", "<|end_header_id|>", "<|eom_id|>", "<|im_sep|>",
    "<|system|>", "<|user|>", "<|assistant|>", "<|end|>", "<|file_separator|>",
    "<start_of_turn>", "<end_of_turn>", "<bos>", "<eos>", "<s>", "</s>", "[INST]", "[/INST]",
})
# A whole-answer cache entry (text shaped by cleaned partial answers) is keyed by it: bump it
# when what the cleaner keeps or removes changes (a comment or refactor needs no bump, so the
# next run does not start an engine only to clean cached raw text again).
CLEANER_VERSION = "cleaner-3"  # 3: tokens inside code are kept

NGRAM, NGRAM_MAX = 6, 3  # a run of NGRAM words seen more than NGRAM_MAX times is a loop
_MIN_SENTENCE_WORDS = 6  # a sentence this long said twice is a loop, not emphasis
_ANY_PIPE_TOKEN = re.compile(r"<\|[A-Za-z0-9_.:-]{1,40}\|>")
_ROLES = frozenset({"", "system", "user", "assistant", "model"})
_FENCE_LINE = re.compile(r"\s*<<<[^\n]*>>>\s*")
_INLINE_FENCE = re.compile(r"<<<(?:END )?CORPUS\b[^<>\n]*>>>")
_CORPUS_BEGIN = re.compile(r"^<<<CORPUS (\w+)>>>$", re.M)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n")
_WORD = re.compile(r"\S+")
_CODE_FENCE = re.compile(r"^[ \t]*(```|~~~)", re.M)  # not \s*: it spans newlines
_INLINE_CODE = re.compile(r"(`[^`\n]+`)")
_LIST_MARK = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s+")


@dataclass(frozen=True)
class Cleaned:
    """Cleaned text, how much scaffolding it lost, and why it was cut (None when it was not)."""

    text: str
    tokens: int = 0  # chat-template tokens removed
    fences: int = 0  # fence lines removed
    echoes: int = 0  # instruction lines the model repeated, removed
    cut: str | None = None

    @property
    def notes(self) -> tuple[str, ...]:
        return _notes(self.tokens, self.fences, self.echoes, self.cut)


def clean(
    text: str, messages: Sequence[Message] = (), special_tokens: Iterable[str] = ()
) -> Cleaned:
    """`text` without scaffolding and cut at its first repeat; `messages` is the prompt that
    produced it (its instruction lines, outside the corpus fence, are what an echo repeats)."""
    tokens = DEFAULT_SPECIAL_TOKENS | set(special_tokens)
    text, removed_tokens = _drop_tokens(text, tokens)
    text, fences = _drop_fences(text)
    text, echoes = _drop_echoes(text, instruction_lines(messages))
    text, cut = cut_repetition(text)
    return Cleaned(text.strip(), removed_tokens, fences, echoes, cut)


def instruction_lines(messages: Sequence[Message]) -> frozenset[str]:
    """The prompt's own lines, normalized, without the fenced corpus between the markers; of a
    user turn only its first line (`Question: ...`), since an answer may well quote the rest."""
    lines: set[str] = set()
    for message in messages:
        own = _outside_fence(message.content)
        for line in own.split("\n")[:1] if message.role == "user" else own.split("\n"):
            key = _normal(_INLINE_FENCE.sub("", line))
            if len(key) >= 12:
                lines.add(key)
    return frozenset(lines)


def _outside_fence(content: str) -> str:
    begin = _CORPUS_BEGIN.search(content)
    if begin is None:
        return content
    end = content.find(f"\n<<<END CORPUS {begin.group(1)}>>>", begin.end())
    return content[: begin.start()] + ("" if end < 0 else content[end:])


def _normal(line: str) -> str:
    return " ".join(_LIST_MARK.sub("", line).split()).lower()


def _drop_tokens(text: str, tokens: frozenset[str]) -> tuple[str, int]:
    """Remove every special token outside code (`<s>` in backticks or a fenced block is quoted,
    not emitted); a line left holding only a role name goes with it."""
    pattern = re.compile("|".join(map(re.escape, sorted(tokens, key=len, reverse=True))))
    kept, removed, in_block = [], 0, False
    for line in text.split("\n"):
        if _CODE_FENCE.match(line):
            in_block = not in_block
        if in_block or _CODE_FENCE.match(line):
            kept.append(line)
            continue
        parts = _INLINE_CODE.split(line)  # odd parts are `code`
        found = 0
        for i in range(0, len(parts), 2):
            parts[i], one = pattern.subn("", parts[i])
            parts[i], more = _ANY_PIPE_TOKEN.subn("", parts[i])
            found += one + more
        removed += found
        stripped = "".join(parts)
        if found and stripped.strip().rstrip(":").strip().lower() in _ROLES:
            continue
        kept.append(stripped)
    return "\n".join(kept), removed


def _drop_fences(text: str) -> tuple[str, int]:
    """Remove lines that are a `<<<...>>>` marker, and the corpus fence wherever it stands."""
    kept, removed = [], 0
    for line in text.split("\n"):
        if _FENCE_LINE.fullmatch(line):
            removed += 1
            continue
        line, inline = _INLINE_FENCE.subn("", line)
        removed += inline
        kept.append(line.rstrip() if inline else line)
    return "\n".join(kept), removed


def _drop_echoes(text: str, instructions: frozenset[str]) -> tuple[str, int]:
    if not instructions:
        return text, 0
    lines = text.split("\n")
    kept = [line for line in lines if _normal(line) not in instructions]
    return "\n".join(kept), len(lines) - len(kept)


def cut_repetition(text: str) -> tuple[str, str | None]:
    """Cut at the start of the first repeat of a code block, a sentence or a word run (at one
    place, the reason named first in that order)."""
    found = (_repeated_block(text), _repeated_sentence(text), _repeated_run(text))
    candidates = [(hit[0], rank, hit[1]) for rank, hit in enumerate(found) if hit is not None]
    if not candidates:
        return text, None
    at, _, reason = min(candidates)
    head = text[:at].rstrip()
    if len(_CODE_FENCE.findall(head)) % 2:
        head += "\n```"  # the cut fell inside a code block: close it so the rest is not code
    return head, reason


def _code_blocks(text: str) -> list[tuple[int, int]]:
    """(start, end) of each fenced code block, fences included."""
    marks = [match.start() for match in _CODE_FENCE.finditer(text)]
    return [(marks[i], marks[i + 1]) for i in range(0, len(marks) - 1, 2)]


def _repeated_block(text: str) -> tuple[int, str] | None:
    seen: set[str] = set()
    for start, end in _code_blocks(text):
        body = text[start:end].split("\n", 1)[-1].strip()
        if body and body in seen:
            return start, "the same code block again"
        seen.add(body)
    return None


def _repeated_sentence(text: str) -> tuple[int, str] | None:
    """A sentence of 6+ words (outside code blocks) said a second time."""
    blocks = _code_blocks(text)
    seen: set[str] = set()
    start = 0
    for match in [*_SENTENCE_END.finditer(text), None]:
        end = len(text) if match is None else match.start()
        key = _normal(text[start:end])
        in_code = any(a <= start < b for a, b in blocks)
        if not in_code and len(key.split()) >= _MIN_SENTENCE_WORDS:
            if key in seen:
                return start + len(text[start:end]) - len(text[start:end].lstrip()), (
                    "the same sentence again"
                )
            seen.add(key)
        start = end if match is None else match.end()
    return None


def _repeated_run(text: str) -> tuple[int, str] | None:
    """The first run of NGRAM words seen more than NGRAM_MAX times, cut where it starts to loop."""
    words = list(_WORD.finditer(text))
    lowered = [word.group().lower() for word in words]
    places: dict[tuple[str, ...], list[int]] = {}
    for i in range(len(words) - NGRAM + 1):
        found = places.setdefault(tuple(lowered[i : i + NGRAM]), [])
        found.append(i)
        if len(found) > NGRAM_MAX:
            k = _loop_start(lowered, found)
            at, previous = words[found[k]].start(), words[found[k - 1]].start()
            line = text.rfind("\n", 0, at) + 1  # a repeat's own line goes whole ("2. ", "Item:")
            return max(at if line <= previous else line, 0), (
                f"a {NGRAM}-word run more than {NGRAM_MAX} times"
            )
    return None


def _loop_start(words: Sequence[str], places: Sequence[int]) -> int:
    """Which place the loop starts at: the first whose stretch to the next repeats the stretch
    before it (distinct sentences that share an opening are kept); else, with no stretch said
    twice, the last place counted, which keeps the run NGRAM_MAX times and never more."""
    for k in range(1, len(places)):
        before = words[places[k - 1] : places[k]]
        if words[places[k] : places[k] + len(before)] == before:
            return k
    return len(places) - 1


def _notes(tokens: int, fences: int, echoes: int, cut: str | None) -> tuple[str, ...]:
    notes = []
    if fences or echoes:
        notes.append(f"removed {_count(fences + echoes, 'prompt line')} the model echoed")
    if tokens:
        notes.append(f"removed {_count(tokens, 'chat-template token')}")
    if cut is not None:
        notes.append(f"cut: the answer repeated itself from here ({cut})")
    return tuple(notes)


def _count(n: int, thing: str) -> str:
    return f"{n} {thing}" + ("" if n == 1 else "s")


def summed_notes(parts: Sequence[Cleaned], where: str) -> tuple[str, ...]:
    """One note for what several texts lost (`where` names them: "before merging 4 partial
    answers"), e.g. for map results, which are merged rather than shown."""
    tokens = sum(p.tokens for p in parts)
    lines = sum(p.fences + p.echoes for p in parts)
    cut = sum(p.cut is not None for p in parts)
    said = []
    if lines:
        said.append(f"removed {_count(lines, 'prompt line')} the model echoed")
    if tokens:
        said.append(f"removed {_count(tokens, 'chat-template token')}")
    if cut:
        said.append(f"cut {cut} of them where the model repeated itself")
    return (f"{where}: " + "; ".join(said),) if said else ()
