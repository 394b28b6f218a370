"""Train the SRGAN chapter's generators: 4 arms x 3 seeds, with provenance (utils.checkpoints).

    python scripts/train/srgan.py [--out DIR] [--only NAME ...] [--smoke N]

Arms (the paper's naming, Ledig et al. 2017, Table 1 / Fig. 2):

- ``mse_<k>``: SRResNet trained with the pixel MSE (the PSNR-oriented network);
- ``vgg54_<k>``: SRResNet-VGG54, fine-tuned from ``mse_<k>`` with the feature loss on the deep tap ``relu4_2``
  of the book's feature network alone (no discriminator);
- ``gan54_<k>``: SRGAN-VGG54, fine-tuned from ``mse_<k>`` with the same feature loss plus the adversarial loss;
- ``gan22_<k>``: SRGAN-VGG22, the same with the shallow tap ``relu2_2``.

Replicate ``k`` (0, 1, 2) uses seed ``k + PAPER_DAILY_SEED`` for its initialisation, its training crops and
their order; the fine-tuned arms of replicate ``k`` start from ``mse_<k>`` and share their data order, so the
arms are paired by seed. Training crops come from the left 75 % of every packaged photo's columns, the
held-out crops (96x96, i.e. 24x24 inputs) from the right 25 % (``utils.sr.sr_split_pairs``).

The adversarial weight is not the paper's fixed 1e-3: with the book's feature network and our normalisation
of the feature loss, 1e-3 made the adversarial gradient about 2 % of the content gradient (inert). Here it is
set every 10 steps so that the adversarial gradient at the output convolution is half the content gradient
there. Every 25 steps the script logs the share of the adversarial term in the whole generator's gradient,
||g_adv|| / (||g_adv|| + ||g_content||); the chapter gates on its median.
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
from utils.sr_models import SRGANDiscriminator, SRResNet  # noqa: E402
from utils.train import batches  # noqa: E402

CHAPTER = "srgan"
SMOKE_STEPS = 4
SCALE = 4
HR_TRAIN, N_TRAIN = 32, 4096          # training crops 32x32 (8x8 inputs)
HR_TEST, N_TEST, TEST_BASE_SEED, MIN_DETAIL = 96, 72, 5, 0.01   # held-out crops 96x96 (24x24 inputs), 9 per photo
# flower is left out of the test photos: the right quarter of it is out-of-focus background (no crop has detail)
TEST_PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "china", "grace_hopper", "ihc", "hubble")
ARCH = dict(channels=24, n_blocks=4, scale=SCALE, bn=False, head_kernel=9, tail_kernel=3, global_skip=True)
DISC = dict(input_size=HR_TRAIN, widths=(16, 32, 64), hidden=64)
MSE = dict(steps=1500, batch=16, lr=1e-3)
FT = dict(steps=900, batch=16, lr_g=1e-4, lr_d=1e-4)
# the adversarial weight is set every ADV_EVERY steps so that, at the output convolution, the adversarial gradient
# is ADV_RATIO times the content gradient (an adaptive weight, as in Esser et al. 2021); the paper uses a fixed 1e-3
ADV_RATIO, ADV_EVERY = 0.5, 10
TAPS = {"vgg54": "relu4_2", "gan54": "relu4_2", "gan22": "relu2_2"}
CODE_FILES = ["utils/sr_models.py", "utils/sr.py", "utils/gan.py", "utils/losses.py", "utils/features.py",
              "utils/train.py", "utils/degrade.py", "utils/data.py"]
LOG_EVERY = 25
HELDOUT_TOLERANCE = {"psnr_db": 0.1, "psnr_gain_db": 0.1, "content_ratio": 0.05, "adv_share_median": 0.05,
                     "content_start": 0.01, "content_end": 0.01}
N_REPLICATES = 3


def checkpoints() -> dict:
    """Every checkpoint this script trains: name -> configuration (JSON)."""
    shift = seed_shift()
    out = {}
    for k in range(N_REPLICATES):
        out[f"mse_{k}"] = dict(arm="mse", replicate=k, seed=k + shift, arch=ARCH, **MSE)
    for k in range(N_REPLICATES):
        for arm, tap in TAPS.items():
            out[f"{arm}_{k}"] = dict(arm=arm, replicate=k, seed=k + shift, arch=ARCH, disc=DISC, tap=tap,
                                     adv_ratio=0.0 if arm == "vgg54" else ADV_RATIO, adv_every=ADV_EVERY, init=f"mse_{k}", **FT)
    return out


@functools.lru_cache(maxsize=1)
def test_set():
    """The held-out crops (right 25 % of every photo), seeded by PAPER_DAILY_SEED like the chapter's."""
    return sr_split_pairs(N_TEST, HR_TEST, SCALE, split="test", names=TEST_PHOTOS, seed=TEST_BASE_SEED + seed_shift(),
                          min_detail=MIN_DETAIL)


