"""OptLLM-M's partial orderings give exactly what full sorts give (ties included)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from optllm.optimizers.destruct import _argsort, _pair_count, _pairs, _smallest

#: Few distinct values, so ties across the selection's cut are common.
keys = st.lists(st.integers(-5, 5).map(float) | st.floats(-1, 1), min_size=1, max_size=300)


@given(keys, st.integers(0, 300))
@settings(max_examples=200, deadline=None)
def test_smallest_is_the_head_of_the_full_order(values: list[float], k: int) -> None:
    array = np.asarray(values)
    k = min(k, array.size)
    np.testing.assert_array_equal(_smallest(array, k), _argsort(array)[:k])


def full_pairs(buyers: np.ndarray, sellers: np.ndarray, buy: np.ndarray, sell: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray, int]:
    """The pairing with every candidate sorted (what `_pairs` must reproduce)."""
    buyers = buyers[_argsort(-buy[buyers])]
    sellers = sellers[_argsort(sell[sellers])]
    n = _pair_count(buy[buyers], sell[sellers])
    sellers = sellers[~np.isin(sellers, buyers[:n])]
    return buyers, sellers, _pair_count(buy[buyers], sell[sellers])


@given(st.integers(1, 12000), st.integers(0, 2**32 - 1), st.booleans())
@settings(max_examples=40, deadline=None)
def test_pairs_match_the_fully_sorted_pairing(n: int, seed: int, rounded: bool) -> None:
    rng = np.random.default_rng(seed)
    buy, sell = rng.normal(0, 1, n), rng.normal(0.5, 1, n)
    if rounded:
        buy, sell = buy.round(1), sell.round(1)
    buyers = np.flatnonzero(buy > sell.min())
    sellers = np.flatnonzero(sell < buy.max())
    got_b, got_s, got_n = _pairs(buyers, sellers, buy, sell)
    want_b, want_s, want_n = full_pairs(buyers, sellers, buy, sell)
    assert got_n == want_n
    np.testing.assert_array_equal(got_b[:got_n], want_b[:want_n])
    np.testing.assert_array_equal(got_s[:got_n], want_s[:want_n])
