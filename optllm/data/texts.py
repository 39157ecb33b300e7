"""Light text helpers shared by the featurisers, the command and the app (no ML imports):
the prefix every query shares, and how a preview says it left it out."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np


def common_prefix(texts: Sequence[str] | np.ndarray) -> str:
    """Longest common prefix: that of the lexicographic minimum and maximum."""
    lo, hi = min(texts), max(texts)
    pairs = zip(lo, hi, strict=False)  # lo is the shorter when it is a prefix of hi
    return lo[:next((i for i, (a, b) in enumerate(pairs) if a != b), len(lo))]


def shared_prefix(texts: Sequence[str] | np.ndarray) -> str:
    """The prefix every text shares (a few-shot prompt, an instruction), cut at whitespace
    so no word is split; empty for fewer than two texts."""
    if len(texts) < 2:
        return ""
    head = re.match(r".*\s", common_prefix(texts), re.S)
    return head.group(0) if head else ""


def prefix_note(prefix: str, shown: int = 40) -> str:
    """What a preview says when it leaves out the `prefix` every query shares."""
    start = " ".join(prefix.split())
    start = start if len(start) <= shown else start[:shown] + "..."
    return (f"every query starts with the same {len(prefix):,} characters (\"{start}\"); "
            "not shown")
