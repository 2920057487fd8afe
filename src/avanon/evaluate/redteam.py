"""A scripted red-team exercise: every attack avanon has, run against one release, as a dated record.

:func:`red_team` takes the study evaluation of a release (the ``metrics.json`` of
``avanon evaluate``, or a fresh run of :func:`avanon.evaluate.study.evaluate_study`), which
already holds the attacks: residual faces, face re-identification, speaker verification by three
attackers, metadata residue and the linkage attacks of :mod:`avanon.evaluate.linkage` (voice
within and across secrets, body motion, metadata, external voice and photos). Optionally it adds
voice linkage against a second release made with another secret
(:func:`avanon.evaluate.linkage.link_releases`) and the privacy checks of any synthetic-feature
validation report in the release (``synth_validation.json``, :mod:`avanon.synth`).

Each attack gets a verdict from a fixed vocabulary (:data:`VERDICTS`) by one stated criterion:

* attacks scored against chance (linkage, re-identification, membership inference): the attack
  *succeeded* when its success rate exceeds chance by more than ``margin`` (5 points) and its 95 %
  interval lies above chance; it is *inconclusive* when the rate exceeds chance by more than the
  margin but the interval still holds chance (too few trials to tell: measure on more data);
* speaker verification: succeeded when the equal-error rate is below ``min_eer`` (0.3, the
  pilot's default threshold; 0.5 is chance);
* residual faces: the independent detectors' hits left unpainted (the region test of
  :mod:`avanon.evaluate.faces`) are *measured*: a low-threshold hit can be a bottle or a fist. The
  attack on them, ``residual_faces_identifiable`` (:mod:`avanon.evaluate.residue`), succeeded when
  any hit is confirmed as a face by dlib's CNN detector and its embedding matches the person at
  that place of the original (distance < 0.6); it is *not computable* when the originals or the
  hits' frames cannot be read;
* metadata residue: succeeded when any finding is left;
* anything without a criterion is recorded as *measured*; an attack that could not be scored as
  *not computable*. Intended linkage (one pseudo-voice per participant within a secret) is listed
  as *intended*.

:func:`write_red_team` writes ``redteam-YYYY-MM-DD.json`` and ``.md`` (a second exercise on the
same day gets ``-2``, ``-3``: records are never overwritten) with relative names only.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from avanon.errors import IntegrityError, ParameterError
from avanon.evaluate.base import json_number

VERDICTS = ("succeeded", "inconclusive", "at chance", "held", "intended", "measured", "not computable")
CHANCE_MARGIN = 0.05
FEW_TRIALS = 10  # below this many trials a verdict of "at chance" or "held" is marked weak in the Markdown
MIN_EER = 0.3  # as the pilot's default threshold (avanon.pilot.DEFAULT_THRESHOLDS)
NONE_LEFT = ("metadata_residue",)
IDENTIFIABLE = "residual_faces_identifiable"
SYNTH_REPORT = "synth_validation.json"
ATTACKER = {
    "residual_faces": "independent face detectors (dlib HOG, YuNet, OpenPose heads) on the original frames, region left unpainted",
    IDENTIFIABLE: "a second face detector (dlib CNN) and a face recogniser (dlib ResNet) on the unpainted hits",
    "face_reid_rank1": "face embeddings of the anonymized faces against the original faces",
    "eer_ignorant": "speaker verification, enrolling original speech",
    "eer_lazy_informed": "speaker verification, knowing the recipe but not the secret",
    "eer_semi_informed": "speaker verification with a back-end trained on anonymized speech",
    "metadata_residue": "identifying tags, names and dates left in the files",
    "linkage_voice_same_secret": "speaker embeddings within one release (intended)",
    "linkage_voice_cross_secret": "speaker embeddings across two secrets",
    "linkage_motion": "body shape, movement and gait statistics of the feature tables",
    "linkage_metadata": "durations, file sizes, frame counts and stream parameters",
    "linkage_external_voice": "another recording of each participant",
    "linkage_external_face": "photos of each participant",
    "linkage_release_voice": "speaker embeddings, this release against a second release",
    "synth_membership_inference": "synthetic features: telling training windows from held-out ones",
    "synth_dcr_ratio": "synthetic features: closeness of synthetic windows to their training windows",
}


@dataclass
class Finding:
    """One attack's outcome."""

    attack: str
    attacker: str
    value: float | None
    chance: float | None
    ci95: tuple[float, float] | None
    n: int
    criterion: str
    verdict: str

    def to_json(self) -> dict[str, Any]:
        return {
            "attack": self.attack,
            "attacker": self.attacker,
            "value": json_number(self.value),
            "chance": json_number(self.chance),
            "ci95": [json_number(v) for v in self.ci95] if self.ci95 else None,
            "n": self.n,
            "criterion": self.criterion,
            "verdict": self.verdict,
        }


