"""Governance flows: releases under consent caps, requests and expiring grants, withdrawal, disposal."""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path

import pytest

from access_support import ORIGINALS, PASSWORD, Clock, build_world, clock, engine, sha  # noqa: F401
from avanon.access.guard import ExportRefused
from avanon.access.policy import Consent
from avanon.access.service import Governance, HiddenFile, write_csv
from avanon.errors import AccessError, ParameterError


@pytest.fixture()
def world(engine, clock: Clock, tmp_path: Path):  # noqa: F811
    gov, users, _secrets, release, run = build_world(engine, tmp_path, clock=clock)
    return gov, users, release, run


def _by_path(gov: Governance, principal) -> dict[str, object]:
    return {f.path: f for f in gov.catalogue(principal)}


def test_release_catalogues_cleared_files_with_consent_caps(world) -> None:
    gov, users, release, _ = world
    files = _by_path(gov, users["steward"])
    assert sorted(files) == ["p01/session.mp4", "p01/session_pose.csv", "p02/talk.wav", "p03/unconsented.mp4"]
    assert files["p03/unconsented.mp4"].tier == "private"
    assert files["p01/session.mp4"].tier == "authorized"
    # Derived features go wider than the media, but P01 did not agree to public release: capped at learning.
    assert files["p01/session_pose.csv"].tier == "learning"
    assert files["p01/session_pose.csv"].derived_from == files["p01/session.mp4"].id
    assert files["p02/talk.wav"].tier == "public"
    refusals = gov.audit.entries(action="refusal")
    assert {e.target for e in refusals} == {"p02/failed.mp4", "p02/copied.mp4", "p02/qa.mp4"}
    assert len(gov.flags(users["steward"])) == 3
    assert gov.releases()[0]["approved_by"] is None


def test_unapproved_release_is_hidden_then_public_tier_visible(world) -> None:
    gov, users, release, _ = world
    assert gov.catalogue(users["guest"]) == []
    with pytest.raises(AccessError, match="may not release.approve"):
        gov.approve_release(users["researcher"], release)
    assert gov.approve_release(users["steward"], release) == 4
    assert list(_by_path(gov, users["guest"])) == ["p02/talk.wav"]
    assert list(_by_path(gov, users["researcher"])) == ["p02/talk.wav"]


def test_request_grant_download_and_expiry(world, clock: Clock) -> None:  # noqa: F811
    gov, users, release, run = world
    gov.approve_release(users["steward"], release)
    res, stew = users["researcher"], users["steward"]
    video_id = _by_path(gov, stew)["p01/session.mp4"].id
    with pytest.raises(HiddenFile):
        gov.download(res, video_id)
    with pytest.raises(ParameterError, match="at least 10"):
        gov.request_access(res, "study1", "authorized", "why")
    with pytest.raises(AccessError):
        gov.request_access(users["guest"], "study1", "authorized", "I would like to look at it")
    request_id = gov.request_access(res, "study1", "authorized", "Gesture coding for my thesis")
    with pytest.raises(AccessError, match="may not request.decide"):
        gov.decide_request(res, request_id, approve=True)
    gov.decide_request(stew, request_id, approve=True, days=30)
    with pytest.raises(ParameterError, match="No pending request"):
        gov.decide_request(stew, request_id, approve=False)
    path, view = gov.download(res, video_id, purpose="gesture coding")
    assert path == run / "p01" / "session.mp4" and view.tier == "authorized"
    assert sorted(_by_path(gov, res)) == ["p01/session.mp4", "p01/session_pose.csv", "p02/talk.wav"]
    download = gov.audit.entries(action="download")[-1]
    assert download.actor == "res" and download.purpose == "gesture coding"
    clock.advance(days=31)
    with pytest.raises(HiddenFile):
        gov.download(res, video_id)
    assert gov.audit.verify() == []


def test_hidden_and_missing_files_look_the_same(world) -> None:
    gov, users, release, _ = world
    gov.approve_release(users["steward"], release)
    video_id = _by_path(gov, users["steward"])["p01/session.mp4"].id
    with pytest.raises(HiddenFile) as hidden:
        gov.file(users["guest"], video_id)
    with pytest.raises(HiddenFile) as missing:
        gov.file(users["guest"], 99999)
    assert str(hidden.value) == str(missing.value) == "No such file."


def test_tampered_output_is_refused_at_download_and_flagged(world) -> None:
    gov, users, release, run = world
    gov.approve_release(users["steward"], release)
    talk_id = _by_path(gov, users["guest"])["p02/talk.wav"].id
    (run / "p02" / "talk.wav").write_bytes(ORIGINALS["p02/talk.wav"])
    with pytest.raises(ExportRefused, match="original"):
        gov.download(users["guest"], talk_id)
    assert any("p02/talk.wav" in f["detail"] for f in gov.flags(users["steward"]))


def test_original_review_for_stewards_only(world) -> None:
    gov, users, release, _ = world
    gov.approve_release(users["steward"], release)
    talk_id = _by_path(gov, users["guest"])["p02/talk.wav"].id
    assert b"".join(gov.original(users["steward"], talk_id)) == ORIGINALS["p02/talk.wav"]
    with pytest.raises(AccessError, match="review.original"):
        gov.original(users["guest"], talk_id)
    assert gov.audit.entries(action="read")[-1].target == "study1/p02/talk.wav"
    assert any("review.original" in f["detail"] for f in gov.flags(users["steward"]))


