"""``synthesize_features``: synthetic tables for a folder of derived features, and their validation report.

For every motion table (``*_features.parquet``) and turn-taking table (``*.rttm``) under the
features folder, a synthetic table of the same format is written at the same relative path under
the output folder (:mod:`avanon.synth.motion`, :mod:`avanon.synth.turns`). Each motion session is
cut into blocks and a share of them is held out from fitting (:func:`avanon.synth.motion.split_blocks`)
so that the privacy checks have a control set. Then :mod:`avanon.synth.validate` compares the
real and synthetic tables and runs the privacy attacks, and the result is written beside the
tables as ``synth_validation.json`` (canonical JSON, relative paths only, with provenance: seed,
parameters, tolerances, software versions, input and output hashes) and ``synth_validation.md``.

The features folder is never modified; the output folder must be new or empty and outside it.
Same inputs, parameters and seed give the same output bytes.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from avanon import __version__
from avanon.errors import ParameterError
from avanon.files import sha256_file
from avanon.provenance.manifest import atomic_write_text, canonical_json, software_versions
from avanon.synth import tables, validate
from avanon.synth.motion import MotionSynthesizer, split_blocks
from avanon.synth.turns import TurnSynthesizer

REPORT_JSON = "synth_validation.json"
REPORT_MD = "synth_validation.md"
STATUSES = ("passed", "failed", "not validated")


@dataclass(frozen=True)
class SynthOptions:
    """How to synthesise and validate.

    Parameters
    ----------
    seed : int >= 0
        Seed of the block split, the simulations and the attack.
    holdout : float in (0, 0.5]
        Share of each motion session's blocks never used for fitting (the privacy control set).
    block : float > 0 [s]
        Length of the blocks.
    window : float > 0 [s]
        Length of the movement windows the privacy checks compare.
    motion : dict
        Parameters of :class:`~avanon.synth.motion.MotionSynthesizer`.
    turns : dict
        Parameters of :class:`~avanon.synth.turns.TurnSynthesizer`.
    tolerances : Tolerances
    """

    seed: int = 0
    holdout: float = 0.5
    block: float = 2.0
    window: float = 1.0
    motion: dict[str, Any] = field(default_factory=dict)
    turns: dict[str, Any] = field(default_factory=dict)
    tolerances: validate.Tolerances = field(default_factory=validate.Tolerances)

    def __post_init__(self) -> None:
        checks = (
            ("seed", isinstance(self.seed, int) and not isinstance(self.seed, bool) and self.seed >= 0, "an int >= 0"),
            ("holdout", 0.0 < self.holdout <= 0.5, "a float in the range (0, 0.5]"),
            ("block", self.block > 0, "a float > 0 [s]"),
            ("window", 0 < self.window <= self.block, f"a float in the range (0, block={self.block}] [s]"),
        )
        for name, ok, allowed in checks:
            if not ok:
                raise ParameterError(f"The {name!r} parameter of SynthOptions must be {allowed}. Got {getattr(self, name)!r} instead.")

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["tolerances"] = asdict(self.tolerances)
        return data


@dataclass
class SynthReport:
    """What was synthesised, the validation checks and the overall status."""

    status: str
    checks: list[validate.Check]
    provenance: dict[str, Any]
    outputs: list[str]

    def to_json(self) -> dict[str, Any]:
        return {"status": self.status, "checks": [c.to_json() for c in self.checks], "provenance": self.provenance, "outputs": self.outputs}


def session_rng(seed: int, rel: str) -> np.random.Generator:
    """The generator of one table: from the seed and the table's relative path (order-independent)."""
    return np.random.default_rng([seed, int(hashlib.sha256(rel.encode("utf-8")).hexdigest()[:15], 16)])


def _check_folders(features_dir: Path, out_dir: Path) -> None:
    features_dir, out_dir = Path(features_dir).resolve(), Path(out_dir).resolve()
    if out_dir == features_dir or features_dir in out_dir.parents:
        raise ParameterError(f"The output folder {out_dir} must be outside the features folder {features_dir}.")
    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())):
        raise ParameterError(f"The output folder {out_dir} exists and is not empty; synthesis writes a new folder.")


