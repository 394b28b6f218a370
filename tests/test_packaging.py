"""``utils`` is pip-installable (pyproject.toml, distribution ``paper-daily-reproduced``): its version is
``utils.__version__``, its dependencies are requirements.txt's runtime list without torch, and the wheel carries
every file under utils/ that git tracks (weights, manifests, the NIQE/LPIPS/Ma models, VMAF's model and licence)."""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def _requirements() -> dict[str, str]:
    reqs = {}
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        line = line.split("#")[0].replace(" ", "").lower()
        if line:
            reqs[re.split(r"[<>=!~]", line, maxsplit=1)[0]] = line
    return reqs


def test_distribution_name_and_version_is_utils_version():
    project = _pyproject()
    assert project["project"]["name"] == "paper-daily-reproduced"
    assert project["project"]["dynamic"] == ["version"]
    assert project["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "utils.__version__"}


def test_dependencies_are_the_runtime_requirements_without_torch():
    """Colab ships its own torch (CUDA or CPU): installing the book's utils must never make pip replace it."""
    deps = {re.split(r"[<>=!~]", d.replace(" ", "").lower(), maxsplit=1)[0]: d.replace(" ", "").lower()
            for d in _pyproject()["project"]["dependencies"]}
    reqs = _requirements()
    assert "torch" in reqs and "torch" not in deps
    assert deps == {k: v for k, v in reqs.items() if k != "torch"}, "pyproject.toml and requirements.txt disagree"


def test_wheel_carries_every_tracked_file_of_utils(tmp_path):
    """Build the wheel from a copy of the files git tracks (as pip does from a git checkout; files not yet committed
    but not ignored are included, so that a new file is checked before its commit) and compare."""
    tracked = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split("\0")
    src = tmp_path / "src"
    for rel in filter(None, tracked):
        if (ROOT / rel).is_file():
            (src / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / rel, src / rel)
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w",
                        str(tmp_path / "dist"), str(src)], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    import utils

    wheel = next((tmp_path / "dist").glob(f"paper_daily_reproduced-{utils.__version__}-py3-none-any.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    in_utils = [rel for rel in filter(None, tracked) if rel.startswith("utils/") and (ROOT / rel).is_file()]
    assert any(rel.endswith(".pt") for rel in in_utils) and "utils/VMAF_LICENSE" in in_utils
    missing = [rel for rel in in_utils if rel not in names]
    assert not missing, f"the wheel lacks {len(missing)} tracked file(s) of utils/: {missing[:20]}"
    strays = sorted({n.split("/")[0] for n in names} - {"utils", f"paper_daily_reproduced-{utils.__version__}.dist-info"})
    assert not strays, f"the wheel carries more than utils: {strays}"
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
