"""One exception type for every user-facing input problem.

The command line catches :class:`LsatError` and prints its message alone (no traceback), so
every message must name the file, key or id at fault and say what was expected.
"""


class LsatError(Exception):
    """Bad input or configuration, explained in words a user can act on."""
