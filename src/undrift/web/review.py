"""The review queue: the answers of a run to label correct, incorrect or unsafe (with an optional correction), flips
against a comparison run first; the labels are stored (`undrift.label`) and download as training data
(`undrift.export_labels`).  Read and written through the public API."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from .. import ReviewItem, ReviewQueue, export_labels, label, review_queue, runs
from ..errors import UndriftError
from ..store import RunRecord, Store
from .site import Site, csv_response, form_fields
from .tables import Table, file_name, when

SHOWN = 100  # answers a queue page shows unless ?limit= asks for more or fewer


@dataclass(frozen=True)
class Chooser:
    """No run named yet: the newest runs to pick one from (and a comparison run for its flips)."""

    runs: list[RunRecord]  # newest first: the first is offered

    @property
    def against(self) -> str | None:
        """The comparison offered with the newest run: the run of the same suite before it, if listed (as the compare
        page's default pair)."""
        return next((r.id for r in self.runs[1:] if r.suite == self.runs[0].suite), None)


@dataclass(frozen=True)
class ReviewView:
    queue: ReviewQueue
    limit: int
    table: Table  # the queue as the CSV writes it, row for row

    @property
    def run(self) -> str:
        return self.queue.runs[0]

    @property
    def query(self) -> dict[str, Any]:
        """The page's own address parameters: the label forms send them back so the redirect returns here."""
        return {"run": self.run, "against": self.queue.against or "", "limit": self.limit}

    def csv_url(self) -> str:
        return "/review.csv?" + urlencode(self.query)

    def labels_url(self) -> str:
        return "/review/labels.jsonl?" + urlencode({"run": self.run})

    @staticmethod
    def item_id(item: ReviewItem) -> str:
        return anchor(item.run, item.task, item.sample_id)

    @staticmethod
    def target(item: ReviewItem) -> str:
        return "" if item.target is None else item.target if isinstance(item.target, str) else json.dumps(item.target)


def anchor(run: str, task: str, sample_id: str) -> str:
    """A stable element id for a queue item (its names may hold anything, so they are hashed)."""
    return "item-" + hashlib.sha256(f"{run}\x1f{task}\x1f{sample_id}".encode()).hexdigest()[:12]


def review_view(store: Store, run: str, against: str | None, limit: int) -> ReviewView:
    queue = review_queue([run], against=against or None, limit=limit, db=store)
    return ReviewView(queue, limit, queue_table(queue))


def queue_table(queue: ReviewQueue) -> Table:
    rows = [(item.flip, item.task, item.sample_id, item.prompt, item.response, ReviewView.target(item),
             _verdict(item.correct), item.label.label if item.label else "",
             (item.label.correction or "") if item.label else "", (item.label.reviewer or "") if item.label else "",
             when(item.label.at) if item.label else "") for item in queue.items]
    return Table(file_name(f"review-{queue.runs[0]}" + (f"-against-{queue.against}" if queue.against else "")),
                 "Review queue", ("flip", "task", "sample", "prompt", "answer", "target", "scorer", "label",
                                  "correction", "reviewer", "labelled at"), rows,
                 empty="nothing to review in this run: no answers (errors are left out)")


def _verdict(correct: bool | None) -> str:
    return "" if correct is None else "right" if correct else "wrong"


def _limit(text: str) -> int:
    if not text:
        return SHOWN
    if not text.isdigit() or int(text) < 1:
        raise UndriftError(f"limit must be a whole number of answers, 1 or more (got {text!r})")
    return int(text)


def routes(site: Site) -> APIRouter:
    router = APIRouter()

    @router.get("/review", response_class=HTMLResponse)
    def review_page(request: Request, run: str = "", against: str = "", limit: str = "") -> HTMLResponse:
        if not run:
            return site.page(request, "review.html", chooser=Chooser(runs(limit=50, db=site.store)))
        return site.page(request, "review.html", view=review_view(site.store, run, against, _limit(limit)))

    @router.get("/review.csv")
    def review_csv(run: str = "", against: str = "", limit: str = "") -> Response:
        if not run:
            raise UndriftError("the review download needs a run: /review.csv?run=RUN")
        return csv_response(review_view(site.store, run, against, _limit(limit)).table)

    @router.post("/review/label")
    async def review_label(request: Request) -> RedirectResponse:
        form = await form_fields(request)
        _limit(form.get("limit", ""))  # the way back must be good before anything is written
        if form.get("against"):
            site.store.get_run(form["against"])
        stored = label(form.get("run", ""), form.get("task", ""), form.get("sample_id", ""), form.get("label", ""),
                       correction=form.get("correction") or None, reviewer=form.get("reviewer") or None,
                       db=site.store)
        back = {"run": form.get("run", ""), "against": form.get("against", ""), "limit": form.get("limit", "")}
        return RedirectResponse(f"/review?{urlencode(back)}#{anchor(stored.run_id, stored.task, stored.sample_id)}",
                                status_code=303)

    @router.get("/review/labels.jsonl")
    def labels_download(run: str = "") -> Response:
        data = export_labels([run] if run else None, db=site.store)
        name = file_name(f"labels-{run}" if run else "labels")
        return Response(data.jsonl(), media_type="application/jsonl; charset=utf-8",
                        headers={"Content-Disposition": f'attachment; filename="{name}.jsonl"'})

    return router
