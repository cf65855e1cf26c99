"""The one cleaning step: what it removes, where it cuts a loop, and what it leaves alone."""

from __future__ import annotations

import re
import signal
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from longread.engine.cleanup import NGRAM, NGRAM_MAX, clean
from longread.engine.prompt import answer_messages, fence, map_messages

ANSWER = """\
The notes are stored in `app/store.py:12` "json.dump(self.notes, handle)".

- `NoteStore.add` appends a note (`app/store.py:20-24`).
- The path comes from `config.py:3`.

```python
store = NoteStore(path)
store.add("milk")
```
"""


def _six_gram_counts(text: str) -> Counter[tuple[str, ...]]:
    words = text.lower().split()
    return Counter(tuple(words[i : i + NGRAM]) for i in range(len(words) - NGRAM + 1))


def test_an_ordinary_answer_passes_unchanged_with_no_notes() -> None:
    cleaned = clean(ANSWER, answer_messages("<document>x</document>", "Where?"), ())
    assert cleaned.text == ANSWER.strip()
    assert cleaned.notes == () and cleaned.cut is None


def test_the_real_fence_with_its_nonce_goes_inline_and_as_a_line() -> None:
    corpus = '<document id="a.py">x = 1</document>'
    begin, end = fence(corpus)
    text = f"See `a.py:1`. {end}\n{begin}\nDone."
    cleaned = clean(text, answer_messages(corpus, "What is x?"))
    assert cleaned.text == "See `a.py:1`.\nDone."
    assert cleaned.fences == 2


def test_a_served_special_token_is_removed_with_the_role_line_it_opened() -> None:
    text = "Answer.<turn|end>\n<turn|start>assistant\nAnswer again in a new turn."
    cleaned = clean(text, (), {"<turn|end>", "<turn|start>"})
    assert cleaned.text == "Answer.\nAnswer again in a new turn."
    assert cleaned.tokens == 2


def test_special_tokens_quoted_as_code_stay_and_the_same_token_outside_code_goes() -> None:
    text = ("Wrap it in `<s>` and end with `</s>`.</s>\n"
            "```html\n<s>struck</s> <|im_end|>\n```\n<|im_end|>")
    cleaned = clean(text, ())
    assert cleaned.text == ("Wrap it in `<s>` and end with `</s>`.\n"
                            "```html\n<s>struck</s> <|im_end|>\n```")
    assert cleaned.tokens == 2


def test_echoed_instruction_lines_go_but_corpus_lines_the_answer_quotes_stay() -> None:
    corpus = "If this part says nothing about the question, the store is empty."
    messages = map_messages(corpus, "Where are the notes?")
    text = (
        "Write what THIS part says about the question, with citations.\n"
        "If this part says nothing about the question, the store is empty.\n"
        "Question: Where are the notes?"
    )
    cleaned = clean(text, messages)
    assert cleaned.text == "If this part says nothing about the question, the store is empty."
    assert cleaned.echoes == 2


def test_lines_of_a_multi_line_question_an_answer_quotes_are_kept() -> None:
    question = "Why does this fail?\n    total = prices[item_name] + shipping_cost"
    text = ("This line looks the key up:\n"
            "```python\n    total = prices[item_name] + shipping_cost\n```")
    cleaned = clean(text, answer_messages("corpus", question))
    assert cleaned.text == text and cleaned.echoes == 0
    assert clean(f"Question: {question.splitlines()[0]}\n{text}",
                 answer_messages("corpus", question)).echoes == 1  # its first line is the echo


@contextmanager
def at_most(seconds: int) -> Iterator[None]:
    """A hang guard, not a speed test: fails a regex that backtracks for minutes."""
    def expired(*_: object) -> None:
        raise TimeoutError(f"over {seconds} s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


@pytest.mark.slow
def test_degenerate_whitespace_after_a_token_or_between_fences_does_not_hang() -> None:
    with at_most(20):  # before: 49 s for 4,000 spaces, ~7 min for 200 KB of blank lines
        assert clean("<|im_end|>" + " " * 20_000 + "x").text == "x"
        blank = "```\ncode\n```" + "\n" * 200_000 + "```\nmore\n```"
        assert clean(blank).text.startswith("```\ncode\n```")


def test_a_repeated_code_block_is_cut_at_the_start_of_the_second_copy() -> None:
    block = "```python\nstore = NoteStore(path)\nstore.add('milk')\n```"
    text = f"Use it like this:\n{block}\nOr again:\n{block}\nOr again:\n{block}\n"
    cleaned = clean(text)
    assert cleaned.text == f"Use it like this:\n{block}\nOr again:"
    assert cleaned.cut == "the same code block again"


def test_a_numbered_loop_without_a_repeated_sentence_is_cut_after_its_third_run() -> None:
    text = "Found: " + " ".join(f"the notes live in notes dot json (item {n})" for n in range(9))
    cleaned = clean(text)
    assert cleaned.cut == f"a {NGRAM}-word run more than {NGRAM_MAX} times"
    items = " ".join(f"the notes live in notes dot json (item {n})" for n in range(3))
    assert cleaned.text == f"Found: {items}"  # no stretch said twice: the run is kept 3 times


def test_sentences_that_only_share_an_opening_are_kept_and_the_loop_after_them_is_cut() -> None:
    opening = "The corpus is also used to"
    kept = f"{opening} build databases. {opening} create new datasets for analysis."
    loop = f"{opening} create new tools that help people"
    cleaned = clean(f"{kept} " + " ".join([loop] * 8))
    assert cleaned.text == f"{kept} {loop}"
    assert cleaned.cut == f"a {NGRAM}-word run more than {NGRAM_MAX} times"


def test_lines_that_share_a_run_are_cut_at_the_start_of_the_line_that_repeats() -> None:
    kinds = ["content", "structure", "purpose"]
    body = "\n".join(f"{n}. The {kinds[n % 3]}: one short sentence about a topic here."
                     for n in range(1, 9))
    cleaned = clean(f"The parts are:\n{body}")
    kept = body.split("\n")[:3]  # line 4 would be the run's 4th time (and line 1 again)
    assert cleaned.text == "The parts are:\n" + "\n".join(kept)
    assert cleaned.cut == f"a {NGRAM}-word run more than {NGRAM_MAX} times"


def test_a_cut_inside_a_code_block_closes_the_block() -> None:
    text = "Code:\n```\n" + "x = compute(a, b, c, d, e, f)\n" * 12 + "```\n"
    cleaned = clean(text)
    assert cleaned.cut is not None
    assert cleaned.text.count("```") == 2 and cleaned.text.endswith("```")


@pytest.mark.parametrize("unit", [
    "The app is a collaborative project by many people.",
    "| a | b | c | d | e | f |",
    "foo",
    "see `app.py:3` and then `app.py:4` again",
])
def test_after_cleaning_no_six_word_sequence_is_there_more_than_three_times(unit: str) -> None:
    cleaned = clean("Intro. " + " ".join([unit] * 50) + " Outro.")
    assert max(_six_gram_counts(cleaned.text).values(), default=0) <= NGRAM_MAX
    assert cleaned.cut is not None and unit.split()[0] in cleaned.text


def test_citations_keep_their_text_through_cleaning() -> None:
    text = 'It is `app/store.py:12` "json.dump(self.notes, handle)"<|im_end|> and more.'
    cleaned = clean(text)
    assert re.search(r'`app/store.py:12` "json.dump\(self.notes, handle\)" and more', cleaned.text)