@dataclass
class RedTeamReport:
    """A dated red-team exercise against one release."""

    date: str
    release: str
    manifest_sha256: str
    recipe: str
    evaluation: str
    findings: list[Finding] = field(default_factory=list)
    not_covered: list[str] = field(default_factory=list)

    @property
    def succeeded(self) -> list[Finding]:
        return [f for f in self.findings if f.verdict == "succeeded"]

    def to_json(self) -> dict[str, Any]:
        return {
            "date": self.date,
            "release": self.release,
            "manifest_sha256": self.manifest_sha256,
            "recipe": self.recipe,
            "evaluation": self.evaluation,
            "attacks_succeeded": len(self.succeeded),
            "findings": [f.to_json() for f in self.findings],
            "not_covered": self.not_covered,
        }


NOT_COVERED = (
    "A person who knows a participant watching or listening to the release (voice, gait, clothing, room, content).",
    "Linkage with external data other than the participants' own recordings and photos (social media, other studies' releases).",
    "Attacks that need more than the release: the vault, the study secret, the consent records.",
    "Motion linkage on videos without derived feature tables, and gait from the anonymized video itself.",
)


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def finding_of(name: str, score: dict[str, Any], *, margin: float = CHANCE_MARGIN, min_eer: float = MIN_EER) -> Finding:
    """The verdict on one score (the JSON form of :class:`avanon.evaluate.base.Score`)."""
    detail = score.get("detail") or {}
    value = _number(score.get("value"))
    chance = _number(detail.get("chance"))
    ci = detail.get("ci95")
    ci95 = (float(ci[0]), float(ci[1])) if isinstance(ci, (list, tuple)) and len(ci) == 2 and None not in ci else None
    n = int(score.get("n") or detail.get("trials") or 0)
    attacker = ATTACKER.get(name, name.replace("_", " "))
    if score.get("aspect") == "utility":
        return Finding(name, attacker, value, chance, ci95, n, "intended: sessions of one participant link within one secret", "intended")
    if name.startswith("eer_"):
        criterion = f"succeeded if the equal-error rate < {min_eer:g} (chance 0.5)"
        verdict = "not computable" if value is None else ("succeeded" if value < min_eer else "held")
        return Finding(name, attacker, value, 0.5, ci95, n, criterion, verdict)
    if name == "residual_faces":
        leaks, checked = detail.get("leaks"), int(detail.get("faces_checked") or n)
        leaks = 0 if leaks is None and value == 0 else leaks
        criterion = (
            f"measured: {leaks} of {checked} independent-detector hits left unpainted (region SSIM >= 0.6); "
            f"a hit can be a non-face: whether one identifies someone is {IDENTIFIABLE}"
        )
        return Finding(name, attacker, _number(leaks), None, ci95, checked, criterion, "not computable" if leaks is None else "measured")
    if name in NONE_LEFT:
        criterion = "succeeded if any is left"
        verdict = "not computable" if value is None else ("succeeded" if value > 0 else "held")
        return Finding(name, attacker, value, None, ci95, n, criterion, verdict)
    if chance is not None:
        criterion = f"succeeded if the success rate exceeds chance by more than {margin:g} and its 95 % interval lies above chance"
        if value is None:
            verdict = "not computable"
        elif value - chance <= margin:
            verdict = "at chance"
        else:
            verdict = "inconclusive" if ci95 is not None and ci95[0] <= chance else "succeeded"
        return Finding(name, attacker, value, chance, ci95, n, criterion, verdict)
    verdict = "not computable" if value is None else "measured"
    return Finding(name, attacker, value, None, ci95, n, "no stated criterion", verdict)


