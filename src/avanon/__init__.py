"""avanon: anonymize behavioural research recordings while keeping what researchers analyse."""

__version__ = "0.1.0"
