"""Train the checkpoints of chapters/bbn.md: CE, RW, RS networks and BBN with five schedules (and the balanced
sampler of the paper's Table 3), five seeds each, all at the same number of samples seen.

Data: ``utils.longtail.shifted_digit_sets`` (long-tailed shifted noisy digits, n_max 300, IR 20, canvas 9,
data seed 5). Networks: ``utils.longtail.DigitNet`` (end to end) and ``BilateralBranchNet``; Adam, lr 3e-3 with
a cosine decay to 0, weight decay 5e-4, 1,600 steps of 64 samples (BBN: 32 per branch).
Held-out numbers: balanced test error (%) overall, on the head (0-2) and on the tail (7-9) classes.

``python scripts/train/bbn.py [--out DIR] [--only NAME ...] [--smoke N]``
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import torch  # noqa: E402

from utils import checkpoints as ckpt  # noqa: E402
from utils.longtail import SCHEDULES, long_tail_counts, shifted_digit_sets, train_bbn, train_end_to_end  # noqa: E402

CHAPTER = "bbn"
SMOKE_STEPS = 2
N_MAX, IR, DATA_SEED = 300, 20, 5
STEPS, BATCH, LR = 1600, 64, 3e-3
SEEDS = (0, 1, 2, 3, 4)
SLUG = {s: s.replace(" ", "_").replace(".", "") for s in SCHEDULES}
CHECKPOINTS = {}
for s in SEEDS:
    for m in ("CE", "RW", "RS"):
        CHECKPOINTS[f"{m.lower()}_s{s}"] = dict(kind="end_to_end", method=m, seed=s, steps=STEPS, batch=BATCH, lr=LR)
    for sch in SCHEDULES:
        CHECKPOINTS[f"bbn_{SLUG[sch]}_s{s}"] = dict(kind="bbn", schedule=sch, sampler="reversed", seed=s, steps=STEPS, batch=BATCH, lr=LR)
    CHECKPOINTS[f"bbn_balanced_sampler_s{s}"] = dict(kind="bbn", schedule="parabolic decay", sampler="balanced", seed=s, steps=STEPS, batch=BATCH, lr=LR)
CODE_FILES = ["scripts/train/bbn.py", "utils/longtail.py", "utils/data.py"]
HELDOUT_TOLERANCE = {"error_all": 1.0, "error_head": 2.0, "error_tail": 2.0}


def errors(logits, y):
    wrong = (logits.argmax(1) != y).float()
    return {"error_all": 100 * float(wrong.mean()), "error_head": 100 * float(wrong[y <= 2].mean()), "error_tail": 100 * float(wrong[y >= 7].mean())}


def main(argv=None):
    args = ckpt.parse_args(argv, names=list(CHECKPOINTS))
    torch.set_num_threads(1)
    torch.backends.mkldnn.enabled = False       # tiny convolutions: the plain kernels are faster
    counts = long_tail_counts(N_MAX, IR, 10)
    sets = shifted_digit_sets(counts, seed=DATA_SEED)
    (X, y), (Xte, yte) = sets["train"], sets["test"]
    entries = {}
    for name in args.names:
        cfg = CHECKPOINTS[name]
        run = ckpt.TrainingRun(CHAPTER, name, seed=cfg["seed"], args=cfg, code_files=CODE_FILES, out_dir=args.out)
        steps = ckpt.steps_to_run(cfg["steps"], args)
        log = lambda step, loss: run.log(step, loss=loss)  # noqa: E731
        if cfg["kind"] == "end_to_end":
            net = train_end_to_end(cfg["method"], X, y, counts, seed=cfg["seed"], steps=cfg["steps"], batch=cfg["batch"], lr=cfg["lr"], log=log,
                                   stop=steps)
        else:
            net = train_bbn(cfg["schedule"], X, y, seed=cfg["seed"], steps=cfg["steps"], batch=cfg["batch"], lr=cfg["lr"], sampler=cfg["sampler"],
                            log=log, stop=steps)
        net.eval()
        ckpt.round_fp16_(net)
        heldout = {}
        if not args.smoke:
            with torch.no_grad():
                heldout = errors(net(Xte), yte)
        entries[name] = run.finish(net, steps=steps, samples_seen=steps * cfg["batch"], heldout=heldout)
    ckpt.report(args, entries)


if __name__ == "__main__":
    main()
