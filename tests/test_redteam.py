"""The red-team exercise: one verdict rule per kind of attack, dated records never overwritten, CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from avanon.errors import IntegrityError, ParameterError
from avanon.evaluate.redteam import VERDICTS, finding_of, red_team, render_markdown, write_red_team


def _score(value: float | None, *, aspect: str = "privacy", **detail: object) -> dict[str, object]:
    return {"value": value, "aspect": aspect, "direction": "lower", "n": 12, "detail": detail}


def _release(tmp_path: Path) -> Path:
    release = tmp_path / "smith-family-study"  # a folder name that must not reach the record
    release.mkdir()
    manifest = {"recipe": {"name": "default"}, "seed": 1, "entries": []}
    (release / "avanon_manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    return release


METRICS = {
    "summary": {
        "linkage_metadata": _score(0.25, chance=0.25, ci95=[0.05, 0.6], trials=4),
        "linkage_motion": _score(0.9, chance=0.3, ci95=[0.6, 0.98], trials=10),
        "linkage_voice_same_secret": _score(1.0, aspect="utility", chance=0.5),
        "eer_lazy_informed": _score(0.45),
        "eer_ignorant": _score(0.1),
        "residual_faces": _score(0.0),
        "metadata_residue": _score(3.0),
        "face_reid_rank1": _score(0.12, chance=0.11),
        "linkage_external_face": _score(None, chance=None, note="not computable"),
        "wer": {"value": 0.2, "aspect": "utility", "n": 3, "detail": {}},
    }
}


def test_each_kind_of_attack_gets_its_stated_verdict() -> None:
    verdicts = {name: finding_of(name, score).verdict for name, score in METRICS["summary"].items()}
    assert verdicts == {
        "linkage_metadata": "at chance",
        "linkage_motion": "succeeded",  # 60 points over chance
        "linkage_voice_same_secret": "intended",
        "eer_lazy_informed": "held",
        "eer_ignorant": "succeeded",  # EER 0.1 < 0.3
        "residual_faces": "measured",  # detector hits left unpainted: the attack on them is residual_faces_identifiable
        "metadata_residue": "succeeded",
        "face_reid_rank1": "at chance",  # 1 point over chance, within 5
        "linkage_external_face": "not computable",
        "wer": "intended",  # a utility figure is never an attack
    }
    assert set(verdicts.values()) <= set(VERDICTS)
    assert finding_of("linkage_motion", _score(0.36, chance=0.3)).verdict == "succeeded"  # 6 points over chance (no interval given)
    assert finding_of("linkage_motion", _score(0.34, chance=0.3)).verdict == "at chance"
    assert finding_of("linkage_motion", _score(0.5, chance=0.3, ci95=[0.25, 0.75])).verdict == "inconclusive"  # the interval holds chance
    assert finding_of("linkage_motion", _score(0.5, chance=0.3, ci95=[0.31, 0.69])).verdict == "succeeded"


def test_report_lists_the_attacks_and_records_are_never_overwritten(tmp_path: Path) -> None:
    release = _release(tmp_path)
    metrics = {"summary": {k: v for k, v in METRICS["summary"].items() if k != "wer"}}
    report = red_team(release, metrics, source="metrics.json", date="2026-12-04")
    assert [f.attack for f in report.succeeded] == ["eer_ignorant", "linkage_motion", "metadata_residue"]
    assert [(f.verdict, f.n) for f in report.findings if f.attack == "residual_faces_identifiable"] == [("held", 0)]  # no hit left
    first = write_red_team(report, tmp_path / "governance")
    second = write_red_team(report, tmp_path / "governance")
    assert [p.name for p in first] == ["redteam-2026-12-04.json", "redteam-2026-12-04.md"]
    assert [p.name for p in second] == ["redteam-2026-12-04-2.json", "redteam-2026-12-04-2.md"]
    data = json.loads(first[0].read_text(encoding="utf-8"))
    assert data["attacks_succeeded"] == 3 and data["recipe"] == "default" and data["date"] == "2026-12-04"
    assert len(data["manifest_sha256"]) == 64 and data["release"] == "unreleased run"
    assert all("smith" not in p.read_text(encoding="utf-8") for p in first)
    (release / "RELEASE.json").write_text(json.dumps({"version": 2, "files": 0}), encoding="utf-8")
    assert red_team(release, metrics, date="2026-12-04").release == "release version 2"
    markdown = render_markdown(report)
    assert "**3 of 10 attacks succeeded**" in markdown and "| linkage_motion |" in markdown and "0.900" in markdown and "0.600-0.980" in markdown
    assert "## Not covered by this exercise" in markdown
    assert "| at chance |" in markdown and "(weak:" not in markdown  # 12 trials each
    few = red_team(release, {"summary": {"linkage_metadata": {**_score(0.25, chance=0.25), "n": 4}}}, date="2026-12-04")
    assert "| at chance (weak: n < 10) |" in render_markdown(few)


def test_synthetic_feature_reports_in_the_release_are_attacked_too(tmp_path: Path) -> None:
    release = _release(tmp_path)
    (release / "synthetic").mkdir()
    checks = [
        {
            "name": "membership_inference",
            "aspect": "privacy",
            "value": 0.71,
            "tolerance": "|accuracy - 0.5| <= 0.05",
            "passed": False,
            "detail": {"chance": 0.5, "trials": 400, "ci95": [0.66, 0.75]},
        },
        {"name": "dcr_ratio", "aspect": "privacy", "value": 1.02, "tolerance": ">= 0.9", "passed": True, "detail": {"windows": 300}},
        {"name": "autocorrelation", "aspect": "utility", "value": 0.02, "tolerance": "<= 0.1", "passed": True, "detail": {}},
    ]
    (release / "synthetic" / "synth_validation.json").write_text(json.dumps({"status": "failed", "checks": checks}), encoding="utf-8")
    report = red_team(release, {"summary": {}}, date="2026-12-04")
    verdicts = {f.attack: f.verdict for f in report.findings}
    assert verdicts == {"synth_membership_inference (synthetic)": "succeeded", "synth_dcr_ratio (synthetic)": "held"}


def test_bad_inputs_are_refused(tmp_path: Path) -> None:
    with pytest.raises(IntegrityError, match="no run manifest"):
        red_team(tmp_path, {"summary": {}})
    release = _release(tmp_path)
    with pytest.raises(ParameterError, match="no 'summary'"):
        red_team(release, {})
    with pytest.raises(ParameterError, match="must be YYYY-MM-DD. Got '04.12.2026' instead"):
        red_team(release, {"summary": {}}, date="04.12.2026")


def test_cli_redteam_from_an_evaluation(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from avanon.cli import main

    release = _release(tmp_path)
    metrics = tmp_path / "metrics.json"
    metrics.write_text(json.dumps(METRICS), encoding="utf-8")
    assert main(["redteam", str(release), "--metrics", str(metrics), "-o", str(tmp_path / "gov")]) == 0
    written = sorted(p.name for p in (tmp_path / "gov").iterdir())
    assert len(written) == 2 and written[0].startswith("redteam-") and written[0].endswith(".json")
    assert "3 of 10 attacks succeeded" in capsys.readouterr().err  # utility figures (wer) are not attacks
    assert main(["redteam", str(release), "-o", str(tmp_path / "gov2")]) == 2  # neither --original nor --metrics


def test_cli_redteam_runs_the_evaluation_when_given_the_original(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without --metrics the attacks run now (here a recorded evaluation stands in for them) and metrics.json joins the record."""
    from avanon.cli import main
    from avanon.evaluate import study
    from avanon.evaluate.base import Score

    seen: dict[str, object] = {}

    def evaluate(original: Path, release: Path, **options: object) -> study.StudyEvaluation:
        seen.update(original=original, release=release, every=options["every"])
        score = Score("linkage_metadata", 0.9, "lower", "privacy", n=20, detail={"chance": 0.2, "ci95": [0.7, 0.97]})
        return study.StudyEvaluation(str(original), str(release), summary={"linkage_metadata": score})

    monkeypatch.setattr(study, "evaluate_study", evaluate)
    release = _release(tmp_path)
    assert main(["redteam", str(release), "--original", str(tmp_path / "study"), "-o", str(tmp_path / "gov"), "--every", "30"]) == 0
    assert seen == {"original": tmp_path / "study", "release": release, "every": 30}
    assert (tmp_path / "gov" / "metrics.json").is_file()
    record = json.loads(next((tmp_path / "gov").glob("redteam-*.json")).read_text(encoding="utf-8"))
    assert record["attacks_succeeded"] == 1 and record["findings"][0]["verdict"] == "succeeded"


