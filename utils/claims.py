"""The claims registry: every verdict in the book is decided here, by one rule.

The rule is the book's verdict standard (``verdicts.md`` in the book, "How verdicts are decided"):

* a **mechanism** is true by construction or by exact computation (an identity, a reduction, a parameter or
  multiply-add count against a formula, a metric against its reference implementation). It is
  ``verified`` when its error is within its tolerance, else ``failed``. It never counts as a result.
* a **finding** is an empirical claim that an honest run could contradict. It states, before anything is
  measured, its measure, direction and margin ``delta > 0``; it is measured over at least three seeds (a
  shared seed pairs the arms) unless it is deterministic; it names its judge and its competence gates. With
  per-seed effects ``d_s`` (positive = as claimed), mean ``d``, standard error ``se`` and
  ``[lo, hi] = d -/+ t(0.975, n-1) se``:

  - ``reproduced`` when ``lo > 0`` and ``d >= delta``;
  - ``not reproduced`` when ``hi < delta`` (the data exclude an effect of the margin's size);
  - ``inconclusive`` otherwise, or when a gate failed.

  A claim "A beats B and C" is the intersection of its pairs: reproduced if every pair is, not reproduced if
  any pair is, inconclusive otherwise; the record keeps the deciding (least favourable) pair's effect.
* a **timing** finding uses the same rule on the log time ratio of interleaved rounds (at least 10), with its
  margin a ratio: ``effect = log(t_other / t_claimed)`` for "claimed is faster", and ``margin = log(ratio)``.

A chapter creates one :class:`Claims` (``utils.setup_chapter`` returns it), asks it for its seeds
(:meth:`Claims.seeds`, shifted by ``PAPER_DAILY_SEED``), records gates (:meth:`Claims.gate`), registers
:meth:`Claims.mechanism` and :meth:`Claims.finding` / :meth:`Claims.timing`, writes prose from the numbers
(:meth:`Claims.say`, :meth:`Claim.effect_text`), and shows :meth:`Claims.table`. No chapter computes a verdict
itself.

In a book build the registry writes ``<chapter>.json`` into the folder named by ``PAPER_DAILY_CLAIMS_DIR``
(set by the book's Sphinx extension); the scoreboard page is generated from those files.
"""
from __future__ import annotations

import html
import json
import math
import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

__all__ = [
    "Claims", "Claim", "Gate", "decide", "combine", "interval", "format_value", "glue",
    "FINDING_VERDICTS", "MECHANISM_VERDICTS", "VERDICTS", "CLAIMS_DIR_ENV", "MIN_SEEDS", "MIN_ROUNDS",
    "STANDARD_PAGE",
]

CLAIMS_DIR_ENV = "PAPER_DAILY_CLAIMS_DIR"
FINDING_VERDICTS = ("reproduced", "not reproduced", "inconclusive")
MECHANISM_VERDICTS = ("verified", "failed")
VERDICTS = FINDING_VERDICTS + MECHANISM_VERDICTS
#: fewest seeds a non-deterministic finding may use (verdict standard, section 3)
MIN_SEEDS = 3
#: fewest interleaved rounds a timing finding may use
MIN_ROUNDS = 10
#: the page that explains the standard, relative to the book's root
STANDARD_PAGE = "verdicts.html"
_ID = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]{0,31}$")


# ---------------------------------------------------------------- formatting
def format_value(v) -> str:
    """Format a measured value for tables: 4 significant digits for floats, as-is otherwise."""
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        if math.isnan(v) or math.isinf(v):
            return str(v)
        if v == 0:
            return "0"
        if abs(v) >= 1e4 or abs(v) < 1e-3:
            return f"{v:.3e}"
        return f"{v:.4g}"
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(format_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k}: {format_value(x)}" for k, x in v.items()) + "}"
    return str(v)


def _plain(v):
    """Make measured values JSON-friendly (numpy and torch scalars become Python numbers)."""
    if isinstance(v, dict):
        return {str(k): _plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    if hasattr(v, "tolist") and getattr(v, "ndim", 0) >= 1:
        return _plain(v.tolist())
    if hasattr(v, "item") and getattr(v, "ndim", 0) == 0:
        v = v.item()
    if isinstance(v, float):
        return float(v)
    if isinstance(v, (bool, int, str)) or v is None:
        return v
    raise TypeError(f"Claims: measured values must be numbers, strings, booleans or lists of them, got {type(v).__name__}")


def _number(name: str, v) -> float:
    v = _plain(v)
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise ValueError(f"{name} must be a finite number, got {v!r}")
    return float(v)


def _numbers(name: str, values) -> list[float]:
    values = _plain(values)
    if isinstance(values, (int, float)) and not isinstance(values, bool):
        values = [values]
    if not isinstance(values, list) or not values:
        raise ValueError(f"{name} must be a non-empty list of per-seed numbers, got {values!r}")
    return [_number(f"{name}[{i}]", x) for i, x in enumerate(values)]


def _text(name: str, text) -> str:
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"Claims: {name} must be a non-empty sentence, got {text!r}")
    return text.strip()


