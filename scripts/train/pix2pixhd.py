"""Train the checkpoints of chapters/pix2pixhd.md: four generator objectives x three seeds at the same budget.

Arms (``utils.translation.CoarseToFine`` with ``utils.discriminators.MultiScaleDiscriminator``, two PatchGANs
with one stride-2 layer; the same data, steps, batch and optimiser; LSGAN loss summed over the two
discriminators, the generator's not halved, the discriminator's halved, as in the official code):

- ``fm``:        labels + instance boundaries; GAN + 10 x feature matching with the official weights
                 ((1/num_D) * 4/(n_layers_D+1) per layer);
- ``labels_fm``: labels only; GAN + 10 x feature matching;
- ``gan``:       labels + boundaries; GAN only;
- ``l1``:        labels + boundaries; GAN + 10 x L1 to the target (the pixel loss FM replaces).

Every 20 steps the log holds the test L1 error, the hidden-boundary contrast and the discriminator loss
(mean over the last 20 steps). Held-out numbers: test L1 error and hidden-boundary contrast of the final
generator on the chapter's 64 test scenes.

``python scripts/train/pix2pixhd.py [--out DIR] [--only NAME ...] [--smoke N]``
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from utils import checkpoints as ckpt  # noqa: E402
from utils.discriminators import MultiScaleDiscriminator, feature_matching_loss  # noqa: E402
from utils.gan import d_loss, g_loss  # noqa: E402
from utils.repro import seed_everything  # noqa: E402
from utils.train import batches  # noqa: E402
from utils.translation import CoarseToFine, hidden_boundary_contrast, touching_scene_tensors  # noqa: E402

CHAPTER = "pix2pixhd"
SMOKE_STEPS = 3
S, K = 32, 3
STEPS, BATCH, LR, LAMBDA = 400, 8, 2e-3, 10.0
ARMS = ("fm", "labels_fm", "gan", "l1")
SEEDS = (0, 1, 2)
TRAIN_SEED, TEST_SEED = 1, 99
CHECKPOINTS = {f"{arm}_s{s}": dict(arm=arm, seed=s, steps=STEPS, batch=BATCH, lr=LR, lam=LAMBDA) for arm in ARMS for s in SEEDS}
CODE_FILES = ["scripts/train/pix2pixhd.py", "utils/translation.py", "utils/discriminators.py", "utils/synth.py"]  # + utils/gan.py (lsgan)
HELDOUT_TOLERANCE = {"contrast": 0.05}


def in_channels(arm: str) -> int:
    return K + (0 if arm == "labels_fm" else 1)


def main(argv=None):
    args = ckpt.parse_args(argv, names=list(CHECKPOINTS))
    _, _, X, B, Y = touching_scene_tensors(512, S, seed=TRAIN_SEED)
    t_labels, t_instances, Xt, Bt, Yt = touching_scene_tensors(64, S, seed=TEST_SEED)
    entries = {}
    for name in args.names:
        cfg = CHECKPOINTS[name]
        arm = cfg["arm"]
        torch.set_num_threads(1)
        seed_everything(cfg["seed"])
        run = ckpt.TrainingRun(CHAPTER, name, seed=cfg["seed"], args=cfg, code_files=CODE_FILES, out_dir=args.out)
        use_b = arm != "labels_fm"
        cin = in_channels(arm)
        G, D = CoarseToFine(cin), MultiScaleDiscriminator(cin + 3, width=16, n_layers=1, num_d=2)
        opt_g = torch.optim.Adam(G.parameters(), cfg["lr"], betas=(0.5, 0.999))
        opt_d = torch.optim.Adam(D.parameters(), cfg["lr"], betas=(0.5, 0.999))
        stream = batches((X, B, Y), cfg["batch"], seed=cfg["seed"])
        s_test = torch.cat([Xt, Bt], 1) if use_b else Xt
        steps = ckpt.steps_to_run(cfg["steps"], args)
        d_hist = []
        for step in range(1, steps + 1):
            x, b, y = next(stream)
            s = torch.cat([x, b], 1) if use_b else x
            fake = G(s)
            real_out, fake_out = D(torch.cat([s, y], 1)), D(torch.cat([s, fake.detach()], 1))
            loss_d = sum(d_loss(r[0], f[0], "lsgan") for r, f in zip(real_out, fake_out))
            opt_d.zero_grad()
            loss_d.backward()
            opt_d.step()
            fake_out = D(torch.cat([s, fake], 1))
            adv = sum(g_loss(f[0], kind="lsgan", halved=False) for f in fake_out)
            extra = torch.zeros(())
            if arm in ("fm", "labels_fm"):
                with torch.no_grad():
                    real_feats = D(torch.cat([s, y], 1))
                extra = feature_matching_loss(fake_out, real_feats, weighting="official")
            elif arm == "l1":
                extra = F.l1_loss(fake, y)
            loss_g = adv + cfg["lam"] * extra
            opt_g.zero_grad()
            loss_g.backward()
            opt_g.step()
            d_hist.append(loss_d.item())
            if step == 1 or step % 20 == 0 or step == cfg["steps"]:
                G.eval()
                with torch.no_grad():
                    out = G(s_test)
                G.train()
                run.log(step, loss=loss_g.item(), adv=adv.item(), extra=float(extra.item()), d_loss=float(np.mean(d_hist[-20:])),
                        test_l1=float((out - Yt).abs().mean()), contrast=hidden_boundary_contrast(out, Yt, t_labels, t_instances))
        G.eval()
        ckpt.round_fp16_(G)
        heldout = {}
        if not args.smoke:
            with torch.no_grad():
                out = G(s_test)
            heldout = {"test_l1": float((out - Yt).abs().mean()), "contrast": hidden_boundary_contrast(out, Yt, t_labels, t_instances)}
        entries[name] = run.finish(G, steps=steps, samples_seen=steps * cfg["batch"], heldout=heldout)
    ckpt.report(args, entries)


if __name__ == "__main__":
    main()
