"""Tables of what is installed: the model backends and the models in the store (`undrift models`) and the suites
by name (`undrift suites`).

Names, descriptions and problems come from installed packages, so they are printed as literal text.
"""

from __future__ import annotations

from rich.console import Group
from rich.table import Table
from rich.text import Text

from ..api.catalog import ModelCatalog
from ..models.base import Backend
from ..plugins import Installed, Plugin
from ..suites.schema import Suite
from .text import clean, literal

OPTIONS_NOTE = ("options: …?system=TEXT (hidden system prompt before the suite's own; system_mode=replace drops that); "
                "local models also quant=int8, batch_size, device; llamacpp: context, threads; vllm: gpu_memory; "
                "openai: concurrency, timeout, retries")


def provider(plugin: Plugin) -> str:
    return f"{plugin.distribution} {plugin.version}" + (" (built-in)" if plugin.builtin else "")


def backends_table(backends: list[Installed[Backend]]) -> Table:
    """One row per spec scheme, with the package that provides it; a broken plugin's row says why it does not load."""
    table = Table(title="backends", title_justify="left", header_style="bold", caption=OPTIONS_NOTE,
                  caption_justify="left")
    for column in ("spec", "what", "from"):
        table.add_column(column)
    for entry in backends:
        if entry.value is None:
            table.add_row(literal(f"{entry.name}:"), literal(entry.problem, "red"), literal(provider(entry.plugin)))
        else:
            table.add_row(literal(f"{entry.name}:{entry.value.usage}"), literal(entry.value.description),
                          literal(provider(entry.plugin)))
    return table


def model_catalog_view(catalog: ModelCatalog) -> Group:
    """`undrift models`: the backends, the bundled model file (or, in red, why it is missing), and the models the
    store has runs for, when it has any."""
    parts: list[Table | Text] = [backends_table(catalog.backends)]
    if catalog.bundled_problem is None:
        parts.append(literal(f"bundled model file: {catalog.bundled}"))
    else:
        parts.append(Text("bundled model: ").append(clean(catalog.bundled_problem), style="red"))
    if catalog.stored:
        names = Table(title="models with runs in the store", title_justify="left", header_style="bold")
        names.add_column("name")
        names.add_column("spec")
        for model in catalog.stored:
            names.add_row(literal(model.name), literal(model.spec))
        parts.append(names)
    return Group(*parts)


def suite_table(suite: Suite, plugin: Plugin | None = None) -> Table:
    """A suite's tasks; `plugin` (for a suite loaded by name) says which package provides it."""
    table = Table(title=literal(f"{suite.name}: {suite.description}"), title_justify="left", header_style="bold",
                  caption=literal(f"from {provider(plugin)}") if plugin else None, caption_justify="left")
    for column in ("task", "samples", "scorer", "max tokens", "description"):
        table.add_column(column)
    for t in suite.tasks:
        table.add_row(literal(t.name), str(len(t.samples)), literal(t.scorer.type), str(t.decoding.max_tokens),
                      literal(t.description))
    return table


def suites_listing(suites: list[Installed[Suite]]) -> Group:
    """Every suite by name: its table, or one red line for a suite whose package is broken."""
    parts: list[Table | Text] = []
    for entry in suites:
        if entry.value is None:
            parts.append(Text(f"{entry.name}: ", style="bold").append(literal(entry.problem, "red")))
        else:
            parts.append(suite_table(entry.value, entry.plugin))
    return Group(*parts)
