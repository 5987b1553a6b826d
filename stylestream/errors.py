"""Errors a user can act on. The CLI prints them as one line and exits with status 2."""


class UserError(Exception):
    """Bad input, a missing file, an unusable model or device: the user's to fix, not a bug."""

    exit_code = 2


class SlowWarning(UserWarning):
    """A choice that works but runs far slower than the default would (the CLI prints it as
    one `stylestream: warning:` line)."""
