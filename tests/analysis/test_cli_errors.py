"""Every user mistake is one stderr line and an exit code (2 usage, 5 cache, 130 Ctrl-C), never a
traceback and never a partial output file — through the CLI, on real files, folders and SQLite."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from longread.analysis.cli.commands import cli
from longread.ingest import store
from tests import reviews
from tests.fakes import register_fake

LONGREAD = str(Path(sys.executable).with_name("longread"))


@pytest.fixture
def change_repo(tmp_path: Path) -> Path:
    """A git repo with a change on `feature` (the review tests' repo)."""
    return reviews.change_repo(tmp_path)


@pytest.fixture
def scripted_model(monkeypatch: pytest.MonkeyPatch) -> reviews.Built:
    """`--backend scripted`, answering with no findings."""
    return reviews.register_queued(monkeypatch)


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    root = tmp_path / "corpus"
    root.mkdir()
    for n in range(60):
        (root / f"mod{n:02}.py").write_text(
            "".join(f"def f{n}_{i}(x):\n    return x + {i}\n\n" for i in range(60))
        )
    return root


def invoke(tmp_path: Path, *args: str, env: dict[str, str | None] | None = None):
    env = {"LONGREAD_CACHE_DIR": str(tmp_path / "cache"), **(env or {})}
    return CliRunner().invoke(cli, list(args), env=env)


def one_error_line(result, code: int, *words: str) -> None:
    assert result.exit_code == code, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("longread: error: "), result.stderr
    for word in words:
        assert word in lines[0]


def test_output_into_a_missing_folder_is_one_line_and_exit_2(corpus, tmp_path):
    result = invoke(tmp_path, "pack", str(corpus), "-o", str(tmp_path / "nope" / "p.xml"))
    one_error_line(result, 2, "no such folder", "nope")
    assert result.stdout == ""


def test_output_to_a_full_device_is_one_line_and_exit_2(corpus, tmp_path):
    result = invoke(tmp_path, "pack", str(corpus), "-o", "/dev/full")
    one_error_line(result, 2, "/dev/full", "No space left")
    assert Path("/dev/full").is_char_device()


def mounted_tmpfs(where: Path, options: str) -> Iterator[Path]:
    """A 64 KiB tmpfs at `where` (root only, else the test is skipped); unmounted afterwards."""
    where.mkdir()
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", f"{options},size=64k", "tmpfs",
                           str(where)], capture_output=True)
    if made.returncode != 0:
        pytest.skip("cannot mount a tmpfs here (needs root)")
    try:
        yield where
    finally:
        subprocess.run(["umount", str(where)], check=True)


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A real full disk."""
    yield from mounted_tmpfs(tmp_path / "tiny", "rw")


def test_a_full_disk_leaves_no_partial_pack(corpus, tmp_path, tiny_disk):
    (tiny_disk / "pack.xml").write_text("the previous pack\n")
    result = invoke(tmp_path, "pack", str(corpus), "-o", str(tiny_disk / "pack.xml"))
    one_error_line(result, 2, "pack.xml", "No space left")
    assert sorted(os.listdir(tiny_disk)) == ["pack.xml"]
    assert (tiny_disk / "pack.xml").read_text() == "the previous pack\n"


def test_manifest_into_a_missing_folder_writes_neither(corpus, tmp_path):
    pack = tmp_path / "p.xml"
    result = invoke(tmp_path, "pack", str(corpus), "-o", str(pack),
                    "--manifest", str(tmp_path / "nope" / "m.json"))
    one_error_line(result, 2, "m.json")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache", "corpus"]


def test_dash_means_stdout_for_output_and_manifest(corpus, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = invoke(tmp_path, "pack", str(corpus), "-o", "-", "--manifest", "-")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("<note>") and '"digest"' in result.stdout
    assert not (tmp_path / "-").exists()


def test_a_questions_file_that_is_not_utf8_is_one_line_and_exit_2(corpus, tmp_path):
    questions = tmp_path / "questions.txt"
    questions.write_bytes(b"Where is caf\xe9?\n")
    result = invoke(tmp_path, "ask", str(corpus), "--questions", str(questions))
    one_error_line(result, 2, "questions.txt", "not UTF-8")


def test_a_config_file_that_is_not_utf8_is_one_line_and_exit_2(corpus, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "longread.toml").write_bytes(b'model = "caf\xe9"\n')
    result = invoke(tmp_path, "pack", str(corpus))
    one_error_line(result, 2, "cannot read config file")


def test_a_cache_dir_that_is_a_file_is_exit_5(corpus, tmp_path):
    a_file = tmp_path / "passwd"
    a_file.write_text("root:x:0:0\n")
    result = invoke(tmp_path, "pack", str(corpus), env={"LONGREAD_CACHE_DIR": str(a_file)})
    one_error_line(result, 5, f"cannot use cache folder {a_file}: it is a file")


def test_an_unusable_home_is_exit_5_and_pack_no_cache_still_works(corpus, tmp_path):
    env = {"LONGREAD_CACHE_DIR": None, "XDG_CACHE_HOME": None, "HOME": "/proc/nohome"}
    one_error_line(invoke(tmp_path, "pack", str(corpus), env=env), 5, "/proc/nohome")
    result = invoke(tmp_path, "pack", str(corpus), "--no-cache", env=env)
    assert result.exit_code == 0 and result.stdout.count("<document ") == 60


@pytest.fixture
def read_only_dir(tmp_path: Path) -> Iterator[Path]:
    """Unwritable even for root, who ignores permission bits."""
    yield from mounted_tmpfs(tmp_path / "ro", "ro")


def test_an_unwritable_cache_dir_is_exit_5_and_no_cache_does_not_need_it(
    corpus, tmp_path, read_only_dir
):
    env = {"LONGREAD_CACHE_DIR": str(read_only_dir)}
    result = invoke(tmp_path, "pack", str(corpus), env=env)
    one_error_line(result, 5, "not writable")
    cached = invoke(tmp_path, "pack", str(corpus), "--no-cache", env=env)
    assert cached.exit_code == 0, cached.output
    assert cached.stdout.count("<document ") == 60


def test_pack_no_cache_writes_no_ingest_cache(corpus, tmp_path):
    result = invoke(tmp_path, "pack", str(corpus), "--no-cache")
    assert result.exit_code == 0, result.output
    assert not (tmp_path / "cache" / "ingest.sqlite").exists()


def test_a_bad_tokenizer_file_is_exit_2(corpus, tmp_path):
    bad = tmp_path / "tokenizer.json"
    bad.write_text("this is not json")
    result = invoke(tmp_path, "pack", str(corpus), "--tokenizer", str(bad))
    one_error_line(result, 2, "cannot read tokenizer", "tokenizer.json")


def test_a_cache_locked_past_the_busy_timeout_is_exit_5(corpus, tmp_path, monkeypatch):
    """A run that must write waits out the timeout, then says so; one that only reads does not
    wait on a writer (WAL)."""
    assert invoke(tmp_path, "pack", str(corpus), "-o", os.devnull).exit_code == 0
    monkeypatch.setattr(store, "BUSY_TIMEOUT_MS", 200)
    holder = sqlite3.connect(tmp_path / "cache" / "ingest.sqlite", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        reads_only = invoke(tmp_path, "pack", str(corpus), "-o", os.devnull)
        (corpus / "new.py").write_text("def added():\n    return 1\n")
        must_write = invoke(tmp_path, "pack", str(corpus), "-o", os.devnull)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert reads_only.exit_code == 0, reads_only.output
    one_error_line(must_write, 5, "locked")


def test_ctrl_c_during_an_ingest_cache_write_is_130_without_a_traceback(
    corpus, tmp_path, monkeypatch
):
    """The reviewer's 81-line PendingRollbackError: Ctrl-C inside an INSERT, then ROLLBACK."""
    result = pack_with_a_failing_write(tmp_path, corpus, monkeypatch, "INTO file_stats",
                                       KeyboardInterrupt())
    assert result.exit_code == 130, result.output
    assert result.stderr == "longread: interrupted\n"
    assert not (tmp_path / "p.xml").exists()
    again = invoke(tmp_path, "pack", str(corpus), "-o", str(tmp_path / "p.xml"))
    assert again.exit_code == 0 and again.stderr == ""


