"""The consent audit of a release (avanon.access.consent): every file against its participants' consent."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
import sqlalchemy as sa

from access_support import Clock, build_world, clock, engine  # noqa: F401
from avanon.access.db import ReleasedFile
from avanon.access.policy import Consent
from avanon.access.service import Governance
from avanon.errors import ParameterError

TIERS = {"video": "authorized", "audio": "public", "derived": "public"}


@pytest.fixture()
def world(engine, clock: Clock, tmp_path: Path) -> tuple[Governance, Path]:  # noqa: F811
    """The shared world plus P03, who agreed to video with sound until the end of 2025."""
    gov, _users, _secrets, _release, run = build_world(engine, tmp_path, clock=clock)
    gov.set_consent("stew", "P03", "study1", consent=Consent(audio=True, video=True, until=dt.date(2025, 12, 31)))
    return gov, run


def _release(gov: Governance, run: Path, mapping: dict[str, list[str]]) -> int:
    return gov.register_release("stew", run, study="study1", name="wave2", tiers=TIERS, participants=mapping)


CLEAN = {"p01/session.mp4": ["P01"], "p02/talk.wav": ["P02"], "p03/unconsented.mp4": ["P03"]}


def test_a_file_whose_kind_a_participant_did_not_consent_to_is_flagged(world) -> None:
    gov, run = world
    release = _release(gov, run, {**CLEAN, "p01/session.mp4": ["P01", "P02"]})  # P02 agreed to audio, not to being seen
    report = gov.audit_consent("stew", release)
    by_path = {f.path: f for f in report.files}
    assert {p: f.status for p, f in by_path.items()} == {
        "p01/session.mp4": "mismatch",
        "p01/session_pose.csv": "ok",
        "p02/talk.wav": "ok",
        "p03/unconsented.mp4": "ok",
    }
    session = by_path["p01/session.mp4"]
    assert session.problems == ("P02 did not consent to sharing video with sound",)
    assert (session.kind, session.tier, session.allowed, session.participants) == ("video", "private", "private", "P01 learning; P02 not covered")
    assert (by_path["p02/talk.wav"].tier, by_path["p02/talk.wav"].allowed) == ("public", "public")
    assert report.mismatches == 1 and report.problems == []
    recorded = gov.audit.entries(action="consent.audit")[-1]
    assert recorded.target == f"release {release}" and json.loads(recorded.detail) == {"files": 4, "mismatches": 1}
    data = report.as_dict()
    assert data["mismatches"] == 1 and data["files"][0]["problems"] == ["P02 did not consent to sharing video with sound"]
    assert report.rows()[0]["problems"] == "P02 did not consent to sharing video with sound"


def test_a_file_with_nobody_on_record_is_flagged(world) -> None:
    gov, run = world
    report = gov.audit_consent("stew", _release(gov, run, {"p01/session.mp4": ["P01"], "p02/talk.wav": ["P02"]}))
    unknown = next(f for f in report.files if f.path == "p03/unconsented.mp4")
    assert unknown.status == "mismatch" and unknown.problems == ("no participant's consent is on record for it",)
    assert unknown.participants == "none on record" and report.mismatches == 1


def test_an_honest_release_matches_and_an_excluded_file_is_listed(world) -> None:
    gov, run = world
    release = _release(gov, run, CLEAN)
    report = gov.audit_consent("stew", release)
    assert [f.status for f in report.files] == ["ok"] * 4 and report.mismatches == 0
    gov.withdraw("stew", "P03")
    report = gov.audit_consent("stew", release)
    unconsented = next(f for f in report.files if f.path == "p03/unconsented.mp4")
    assert (unconsented.status, unconsented.tier, unconsented.allowed, unconsented.participants) == ("excluded", "excluded", "excluded", "P03 withdrawn")
    assert report.mismatches == 0


def test_consent_that_ended_while_the_file_stays_released_is_flagged(world, clock: Clock) -> None:  # noqa: F811
    """The catalogue re-applies consent when it changes, not when a date passes: the audit catches it."""
    gov, run = world
    release = _release(gov, run, CLEAN)
    clock.now = dt.datetime(2026, 1, 2, 9, 0, tzinfo=dt.timezone.utc)
    report = gov.audit_consent("stew", release)
    ended = next(f for f in report.files if f.path == "p03/unconsented.mp4")
    assert ended.status == "mismatch" and ended.allowed == "excluded"
    assert ended.problems == ("P03's consent ended on 2025-12-31, but the file is still released at authorized",)
    assert ended.participants == "P03 ended"
    assert report.mismatches == 1


def test_catalogue_disagreeing_with_the_manifest_is_flagged(world) -> None:
    gov, run = world
    release = _release(gov, run, CLEAN)
    with gov.engine.begin() as conn:  # a photo or video catalogued as a derived table (issue 18), released wide
        conn.execute(
            sa.update(ReleasedFile).where(ReleasedFile.release_id == release, ReleasedFile.path == "p01/session.mp4").values(kind="derived", tier="public")
        )
    report = gov.audit_consent("stew", release)
    session = next(f for f in report.files if f.path == "p01/session.mp4")
    assert session.status == "mismatch" and session.kind == "video"
    assert session.problems == (
        "the catalogue releases it as derived, but the manifest makes it video",
        "it is released at public, wider than the learning its participants' consent allows "
        "(a participant agreed to teaching excerpts but not to public release)",
    )
    manifest = run / "avanon_manifest.json"
    data = json.loads(manifest.read_text())
    data["entries"] = [e for e in data["entries"] if e["output"] != "p02/talk.wav"]
    manifest.write_text(json.dumps(data))
    report = gov.audit_consent("stew", release)
    assert report.problems == ["the run's manifest changed since the release was registered"]
    assert next(f for f in report.files if f.path == "p02/talk.wav").problems == ("the run's manifest no longer lists it",)
    manifest.unlink()
    report = gov.audit_consent("stew", release)
    assert report.problems[0].startswith("the run's manifest under") and report.mismatches == 2  # the manifest, and session.mp4's tier


def test_unknown_release_is_refused(world) -> None:
    gov, _ = world
    with pytest.raises(ParameterError, match="No release 99"):
        gov.audit_consent("stew", 99)


def test_recorded_consent_must_not_say_withdrawn(world) -> None:
    gov, _ = world
    with pytest.raises(ParameterError, match="record a withdrawal instead"):
        gov.set_consent("stew", "P04", "study1", consent=Consent(audio=True, withdrawn=True))
