"""Outlines of real sources in each outlined language: signatures, line numbers, nesting, names."""

from __future__ import annotations

from textwrap import dedent

import pytest

from longread.ingest.document import Outline
from longread.ingest.languages import OUTLINED
from longread.ingest.outline import extract_outline, format_outline


def signatures(source: str, language: str) -> list[tuple[int, str, str, str]]:
    outline = extract_outline(dedent(source).lstrip("\n"), language)
    return [(s.line, s.kind, s.name, s.signature) for s in outline.symbols]


def test_python_decorated_multiline_function_and_nested_methods() -> None:
    source = """
        import os

        @cache
        @retry(times=3)
        def fetch(
            url: str,
            timeout: float,
        ) -> bytes:
            # a comment before the body is not signature
            return os.read(url)

        class Store(Base):
            @property
            def size(self) -> int:
                return 1

            class Entry:
                def key(self):
                    def inner():
                        pass
    """
    assert signatures(source, "python") == [
        (
            3,
            "function",
            "fetch",
            "@cache\n@retry(times=3)\ndef fetch(\n    url: str,\n    timeout: float,\n) -> bytes:",
        ),
        (12, "class", "Store", "class Store(Base):"),
        (13, "method", "size", "@property\ndef size(self) -> int:"),
        (17, "class", "Entry", "class Entry:"),
        (18, "method", "key", "def key(self):"),
        (19, "function", "inner", "def inner():"),
    ]


def test_python_definitions_and_references() -> None:
    source = dedent("""
        from pkg.models import Thing

        class Repo(Base):
            def load(self, thing: Thing):
                return helper(thing).decode()
    """)
    outline = extract_outline(source, "python")
    assert outline.definitions == ("Repo", "load")
    assert {"Thing", "Base", "helper", "decode"} <= set(outline.references)
    assert "thing" not in outline.references  # a local, not a name defined elsewhere


def test_javascript() -> None:
    source = """
        class Foo extends Bar {
          constructor(x) { super(); this.x = x; }
          get value() { return this.x; }
        }
        function add(a, b) { return helper(a) + b; }
        export const mul = (a,
                            b) => a * b;
    """
    assert signatures(source, "javascript") == [
        (1, "class", "Foo", "class Foo extends Bar"),
        (2, "method", "constructor", "constructor(x)"),
        (3, "method", "value", "get value()"),
        (5, "function", "add", "function add(a, b)"),
        (6, "function", "mul", "export const mul = (a,\n                    b) =>"),
    ]


@pytest.mark.parametrize("language", ["typescript", "tsx"])
def test_typescript_and_tsx(language: str) -> None:
    source = """
        @Component({selector: "x"})
        export class Foo<T> extends Bar implements Baz {
          @HostListener("click")
          handle(e: Event): void { this.go(e); }
        }
        export interface Shape { area(): number; }
        export type Id = string | number;
        enum Color { Red }
        export function add(a: number,
            b: number): number { return a + b; }
    """
    assert signatures(source, language) == [
        (
            1,
            "class",
            "Foo",
            '@Component({selector: "x"})\nexport class Foo<T> extends Bar implements Baz',
        ),
        (3, "method", "handle", '@HostListener("click")\nhandle(e: Event): void'),
        (6, "interface", "Shape", "export interface Shape"),
        (6, "method", "area", "area(): number"),
        (7, "type", "Id", "export type Id = string | number;"),
        (8, "enum", "Color", "enum Color"),
        (9, "function", "add", "export function add(a: number,\n    b: number): number"),
    ]


def test_go() -> None:
    source = """
        package main

        type Point struct {
            X int
        }

        type Shape interface {
            Area() float64
        }

        func (p *Point) Move(dx int,
            dy int) {
            helper(dx)
        }
    """
    assert signatures(source, "go") == [
        (3, "struct", "Point", "type Point struct"),
        (7, "interface", "Shape", "type Shape interface"),
        (11, "method", "Move", "func (p *Point) Move(dx int,\n    dy int)"),
    ]
    assert "helper" in extract_outline(dedent(source), "go").references


