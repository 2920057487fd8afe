"""Users, roles, tiers, consent, access requests, the audit trail and the export guard.

The portal and the command line talk to :class:`~avanon.access.service.Governance`; the rules live
in :mod:`avanon.access.policy`, consent and its audit in :mod:`avanon.access.consent`, released
files in :mod:`avanon.access.releases`, the tamper-evident trail in :mod:`avanon.access.audit` with
its signed checkpoints in :mod:`avanon.access.checkpoint`, the export checks in
:mod:`avanon.access.guard`, and where everything lives in :mod:`avanon.access.settings`.
"""

from __future__ import annotations

from avanon.access.audit import AuditTrail
from avanon.access.guard import ExportGuard, ExportRefused
from avanon.access.policy import ROLES, TIERS, Consent, Principal
from avanon.access.releases import FileView
from avanon.access.service import Governance, HiddenFile
from avanon.access.settings import Settings

__all__ = ["AuditTrail", "Consent", "ExportGuard", "ExportRefused", "FileView", "Governance", "HiddenFile", "Principal", "ROLES", "Settings", "TIERS"]
