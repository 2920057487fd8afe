"""Who may do what: roles, Databrary-style sharing tiers, and the consent cap on a file's tier.

Everything the portal and the command line allow or refuse is decided here, from two tables:
:data:`PERMISSIONS` (role -> actions) and the tier rule in :func:`may_read`. The authorization
matrix test walks both.

Tiers, from most to least restricted (Databrary's sharing levels):

``private``     the lab only: stewards and administrators, e.g. for review.
``authorized``  researchers holding an approved, unexpired grant for the study.
``learning``    excerpts for teaching: researchers holding a grant at ``learning`` or ``authorized``.
``public``      every signed-in user, guests included.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from avanon.errors import AccessError, ParameterError

TIERS = ("private", "authorized", "learning", "public")
ROLES = ("administrator", "steward", "researcher", "guest")
KINDS = ("video", "audio", "derived")

PERMISSIONS: dict[str, frozenset[str]] = {
    "administrator": frozenset(
        {"catalogue.view", "request.decide", "release.approve", "review.original", "audit.read", "consent.manage", "users.manage", "flags.read"}
    ),
    "steward": frozenset({"catalogue.view", "request.decide", "release.approve", "review.original", "audit.read", "consent.manage", "flags.read"}),
    "researcher": frozenset({"catalogue.view", "request.create"}),
    "guest": frozenset({"catalogue.view"}),
}
ACTIONS = tuple(sorted(set().union(*PERMISSIONS.values())))
# Roles that must give a one-time password at every login.
MFA_REQUIRED = frozenset({"administrator", "steward"})
# Roles that see every released file, whatever its tier, and unapproved releases.
CURATORS = frozenset({"administrator", "steward"})


@dataclass(frozen=True)
class Principal:
    """A signed-in user as the policy sees it."""

    id: int
    username: str
    role: str


@dataclass(frozen=True)
class GrantView:
    """An access grant: ``user`` may read files of ``study`` at tier ``tier`` or wider until ``expires``."""

    study: str
    tier: str
    expires: dt.datetime


@dataclass(frozen=True)
class Consent:
    """What one participant agreed to, and until when.

    Attributes
    ----------
    audio, video : bool
        Sharing of recordings in which the participant is heard / seen.
    excerpts : bool
        Showing excerpts to learning audiences (talks, classes).
    derived : bool
        Sharing derived features (pose, prosody tables).
    public : bool
        Public release.
    until : datetime.date or None
        Last day the consent holds; None for no end.
    withdrawn : bool
        The participant withdrew.
    """

    audio: bool = False
    video: bool = False
    excerpts: bool = False
    derived: bool = False
    public: bool = False
    until: dt.date | None = None
    withdrawn: bool = False


def check_tier(tier: str, *, field: str = "tier") -> str:
    """Return ``tier`` if it is one of :data:`TIERS`, else raise the standard message."""
    if tier not in TIERS:
        raise ParameterError(f"The '{field}' parameter must be one of {list(TIERS)}. Got {tier!r} instead.")
    return tier


def check_role(role: str) -> str:
    """Return ``role`` if it is one of :data:`ROLES`, else raise the standard message."""
    if role not in ROLES:
        raise ParameterError(f"The 'role' parameter must be one of {list(ROLES)}. Got {role!r} instead.")
    return role


def tier_rank(tier: str) -> int:
    """0 for private up to 3 for public."""
    return TIERS.index(check_tier(tier))


def narrower(a: str, b: str) -> str:
    """The more restricted of two tiers."""
    return a if tier_rank(a) <= tier_rank(b) else b


def allowed(principal: Principal, action: str) -> bool:
    """Whether the principal's role includes ``action`` (see :data:`PERMISSIONS`)."""
    if action not in ACTIONS:
        raise ParameterError(f"Unknown action {action!r}. Known actions: {list(ACTIONS)}.")
    return action in PERMISSIONS[principal.role]


def require(principal: Principal, action: str) -> None:
    """Raise :class:`AccessError` unless :func:`allowed`."""
    if not allowed(principal, action):
        raise AccessError(f"User {principal.username} (role {principal.role}) may not {action}.")


def may_read(principal: Principal, *, study: str, tier: str, approved: bool, excluded: bool, grants: Iterable[GrantView], now: dt.datetime) -> bool:
    """Whether the principal may see and download a released file.

    Parameters
    ----------
    principal : Principal
        The user.
    study : str
        The file's study.
    tier : str
        The file's effective tier (after the consent cap).
    approved : bool
        Whether its release was approved by a steward.
    excluded : bool
        Whether it was excluded (consent withdrawn or expired).
    grants : iterable of GrantView
        The principal's grants.
    now : datetime
        Current time (UTC), to expire grants.
    """
    if principal.role in CURATORS:
        return not excluded
    if excluded or not approved:
        return False
    rank = tier_rank(tier)
    if rank == tier_rank("public"):
        return True
    if rank == tier_rank("private") or principal.role != "researcher":
        return False
    return any(g.study == study and g.expires > now and tier_rank(g.tier) <= rank for g in grants)


def consent_cap(kind: str, consents: Iterable[Consent], *, has_audio: bool = True, today: dt.date) -> tuple[str | None, str]:
    """The widest tier the participants' consent allows for one file.

    Parameters
    ----------
    kind : {'video', 'audio', 'derived'}
        What the file is; a video with an audio track needs consent for both.
    consents : iterable of Consent
        One per participant in the file. A file with no known participant stays private.
    has_audio : bool
        Whether a video file carries an audio track.
    today : datetime.date
        Consent that ended before today no longer holds.

    Returns
    -------
    tier : str or None
        Widest allowed tier; None when the file must be excluded (withdrawn or expired consent).
    reason : str
        Why the cap is what it is, for the consent report.
    """
    if kind not in KINDS:
        raise ParameterError(f"The 'kind' parameter must be one of {list(KINDS)}. Got {kind!r} instead.")
    consents = list(consents)
    if not consents:
        return "private", "no participant consent on record"
    cap = "public"
    reason = "consent allows public release"
    for consent in consents:
        if consent.withdrawn:
            return None, "a participant withdrew consent"
        if consent.until is not None and consent.until < today:
            return None, f"a participant's consent ended on {consent.until.isoformat()}"
        needs = {"video": ["video"] + (["audio"] if has_audio else []), "audio": ["audio"], "derived": []}[kind]
        if kind == "derived":
            ok = consent.derived or consent.audio or consent.video
        else:
            ok = all(getattr(consent, field) for field in needs)
        if not ok:
            cap, reason = "private", f"a participant did not consent to sharing {kind if kind != 'derived' else 'derived features'}"
            continue
        own = "public" if consent.public else "learning" if consent.excerpts else "authorized"
        if tier_rank(own) < tier_rank(cap):
            cap = own
            reason = {
                "learning": "a participant agreed to teaching excerpts but not to public release",
                "authorized": "a participant agreed to research use only",
            }.get(own, reason)
    return cap, reason
