"""Train the book's miniature Ma et al. (NRQM) model and write utils/iqa/ma_model.npz.

Ma, Yang, Yang and Yang (CVIU 2017) trained three random forests (regRF, 2000 trees each), one per
feature group, on human opinion scores of 1,440 super-resolved images, then fused them linearly
(robustfit). Their trained forests (model.mat) are not available offline, so the book trains its
own, small, on a miniature data set (chapter chapters/ma_nrqm.md explains every step):

- images: seeded 120x120 crops of packaged photos, downscaled by 2, 3 and 4 (MATLAB-style bicubic)
  and super-resolved back by eight methods (utils.iqa.ma.SR_METHODS), plus the crops themselves;
  features by utils.iqa.ma.ma_features (the official feature list). Features of ALL_PHOTOS are
  computed; the shipped forests see only TRAIN_PHOTOS; the chapter re-fits on random photo splits
  of the stored rows (its finding C1), so the rows are stored too (float32, keys data_*);
- target (a stated proxy for human scores, computed from none of the three feature groups and from
  no network any generator trains against): utils.iqa.ma.ma_target, a distance on the independent
  judge network (utils.judge) relative to a 2-px blur of the original, mapped to 0..10;
- model: one RandomForestRegressor per group (N_TREES trees, depth <= MAX_DEPTH), and the fusion
  weights [w0, w1, w2, w3] fitted by least squares on the forests' out-of-bag predictions;
- for the chapter's timing of the official-size forests: a forest with the official regRF settings
  (nodesize 5, mtry = D/3, full depth) is grown on 1,440 rows of each group for OFFICIAL_PROBE_TREES
  trees, and its mean root-to-leaf depth is recorded (meta "official_depth").

Usage: .venv/bin/python scripts/train_ma_model.py [--out PATH]
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

ALL_PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "hubble", "ihc", "china", "flower", "grace_hopper",
              "camera", "moon", "brick", "grass", "gravel", "coins", "clock")
TRAIN_PHOTOS = ("astronaut", "china", "flower", "grace_hopper", "ihc", "hubble", "camera", "moon", "brick", "grass", "gravel", "clock")
HELDOUT_PHOTOS = ("chelsea", "coffee", "rocket", "coins")
N_TREES, MAX_DEPTH, MIN_LEAF = 40, 8, 3
CROPS, CROP, SCALES, SEED = 2, 120, (2, 3, 4), 0
OFFICIAL_ROWS, OFFICIAL_PROBE_TREES = 1440, 20


def fit_model(data: dict, rows: np.ndarray, seed: int) -> tuple[dict, np.ndarray, dict]:
    """Forests (as arrays) and OOB-fitted fusion weights on ``rows`` of ``data``; also the OOB Pearson r."""
    from sklearn.ensemble import RandomForestRegressor

    from utils.iqa import ma

    arrays, oob, r = {}, [], {}
    y = data["target"][rows]
    for g in ma.FEATURE_GROUPS:
        rf = RandomForestRegressor(n_estimators=N_TREES, max_depth=MAX_DEPTH, min_samples_leaf=MIN_LEAF, max_features=1 / 3,
                                   oob_score=True, random_state=seed, n_jobs=1)
        rf.fit(data[g][rows], y)
        arrays[g] = ma.forest_to_arrays(rf)
        oob.append(rf.oob_prediction_)
        r[g] = float(np.corrcoef(rf.oob_prediction_, y)[0, 1])
    design = np.column_stack([np.ones(len(y)), *oob])
    fusion, *_ = np.linalg.lstsq(design, y, rcond=None)
    r["fused"] = float(np.corrcoef(design @ fusion, y)[0, 1])
    return arrays, fusion, r


def main(argv=None) -> int:
    import torch
    from sklearn.ensemble import RandomForestRegressor

    from utils.iqa import ma
    from utils.judge import judge_sha256
    from utils.repro import seed_everything

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ma.MODEL_FILE, help="where to write the model (.npz)")
    args = ap.parse_args(argv)

    torch.set_num_threads(1)  # the target's judge-net pass: single-threaded so reruns are bit-identical
    seed_everything(SEED)
    t0, c0 = time.perf_counter(), time.process_time()
    data = ma.ma_dataset(ALL_PHOTOS, crops_per_image=CROPS, crop=CROP, scales=SCALES, seed=SEED)
    t_data = time.process_time() - c0
    names = np.array(ALL_PHOTOS)
    print(f"data set: {len(data['target'])} images in {time.perf_counter() - t0:.1f} s wall, {t_data:.1f} s CPU; "
          f"target mean {data['target'].mean():.2f}, range {data['target'].min():.2f}..{data['target'].max():.2f}")
    rows = np.flatnonzero(np.isin(names[data["photo"]], TRAIN_PHOTOS))
    c1 = time.process_time()
    arrays, fusion, oob_r = fit_model(data, rows, SEED)
    t_fit = time.process_time() - c1
    for g in ma.FEATURE_GROUPS:
        print(f"forest {g:5s}: {arrays[g]['left'].size} nodes, out-of-bag Pearson r {oob_r[g]:.3f}")
    print(f"fusion weights {np.round(fusion, 4).tolist()}, out-of-bag Pearson r {oob_r['fused']:.3f}; forests fitted in {t_fit:.1f} s CPU")

    # depth of forests grown with the official regRF settings (nodesize 5, mtry D/3, unlimited depth)
    rng = np.random.default_rng(SEED)
    probe = rng.choice(len(data["target"]), OFFICIAL_ROWS, replace=True)
    depth = {}
    for g in ma.FEATURE_GROUPS:
        rf = RandomForestRegressor(n_estimators=OFFICIAL_PROBE_TREES, min_samples_split=5, max_features=1 / 3,
                                   random_state=SEED, n_jobs=1).fit(data[g][probe], data["target"][probe])
        # mean depth at which a training row reaches its leaf (the walk length when predicting)
        d = [est.decision_path(data[g][probe].astype(np.float32)).sum(axis=1).mean() - 1 for est in rf.estimators_]
        depth[g] = float(np.mean(d))
    print("official-settings mean walk depth:", {g: round(v, 2) for g, v in depth.items()})

    import sklearn

    meta = {
        "paper": "Ma, Yang, Yang, Yang, CVIU 2017 (miniature retraining, see scripts/train_ma_model.py)",
        "all_photos": list(ALL_PHOTOS), "train_photos": list(TRAIN_PHOTOS), "heldout_photos": list(HELDOUT_PHOTOS),
        "crops_per_image": CROPS, "crop": CROP, "scales": list(SCALES), "methods": list(ma.SR_METHODS), "seed": SEED,
        "n_samples": int(len(rows)), "n_rows_stored": int(len(data["target"])), "target": ma.TARGET_NAME,
        "judge_sha256": judge_sha256(),
        "n_trees": N_TREES, "max_depth": MAX_DEPTH, "min_samples_leaf": MIN_LEAF, "sklearn": sklearn.__version__,
        "oob_pearson": oob_r, "official_depth": depth, "official_rows": OFFICIAL_ROWS,
        "cpu_seconds": {"data set (features + target)": round(t_data, 1), "forests + fusion": round(t_fit, 1),
                        "total": round(time.process_time() - c0, 1)},
    }
    payload = {f"{g}_{k}": v for g, a in arrays.items() for k, v in a.items()}
    payload["fusion"] = fusion.astype(np.float64)
    for k in (*ma.FEATURE_GROUPS, "target"):
        payload[f"data_{k}"] = data[k].astype(np.float32)
    for k in ("photo", "scale", "method"):
        payload[f"data_{k}"] = data[k].astype(np.int8)
    payload["meta"] = np.array(json.dumps(meta, sort_keys=True))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(args.out, **payload)
    print(f"wrote {args.out} ({args.out.stat().st_size / 1024:.0f} KiB) in {time.perf_counter() - t0:.1f} s wall, "
          f"{time.process_time() - c0:.1f} s CPU")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
