"""Gate a new version against the old one with a policy: pass/fail with reasons, an exit code and JUnit XML.

A policy is a YAML file with a list of rules.  Each rule names a metric and one or more thresholds, and applies to
every task that measures the metric (or to the tasks it lists):

    rules:
      - metric: nfr                  # negative flip rate
        max: 0.02
      - metric: accuracy
        no_significant_drop: true    # paired test, BH-adjusted across tasks
      - metric: response_rate
        max_drop: 0.05               # 5 points
      - metric: verbosity
        max_relative_change: 0.30
        tasks: [primes, code]

`bound: ci` makes a threshold hold for the whole 95% interval rather than the estimate, for teams that want the
gate to be sure, not just hopeful.  With `--repeats`, `pass_hat_k` (all k attempts right) gates reliability.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable
from xml.etree import ElementTree

from .analysis.compare import Comparison, GroupComparison, compare_runs, MetricChange, error_note, unfit_for_gate
from .analysis.metrics import FLIP_METRICS, POLICY_METRICS, RATE_METRICS, better_direction
from .errors import UndriftError, option
from .jsonable import jsonable
from .store import RunRecord, Store
from .report import numbers
from .report.numbers import p_text
from .userfiles import load_yaml, read_text

THRESHOLDS = ("max", "min", "max_drop", "max_rise", "max_relative_change", "no_significant_drop",
              "no_significant_rise", "no_significant_change")
RULE_KEYS = {"metric", "tasks", "bound", "slices", *THRESHOLDS}
# On a metric that is a share in [0, 1] (RATE_METRICS), a `max: 5` meant as 5% would pass any regression, so these
# limits are refused outside [0, 1]; and no threshold on a size of change may be negative.
SHARE_LIMITS = ("max", "min", "max_drop", "max_rise")
CHANGE_LIMITS = ("max_drop", "max_rise", "max_relative_change")


@dataclass(frozen=True)
class Rule:
    metric: str
    thresholds: dict[str, Any]
    tasks: tuple[str, ...] | None = None
    bound: str = "estimate"  # or "ci"
    slices: bool = False

    def describe(self) -> str:
        parts = [f"{key.replace('_', ' ')} {value}" if not isinstance(value, bool) else key.replace("_", " ")
                 for key, value in self.thresholds.items()]
        return f"{self.metric}: " + ", ".join(parts) + (" (whole 95% CI)" if self.bound == "ci" else "")


@dataclass(frozen=True)
class Policy:
    rules: tuple[Rule, ...]
    source: str = ""

    @classmethod
    def load(cls, path: str | Path) -> "Policy":
        file = Path(path)
        if not file.is_file():
            raise UndriftError(f"no policy file {str(path)!r}: write one (see docs/gate.md)")
        return cls.parse(load_yaml(read_text(file), f"policy {file.name}"), file.name)

    @classmethod
    def parse(cls, data: Any, source: str = "policy") -> "Policy":
        unknown_top = sorted(set(data) - {"rules", "description"}) if isinstance(data, dict) else []
        if unknown_top:
            raise UndriftError(f"{source}: unknown key {unknown_top[0]!r} (a policy has `rules:` and `description:`)")
        if not isinstance(data, dict) or not isinstance(data.get("rules"), list) or not data["rules"]:
            raise UndriftError(f"{source}: a policy is a mapping with a non-empty list `rules:` of thresholds")
        return cls(tuple(_rule(raw, f"{source} rule {i + 1}") for i, raw in enumerate(data["rules"])), source)


def _rule(raw: Any, where: str) -> Rule:
    if not isinstance(raw, dict) or "metric" not in raw:
        raise UndriftError(f"{where}: each rule is a mapping with a `metric:` and a threshold such as `max: 0.02`")
    unknown = sorted(set(raw) - RULE_KEYS)
    if unknown:
        raise UndriftError(f"{where}: unknown key {unknown[0]!r}; a rule takes {', '.join(sorted(RULE_KEYS))}")
    metric = raw["metric"]
    if metric not in POLICY_METRICS:
        raise UndriftError(f"{where}: unknown metric {metric!r}; choose one of {', '.join(POLICY_METRICS)}")
    thresholds = {k: raw[k] for k in THRESHOLDS if k in raw}
    if not thresholds:
        raise UndriftError(f"{where}: give a threshold ({', '.join(THRESHOLDS)})")
    for key, value in thresholds.items():
        boolean = key.startswith("no_significant")
        if boolean and not isinstance(value, bool) or not boolean and (
                isinstance(value, bool) or not isinstance(value, (int, float))):
            kind = "true or false" if boolean else "a number"
            raise UndriftError(f"{where}: {key} must be {kind} (got {value!r})")
        if key in SHARE_LIMITS and metric in RATE_METRICS and not 0 <= value <= 1:
            raise UndriftError(f"{where}: {metric} is a share between 0 and 1, and so is {key} (got {value!r}; "
                               f"for {value:g}% write {value / 100:g})")
        if key in CHANGE_LIMITS and value < 0:
            raise UndriftError(f"{where}: {key} is a size of change and cannot be negative (got {value!r})")
        if key.startswith("no_significant") and metric in FLIP_METRICS:
            raise UndriftError(f"{where}: {key} needs a metric with a paired test, not {metric!r}")
        if key in ("no_significant_drop", "no_significant_rise") and better_direction(metric) != (
                1 if key == "no_significant_drop" else -1):
            fitting = {1: "no_significant_drop", -1: "no_significant_rise"}.get(better_direction(metric),
                                                                                 "no_significant_change")
            raise UndriftError(f"{where}: {key} would pass a worse {metric} and fail a better one; use {fitting}")
    bound = raw.get("bound", "estimate")
    if bound not in ("estimate", "ci"):
        raise UndriftError(f"{where}: bound must be `estimate` or `ci` (got {bound!r})")
    tasks = raw.get("tasks")
    if tasks is not None and (not isinstance(tasks, list) or not all(isinstance(t, str) for t in tasks)):
        raise UndriftError(f"{where}: tasks must be a list of task names")
    return Rule(metric, thresholds, tuple(tasks) if tasks else None, bound, bool(raw.get("slices", False)))


@dataclass
class Check:
    """One threshold of one rule on one task (or slice): what was measured and whether it held."""

    rule: str
    task: str
    passed: bool
    reason: str
    value: float | None = None


@dataclass
class GateResult:
    passed: bool
    checks: list[Check] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def failures(self) -> list[Check]:
        return [c for c in self.checks if not c.passed]

    def to_dict(self) -> dict[str, Any]:
        return jsonable({"passed": self.passed, "checks": [asdict(c) for c in self.checks], "notes": self.notes})

    def junit_xml(self, name: str) -> str:
        """JUnit XML: one test case per check, so a CI system lists each threshold and why it failed."""
        suite = ElementTree.Element("testsuite", name=name, tests=str(len(self.checks)),
                                    failures=str(len(self.failures)), errors="0", skipped="0")
        for check in self.checks:
            case = ElementTree.SubElement(suite, "testcase", classname=f"undrift.gate.{check.task}",
                                          name=check.rule)
            if not check.passed:
                ElementTree.SubElement(case, "failure", message=check.reason, type="GateFailure").text = check.reason
            else:
                ElementTree.SubElement(case, "system-out").text = check.reason
        suites = ElementTree.Element("testsuites", name="undrift gate", tests=suite.get("tests"),
                                     failures=suite.get("failures"))
        suites.append(suite)
        ElementTree.indent(suites)
        return '<?xml version="1.0" encoding="UTF-8"?>\n' + ElementTree.tostring(suites, encoding="unicode") + "\n"


@dataclass
class GateReport:
    """A gate's verdict on two runs: the comparison it read, the checks of the policy, and the policy itself."""

    comparison: Comparison
    result: GateResult
    policy: Policy

    @property
    def passed(self) -> bool:
        return self.result.passed

    @property
    def failures(self) -> list[Check]:
        return self.result.failures

    def junit_xml(self) -> str:
        return self.result.junit_xml(f"{self.comparison.old.name} -> {self.comparison.new.name}")

    def to_dict(self) -> dict[str, Any]:
        """What `undrift gate --json` prints: the runs, how many samples they share, the verdict and its checks."""
        c = self.comparison
        return jsonable({"old": c.old.id, "new": c.new.id, "shared": c.shared, **self.result.to_dict()})


