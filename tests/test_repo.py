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


RUNTIME = ("requirements.txt",)
BUILD_AND_TEST = ("requirements-build.txt", "requirements-test.txt")
TORCH_CPU_INDEX = "--extra-index-url https://download.pytorch.org/whl/cpu"


def _requirements(files=RUNTIME + BUILD_AND_TEST) -> dict[str, str]:
    """name -> requirement line of the given requirements files, read now (their bounds change over time)."""
    reqs = {}
    for f in files:
        for line in (ROOT / f).read_text().splitlines():
            line = line.split("#")[0].strip()
            if line:
                name = re.split(r"[<>=!~ ]", line, maxsplit=1)[0].lower()
                reqs[name] = line.replace(" ", "").lower()
    return reqs


def _environment_pip_section(name: str) -> tuple[dict[str, str], list[str]]:
    """(name -> requirement, pip option lines) of the pip section of a conda environment file."""
    pip_block = (ROOT / name).read_text().split("- pip:", 1)[1]
    reqs, options = {}, []
    for line in pip_block.splitlines():
        line = line.split("#")[0].strip()
        if not line.startswith("- "):
            continue
        entry = line[2:].strip()
        if entry.startswith("-"):
            options.append(entry)
            continue
        spec = entry.replace(" ", "").lower()
        reqs[re.split(r"[<>=!~]", spec, maxsplit=1)[0]] = spec
    return reqs, options


def test_binder_environment_has_the_runtime_packages_only_with_a_cpu_torch():
    reqs, options = _environment_pip_section("environment.yml")
    assert reqs == _requirements(RUNTIME), "environment.yml (Binder) and requirements.txt disagree"
    assert options == [TORCH_CPU_INDEX], "environment.yml must take torch's CPU build from PyTorch's index"
    tools = set(_requirements(BUILD_AND_TEST)) | {"jupyter-book", "sphinx", "pytest", "playwright"}
    assert not tools & set(reqs), f"environment.yml is the readers' environment; no build or test tools: {tools & set(reqs)}"


def test_maintainer_environment_lists_the_same_packages_as_requirements():
    reqs, options = _environment_pip_section("environment-dev.yml")
    assert reqs == _requirements(), "environment-dev.yml and requirements*.txt disagree"
    assert options == [TORCH_CPU_INDEX]
    for name in ("environment.yml", "environment-dev.yml"):
        assert re.search(r"^\s*- python>=3\.11\.4\s*$", (ROOT / name).read_text(), re.M), f"{name}: python>=3.11.4 (see scripts/fetch_vendor.py)"


def _utils_version() -> str:
    return re.search(r"^__version__\s*=\s*[\"']([^\"']+)[\"']", (ROOT / "utils" / "__init__.py").read_text(), re.M).group(1)


def test_citation_cff_names_this_version_licences_and_repository():
    yaml = pytest.importorskip("yaml")
    cff = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    assert cff["cff-version"] == "1.2.0"
    assert cff["version"] == _utils_version(), "CITATION.cff's version must be utils.__version__"
    assert cff["title"] == "Paper Daily, reproduced"
    assert set(cff["license"]) == {"MIT", "CC-BY-4.0"}
    url = re.search(r"^repository:\s*\n(?:\s+#.*\n)*\s+url:\s*(\S+)", (ROOT / "_config.yml").read_text(), re.M).group(1)
    assert cff["repository-code"] == url
    for key in ("message", "authors"):
        assert cff[key], f"CITATION.cff: {key} is required by CFF 1.2.0"


def test_licence_covers_code_text_and_the_third_party_files():
    text = (ROOT / "LICENSE").read_text()
    for needed in ("MIT License", "CC BY 4.0", "Third-party", "The Paper Daily, reproduced authors"):
        assert needed in text, f"LICENSE lacks {needed!r}"
    for path in ("utils/iqa/niqe_pristine_model.npz", "utils/iqa/NIQE_MODEL_NOTICE.txt", "utils/vmaf_v0.6.1.json", "utils/VMAF_LICENSE"):
        assert path in text and (ROOT / path).is_file(), f"LICENSE must name {path}, and it must exist"


def test_widget_renderer_is_not_under_the_books_static_folder():
    """Jupyter Book adds every .js under the book's _static to every page; the 1.9 MB renderer must load only
    where myst-nb finds widget state, through nb_ipywidgets_js."""
    yaml = pytest.importorskip("yaml")
    scripts = yaml.safe_load((ROOT / "_config.yml").read_text())["sphinx"]["config"].get("nb_ipywidgets_js")
    assert scripts and list(scripts) == ["widgets/embed.js"], f"_config.yml: nb_ipywidgets_js must name the served renderer: {scripts}"
    fetch = (ROOT / "scripts" / "fetch_vendor.py").read_text()
    assert 'WIDGETS_DIR = ROOT / "_vendor" / "_static" / "widgets"' in fetch, "the renderer is served from _vendor/_static/widgets"
    stray = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "_static").rglob("*.js")) if (ROOT / "_static").is_dir() else []
    assert not stray, f"these load on every page (run scripts/fetch_vendor.py to move the renderer): {stray}"


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


def test_intro_chapter_numbers_are_the_numbers_the_book_prints():
    """Every part of _toc.yml is numbered and Jupyter Book numbers the chapters across parts in _toc.yml's order,
    so chapter k of the toc is printed "k." on its page; the intro's table must say the same."""
    toc = (ROOT / "_toc.yml").read_text()
    numbered = re.findall(r"^\s+numbered:\s*true", toc, re.M)
    captions = re.findall(r"^\s+- caption:", toc, re.M)
    assert len(numbered) == len(captions) - 1, "every part but 'About this book' is numbered"
    printed = {stem: k for k, stem in enumerate(_toc_chapters(), 1)}
    rows = [r for r in (ROOT / "intro.md").read_text().splitlines() if re.match(r"\|\s*\d+\s*\|", r)]
    in_intro = {}
    for row in rows:
        doc = re.search(r"\{doc\}`chapters/(\w+)`", row)
        if doc:
            in_intro[doc.group(1)] = int(re.match(r"\|\s*(\d+)", row).group(1))
    wrong = {stem: (n, printed.get(stem)) for stem, n in in_intro.items() if printed.get(stem) != n}
    assert not wrong, f"intro.md numbers (intro, book): {wrong}"


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
