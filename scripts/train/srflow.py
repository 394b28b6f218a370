"""Train the SRFlow chapter's networks: an L1 regressor and a conditional flow, 3 seeds each (utils.checkpoints).

    python scripts/train/srflow.py [--out DIR] [--only NAME ...] [--smoke N]

Checkpoints (replicate k = 0, 1, 2 uses seed ``k + PAPER_DAILY_SEED`` for its initialisation, its
training crops, their order and the dequantisation noise):

- ``reg_<k>``: ``utils.flow.LRRegressor`` (x4) trained with L1, the PSNR-oriented network. SRFlow starts
  from a PSNR-trained RRDB network in this role; it is also the chapter's deterministic baseline.
- ``flow_<k>``: ``utils.flow.TinySRFlow`` conditioned on the frozen ``reg_<k>`` (its LR features are ``u``;
  its prediction is the fixed conditional shift the flow starts with), trained by the NLL alone (learning rate with a cosine decay, split priors conditioned on ``u``). Only the
  flow's own layers are saved (``blocks`` and ``splits``); the regressor comes from ``reg_<k>``.

Training crops are 48x48 (12x12 inputs) for the regressor and 32x32 (8x8 inputs) for the flow, from the left
75 % of every packaged photo's columns; the held-out
crops, 96x96 (24x24 inputs), from the right 25 % (``utils.sr.sr_split_pairs``). One thread throughout
(the flow's verdicts were once seen to change between one and two threads).
"""
from __future__ import annotations

import functools
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from utils import checkpoints as ckpt  # noqa: E402
from utils.degrade import bicubic_up  # noqa: E402
from utils.flow import FrozenConditioner, LRRegressor, TinySRFlow  # noqa: E402
from utils.metrics import psnr  # noqa: E402
from utils.repro import get_device, seed_everything, seed_shift  # noqa: E402
from utils.sr import sr_split_pairs  # noqa: E402
from utils.train import batches  # noqa: E402

CHAPTER = "srflow"
SMOKE_STEPS = 3
SCALE = 4
HR_TRAIN, N_TRAIN = 48, 4096         # the regressor's training crops (12x12 inputs)
HR_FLOW = 32                         # the flow's training crops (8x8 inputs), from the same columns
HR_TEST, N_TEST, TEST_BASE_SEED = 96, 72, 5
REG_ARCH = dict(scale=SCALE, width=32, blocks=4)
FLOW_ARCH = dict(scale=SCALE, levels=3, steps=2, hidden=32, split_conditional=True)
REG = dict(steps=1400, batch=16, lr=1e-3)
FLOW = dict(steps=1500, batch=16, lr=1e-3, clip=5.0, schedule="cosine")
CODE_FILES = ["utils/flow.py", "utils/sr.py", "utils/train.py", "utils/degrade.py", "utils/data.py"]
LOG_EVERY = 25
N_REPLICATES = 3
HELDOUT_TOLERANCE = {"psnr_db": 0.1, "psnr_gain_db": 0.1, "nll_heldout": 0.05, "nll_train": 0.05,
                     "lr_psnr_tau08_heldout": 0.5, "lr_psnr_tau08_train": 0.5}


def checkpoints() -> dict:
    """Every checkpoint this script trains: name -> configuration (JSON)."""
    shift = seed_shift()
    out = {}
    for k in range(N_REPLICATES):
        out[f"reg_{k}"] = dict(kind="reg", replicate=k, seed=k + shift, arch=REG_ARCH, **REG)
    for k in range(N_REPLICATES):
        out[f"flow_{k}"] = dict(kind="flow", replicate=k, seed=k + shift, arch=FLOW_ARCH, init=f"reg_{k}", **FLOW)
    return out


def test_set():
    """The held-out crops (right 25 % of every photo), seeded by PAPER_DAILY_SEED like the chapter's."""
    return sr_split_pairs(N_TEST, HR_TEST, SCALE, split="test", seed=TEST_BASE_SEED + seed_shift())


@functools.lru_cache(maxsize=None)
def train_set(seed: int, hr: int = HR_TRAIN):
    return sr_split_pairs(N_TRAIN, hr, SCALE, split="train", seed=seed)


def bicubic(lr: torch.Tensor) -> torch.Tensor:
    """MATLAB-style bicubic upscaling of a batch (the baseline of the SR gate)."""
    return torch.stack([torch.from_numpy(bicubic_up(im.permute(1, 2, 0).double().numpy(), SCALE)).permute(2, 0, 1).float()
                        for im in lr])


def mean_psnr(out: torch.Tensor, hr: torch.Tensor) -> float:
    return float(np.mean([psnr(o, h) for o, h in zip(out.clamp(0, 1), hr)]))


def build_flow(reg: LRRegressor) -> TinySRFlow:
    """The chapter's flow around a (frozen) regressor: u = its LR features, base shift = its prediction."""
    cond = FrozenConditioner(reg)
    return TinySRFlow(cond_channels=cond.channels, encoder=cond, base=reg, **FLOW_ARCH)


