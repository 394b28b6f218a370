"""Train the PIRM chapter's generators: 3 arms x 3 seeds, with provenance (utils.checkpoints).

    python scripts/train/pirm.py [--out DIR] [--only NAME ...] [--smoke N]

Arms (``utils.pirm_sr.SmallSR``; the budget of the chapter's former in-chapter training):

- ``mse_s<k>``: pixel MSE, 1500 steps of 16 crops (48x48, i.e. 12x12 inputs), Adam 1e-3 with cosine decay
  (the chapter's former 250 steps reached only +0.5-0.6 dB over bicubic, below the +0.7 dB gate);
- ``percep_s<k>``: fine-tuned from ``mse_s<k>`` for 100 steps with MSE + the book feature network's loss at
  relu2_2 and relu3_2 (weight 1);
- ``gan_s<k>``: fine-tuned from ``mse_s<k>`` for 150 steps with MSE + the same feature loss + a non-saturating
  GAN term (weight 1e-2) against ``utils.pirm_sr.SmallD``.

Replicate ``k`` uses seed ``k`` for its training crops (2048 crops of six packaged photos; the chapter's test
photos chelsea, coffee and rocket are never used), its initialisation and its data order. The held-out numbers
are measured on the chapter's three test crops (296x296, 74x74 inputs).
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
import torch.nn.functional as F  # noqa: E402

from utils import checkpoints as ckpt  # noqa: E402
from utils.data import load_image  # noqa: E402
from utils.degrade import bicubic_down, bicubic_up  # noqa: E402
from utils.features import load_feature_net  # noqa: E402
from utils.gan import d_loss, g_loss  # noqa: E402
from utils.pirm_sr import SmallD, SmallSR  # noqa: E402
from utils.repro import get_device, seed_everything  # noqa: E402
from utils.sr import sr_patch_pairs  # noqa: E402
from utils.train import batches  # noqa: E402

CHAPTER = "pirm"
SMOKE_STEPS = 3
TRAIN = ("astronaut", "china", "flower", "grace_hopper", "ihc", "hubble")
TEST = ("chelsea", "coffee", "rocket")
N_CROPS, HR, SCALE, BATCH = 2048, 48, 4, 16
TAPS = ("relu2_2", "relu3_2")
ARMS = {"mse": dict(steps=1500, lr=1e-3, cosine=True, w_percep=0.0, w_adv=0.0, init=None),
        "percep": dict(steps=100, lr=1e-3, cosine=False, w_percep=1.0, w_adv=0.0, init="mse"),
        "gan": dict(steps=150, lr=1e-3, cosine=False, w_percep=1.0, w_adv=1e-2, init="mse")}
CODE_FILES = ["utils/pirm_sr.py", "utils/sr.py", "utils/gan.py", "utils/features.py", "utils/train.py",
              "utils/degrade.py", "utils/data.py"]
LOG_EVERY = 10
SEEDS = (0, 1, 2)
HELDOUT_TOLERANCE = {"psnr_gain_db": 0.05, "rms_from_mse": 0.05}


def checkpoints() -> dict:
    out = {}
    for arm in ARMS:
        for s in SEEDS:
            cfg = dict(arm=arm, seed=s, batch=BATCH, crops=N_CROPS, hr=HR, **ARMS[arm])
            cfg["init"] = f"mse_s{s}" if cfg["init"] else None
            out[f"{arm}_s{s}"] = cfg
    return out


@functools.lru_cache(maxsize=1)
def test_set():
    hr = [load_image(n, gray=False)[:296, 60:356] for n in TEST]
    return hr, [bicubic_down(h, 4) for h in hr]


def upscale(net, lr):
    with torch.no_grad():
        out = net(torch.from_numpy(lr.transpose(2, 0, 1)[None].copy()).float())
    return out[0].clamp(0, 1).numpy().transpose(1, 2, 0).astype(np.float64)


def psnr_y(out, hr):
    """PSNR on the BT.601 Y channel (0..255), 4-pixel shave: PIRM's convention."""
    y = lambda im: 16.0 + im @ np.array([65.481, 128.553, 24.966])  # noqa: E731
    mse = np.mean((y(out)[4:-4, 4:-4] - y(hr)[4:-4, 4:-4]) ** 2)
    return float(10 * np.log10(255.0 ** 2 / mse))


