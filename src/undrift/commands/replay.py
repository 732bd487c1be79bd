"""`undrift replay` and `undrift traffic export-suite`: recorded traffic against a candidate, and as a suite."""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Optional

import typer
from rich.text import Text

from ..errors import UndriftError
from ..report.text import clean, literal
from .common import DB_HELP, JSON_HELP, err, interruptible, out

SINCE_HELP = "start of the recorded traffic: an ISO date or time (UTC unless it says), or a time ago (6h, 1d, 2w)"
UNTIL_HELP = "end of the recorded traffic (same forms; default: now)"
TAG_HELP = "only requests recorded with this X-Undrift-Tag"
SAMPLE_HELP = ("number of distinct recorded requests to take, drawn with --seed: a count such as 200, not a share like "
               "`proxy --sample` (default: all of them)")
SEED_HELP = "seed of the draw (the same seed draws the same requests) and of sampled decoding"
REPLAY_TOLERANCE = 0.3  # the tolerance the printed next commands suggest: a flip is a similarity drop of > 0.3


def replay(
    since: str = typer.Option(..., help=SINCE_HELP),
    until: Optional[str] = typer.Option(None, help=UNTIL_HELP),
    tag: Optional[str] = typer.Option(None, help=TAG_HELP),
    sample: Optional[str] = typer.Option(None, metavar="N", help=SAMPLE_HELP),
    seed: int = typer.Option(0, help=SEED_HELP),
    model: str = typer.Option(..., "--model", "-m", help="the candidate's model spec, e.g. openai:gpt-4o@URL"),
    name: Optional[str] = typer.Option(None, "--as", help="name of the candidate's run (default: its spec)"),
    recorded_as: Optional[str] = typer.Option(None, "--recorded-as",
                                              help="name of the recorded answers' run (default: the served model)"),
    judge: Optional[str] = typer.Option(None, help="also ask this model which answer is better (pairwise, both "
                                                   "orders); off by default"),
    max_error_rate: float = typer.Option(0.05, help="share of the candidate's requests that may get errors"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="no progress bar"),
    db: Optional[str] = typer.Option(None, help=DB_HELP),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Send recorded requests to a candidate and store both sides as runs, for `compare` and `gate`.

    The candidate gets the requests as recorded, redaction masks included: what the proxy
    masked (API keys, e-mail addresses, --redact patterns) reads [REDACTED] in the replayed
    prompt too, and the replay warns when any does.

    Exit status: 0 done, 2 bad input, 4 the candidate's run failed (too many errors; resume it), 130 interrupted.
    """
    from ..models import ModelSpec
    from ..replay import ReplayOptions, Selection, replay as replay_traffic
    from ..store import Store

    selection = Selection(*_range(since, until), tag, _count(sample), seed)
    selection.validate()
    candidate = ModelSpec.parse(model)
    options = ReplayOptions(name=name, recorded_name=recorded_as, judge=judge, seed=seed,
                            max_error_rate=max_error_rate)
    store = Store.open(db, must_exist=True)
    report = interruptible(lambda: replay_traffic(store, selection, candidate, options, not quiet))
    _warn_redacted(report.selected, "replayed")  # on stderr, so that --json stays clean
    old, new = report.recorded, report.candidate.run
    commands = {
        "compare": f"undrift compare {old.id} {new.id} --tolerance {REPLAY_TOLERANCE}",
        "gate": f"undrift gate {old.id} {new.id} --policy POLICY.yaml --tolerance {REPLAY_TOLERANCE}",
    }
    if db:
        commands = {k: f"{v} --db {shlex.quote(db)}" for k, v in commands.items()}
    selected = report.selected
    if as_json:
        print(json.dumps({
            "recorded": {"id": old.id, "name": old.name, "reused": report.recorded_reused},
            "candidate": {"id": new.id, "name": new.name, "generated": report.candidate.generated,
                          "from_cache": report.candidate.from_cache, "errors": new.errors},
            "suite": str(report.suite_path), "replayed": len(selected.items), "distinct": selected.distinct,
            "records": selected.records, "repeated": selected.repeated, "skipped": selected.skipped,
            "judge": report.judge, "redacted": selected.redacted, "next": commands,
        }, indent=2))
        return
    from ..replay import skipped_text

    out.print(literal(f"replayed {len(selected.items)} of {selected.distinct} distinct recorded requests "
                      f"({selected.records} records)"))
    left_out = skipped_text(selected)
    if left_out:
        out.print(literal(f"left out: {left_out}"))
    reused = ", already stored" if report.recorded_reused else ""
    out.print(literal(f"recorded   {old.name} ({old.id}{reused})"))
    out.print(literal(f"candidate  {new.name} ({new.id}): {report.candidate.generated} generated, "
                      f"{report.candidate.from_cache} from cache, {new.errors} errors"))
    out.print(literal(f"suite      {report.suite_path}"))
    if report.judge is not None:
        j = report.judge
        out.print(literal(f"judge ({judge}): candidate better on {j['candidate']}, recorded better on {j['recorded']}, "
                          f"tie {j['tie']}, no verdict {j['no verdict']} (both orders asked; disagreement is a tie)"))
    out.print(Text("next:", style="bold"))
    for command in commands.values():
        out.print(literal(f"  {command}"))


def export_suite(
    since: str = typer.Option(..., help=SINCE_HELP),
    until: Optional[str] = typer.Option(None, help=UNTIL_HELP),
    tag: Optional[str] = typer.Option(None, help=TAG_HELP),
    sample: Optional[str] = typer.Option(None, metavar="N", help=SAMPLE_HELP),
    seed: int = typer.Option(0, help=SEED_HELP),
    output: Optional[Path] = typer.Option(None, "--out", "-o", help="the suite file to write (.yaml; its samples go "
                                                                    "beside it as .jsonl)"),
    for_review: Optional[Path] = typer.Option(None, "--for-review", help="instead, write the requests and recorded "
                                                                         "answers to label (.csv or .jsonl)"),
    labels: Optional[Path] = typer.Option(None, help="a reviewed --for-review file: approved or corrected answers "
                                                     "become targets, bad ones without a correction are left out"),
    db: Optional[str] = typer.Option(None, help=DB_HELP),
) -> None:
    """Turn sampled recorded traffic into a suite that `undrift run` loads (with reviewed answers, if labelled)."""
    from ..replay import Selection, export_for_review, export_suite as export, skipped_text
    from ..store import Store

    if (output is None) == (for_review is None):
        raise UndriftError("give one of -o SUITE.yaml (write the suite) or --for-review FILE.csv (write it to label)")
    if for_review is not None and labels is not None:
        raise UndriftError("--labels goes with -o SUITE.yaml: label the --for-review file first, then export with it")
    selection = Selection(*_range(since, until), tag, _count(sample), seed)
    selection.validate()
    store = Store.open(db, must_exist=True)
    if for_review is not None:
        selected = export_for_review(store, selection, for_review)
        out.print(literal(f"wrote {len(selected.items)} requests to {for_review}: label them good or bad, or write "
                          f"corrections, then `undrift traffic export-suite ... --labels {for_review.name} -o "
                          "SUITE.yaml` with the same selection"))
        return
    report = export(store, selection, output, labels)
    _warn_redacted(report.selected, "exported")
    left_out = skipped_text(report.selected)
    out.print(literal(f"wrote {report.samples} samples to {report.path}" + (f" (left out: {left_out})" if left_out
                                                                            else "")))
    if labels is not None:
        o = report.outcomes
        out.print(literal(f"reviewed: {o.get('corrected', 0)} corrected, {o.get('accepted', 0)} approved, "
                          f"{report.dropped} dropped as bad or unsafe without a correction, "
                          f"{o.get('unlabelled', 0) + o.get('unreviewed', 0)} unreviewed (target: the recorded answer)"))
        if report.labelled_elsewhere:
            err.print(Text("note: ", style="yellow").append(clean(
                f"{report.labelled_elsewhere} rows of {labels.name} are not in the selected traffic; export with the "
                "selection the review file was written with")))
    out.print(literal(f"run it: undrift run {report.path} --model SPEC"))


def _warn_redacted(selected, verb: str) -> None:
    warning = selected.redaction_warning(verb)
    if warning:
        err.print(Text("warning: ", style="yellow").append(clean(warning)))


def _count(sample: Optional[str]) -> Optional[int]:
    """--sample as the count it is here; a share such as 0.5 (what `undrift proxy --sample` takes) is refused."""
    if sample is None:
        return None
    try:
        return int(sample.strip())
    except ValueError:
        raise UndriftError(f"--sample is a number of requests (e.g. --sample 200), not a share: got {sample!r}") from None


def _range(since: Optional[str], until: Optional[str]):
    """--since and --until as times, read as `undrift traffic` reads them."""
    from datetime import datetime, timezone

    from ..traffic.windows import parse_moment

    now = datetime.now(timezone.utc)
    return (parse_moment(since, "--since", now) if since else None,
            parse_moment(until, "--until", now) if until else None)
