"""Train the checkpoints of chapters/hifacegan.md: three ablation arms x six seeds, all at the same budget.

Arms (one skeleton, utils/hifacegan.py; 74.8-75.6 k parameters each, within 1.1 %):

- ``hifacegan``: LIP downsampling, SPADE decoder blocks modulated by the pyramid (HiFaceGAN-mini);
- ``concat``: LIP downsampling, decoder blocks fed the pyramid by concatenation (the U-Net skip), widened;
- ``avgpool``: the LIP stage's conv + instance norm as a plain layer, then 3x3 average pooling; SPADE decoder.

Seeds 0-2 (the chapter's ``CKPT_SEEDS``; ``PAPER_DAILY_SEED`` shifts its held-out test degradations, not these). A
seed fixes the training degradations (``training_pairs(seed)``), the initialisation and the batch order, shared by
the three arms. 500 Adam steps, batch 8, learning rate 2e-3, L1 loss. Held-out number: PSNR gain over the degraded
input on the chapter's 20 test faces (test seed 1000), averaged over the five degradation types.

``python scripts/train/hifacegan.py [--out DIR] [--only NAME ...] [--smoke N]``
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from utils import checkpoints as ckpt  # noqa: E402
from utils.hifacegan import DEGRADATIONS, make_arm, test_set, training_pairs  # noqa: E402
from utils.metrics import psnr  # noqa: E402
from utils.repro import seed_everything  # noqa: E402
from utils.train import batches  # noqa: E402

CHAPTER = "hifacegan"
SMOKE_STEPS = 5
STEPS, BATCH, LR = 500, 8, 2e-3
ARM_NAMES = {"hifacegan": "HiFaceGAN (SPADE + LIP)", "concat": "concat skip + LIP", "avgpool": "SPADE + avg pool"}
SEEDS = (0, 1, 2)
CHECKPOINTS = {f"{arm}_s{s}": dict(arm=arm, seed=s, steps=STEPS, batch=BATCH, lr=LR) for arm in ARM_NAMES for s in SEEDS}
CODE_FILES = ["scripts/train/hifacegan.py", "utils/hifacegan.py", "utils/layers.py"]


def psnr_gain(model, clean, test) -> float:
    """Mean over types of (PSNR of the restored faces - PSNR of the degraded faces), dB."""
    model.eval()
    gains = []
    with torch.no_grad():
        for k in DEGRADATIONS:
            out = model(test[k]).clamp(0, 1)
            gains.append(np.mean([psnr(o[0].double().numpy(), c[0].double().numpy()) - psnr(d[0].double().numpy(), c[0].double().numpy())
                                  for o, d, c in zip(out, test[k], clean)]))
    model.train()
    return float(np.mean(gains))


def main(argv=None):
    args = ckpt.parse_args(argv, names=list(CHECKPOINTS))
    clean, test = test_set(1000)
    entries, data_cache = {}, {}
    for name in args.names:
        cfg = CHECKPOINTS[name]
        torch.set_num_threads(1)
        if cfg["seed"] not in data_cache:
            data_cache[cfg["seed"]] = training_pairs(cfg["seed"])
        xd, xc = data_cache[cfg["seed"]]
        seed_everything(cfg["seed"])
        run = ckpt.TrainingRun(CHAPTER, name, seed=cfg["seed"], args=cfg, code_files=CODE_FILES, out_dir=args.out)
        model = make_arm(ARM_NAMES[cfg["arm"]])
        opt = torch.optim.Adam(model.parameters(), lr=cfg["lr"])
        stream = batches((xd, xc), cfg["batch"], seed=cfg["seed"])
        steps = ckpt.steps_to_run(cfg["steps"], args)
        for step in range(1, steps + 1):
            x, y = next(stream)
            loss = F.l1_loss(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            if step == 1 or step % 25 == 0:  # STEPS is a multiple of 25: the last step is logged too
                row = {"loss": loss.item()}
                if step % 100 == 0 and not args.smoke:
                    row["test_psnr_gain_db"] = psnr_gain(model, clean, test)
                run.log(step, **row)
        ckpt.round_fp16_(model)
        heldout = {} if args.smoke else {"psnr_gain_db": psnr_gain(model, clean, test)}
        entries[name] = run.finish(model, steps=steps, samples_seen=steps * cfg["batch"], heldout=heldout)
    ckpt.report(args, entries)


if __name__ == "__main__":
    main()