def heldout_numbers(net, mse_net=None):
    hr, lr = test_set()
    outs = [upscale(net, x) for x in lr]
    gain = np.mean([psnr_y(o, h) - psnr_y(bicubic_up(x, 4), h) for o, h, x in zip(outs, hr, lr)])
    res = {"psnr_gain_db": float(gain)}
    if mse_net is not None:
        ref = [upscale(mse_net, x) for x in lr]
        res["rms_from_mse"] = float(np.sqrt(np.mean([np.mean((o - r) ** 2) for o, r in zip(outs, ref)])) * 255)
    return res


def train_one(name, cfg, args, device, init):
    seed_everything(cfg["seed"])
    lr_tr, hr_tr = sr_patch_pairs(cfg["crops"], cfg["hr"], SCALE, names=TRAIN, seed=cfg["seed"])
    g = SmallSR().to(device)
    if init is not None:
        g.load_state_dict(init.state_dict())
    feat = load_feature_net(kind="book").to(device) if cfg["w_percep"] else None
    disc = SmallD().to(device) if cfg["w_adv"] else None
    opt = torch.optim.Adam(g.parameters(), lr=cfg["lr"])
    opt_d = torch.optim.Adam(disc.parameters(), lr=cfg["lr"], betas=(0.5, 0.999)) if disc is not None else None
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, cfg["steps"]) if cfg["cosine"] else None
    data = batches((lr_tr, hr_tr), cfg["batch"], seed=cfg["seed"], device=device)
    run = ckpt.TrainingRun(CHAPTER, name, seed=cfg["seed"], args=cfg, code_files=CODE_FILES, out_dir=args.out)
    n = ckpt.steps_to_run(cfg["steps"], args)
    for step in range(1, n + 1):
        lo, hi = next(data)
        sr = g(lo)
        mse = F.mse_loss(sr, hi)
        loss = mse
        if feat is not None:
            fx, fy = feat(sr, taps=TAPS), feat(hi, taps=TAPS)
            loss = loss + cfg["w_percep"] * sum(F.mse_loss(fx[t], fy[t].detach()) for t in TAPS)
        if disc is not None:
            loss = loss + cfg["w_adv"] * g_loss(disc(sr))
        opt.zero_grad()
        loss.backward()
        opt.step()
        if sched is not None:
            sched.step()
        if disc is not None:
            ld = d_loss(disc(hi), disc(sr.detach()))
            opt_d.zero_grad()
            ld.backward()
            opt_d.step()
        if step == 1 or step % LOG_EVERY == 0:
            run.log(step, loss=loss.item(), mse=mse.item())
    g = ckpt.round_fp16_(g.cpu().eval())
    heldout = {} if args.smoke else heldout_numbers(g, None if init is None else init.cpu().eval())
    return g, run.finish(g, steps=n, samples_seen=n * cfg["batch"], heldout=heldout)


def main(argv=None) -> None:
    cfgs = checkpoints()
    args = ckpt.parse_args(argv, names=list(cfgs), description="Train the PIRM chapter's generators.")
    torch.set_num_threads(1)
    device = get_device()
    inits, entries = {}, {}
    for name in args.names:
        cfg = cfgs[name]
        init = None
        if cfg["init"]:
            init = None if args.smoke else inits.get(cfg["init"])
            if init is None:
                where = args.out if not args.smoke and args.out is not None and (Path(args.out) / ckpt.MANIFEST_NAME).is_file() else None
                init, _ = ckpt.load(CHAPTER, cfg["init"], SmallSR(), weights_dir=where)
        net, entries[name] = train_one(name, cfg, args, device, init)
        if cfg["arm"] == "mse":
            inits[name] = net
        print(f"{name}: {entries[name].get('heldout')} ({entries[name]['cpu_s']:.1f} CPU s)", flush=True)
    ckpt.report(args, entries)


if __name__ == "__main__":
    main()