def test_a_full_disk_during_a_cache_write_is_one_line_and_exit_5(corpus, tmp_path, monkeypatch):
    result = pack_with_a_failing_write(tmp_path, corpus, monkeypatch, "INTO scanned",
                                       sqlite3.OperationalError("database or disk is full"))
    one_error_line(result, 5, "cannot write the cache", "full")
    assert not (tmp_path / "p.xml").exists()


def pack_with_a_failing_write(tmp_path, corpus, monkeypatch, table: str, error: BaseException):
    """`pack` whose cache connections raise `error` when inserting `INTO table`."""

    class Failing(sqlite3.Connection):
        def executemany(self, statement, rows):
            if statement.startswith(f"INSERT OR REPLACE {table}"):
                raise error
            return super().executemany(statement, rows)

    connect = sqlite3.connect
    with monkeypatch.context() as patch:
        patch.setattr(sqlite3, "connect", lambda *a, **k: connect(*a, factory=Failing, **k))
        return invoke(tmp_path, "pack", str(corpus), "-o", str(tmp_path / "p.xml"))


def test_ctrl_c_while_a_new_cache_is_migrated_is_130_and_moves_nothing_aside(
    corpus, tmp_path, monkeypatch
):
    """The interrupt reaches SQLAlchemy mid-statement, which closes the connection: that is an
    interrupt to report, not a corrupt cache to move aside and rebuild."""

    class Interrupting(sqlite3.Cursor):
        def execute(self, statement, *args):
            if statement.startswith("CREATE TABLE file_stats"):
                raise KeyboardInterrupt
            return super().execute(statement, *args)

    class Connection(sqlite3.Connection):
        def cursor(self, factory=Interrupting):
            return super().cursor(factory)

    connect = sqlite3.connect
    with monkeypatch.context() as patch:
        patch.setattr(sqlite3, "connect", lambda *a, **k: connect(*a, factory=Connection, **k))
        result = invoke(tmp_path, "pack", str(corpus), "-o", str(tmp_path / "p.xml"))
    assert result.exit_code == 130, result.output
    assert result.stderr == "longread: interrupted\n"
    assert not list((tmp_path / "cache").glob("*.corrupt-*"))
    again = invoke(tmp_path, "pack", str(corpus), "-o", str(tmp_path / "p.xml"))
    assert again.exit_code == 0 and again.stderr == ""


