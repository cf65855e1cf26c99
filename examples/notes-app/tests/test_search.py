from notes.search import score, search
from notes.store import Note


def test_every_word_must_match():
    note = Note(1, "buy oat milk", 0.0, ("home",))
    assert score(note, "milk home") == 3.0
    assert score(note, "milk bread") == 0.0


def test_recent_notes_win_ties():
    old = Note(1, "milk", 1.0, ())
    new = Note(2, "milk", 2.0, ())
    assert search([old, new], "milk") == [new, old]
