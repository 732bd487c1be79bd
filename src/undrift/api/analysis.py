"""Reading the store: compare two runs, gate a candidate, follow a name's history, the forgetting matrix; and the
sequential drift check, which asks a model again only until it can decide."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from ..store import RunRecord, Store, as_store
from .arguments import checked
from .runs import task_names

if TYPE_CHECKING:
    from ..analysis.compare import Comparison
    from ..analysis.forgetting import ForgettingReport
    from ..analysis.history import ModelHistory
    from ..check import CheckReport
    from ..gate import GateReport, Policy
    from ..models import Model, ModelSpec


@checked
def compare(old: str | RunRecord, new: str | RunRecord, *, tasks: str | Sequence[str] | None = None,
            tolerance: float = 0.0, db: Store | str | Path | None = None) -> Comparison:
    """Two runs (`RunRecord`s, ids, id prefixes, names for their latest runs, or registry aliases for the newest
    finished run of the version each points at) sample by sample: each metric old/new with intervals and paired
    tests, flips, compatibility.  `tolerance`: the score difference beyond which a sample without a right/wrong
    verdict counts as flipped."""
    from ..analysis.compare import compare_runs

    store = as_store(db, must_exist=True)
    return compare_runs(store, _unaliased(store, old), _unaliased(store, new), tolerance=tolerance,
                        tasks=task_names(tasks))


def _unaliased(store: Store, ref: str) -> str:
    """A registry alias as the id of its version's newest finished run, by the rule a gate follows (gate_side);
    any other reference is left to the store (a run id, an id prefix, a name)."""
    from ..gate import gate_side
    from ..registry import Registry

    if Registry(store).alias_target(ref) is None:
        return ref
    return gate_side(store, ref, baseline=True).runs[0].id


def as_policy(policy: Policy | Mapping[str, Any] | str | Path) -> Policy:
    """A gate policy from a `Policy`, a mapping as a policy file writes it (`{"rules": [...]}`) or a YAML file."""
    from ..gate import Policy

    if isinstance(policy, Policy):
        return policy
    if isinstance(policy, Mapping):
        return Policy.parse(dict(policy), "policy")
    return Policy.load(policy)


@checked
def gate(old: str | RunRecord, new: str | RunRecord, policy: Policy | Mapping[str, Any] | str | Path, *,
         tolerance: float = 0.0, allow_incomplete: bool = False, suite: str | None = None,
         db: Store | str | Path | None = None) -> GateReport:
    """Pass or fail `new` against `old` under `policy`.  Each is a run id or prefix, a run name or a registry alias;
    a name stands for its newest run of the suite both sides ran (`suite` says which where they share several), as
    in `undrift.testing`.  A run that did not complete, or has too many errors, is no evidence and is refused
    (`UndriftError`) unless `allow_incomplete`."""
    from ..gate import gate_runs

    rules = as_policy(policy)
    return gate_runs(as_store(db, must_exist=True), old, new, rules, tolerance=tolerance,
                     allow_incomplete=allow_incomplete, suite=suite)


@checked
def check(reference: str | RunRecord, model: str | ModelSpec | Model, *, direction: str = "drop",
          tolerance: float = 0.02, churn: float | None = None, max_calls: int | None = None, alpha: float = 0.05, seed: int = 0,
          chunk: int = 16, name: str | None = None, db: Store | str | Path | None = None, progress: bool = False,
          allow_unsandboxed: bool = False, allow_outside: bool = False) -> CheckReport:
    """Has `model` drifted from the earlier run `reference`?  Asks the reference's samples again in a random order
    and stops as soon as an anytime-valid test decides (`.decision`: unchanged, changed or undecided)."""
    from ..check import check_drift
    from ..models import ModelSpec, load_model

    store = as_store(db, must_exist=True)
    store.get_run(reference)  # a missing run is reported before any weights load
    spec = ModelSpec.parse(model) if isinstance(model, str) else model
    loaded = load_model(spec, lazy=True) if isinstance(spec, ModelSpec) else spec
    return check_drift(store, reference, loaded, tolerance=tolerance, max_calls=max_calls, alpha=alpha, seed=seed,
                       chunk=chunk, name=name, progress=progress, direction=direction, churn=churn,
                       allow_outside=allow_outside, allow_unsandboxed=allow_unsandboxed)


@checked
def history(name: str, *, metric: str | None = None, task: str | None = None, window: int = 1, alpha: float = 0.05,
            slice: str | None = None, db: Store | str | Path | None = None) -> ModelHistory:
    """The runs filed under `name` over time: a metric series per task, change points, fingerprint changes
    (`.decision`: unchanged, changed or undecided); `slice`: only the samples tagged with it (`.slices` lists the
    tags there are)."""
    from ..analysis.history import model_history

    return model_history(as_store(db, must_exist=True), name, metric=metric, task=task, window=window, alpha=alpha,
                         slice=slice)


@checked
def forgetting(versions: Sequence[str], *, suites: str | Sequence[str] | None = None,
               trained_on: str | Sequence[str] | None = None, probe: str | Path | None = None,
               db: Store | str | Path | None = None) -> ForgettingReport:
    """The accuracy of each version (oldest first) on each suite, backward transfer and forgetting; `trained_on`
    names the suite each version was trained for (`-` for none); `probe`, a JSONL of anchor prompts, adds each
    version's perplexity and KL to the previous version (local models only)."""
    from ..analysis.forgetting import forgetting_report

    store = as_store(db, must_exist=True)
    chosen = list(task_names(suites, "suites") or []) or None
    if isinstance(trained_on, str):
        trained_on = [t.strip() for t in trained_on.split(",")]
    report = forgetting_report(store, list(versions), suites=chosen, trained_on=list(trained_on) if trained_on else None)
    if probe:
        from ..train.probe import probe_versions

        report.probe = probe_versions(store, list(versions), probe)
    return report