def test_ctrl_c_while_python_imports_is_130_without_a_traceback(corpus, tmp_path):
    """A real SIGINT arriving during `import click` at startup (a shadow module sends it)."""
    shadow = tmp_path / "shadow" / "click"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text(
        "import os, signal, time\nos.kill(os.getpid(), signal.SIGINT)\ntime.sleep(5)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(shadow.parent)}
    done = subprocess.run([LONGREAD, "pack", str(corpus)], env=env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 130
    assert done.stderr == "longread: interrupted\n"
    assert done.stdout == ""


@pytest.mark.slow
def test_a_closed_pipe_is_a_quiet_exit(corpus, tmp_path):
    """`longread pack big | head -c 10`: no BrokenPipeError traceback, SIGPIPE's exit code."""
    env = {**os.environ, "LONGREAD_CACHE_DIR": str(tmp_path / "cache")}
    reader = subprocess.Popen([LONGREAD, "pack", str(corpus)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, env=env)
    assert reader.stdout is not None and reader.stderr is not None
    reader.stdout.close()  # the reader is gone before the pack is written: EPIPE on write
    stderr = reader.stderr.read()
    assert reader.wait(timeout=60) == 141
    assert stderr == b""


def test_a_real_sigint_mid_run_leaves_no_output(corpus, tmp_path):
    env = {**os.environ, "LONGREAD_CACHE_DIR": str(tmp_path / "cache")}
    out = tmp_path / "p.xml"
    running = subprocess.Popen([LONGREAD, "pack", str(corpus), "-o", str(out)], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    # The signal goes once the pack is under way (its cache exists), so the CLI's handler is in
    # place: one during the interpreter's own start-up is Python's -2, not longread's 130, and a
    # fixed 0.4 s wait hit start-up on a busy CPU.
    started = tmp_path / "cache" / "ingest.sqlite"
    deadline = time.monotonic() + 60
    while running.poll() is None and not started.exists() and time.monotonic() < deadline:
        time.sleep(0.005)
    if running.poll() is None:
        running.send_signal(signal.SIGINT)
    _, stderr = running.communicate(timeout=60)
    if running.returncode == 0:
        pytest.skip("the run finished before the signal")
    assert running.returncode == 130
    assert stderr == "longread: interrupted\n"
    assert not out.exists()


def test_ask_no_cache_needs_no_writable_cache(corpus, tmp_path, read_only_dir, monkeypatch):
    register_fake(monkeypatch)
    args = ["ask", str(corpus), "What does f0_1 return?", "--backend", "fake", "--budget", "3000"]
    env = {"LONGREAD_CACHE_DIR": str(read_only_dir)}
    one_error_line(invoke(tmp_path, *args, env=env), 5, "not writable")
    result = invoke(tmp_path, *args, "--no-cache", env=env)
    assert result.exit_code == 0, result.output
    assert os.listdir(read_only_dir) == []


def test_review_no_cache_needs_no_writable_cache(change_repo, tmp_path, read_only_dir,
                                                 scripted_model):
    """Like ask: --no-cache leaves both caches alone, so a read-only cache folder is no error."""
    args = ["review", "--repo", str(change_repo), "--backend", "scripted", "--base", "main",
            "--format", "json", "--fail-on", "never"]
    env = {"LONGREAD_CACHE_DIR": str(read_only_dir)}
    one_error_line(invoke(tmp_path, *args, env=env), 5, "not writable")
    result = invoke(tmp_path, *args, "--no-cache", env=env)
    assert result.exit_code == 0, result.output
    assert os.listdir(read_only_dir) == []


def test_a_full_disk_under_the_cache_is_exit_5(corpus, tmp_path, tiny_disk):
    result = invoke(tmp_path, "pack", str(corpus), "-o", str(tmp_path / "p.xml"),
                    env={"LONGREAD_CACHE_DIR": str(tiny_disk)})
    one_error_line(result, 5, "cache", "full")
    assert not (tmp_path / "p.xml").exists()


def test_review_output_into_a_missing_folder_is_one_line_and_no_file(
    change_repo, tmp_path, scripted_model
):
    target = tmp_path / "nope" / "review.sarif"
    result = invoke(tmp_path, "review", "--repo", str(change_repo), "--backend", "scripted",
                    "--base", "main", "--format", "sarif", "-o", str(target))
    one_error_line(result, 2, "no such folder")
    assert not target.parent.exists()


@pytest.mark.slow
@pytest.mark.parametrize("command", [["pack", "CORPUS"], ["cache", "path"], ["models", "list"]])
def test_stdout_on_a_full_device_is_one_line_and_exit_2(corpus, tmp_path, command):
    env = {**os.environ, "LONGREAD_CACHE_DIR": str(tmp_path / "cache")}
    args = [str(corpus) if arg == "CORPUS" else arg for arg in command]
    with open("/dev/full", "wb") as full:
        done = subprocess.run([LONGREAD, *args], stdout=full, stderr=subprocess.PIPE, env=env,
                              text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr == "longread: error: cannot write to stdout: No space left on device\n"


def test_ctrl_c_at_the_cache_clear_prompt_is_130(tmp_path):
    env = {**os.environ, "LONGREAD_CACHE_DIR": str(tmp_path / "cache")}
    asking = subprocess.Popen([LONGREAD, "cache", "clear", "--all"], stdin=subprocess.PIPE,
                              stderr=subprocess.PIPE, stdout=subprocess.PIPE, env=env, text=True)
    assert asking.stderr is not None
    prompt = asking.stderr.read(len("Delete "))
    assert prompt == "Delete "
    asking.send_signal(signal.SIGINT)
    _, rest = asking.communicate(timeout=60)
    assert asking.returncode == 130
    assert rest.endswith("longread: interrupted\n") and "Traceback" not in rest


def test_ctrl_c_between_the_pack_and_manifest_renames_keeps_both_or_neither(
    corpus, tmp_path, monkeypatch
):
    from longread.analysis.cli import output

    real_replace = os.replace
    calls: list[str] = []

    def replace_then_interrupt(source, target):
        calls.append(str(target))
        if len(calls) == 2:  # a real SIGINT after the pack is in place, before the manifest
            os.kill(os.getpid(), signal.SIGINT)
        real_replace(source, target)

    monkeypatch.setattr(output.os, "replace", replace_then_interrupt)
    pack, manifest = tmp_path / "p.xml", tmp_path / "m.json"
    result = invoke(tmp_path, "pack", str(corpus), "-o", str(pack), "--manifest", str(manifest))
    assert result.exit_code == 130
    assert pack.exists() == manifest.exists()


def test_ctrl_c_while_the_commands_are_built_is_130_without_a_traceback(tmp_path):
    """A real SIGINT after the imports, while cli/commands.py's module body builds the commands."""
    code = (
        "import os, signal, sys\n"
        "def profile(frame, event, arg):\n"
        "    if event == 'call' and frame.f_code.co_name == 'verbose_option':\n"
        "        sys.setprofile(None)\n"
        "        os.kill(os.getpid(), signal.SIGINT)\n"
        "sys.setprofile(profile)\n"
        "from longread.analysis.cli.commands import main\n"
        "sys.setprofile(None)\n"
        "main()\n"
    )
    done = subprocess.run([sys.executable, "-c", code, "cache", "path"], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 130
    assert done.stderr == "longread: interrupted\n" and done.stdout == ""


@pytest.mark.parametrize(("args", "message"), [
    (["pack", "CORPUS", "--budget", "abc"],
     "Invalid value for '--budget': 'abc' is not a valid integer. (see 'cli pack --help')"),
    (["pakc"], "No such command 'pakc'. Did you mean 'pack'? (see 'cli --help')"),
    (["--cache-dir", "FILE", "cache", "path"],
     "Invalid value for '--cache-dir': Directory 'FILE' is a file. (see 'cli --help')"),
    (["ask", "CORPUS"], "give at least one PATH before the question (see 'cli ask --help')"),
])
def test_click_usage_errors_are_one_line_too(corpus, tmp_path, args, message):
    a_file = tmp_path / "a-file"
    a_file.write_text("")
    names = {"CORPUS": str(corpus), "FILE": str(a_file)}
    result = invoke(tmp_path, *[names.get(arg, arg) for arg in args])
    expected = message.replace("FILE", str(a_file))
    assert result.exit_code == 2
    assert result.stderr == f"longread: error: {expected}\n"


def test_an_atomic_output_keeps_the_modes_a_plain_write_would_give(corpus, tmp_path):
    fresh, existing = tmp_path / "fresh.xml", tmp_path / "existing.xml"
    existing.write_text("old")
    existing.chmod(0o600)
    previous = os.umask(0o027)
    try:
        for target in (fresh, existing):
            assert invoke(tmp_path, "pack", str(corpus), "-o", str(target)).exit_code == 0
    finally:
        os.umask(previous)
    assert fresh.stat().st_mode & 0o777 == 0o640
    assert existing.stat().st_mode & 0o777 == 0o600
    assert existing.read_text().startswith("<note>")
