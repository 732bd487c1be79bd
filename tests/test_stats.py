"""Every statistic against SciPy, a case worked by hand, an exact enumeration, or a seeded simulation."""

import itertools
import math

import numpy as np
import pytest
from scipy import stats
from scipy.special import gammaln

from undrift.analysis.stats import (
    PairedBinary,
    benjamini_hochberg,
    paired_mean_change,
    paired_rate_change,
    paired_rate_interval,
    paired_rate_p_value,
    pass_at_k,
    pass_hat_k,
    rate_interval,
    wilson_interval,
)


def test_wilson_matches_the_textbook_case():
    low, high = wilson_interval(8, 10)
    assert low == pytest.approx(0.4902, abs=1e-4) and high == pytest.approx(0.9433, abs=1e-4)
    assert wilson_interval(0, 0) == (0.0, 1.0)
    assert wilson_interval(0, 20)[0] == 0.0 and wilson_interval(20, 20)[1] == 1.0


def test_paired_table_counts_rates_and_delta():
    old = [True, True, True, False, False, True]
    new = [True, False, True, True, False, False]
    table = PairedBinary.of(old, new)
    assert (table.both, table.old_only, table.new_only, table.neither) == (2, 2, 1, 1)
    assert table.old_rate == pytest.approx(4 / 6) and table.new_rate == pytest.approx(3 / 6)
    assert table.delta == pytest.approx(-1 / 6)
    with pytest.raises(ValueError):
        PairedBinary.of([True], [True, False])


def test_the_rate_test_is_mcnemars_score_test_or_stricter():
    # 9 negative flips, 1 positive: McNemar's statistic (9 - 1) / sqrt(10)
    table = PairedBinary(both=30, old_only=9, new_only=1, neither=10)
    mcnemar = 2 * stats.norm.sf(8 / math.sqrt(10))
    assert table.p_value() >= mcnemar - 1e-12 and table.p_value() < 0.05
    assert PairedBinary(5, 0, 0, 5).p_value() == 1.0 and PairedBinary(3, 2, 2, 3).p_value() == 1.0
    # the case: 3 of 5 samples flipped up.  Shown before as +60 [+3.0, +88.2] pts with p 0.500
    few = PairedBinary(both=0, old_only=0, new_only=3, neither=2)
    low, high = few.delta_interval()
    assert low < 0 < high and few.p_value() > 0.05


def test_no_table_makes_the_interval_or_the_test_raise():
    """Every table with full agreement (the 50%-accuracy crash of issue 8), and random small tables, n = 1..60."""
    tables = [(a, 0, 0, n - a) for n in range(1, 61) for a in range(n + 1)]
    rng = np.random.default_rng(8)
    for _ in range(3000):
        n = int(rng.integers(1, 61))
        cuts = np.sort(rng.integers(0, n + 1, 3))
        tables.append((int(cuts[0]), int(cuts[1] - cuts[0]), int(cuts[2] - cuts[1]), int(n - cuts[2])))
    cells = np.array(tables, dtype=float).T
    with np.errstate(all="raise"):  # no warning either: no 0/0, no square root of a negative number
        low, high = paired_rate_interval(*cells)
        p = paired_rate_p_value(*cells)
    delta = (cells[2] - cells[1]) / cells.sum(axis=0)
    assert np.all(np.isfinite(low)) and np.all(np.isfinite(high)) and np.all((p >= 0) & (p <= 1))
    assert np.all((-1 <= low) & (low <= delta + 1e-9) & (delta - 1e-9 <= high) & (high <= 1))
    for table in tables[::97]:  # and through the scalar API the comparison uses
        low, high = PairedBinary(*table).delta_interval()
        assert -1 <= low <= high <= 1 and 0 <= PairedBinary(*table).p_value() <= 1


def _all_tables(n):
    return np.array([(a, b, c, n - a - b - c) for a in range(n + 1) for b in range(n + 1 - a)
                     for c in range(n + 1 - a - b)], dtype=float).T


def _probabilities(cells, n, p):
    with np.errstate(divide="ignore", invalid="ignore"):
        logs = gammaln(n + 1) - gammaln(cells + 1).sum(axis=0) + sum(
            np.where(cells[i] > 0, cells[i] * np.log(p[i]), 0.0) for i in range(4))
    return np.exp(logs)


# (negative flips, positive flips, old accuracy): few disagreements, as between model versions, and many
SETTINGS = [(p10, p01, acc) for p10, p01, acc in itertools.product(
    (0.01, 0.02, 0.05, 0.1, 0.2, 0.3), (0.01, 0.02, 0.05, 0.1, 0.2, 0.3), (0.3, 0.5, 0.7, 0.9))
    if acc - p10 > 0 and 1 - acc - p01 > 0]


@pytest.mark.parametrize("n", [20, 50, 100])
def test_the_paired_interval_covers_the_true_change_enumerating_every_table(n):
    """Exact coverage: the probability of every 2x2 table times whether its interval holds the true change."""
    cells = _all_tables(n)
    low, high = paired_rate_interval(*cells)
    coverage = []
    for p10, p01, acc in SETTINGS:
        probabilities = _probabilities(cells, n, (acc - p10, p10, p01, 1 - acc - p01))
        truth = p01 - p10
        coverage.append(probabilities[(low <= truth + 1e-12) & (truth - 1e-12 <= high)].sum())
    assert np.mean(coverage) >= 0.95 and min(coverage) >= 0.90, (np.mean(coverage), min(coverage))


