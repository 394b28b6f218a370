"""Convert the official NIQE pristine model (modelparameters.mat) to utils/iqa/niqe_pristine_model.npz.

The .mat file comes from the NIQE software release of LIVE / UT Austin (see
../shared/calibration/niqe/PROVENANCE.md). Its copyright notice travels with the converted file
as utils/iqa/NIQE_MODEL_NOTICE.txt. Run from the repository root:

    python scripts/convert_niqe_model.py [--src PATH] [--dst PATH]

The .npz holds ``mu_prisparam`` (36,) and ``cov_prisparam`` (36, 36), float64, values unchanged.
"""
from __future__ import annotations

import argparse
import hashlib
from pathlib import Path

import numpy as np
import scipy.io

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SRC = ROOT.parent / "shared" / "calibration" / "niqe" / "modelparameters.mat"
DEFAULT_DST = ROOT / "utils" / "iqa" / "niqe_pristine_model.npz"


def convert(src: Path, dst: Path) -> None:
    mat = scipy.io.loadmat(str(src))
    mu = np.asarray(mat["mu_prisparam"], dtype=np.float64).reshape(-1)
    cov = np.asarray(mat["cov_prisparam"], dtype=np.float64)
    if mu.shape != (36,) or cov.shape != (36, 36):
        raise ValueError(f"unexpected shapes in {src}: mu {mu.shape}, cov {cov.shape}")
    if not (np.isfinite(mu).all() and np.isfinite(cov).all()):
        raise ValueError(f"{src} contains non-finite values")
    dst.parent.mkdir(parents=True, exist_ok=True)
    np.savez(dst, mu_prisparam=mu, cov_prisparam=cov)
    with np.load(dst, allow_pickle=False) as check:  # round trip must be exact
        assert np.array_equal(check["mu_prisparam"], mu) and np.array_equal(check["cov_prisparam"], cov)
    print(f"source {src} (sha256 {hashlib.sha256(src.read_bytes()).hexdigest()[:16]}...)")
    print(f"wrote  {dst}: mu {mu.shape}, cov {cov.shape}, max |cov - cov.T| = {np.abs(cov - cov.T).max():.3g}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--src", type=Path, default=DEFAULT_SRC, help="path to modelparameters.mat")
    parser.add_argument("--dst", type=Path, default=DEFAULT_DST, help="output .npz path")
    args = parser.parse_args()
    convert(args.src, args.dst)


if __name__ == "__main__":
    main()
