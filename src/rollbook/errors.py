"""Errors that are the user's to fix. The CLI prints them without a traceback."""

from __future__ import annotations


class UserError(Exception):
    """Bad input or a refused action, with a message that says what to do instead."""

    exit_code = 2
