"""Users, roles, tiers, consent, access requests, the audit trail and the export guard.

The portal and the command line talk to :class:`~avanon.access.service.Governance`; the rules live
in :mod:`avanon.access.policy`, the tamper-evident trail in :mod:`avanon.access.audit`, the export
checks in :mod:`avanon.access.guard`.
"""

from __future__ import annotations

from avanon.access.audit import AuditTrail
from avanon.access.guard import ExportGuard, ExportRefused
from avanon.access.policy import ROLES, TIERS, Principal
from avanon.access.service import FileView, Governance, HiddenFile, Settings

__all__ = ["AuditTrail", "ExportGuard", "ExportRefused", "FileView", "Governance", "HiddenFile", "Principal", "ROLES", "Settings", "TIERS"]