@pytest.mark.parametrize("n", [10, 20, 50, 100])
def test_the_paired_test_holds_its_level_enumerating_every_table(n):
    """With no change (as many flips down as up), p < 0.05 in at most about 5% of tables, at any churn."""
    cells = _all_tables(n)
    p = paired_rate_p_value(*cells)
    sizes = [_probabilities(cells, n, (acc - flip, flip, flip, 1 - acc - flip))[p < 0.05].sum()
             for flip in (0.01, 0.02, 0.05, 0.1, 0.2, 0.3) for acc in (0.4, 0.5, 0.7, 0.9) if flip < min(acc, 1 - acc)]
    assert max(sizes) <= 0.055, max(sizes)


def test_rate_interval_excludes_zero_exactly_when_p_is_below_005():
    cells = _all_tables(40)
    low, high = paired_rate_interval(*cells)
    p = paired_rate_p_value(*cells)
    excludes = (low > 0) | (high < 0)
    assert np.array_equal(excludes, p < 0.05)


def test_mean_interval_excludes_zero_exactly_when_p_is_below_005():
    rng = np.random.default_rng(3)
    agreements = 0
    for trial in range(2000):
        n = int(rng.integers(2, 80))
        old = rng.exponential(1.0, n)
        new = old + rng.normal(rng.normal(0, 0.3), 1.0, n)
        result = paired_mean_change(old, new)
        agreements += (result.ci[0] > 0 or result.ci[1] < 0) == (result.p < 0.05)
    assert agreements == 2000


def test_paired_mean_change_is_the_paired_t_test_and_interval():
    rng = np.random.default_rng(0)
    old = rng.normal(100, 10, 60)
    new = old + rng.normal(5, 3, 60)
    result = paired_mean_change(old, new)
    t = stats.ttest_rel(new, old)
    interval = t.confidence_interval(0.95)
    assert result.delta == pytest.approx(float(np.mean(new - old))) and result.p == pytest.approx(t.pvalue)
    assert result.ci == (pytest.approx(interval.low), pytest.approx(interval.high))
    same = paired_mean_change([1.0, 2.0, 3.0], [1.0, 2.0, 3.0])
    assert same.delta == 0 and same.p == 1.0 and same.ci == (0.0, 0.0)


def test_identical_differences_fall_back_to_the_sign_test():
    few = paired_mean_change([1.0] * 4, [3.0] * 4)  # 4 of 4 up: sign test p = 1/8, not significant
    assert few.p == pytest.approx(1 / 8) and few.ci is None
    many = paired_mean_change([1.0] * 8, [3.0] * 8)
    assert many.p == pytest.approx(1 / 128) and many.ci == (2.0, 2.0)
    assert paired_mean_change([1.0], [2.0]).ci is None


def test_paired_t_interval_covers_skewed_differences():
    rng = np.random.default_rng(11)
    covered = 0
    for _ in range(2000):
        differences = rng.exponential(1.0, 60) - 1.0  # mean 0, skewed like latencies
        result = paired_mean_change(np.zeros(60), differences)
        covered += result.ci[0] <= 0 <= result.ci[1]
    assert 0.92 <= covered / 2000 <= 0.97


def test_rates_over_repeats_never_shrink_to_a_point():
    """Per-sample pass rates that are all 1 used to give the interval (1, 1): certainty from 30 samples."""
    low, high = rate_interval([1.0] * 30)
    assert (low, high) == pytest.approx(wilson_interval(30, 30)) and low < 0.9
    low, high = rate_interval([0.5, 1.0, 0.0, 0.5, 1.0, 1.0])
    assert 0 <= low < high <= 1
    # six samples each going from 3 of 3 right to 2 of 3: a third of a flip each, not a certain change
    change = paired_rate_change([1.0] * 6, [2 / 3] * 6)
    assert change.ci[0] < 0 < change.ci[1] and change.p > 0.05
    assert change.p == pytest.approx(float(paired_rate_p_value(4, 2, 0, 0)))  # the fractional 2x2 table
    whole = paired_rate_change([0.0, 0.0, 0.0], [1.0, 0.0, 0.0])  # whole verdicts: the paired-rate interval
    assert whole.ci == pytest.approx(PairedBinary(0, 0, 1, 2).delta_interval())
    varied = paired_rate_change([1, 2 / 3, 1, 1 / 3, 2 / 3, 1, 1, 2 / 3], [2 / 3, 1 / 3, 1, 0, 1 / 3, 1, 2 / 3, 1 / 3])
    assert -1 <= varied.ci[0] < varied.delta < varied.ci[1] <= 1


def test_pass_at_k_and_pass_hat_k_against_every_subset():
    for attempts, correct, k in [(5, 2, 3), (4, 4, 2), (6, 1, 1), (6, 0, 3), (3, 2, 3)]:
        outcomes = [True] * correct + [False] * (attempts - correct)
        subsets = list(itertools.combinations(outcomes, k))
        assert pass_at_k(correct, attempts, k) == pytest.approx(sum(any(s) for s in subsets) / len(subsets))
        assert pass_hat_k(correct, attempts, k) == pytest.approx(sum(all(s) for s in subsets) / len(subsets))
    with pytest.raises(ValueError):
        pass_at_k(1, 3, 4)


def test_benjamini_hochberg_by_hand():
    adjusted = benjamini_hochberg([0.01, 0.04, 0.03, 0.20])
    assert adjusted == pytest.approx([0.04, 0.04 * 4 / 3, 0.04 * 4 / 3, 0.20])
    assert benjamini_hochberg([]) == []


def test_a_confidence_that_rounds_to_one_has_an_infinite_quantile():
    from undrift.analysis.stats import z_quantile

    assert z_quantile(1.0) == float("inf") and z_quantile(0.0) == 0.0
    assert abs(z_quantile(0.95) - 1.959963984540054) < 1e-12
