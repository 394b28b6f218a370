#!/usr/bin/env python3
"""Fetch the two browser libraries the built book serves itself, so pages need no CDN.

- MathJax 3.2.2 (Apache-2.0): renders the equations.
- @jupyter-widgets/html-manager 1.0.15 (BSD-3-Clause): renders saved ipywidgets state in static HTML.

Both come from the npm registry at install time (``npm pack``, pinned versions, sha512 checked
against the values below), not vendored in git: they are 11 MB of third-party minified code that
the registry already keeps, and their licence files are copied next to them in the site.
Both go under ``_vendor/_static``, which ``html_extra_path`` copies into the site's ``_static``. MathJax is
loaded by every page (``mathjax_path``); the widget renderer (1.9 MB) only by pages that carry widget state,
because myst-nb adds ``nb_ipywidgets_js`` (``_config.yml``) to exactly those pages.
Run by scripts/install.sh; idempotent. Needs Python 3.11.4+ (``tarfile`` extraction filters).
"""
from __future__ import annotations

import base64
import hashlib
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = {
    "mathjax@3.2.2": "sha512-Bt+SSVU8eBG27zChVewOicYs7Xsdt40qm4+UpHyX7k0/O9NliPc+x77k1/FEsPsjKPZGJvtRZM1vO+geW0OhGw==",
    "@jupyter-widgets/html-manager@1.0.15": "sha512-5thBIV6ymNgmPVOHvzx+gGy8ZSKmSazhtGw4/c4xJDVzRhG9PTeQsRjF3FUTopvFi//SABeNz1yp47bCrJ3CQA==",
}
MATHJAX_DIR = ROOT / "_vendor" / "_static" / "mathjax"  # copied to the site root by html_extra_path
WIDGETS_DIR = ROOT / "_vendor" / "_static" / "widgets"  # likewise; _config.yml's nb_ipywidgets_js names embed.js
# Where earlier versions put the renderer. Jupyter Book adds every .js under the book's _static to *every*
# page, so a copy left there would still be loaded everywhere: it is removed.
LEGACY_WIDGETS_DIR = ROOT / "_static" / "vendor" / "widgets"
STAMP = ROOT / "_vendor" / ".stamp"
MIN_PYTHON = (3, 11, 4)  # tarfile's extraction filters (extractall(filter=...)) arrived in 3.11.4 and 3.12


def _check_python() -> None:
    if sys.version_info < MIN_PYTHON or not hasattr(tarfile, "data_filter"):
        raise SystemExit(
            f"fetch_vendor: Python {'.'.join(map(str, MIN_PYTHON))} or newer is needed (for tarfile's extraction "
            f"filters), found {sys.version.split()[0]}"
        )


def _remove_legacy_widgets_dir() -> None:
    if not LEGACY_WIDGETS_DIR.exists():
        return
    if (LEGACY_WIDGETS_DIR / "embed.js").exists() and not (WIDGETS_DIR / "embed.js").exists():
        WIDGETS_DIR.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(LEGACY_WIDGETS_DIR), str(WIDGETS_DIR))
    else:
        shutil.rmtree(LEGACY_WIDGETS_DIR)
    for folder in (LEGACY_WIDGETS_DIR.parent, LEGACY_WIDGETS_DIR.parent.parent):  # _static/vendor, then _static
        if folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()
    print(f"fetch_vendor: moved the widget renderer out of {LEGACY_WIDGETS_DIR.relative_to(ROOT)} (it loaded on every page)")


def _pack(spec: str, dest: Path) -> Path:
    out = subprocess.run(["npm", "pack", spec, "--silent"], cwd=dest, check=True, capture_output=True, text=True).stdout.split()
    tgz = dest / out[-1]
    digest = "sha512-" + base64.b64encode(hashlib.sha512(tgz.read_bytes()).digest()).decode()
    if digest != PACKAGES[spec]:
        raise SystemExit(f"fetch_vendor: integrity mismatch for {spec}: got {digest}")
    with tarfile.open(tgz) as tf:
        tf.extractall(dest / spec.replace("/", "_"), filter="data")
    return dest / spec.replace("/", "_") / "package"


def main() -> int:
    _check_python()
    _remove_legacy_widgets_dir()
    want = "\n".join(f"{k} {v}" for k, v in PACKAGES.items())
    if STAMP.exists() and STAMP.read_text() == want and (MATHJAX_DIR / "tex-mml-chtml.js").exists() and (WIDGETS_DIR / "embed.js").exists():
        print("fetch_vendor: MathJax and the widget renderer are already in place")
        return 0
    if shutil.which("npm") is None:
        raise SystemExit("fetch_vendor: npm is needed once to fetch MathJax and the widget renderer (apt-get install npm)")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        mj = _pack("mathjax@3.2.2", tmp)
        shutil.rmtree(MATHJAX_DIR, ignore_errors=True)
        (MATHJAX_DIR / "output" / "chtml" / "fonts").mkdir(parents=True)
        shutil.copy(mj / "es5" / "tex-mml-chtml.js", MATHJAX_DIR)
        shutil.copytree(mj / "es5" / "output" / "chtml" / "fonts" / "woff-v2", MATHJAX_DIR / "output" / "chtml" / "fonts" / "woff-v2")
        shutil.copy(mj / "LICENSE", MATHJAX_DIR / "LICENSE")
        hm = _pack("@jupyter-widgets/html-manager@1.0.15", tmp)
        shutil.rmtree(WIDGETS_DIR, ignore_errors=True)
        WIDGETS_DIR.mkdir(parents=True)
        for f in (hm / "dist").iterdir():
            if f.suffix in {".js", ".woff", ".woff2", ".ttf", ".eot", ".svg", ".txt"} and f.name not in {"embed-amd.js", "libembed-amd.js"}:
                shutil.copy(f, WIDGETS_DIR)
        lic = hm / "LICENSE"
        if lic.exists():
            shutil.copy(lic, WIDGETS_DIR / "LICENSE.txt")
    STAMP.write_text(want)
    print(f"fetch_vendor: MathJax -> {MATHJAX_DIR.relative_to(ROOT)}, widget renderer -> {WIDGETS_DIR.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
