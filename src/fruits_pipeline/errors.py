"""Mistakes a user can fix: shown as one message, without a traceback."""

from __future__ import annotations


class UserError(Exception):
    """A bad parameter, folder or file: the message names it, what was expected and the fix.

    ``fruits_pipeline.cli`` prints it alone and exits non-zero; any other exception keeps
    its traceback (that is a bug to report, not a mistake to fix).
    """


def find_user_error(error: BaseException | None) -> UserError | None:
    """The UserError behind ``error``: Kedro wraps errors of datasets and hooks in its own."""
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        if isinstance(error, UserError):
            return error
        seen.add(id(error))
        error = error.__cause__ or error.__context__
    return None
