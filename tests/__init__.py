"""longread's tests, a package so shared helpers import as `tests.fakes` (pytest puts the repo root
on sys.path: pyproject's `pythonpath`); no test module imports another."""
