"""One exception type per failure family. Messages say what the admin should change."""

from __future__ import annotations


class NolinkError(Exception):
    """Base class of every error nolink raises on purpose."""


class ConfigError(NolinkError):
    """The configuration file is missing, unreadable or invalid."""


class InputError(NolinkError):
    """A file or stream given to the CLI cannot be read as mail."""
