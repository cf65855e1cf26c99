from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from longread.ingest.fidelity import Candidate, fill_head, fit_to_budget


def test_top_ranked_goes_full_then_outline_then_path():
    ranked = [Candidate("a", 50), Candidate("b", 500), Candidate("c", 40), Candidate("d", 40)]
    outlines = {"a": 20, "b": 30, "c": 10, "d": None}
    asked: list[str] = []

    def reduced(path: str, left: int) -> tuple[str, int] | None:
        asked.append(path)
        cost = outlines[path]
        return None if cost is None or cost > left else ("outline", cost)

    choice = fit_to_budget(ranked, available=130, reduced=reduced)
    assert choice == {"a": "full", "b": "outline", "c": "full", "d": "path"}
    assert asked == ["b", "d"]


def test_a_held_back_document_never_goes_full():
    ranked = [Candidate("uv.lock", None), Candidate("b", 10)]
    choice = fit_to_budget(ranked, available=1000, reduced=lambda path, left: ("outline", 5))
    assert choice == {"uv.lock": "outline", "b": "full"}


def test_no_smaller_form_is_asked_for_when_everything_fits():
    ranked = [Candidate(name, 10) for name in "abc"]
    choice = fit_to_budget(ranked, available=30, reduced=lambda path, left: 1 / 0)
    assert set(choice.values()) == {"full"}


candidates = st.lists(
    st.tuples(st.one_of(st.none(), st.integers(2, 400)), st.one_of(st.none(), st.integers(1, 200))),
    max_size=30,
)


@pytest.mark.slow
@settings(max_examples=300, deadline=None)
@given(candidates, st.integers(0, 3000))
def test_fit_never_exceeds_the_available_tokens(raw, available):
    ranked = [Candidate(f"d{i}", full) for i, (full, _) in enumerate(raw)]
    outline = {f"d{i}": o for i, (_, o) in enumerate(raw)}

    def reduced(path: str, left: int) -> tuple[str, int] | None:
        cost = outline[path]
        return None if cost is None or cost > left else ("outline", cost)

    choice = fit_to_budget(ranked, available=available, reduced=reduced)
    cost = {"full": {c.path: c.full or 0 for c in ranked}, "path": dict.fromkeys(outline, 0)}
    cost["outline"] = {path: value or 0 for path, value in outline.items()}
    used = sum(cost[f][path] for path, f in choice.items())
    assert used <= available
    assert choice == fit_to_budget(ranked, available=available, reduced=reduced)
    slack = available - used
    for c in ranked:
        if choice[c.path] in ("path", "outline") and c.full is not None:
            assert c.full > slack
        if choice[c.path] == "path" and outline[c.path] is not None:
            assert outline[c.path] > slack


def test_fill_head_finds_the_largest_head_within_the_allowance():
    calls: list[int] = []

    def cost_of(k: int) -> int:
        calls.append(k)
        return 10 + 7 * k

    assert fill_head(cost_of, 1000, allowance=500) == 70
    assert len(calls) <= 11
    assert fill_head(cost_of, 1000, allowance=5) == 0