# ---------------------------------------------------------------- the decision rule
def _t975(dof: int) -> float:
    from scipy.stats import t

    return float(t.ppf(0.975, dof))


def interval(effects) -> dict:
    """Mean, standard error and 95% t-interval of per-seed effects (one value: a deterministic measurement)."""
    d = _numbers("effects", effects)
    n = len(d)
    mean = sum(d) / n
    if n == 1:
        return {"value": mean, "lo": mean, "hi": mean, "se": 0.0, "n": 1, "per_seed": d}
    sd = math.sqrt(sum((x - mean) ** 2 for x in d) / (n - 1))
    se = sd / math.sqrt(n)
    half = _t975(n - 1) * se
    return {"value": mean, "lo": mean - half, "hi": mean + half, "se": se, "sd": sd, "n": n, "per_seed": d}


def decide(effect: dict, margin: float, gates_ok: bool = True) -> str:
    """The verdict standard's rule (section 3) for one effect ``{value, lo, hi}`` against ``margin`` > 0."""
    if not isinstance(effect, dict) or not all(k in effect for k in ("value", "lo", "hi")):
        raise ValueError(f"decide: effect must be a dict with value, lo and hi, got {effect!r}")
    margin = _number("decide: margin", margin)
    if margin <= 0:
        raise ValueError(f"decide: the margin must be > 0 (a margin of zero is not allowed), got {margin}")
    if not gates_ok:
        return "inconclusive"
    if effect["lo"] > 0 and effect["value"] >= margin:
        return "reproduced"
    if effect["hi"] < margin:
        return "not reproduced"
    return "inconclusive"


def combine(verdicts: dict) -> tuple[str, str]:
    """Intersection of pairwise verdicts ``{pair: (verdict, effect)}``: returns (verdict, deciding pair)."""
    if not verdicts:
        raise ValueError("combine: no pair to combine")
    names = list(verdicts)
    nr = [p for p in names if verdicts[p][0] == "not reproduced"]
    if nr:
        return "not reproduced", min(nr, key=lambda p: verdicts[p][1]["hi"])
    inc = [p for p in names if verdicts[p][0] == "inconclusive"]
    if inc:
        return "inconclusive", min(inc, key=lambda p: verdicts[p][1]["value"])
    return "reproduced", min(names, key=lambda p: verdicts[p][1]["lo"])


# ---------------------------------------------------------------- records
@dataclass
class Gate:
    """A competence gate: an arm shows it learned what the comparison needs (``value`` against ``bar``)."""

    name: str
    value: float
    bar: float
    passed: bool
    higher: bool = True
    unit: str = ""

    def text(self) -> str:
        op = ">=" if self.higher else "<="
        unit = f" {self.unit}" if self.unit else ""
        return f"{self.name}: {format_value(self.value)}{unit} {op} {format_value(self.bar)}{unit} {'passed' if self.passed else 'FAILED'}"


