"""Unit tests of _ext/book_ext.py's footer stamp: the book's version and the commit it was built from."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytest.importorskip("sphinx")  # book_ext imports docutils and sphinx (the build stack)
sys.path.insert(0, str(ROOT / "_ext"))
try:
    import book_ext
finally:
    sys.path.pop(0)


def _git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", "-c", "user.name=test", "-c", "user.email=test@example.invalid", *args],
                          cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


def test_book_version_is_utils_version():
    import utils

    assert book_ext.book_version(ROOT) == utils.__version__


def test_book_version_is_unknown_without_utils(tmp_path):
    assert book_ext.book_version(tmp_path) == "unknown"


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_build_commit_is_the_short_head_and_says_dirty(tmp_path):
    _git(tmp_path, "init", "-q")
    (tmp_path / "page.md").write_text("one\n")
    _git(tmp_path, "add", "page.md")
    _git(tmp_path, "commit", "-qm", "first")
    head = _git(tmp_path, "rev-parse", "--short", "HEAD")
    assert book_ext.build_commit(tmp_path) == head
    (tmp_path / "untracked.md").write_text("not in git\n")
    assert book_ext.build_commit(tmp_path) == head, "untracked files do not make the tree dirty"
    (tmp_path / "page.md").write_text("two\n")
    assert book_ext.build_commit(tmp_path) == head + "+dirty"


def test_build_commit_is_unknown_outside_git(tmp_path, monkeypatch):
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path.parent))  # do not find a repository above tmp
    assert book_ext.build_commit(tmp_path) == "unknown"
    monkeypatch.setenv("PATH", str(tmp_path))  # no git executable at all
    assert book_ext.build_commit(tmp_path) == "unknown"


def test_config_inited_appends_version_and_commit_to_the_footer(monkeypatch):
    monkeypatch.setattr(book_ext, "build_commit", lambda srcdir: "abc1234+dirty")
    config = SimpleNamespace(html_theme_options={"extra_footer": "Every number was computed.", "other": 1})
    book_ext._config_inited(SimpleNamespace(srcdir=str(ROOT)), config)
    footer = config.html_theme_options["extra_footer"]
    assert footer.startswith("<p>Every number was computed.</p>")
    assert f"Book version {book_ext.book_version(ROOT)}, built from commit <code>abc1234+dirty</code>." in footer
    assert config.html_theme_options["other"] == 1


def test_version_footer_escapes_and_handles_an_empty_footer():
    assert book_ext.version_footer("", "1<2", "x&y") == '<p class="book-build">Book version 1&lt;2, built from commit <code>x&amp;y</code>.</p>'
    assert book_ext.version_footer("<b>kept</b>", "1", "c").startswith("<b>kept</b><p")


def test_the_extension_registers_the_footer_at_config_inited():
    assert 'app.connect("config-inited", _config_inited)' in (ROOT / "_ext" / "book_ext.py").read_text()


def test_poll_in_slices_returns_a_late_message_and_keeps_the_deadline():
    """The work-around for jupyter/nbclient#312: a message ready after a few empty slices is returned at once;
    without one, Empty comes at the caller's deadline, not before."""
    import asyncio
    import queue
    import time

    calls = []

    async def get_msg(self, timeout=None):
        calls.append(timeout)
        if len(calls) < 3:
            await asyncio.sleep(timeout)
            raise queue.Empty
        return {"msg": "reply"}

    sliced = book_ext.poll_in_slices(get_msg, slice_s=0.05)
    assert asyncio.run(sliced(None, timeout=10)) == {"msg": "reply"}
    assert len(calls) == 3 and all(t <= 0.05 for t in calls)

    async def never(self, timeout=None):
        await asyncio.sleep(timeout)
        raise queue.Empty

    t0 = time.monotonic()
    with pytest.raises(queue.Empty):
        asyncio.run(book_ext.poll_in_slices(never, slice_s=0.05)(None, timeout=0.2))
    assert 0.18 <= time.monotonic() - t0 < 1.0
    with pytest.raises(queue.Empty):  # timeout 0: one immediate poll, as the original
        asyncio.run(book_ext.poll_in_slices(never, slice_s=0.05)(None, timeout=0))
    assert book_ext.poll_in_slices(sliced) is sliced
    with pytest.raises(ValueError, match="positive number of seconds"):
        book_ext.poll_in_slices(never, slice_s=0)
