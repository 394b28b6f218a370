"""Shared code of *Paper Daily, reproduced*.

Only what several chapters use lives here: offline data (:mod:`utils.data`), degradations
(:mod:`utils.degrade`), the training loop (:mod:`utils.train`), plotting (:mod:`utils.plot`),
metrics (:mod:`utils.metrics`, :mod:`utils.iqa`), the perceptual feature network
(:mod:`utils.features`), layers and losses, and the claims registry (:mod:`utils.claims`).
The idea each chapter teaches stays in the chapter; helpers say in their docstring where they
are taught.
"""
from __future__ import annotations

import time

__version__ = "0.1.0"
#: marks this package as the book's own ``utils`` (the generic name is common): the setup cell checks it
__paper_daily_book__ = True

__all__ = ["__version__", "__paper_daily_book__", "setup_chapter"]

_IMPORTED_AT = time.time()  # when the setup cell imported utils (for the build's time log)


def setup_chapter(chapter: str, *, seed: int = 0, title: str = ""):
    """Prepare a chapter: seed everything, set the plotting style, silence nothing, return its :class:`~utils.claims.Claims`.

    Called by the setup cell at the top of every chapter. ``seed`` is shifted by ``PAPER_DAILY_SEED``
    (:func:`utils.repro.seed_shift`), like every seed the chapter takes from ``claims.seeds()`` / ``claims.seed()``.
    """
    from .cell_log import record_cell_times
    from .claims import Claims
    from .plot import use_book_style
    from .repro import seed_everything, seed_shift

    seed_everything(seed + seed_shift())
    use_book_style()
    claims = Claims(chapter, title=title)
    record_cell_times(chapter, utils_imported=_IMPORTED_AT)
    return claims
