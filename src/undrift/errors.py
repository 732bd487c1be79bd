"""The one exception type a user can act on.

Library code raises `UndriftError` with a single sentence that says what is wrong and how to mend it; the CLI prints
it without a traceback and exits with status 2.  Anything else escaping is a bug in undrift.
"""


class UndriftError(Exception):
    """A problem in the user's input or environment, explained in one line."""