@dataclass(frozen=True)
class GateSide:
    """One side of a gate resolved against the store: the reference as given, the version it names when it is a
    registry alias, and the runs it stands for, newest first."""

    ref: str
    version: str | None
    runs: list[RunRecord]

    @property
    def label(self) -> str:
        return f"{self.ref!r}" + (f" (alias of {self.version!r})" if self.version else "")


def gate_side(store: Store, ref: str, baseline: bool) -> GateSide:
    """Runs of an alias's version or of a name, newest first; else the one run an id or prefix names.  The
    baseline keeps its finished runs, as promotion does; the candidate keeps every run, failed ones too, so a broken
    candidate is refused rather than passed over for an older run."""
    from .registry import Registry

    registry = Registry(store)
    version = registry.alias_target(ref)
    name = version or ref
    runs = registry.runs_of(name) if baseline else store.list_runs(name=name, limit=None)
    if runs:
        return GateSide(ref, version, runs)
    if version:
        raise UndriftError(f"alias {ref!r} points at version {version!r}, which has no finished runs")
    return GateSide(ref, None, [store.get_run(ref)])


def gate_pairs(store: Store, old: str, new: str, suite: str | None = None
               ) -> tuple[GateSide, GateSide, list[tuple[RunRecord, RunRecord]]]:
    """The runs a gate compares, by the one rule `undrift.gate`, `undrift.testing` and promotion share: each side
    (a run id or prefix, a run name, or a registry alias) stands for its newest run of each suite, and the pairs are
    the suites both sides ran (only `suite`, if given), ordered by the candidate's newest run."""
    from .registry import shared_suite_runs

    baseline, candidate = gate_side(store, old, baseline=True), gate_side(store, new, baseline=False)
    pairs = shared_suite_runs(baseline.runs, candidate.runs)
    if suite is not None:
        shared = pairs
        pairs = [(before, after) for before, after in pairs if after.suite == suite]
        if not pairs:
            raise UndriftError(f"{candidate.label} and {baseline.label} have no runs of the suite {suite!r} to compare "
                               f"(they share {_suites(n.suite for _, n in shared) or 'no suite'}): name a suite "
                               "both ran")
    if not pairs:
        raise UndriftError(f"{candidate.label} and {baseline.label} have no runs of the same suite to compare "
                           f"({candidate.ref} ran {_suites(r.suite for r in candidate.runs)}; {baseline.ref} ran "
                           f"{_suites(r.suite for r in baseline.runs)}): run one suite on both")
    return baseline, candidate, pairs


