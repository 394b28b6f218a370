"""Train the ESRGAN chapter's networks: 5 arms x 3 seeds, with provenance (utils.checkpoints).

    python scripts/train/esrgan.py [--out DIR] [--only NAME ...] [--smoke N]

Arms (replicate ``k`` = 0, 1, 2 uses seed ``k + PAPER_DAILY_SEED`` for its initialisation, crops and order):

- ``psnr_<k>``: the PSNR-oriented RRDBNet, stage 1 (L1 loss only);
- ``gan_<k>``: ESRGAN, stage 2 from ``psnr_<k>``: L_percep (L1 on the deep tap *before* its activation,
  ``conv4_2`` of the book's feature network) + lambda L_G^Ra + eta L1, with the relativistic average
  discriminator (both relativistic losses averaged over their two terms, as BasicSR does);
- ``ganpost_<k>``: the same stage 2 with the perceptual loss *after* the activation (``relu4_2``): the
  paper's ablation of where to take the features (its Fig. 6);
- ``bn_<k>``, ``nobn_<k>``: two small SRResNets, identical except for BatchNorm, trained with L1 for the
  BatchNorm test (the chapter tests them under shifted photometric statistics).

Training crops come from the left 75 % of every packaged photo's columns, the held-out crops (96x96, i.e.
24x24 inputs) from the right 25 % (``utils.sr.sr_split_pairs``), as in the SRGAN chapter (its own copy of the
data code: the chapters never share files).
"""
from __future__ import annotations

import functools
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from utils import checkpoints as ckpt  # noqa: E402
from utils import gan  # noqa: E402
from utils.degrade import bicubic_up  # noqa: E402
from utils.features import load_feature_net  # noqa: E402
from utils.losses import perceptual_loss  # noqa: E402
from utils.metrics import psnr  # noqa: E402
from utils.repro import get_device, seed_everything, seed_shift  # noqa: E402
from utils.sr import sr_split_pairs  # noqa: E402
from utils.sr_models import RRDBNet, SRGANDiscriminator, SRResNet  # noqa: E402
from utils.train import batches  # noqa: E402

CHAPTER = "esrgan"
SMOKE_STEPS = 4
SCALE = 4
HR_TRAIN, N_TRAIN = 32, 4096
HR_TEST, N_TEST, TEST_BASE_SEED, MIN_DETAIL = 96, 72, 5, 0.01
TEST_PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "china", "grace_hopper", "ihc", "hubble")
ARCH = dict(channels=16, growth=8, n_blocks=1, scale=SCALE, global_skip=True)
BN_ARCH = dict(channels=24, n_blocks=2, scale=SCALE, head_kernel=3, tail_kernel=3, global_skip=True)
DISC = dict(input_size=HR_TRAIN, widths=(16, 32, 64), hidden=64)
STAGE1 = dict(steps=1500, batch=16, lr=1e-3)
STAGE2 = dict(steps=200, batch=16, lr_g=1e-4, lr_d=1e-4, lam=5e-3, eta=1e-2)
BN_TRAIN = dict(steps=2200, batch=16, lr=1e-3)
TAPS = {"gan": "conv4_2", "ganpost": "relu4_2"}
CODE_FILES = ["utils/sr_models.py", "utils/sr.py", "utils/gan.py", "utils/losses.py", "utils/features.py"]
LOG_EVERY = 25
HELDOUT_TOLERANCE = {"psnr_db": 0.1, "psnr_gain_db": 0.1, "adv_share_median": 0.05}
N_REPLICATES = 3


def checkpoints() -> dict:
    shift = seed_shift()
    out = {}
    for k in range(N_REPLICATES):
        out[f"psnr_{k}"] = dict(arm="psnr", replicate=k, seed=k + shift, arch=ARCH, **STAGE1)
    for k in range(N_REPLICATES):
        for arm, tap in TAPS.items():
            out[f"{arm}_{k}"] = dict(arm=arm, replicate=k, seed=k + shift, arch=ARCH, disc=DISC, tap=tap,
                                     init=f"psnr_{k}", **STAGE2)
    for k in range(N_REPLICATES):
        for arm, bn in (("bn", True), ("nobn", False)):
            out[f"{arm}_{k}"] = dict(arm=arm, replicate=k, seed=k + shift, arch={**BN_ARCH, "bn": bn}, **BN_TRAIN)
    return out


@functools.lru_cache(maxsize=1)
def test_set():
    return sr_split_pairs(N_TEST, HR_TEST, SCALE, split="test", names=TEST_PHOTOS, seed=TEST_BASE_SEED + seed_shift(),
                          min_detail=MIN_DETAIL)


def bicubic(lr: torch.Tensor) -> torch.Tensor:
    return torch.stack([torch.from_numpy(bicubic_up(im.permute(1, 2, 0).double().numpy(), SCALE)).permute(2, 0, 1).float()
                        for im in lr])


def mean_psnr(out, hr) -> float:
    return float(np.mean([psnr(o, h) for o, h in zip(out.clamp(0, 1), hr)]))


def _heldout(model) -> dict:
    lr_te, hr_te = test_set()
    model.eval()
    with torch.no_grad():
        p = mean_psnr(model(lr_te), hr_te)
    return {"psnr_db": p, "psnr_gain_db": p - mean_psnr(bicubic(lr_te), hr_te)}