def test_withdrawal_excludes_files_and_schedules_originals(world, clock: Clock) -> None:  # noqa: F811
    gov, users, release, _ = world
    gov.approve_release(users["steward"], release)
    scheduled = gov.withdraw("stew", "P01")
    assert scheduled == ["study1/p01/session.mp4"]
    files = _by_path(gov, users["steward"])
    assert files["p01/session.mp4"].excluded and files["p01/session_pose.csv"].excluded
    assert "withdrew" in files["p01/session.mp4"].excluded_reason
    with pytest.raises(AccessError, match="excluded"):
        gov.download(users["steward"], files["p01/session.mp4"].id)
    certificate = gov.purge_originals("stew")
    assert [f["sha256"] for f in certificate["files"]] == [sha(ORIGINALS["p01/session.mp4"])]
    assert "study1/p01/session.mp4" not in {f.path for f in gov.vault.files()}
    dispose = gov.audit.entries(action="dispose")[-1]
    assert dispose.seq == certificate["audit_seq"] and "crypto-shredding" in dispose.detail
    with pytest.raises(ParameterError, match="withdrew"):
        gov.set_consent("stew", "P01", "study1", consent=Consent(audio=True))
    rows = {r["participant"]: r for r in gov.consent_report("study1")}
    assert rows["P01"]["withdrawn"] and rows["P01"]["files_excluded"] == 2
    assert rows["P02"]["files_public"] == 1
    sink = io.StringIO()
    assert write_csv(list(rows.values()), sink) == 2 and "participant" in sink.getvalue().splitlines()[0]


def test_consent_expiry_and_narrowing(world, clock: Clock) -> None:  # noqa: F811
    gov, users, release, _ = world
    gov.set_consent("stew", "P02", "study1", consent=Consent(audio=True, derived=True, public=False, until=dt.date(2025, 3, 10)))
    assert _by_path(gov, users["steward"])["p02/talk.wav"].tier == "authorized"
    clock.advance(days=30)
    gov.register_release("stew", world[3], study="study1", name="wave2", participants={"p02/talk.wav": ["P02"]})
    wave2 = [f for f in gov.catalogue(users["steward"]) if f.release == "wave2"]
    talk = next(f for f in wave2 if f.path == "p02/talk.wav")
    assert talk.excluded and "ended on 2025-03-10" in talk.excluded_reason
    unknown = next(f for f in wave2 if f.path == "p01/session.mp4")
    assert unknown.tier == "private" and not unknown.participants
    with pytest.raises(ParameterError, match="no consent record"):
        gov.register_release("stew", world[3], study="study1", participants={"p02/talk.wav": ["P99"]})


def test_export_copies_cleared_and_refuses_raw(world, tmp_path: Path) -> None:
    gov, _, _, run = world
    written = gov.export("stew", run, ["p02/talk.wav"], tmp_path / "share")
    assert written[0].read_bytes() == (run / "p02" / "talk.wav").read_bytes()
    with pytest.raises(ExportRefused, match="not an anonymized output"):
        gov.export("stew", run, ["p01/stray.mp4"], tmp_path / "share2")
    assert not (tmp_path / "share2").exists()
    assert gov.audit.entries(action="export")[-1].target == "p02/talk.wav"


def test_login_is_recorded(world) -> None:
    gov, _, _, _ = world
    with pytest.raises(AccessError):
        gov.login("res", "wrong password!", None, ip="127.0.0.1")
    gov.login("res", PASSWORD, None)
    logins = gov.audit.entries(action="login")
    assert [(e.actor, e.outcome) for e in logins] == [("res", "refused"), ("res", "ok")]


def _cap_for(kind: str, audio: bool, video: bool, derived: bool) -> str | None:
    from avanon.access.policy import Consent, consent_cap
    from avanon.access.service import has_audio_of, kind_of

    paths = {
        "video": "v.mp4",
        "video-silent": "v.mp4",
        "audio": "a.wav",
        "image": "p.jpg",
        "annotation": "a.eaf",
        "other": "notes.txt",
        "derived": "v_features.parquet",
    }
    entry: dict[str, object] = {"kind": kind.removesuffix("-silent")}
    if kind == "video-silent":
        entry["media"] = {"input": {"audio": None}}
    consent = Consent(audio=audio, video=video, excerpts=False, derived=derived, public=False, until=None, withdrawn=False)
    path = paths[kind]
    cap, _ = consent_cap(kind_of(path, entry), [consent], has_audio=has_audio_of(path, entry), today=dt.date(2026, 1, 1))
    return cap


@pytest.mark.parametrize("derived", [False, True])
@pytest.mark.parametrize("video", [False, True])
@pytest.mark.parametrize("audio", [False, True])
@pytest.mark.parametrize("kind", ["video", "video-silent", "audio", "image", "annotation", "other", "derived"])
def test_every_kind_needs_its_own_consent(kind: str, audio: bool, video: bool, derived: bool) -> None:
    """A masked photo needs video (image) consent, never only audio consent (issue 18); every kind x consent."""
    needs = {
        "video": audio and video,
        "video-silent": video,
        "audio": audio,
        "image": video,
        "annotation": derived or audio or video,
        "other": derived or audio or video,
        "derived": derived or audio or video,
    }
    cap = _cap_for(kind, audio, video, derived)
    assert cap == ("authorized" if needs[kind] else "private"), (kind, audio, video, derived, cap)