def _suites(names: Iterable[str]) -> str:
    """'a', 'b' and 'c'."""
    quoted = [repr(n) for n in sorted(set(names))]
    return " and ".join([", ".join(quoted[:-1]), quoted[-1]] if len(quoted) > 1 else quoted)


def gate_runs(store: Store, old: str, new: str, policy: Policy, tolerance: float = 0.0,
              allow_incomplete: bool = False, suite: str | None = None) -> GateReport:
    """Gate `new` against `old` (see `gate_pairs`) on the one suite both ran, or on `suite`.  Its answer is one
    comparison, so where the two share several suites it asks which rather than choosing one."""
    baseline, candidate, pairs = gate_pairs(store, old, new, suite)
    if len(pairs) > 1:
        raise UndriftError(f"{candidate.label} and {baseline.label} both ran the suites {_suites(n.suite for _, n in pairs)}: say which "
                           "to gate with suite= (--suite); promotion and undrift.testing gate every suite")
    (before, after), = pairs
    return gate_pair(store, before, after, policy, tolerance, allow_incomplete)


def gate_pair(store: Store, old: RunRecord, new: RunRecord, policy: Policy, tolerance: float = 0.0,
              allow_incomplete: bool = False) -> GateReport:
    """Compare two runs of one suite and apply `policy`; unfit runs are refused before comparing."""
    refuse_unfit(old, new, allow_incomplete)
    comparison = compare_runs(store, old.id, new.id, tolerance=tolerance)
    return GateReport(comparison, evaluate(policy, comparison, allow_incomplete=allow_incomplete), policy)


