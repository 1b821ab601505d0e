"""User-facing errors: stage scripts print their message (no traceback) and exit non-zero."""


class SomclustError(Exception):
    """A problem the user can fix; the message names the file or key and the fix."""


class ImageReadError(SomclustError):
    """One image cannot be used; the message is the reason (logged as a per-file skip)."""