def bicubic(lr: torch.Tensor) -> torch.Tensor:
    """MATLAB-style bicubic upscaling of a batch (the baseline of every gate)."""
    return torch.stack([torch.from_numpy(bicubic_up(im.permute(1, 2, 0).double().numpy(), SCALE)).permute(2, 0, 1).float()
                        for im in lr])


def mean_psnr(out: torch.Tensor, hr: torch.Tensor) -> float:
    return float(np.mean([psnr(o, h) for o, h in zip(out.clamp(0, 1), hr)]))


def tap_scale(tap: str, hr: torch.Tensor) -> float:
    """Mean squared activation of ``tap`` on real crops: divides the feature loss so that it is of order one."""
    with torch.no_grad():
        return float(load_feature_net("book")(hr[:256], (tap,))[tap].pow(2).mean())


def content_loss(fake, real, tap, scale):
    return perceptual_loss(fake, real, (tap,), criterion="l2") / scale


def _grad_norm(loss, params) -> float:
    grads = torch.autograd.grad(loss, params, retain_graph=True, allow_unused=True)
    return float(torch.sqrt(sum((g.detach() ** 2).sum() for g in grads if g is not None)))


def train_mse(name, cfg, args, device, lr_tr, hr_tr):
    seed_everything(cfg["seed"])
    g = SRResNet(**cfg["arch"]).to(device)
    opt = torch.optim.Adam(g.parameters(), lr=cfg["lr"])
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, cfg["steps"])
    data = batches((lr_tr, hr_tr), cfg["batch"], seed=cfg["seed"], device=device)
    run = ckpt.TrainingRun(CHAPTER, name, seed=cfg["seed"], args=cfg, code_files=CODE_FILES, out_dir=args.out)
    n = ckpt.steps_to_run(cfg["steps"], args)
    for step in range(1, n + 1):
        x, y = next(data)
        loss = F.mse_loss(g(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if step == 1 or step % LOG_EVERY == 0:
            run.log(step, loss=loss.item())
    g = ckpt.round_fp16_(g.cpu().eval())
    heldout = {}
    if not args.smoke:
        lr_te, hr_te = test_set()
        with torch.no_grad():
            p = mean_psnr(g(lr_te), hr_te)
        heldout = {"psnr_db": p, "psnr_gain_db": p - mean_psnr(bicubic(lr_te), hr_te)}
    return g, run.finish(g, steps=n, samples_seen=n * cfg["batch"], heldout=heldout)


def train_ft(name, cfg, args, device, lr_tr, hr_tr, init):
    seed_everything(cfg["seed"])
    g = SRResNet(**cfg["arch"]).to(device)
    g.load_state_dict(init.state_dict())
    d = SRGANDiscriminator(**cfg["disc"]).to(device)
    opt_g = torch.optim.Adam(g.parameters(), lr=cfg["lr_g"])
    opt_d = torch.optim.Adam(d.parameters(), lr=cfg["lr_d"])
    data = batches((lr_tr, hr_tr), cfg["batch"], seed=cfg["seed"], device=device)
    tap, ratio = cfg["tap"], cfg["adv_ratio"]
    w = 0.0
    scale = tap_scale(tap, hr_tr)
    params = [p for p in g.parameters() if p.requires_grad]
    lr_te, hr_te = test_set()

    def test_content(model):
        model.eval()
        with torch.no_grad():
            v = float(content_loss(model(lr_te.to(device)).clamp(0, 1), hr_te.to(device), tap, scale))
        model.train()
        return v

    start = test_content(g) if not args.smoke else 0.0
    run = ckpt.TrainingRun(CHAPTER, name, seed=cfg["seed"], args=cfg, code_files=CODE_FILES, out_dir=args.out)
    shares = []
    n = ckpt.steps_to_run(cfg["steps"], args)
    for step in range(1, n + 1):
        x, y = next(data)
        fake = g(x)
        row = {}
        if ratio > 0:
            loss_d = gan.d_loss(d(y), d(fake.detach()), "standard")
            opt_d.zero_grad()
            loss_d.backward()
            opt_d.step()
            row["d_loss"] = loss_d.item()
        content = content_loss(fake, y, tap, scale)
        loss = content
        logging = step == 1 or step % LOG_EVERY == 0
        if ratio > 0:
            adv_raw = gan.g_loss(d(fake), kind="standard")
            if step == 1 or step % cfg["adv_every"] == 0:
                nc, na = _grad_norm(content, [g.tail.weight]), _grad_norm(adv_raw, [g.tail.weight])
                w = ratio * nc / max(na, 1e-12)
            adv = w * adv_raw
            loss = content + adv
            row["adv"] = adv.item()
            row["adv_weight"] = w
            if logging:
                na, nc = _grad_norm(adv, params), _grad_norm(content, params)
                row["adv_share"] = na / (na + nc)
                shares.append(row["adv_share"])
        opt_g.zero_grad()
        loss.backward()
        opt_g.step()
        if logging:
            run.log(step, loss=loss.item(), content=content.item(), **row)
    g = ckpt.round_fp16_(g.cpu().eval())
    heldout = {}
    if not args.smoke:
        end = test_content(g)
        g.eval()
        with torch.no_grad():
            p = mean_psnr(g(lr_te), hr_te)
        heldout = {"psnr_db": p, "psnr_gain_db": p - mean_psnr(bicubic(lr_te), hr_te),
                   "content_start": start, "content_end": end, "content_ratio": end / start}
        if shares:
            heldout["adv_share_median"] = statistics.median(shares)
    return g, run.finish(g, steps=n, samples_seen=n * cfg["batch"], heldout=heldout)


def main(argv=None) -> None:
    cfgs = checkpoints()
    args = ckpt.parse_args(argv, names=list(cfgs), description="Train the SRGAN chapter's generators.")
    torch.set_num_threads(1)
    device = get_device()
    data, inits, entries = {}, {}, {}

    def train_data(seed):
        if seed not in data:
            data[seed] = sr_split_pairs(N_TRAIN, HR_TRAIN, SCALE, split="train", seed=seed)
        return data[seed]

    for name in args.names:
        cfg = cfgs[name]
        lr_tr, hr_tr = train_data(cfg["seed"])
        if cfg["arm"] == "mse":
            inits[name], entries[name] = train_mse(name, cfg, args, device, lr_tr, hr_tr)
            continue
        # A fine-tune starts from its replicate's MSE network: the one just trained (already rounded to
        # float16, i.e. the values that are shipped), else the one in --out, else the shipped one. A --smoke
        # replay always starts from the shipped one, so that its first steps are those of the full run.
        init = None if args.smoke else inits.get(cfg["init"])
        if init is None:
            where = args.out if not args.smoke and args.out is not None and (Path(args.out) / ckpt.MANIFEST_NAME).is_file() else None
            init, _ = ckpt.load(CHAPTER, cfg["init"], SRResNet(**cfg["arch"]), weights_dir=where)
        _, entries[name] = train_ft(name, cfg, args, device, lr_tr, hr_tr, init.to(device))
    ckpt.report(args, entries)


if __name__ == "__main__":
    main()