def test_rust() -> None:
    source = """
        #[derive(Debug)]
        pub struct Point { x: i32 }

        pub trait Area { fn area(&self) -> f64; }

        impl Point {
            pub fn new(x: i32) -> Self { Point { x } }
        }
    """
    assert signatures(source, "rust") == [
        (1, "struct", "Point", "#[derive(Debug)]\npub struct Point"),
        (4, "trait", "Area", "pub trait Area"),
        (4, "method", "area", "fn area(&self) -> f64;"),
        (6, "impl", "Point", "impl Point"),
        (7, "method", "new", "pub fn new(x: i32) -> Self"),
    ]
    outline = extract_outline(dedent(source), "rust")
    assert outline.definitions == ("Area", "Point", "area", "new")


def test_java() -> None:
    source = """
        @Entity
        public class Shop extends Base {
            @Override
            public List<Item> items(int limit,
                                    String filter) throws IOException {
                return helper.find(limit);
            }
            interface Inner { void run(); }
        }
    """
    assert signatures(source, "java") == [
        (1, "class", "Shop", "@Entity\npublic class Shop extends Base"),
        (
            3,
            "method",
            "items",
            "@Override\npublic List<Item> items(int limit,\n"
            "                        String filter) throws IOException",
        ),
        (8, "interface", "Inner", "interface Inner"),
        (8, "method", "run", "void run();"),
    ]
    assert {"Base", "Item", "find"} <= set(extract_outline(dedent(source), "java").references)


def test_c() -> None:
    source = """
        struct point { int x; };

        static int add(int a,
                       int b) {
            return helper(a) + b;
        }

        int *make(void);
    """
    assert signatures(source, "c") == [
        (1, "struct", "point", "struct point"),
        (3, "function", "add", "static int add(int a,\n               int b)"),
        (8, "function", "make", "int *make(void);"),
    ]


def test_cpp() -> None:
    source = """
        namespace geo {
        class Shape : public Base {
        public:
            virtual double area() const = 0;
            int sides() const { return n_; }
        };
        template <typename T>
        T biggest(T a, T b) { return a; }
        }
    """
    assert signatures(source, "cpp") == [
        (1, "namespace", "geo", "namespace geo"),
        (2, "class", "Shape", "class Shape : public Base"),
        (4, "method", "area", "virtual double area() const = 0;"),
        (5, "method", "sides", "int sides() const"),
        (7, "function", "biggest", "template <typename T>\nT biggest(T a, T b)"),
    ]


@pytest.mark.parametrize("language", sorted(OUTLINED))
def test_broken_source_never_raises(language: str) -> None:
    source = "def f(:\n  class {{{ fn ) ]] \x00 \ufffd\n" * 50 + "\udcff"
    outline = extract_outline(source, language)
    assert outline.language == language


def test_broken_python_keeps_what_parses() -> None:
    source = "def good(a):\n    return a\n\ndef broken(:\n    pass\n\nclass Fine:\n    pass\n"
    names = [s.name for s in extract_outline(source, "python").symbols]
    assert "good" in names and "Fine" in names


def test_unknown_language_gives_an_empty_outline() -> None:
    assert extract_outline("puts 'hi'", "ruby") == Outline(language="ruby")


def test_format_outline_numbers_lines_and_indents_nesting() -> None:
    source = "class A:\n    @staticmethod\n    def f(\n        x,\n    ):\n        pass\n\n"
    source += "def g(): pass\n"
    text = format_outline(extract_outline(source, "python"), path="a.py")
    assert text == (
        "1│ class A:\n2│   @staticmethod\n3│   def f(\n4│       x,\n5│   ):\n8│ def g():\n"
    )


def test_format_outline_of_a_file_without_symbols_names_it() -> None:
    assert format_outline(Outline(language="python"), path="empty.py") == (
        "(empty.py: no definitions found)\n"
    )
