"""Train the checkpoints of chapters/mw_gan.md: three enhancers x three seeds at the same budget.

Arms (the same 5-conv residual enhancer, data, steps, batch and optimiser; only the loss differs):

- ``charb_pixel``:   Charbonnier loss (eps 1e-3) on the image, as the released MW-GAN config;
- ``charb_wavelet``: the same Charbonnier on the coefficients of a 3-level Haar decomposition;
- ``gan``:           ``charb_pixel`` plus LAMBDA x least-squares GAN loss from a miniature of the official
  ``Discriminator_ECCV`` (heads on wavelet-packet levels 0, 1, 2, LL included; spectral + instance norm);
  the adversarial term joins at GAN_START (the discriminator starts 20 steps earlier).

Data: 32x32 RGB patch pairs (JPEG quality 10, raw) cut on JPEG's 8x8 grid from six packaged photos.
Held-out numbers: mean PSNR (dB) on the chapter's two 128x128 test crops (chelsea, flower).

``python scripts/train/mw_gan.py [--out DIR] [--only NAME ...] [--smoke N]``
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from utils import checkpoints as ckpt  # noqa: E402
from utils.data import load_image  # noqa: E402
from utils.degrade import jpeg  # noqa: E402
from utils.gan import d_loss, g_loss  # noqa: E402
from utils.losses import charbonnier  # noqa: E402
from utils.metrics import psnr  # noqa: E402
from utils.repro import seed_everything  # noqa: E402
from utils.train import batches  # noqa: E402
from utils.wavelets import make_enhancer, make_packet_discriminator, wavelet_charbonnier  # noqa: E402

CHAPTER = "mw_gan"
SMOKE_STEPS = 5
QUALITY, LEVELS = 10, 3
TRAIN_NAMES = ["astronaut", "coffee", "rocket", "china", "grace_hopper", "ihc"]
TEST_NAMES = ["chelsea", "flower"]
STEPS, BATCH, LR, GAN_START, LAMBDA = 300, 16, 1e-3, 100, 0.3  # LAMBDA was 0.03; raised (chapters/mw_gan.md says why)
ARMS = ("charb_pixel", "charb_wavelet", "gan")
SEEDS = (0, 1, 2)
CHECKPOINTS = {f"{arm}_s{s}": dict(arm=arm, seed=s, steps=STEPS, batch=BATCH, lr=LR, gan_start=GAN_START,
                                   lam=LAMBDA, quality=QUALITY) for arm in ARMS for s in SEEDS}
CODE_FILES = ["scripts/train/mw_gan.py", "utils/wavelets.py"]  # the files that define what is trained


def training_pairs(names=TRAIN_NAMES, per_image=96, size=32, seed=0):
    """(compressed, raw) tensors (N, 3, size, size) cut on the 8x8 grid of each photo's JPEG."""
    rng = np.random.default_rng(seed)
    compressed, raw = [], []
    for name in names:
        img = load_image(name)
        h, w = img.shape[0] // 16 * 16, img.shape[1] // 16 * 16
        img = img[:h, :w]
        comp = jpeg(img, QUALITY)
        for _ in range(per_image):
            y0, x0 = 8 * rng.integers(0, (h - size) // 8 + 1), 8 * rng.integers(0, (w - size) // 8 + 1)
            compressed.append(comp[y0 : y0 + size, x0 : x0 + size])
            raw.append(img[y0 : y0 + size, x0 : x0 + size])
    as_t = lambda a: torch.tensor(np.stack(a).transpose(0, 3, 1, 2), dtype=torch.float32)  # noqa: E731
    return as_t(compressed), as_t(raw)


def centre_crop(img, size=128):
    """A size x size crop whose corner lies on JPEG's 8x8 grid."""
    top, left = (img.shape[0] - size) // 16 * 8, (img.shape[1] - size) // 16 * 8
    return img[top : top + size, left : left + size]


def test_set():
    raw = [centre_crop(load_image(n)) for n in TEST_NAMES]
    return raw, [jpeg(r, QUALITY) for r in raw]


def enhance(net, img):
    with torch.no_grad():
        out = net(torch.tensor(img.transpose(2, 0, 1)[None], dtype=torch.float32))[0]
    return out.permute(1, 2, 0).double().numpy().clip(0, 1)


def main(argv=None):
    args = ckpt.parse_args(argv, names=list(CHECKPOINTS))
    xc, xr = training_pairs()
    test_raw, test_jpeg = test_set()
    entries = {}
    for name in args.names:
        cfg = CHECKPOINTS[name]
        torch.set_num_threads(1)
        seed_everything(cfg["seed"])
        run = ckpt.TrainingRun(CHAPTER, name, seed=cfg["seed"], args=cfg, code_files=CODE_FILES, out_dir=args.out)
        net = make_enhancer()
        opt = torch.optim.Adam(net.parameters(), lr=cfg["lr"])
        adversarial = cfg["arm"] == "gan"
        if adversarial:
            disc = make_packet_discriminator()
            opt_d = torch.optim.Adam(disc.parameters(), lr=cfg["lr"], betas=(0.5, 0.999))
        stream = batches((xc, xr), cfg["batch"], seed=cfg["seed"])
        steps = ckpt.steps_to_run(cfg["steps"], args)
        for step in range(1, steps + 1):
            x, y = next(stream)
            out = net(x)
            rec = wavelet_charbonnier(out, y, LEVELS) if cfg["arm"] == "charb_wavelet" else charbonnier(out, y)
            loss, adv = rec, torch.zeros(())
            if adversarial and step > cfg["gan_start"]:
                adv = sum(g_loss(f, kind="lsgan") for f in disc(out))
                loss = rec + cfg["lam"] * adv
            opt.zero_grad()
            loss.backward()
            opt.step()
            if adversarial and step > cfg["gan_start"] - 20:
                ld = sum(d_loss(r, f, kind="lsgan") for r, f in zip(disc(y), disc(out.detach())))
                opt_d.zero_grad()
                ld.backward()
                opt_d.step()
            if step == 1 or step % 25 == 0 or step == steps:
                run.log(step, loss=loss.item(), reconstruction=rec.item(), adversarial=float(adv.item()))
        net.eval()
        ckpt.round_fp16_(net)
        heldout = {} if args.smoke else {"psnr_db": float(np.mean([psnr(enhance(net, j), r) for j, r in zip(test_jpeg, test_raw)]))}
        entries[name] = run.finish(net, steps=steps, samples_seen=steps * cfg["batch"], heldout=heldout)
    ckpt.report(args, entries)


if __name__ == "__main__":
    main()
