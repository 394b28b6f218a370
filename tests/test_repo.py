"""Repository-level checks: dependencies agree, chapters and their Colab notebooks are in sync,
the table of contents and the intro's chapter list agree."""
from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _requirements() -> dict[str, str]:
    reqs = {}
    for f in ("requirements.txt", "requirements-build.txt", "requirements-test.txt"):
        for line in (ROOT / f).read_text().splitlines():
            line = line.split("#")[0].strip()
            if line:
                name = re.split(r"[<>=!~ ]", line, maxsplit=1)[0].lower()
                reqs[name] = line.replace(" ", "").lower()
    return reqs


def test_environment_yml_lists_the_same_packages_as_requirements():
    env = (ROOT / "environment.yml").read_text()
    pip_block = env.split("- pip:", 1)[1]
    env_reqs = {}
    for line in pip_block.splitlines():
        line = line.split("#")[0].strip()
        if line.startswith("- "):
            spec = line[2:].strip().replace(" ", "").lower()
            env_reqs[re.split(r"[<>=!~]", spec, maxsplit=1)[0]] = spec
    assert env_reqs == _requirements(), "environment.yml and requirements*.txt disagree"


def test_runtime_requirements_have_lower_bounds_only_and_build_stack_is_pinned():
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            assert ">=" in line and "==" not in line and "<" not in line, f"runtime requirement must be a lower bound: {line}"
    for line in (ROOT / "requirements-build.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            assert "==" in line, f"build stack must be pinned: {line}"
    assert "jupyter-book==1." in (ROOT / "requirements-build.txt").read_text()


def test_chapters_and_notebooks_are_in_sync():
    r = subprocess.run([sys.executable, str(ROOT / "scripts" / "sync_chapters.py"), "--check"], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def _toc_chapters() -> list[str]:
    return re.findall(r"file:\s*chapters/(\w+)", (ROOT / "_toc.yml").read_text())


def test_every_chapter_is_in_the_toc_and_paired():
    files = sorted(p.stem for p in (ROOT / "chapters").glob("*.md"))
    assert sorted(_toc_chapters()) == files, "chapters/*.md and _toc.yml disagree"
    for stem in files:
        nb = json.loads((ROOT / "chapters" / f"{stem}.ipynb").read_text())
        assert all(not c.get("outputs") for c in nb["cells"] if c["cell_type"] == "code"), f"{stem}.ipynb has outputs"
        first = next(c for c in nb["cells"] if c["cell_type"] == "code")
        assert "remove-cell" in first["metadata"].get("tags", []) and "setup_chapter" in "".join(first["source"])


def test_intro_lists_19_chapters_with_status_matching_the_toc():
    rows = [r for r in (ROOT / "intro.md").read_text().splitlines() if re.match(r"\|\s*\d+\s*\|", r)]
    assert len(rows) == 19
    linked = set(re.findall(r"\{doc\}`chapters/(\w+)`", "\n".join(rows)))
    assert linked == set(_toc_chapters())
    assert sum("planned" in r for r in rows) == 19 - len(linked)


def test_repository_url_is_set_in_one_place():
    cfg = (ROOT / "_config.yml").read_text()
    url = re.search(r"^repository:\s*\n\s+#.*\n(?:\s+#.*\n)*\s+url:\s*(\S+)", cfg, re.M)
    assert url, "repository.url missing from _config.yml"
    for p in (ROOT / "chapters").glob("*.md"):
        assert url.group(1) in p.read_text(), f"{p.name}: setup cell does not use the repository URL of _config.yml"


def test_strict_build_settings():
    cfg = (ROOT / "_config.yml").read_text()
    assert re.search(r"execute_notebooks:\s*force", cfg)
    assert re.search(r"raise_on_error:\s*true", cfg) and re.search(r"allow_errors:\s*false", cfg)
    assert re.search(r"only_build_toc_files:\s*true", cfg) and re.search(r"timeout:\s*\d+", cfg)
    assert "-W -n --keep-going" in (ROOT / "scripts" / "build.sh").read_text()


@pytest.mark.parametrize("path", sorted(str(p.relative_to(ROOT)) for p in (ROOT / "chapters").glob("*.md")))
def test_chapters_do_not_download_or_read_other_chapters_files(path):
    text = (ROOT / path).read_text()
    body = text.split("claims = utils.setup_chapter", 1)[-1]
    for pat in ("urlopen(", "urlretrieve", "requests.get", "torch.hub", "load_state_dict_from_url", "download=True", "fetch_openml"):
        assert pat not in body, f"{path}: {pat} (the book must run offline)"
    assert "_build" not in body, f"{path} reads build output"
