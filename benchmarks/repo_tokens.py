"""How large a repository is: cl100k tokens of every UTF-8 text file of a commit's tree (issue 18
wants its large-repository set over 1M each). Reads blobs straight from the git directory.

    .venv/bin/python benchmarks/repo_tokens.py GIT_DIR... [--commit HEAD]
"""

from __future__ import annotations

import argparse
import subprocess
from pathlib import Path


def texts_at(git_dir: Path, commit: str) -> list[str]:
    """The UTF-8 text (no NUL byte) of every blob in the commit's tree."""
    listing = subprocess.run(
        ["git", "--git-dir", str(git_dir), "ls-tree", "-r", commit],
        check=True, capture_output=True, text=True,
    ).stdout.splitlines()
    shas = [line.split()[2] for line in listing if line.split()[1] == "blob"]
    batch = subprocess.run(
        ["git", "--git-dir", str(git_dir), "cat-file", "--batch"],
        input=("\n".join(shas) + "\n").encode(), check=True, capture_output=True,
    ).stdout
    texts, position = [], 0
    while position < len(batch):
        newline = batch.index(b"\n", position)
        size = int(batch[position:newline].split()[2])
        data = batch[newline + 1 : newline + 1 + size]
        position = newline + 2 + size
        if b"\0" not in data:
            try:
                texts.append(data.decode("utf-8"))
            except UnicodeDecodeError:
                continue
    return texts


def main() -> None:
    from longread.ingest.tokens import TiktokenCounter

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("repos", type=Path, nargs="+", help="git directories")
    parser.add_argument("--commit", default="HEAD")
    args = parser.parse_args()
    counter = TiktokenCounter()
    for git_dir in args.repos:
        texts = texts_at(git_dir, args.commit)
        commit = subprocess.run(
            ["git", "--git-dir", str(git_dir), "rev-parse", "--short=12", args.commit],
            check=True, capture_output=True, text=True,
        ).stdout.strip()
        tokens = sum(counter.count_many(texts))
        print(f"{git_dir}\t{commit}\t{len(texts)} text files\t{tokens} cl100k tokens")


if __name__ == "__main__":
    main()
