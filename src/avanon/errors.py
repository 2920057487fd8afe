"""One root exception and a few named subclasses.

Messages name the file, the field, the value, the allowed values and the unit, so that the command
line can print them as they are.
"""

from __future__ import annotations


class AvanonError(Exception):
    """Root of every error avanon raises on purpose."""


class ParameterError(AvanonError, ValueError):
    """A parameter, recipe field or command-line option has a value that is not allowed."""


class MediaError(AvanonError):
    """A media file cannot be read, decoded, or written as required."""


class ModelError(AvanonError):
    """A model file is missing, does not match its pinned hash, or failed while running."""


class AccessError(AvanonError):
    """An action is refused: wrong role, tier, key, or an unsafe path."""


class IntegrityError(AvanonError):
    """Data does not match what was recorded (hash, alignment, tampering)."""