def _grad_norm(loss, params) -> float:
    grads = torch.autograd.grad(loss, params, retain_graph=True, allow_unused=True)
    return float(torch.sqrt(sum((g.detach() ** 2).sum() for g in grads if g is not None)))


def make(cfg):
    return SRResNet(**cfg["arch"]) if cfg["arm"] in ("bn", "nobn") else RRDBNet(**cfg["arch"])


def train_l1(name, cfg, args, device, lr_tr, hr_tr):
    seed_everything(cfg["seed"])
    g = make(cfg).to(device)
    opt = torch.optim.Adam(g.parameters(), lr=cfg["lr"])
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, cfg["steps"])
    data = batches((lr_tr, hr_tr), cfg["batch"], seed=cfg["seed"], device=device)
    run = ckpt.TrainingRun(CHAPTER, name, seed=cfg["seed"], args=cfg, code_files=CODE_FILES, out_dir=args.out)
    n = ckpt.steps_to_run(cfg["steps"], args)
    for step in range(1, n + 1):
        x, y = next(data)
        g.train()
        loss = F.l1_loss(g(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if step == 1 or step % LOG_EVERY == 0:
            run.log(step, loss=loss.item())
    g = ckpt.round_fp16_(g.cpu().eval())
    heldout = {} if args.smoke else _heldout(g)
    return g, run.finish(g, steps=n, samples_seen=n * cfg["batch"], heldout=heldout)


def train_gan(name, cfg, args, device, lr_tr, hr_tr, init):
    seed_everything(cfg["seed"])
    g = make(cfg).to(device)
    g.load_state_dict(init.state_dict())
    d = SRGANDiscriminator(**cfg["disc"]).to(device)
    opt_g = torch.optim.Adam(g.parameters(), lr=cfg["lr_g"])
    opt_d = torch.optim.Adam(d.parameters(), lr=cfg["lr_d"])
    data = batches((lr_tr, hr_tr), cfg["batch"], seed=cfg["seed"], device=device)
    tap = cfg["tap"]
    with torch.no_grad():  # divides L_percep so that it is of order one, as VGG's is with lambda and eta
        scale = float(load_feature_net("book")(hr_tr[:256].to(device), (tap,))[tap].abs().mean())
    params = [p for p in g.parameters() if p.requires_grad]
    run = ckpt.TrainingRun(CHAPTER, name, seed=cfg["seed"], args=cfg, code_files=CODE_FILES, out_dir=args.out)
    shares = []
    n = ckpt.steps_to_run(cfg["steps"], args)
    for step in range(1, n + 1):
        x, y = next(data)
        fake = g(x)
        loss_d = gan.d_loss(d(y), d(fake.detach()), "relativistic")
        opt_d.zero_grad()
        loss_d.backward()
        opt_d.step()
        percep = perceptual_loss(fake, y, (tap,), criterion="l1") / scale
        adv = cfg["lam"] * gan.g_loss(d(fake), d(y).detach(), "relativistic")
        pix = cfg["eta"] * F.l1_loss(fake, y)
        loss = percep + adv + pix
        row = {}
        if step == 1 or step % LOG_EVERY == 0:
            na, nc = _grad_norm(adv, params), _grad_norm(percep + pix, params)
            row = dict(percep=percep.item(), adv=adv.item(), d_loss=loss_d.item(), adv_share=na / (na + nc))
            shares.append(row["adv_share"])
        opt_g.zero_grad()
        loss.backward()
        opt_g.step()
        if row:
            run.log(step, loss=loss.item(), **row)
    g = ckpt.round_fp16_(g.cpu().eval())
    heldout = {} if args.smoke else {**_heldout(g), "adv_share_median": statistics.median(shares)}
    return g, run.finish(g, steps=n, samples_seen=n * cfg["batch"], heldout=heldout)


def main(argv=None) -> None:
    cfgs = checkpoints()
    args = ckpt.parse_args(argv, names=list(cfgs), description="Train the ESRGAN chapter's networks.")
    torch.set_num_threads(1)
    device = get_device()
    data, inits, entries = {}, {}, {}
    for name in args.names:
        cfg = cfgs[name]
        if cfg["seed"] not in data:
            data[cfg["seed"]] = sr_split_pairs(N_TRAIN, HR_TRAIN, SCALE, split="train", seed=cfg["seed"])
        lr_tr, hr_tr = data[cfg["seed"]]
        if cfg["arm"] != "gan" and cfg["arm"] != "ganpost":
            inits[name], entries[name] = train_l1(name, cfg, args, device, lr_tr, hr_tr)
            continue
        # stage 2 starts from its replicate's stage-1 network: the one just trained (rounded to float16, the
        # shipped values), else the one in --out, else the shipped one; a --smoke replay always uses the shipped one
        init = None if args.smoke else inits.get(cfg["init"])
        if init is None:
            where = args.out if not args.smoke and args.out is not None and (Path(args.out) / ckpt.MANIFEST_NAME).is_file() else None
            init, _ = ckpt.load(CHAPTER, cfg["init"], make(cfgs[cfg["init"]]), weights_dir=where)
        _, entries[name] = train_gan(name, cfg, args, device, lr_tr, hr_tr, init.to(device))
    ckpt.report(args, entries)


if __name__ == "__main__":
    main()
