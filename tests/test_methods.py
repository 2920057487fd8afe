"""Methods statements (avanon.provenance.methods, `avanon methods`): written from the release's files only."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from avanon import registry
from avanon.cli import main
from avanon.errors import IntegrityError
from avanon.evaluate.intervals import wilson_interval
from avanon.provenance.limitations import LIMITATIONS
from avanon.provenance.methods import EVALUATION_COPY, collect, fmt_number, render, write_methods

SPEAKERS = ("jackson", "theo")


def _study(dev: Path, root: Path) -> Path:
    study = root / "study"
    for n, name in enumerate(SPEAKERS, start=1):
        for digit in (0, 1):
            dest = study / f"sub-0{n}" / f"sub-0{n}_run-{digit}.wav"
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(dev / "fsdd" / "recordings" / f"{digit}_{name}_0.wav", dest)
    return study


@pytest.fixture(scope="module")
def releases(dev_data: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The same four real recordings anonymized with the default recipe and with `light` (McAdams)."""
    root = tmp_path_factory.mktemp("methods")
    study = _study(dev_data, root)
    outs = {}
    for recipe in ("default", "light"):
        out = root / f"out-{recipe}"
        assert main(["run", str(study), "-o", str(out), "--seed", "3", "--recipe", recipe, "--quiet", "--workers", "1"]) == 0
        outs[recipe] = out
    return outs


def _metrics(path: Path) -> Path:
    """An evaluation as `avanon evaluate` writes it, with known numbers (and local folder names)."""
    summary = {
        "face_reid_rank1": {
            "metric": "face_reid_rank1",
            "value": 0.4321,
            "direction": "lower",
            "aspect": "privacy",
            "unit": "",
            "n": 10,
            "detail": {"identified": 4, "probes": 10, "chance": 0.25, "identities": 4},
        },
        "eer_lazy_informed": {
            "metric": "eer_lazy_informed",
            "value": 0.3123,
            "direction": "higher",
            "aspect": "privacy",
            "unit": "",
            "n": 380,
            "detail": {"eer": 0.3123, "ci95": [0.2517, 0.3804], "trials": 380},
        },
        "linkage_voice_cross_secret": {
            "metric": "linkage_voice_cross_secret",
            "value": 0.1875,
            "direction": "lower",
            "aspect": "privacy",
            "unit": "",
            "n": 16,
            "detail": {"successes": 3, "trials": 16, "chance": 0.1667, "ci95": [0.0659, 0.4301], "ci_method": "Wilson"},
        },
        "f0_correlation": {"metric": "f0_correlation", "value": 0.8771, "direction": "higher", "aspect": "utility", "unit": "", "n": 4, "detail": {}},
    }
    data = {
        "original_dir": "/home/lab/Anna Example study",
        "anonymized_dir": "/home/lab/out",
        "recipe": "default",
        "seconds": 1.0,
        "summary": summary,
        "voice": {"original": {"eer": 0.0833, "ci95": [0.0211, 0.1502], "trials": 380}},
        "metadata": {},
        "files": [],
        "errors": [],
    }
    path.mkdir(parents=True, exist_ok=True)
    (path / "metrics.json").write_text(json.dumps(data), encoding="utf-8")
    return path / "metrics.json"


def test_changing_the_recipe_changes_the_text(releases: dict[str, Path]) -> None:
    default = render(collect(releases["default"]), form="short", fmt="md")
    light = render(collect(releases["light"]), form="short", fmt="md")
    assert default != light
    assert "`pseudo-speaker`" in default and "mcadams" not in default
    assert "`mcadams`" in light and "alpha=0.9" in light and "pseudo-speaker" not in light
    manifest = json.loads((releases["light"] / "avanon_manifest.json").read_text())
    assert f"`{manifest['recipe_sha256']}`" in light
    assert "`light`" in light and "`default`" not in light


def test_long_form_lists_every_parameter_with_registered_defaults(releases: dict[str, Path]) -> None:
    text = render(collect(releases["default"]), form="long", fmt="md")
    voice = registry.get("voice", "pseudo-speaker")
    for key, spec in voice.params.items():  # the manifest names only the method: defaults are filled from the registry
        assert f"{key}={json.dumps(list(spec.default) if isinstance(spec.default, tuple) else spec.default)}" in text
    for step in ("## Known limitations", "## Software and models", "## Sources"):
        assert step in text
    assert LIMITATIONS[("voice", "pseudo-speaker")] in text


