"""Train the book's independent judge network (``utils.judge.JudgeNet``) offline, on 1 CPU thread.

The judge measures perceptual findings; no arm of any chapter may train against it (verdict
standard, section 5). It is therefore kept apart from the loss network
(``utils.features.FeatureNet``, ``scripts/train_feature_net.py``) in architecture (residual, 5x5
stem, strided and dilated convolutions), seed (``utils.judge.TRAIN_SEED`` = 7, not 0) and image
split (training never sees the LEFT 25% of each image's columns; the feature net holds out the right
25%).

Task: 17-way classification of which packaged image (``utils.data.IMAGE_NAMES``, grey images
repeated to RGB) a random crop comes from. The global average of tap ``s4`` feeds a linear layer
that is dropped afterwards. Augmentation: horizontal and vertical flips, transposition, and
brightness/contrast jitter (``utils.features.photometric_jitter``). There is deliberately no blur
or noise augmentation, so the judge stays sensitive to both. The held-out accuracy (crops of the
left 25%) and ``utils.judge.content_separation`` (trained vs. the initial weights) go into the
manifest.

Deterministic for a given seed (``utils.repro.seed_everything``, deterministic algorithms, a seeded
generator for the crops, 1 thread); a step budget, never a time budget. Writes float16 weights
(``--out``, default ``utils/weights/judge_net.pt``) and a manifest json with the same stem that
records architecture, seed, split, steps, results, timings, the torch version and the sha256 of
the weights file, which ``utils.judge.load_judge_net`` checks (``torch.save`` stores the file's stem
inside the archive, so the bytes, and their sha256, depend on the file name; ``--out`` to another name
gives the same weights but another file hash).

    python scripts/train_judge_net.py [--seed 7] [--steps 2000] [--out utils/weights/judge_net.pt]
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from utils.data import IMAGE_NAMES, load_image  # noqa: E402
from utils.features import JITTER_BRIGHTNESS, JITTER_CONTRAST, photometric_jitter  # noqa: E402
from utils.judge import (  # noqa: E402
    HOLDOUT_FRACTION,
    TRAIN_SEED,
    JudgeNet,
    content_separation,
    file_sha256,
    holdout_end,
    judge_split_crops,
)
from utils.repro import seed_everything  # noqa: E402

CROP = 48
BATCH = 48
LR = 3e-3
WEIGHT_DECAY = 5e-4
STEPS = 2000
VAL_PER_IMAGE = 40
VAL_SEED = 4321
VAL_CROP = 48


class _Head(nn.Module):
    """JudgeNet + global average of s4 + a linear classifier (used in training only)."""

    def __init__(self, n_classes: int):
        super().__init__()
        self.features = JudgeNet()
        self.head = nn.Linear(JudgeNet.WIDTHS[-1], n_classes)

    def forward(self, x):
        return self.head(self.features(x, "s4")["s4"].mean(dim=(2, 3)))


def _batch(imgs: list[torch.Tensor], gen: torch.Generator):
    labels = torch.randint(0, len(imgs), (BATCH,), generator=gen)
    out = []
    for lab in labels.tolist():
        img = imgs[lab]
        h, w = img.shape[1:]
        y = int(torch.randint(0, h - CROP + 1, (1,), generator=gen))
        x = int(torch.randint(0, w - CROP + 1, (1,), generator=gen))
        c = img[:, y : y + CROP, x : x + CROP]
        flips = torch.randint(0, 2, (3,), generator=gen).tolist()
        if flips[0]:
            c = c.flip(2)
        if flips[1]:
            c = c.flip(1)
        if flips[2]:
            c = c.transpose(1, 2)
        out.append(c)
    return photometric_jitter(torch.stack(out), generator=gen), labels


def _accuracy(model: _Head, x, y) -> float:
    model.eval()
    with torch.no_grad():
        pred = torch.cat([model(xb).argmax(1) for xb in x.split(256)])
    model.train()
    return float((pred == y).float().mean())


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seed", type=int, default=TRAIN_SEED)
    ap.add_argument("--steps", type=int, default=STEPS)
    ap.add_argument("--out", type=Path, default=ROOT / "utils" / "weights" / "judge_net.pt")
    args = ap.parse_args(argv)
    if args.steps < 1:
        ap.error("--steps must be >= 1")

    t_start = time.time()
    torch.set_num_threads(1)
    seed_everything(args.seed)
    model = _Head(len(IMAGE_NAMES))  # built right after seeding: load_judge_net(kind="random") repeats this init
    gen = torch.Generator().manual_seed(args.seed)

    imgs = []
    for name in IMAGE_NAMES:
        img = torch.from_numpy(load_image(name, gray=False)).permute(2, 0, 1).float()
        imgs.append(img[:, :, holdout_end(img.shape[2]) :].contiguous())
    x_val, y_val = judge_split_crops("heldout", VAL_PER_IMAGE, VAL_CROP, seed=VAL_SEED)

    opt = torch.optim.AdamW(model.parameters(), lr=LR, weight_decay=WEIGHT_DECAY)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=LR, total_steps=args.steps, pct_start=0.15)
    t_train, cpu_train = time.time(), time.process_time()
    for step in range(1, args.steps + 1):
        xb, yb = _batch(imgs, gen)
        loss = F.cross_entropy(model(xb), yb)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        if step % 100 == 0 or step == args.steps:
            print(f"step {step:5d}  loss {loss.item():.3f}  {time.process_time() - cpu_train:.0f} CPU s", flush=True)
    train_time, train_cpu = time.time() - t_train, time.process_time() - cpu_train

    net = model.features.eval()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(args.seed)
        initial = JudgeNet().eval()  # the weights training started from
    args.out.parent.mkdir(parents=True, exist_ok=True)
    torch.save({k: v.detach().half().clone() for k, v in net.state_dict().items()}, args.out)
    # measure on the float16 weights as shipped
    shipped = JudgeNet.from_file(args.out).eval()
    scorer = _Head(len(IMAGE_NAMES))
    scorer.features, scorer.head = shipped, model.head
    result = {
        "purpose": "independent judge for perceptual findings (verdict standard section 5); never a training loss",
        "task": "classify which packaged image (utils.data.IMAGE_NAMES, 17) a crop comes from",
        "architecture": "JudgeNet: 5x5 stem 3->16 | stride-2 3x3 16->32 + residual block | stride-2 3x3 32->64 "
        "+ residual block | stride-2 3x3 64->80 + residual block with dilation 2; ReLU, no norm, no pooling",
        "widths": list(JudgeNet.WIDTHS),
        "taps": list(JudgeNet.TAPS),
        "parameters": sum(p.numel() for p in net.parameters()),
        "seed": args.seed,
        "split": f"training never sees the LEFT {HOLDOUT_FRACTION:.0%} of every image's columns "
        "(utils.judge.holdout_end); the feature net holds out the right 25% instead",
        "steps": args.steps,
        "batch": BATCH,
        "crop": CROP,
        "optimizer": f"AdamW lr {LR} weight decay {WEIGHT_DECAY}, one-cycle schedule",
        "augment": f"hflip, vflip, transpose, brightness +-{JITTER_BRIGHTNESS}, "
        f"contrast x[{1 - JITTER_CONTRAST}, {1 + JITTER_CONTRAST}]; no blur, no noise",
        "heldout_accuracy": round(_accuracy(scorer, x_val, y_val), 4),
        "heldout_accuracy_measure": f"{VAL_PER_IMAGE} crops {VAL_CROP}x{VAL_CROP} per image from the held-out left "
        f"part (seed {VAL_SEED}), the training head on the float16 weights; chance 1/17 = 0.059",
        "content_separation_measure": "utils.judge.content_separation defaults: nearest-centroid accuracy of 24 "
        "held-out (left) crops per image against centroids of 24 training-part crops per image, photometric "
        "jitter, spatial mean of s3 + s4, cosine; 'random' is the initial weights (same seed)",
        "content_separation": round(content_separation(shipped), 4),
        "content_separation_random": round(content_separation(initial), 4),
        "content_separation_nojitter": round(content_separation(shipped, jitter=False), 4),
        "content_separation_nojitter_random": round(content_separation(initial, jitter=False), 4),
        "train_seconds": round(train_time, 1),
        "train_cpu_seconds": round(train_cpu, 1),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "weights_bytes": args.out.stat().st_size,
        "weights_sha256": file_sha256(args.out),
    }
    result["total_seconds"] = round(time.time() - t_start, 1)
    args.out.with_suffix(".json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
