"""Train the self-supervised feature network of chapters/lpips.md (the note's "self-supervised networks also work").

The arm: the book's ``FeatureNet`` architecture (``utils.features``), trained WITHOUT any label by a
contrastive pretext task (InfoNCE, as in SimCLR, Chen et al., ICML 2020): two views of each 56x56 crop
(random 40x40 windows, flips, exposure jitter) must be closer to each other, after global average pooling
of ``relu4_2`` and a linear projection (thrown away afterwards), than to the other views of the batch.
(Rotation prediction, tried first, stayed at chance, loss ln 4, for 700 steps at this scale.)
The supervised feature net of the book learns to tell which photo a crop
comes from; this one never sees that label. The same training part of every packaged image (the left
75% of the columns, ``utils.features.holdout_start``) and the same photometric jitter are used, so the
two differ only in the task. The chapter uses the unit-normalised activations of its four taps with
uniform weights, exactly as the supervised net's "uniform" LPIPS.

Held-out number: view-matching accuracy among 272 views of crops from the held-out right quarter
(chance 1/272).

``python scripts/train/lpips.py [--out DIR] [--only NAME ...] [--smoke N]``
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from utils import checkpoints as ckpt  # noqa: E402
from utils.data import IMAGE_NAMES, load_image  # noqa: E402
from utils.features import FeatureNet, holdout_start, photometric_jitter, split_crops  # noqa: E402
from utils.repro import get_device, seed_everything  # noqa: E402

CHAPTER = "lpips"
SMOKE_STEPS = 4
CROP, VIEW, BATCH, LR, STEPS, SEED, TAU = 56, 40, 32, 2e-3, 700, 11, 0.2
CHECKPOINTS = {"contrastive_ssl": dict(task="contrastive: match two augmented views of a crop (InfoNCE)", seed=SEED,
                                       steps=STEPS, batch=BATCH, lr=LR, crop=CROP, view=VIEW, temperature=TAU,
                                       optimiser="AdamW wd 1e-4, one-cycle")}
CODE_FILES = ["scripts/train/lpips.py", "utils/features.py"]


class ContrastiveHead(nn.Module):
    """FeatureNet + global average pooling of relu4_2 + a linear projection to 64 dims (training only)."""

    def __init__(self):
        super().__init__()
        self.features = FeatureNet()
        self.head = nn.Linear(FeatureNet.WIDTHS[-1], 64)

    def forward(self, x):
        return F.normalize(self.head(self.features(x, "relu4_2")["relu4_2"].mean(dim=(2, 3))), dim=1)


def _view(crop: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """A random VIEW x VIEW window of a crop, randomly flipped."""
    off = CROP - VIEW
    y, x = (int(torch.randint(0, off + 1, (1,), generator=gen)) for _ in range(2))
    v = crop[:, y : y + VIEW, x : x + VIEW]
    return v.flip(2) if int(torch.randint(0, 2, (1,), generator=gen)) else v


def two_views(images, gen: torch.Generator, n: int = BATCH):
    """Two augmented views (shifted window, flip, exposure jitter) of each of ``n`` random training crops."""
    a, b = [], []
    for _ in range(n):
        img = images[int(torch.randint(0, len(images), (1,), generator=gen))]
        h, w = img.shape[1:]
        y = int(torch.randint(0, h - CROP + 1, (1,), generator=gen))
        x = int(torch.randint(0, w - CROP + 1, (1,), generator=gen))
        crop = img[:, y : y + CROP, x : x + CROP]
        a.append(_view(crop, gen))
        b.append(_view(crop, gen))
    return photometric_jitter(torch.stack(a), generator=gen), photometric_jitter(torch.stack(b), generator=gen)


def info_nce(za: torch.Tensor, zb: torch.Tensor) -> torch.Tensor:
    """Symmetric InfoNCE: each view must pick its partner among the batch's other views (temperature TAU)."""
    logits = za @ zb.t() / TAU
    target = torch.arange(len(za), device=za.device)
    return 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.t(), target))


def view_matching_accuracy(model: ContrastiveHead) -> float:
    """Held-out: fraction of views whose nearest other view (among 256 from the held-out quarter) is their partner."""
    x, _ = split_crops("heldout", 16, CROP, seed=1234)
    gen = torch.Generator().manual_seed(4321)
    a = photometric_jitter(torch.stack([_view(c, gen) for c in x]), generator=gen)
    b = photometric_jitter(torch.stack([_view(c, gen) for c in x]), generator=gen)
    model.eval()
    with torch.no_grad():
        za, zb = model(a), model(b)
    return float(((za @ zb.t()).argmax(1) == torch.arange(len(x))).float().mean())


def main(argv=None):
    args = ckpt.parse_args(argv, names=list(CHECKPOINTS), description=__doc__.split("\n\n")[0])
    device = get_device()
    images = []
    for name in IMAGE_NAMES:
        img = torch.from_numpy(load_image(name, gray=False)).permute(2, 0, 1).float()
        images.append(img[:, :, : holdout_start(img.shape[2])].contiguous())
    entries = {}
    for name in args.names:
        cfg = CHECKPOINTS[name]
        torch.set_num_threads(1)
        seed_everything(cfg["seed"])
        gen = torch.Generator().manual_seed(cfg["seed"])
        run = ckpt.TrainingRun(CHAPTER, name, seed=cfg["seed"], args=cfg, code_files=CODE_FILES, out_dir=args.out)
        model = ContrastiveHead().to(device)
        opt = torch.optim.AdamW(model.parameters(), lr=cfg["lr"], weight_decay=1e-4)
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg["lr"], total_steps=cfg["steps"], pct_start=0.1)
        steps = ckpt.steps_to_run(cfg["steps"], args)
        for step in range(1, steps + 1):
            xa, xb = two_views(images, gen)
            loss = info_nce(model(xa.to(device)), model(xb.to(device)))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            if step == 1 or step % 25 == 0:
                run.log(step, loss=loss.item())
        net = model.features.cpu()
        ckpt.round_fp16_(model)
        heldout = {} if args.smoke else {"view_matching_accuracy": view_matching_accuracy(model.cpu())}
        entries[name] = run.finish(net, steps=steps, samples_seen=steps * cfg["batch"], heldout=heldout)
    ckpt.report(args, entries)


if __name__ == "__main__":
    main()
