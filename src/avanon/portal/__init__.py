"""The web portal (FastAPI, server-rendered): routes only call :mod:`avanon.access`."""

from __future__ import annotations

from avanon.portal.app import create_app
from avanon.portal.server import check_bind, serve

__all__ = ["check_bind", "create_app", "serve"]