@dataclass
class Claim:
    """One registered claim: a mechanism or a finding, with its measurement and computed verdict."""

    chapter: str
    id: str
    kind: str
    claim: str
    verdict: str
    measure: str = ""
    direction: str = ""
    margin: float | None = None
    unit: str = ""
    seeds: list = field(default_factory=list)
    effect: dict = field(default_factory=dict)
    pairs: dict = field(default_factory=dict)
    gates: list = field(default_factory=list)
    judge: str = ""
    judge_sha256: list = field(default_factory=list)
    trained_against_sha256: list = field(default_factory=list)
    measured: dict = field(default_factory=dict)
    rule: str = ""
    paper: str = ""
    paper_unverified: bool = False
    note: str = ""
    timings: dict = field(default_factory=dict)
    deterministic: bool = False

    # -- prose built from the numbers
    def effect_text(self, digits: int = 2) -> str:
        """'0.52 dB [0.31, 0.73] against a margin of 0.3 dB, 3 seeds' (mechanisms: the error against the tolerance)."""
        e, u = self.effect, (f" {self.unit}" if self.unit else "")
        if self.kind == "mechanism":
            return f"error {format_value(e.get('value'))} (tolerance {format_value(self.margin)})"
        if not e:
            return ""
        digits = self._digits_against_margin(digits)
        f = lambda x: f"{x:+.{digits}f}" if abs(x) >= 10 ** (-digits) or x == 0 else f"{x:+.3g}"  # noqa: E731
        if self.timings:
            r = lambda x: f"{math.exp(x):.2f}x"  # noqa: E731
            return (f"time ratio {r(e['value'])} [{r(e['lo'])}, {r(e['hi'])}] against a margin of "
                    f"{math.exp(self.margin):.2f}x, {e.get('n', 1)} rounds")
        n = e.get("n", 1)
        spread = "deterministic" if self.deterministic else f"{n} seeds"
        iv = "" if self.deterministic else f" [{f(e['lo'])}, {f(e['hi'])}]"
        return f"{f(e['value'])}{u}{iv} against a margin of {format_value(self.margin)}{u}, {spread}"

    def _digits_against_margin(self, digits: int) -> int:
        """Enough decimals that the margin shows two significant digits and no bound of the interval reads
        as equal to the margin when it is not (e.g. hi = 0.0191 against a margin of 0.02 prints +0.019)."""
        e, m = self.effect, self.margin
        if not isinstance(m, (int, float)) or not math.isfinite(m) or m == 0:
            return digits
        digits = max(digits, 1 - math.floor(math.log10(abs(m))))
        for x in (e.get("value"), e.get("lo"), e.get("hi")):
            while (isinstance(x, (int, float)) and math.isfinite(x) and x != m and digits < 6
                   and round(x, digits) == round(m, digits)):
                digits += 1
        return digits

    def measured_text(self) -> str:
        parts = [f"{k} = {format_value(v)}" for k, v in self.measured.items()]
        parts += [f"{k} = {format_value(v)} (timing)" for k, v in self.timings.items()]
        return "; ".join(parts)

    def gates_text(self) -> str:
        return "; ".join(Gate(**g).text() for g in self.gates)


def _check_id(id) -> str:
    if not isinstance(id, str) or not _ID.match(id):
        raise ValueError(f"Claims: id must be a short identifier like 'C1', got {id!r}")
    return id


def _hashes(name: str, nets) -> list[str]:
    from .repro import weights_sha256

    out = []
    for n in nets or ():
        if isinstance(n, str):
            if not re.fullmatch(r"[0-9a-f]{64}", n):
                raise ValueError(f"Claims: {name} entries must be networks or sha256 hex digests, got {n!r}")
            out.append(n)
        else:
            out.append(weights_sha256(n))
    return out