def test_missing_evaluation_is_said_not_invented(releases: dict[str, Path]) -> None:
    statement = collect(releases["default"])
    assert not statement.evaluated and not statement.privacy and not statement.utility
    for form in ("short", "long"):
        for fmt in ("md", "tex", "txt"):
            text = render(statement, form=form, fmt=fmt)
            assert "privacy and utility were not measured" in text
            assert "chance" not in text and not re.search(r"\b95\s?%", text)  # no interval (a sha256 may hold "95")


def test_numbers_in_the_text_equal_those_in_the_files(releases: dict[str, Path], tmp_path: Path) -> None:
    metrics = _metrics(tmp_path / "report")
    paths = write_methods(releases["default"], evaluation=metrics.parent, dest=tmp_path / "methods")
    copy = json.loads((tmp_path / "methods" / EVALUATION_COPY).read_text())
    assert "original_dir" not in copy and "anonymized_dir" not in copy  # local folder names stay out of the release
    short = (tmp_path / "methods" / "methods_short.md").read_text()
    long = (tmp_path / "methods" / "methods_long.md").read_text()
    for name, score in copy["summary"].items():
        assert fmt_number(score["value"]) in short and fmt_number(score["value"]) in long, name
    assert "0.432" in short and "chance 0.250" in short
    low, high = wilson_interval(4, 10)  # rank-1 has counts but no interval: Wilson from the counts in the file
    assert f"{fmt_number(low)}-{fmt_number(high)} (Wilson)" in long
    assert "0.252-0.380 (bootstrap)" in long  # the evaluation's own interval, as recorded
    assert "chance 0.500" in short  # an EER's chance level
    assert "0.877" in short  # utility
    assert "unanonymized speech (baseline; equal-error rate): 0.083 (95 % CI 0.021-0.150, bootstrap)" in short
    # every decimal number of the short form is one of the file's values (or a Wilson bound of its counts)
    allowed = {fmt_number(v) for v in _numbers(copy)} | {fmt_number(low), fmt_number(high), "0.500"}
    assert set(re.findall(r"\b\d+\.\d{3}\b", short)) <= allowed
    assert len(paths) == 7 and all(p.is_file() for p in paths)


def _numbers(data: object) -> list[float]:
    if isinstance(data, dict):
        return [x for v in data.values() for x in _numbers(v)]
    if isinstance(data, list):
        return [x for v in data for x in _numbers(v)]
    return [float(data)] if isinstance(data, (int, float)) and not isinstance(data, bool) else []


def test_latex_and_text_forms(releases: dict[str, Path], tmp_path: Path) -> None:
    statement = collect(releases["light"], evaluation=_metrics(tmp_path))
    tex = render(statement, form="long", fmt="tex")
    assert r"\texttt{mcadams}" in tex and r"\texttt{light}" in tex
    assert re.search(r"(?<!\\)_", tex.split("\n", 1)[1]) is None  # every underscore escaped
    assert "95\\,\\% CI" in tex
    txt = render(statement, form="long", fmt="txt")
    assert "**" not in txt and "`" not in txt and "Known limitations\n-----------------" in txt


def test_every_registered_method_has_a_limitation() -> None:
    for kind in ("detector", "obfuscation", "voice", "video", "redaction"):
        for name in registry.names(kind):
            assert LIMITATIONS.get((kind, name)), f"no limitation recorded for the {kind} {name!r}"
    for text in LIMITATIONS.values():
        assert not re.search(r"\d", text), "limitations hold no numbers: numbers come from the release's files"


def test_release_provenance_is_cited(releases: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "released"
    shutil.copytree(releases["default"], out)
    assert main(["release", str(out)]) == 0
    long = render(collect(out), form="long", fmt="md")
    assert "frozen as version 1" in long and "`provenance.json`" in long


def test_cli_writes_into_the_release_and_refuses_a_folder_without_manifest(releases: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "out"
    shutil.copytree(releases["default"], out)
    assert main(["methods", str(out), "--evaluation", str(_metrics(tmp_path / "ev"))]) == 0
    assert sorted(p.name for p in (out / "methods").iterdir()) == sorted(
        [EVALUATION_COPY] + [f"methods_{f}.{x}" for f in ("short", "long") for x in ("md", "tex", "txt")]
    )
    assert main(["methods", str(tmp_path / "ev")]) == 2
    with pytest.raises(IntegrityError, match="no evaluation here"):
        collect(out, evaluation=tmp_path / "nowhere")
