"""Train the checkpoints of chapters/ep_gan.md: three JPEG enhancers x three seeds at the same budget.

Arms (``utils.edges.EdgeEnhancer``, the same data, steps, batch and optimiser; only the loss or the branch
differs):

- ``pixel``:  mean squared error;
- ``edge``:   MSE + LAMBDA x Sobel edge L2 loss ``mean (S(out) - S(y))^2`` (the note's edge-fidelity term);
- ``branch``: the network with the edge-prediction branch fused into its features; MSE + LAMBDA x the
  squared error of the *predicted* edge map against ``S(y)``.

Data: grey 32x32 crops of six packaged photos, each JPEG-compressed by itself at quality 10 and 20 (the
8x8 blocks align with the crop); Adam with a cosine learning-rate decay to 0.
Held-out numbers: mean PSNR-B (dB) of the chapter's four 128x128 test crops at both qualities.

``python scripts/train/ep_gan.py [--out DIR] [--only NAME ...] [--smoke N]``
"""
from __future__ import annotations

import math
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from utils import checkpoints as ckpt  # noqa: E402
from utils import data, degrade, metrics  # noqa: E402
from utils.edges import EdgeEnhancer, edge_loss, sobel_magnitude  # noqa: E402
from utils.repro import seed_everything  # noqa: E402
from utils.train import batches  # noqa: E402

CHAPTER = "ep_gan"
SMOKE_STEPS = 25  # the log has rows at steps 1 and 25
TRAIN_NAMES = ["astronaut", "rocket", "china", "flower", "grace_hopper", "hubble"]
TEST_NAMES = ["camera", "coins", "chelsea", "coffee"]
QUALITIES = (10, 20)
STEPS, BATCH, LR, LAMBDA = 1200, 16, 2e-3, 0.05
ARMS = ("pixel", "edge", "branch")
SEEDS = (0, 1, 2)
CHECKPOINTS = {f"{arm}_s{s}": dict(arm=arm, seed=s, steps=STEPS, batch=BATCH, lr=LR, lam=LAMBDA, schedule="cosine")
               for arm in ARMS for s in SEEDS}
CODE_FILES = ["scripts/train/ep_gan.py", "utils/edges.py"]  # the files that define what is trained


def training_pairs():
    """(JPEG, clean) tensors (1024, 1, 32, 32): 512 crops at each quality."""
    clean, _ = data.patch_set(TRAIN_NAMES, 512 // len(TRAIN_NAMES) + 1, 32, seed=0, gray=True)
    clean = clean[:512]
    xs, ys = [], []
    for q in QUALITIES:
        xs += [degrade.jpeg(c, q) for c in clean]
        ys += list(clean)
    return (torch.tensor(np.stack(xs)[:, None], dtype=torch.float32), torch.tensor(np.stack(ys)[:, None], dtype=torch.float32))


def test_set(size=128):
    clean = [data.load_image(n, gray=True, size=size) for n in TEST_NAMES]
    return clean, {q: [degrade.jpeg(c, q) for c in clean] for q in QUALITIES}


def enhance(model, img):
    with torch.no_grad():
        return np.clip(model(torch.tensor(img[None, None], dtype=torch.float32))[0, 0].numpy().astype(np.float64), 0, 1)


def main(argv=None):
    args = ckpt.parse_args(argv, names=list(CHECKPOINTS))
    X, Y = training_pairs()
    test_clean, test_jpeg = test_set()
    entries = {}
    for name in args.names:
        cfg = CHECKPOINTS[name]
        torch.set_num_threads(1)
        seed_everything(cfg["seed"])
        run = ckpt.TrainingRun(CHAPTER, name, seed=cfg["seed"], args=cfg, code_files=CODE_FILES, out_dir=args.out)
        model = EdgeEnhancer(edge_branch=cfg["arm"] == "branch")
        opt = torch.optim.Adam(model.parameters(), lr=cfg["lr"])
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda i: 0.5 * (1 + math.cos(math.pi * i / cfg["steps"])))
        stream = batches((X, Y), cfg["batch"], seed=cfg["seed"])
        steps = ckpt.steps_to_run(cfg["steps"], args)
        for step in range(1, steps + 1):
            x, y = next(stream)
            out = model(x)
            pix = F.mse_loss(out, y)
            extra = torch.zeros(())
            if cfg["arm"] == "edge":
                extra = edge_loss(out, y)
            elif cfg["arm"] == "branch":
                extra = F.mse_loss(model.last_edges, sobel_magnitude(y))
            loss = pix + cfg["lam"] * extra
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            if step == 1 or step % 25 == 0 or step == cfg["steps"]:
                run.log(step, loss=loss.item(), pixel=pix.item(), edge_term=float(extra.item()))
        model.eval()
        ckpt.round_fp16_(model)
        heldout = {}
        if not args.smoke:
            for q in QUALITIES:
                heldout[f"psnr_b_q{q}"] = float(np.mean([metrics.psnr_b(c, enhance(model, j)) for c, j in zip(test_clean, test_jpeg[q])]))
        entries[name] = run.finish(model, steps=steps, samples_seen=steps * cfg["batch"], heldout=heldout)
    ckpt.report(args, entries)


if __name__ == "__main__":
    main()
