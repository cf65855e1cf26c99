"""`python -m longread.analysis.cli`: the same command as the `longread` script."""

from __future__ import annotations

from longread.analysis.cli.commands import main

if __name__ == "__main__":
    main()
