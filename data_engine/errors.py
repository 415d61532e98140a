"""The exception types for user mistakes and bad records.

They live at the bottom of the dependency graph so every package can raise them; the CLI prints a `UserError` as
one line on stderr with exit 2 instead of a traceback (set GEORFT_DEBUG=1 to see the traceback).

Two kinds are kept apart on purpose: a *configuration* mistake (an unknown box type, a bad pixel budget) must stop a
run at once, while a *bad record* met while rendering (a label outside the class list, a malformed target) is skipped
and counted by the lazy renderer (`data_engine.lazy`). Only `DataError` is ever counted as a skip; every other
`UserError` propagates.
"""


class UserError(ValueError):
    """Raised for problems the user can fix: the message names the file, line, field or value."""


class DataError(UserError):
    """A bad record (not a bad configuration): the lazy renderer skips the row and counts it under this message."""
