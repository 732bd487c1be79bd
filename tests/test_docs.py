"""Every command says what it does and every option and argument says what it takes (as sqlite-utils checks)."""

import typer

from undrift.cli import app


def _commands(command, path: str = "undrift"):
    """The command tree as click sees it (Typer ships its own click, so groups are found by their subcommands)."""
    yield path, command
    for name, sub in (getattr(command, "commands", None) or {}).items():
        yield from _commands(sub, f"{path} {name}")


def test_every_command_option_and_argument_has_help():
    missing = []
    for path, command in _commands(typer.main.get_command(app)):
        if not (command.help or "").strip():
            missing.append(f"{path}: no docstring")
        for param in command.params:
            if not (getattr(param, "help", None) or "").strip():
                missing.append(f"{path}: {param.opts[0] if param.opts else param.name} has no help")
    assert not missing, "missing help text:\n" + "\n".join(missing)