def refuse_unfit(old: RunRecord, new: RunRecord, allow_incomplete: bool = False, overridable: bool = True) -> None:
    """Raise unless both runs are whole evidence (see `evaluate`); also before comparing, as a run of only errors
    cannot even be compared.  `overridable=False` where the caller has no `allow_incomplete` to offer
    (`undrift.testing`)."""
    for label, run in (("old", old), ("new", new)):
        unfit = unfit_for_gate(run)
        if unfit and not allow_incomplete:
            override = f" or pass {option('allow_incomplete', True)} to gate on what it holds" if overridable else ""
            raise UndriftError(f"will not gate on the {label} run {run.id} ({run.name}): it {unfit}; resume it "
                               f"(undrift.resume({run.id!r}), `undrift run --resume {run.id}`){override}")


def evaluate(policy: Policy, comparison: Comparison, allow_incomplete: bool = False) -> GateResult:
    """Apply every rule of `policy` to `comparison`.

    A run that did not complete, or whose errors passed its threshold, is no evidence to pass or fail a model on:
    an outage would read as a regression.  Such a comparison is refused unless `allow_incomplete`; errors below
    the threshold are noted (they are left out of every metric and flip).
    """
    result = GateResult(passed=True)
    refuse_unfit(comparison.old, comparison.new, allow_incomplete)
    for label, run in (("old", comparison.old), ("new", comparison.new)):
        unfit = unfit_for_gate(run)
        result.notes += [note for note in (error_note(run), unfit and f"{label} run {run.id} {unfit}") if note]
    known_tasks = {g.task for g in comparison.tasks}
    for rule in policy.rules:
        for task in rule.tasks or ():
            if task not in known_tasks:
                result.notes.append(f"rule {rule.describe()!r} names task {task!r}, which the comparison lacks "
                                    f"(it has {', '.join(sorted(known_tasks))})")
        groups = [g for g in comparison.tasks + (comparison.slices if rule.slices else [])
                  if rule.tasks is None or g.task in rule.tasks]
        applied = 0
        for group in groups:
            measured = _measure(rule.metric, group)
            if measured is None:
                continue
            applied += 1
            for key, threshold in rule.thresholds.items():
                if key.startswith("no_significant") and not measured.tested:
                    result.notes.append(f"{group.where}: {rule.metric} is not tested ({measured.note}); "
                                        f"rule {rule.describe()!r} skipped there")
                    continue
                result.checks.append(_check(rule, key, threshold, group, measured))
        if not applied:
            result.notes.append(f"rule {rule.describe()!r} applies to no task: none measures {rule.metric}")
    result.passed = all(c.passed for c in result.checks)
    return result


@dataclass(frozen=True)
class _Measured:
    old: float | None
    new: float
    ci: tuple[float, float]  # interval of `new` for flip metrics, of the change for the others
    delta_ci: tuple[float, float] | None
    kind: str
    change: MetricChange | None = None  # where the metric has a paired test

    @property
    def tested(self) -> bool:
        return self.change is not None and self.change.tested

    @property
    def note(self) -> str:
        return (self.change.note if self.change else None) or "no paired test"


