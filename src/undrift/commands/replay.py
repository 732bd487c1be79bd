"""`undrift replay` and `undrift traffic export-suite`: recorded traffic against a candidate, and as a suite."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ..errors import UndriftError
from .common import Db, Json, Quiet, err, interruptible, out, print_json

SINCE_HELP = "start of the recorded traffic: an ISO date or time (UTC unless it says), or a time ago (6h, 1d, 2w)"
UNTIL_HELP = "end of the recorded traffic (same forms; default: now)"
TAG_HELP = "only requests recorded with this X-Undrift-Tag"
SAMPLE_HELP = ("number of distinct recorded requests to take, drawn with --seed: a count such as 200, not a share like "
               "`proxy --sample` (default: all of them)")
SEED_HELP = "seed of the draw (the same seed draws the same requests) and of sampled decoding"


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
    quiet: Quiet = False,
    db: Db = None,
    as_json: Json = False,
) -> None:
    """Send recorded requests to a candidate and store both sides as runs, for `compare` and `gate`.

    The candidate gets the requests as recorded, redaction masks included: what the proxy
    masked (API keys, e-mail addresses, --redact patterns) reads [REDACTED] in the replayed
    prompt too, and the replay warns when any does.

    Exit status: 0 done, 2 bad input, 4 the candidate's run failed (too many errors; resume it), 130 interrupted.
    """
    from ..api.traffic import ReplayOptions, replay as replay_traffic, selection
    from ..report.replay import redaction_warning, replay_summary

    chosen = selection(since, until, tag, sample, seed)
    options = ReplayOptions(name=name, recorded_name=recorded_as, judge=judge, seed=seed,
                            max_error_rate=max_error_rate)
    report = interruptible(lambda: replay_traffic(chosen, model, options, db=db, progress=not quiet))
    _warn(redaction_warning(report.selected, "replayed"))  # on stderr, so that --json stays clean
    if as_json:
        print_json(report.to_dict())
        return
    out.print(replay_summary(report, judge))


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
    db: Db = None,
) -> None:
    """Turn sampled recorded traffic into a suite that `undrift run` loads (with reviewed answers, if labelled)."""
    from ..api.traffic import export_suite as export, export_traffic_for_review, selection
    from ..report.replay import (labelled_elsewhere_note, redaction_warning, review_file_written,
                                 suite_written)

    if (output is None) == (for_review is None):
        raise UndriftError("give one of -o SUITE.yaml (write the suite) or --for-review FILE.csv (write it to label)")
    if for_review is not None and labels is not None:
        raise UndriftError("--labels goes with -o SUITE.yaml: label the --for-review file first, then export with it")
    chosen = selection(since, until, tag, sample, seed)
    if for_review is not None:
        out.print(review_file_written(export_traffic_for_review(chosen, for_review, db=db), for_review))
        return
    report = export(chosen, output, labels, db=db)
    _warn(redaction_warning(report.selected, "exported"))
    out.print(suite_written(report, labels))
    if labels is not None:
        _warn(labelled_elsewhere_note(report, labels))


def _warn(line) -> None:
    if line is not None:
        err.print(line)
