"""The `notes` command line: add, search, tag, delete, export."""

from __future__ import annotations

import argparse
from pathlib import Path

from notes.export import export
from notes.search import search
from notes.store import NoteStore


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="notes")
    commands = parser.add_subparsers(dest="command", required=True)
    add = commands.add_parser("add", help="add a note")
    add.add_argument("body")
    add.add_argument("--tag", action="append", default=[])
    find = commands.add_parser("search", help="search notes")
    find.add_argument("query")
    find.add_argument("--limit", type=int, default=10)
    tagged = commands.add_parser("tag", help="list notes with a tag")
    tagged.add_argument("tag")
    delete = commands.add_parser("delete", help="delete a note")
    delete.add_argument("id", type=int)
    out = commands.add_parser("export", help="export notes to Markdown")
    out.add_argument("path", type=Path)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    store = NoteStore()
    if args.command == "add":
        note = store.add(args.body, args.tag)
        print(f"added note {note.id}")
    elif args.command == "search":
        for note in search(store.all(), args.query, args.limit):
            print(f"{note.id}: {note.body}")
    elif args.command == "tag":
        for note in store.with_tag(args.tag):
            print(f"{note.id}: {note.body}")
    elif args.command == "delete":
        store.delete(args.id)
    elif args.command == "export":
        print(f"exported {export(store.all(), args.path)} notes")
    return 0