def synthesize_features(
    features_dir: Path, out_dir: Path, *, options: SynthOptions | None = None, progress: Callable[[str], None] | None = None
) -> SynthReport:
    """Write synthetic twins of every feature table under ``features_dir`` into ``out_dir``, and validate them.

    Parameters
    ----------
    features_dir : Path
        Folder with ``*_features.parquet`` (from ``avanon features`` or a run with
        ``video.features``) and/or ``*.rttm`` tables; searched recursively, never modified.
    out_dir : Path
        New or empty folder, outside ``features_dir``.
    options : SynthOptions, optional
    progress : callable, optional
        Called with each table's relative path.

    Returns
    -------
    SynthReport
        Also written as ``synth_validation.json`` and ``synth_validation.md`` in ``out_dir``.

    Raises
    ------
    ParameterError
        Bad options, an output folder that is not new, or a features folder without tables.
    """
    options = options or SynthOptions()
    features_dir, out_dir = Path(features_dir), Path(out_dir)
    motion_paths, turn_paths = tables.find_tables(features_dir)
    if not motion_paths and not turn_paths:
        raise ParameterError(f"{features_dir}: no feature tables (*{tables.MOTION_SUFFIX} or *{tables.TURNS_SUFFIX}) found.")
    _check_folders(features_dir, out_dir)
    motion_model = MotionSynthesizer(**options.motion)
    turn_model = TurnSynthesizer(**options.turns)
    say = progress or (lambda _: None)
    generated_by = {"Name": "avanon synth", "Version": __version__, "Method": f"{motion_model!r}", "Seed": options.seed}
    out_dir.mkdir(parents=True, exist_ok=True)
    inputs, written = {}, []
    real_m, synth_m, splits = [], [], []
    for path in motion_paths:
        session = tables.read_motion(path, root=features_dir)
        say(session.rel)
        inputs[session.rel] = sha256_file(path)
        rng = session_rng(options.seed, session.rel)
        members, blocks = split_blocks(session.times, block=options.block, holdout=options.holdout, rng=rng)
        synthetic = motion_model.synthesize(session, members, rng)
        written += tables.write_motion(synthetic, out_dir, generated_by=generated_by)
        real_m.append(session)
        synth_m.append(synthetic)
        splits.append((members, blocks))
    real_t, synth_t = [], []
    for path in turn_paths:
        session = tables.read_turns(path, root=features_dir)
        say(session.rel)
        inputs[session.rel] = sha256_file(path)
        synthetic = turn_model.synthesize(session, session_rng(options.seed, session.rel))
        written.append(tables.write_turns(synthetic, out_dir))
        real_t.append(session)
        synth_t.append(synthetic)
    checks: list[validate.Check] = []
    if real_m:
        checks += validate.validate_motion(real_m, synth_m, splits, tolerances=options.tolerances, window=options.window, seed=options.seed)
    if real_t:
        checks += validate.turn_checks(real_t, synth_t, options.tolerances)
    status = report_status(checks)
    outputs = sorted(p.relative_to(out_dir).as_posix() for p in written)
    provenance = {
        "command": "avanon synth",
        "seed": options.seed,
        "options": options.to_json(),
        "motion_method": {"name": motion_model.name, "params": motion_model.get_params()},
        "turn_method": {"name": turn_model.name, "params": turn_model.get_params()},
        "software": software_versions() | _library_versions(),
        "inputs": dict(sorted(inputs.items())),
        "outputs": {rel: sha256_file(out_dir / rel) for rel in outputs},
        "sessions": {"motion": len(real_m), "turns": len(real_t)},
    }
    report = SynthReport(status, checks, provenance, outputs)
    atomic_write_text(out_dir / REPORT_JSON, canonical_json(json.loads(json.dumps(report.to_json(), allow_nan=False))))
    atomic_write_text(out_dir / REPORT_MD, render_markdown(report))
    return report


def report_status(checks: list[validate.Check]) -> str:
    """``failed`` when a check failed; else ``not validated`` when none was judged or one was too short; else ``passed``."""
    verdicts = [c.passed for c in checks if c.passed is not None]
    if not all(verdicts):
        return "failed"
    if not verdicts or any(c.is_too_short for c in checks):
        return "not validated"
    return "passed"


def _library_versions() -> dict[str, str]:
    from importlib import metadata

    found = {}
    for name in ("scikit-learn", "scipy", "numpy", "pyarrow"):
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return found


def render_markdown(report: SynthReport) -> str:
    """The validation report as Markdown (every figure from ``report``)."""
    prov = report.provenance
    lines = [
        "# Synthetic features: validation report",
        "",
        f"Status: **{report.status}** (seed {prov['seed']}; {prov['sessions']['motion']} motion and {prov['sessions']['turns']} turn-taking tables).",
        "",
        "Motion: a vector autoregressive model per session of the PCA components of each person's features (all persons together),",
        "quantile-mapped marginals, a first-order autoregression of what the components leave out and a Markov chain of being in view;",
        f"{prov['options']['holdout']:.0%} of each session's {prov['options']['block']:g} s blocks are held out from fitting and serve as the",
        "privacy control set. Turn-taking: a semi-Markov model of speaker states with log-normal durations",
        "(each state's real median and mean duration). A check marked too short to validate was neither passed nor failed.",
        "",
        "| check | aspect | value | tolerance | result |",
        "|---|---|---|---|---|",
    ]
    for check in report.checks:
        value = "n/a" if check.value is None or not np.isfinite(check.value) else f"{check.value:.3f}"
        ci = check.detail.get("ci95")
        if ci and all(v is not None for v in ci):
            value += f" (95 % CI {ci[0]:.3f}-{ci[1]:.3f}, n={check.detail['trials']})"
        result = {True: "passed", False: "FAILED", None: "not applicable"}[check.passed]
        if check.is_too_short:
            result = check.detail["note"]
        lines.append(f"| {check.name} | {check.aspect} | {value} | {check.tolerance} | {result} |")
    lines += [
        "",
        "What the synthetic tables keep: each person's per-session distributions (and so static body proportions and face shape),",
        "which the linkage attacks of `avanon evaluate` can use as on the real tables. What they do not keep: any real frame, window or segment time.",
        "",
        "## Provenance",
        "",
        f"- software: {', '.join(f'{k} {v}' for k, v in sorted(prov['software'].items()))}",
        f"- motion method: `{prov['motion_method']['name']}` {json.dumps(prov['motion_method']['params'], sort_keys=True)}",
        f"- turn method: `{prov['turn_method']['name']}` {json.dumps(prov['turn_method']['params'], sort_keys=True)}",
        "- inputs (sha256):",
        *[f"  - `{rel}` {digest}" for rel, digest in prov["inputs"].items()],
        "",
    ]
    return "\n".join(lines)