def _measure(metric: str, group: GroupComparison) -> _Measured | None:
    if metric in group.metrics:
        m = group.metrics[metric]
        return _Measured(m.old, m.new, m.new_ci or (m.new, m.new), m.ci, m.kind, m)
    c = group.compatibility
    if metric in ("nfr", "pfr"):
        if c is None:
            value = group.score_flips.negative if metric == "nfr" else group.score_flips.positive
            return _Measured(None, value, (value, value), None, "rate")
        return _Measured(None, getattr(c, metric), getattr(c, f"{metric}_ci"), None, "rate")
    value = group.mismatch if metric == "mismatch" else getattr(c, metric, None) if c else None
    if value is None:
        return None
    return _Measured(None, value, (value, value), None, "rate")


def _check(rule: Rule, key: str, threshold: Any, group: GroupComparison, m: _Measured) -> Check:
    where = group.task + (f"/{group.slice}" if group.slice else "")
    name = f"{rule.metric} {key.replace('_', ' ')}" + (f" {threshold}" if not isinstance(threshold, bool) else "")
    show = _shower(m.kind)
    conservative = rule.bound == "ci"
    if key in ("max", "min"):
        value = (m.ci[1] if key == "max" else m.ci[0]) if conservative else m.new
        passed = value <= threshold if key == "max" else value >= threshold
        what = ("upper 95% bound " if key == "max" else "lower 95% bound ") if conservative else ""
        reason = f"{where}: {rule.metric} {what}{show(value)} (limit {'≤' if key == 'max' else '≥'} {show(threshold)})"
    elif key in ("max_drop", "max_rise"):
        if m.old is None:
            return Check(name, where, True, f"{where}: {rule.metric} has no old value to compare", None)
        change = m.new - m.old
        if conservative and m.delta_ci:
            change = m.delta_ci[0] if key == "max_drop" else m.delta_ci[1]
        amount = -change if key == "max_drop" else change
        passed = amount <= threshold
        word = "drop" if key == "max_drop" else "rise"
        bound = ("far end of the 95% interval: " if conservative and m.delta_ci else "")
        moved = "rose" if change > 0 else "fell" if change < 0 else "did not move"
        size = f" {show(change, points=True, signed=False)}" if change else ""
        reason = f"{where}: {rule.metric} {bound}{moved}{size} (limit: {word} ≤ {show(threshold, points=True, signed=False)})"
        value = amount
    elif key == "max_relative_change":
        if not m.old:
            return Check(name, where, True, f"{where}: {rule.metric} old value is 0; relative change undefined", None)
        value = (m.new - m.old) / abs(m.old)
        passed = abs(value) <= threshold
        reason = f"{where}: {rule.metric} changed {value:+.1%} (limit ±{threshold:.0%})"
    else:
        change_ = m.change
        direction = {"no_significant_drop": -1, "no_significant_rise": 1}.get(key, 0)
        flagged = change_.significant and (direction == 0 or change_.delta * direction > 0)
        passed = not (threshold and flagged)
        value = change_.p_adjusted
        ci = (f", 95% CI {show(change_.ci[0], points=True)} to {show(change_.ci[1], points=True)}"
              if change_.ci else "")
        tests = f"p {p_text(change_.p)}, BH q {p_text(change_.p_adjusted)}"
        verdict = "significant" if flagged else "no significant"
        word = {-1: "drop", 1: "rise"}.get(direction, "change")
        reason = (f"{where}: {verdict} {word} in {rule.metric} "
                  f"({show(change_.delta, points=True)}{ci}; {tests})")
    return Check(name, where, bool(passed), reason, value)


def _shower(kind: str):
    def show(value: float, points: bool = False, signed: bool = True) -> str:
        """A level (`points` False) or a change: signed, or its size alone."""
        if kind == "rate":
            return numbers.points(value, signed) if points else numbers.pct(value)
        if not points:
            return numbers.number(value)
        return numbers.number(value, signed=True) if signed else numbers.number(abs(value))
    return show
