"""Errors a user can act on. The CLI prints them as one line and exits with status 2."""


class UserError(Exception):
    """Bad input, a missing file, an unusable model or device: the user's to fix, not a bug."""

    exit_code = 2
