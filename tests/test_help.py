"""Every command says what it does and every option and argument says what it takes (as sqlite-utils checks), and
`--help` of every command shows that text as written: exit 0, no Rich markup error, nothing eaten as a style tag
(Typer renders help text as Rich markup, where `[embeddings]` in `pip install 'undrift[embeddings]'` would vanish)."""

import re

import pytest
import typer
import typer.rich_utils
from rich.markup import render
from typer.testing import CliRunner

from undrift.cli import app


def _commands(command, path: tuple[str, ...] = ()):
    """The command tree as click sees it (Typer ships its own click, so groups are found by their subcommands)."""
    yield path, command
    for name, sub in (getattr(command, "commands", None) or {}).items():
        yield from _commands(sub, (*path, name))


COMMANDS = dict(_commands(typer.main.get_command(app)))


def _texts(command) -> dict[str, str]:
    """The help text of the command (its docstring up to click's \\f) and of each option and argument."""
    texts = {"the command": (command.help or "").split("\f")[0]}
    for param in command.params:
        texts[param.opts[0] if param.opts else param.name] = getattr(param, "help", None) or ""
    return texts


def _flat(text: str) -> str:
    """Text with the help panels' borders and all line breaks and runs of spaces made single spaces."""
    return " ".join(re.sub(r"[│╭╮╰╯─]", " ", text).split())


def test_every_command_option_and_argument_has_help():
    missing = [f"undrift {' '.join(path)}: {name} has no help" for path, command in COMMANDS.items()
               for name, text in _texts(command).items() if not text.strip()]
    assert not missing, "missing help text:\n" + "\n".join(missing)


@pytest.mark.parametrize("path", list(COMMANDS), ids=lambda path: " ".join(path) or "undrift")
def test_help_shows_every_text_as_written(path, monkeypatch):
    monkeypatch.setattr(typer.rich_utils, "MAX_WIDTH", 400)  # wide enough that no help text is wrapped
    result = CliRunner().invoke(app, [*path, "--help"], prog_name="undrift")
    assert result.exit_code == 0 and result.exception is None, result.output
    shown = _flat(result.output)
    assert f"Usage: undrift {' '.join(path)}".strip() in shown
    for name, text in _texts(COMMANDS[path]).items():
        plain = render(text).plain  # a MarkupError here: the text has a closing tag such as [/x] that opens nothing
        assert plain == text.replace("\\[", "["), f"{name}: Rich markup eats part of {text!r}; write '[' as '\\['"
        assert _flat(plain) in shown, f"{name}: {plain!r} is not shown as written"


@pytest.mark.parametrize("path", [p for p, c in COMMANDS.items() if "\n\n" in (c.help or "")],
                         ids=lambda path: " ".join(path) or "undrift")
def test_every_paragraph_of_a_commands_help_wraps_as_one(path, monkeypatch):
    """Typer keeps the line breaks of a docstring's later paragraphs, so they came out ragged ("...moved with" / a
    line of its own); each paragraph must reach the terminal as one line, for Rich to wrap."""
    monkeypatch.setattr(typer.rich_utils, "MAX_WIDTH", 400)
    lines = [" ".join(line.replace("│", " ").split())
             for line in CliRunner().invoke(app, [*path, "--help"], prog_name="undrift").output.splitlines()]
    for paragraph in COMMANDS[path].help.split("\f")[0].split("\n\n")[1:]:
        for item in re.split(r"\n(?=\s*[-*] )", paragraph):  # list items may start lines of their own
            assert " ".join(render(item).plain.split()) in lines, f"{item!r} is broken across lines"