def flow_core(flow: TinySRFlow) -> nn.Module:
    """The flow's own trainable layers (what a flow checkpoint holds)."""
    return nn.ModuleDict({"blocks": flow.blocks, "splits": flow.splits})


def lr_psnr(flow: TinySRFlow, lr: torch.Tensor, tau: float, seed: int) -> float:
    """Mean PSNR (dB) between the bicubic x1/4 of one sample per input at ``tau`` and the LR input."""
    from utils.degrade import bicubic_down

    with torch.no_grad():
        s = flow.sample(lr, tau, n=1, generator=torch.Generator().manual_seed(seed))[0].clamp(0, 1)
    return float(np.mean([psnr(bicubic_down(o.permute(1, 2, 0).double().numpy(), SCALE), x.permute(1, 2, 0).double().numpy())
                          for o, x in zip(s, lr)]))


def train_reg(name, cfg, args, device):
    seed_everything(cfg["seed"])
    lr_tr, hr_tr = train_set(cfg["seed"])
    reg = LRRegressor(**cfg["arch"]).to(device)
    opt = torch.optim.Adam(reg.parameters(), lr=cfg["lr"])
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, cfg["steps"])
    data = batches((lr_tr, hr_tr), cfg["batch"], seed=cfg["seed"], device=device)
    run = ckpt.TrainingRun(CHAPTER, name, seed=cfg["seed"], args=cfg, code_files=CODE_FILES, out_dir=args.out)
    n = ckpt.steps_to_run(cfg["steps"], args)
    for step in range(1, n + 1):
        x, y = next(data)
        loss = F.l1_loss(reg(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if step == 1 or step % LOG_EVERY == 0:
            run.log(step, loss=loss.item())
    reg = ckpt.round_fp16_(reg.cpu().eval())
    heldout = {}
    if not args.smoke:
        lr_te, hr_te = test_set()
        with torch.no_grad():
            p = mean_psnr(reg(lr_te), hr_te)
        heldout = {"psnr_db": p, "psnr_gain_db": p - mean_psnr(bicubic(lr_te), hr_te)}
    return reg, run.finish(reg, steps=n, samples_seen=n * cfg["batch"], heldout=heldout)


def train_flow(name, cfg, args, device, reg):
    seed_everything(cfg["seed"])
    lr_tr, hr_tr = train_set(cfg["seed"], HR_FLOW)
    reg = reg.to(device).eval()
    flow = build_flow(reg).to(device)
    flow.train()
    params = [p for p in flow.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=cfg["lr"])
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, cfg["steps"])
    data = batches((lr_tr, hr_tr), cfg["batch"], seed=cfg["seed"], device=device)
    noise = torch.Generator(device=device).manual_seed(cfg["seed"])
    run = ckpt.TrainingRun(CHAPTER, name, seed=cfg["seed"], args=cfg, code_files=CODE_FILES, out_dir=args.out)
    n = ckpt.steps_to_run(cfg["steps"], args)
    for step in range(1, n + 1):
        x, y = next(data)
        loss = flow.nll_bits(y, x, generator=noise)
        opt.zero_grad()
        loss.backward()
        gnorm = nn.utils.clip_grad_norm_(params, cfg["clip"])
        opt.step()
        sched.step()
        if step == 1 or step % LOG_EVERY == 0:
            run.log(step, loss=loss.item(), grad_norm=float(gnorm))
    flow = flow.cpu().eval()
    core = ckpt.round_fp16_(flow_core(flow))
    heldout = {}
    if not args.smoke:
        lr_te, hr_te = test_set()
        g = torch.Generator().manual_seed(1)
        with torch.no_grad():
            heldout = {
                "nll_heldout": float(flow.nll_bits(hr_te, lr_te, generator=g)),
                "nll_train": float(flow.nll_bits(hr_tr[:256], lr_tr[:256], generator=g)),
            }
        heldout["lr_psnr_tau08_heldout"] = lr_psnr(flow, lr_te, 0.8, 2)
        heldout["lr_psnr_tau08_train"] = lr_psnr(flow, lr_tr[:256], 0.8, 2)
    return flow, run.finish(core, steps=n, samples_seen=n * cfg["batch"], heldout=heldout)


def main(argv=None):
    configs = checkpoints()
    args = ckpt.parse_args(argv, names=list(configs))
    torch.set_num_threads(1)
    device = get_device()
    entries, regs = {}, {}
    for name in args.names:
        cfg = configs[name]
        if cfg["kind"] == "reg":
            regs[name], entries[name] = train_reg(name, cfg, args, device)
        else:
            init = cfg["init"]
            if args.smoke is not None:  # replay the logged start of the flow: it trained on the shipped regressor
                reg, _ = ckpt.load(CHAPTER, init, LRRegressor(**configs[init]["arch"]))
            elif init in regs:
                reg = regs[init]
            else:  # trained earlier (or by another --only run): load it from the output folder or the shipped weights
                reg, _ = ckpt.load(CHAPTER, init, LRRegressor(**configs[init]["arch"]), weights_dir=args.out)
            _, entries[name] = train_flow(name, cfg, args, device, reg)
    ckpt.report(args, entries)


if __name__ == "__main__":
    main()