@dataclass
class Claims:
    """The claims of one chapter. ``chapter`` is the chapter's file name without extension."""

    chapter: str
    title: str = ""
    items: list = field(default_factory=list)
    gate_log: list = field(default_factory=list)
    seeds_used: list = field(default_factory=list)

    def __post_init__(self) -> None:
        if not isinstance(self.chapter, str) or not re.fullmatch(r"[a-z0-9_]+", self.chapter):
            raise ValueError(f"Claims: chapter must be a lower-case file stem like 'spade', got {self.chapter!r}")

    # -- seeds
    def seeds(self, n: int = MIN_SEEDS, *, start: int = 0, quiet: bool = False) -> list[int]:
        """``n`` seeds ``start, start+1, ...``, each shifted by ``PAPER_DAILY_SEED``; printed and recorded."""
        from .repro import seed_shift

        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ValueError(f"Claims.seeds: n must be a positive integer, got {n!r}")
        if isinstance(start, bool) or not isinstance(start, int) or start < 0:
            raise ValueError(f"Claims.seeds: start must be a non-negative integer, got {start!r}")
        shift = seed_shift()
        out = [shift + start + i for i in range(n)]
        for s in out:
            if s not in self.seeds_used:
                self.seeds_used.append(s)
        if not quiet:
            print(f"seeds: {out}" + (f" (PAPER_DAILY_SEED={shift})" if shift else ""))
        self._write()
        return out

    def seed(self, base: int) -> int:
        """One seed for a data split or a sampled test set: ``base`` shifted by ``PAPER_DAILY_SEED``."""
        from .repro import seed_shift

        if isinstance(base, bool) or not isinstance(base, int) or base < 0:
            raise ValueError(f"Claims.seed: base must be a non-negative integer, got {base!r}")
        return base + seed_shift()

    # -- gates
    def gate(self, name: str, value, bar, *, higher: bool = True, unit: str = "") -> Gate:
        """Record a competence gate: passed when ``value >= bar`` (``higher=False``: ``value <= bar``)."""
        name = _text("gate name", name)
        value, bar = _number(f"gate {name!r}: value", value), _number(f"gate {name!r}: bar", bar)
        passed = value >= bar if higher else value <= bar
        g = Gate(name, value, bar, bool(passed), bool(higher), str(unit))
        self.gate_log = [x for x in self.gate_log if x.name != name] + [g]
        return g

    # -- mechanisms
    def mechanism(self, id: str, claim: str, *, error, tolerance, rule: str, measured: dict | None = None,
                  note: str = "", paper: str = "", paper_unverified: bool = False) -> Claim:
        """Register a mechanism check: ``verified`` when ``|error| <= tolerance``.

        ``error`` is the exact computation's deviation from what the paper's formula or the reference
        implementation says (0 for an exact count that matches); ``tolerance`` >= 0 is stated with it.
        """
        id = _check_id(id)
        err = _number(f"mechanism {id}: error", error)
        tol = _number(f"mechanism {id}: tolerance", tolerance)
        if tol < 0:
            raise ValueError(f"mechanism {id}: tolerance must be >= 0, got {tol}")
        verdict = "verified" if abs(err) <= tol else "failed"
        c = Claim(self.chapter, id, "mechanism", _text("claim", claim), verdict, margin=tol,
                  effect={"value": err, "lo": err, "hi": err, "n": 1}, measured=_plain(measured or {}),
                  rule=_text("rule", rule), note=note.strip(), paper=paper.strip(), paper_unverified=bool(paper_unverified),
                  deterministic=True)
        return self._add(c)

    # -- findings
    def finding(self, id: str, claim: str, *, measure: str, direction: str, margin, judge: str,
                seeds=None, effects=None, arms=None, compare=None, better: str = "higher", unit: str = "",
                gates=(), judge_nets=(), trained_against=(), deterministic: bool = False,
                measured: dict | None = None, paper: str = "", paper_unverified: bool = False, note: str = "") -> Claim:
        """Register a finding and decide it by the verdict standard.

        Give the per-seed effects directly (``effects={"A over B": [d_s, ...]}``, positive = as claimed), or the arms'
        per-seed values (``arms={"A": [...], "B": [...]}``) with ``compare=[("A", "B"), ...]`` meaning "A beats B"
        and ``better`` ("higher" or "lower") saying which way the measure improves. Lists are paired by seed.
        ``seeds``: the seeds used (at least 3) unless ``deterministic=True`` (one value per pair, no seeds).
        ``margin`` > 0 in the measure's units (``unit``). ``gates``: :class:`Gate` records the arms passed.
        ``judge``: what judged it, in words; ``judge_nets`` / ``trained_against``: networks (or their weight
        hashes) that judged / that any arm's training loss used; they must not overlap.
        """
        id = _check_id(id)
        claim, measure, direction, judge = (_text(n, v) for n, v in
                                            (("claim", claim), ("measure", measure), ("direction", direction), ("judge", judge)))
        margin = _number(f"finding {id}: margin", margin)
        if margin <= 0:
            raise ValueError(f"finding {id}: the margin must be > 0 (the standard allows no margin of zero), got {margin}")
        if better not in ("higher", "lower"):
            raise ValueError(f"finding {id}: better must be 'higher' or 'lower', got {better!r}")
        pairs, arm_values = self._pairs(id, effects, arms, compare, better)
        n = {len(v) for v in pairs.values()}
        if len(n) != 1:
            raise ValueError(f"finding {id}: every pair needs the same number of per-seed values, got {sorted(n)}")
        n = n.pop()
        if deterministic:
            if n != 1:
                raise ValueError(f"finding {id}: a deterministic finding has one value per pair, got {n}")
            seeds = []
        else:
            if seeds is None:
                raise ValueError(f"finding {id}: give the seeds used (at least {MIN_SEEDS}), or deterministic=True")
            seeds = [int(s) for s in _numbers(f"finding {id}: seeds", seeds)]
            if len(seeds) < MIN_SEEDS:
                raise ValueError(f"finding {id}: at least {MIN_SEEDS} seeds are needed, got {len(seeds)}")
            if len(seeds) != n:
                raise ValueError(f"finding {id}: {len(seeds)} seeds but {n} per-seed values per pair")
        measured = {**{f"{a} (per seed)": v for a, v in arm_values.items()}, **_plain(measured or {})}
        return self._decide(id, claim, measure, direction, margin, unit, seeds, pairs, gates, judge, judge_nets,
                            trained_against, deterministic, measured, paper, paper_unverified, note, timings=None,
                            rule=f"95% t-interval of the per-seed effect (n = {n}): reproduced if lo > 0 and mean >= "
                                 f"{format_value(margin)}; not reproduced if hi < {format_value(margin)}; else inconclusive")

    def timing(self, id: str, claim: str, *, measure: str, direction: str, rounds: dict, claimed: str, others,
               faster: bool = True, margin_ratio: float, gates=(), measured: dict | None = None, paper: str = "",
               paper_unverified: bool = False, note: str = "") -> Claim:
        """Register a timing finding from interleaved rounds: ``rounds = {arm: [seconds per round]}``.

        Per round r the effect is ``log(t_other / t_claimed)`` when the claim is "``claimed`` is faster"
        (``faster=True``), ``log(t_claimed / t_other)`` when it is "slower"; the margin is ``log(margin_ratio)``
        (``margin_ratio`` > 1). A busy machine widens the interval (inconclusive); it cannot flip the verdict.
        """
        id = _check_id(id)
        ratio = _number(f"timing {id}: margin_ratio", margin_ratio)
        if ratio <= 1:
            raise ValueError(f"timing {id}: margin_ratio must be > 1 (e.g. 1.2 for 'at least 20% faster'), got {ratio}")
        if not isinstance(rounds, dict) or claimed not in rounds:
            raise ValueError(f"timing {id}: rounds must be a dict of arm -> seconds per round including {claimed!r}")
        others = [others] if isinstance(others, str) else list(others)
        times = {a: _numbers(f"timing {id}: rounds[{a!r}]", v) for a, v in rounds.items()}
        for a, v in times.items():
            if len(v) < MIN_ROUNDS:
                raise ValueError(f"timing {id}: at least {MIN_ROUNDS} interleaved rounds are needed, {a!r} has {len(v)}")
            if min(v) <= 0:
                raise ValueError(f"timing {id}: times must be positive seconds, {a!r} has {min(v)}")
        pairs = {}
        for o in others:
            if o not in times or len(times[o]) != len(times[claimed]):
                raise ValueError(f"timing {id}: arm {o!r} needs as many rounds as {claimed!r}")
            sign = 1 if faster else -1
            pairs[f"{claimed} vs {o}"] = [sign * math.log(to / tc) for tc, to in zip(times[claimed], times[o])]
        med = {a: sorted(v)[len(v) // 2] for a, v in times.items()}
        return self._decide(id, _text("claim", claim), _text("measure", measure), _text("direction", direction),
                            math.log(ratio), "log ratio", [], pairs, gates, "wall-clock time, interleaved rounds", (), (),
                            False, measured, paper, paper_unverified, note,
                            timings={"median_s": med, "rounds_s": times, "margin_ratio": ratio},
                            rule=f"95% t-interval of the per-round log time ratio ({len(times[claimed])} interleaved rounds): "
                                 f"reproduced if lo > 0 and mean >= log {format_value(ratio)}; not reproduced if hi < log "
                                 f"{format_value(ratio)}; else inconclusive")

    def _pairs(self, id, effects, arms, compare, better) -> dict:
        if (effects is None) == (arms is None):
            raise ValueError(f"finding {id}: give either effects={{pair: per-seed effects}} or arms=... with compare=...")
        if effects is not None:
            if isinstance(effects, dict):
                if not effects:
                    raise ValueError(f"finding {id}: effects must name at least one pair")
                return {str(k): _numbers(f"finding {id}: effects[{k!r}]", v) for k, v in effects.items()}, {}
            return {"effect": _numbers(f"finding {id}: effects", effects)}, {}
        if not isinstance(arms, dict) or len(arms) < 2:
            raise ValueError(f"finding {id}: arms must be a dict of at least two arms -> per-seed values")
        values = {str(a): _numbers(f"finding {id}: arms[{a!r}]", v) for a, v in arms.items()}
        if not compare:
            raise ValueError(f"finding {id}: compare must list (claimed, other) pairs of arm names")
        out = {}
        for pair in compare:
            if not (isinstance(pair, (tuple, list)) and len(pair) == 2 and all(p in values for p in pair)):
                raise ValueError(f"finding {id}: compare entries must be (claimed, other) pairs of arms in {sorted(values)}, got {pair!r}")
            a, b = pair
            if len(values[a]) != len(values[b]):
                raise ValueError(f"finding {id}: arms {a!r} and {b!r} have different numbers of seeds")
            sign = 1.0 if better == "higher" else -1.0
            out[f"{a} vs {b}"] = [sign * (x - y) for x, y in zip(values[a], values[b])]
        return out, values

    def _decide(self, id, claim, measure, direction, margin, unit, seeds, pairs, gates, judge, judge_nets,
                trained_against, deterministic, measured, paper, paper_unverified, note, timings, rule) -> Claim:
        gates = list(gates or ())
        for g in gates:
            if not isinstance(g, Gate):
                raise TypeError(f"finding {id}: gates must be Gate records from Claims.gate, got {type(g).__name__}")
        judge_h, loss_h = _hashes("judge_nets", judge_nets), _hashes("trained_against", trained_against)
        circular = set(judge_h) & set(loss_h)
        if circular:
            raise ValueError(f"finding {id}: the judge network is one that an arm trained against (weights sha256 "
                             f"{sorted(circular)[0][:12]}...); judge with a network no arm optimised (utils.judge)")
        gates_ok = all(g.passed for g in gates)
        per_pair = {}
        for name, d in pairs.items():
            e = interval(d)
            per_pair[name] = (decide(e, margin), e)
        verdict, deciding = combine(per_pair)
        if not gates_ok:
            verdict = "inconclusive"
            failed = ", ".join(g.name for g in gates if not g.passed)
            note = (f"Gate failed: {failed}. " + note).strip()
        effect = dict(per_pair[deciding][1], pair=deciding)
        m = _plain(measured or {})
        c = Claim(self.chapter, id, "finding", claim, verdict, measure=measure, direction=direction, margin=margin,
                  unit=unit, seeds=list(seeds), effect=effect,
                  pairs={k: {"verdict": v, **e} for k, (v, e) in per_pair.items()},
                  gates=[asdict(g) for g in gates], judge=judge, judge_sha256=judge_h, trained_against_sha256=loss_h,
                  measured=m, rule=rule, paper=paper.strip(), paper_unverified=bool(paper_unverified), note=note.strip(),
                  timings=_plain(timings or {}), deterministic=bool(deterministic))
        return self._add(c)

    def _add(self, c: Claim) -> Claim:
        self.items = [x for x in self.items if x.id != c.id] + [c]  # re-running a cell replaces the entry
        self._write()
        return c

    def check(self, id: str, claim: str, *, measured: dict, compared: str, rule: str, reproduced: bool,
              inconclusive: bool = False, note: str = "", timings: dict | None = None) -> Claim:
        """Deprecated (pre-standard API, kept only while chapters move to :meth:`finding` / :meth:`mechanism`).

        Registers a claim of kind ``"unmigrated"``, which the scoreboard and the audit do not count as a finding.
        """
        verdict = "inconclusive" if bool(inconclusive) else ("reproduced" if bool(reproduced) else "not reproduced")
        c = Claim(self.chapter, _check_id(id), "unmigrated", _text("claim", claim), verdict, measured=_plain(measured),
                  rule=f"{compared}: {rule}", note=note.strip(), timings=_plain(timings or {}))
        return self._add(c)

    # -- prose
    def get(self, id: str) -> Claim:
        for c in self.items:
            if c.id == id:
                return c
        raise KeyError(f"Claims.get: no claim {id!r} registered in {self.chapter!r} (have {[c.id for c in self.items]})")

    def say(self, id: str, **by_verdict: str) -> str:
        """The sentence for a claim's verdict, formatted with its numbers.

        ``by_verdict`` maps verdict names (spaces as underscores: ``reproduced``, ``not_reproduced``,
        ``inconclusive``, ``verified``, ``failed``) to templates; ``{effect}``, ``{value}``, ``{lo}``, ``{hi}``,
        ``{margin}``, ``{unit}``, ``{n}`` and ``{gates}`` are filled in. A verdict without a template gets a
        plain default sentence, so no outcome is left unexplained.
        """
        c = self.get(id)
        key = c.verdict.replace(" ", "_")
        unknown = set(by_verdict) - {v.replace(" ", "_") for v in VERDICTS}
        if unknown:
            raise ValueError(f"Claims.say: unknown verdict names {sorted(unknown)}")
        e = c.effect or {}
        fields = {"effect": c.effect_text(), "value": e.get("value"), "lo": e.get("lo"), "hi": e.get("hi"),
                  "margin": c.margin, "unit": c.unit, "n": e.get("n"), "gates": c.gates_text(), "verdict": c.verdict}
        default = f"{c.id} is {c.verdict}: {c.effect_text()}."
        return by_verdict.get(key, default).format(**fields)

    def show(self, id: str, **by_verdict: str):
        """Display :meth:`say` as Markdown (in the book, Jupyter and Colab)."""
        from IPython.display import Markdown

        return Markdown(self.say(id, **by_verdict))

    # -- output
    def _write(self) -> None:
        folder = os.environ.get(CLAIMS_DIR_ENV)
        if not folder:
            return
        path = Path(folder)
        path.mkdir(parents=True, exist_ok=True)
        payload = {"chapter": self.chapter, "title": self.title, "seeds": self.seeds_used,
                   "gates": [asdict(g) for g in self.gate_log], "claims": [asdict(c) for c in self.items]}
        tmp = path / f".{self.chapter}.json.tmp"
        tmp.write_text(json.dumps(payload, indent=1))
        tmp.replace(path / f"{self.chapter}.json")

    def to_html(self, *, standard_link: str = "../" + STANDARD_PAGE) -> str:
        """The chapter's tables as HTML: findings, then mechanisms verified, with a link to the standard."""
        return render_tables(self.items, show_chapter=False, standard_link=standard_link)

    def table(self):
        """Display the verdict tables (HTML in Jupyter, Colab and the book)."""
        from IPython.display import HTML

        if not self.items:
            raise ValueError(f"Claims.table: chapter {self.chapter!r} registered no claim")
        return HTML(self.to_html())

    def summary(self) -> dict:
        """Count of claims per verdict (findings and mechanisms) and of gates passed."""
        out = {v: sum(c.verdict == v for c in self.items) for v in VERDICTS}
        out["gates passed"] = sum(g.passed for g in self.gate_log)
        out["gates"] = len(self.gate_log)
        return out


# ---------------------------------------------------------------- HTML
_BADGE = {"reproduced": "#1a7f37", "not reproduced": "#b42318", "inconclusive": "#9a6700",
          "verified": "#0b5cad", "failed": "#b42318"}

_TABLE_STYLE = (
    "<style>.claims-wrap{overflow-x:auto}.claims-table{font-size:0.85em;border-collapse:collapse}"
    ".claims-table th,.claims-table td{text-align:left !important;vertical-align:top;padding:4px 8px}"
    ".claims-table td.claim-text{min-width:14em}.claims-table td.claim-measured{min-width:12em}</style>"
)


def _badge(verdict: str) -> str:
    return (f'<span style="color:white;background:{_BADGE[verdict]};padding:1px 6px;border-radius:4px;'
            f'white-space:nowrap">{html.escape(verdict)}</span>')


def _as_claim(c) -> Claim:
    return c if isinstance(c, Claim) else Claim(**c)


def render_table(items, *, show_chapter: bool, kind: str = "finding", link_prefix: str = "") -> str:
    """HTML table of one kind of claim; each row carries data attributes so tests can compare pages."""
    e = html.escape
    items = [_as_claim(c) for c in items if _as_claim(c).kind == kind]
    if kind == "finding":
        head = "<th>#</th><th>Verdict</th><th>Claim</th><th>Effect vs margin</th><th>Measure, judge, gates</th><th>Paper</th>"
    else:
        head = "<th>#</th><th>Verdict</th><th>Mechanism</th><th>Error vs tolerance</th><th>Rule</th>"
    head = ("<th>Chapter</th>" if show_chapter else "") + head
    rows = []
    for c in items:
        chap = f'<td><a href="{link_prefix}chapters/{e(c.chapter)}.html">{e(c.chapter)}</a></td>' if show_chapter else ""
        if kind == "finding":
            gates = "; ".join(e(Gate(**g).text()) for g in c.gates) or "none (no trained arm)"
            paper = e(c.paper) + (" <em>(unverified)</em>" if c.paper and c.paper_unverified else "") if c.paper else "&ndash;"
            cells = (f"<td>{e(c.id)}</td><td>{_badge(c.verdict)}</td><td class=\"claim-text\">{e(c.claim)}"
                     f"<br><small>direction: {e(c.direction)}</small></td>"
                     f'<td class="claim-measured">{e(c.effect_text())}<br><small>deciding: {e(str(c.effect.get("pair", "")))}</small></td>'
                     f"<td><small>{e(c.measure)}; judge: {e(c.judge)}; gates: {gates}"
                     f"{(' <em>' + e(c.note) + '</em>') if c.note else ''}</small></td><td><small>{paper}</small></td>")
        else:
            shown = c.effect_text() if c.kind == "mechanism" else c.measured_text()
            cells = (f"<td>{e(c.id)}</td><td>{_badge(c.verdict)}</td><td class=\"claim-text\">{e(c.claim)}</td>"
                     f'<td class="claim-measured">{e(shown)}</td>'
                     f"<td><small>{e(c.rule)}{(' <em>' + e(c.note) + '</em>') if c.note else ''}</small></td>")
        rows.append(f'<tr class="claim-row" data-chapter="{e(c.chapter)}" data-claim="{e(c.id)}" data-kind="{e(c.kind)}" '
                    f'data-verdict="{e(c.verdict)}" data-effect="{e(c.effect_text())}">{chap}{cells}</tr>')
    return (f'{_TABLE_STYLE}<div class="claims-wrap"><table class="claims-table docutils align-default">'
            f'<thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table></div>')


def render_tables(items, *, show_chapter: bool, standard_link: str, link_prefix: str = "") -> str:
    """Findings table, then the mechanisms-verified table, with a link to "How verdicts are decided"."""
    items = [_as_claim(c) for c in items]
    nf = sum(c.kind == "finding" for c in items)
    nm = sum(c.kind == "mechanism" for c in items)
    nu = sum(c.kind == "unmigrated" for c in items)
    out = (f'<p class="claims-standard">Verdicts follow the book\'s standard: '
           f'<a href="{html.escape(standard_link)}">How verdicts are decided</a>.</p>')
    if nf:
        out += f"<p><strong>Findings</strong> ({nf})</p>" + render_table(items, show_chapter=show_chapter, kind="finding", link_prefix=link_prefix)
    if nm:
        out += (f"<p><strong>Mechanisms verified</strong> ({nm}; true by construction or exact computation, "
                f"not counted as results)</p>") + render_table(items, show_chapter=show_chapter, kind="mechanism", link_prefix=link_prefix)
    if nu:
        out += (f"<p><strong>Not yet decided by the standard</strong> ({nu}; registered with the old API, "
                f"not counted)</p>") + render_table(items, show_chapter=show_chapter, kind="unmigrated", link_prefix=link_prefix)
    return out


def render_summary(items, gates_by_chapter: dict | None = None) -> str:
    """One row per chapter: findings per verdict, mechanisms verified, gates passed (the scoreboard's overview)."""
    per: dict[str, dict] = {}
    for c in map(_as_claim, items):
        n = per.setdefault(c.chapter, {**dict.fromkeys(VERDICTS, 0)})
        if c.kind in ("finding", "mechanism"):
            n[c.verdict] += 1
    e = html.escape
    gates_by_chapter = gates_by_chapter or {}
    head = ("<th>Chapter</th>" + "".join(f"<th>{_badge(v)}</th>" for v in FINDING_VERDICTS)
            + f"<th>mechanisms {_badge('verified')}</th><th>gates passed</th>")
    rows = ""
    for ch, n in per.items():
        gl = gates_by_chapter.get(ch, [])
        rows += (f'<tr class="chapter-summary" data-chapter="{e(ch)}"><td><a href="chapters/{e(ch)}.html">{e(ch)}</a></td>'
                 + "".join(f"<td>{n[v]}</td>" for v in FINDING_VERDICTS)
                 + f"<td>{n['verified']}" + (f" ({n['failed']} failed)" if n["failed"] else "") + "</td>"
                 + f"<td>{sum(bool(g.get('passed')) for g in gl)}/{len(gl)}</td></tr>")
    return (f'{_TABLE_STYLE}<div class="claims-wrap"><table class="claims-table claims-summary docutils align-default">'
            f"<thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table></div>")


def glue(name: str, value, *, display: bool = False, echo: bool = True) -> None:
    """``myst_nb.glue`` in a book build. Where myst-nb is absent (Colab, a plain Jupyter) the notebook's text
    cannot be filled in, so a text or number value is printed in the cell's output instead, labelled by name
    (``echo=False`` for a caller that has printed it already)."""
    if not isinstance(name, str) or not name:
        raise ValueError(f"glue: name must be a non-empty string, got {name!r}")
    try:
        from myst_nb import glue as _glue
    except ImportError:
        if echo and isinstance(value, (str, int, float)):
            print(f"[{name}] {value}")
        return
    _glue(name, value, display=display)
