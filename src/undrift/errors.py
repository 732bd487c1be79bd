"""The exceptions a user can act on, one family: `except undrift.UndriftError` catches every one of them.

Library code raises `UndriftError` with a single sentence that says what is wrong and how to mend it; the CLI prints
it without a traceback and exits with the error's `exit_code` (2: bad input or environment).  A run that failed for
its model's errors (`RunFailed`, 4) and a run or training stopped by Ctrl-C (`RunInterrupted`,
`TrainingInterrupted`, 130) are in the family too, with their own codes.  Anything else escaping is a bug in undrift.

Messages are read by Python users and CLI users alike, so an option is named both ways, by `option()`:
`limit (--limit)`, `allow_incomplete=True (--allow-incomplete)`.
"""


class UndriftError(Exception):
    """A problem in the user's input or environment, explained in one line."""

    exit_code = 2  # what the CLI exits with when this escapes a command


def option(keyword: str, value: object = None, flag: str | None = None) -> str:
    """How a message names an option: the keyword argument (with `value`, if given) and the CLI's flag, which is
    the keyword with dashes unless `flag` says otherwise: `option("allow_incomplete", True)` is
    `allow_incomplete=True (--allow-incomplete)`."""
    named = keyword if value is None else f"{keyword}={value}"
    return f"{named} ({flag or '--' + keyword.replace('_', '-')})"


def first_line(exc: BaseException) -> str:
    """An exception's message cut to its first line (its type's name if it has none), for one-line errors."""
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]
