"""Every method that builds a front, by name: the one list the command, the app and the
comparison take their choices and descriptions from.

Optimisers search the front of the predicted scores; references bound a comparison from
both sides (`oracle`, the true front from the labels; `prior`, the hull on base rates).
`stepwise` methods run step by step in `optllm.optimizers.api.iter_optimize`: those are the
ones `optllm run` and the app's Optimise screen offer. The rest run in `optllm compare`.
"""

from __future__ import annotations

from dataclasses import dataclass

#: Mixing levels of the `random` baseline: 0%, 1%, ..., 100% of queries on a random model.
RANDOM_LEVELS = 101


@dataclass(frozen=True)
class Method:
    """A registered method: its name, what it is, and where it runs."""

    name: str
    description: str
    #: Shown beside the name in the app's method list ("optllm (paper)").
    short: str
    stepwise: bool = False
    reference: bool = False
    needs_pymoo: bool = False


METHODS: dict[str, Method] = {m.name: m for m in (
    Method("optllm", "the paper's destruct/reconstruct search on the predicted scores",
           "paper", stepwise=True),
    Method("hull", "the exact supported front of the predicted scores (the limit)", "exact",
           stepwise=True),
    Method("single", "each model for all queries (non-dominated by base rate)", "one model"),
    Method("random", f"random mixes of cheapest and random models, {RANDOM_LEVELS} levels",
           "random"),
    Method("oracle", "the true front, from the labels", "labels", reference=True),
    Method("prior", "the hull on per-model base rates of the training sample only", "base rates",
           reference=True),
    Method("nsga2", "NSGA-II (pymoo), the paper's tuned settings", "NSGA-II", needs_pymoo=True),
    Method("smsemoa", "SMS-EMOA (pymoo), the paper's tuned settings", "SMS-EMOA",
           needs_pymoo=True),
    Method("moead", "MOEA/D (pymoo), the paper's tuned settings", "MOEA/D", needs_pymoo=True),
)}
#: The methods a run takes (`RunConfig.method`, `optllm run --method`, the Optimise screen).
RUN_METHODS: tuple[str, ...] = tuple(name for name, m in METHODS.items() if m.stepwise)