def synth_findings(release_dir: Path) -> list[Finding]:
    """Privacy checks of every synthetic-feature validation report under ``release_dir``."""
    found = []
    for path in sorted(Path(release_dir).rglob(SYNTH_REPORT)):
        data = json.loads(path.read_text(encoding="utf-8"))
        where = path.parent.relative_to(release_dir).as_posix()
        for check in data.get("checks", []):
            if check.get("aspect") != "privacy":
                continue
            name = f"synth_{check['name']}"
            detail = check.get("detail") or {}
            ci = detail.get("ci95")
            passed = check.get("passed")
            verdict = (
                "not computable"
                if passed is None
                else ("at chance" if passed and check["name"] == "membership_inference" else "held" if passed else "succeeded")
            )
            found.append(
                Finding(
                    f"{name} ({where})",
                    ATTACKER.get(name, name),
                    _number(check.get("value")),
                    _number(detail.get("chance")),
                    (float(ci[0]), float(ci[1])) if ci and None not in ci else None,
                    int(detail.get("trials") or detail.get("windows") or 0),
                    f"succeeded unless {check.get('tolerance', '')}",
                    verdict,
                )
            )
    return found


def red_team(
    release_dir: Path, metrics: dict[str, Any], *, source: str = "metrics.json", against: Path | None = None, date: str | None = None, seed: int = 0
) -> RedTeamReport:
    """Judge every attack recorded in ``metrics`` (and the optional extra attacks) against ``release_dir``.

    Parameters
    ----------
    release_dir : Path
        Folder written by ``avanon run`` (holds ``avanon_manifest.json``), frozen or not.
    metrics : dict
        The evaluation of that folder: the content of ``metrics.json``
        (:meth:`avanon.evaluate.study.StudyEvaluation.to_json`).
    against : Path, optional
        A second release of the same study made with another secret: voice linkage across them.
    date : str, optional
        ``YYYY-MM-DD`` of the exercise (today, UTC, by default).
    seed : int
        Seed of the random guesses of the cross-release linkage.
    """
    from avanon.files import sha256_file

    release_dir = Path(release_dir)
    manifest = release_dir / "avanon_manifest.json"
    if not manifest.is_file():
        raise IntegrityError(f"{manifest}: no run manifest; the red-team exercise needs a folder written by `avanon run`.")
    summary = metrics.get("summary")
    if not isinstance(summary, dict):
        raise ParameterError("The evaluation has no 'summary'; pass the metrics.json written by `avanon evaluate`.")
    day = date or datetime.now(timezone.utc).date().isoformat()
    try:
        datetime.strptime(day, "%Y-%m-%d")
    except ValueError:
        raise ParameterError(f"The 'date' of a red-team report must be YYYY-MM-DD. Got {day!r} instead.") from None
    header = json.loads(manifest.read_text(encoding="utf-8"))
    frozen = release_dir / "RELEASE.json"  # the folder's own name is not recorded: it can hold a study's or a person's name
    version = json.loads(frozen.read_text(encoding="utf-8")).get("version") if frozen.is_file() else None
    report = RedTeamReport(
        date=day,
        release=f"release version {version}" if version is not None else "unreleased run",
        manifest_sha256=sha256_file(manifest),
        recipe=str((header.get("recipe") or {}).get("name", "")),
        evaluation=source,
        not_covered=list(NOT_COVERED),
    )
    for name in sorted(summary):
        score = summary[name]
        if name in ATTACKER or (score.get("aspect") == "privacy"):
            report.findings.append(finding_of(name, score))
    if against is not None:
        from avanon.evaluate.linkage import link_releases

        score = link_releases(release_dir, Path(against), seed=seed).to_json()  # the audio recordings of both
        report.findings.append(finding_of("linkage_release_voice", score))
    if "residual_faces" in summary:
        report.findings.append(identifiable_finding(release_dir, metrics))
    report.findings += synth_findings(release_dir)
    return report