@pytest.mark.slow
@pytest.mark.privacy
def test_redteam_links_voices_across_two_releases(dev_data: Path, tmp_path: Path) -> None:
    """Two releases of six fsdd speakers with different secrets: the cross-release voice attack is in the record."""
    from avanon.cli import main
    from test_linkage import _fsdd_study

    study = _fsdd_study(dev_data, tmp_path / "study", (0, 1, 2))
    for seed, name in ((1, "a"), (2, "b")):
        assert main(["run", str(study), "-o", str(tmp_path / name), "--seed", str(seed), "--quiet", "--workers", "1"]) == 0
    (tmp_path / "m.json").write_text(json.dumps({"summary": {}}), encoding="utf-8")
    found = {}
    for other in ("a", "b"):  # the release against itself (one secret: voices link by design), then against the other secret
        records = tmp_path / f"gov-{other}"  # the governance folder, outside both releases
        assert main(["redteam", str(tmp_path / "a"), "--metrics", str(tmp_path / "m.json"), "--against", str(tmp_path / other), "-o", str(records)]) == 0
        record = json.loads(next(records.glob("redteam-*.json")).read_text(encoding="utf-8"))
        (found[other],) = record["findings"]
    assert found["a"]["attack"] == "linkage_release_voice" and found["a"]["n"] == 18 and found["a"]["chance"] == pytest.approx(2 / 17)
    assert found["a"]["verdict"] == "succeeded" and found["a"]["value"] >= 0.6
    assert found["b"]["value"] < found["a"]["value"]
    assert found["b"]["ci95"][0] <= found["b"]["chance"] + 0.05 and found["b"]["verdict"] != "succeeded"  # across secrets: not shown above chance
