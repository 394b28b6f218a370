"""Train the book's perceptual feature network (``utils.features.FeatureNet``) offline (about 80 s on 2 idle CPU cores).

Task: 17-way classification of *which packaged image a random 48x48 crop comes from*, over all of
``utils.data.IMAGE_NAMES`` (grey images repeated to RGB). A global-average-pooled ``relu4_2`` feeds
a linear classifier that is thrown away afterwards; only the convolutions are kept. Crops are
augmented with random horizontal flips, 90-degree rotations and small brightness/contrast jitter, so
the features have to describe content (edges, textures, materials) rather than orientation or
exposure. Training only sees the left 75% of each image's columns; the right 25%
(``utils.features.HOLDOUT_FRACTION``) gives the held-out accuracy and the ``content_separation``
measure reported in the json.

Deterministic for a given seed and thread count (``utils.repro.seed_everything``, which also turns on
``torch.use_deterministic_algorithms``; a seeded generator for the crops; 2 threads); a step budget,
never a time budget. Writes the float16 weights (``--out``, default
``utils/weights/feature_net.pt``) and a json with the same stem holding the config and results.

    python scripts/train_feature_net.py [--seed 0] [--steps 900] [--out utils/weights/feature_net.pt]
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
from utils.repro import seed_everything  # noqa: E402
from utils.features import (  # noqa: E402
    JITTER_BRIGHTNESS,
    JITTER_CONTRAST,
    FeatureNet,
    content_separation,
    photometric_jitter,
    split_crops,
    holdout_start,
    load_feature_net,
)

CROP = 48
BATCH = 64
LR = 2e-3
WEIGHT_DECAY = 1e-4
VAL_PER_IMAGE = 40
VAL_SEED = 1234


def sample_batch(train_imgs: list[torch.Tensor], gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """A batch of augmented training crops and their source-image labels."""
    labels = torch.randint(0, len(train_imgs), (BATCH,), generator=gen)
    crops = []
    for lab in labels.tolist():
        img = train_imgs[lab]
        h, w = img.shape[1:]
        y = int(torch.randint(0, h - CROP + 1, (1,), generator=gen))
        x = int(torch.randint(0, w - CROP + 1, (1,), generator=gen))
        c = img[:, y : y + CROP, x : x + CROP]
        if int(torch.randint(0, 2, (1,), generator=gen)):
            c = c.flip(2)
        c = torch.rot90(c, int(torch.randint(0, 4, (1,), generator=gen)), dims=(1, 2))
        crops.append(c)
    return photometric_jitter(torch.stack(crops), generator=gen), labels


class Classifier(nn.Module):
    """FeatureNet + global average pooling of relu4_2 + a linear layer (training only)."""

    def __init__(self, n_classes: int):
        super().__init__()
        self.features = FeatureNet()
        self.head = nn.Linear(FeatureNet.WIDTHS[-1], n_classes)

    def forward(self, x):
        return self.head(self.features(x, "relu4_2")["relu4_2"].mean(dim=(2, 3)))


def accuracy(model: Classifier, x: torch.Tensor, y: torch.Tensor) -> float:
    model.eval()
    with torch.no_grad():
        pred = torch.cat([model(xb).argmax(1) for xb in x.split(256)])
    model.train()
    return float((pred == y).float().mean())


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--steps", type=int, default=900)
    ap.add_argument("--out", type=Path, default=ROOT / "utils" / "weights" / "feature_net.pt")
    args = ap.parse_args(argv)

    t_start = time.time()
    torch.set_num_threads(2)
    seed_everything(args.seed)  # Python, NumPy and torch seeds; torch.use_deterministic_algorithms(True)
    gen = torch.Generator().manual_seed(args.seed)

    train_imgs = []
    for name in IMAGE_NAMES:
        img = torch.from_numpy(load_image(name, gray=False)).permute(2, 0, 1).float()
        train_imgs.append(img[:, :, : holdout_start(img.shape[2])].contiguous())
    x_val, y_val = split_crops("heldout", VAL_PER_IMAGE, CROP, seed=VAL_SEED)

    model = Classifier(len(IMAGE_NAMES))
    opt = torch.optim.AdamW(model.parameters(), lr=LR, weight_decay=WEIGHT_DECAY)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=LR, total_steps=args.steps, pct_start=0.1)
    t_train, cpu_train = time.time(), time.process_time()
    for step in range(1, args.steps + 1):
        xb, yb = sample_batch(train_imgs, gen)
        loss = F.cross_entropy(model(xb), yb)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        if step % 100 == 0 or step == args.steps:
            print(f"step {step:5d}  loss {loss.item():.3f}  {time.time() - t_train:.0f}s", flush=True)
    train_time, train_cpu = time.time() - t_train, time.process_time() - cpu_train

    net = model.features.eval()
    result = {
        "task": "classify which packaged image (utils.data.IMAGE_NAMES, 17) a 48x48 crop comes from",
        "architecture": f"FeatureNet widths {list(FeatureNet.WIDTHS)}, {list(FeatureNet.CONVS_PER_STAGE)} convs per stage",
        "parameters": sum(p.numel() for p in net.parameters()),
        "seed": args.seed,
        "steps": args.steps,
        "batch": BATCH,
        "crop": CROP,
        "lr": LR,
        "weight_decay": WEIGHT_DECAY,
        "augment": f"hflip, rot90, brightness +-{JITTER_BRIGHTNESS}, contrast x[{1 - JITTER_CONTRAST}, {1 + JITTER_CONTRAST}]",
        "heldout": "right 25% of columns of every image",
        "heldout_accuracy": round(accuracy(model, x_val, y_val), 4),
        "content_separation_measure": "utils.features.content_separation defaults: nearest-centroid accuracy of "
        "24 held-out crops per image against centroids of 24 crops per image from the training part, "
        "photometric jitter, spatial mean of relu3_2 + relu4_2, cosine",
        "content_separation": round(content_separation(net), 4),
        "content_separation_random": round(content_separation(load_feature_net("random")), 4),
        "content_separation_nojitter": round(content_separation(net, jitter=False), 4),
        "content_separation_nojitter_random": round(content_separation(load_feature_net("random"), jitter=False), 4),
        "train_seconds": round(train_time, 1),
        "train_cpu_seconds": round(train_cpu, 1),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    torch.save({k: v.detach().half().clone() for k, v in net.state_dict().items()}, args.out)
    result["weights_bytes"] = args.out.stat().st_size
    result["total_seconds"] = round(time.time() - t_start, 1)
    args.out.with_suffix(".json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
