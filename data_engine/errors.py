"""The one exception type for user mistakes (bad config, missing file, malformed record).

It lives at the bottom of the dependency graph so every package can raise it; the CLI prints it as one line on
stderr with a non-zero exit instead of a traceback (set GEORFT_DEBUG=1 to see the traceback).
"""


class UserError(ValueError):
    """Raised for problems the user can fix: the message names the file, line, field or value."""
