"""Train the checkpoints of chapters/mirnet.md: five denoisers x three seeds, all at the same budget.

Arms (all ~84 k parameters, the same data, steps, batch, optimiser and loss):

- ``skff``: the tiny MIRNet (8 features, one RRG of one MRB, 3 streams, 2 columns), fusion by SKFF;
- ``sum`` / ``concat``: the same with SKFF replaced by a plain sum / by concatenation + 1x1 conv;
- ``h1``: one stream only (height 1, full resolution, 46 features: the same parameter count);
- ``plain``: a DnCNN-style plain residual CNN (11 convs of 32 channels, He init, last conv zero).

Data: 16x16 crops of six packaged photos, white Gaussian noise sigma 25/255 drawn afresh at every step;
Charbonnier loss (eps 1e-3) as in the official code; Adam, constant learning rate.
Held-out numbers: mean PSNR on the chapter's three 64x64 test crops (noise seeds 100, 101, 102), and for
SKFF the mean |attention weight - 1/3| on them.

``python scripts/train/mirnet.py [--out DIR] [--only NAME ...] [--smoke N]``
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from utils import checkpoints as ckpt  # noqa: E402
from utils import data, degrade, metrics  # noqa: E402
from utils.convert import to_numpy, to_tensor  # noqa: E402
from utils.losses import charbonnier  # noqa: E402
from utils.mirnet import MIRNet, PlainCNN, attention_spread  # noqa: E402
from utils.repro import seed_everything  # noqa: E402
from utils.train import batches  # noqa: E402

CHAPTER = "mirnet"
SMOKE_STEPS = 5
SIGMA = 25 / 255
TRAIN_NAMES = ["astronaut", "rocket", "china", "flower", "grace_hopper", "hubble"]
TEST_NAMES = ["chelsea", "coffee", "ihc"]
STEPS, BATCH, LR, CROP = 600, 8, 2e-3, 16
ARMS = ("skff", "sum", "concat", "h1", "plain")
SEEDS = (0, 1, 2)
CHECKPOINTS = {f"{arm}_s{s}": dict(arm=arm, seed=s, steps=STEPS, batch=BATCH, lr=LR, crop=CROP, sigma=SIGMA)
               for arm in ARMS for s in SEEDS}
CODE_FILES = ["scripts/train/mirnet.py", "utils/mirnet.py"]  # the files that define what is trained


def make(arm: str) -> torch.nn.Module:
    """The network of one arm (untrained)."""
    if arm == "plain":
        return PlainCNN(width=32, depth=11)
    if arm == "h1":
        return MIRNet(n_feat=46, n_RRG=1, n_MSRB=1, height=1)
    return MIRNet(n_feat=8, n_RRG=1, n_MSRB=1, fusion=arm)


def test_set(noise_seed: int = 100):
    """The chapter's held-out crops: clean (N, 64, 64, 3) and noisy tensor (N, 3, 64, 64)."""
    clean = np.stack([data.load_image(n, size=64) for n in TEST_NAMES])
    noisy = np.stack([degrade.gaussian_noise(im, SIGMA, seed=noise_seed + i, clip=False) for i, im in enumerate(clean)])
    return clean, torch.tensor(noisy.transpose(0, 3, 1, 2), dtype=torch.float32)


def evaluate(model, clean, x):
    model.eval()
    with torch.no_grad():
        out = to_numpy(model(x))
    return float(np.mean([metrics.psnr(o, c) for o, c in zip(out, clean)]))


def main(argv=None):
    args = ckpt.parse_args(argv, names=list(CHECKPOINTS))
    patches, _ = data.patch_set(TRAIN_NAMES, 64, CROP, seed=0)
    clean_train = to_tensor(patches)
    clean, x_test = test_set()
    entries = {}
    for name in args.names:
        cfg = CHECKPOINTS[name]
        torch.set_num_threads(1)
        seed_everything(cfg["seed"])
        run = ckpt.TrainingRun(CHAPTER, name, seed=cfg["seed"], args=cfg, code_files=CODE_FILES, out_dir=args.out)
        model = make(cfg["arm"])
        opt = torch.optim.Adam(model.parameters(), lr=cfg["lr"])
        stream = batches((clean_train,), cfg["batch"], seed=cfg["seed"])
        noise = torch.Generator().manual_seed(1000 + cfg["seed"])
        steps = ckpt.steps_to_run(cfg["steps"], args)
        for step in range(1, steps + 1):
            (y,) = next(stream)
            x = y + cfg["sigma"] * torch.randn(y.shape, generator=noise)
            loss = charbonnier(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            if step == 1 or step % 25 == 0 or step == steps:
                row = {"loss": loss.item()}
                if step % 100 == 0 and not args.smoke:
                    row["test_psnr_db"] = evaluate(model, clean, x_test)
                    if cfg["arm"] == "skff":
                        row["attention_spread"] = attention_spread(model)
                    model.train()
                run.log(step, **row)
        ckpt.round_fp16_(model)
        heldout = {}
        if not args.smoke:
            heldout["psnr_db"] = evaluate(model, clean, x_test)
            if cfg["arm"] == "skff":
                heldout["attention_spread"] = attention_spread(model)
        entries[name] = run.finish(model, steps=steps, samples_seen=steps * cfg["batch"], heldout=heldout)
    ckpt.report(args, entries)


if __name__ == "__main__":
    main()
