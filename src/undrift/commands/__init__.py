"""Command-line commands, one module per command or command group; `cli.py` gathers them into one app."""