def identifiable_finding(release_dir: Path, metrics: dict[str, Any]) -> Finding:
    """The attack on the residual hits (:func:`avanon.evaluate.residue.identifiable_residue`); fails closed."""
    from avanon.evaluate.residue import identifiable_residue

    criterion = "succeeded if any residual hit is confirmed as a face (dlib CNN) and its embedding matches the original person's (distance < 0.6)"
    summary = metrics["summary"]["residual_faces"]
    leaks = (summary.get("detail") or {}).get("leaks")
    if leaks is None and _number(summary.get("value")) != 0:
        return Finding(IDENTIFIABLE, ATTACKER[IDENTIFIABLE], None, None, None, 0, criterion, "not computable")
    score = identifiable_residue(metrics, Path(release_dir))
    value = _number(score["value"])
    if value is not None and int(leaks or 0) > score["n"]:
        value = None  # hits the evaluation counted but did not record: they cannot be attacked, so nothing is held
    verdict = "not computable" if value is None else ("succeeded" if value > 0 else "held")
    return Finding(IDENTIFIABLE, ATTACKER[IDENTIFIABLE], value, None, None, int(score["n"]), criterion, verdict)


def render_markdown(report: RedTeamReport) -> str:
    """The report as Markdown, for the governance record."""

    def fmt(value: float | None) -> str:
        return "n/a" if value is None else f"{value:.3f}"

    lines = [
        f"# Red-team exercise, {report.date}",
        "",
        f"{report.release.capitalize()} (manifest sha256 `{report.manifest_sha256}`), recipe `{report.recipe or 'n/a'}`; figures from `{report.evaluation}`.",
        "",
        f"**{len(report.succeeded)} of {len(report.findings)} attacks succeeded**"
        + (": " + ", ".join(f.attack for f in report.succeeded) + "." if report.succeeded else "."),
        "",
        "| attack | attacker | value | chance | 95 % CI | n | criterion | verdict |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for f in report.findings:
        ci = f"{f.ci95[0]:.3f}-{f.ci95[1]:.3f}" if f.ci95 else "n/a"
        weak = f" (weak: n < {FEW_TRIALS})" if 0 < f.n < FEW_TRIALS and f.verdict in ("at chance", "held") else ""
        lines.append(f"| {f.attack} | {f.attacker} | {fmt(f.value)} | {fmt(f.chance)} | {ci} | {f.n} | {f.criterion} | {f.verdict}{weak} |")
    lines += ["", "## Not covered by this exercise", ""] + [f"- {item}" for item in report.not_covered]
    lines += ["", "## Sign-off", "", "Reviewed by: ____________________  Date: ____________", ""]
    return "\n".join(lines)


def write_red_team(report: RedTeamReport, out_dir: Path) -> list[Path]:
    """Write ``redteam-DATE[-k].json`` and ``.md`` into ``out_dir`` (never over an earlier record)."""
    from avanon.files import write_atomic

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    stem, k = f"redteam-{report.date}", 1
    while (out_dir / f"{stem}.json").exists() or (out_dir / f"{stem}.md").exists():
        k += 1
        stem = f"redteam-{report.date}-{k}"
    paths = [out_dir / f"{stem}.json", out_dir / f"{stem}.md"]
    write_atomic(paths[0], (json.dumps(report.to_json(), sort_keys=True, indent=1, ensure_ascii=False, allow_nan=False) + "\n").encode("utf-8"))
    write_atomic(paths[1], render_markdown(report).encode("utf-8"))
    return paths
