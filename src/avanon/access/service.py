"""Governance: one object that the portal and the command line call for every decision.

:class:`Governance` joins the catalogue database, the authenticator, the audit trail, the export
guard and (optionally) the vault. Each public method checks the caller's permission, does the work,
and records it in the audit trail, including every refusal; refusals of raw or unverified material
are also flagged to stewards.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import sqlalchemy as sa
from argon2 import PasswordHasher
from sqlalchemy.engine import Engine
from sqlalchemy.orm import selectinload

from avanon.access.audit import AuditTrail, read_key_file
from avanon.access.auth import Authenticator, SessionInfo
from avanon.access.checkpoint import CheckpointLog
from avanon.access.consent import ConsentAudit, apply_consent, audit_release, consent_detail, consent_rows, files_of, record_consent, write_csv
from avanon.access.db import AccessRequest, Flag, Grant, Participant, Release, ReleasedFile, User, connect, session_factory
from avanon.access.guard import ExportGuard, ExportRefused, load_manifest
from avanon.access.policy import CURATORS, Consent, GrantView, Principal, allowed, check_tier, may_read, require
from avanon.access.releases import DEFAULT_TIERS, FileView, catalogue_files, file_view, has_audio_of, kind_of
from avanon.access.settings import Settings
from avanon.errors import AccessError, IntegrityError, ParameterError

# Re-exported: the portal, the command line and the tests import these from here.
__all__ = ["Consent", "ConsentAudit", "FileView", "Governance", "HiddenFile", "Settings", "has_audio_of", "kind_of", "totp_key", "write_csv"]

MIN_PURPOSE = 10


class HiddenFile(AccessError):
    """A file that does not exist or that the caller may not know about: one message for both."""

    def __init__(self) -> None:
        super().__init__("No such file.")


def totp_key(audit_key: bytes) -> bytes:
    """The key that encrypts TOTP secrets in the catalogue, derived from the audit key (kept outside it)."""
    return hmac.new(audit_key, b"avanon-totp-secret-key", hashlib.sha256).digest()


class Governance:
    """Access control, consent, releases and the audit trail over one catalogue.

    Parameters
    ----------
    db : str or Engine
        Catalogue URL or engine.
    audit_key : bytes
        HMAC key of the audit trail (32 bytes or more).
    vault : avanon.vault.Vault, optional
        Unlocked vault of originals, for side-by-side review, export checks and disposal.
    clock : callable, optional
        Returns the current UTC time.
    hasher : argon2.PasswordHasher, optional
        Password hasher (tests pass a cheap one).
    audit_head : Path, optional
        The audit trail's signed head outside the database (:attr:`Settings.audit_head_file`);
        with it, ``audit verify`` also catches a cut tail and wholesale deletion.
    checkpoints : CheckpointLog, optional
        The trail's signed checkpoint log outside the database (:meth:`Settings.checkpoint_log`).
    """

    def __init__(
        self,
        db: str | Engine,
        *,
        audit_key: bytes,
        vault: object | None = None,
        clock: Callable[[], dt.datetime] | None = None,
        hasher: PasswordHasher | None = None,
        audit_head: Path | None = None,
        checkpoints: CheckpointLog | None = None,
    ) -> None:
        self.engine = connect(db)
        self._sessions = session_factory(self.engine)
        self.clock = clock or (lambda: dt.datetime.now(dt.timezone.utc))
        self.audit = AuditTrail(self.engine, audit_key, clock=self.clock, head_file=audit_head, checkpoints=checkpoints)
        self.auth = Authenticator(self._sessions, self.clock, hasher, secret_key=totp_key(audit_key))
        self.vault = vault

    @classmethod
    def from_settings(cls, settings: Settings, *, vault: object | None = None, hasher: PasswordHasher | None = None) -> Governance:
        """Open the catalogue named by ``settings``."""
        return cls(
            settings.db,
            audit_key=read_key_file(settings.audit_key_file),
            vault=vault,
            hasher=hasher,
            audit_head=settings.audit_head_file,
            checkpoints=settings.checkpoint_log(),
        )

    # ------------------------------------------------------------------ users and sessions
    def create_user(self, actor: str, username: str, role: str, password: str, *, mfa: bool | None = None) -> str | None:
        """Create a user (recorded); returns the TOTP secret to hand over once, or None."""
        _principal, secret = self.auth.create_user(username, role, password, mfa=mfa)
        self.audit.record(actor, "user.create", username, detail={"role": role, "mfa": secret is not None})
        return secret

    def login(self, username: str, password: str, otp: str | None, *, ip: str | None = None) -> tuple[str, SessionInfo]:
        """Log in (recorded whether it succeeds or not); see :meth:`Authenticator.login`."""
        try:
            token, info = self.auth.login(username, password, otp, ip=ip)
        except AccessError as exc:
            self.audit.record(username, "login", username, outcome="refused", ip=ip, detail={"reason": str(exc)})
            raise
        self.audit.record(username, "login", username, ip=ip)
        return token, info

    def logout(self, token: str, principal: Principal, *, ip: str | None = None) -> None:
        """End a session (recorded)."""
        self.auth.logout(token)
        self.audit.record(principal.username, "logout", principal.username, ip=ip)

    def refuse(self, actor: str, action: str, target: str, reason: str, *, ip: str | None = None, flag: bool = False) -> None:
        """Record a refusal by ``actor`` (a user name), and flag it to stewards when ``flag``."""
        self.audit.record(actor, "refusal", target, outcome="refused", ip=ip, detail={"action": action, "reason": reason})
        if flag:
            with self._sessions.begin() as session:
                session.add(Flag(created=self.clock(), kind=action, actor=actor, detail=f"{target}: {reason}"))

    def check_permission(self, principal: Principal, action: str, target: str, *, ip: str | None = None) -> None:
        """:func:`require`, recording a refusal."""
        if not allowed(principal, action):
            self.refuse(principal.username, action, target, f"role {principal.role} lacks {action}", ip=ip, flag=action == "review.original")
            require(principal, action)

    def acting_user(self, username: str, action: str, target: str, *, ip: str | None = None) -> Principal:
        """The user a command acts as (``--as USER``), allowed to do ``action``; a refusal is recorded.

        Raises
        ------
        ParameterError
            No such user (recorded as a refusal).
        AccessError
            The user's role lacks ``action`` (recorded as a refusal).
        """
        for user in self.auth.users():
            if user.username == username:
                self.check_permission(user, action, target, ip=ip)
                return user
        self.refuse(username, action, target, "no such user", ip=ip)
        raise ParameterError(f"No user named {username!r}.")

    # ------------------------------------------------------------------ releases
    def register_release(
        self,
        actor: str,
        out_dir: Path,
        *,
        study: str,
        name: str | None = None,
        tiers: dict[str, str] | None = None,
        participants: dict[str, list[str]] | None = None,
    ) -> int:
        """Catalogue the cleared outputs of one ``avanon run`` as a draft release.

        Parameters
        ----------
        actor : str
            Who registers it.
        out_dir : Path
            Run output root with ``avanon_manifest.json``.
        study : str
            Study name (the vault's study, so originals can be found for review).
        name : str, optional
            Release name; defaults to the directory name.
        tiers : dict, optional
            Requested tier per kind (``video``, ``audio``, ``derived``); derived features may be
            released wider than the media they came from. Each file's tier is then capped by its
            participants' consent.
        participants : dict, optional
            Input path (relative, as in the manifest) -> participant codes appearing in it.

        Returns
        -------
        int
            The release id. Refused files are recorded and flagged, not catalogued.
        """
        requested = dict(DEFAULT_TIERS, **(tiers or {}))
        for kind, tier in requested.items():
            check_tier(tier, field=f"tiers.{kind}")
        guard = ExportGuard(Path(out_dir), originals=self._vault_hashes())
        cleared, refused = guard.sweep()
        for refusal in refused:
            self.refuse(actor, "export", refusal.path, refusal.reason, flag=True)
        with self._sessions.begin() as session:
            release = Release(
                name=name or Path(out_dir).name,
                study=study,
                root=str(guard.root),
                manifest_sha256=guard.manifest_sha256,
                created=self.clock(),
                created_by=actor,
            )
            session.add(release)
            session.flush()
            rows = catalogue_files(session, release, cleared, requested=requested, participants=participants or {})
            for row in rows:
                apply_consent(row, today=self.clock().date())
            release_id = release.id
            summary = {"files": len(rows), "refused": len(refused), "manifest_sha256": guard.manifest_sha256}
        self.audit.record(actor, "release.create", f"release {release_id}", detail=summary)
        return release_id

    def _vault_hashes(self) -> set[str]:
        files = getattr(self.vault, "files", None)
        return {f.sha256 for f in files()} if callable(files) else set()

    def approve_release(self, principal: Principal, release_id: int, *, ip: str | None = None) -> int:
        """Approve a release after re-checking every file with the export guard; returns files approved."""
        self.check_permission(principal, "release.approve", f"release {release_id}", ip=ip)
        with self._sessions.begin() as session:
            release = session.get(Release, release_id, options=[selectinload(Release.files)])
            if release is None:
                raise ParameterError(f"No release {release_id}.")
            guard = ExportGuard(Path(release.root), originals=self._vault_hashes())
            refusals = []
            for row in release.files:
                if row.excluded:
                    continue
                try:
                    guard.check(row.path)
                except ExportRefused as exc:
                    row.excluded, row.excluded_reason = True, exc.reason
                    refusals.append(exc)
            release.approved_by, release.approved_at = principal.username, self.clock()
            count = sum(not row.excluded for row in release.files)
        for exc in refusals:
            self.refuse(principal.username, "export", exc.path, exc.reason, ip=ip, flag=True)
        self.audit.record(principal.username, "release.approve", f"release {release_id}", ip=ip, detail={"files": count})
        return count

    def releases(self) -> list[dict[str, object]]:
        """Every release with its state and file count."""
        with self._sessions() as session:
            rows = session.execute(sa.select(Release).options(selectinload(Release.files)).order_by(Release.id)).scalars()
            return [
                {
                    "id": r.id,
                    "name": r.name,
                    "study": r.study,
                    "created_by": r.created_by,
                    "approved_by": r.approved_by,
                    "approved_at": r.approved_at,
                    "files": len(r.files),
                    "excluded": sum(f.excluded for f in r.files),
                }
                for r in rows
            ]

    # ------------------------------------------------------------------ reading files
    def grants(self, principal: Principal) -> list[GrantView]:
        """The principal's unexpired grants."""
        now = self.clock()
        with self._sessions() as session:
            rows = session.execute(sa.select(Grant).where(Grant.user_id == principal.id, Grant.expires > now)).scalars()
            return [GrantView(g.study, g.tier, g.expires) for g in rows]

    def _readable(self, principal: Principal, view: FileView, grants: list[GrantView]) -> bool:
        return may_read(principal, study=view.study, tier=view.tier, approved=view.approved, excluded=view.excluded, grants=grants, now=self.clock())

    def catalogue(self, principal: Principal) -> list[FileView]:
        """Released files the principal may see (stewards and administrators see all, with their state)."""
        grants = self.grants(principal)
        with self._sessions() as session:
            rows = session.execute(
                sa.select(ReleasedFile)
                .options(selectinload(ReleasedFile.release), selectinload(ReleasedFile.participants))
                .order_by(ReleasedFile.release_id, ReleasedFile.path)
            ).scalars()
            views = [file_view(r) for r in rows]
        if principal.role in CURATORS:
            return views
        return [v for v in views if self._readable(principal, v, grants)]

    def file(self, principal: Principal, file_id: int, *, ip: str | None = None) -> FileView:
        """One file's record; :class:`HiddenFile` when it does not exist or is not the principal's to see."""
        with self._sessions() as session:
            row = session.get(ReleasedFile, file_id, options=[selectinload(ReleasedFile.release), selectinload(ReleasedFile.participants)])
            view = file_view(row) if row is not None else None
        if view is None or (principal.role not in CURATORS and not self._readable(principal, view, self.grants(principal))):
            self.refuse(principal.username, "file.view", f"file {file_id}", "not visible to this user", ip=ip)
            raise HiddenFile()
        return view

    def download(self, principal: Principal, file_id: int, *, ip: str | None = None, purpose: str | None = None) -> tuple[Path, FileView]:
        """Authorize and guard a download; returns the anonymized file's path (recorded)."""
        view = self.file(principal, file_id, ip=ip)
        if not self._readable(principal, view, self.grants(principal)):
            self.refuse(principal.username, "download", view.path, "file excluded" if view.excluded else "tier not granted", ip=ip, flag=view.excluded)
            raise HiddenFile() if principal.role not in CURATORS else AccessError(f"{view.path} is excluded: {view.excluded_reason}.")
        with self._sessions() as session:
            root = session.get(Release, view.release_id).root  # type: ignore[union-attr]
        try:
            cleared = ExportGuard(Path(root), originals=self._vault_hashes()).check(view.path)
        except ExportRefused as exc:
            self.refuse(principal.username, "download", view.path, exc.reason, ip=ip, flag=True)
            raise
        self.audit.record(
            principal.username, "download", view.path, ip=ip, purpose=purpose, detail={"file": view.id, "tier": view.tier, "sha256": cleared.output_sha256}
        )
        return Path(root) / cleared.path, view

    def original(self, principal: Principal, file_id: int, *, ip: str | None = None) -> Iterator[bytes]:
        """Stream the original of a released file from the vault, decrypted on the fly (stewards only)."""
        view = self.file(principal, file_id, ip=ip)
        self.check_permission(principal, "review.original", view.path, ip=ip)
        if self.vault is None:
            raise ParameterError("No vault is open: originals cannot be reviewed.")
        with self._sessions() as session:
            row = session.get(ReleasedFile, file_id)
            vault_path = f"{view.study}/{row.original}"  # type: ignore[union-attr]
        stored = self.vault.find(vault_path)  # type: ignore[attr-defined]
        self.audit.record(
            principal.username, "read", vault_path, ip=ip, purpose="side-by-side review", detail={"file": file_id, "original_sha256": stored.sha256}
        )
        return self.vault.iter_plaintext(vault_path)  # type: ignore[attr-defined,no-any-return]

    def export(self, actor: str, out_dir: Path, paths: list[str], dest: Path) -> list[Path]:
        """Copy cleared anonymized files out of a run into ``dest``; any refusal stops the export (recorded, flagged)."""
        guard = ExportGuard(Path(out_dir), originals=self._vault_hashes())
        cleared = []
        for path in paths:
            try:
                cleared.append(guard.check(path))
            except ExportRefused as exc:
                self.refuse(actor, "export", exc.path, exc.reason, flag=True)
                raise
        written = []
        for item in cleared:
            target = Path(dest) / item.path
            if target.exists():
                raise ParameterError(f"Refusing to overwrite {target}.")
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(guard.root / item.path, target)
            self.audit.record(actor, "export", item.path, detail={"sha256": item.output_sha256, "to": str(dest)})
            written.append(target)
        return written

    # ------------------------------------------------------------------ requests and grants
    def request_access(self, principal: Principal, study: str, tier: str, purpose: str, *, ip: str | None = None) -> int:
        """File an access request with a stated purpose; returns its id."""
        self.check_permission(principal, "request.create", study, ip=ip)
        if check_tier(tier) in ("private", "public"):
            raise ParameterError(f"The 'tier' parameter of an access request must be one of ['authorized', 'learning']. Got {tier!r} instead.")
        purpose = purpose.strip()
        if len(purpose) < MIN_PURPOSE:
            raise ParameterError(f"State the purpose of the request in at least {MIN_PURPOSE} characters. Got {len(purpose)}.")
        with self._sessions.begin() as session:
            request = AccessRequest(user_id=principal.id, study=study, tier=tier, purpose=purpose, status="pending", created=self.clock())
            session.add(request)
            session.flush()
            request_id = request.id
        self.audit.record(principal.username, "request", study, ip=ip, purpose=purpose, detail={"request": request_id, "tier": tier})
        return request_id

    def requests(self, principal: Principal) -> list[dict[str, object]]:
        """Stewards see every request, others their own."""
        with self._sessions() as session:
            query = sa.select(AccessRequest).order_by(AccessRequest.id.desc())
            if not allowed(principal, "request.decide"):
                query = query.where(AccessRequest.user_id == principal.id)
            names = dict(session.execute(sa.select(User.id, User.username)).all())
            return [
                {
                    "id": r.id,
                    "user": names.get(r.user_id, "?"),
                    "study": r.study,
                    "tier": r.tier,
                    "purpose": r.purpose,
                    "status": r.status,
                    "created": r.created,
                    "decided_by": r.decided_by,
                }
                for r in session.execute(query).scalars()
            ]

    def decide_request(self, principal: Principal, request_id: int, *, approve: bool, days: int = 90, ip: str | None = None) -> int | None:
        """Approve (creating a grant that expires after ``days``) or deny a pending request; returns the grant id."""
        self.check_permission(principal, "request.decide", f"request {request_id}", ip=ip)
        if not 1 <= days <= 3650:
            raise ParameterError(f"The 'days' parameter must be an int in the range [1, 3650] days. Got {days} instead.")
        now = self.clock()
        with self._sessions.begin() as session:
            request = session.get(AccessRequest, request_id)
            if request is None or request.status != "pending":
                raise ParameterError(f"No pending request {request_id}.")
            if request.user_id == principal.id:
                raise AccessError("A request cannot be decided by the person who made it.")
            request.status, request.decided_by, request.decided_at = ("approved" if approve else "denied"), principal.username, now
            grant_id = None
            if approve:
                grant = Grant(
                    user_id=request.user_id,
                    study=request.study,
                    tier=request.tier,
                    purpose=request.purpose,
                    granted_by=principal.username,
                    created=now,
                    expires=now + dt.timedelta(days=days),
                    request_id=request.id,
                )
                session.add(grant)
                session.flush()
                grant_id = grant.id
            study, purpose = request.study, request.purpose
        self.audit.record(
            principal.username,
            "grant" if approve else "deny",
            study,
            ip=ip,
            purpose=purpose,
            detail={"request": request_id, "grant": grant_id, "days": days if approve else None},
        )
        return grant_id

    # ------------------------------------------------------------------ consent
    def set_consent(self, actor: str, code: str, study: str, *, consent: Consent) -> None:
        """Record (or replace) what participant ``code`` of ``study`` agreed to; released files' tiers follow.

        Parameters
        ----------
        actor : str
            Who records it.
        code : str
            Pseudonymous participant code.
        study : str
            The participant's study.
        consent : Consent
            What they agreed to, and until when (``withdrawn`` must be false: see :meth:`withdraw`).
        """
        with self._sessions.begin() as session:
            record_consent(session, code, study, consent, now=self.clock())
        self.audit.record(actor, "consent", code, detail=consent_detail(study, consent))

    def withdraw(self, actor: str, code: str, *, ip: str | None = None) -> list[str]:
        """Withdraw a participant: exclude their released files, flag stewards, schedule originals for disposal.

        Returns
        -------
        list of str
            Relative paths (``STUDY/input``) of the originals scheduled for deletion.
        """
        now = self.clock()
        with self._sessions.begin() as session:
            person = session.get(Participant, code)
            if person is None:
                raise ParameterError(f"No participant {code!r}.")
            person.withdrawn_at = now
            session.flush()
            rows = files_of(session, code)
            for row in rows:
                apply_consent(row, today=now.date())
            originals = sorted({f"{row.release.study}/{row.original}" for row in rows})
            session.add(Flag(created=now, kind="withdrawal", actor=actor, detail=f"participant {code} withdrew: {len(rows)} released files excluded"))
        scheduled = []
        if self.vault is not None:
            known = {f.path for f in self.vault.files()}  # type: ignore[attr-defined]
            scheduled = [p for p in originals if p in known]
            if scheduled:
                self.vault.schedule_deletion(scheduled, when=now)  # type: ignore[attr-defined]
        self.audit.record(actor, "withdrawal", code, ip=ip, detail={"files_excluded": len(rows), "originals_scheduled": len(scheduled)})
        return scheduled

    def consent_report(self, study: str) -> list[dict[str, object]]:
        """One row per participant of ``study``: consent, validity and released files by tier (for ethics boards)."""
        with self._sessions() as session:
            return consent_rows(session, study)

    def audit_consent(self, actor: str, release_id: int) -> ConsentAudit:
        """Every file of a release against its participants' consent, mismatches flagged (recorded).

        See :mod:`avanon.access.consent` for what counts as a mismatch.

        Raises
        ------
        ParameterError
            No such release.
        """
        with self._sessions() as session:
            release = session.get(Release, release_id, options=[selectinload(Release.files).selectinload(ReleasedFile.participants)])
            if release is None:
                raise ParameterError(f"No release {release_id}.")
            try:
                entries, digest = load_manifest(Path(release.root))
            except (ParameterError, IntegrityError):
                entries, digest = None, None
            report = audit_release(release, entries, manifest_sha256=digest, today=self.clock().date())
        detail = {"files": len(report.files), "mismatches": report.mismatches}
        self.audit.record(actor, "consent.audit", f"release {release_id}", outcome="ok", detail=detail)
        return report

    def purge_originals(self, actor: str, *, now: dt.datetime | None = None) -> dict[str, object]:
        """Dispose of originals past retention or withdrawn, and file the disposal certificate in the audit trail."""
        if self.vault is None:
            raise ParameterError("No vault is open: nothing to purge.")
        certificate = self.vault.purge(now=now or self.clock())  # type: ignore[attr-defined]
        entry = self.audit.record(actor, "dispose", f"{len(certificate['files'])} originals", detail=certificate)
        certificate["audit_seq"] = entry.seq
        return certificate  # type: ignore[no-any-return]

    # ------------------------------------------------------------------ stewards' views
    def flags(self, principal: Principal, *, ip: str | None = None) -> list[dict[str, object]]:
        """Open flags (refused exports, withdrawals) for stewards."""
        self.check_permission(principal, "flags.read", "flags", ip=ip)
        with self._sessions() as session:
            return [
                {"id": f.id, "created": f.created, "kind": f.kind, "actor": f.actor, "detail": f.detail}
                for f in session.execute(sa.select(Flag).where(Flag.resolved.is_(False)).order_by(Flag.id.desc())).scalars()
            ]

    def audit_entries(self, principal: Principal, *, limit: int = 200, ip: str | None = None) -> list[object]:
        """Newest audit entries (stewards and administrators)."""
        self.check_permission(principal, "audit.read", "audit trail", ip=ip)
        return list(self.audit.entries(limit=limit, newest_first=True))
