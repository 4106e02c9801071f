"""Exceptions that reach the user as one-line messages.

Anything raised as :class:`InputError` is a problem with what the user gave us
(a file, an array, a parameter). The command-line interface prints its message
on one line and exits with status 2, without a traceback.
"""

from __future__ import annotations


class InputError(ValueError):
    """Bad user input: a missing file, a wrong dtype, an out-of-range parameter."""

    def __init__(self, message: str) -> None:
        # One line only: the CLI prints str(error) as-is.
        super().__init__(" ".join(str(message).split()))
