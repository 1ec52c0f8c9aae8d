"""Fake claims for the runner tests: they count their runs and can fail or be 'killed'."""

from qopt.reproduce.claim import ClaimResult, ClaimSpec, Context, Part, Table
from qopt.reproduce.verdict import REPRODUCED, Verdict

CALLS = {"alpha": 0, "beta": 0}
BEHAVIOUR = {"beta": "ok"}  # "ok" | "raise" | "kill"


def _protocol(ctx: Context) -> dict:
    return {"mode": ctx.mode, "seeds": ctx.n_seeds()}


def _alpha(ctx: Context, prot: dict) -> ClaimResult:
    CALLS["alpha"] += 1
    v = Verdict(REPRODUCED, "rule a", "reason a", ctx.quick)
    return ClaimResult(v, ("line a",), ("dev a",), (Part("p", "s", v),),
                       (Table("t", ("x", "y|z"), ((1, "v*"),)),), findings=("found a",))


def _beta(ctx: Context, prot: dict) -> ClaimResult:
    CALLS["beta"] += 1
    if BEHAVIOUR["beta"] == "raise":
        raise RuntimeError("beta broke")
    if BEHAVIOUR["beta"] == "kill":
        raise KeyboardInterrupt  # an interruption, not an error: propagates
    return ClaimResult(Verdict(REPRODUCED, "rule b", "reason b"), ("line b",))


SPECS = {
    "alpha": ClaimSpec("alpha", "Alpha", "statement a", "1.0", "src a", "closed-form",
                       _protocol, _alpha),
    "beta": ClaimSpec("beta", "Beta", "statement b", "", "src b", "closed-form", _protocol,
                      _beta),
}
