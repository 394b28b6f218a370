"""Train the book's miniature Ma et al. model and write utils/iqa/ma_model.npz.

Ma, Yang, Yang and Yang (CVIU 2017) trained three random forests, one per feature group, on human
opinion scores of super-resolved images, then fused them linearly. Their trained forests are not
available offline, so the book trains its own, small, on a miniature data set (chapter
chapters/ma_nrqm.md explains every step):

- images: seeded 120x120 crops of packaged photos (TRAIN_PHOTOS; the chapter tests on HELDOUT_PHOTOS,
  other photos), downscaled by 2, 3 and 4 (MATLAB-style bicubic) and super-resolved back by eight
  methods (utils.iqa.ma.SR_METHODS: nearest, bilinear, bicubic, smoothed, sharpened, oversharpened,
  noisy, and a small trained linear filter);
  the originals themselves are added (target 10);
- target (a stated proxy for human scores, computed from none of the three feature groups):
  utils.iqa.ma.ma_target, 10 max(0, 1 - d(sr, hr) / d(blur(hr), hr)) with d a uniform-weight
  LPIPS-style distance to the original on the book's feature network and blur a Gaussian of 2 px;
- model: one RandomForestRegressor per group (N_TREES trees, depth <= MAX_DEPTH), and the fusion
  weights [w0, w1, w2, w3] fitted by least squares on the forests' out-of-bag predictions, so the
  fusion learns how far to trust each forest on samples it did not see.

The forests are saved as plain numpy arrays (utils.iqa.ma.forest_to_arrays) in a compressed .npz
loaded with allow_pickle=False, not as a pickle: the file is data, it cannot run code when loaded.

Usage: .venv/bin/python scripts/train_ma_model.py [--out PATH]   (about 2-4 minutes on 2 cores)
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TRAIN_PHOTOS = ("astronaut", "china", "flower", "grace_hopper", "ihc", "hubble", "camera", "moon", "brick", "grass", "gravel", "clock")
HELDOUT_PHOTOS = ("chelsea", "coffee", "rocket", "coins")
N_TREES, MAX_DEPTH, MIN_LEAF = 40, 8, 3
CROPS, CROP, SCALES, SEED = 3, 120, (2, 3, 4), 0


def main(argv=None) -> int:
    import torch
    from sklearn.ensemble import RandomForestRegressor

    from utils.iqa import ma
    from utils.repro import seed_everything

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ma.MODEL_FILE, help="where to write the model (.npz)")
    args = ap.parse_args(argv)

    torch.set_num_threads(1)  # the target's feature-net pass: single-threaded so reruns are bit-identical
    seed_everything(SEED)
    t0 = time.perf_counter()
    data = ma.ma_dataset(TRAIN_PHOTOS, crops_per_image=CROPS, crop=CROP, scales=SCALES, seed=SEED)
    print(f"data set: {len(data['target'])} images in {time.perf_counter() - t0:.1f} s; "
          f"target mean {data['target'].mean():.2f}, range {data['target'].min():.2f}..{data['target'].max():.2f}")

    arrays, oob = {}, []
    for g in ma.FEATURE_GROUPS:
        rf = RandomForestRegressor(
            n_estimators=N_TREES, max_depth=MAX_DEPTH, min_samples_leaf=MIN_LEAF, max_features=1 / 3,
            oob_score=True, random_state=SEED, n_jobs=1,
        )
        rf.fit(data[g], data["target"])
        arrays[g] = ma.forest_to_arrays(rf)
        oob.append(rf.oob_prediction_)
        # the array form must predict exactly what scikit-learn predicts
        check = ma.predict_forest(arrays[g], data[g][:50])
        assert np.allclose(check, rf.predict(data[g][:50]), atol=1e-9), f"array forest of {g} disagrees with sklearn"
        r = np.corrcoef(rf.oob_prediction_, data["target"])[0, 1]
        print(f"forest {g:5s}: {arrays[g]['left'].size} nodes, out-of-bag Pearson r {r:.3f}")
    design = np.column_stack([np.ones(len(data["target"])), *oob])
    fusion, *_ = np.linalg.lstsq(design, data["target"], rcond=None)
    r_fused = np.corrcoef(design @ fusion, data["target"])[0, 1]
    print(f"fusion weights {np.round(fusion, 4).tolist()}, out-of-bag Pearson r {r_fused:.3f}")

    import sklearn

    meta = {
        "paper": "Ma, Yang, Yang, Yang, CVIU 2017 (miniature retraining, see scripts/train_ma_model.py)",
        "train_photos": list(TRAIN_PHOTOS), "heldout_photos": list(HELDOUT_PHOTOS),
        "crops_per_image": CROPS, "crop": CROP, "scales": list(SCALES), "methods": list(ma.SR_METHODS), "seed": SEED,
        "n_samples": int(len(data["target"])), "target": "ma_target: 10 max(0, 1 - d(sr, hr) / d(blur(hr), hr)), d = uniform LPIPS-style "
        f"distance on the book feature net, taps {list(ma.TARGET_TAPS)}, blur sigma {ma.TARGET_BLUR} px",
        "n_trees": N_TREES, "max_depth": MAX_DEPTH, "min_samples_leaf": MIN_LEAF, "sklearn": sklearn.__version__,
        "oob_pearson": {g: float(np.corrcoef(o, data["target"])[0, 1]) for g, o in zip(ma.FEATURE_GROUPS, oob)} | {"fused": float(r_fused)},
    }
    payload = {f"{g}_{k}": v for g, a in arrays.items() for k, v in a.items()}
    payload["fusion"] = fusion.astype(np.float64)
    payload["meta"] = np.array(json.dumps(meta, sort_keys=True))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(args.out, **payload)
    print(f"wrote {args.out} ({args.out.stat().st_size / 1024:.0f} KiB) in {time.perf_counter() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
