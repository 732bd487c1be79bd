"""Every statistic against SciPy or a case worked by hand."""

import numpy as np
import pytest
from scipy import stats

from undrift.analysis.stats import (
    PairedBinary,
    benjamini_hochberg,
    paired_continuous,
    wilson_interval,
)


def test_wilson_matches_the_textbook_case():
    low, high = wilson_interval(8, 10)
    assert low == pytest.approx(0.4902, abs=1e-4) and high == pytest.approx(0.9433, abs=1e-4)
    assert wilson_interval(0, 0) == (0.0, 1.0)
    assert wilson_interval(0, 20)[0] == 0.0 and wilson_interval(20, 20)[1] == 1.0


def test_exact_mcnemar_by_hand_and_against_scipy():
    # 1 discordant pair one way, 9 the other: p = 2 * (C(10,0) + C(10,1)) / 2^10
    table = PairedBinary(both=30, old_only=9, new_only=1, neither=10)
    assert table.mcnemar_p() == pytest.approx(2 * 11 / 1024)
    assert table.mcnemar_p() == pytest.approx(stats.binomtest(9, 10, 0.5).pvalue)
    assert PairedBinary(5, 0, 0, 5).mcnemar_p() == 1.0


def test_paired_table_counts_rates_and_delta():
    old = [True, True, True, False, False, True]
    new = [True, False, True, True, False, False]
    table = PairedBinary.of(old, new)
    assert (table.both, table.old_only, table.new_only, table.neither) == (2, 2, 1, 1)
    assert table.old_rate == pytest.approx(4 / 6) and table.new_rate == pytest.approx(3 / 6)
    assert table.delta == pytest.approx(-1 / 6)
    with pytest.raises(ValueError):
        PairedBinary.of([True], [True, False])


def test_newcombe_interval_contains_the_estimate_and_stays_in_range():
    for cells in [(40, 5, 1, 4), (0, 10, 0, 0), (50, 0, 0, 0), (3, 0, 7, 0)]:
        table = PairedBinary(*cells)
        low, high = table.delta_interval()
        assert -1 <= low <= table.delta <= high <= 1


def test_newcombe_interval_covers_the_true_difference_95_percent_of_the_time():
    rng = np.random.default_rng(7)
    n, p_old, p_flip_down, p_flip_up = 80, 0.7, 0.15, 0.05
    true_delta = p_old * -p_flip_down + (1 - p_old) * p_flip_up
    covered, sims = 0, 3000
    for _ in range(sims):
        old = rng.random(n) < p_old
        flip = rng.random(n)
        new = np.where(old, flip >= p_flip_down, flip < p_flip_up)
        low, high = PairedBinary.of(old, new).delta_interval()
        covered += low <= true_delta <= high
    assert 0.93 <= covered / sims <= 0.975


def test_paired_continuous_uses_wilcoxon_and_a_bootstrap_around_the_mean():
    rng = np.random.default_rng(0)
    old = rng.normal(100, 10, 60)
    new = old + rng.normal(5, 3, 60)
    result = paired_continuous(old, new)
    assert result.delta == pytest.approx(float(np.mean(new - old)))
    assert result.p == pytest.approx(stats.wilcoxon(new - old).pvalue)
    assert result.ci[0] < result.delta < result.ci[1] and result.ci[0] > 0
    same = paired_continuous([1.0, 2.0, 3.0], [1.0, 2.0, 3.0])
    assert same.delta == 0 and same.p == 1.0 and same.ci == (0.0, 0.0)


def test_benjamini_hochberg_by_hand():
    adjusted = benjamini_hochberg([0.01, 0.04, 0.03, 0.20])
    assert adjusted == pytest.approx([0.04, 0.04 * 4 / 3, 0.04 * 4 / 3, 0.20])
    assert benjamini_hochberg([]) == []
