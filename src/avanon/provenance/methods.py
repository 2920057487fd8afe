"""Methods statements: what was done to a release and what was measured, written from its files only.

:func:`collect` reads ``OUT/avanon_manifest.json`` (the recipe, the steps applied to each file with
their parameters, the seed, software and model versions with hashes), ``OUT/provenance.json`` and
``OUT/RELEASE.json`` when the release was frozen, and, when given, the ``metrics.json`` written by
``avanon evaluate``. It returns a plain data object (:class:`MethodsStatement`); jinja2 templates
in :mod:`avanon.report` (``templates/methods.md.j2``, ``templates/methods.tex.j2``) turn it into

* a **short form** for a paper's methods section,
* a **long form** for an ethics board or a data-protection impact assessment,

each as Markdown, a LaTeX paragraph and plain text (:func:`write_methods`). Nothing is invented:
every number is read from one of those files (the evaluation is copied beside the statement,
without its local folder names, so the statement and its figures travel together), confidence
intervals are the evaluation's own bootstrap intervals or Wilson score intervals of the counts it
records, and a statement without an evaluation says that privacy and utility were not measured.
The known limitations of each method used come from :mod:`avanon.provenance.limitations`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from avanon import registry
from avanon.errors import IntegrityError, ParameterError
from avanon.evaluate.intervals import wilson_interval
from avanon.files import write_atomic
from avanon.provenance.limitations import GENERAL, limitation
from avanon.provenance.manifest import MANIFEST_NAME, sha256_path

METHODS_DIR = "methods"
EVALUATION_COPY = "evaluation_metrics.json"
FORMS = ("short", "long")
# recipe step -> registry kind of the method it names
STEP_KINDS = {"detect": "detector", "filter": "video", "obfuscate": "obfuscation", "voice": "voice", "redact": "redaction"}
STEP_WORDS = {
    "detect": "face detection",
    "track": "face tracking",
    "expand": "face box enlargement",
    "filter": "whole-frame video filter",
    "obfuscate": "face obfuscation",
    "encode": "video encoding",
    "voice": "voice transformation",
    "redact": "redaction of spoken personal information",
    "strip-metadata": "removal of container metadata",
}
PER_FILE_KEYS = {"step", "name", "annotation_spans", "speaker_turns"}  # vary per file: not recipe parameters
METRIC_WORDS = {
    "residual_faces": "share of faces still recognisable as faces after masking",
    "face_reid_rank1": "face re-identification: share of anonymized faces matched to the right person",
    "metadata_residue": "metadata findings (identifying tags, names or dates left in the files)",
    "eer_original": "speaker verification on the original, unanonymized speech (baseline; equal-error rate)",
    "eer_ignorant": "speaker verification, attacker enrolling original speech (equal-error rate)",
    "eer_lazy_informed": "speaker verification, attacker knowing the recipe but not the secret (equal-error rate)",
    "eer_semi_informed": "speaker verification, informed attacker with a trained back-end (equal-error rate)",
}
EER_METRICS = {"eer_ignorant", "eer_lazy_informed", "eer_semi_informed"}
COUNTS = (("identified", "probes"), ("leaks", "faces_checked"), ("successes", "trials"))


@dataclass
class Step:
    """One recipe step as applied: which modality, which method, its full parameter set."""

    step: str
    words: str
    method: str
    kind: str
    params: dict[str, Any]
    modalities: list[str]
    files: int
    limitation: str = ""


@dataclass
class Figure:
    """One measured value with where it came from.

    ``chance`` is the attack's success rate by guessing (``None`` when not an attack); ``ci`` a
    95 % interval and ``ci_method`` how it was computed (``bootstrap`` from the evaluation,
    ``Wilson`` from the counts it records).
    """

    metric: str
    words: str
    value: float | None
    unit: str = ""
    n: int = 0
    chance: float | None = None
    ci: tuple[float, float] | None = None
    ci_method: str = ""
    direction: str = ""
    note: str = ""
    source: str = ""

    def fmt(self, value: float | None) -> str:
        return fmt_number(value)


@dataclass
class MethodsStatement:
    """Everything a methods statement says, read from the release's files."""

    release: str
    recipe: dict[str, Any]
    seed: str
    files: dict[str, dict[str, int]]
    steps: list[Step]
    versions: dict[str, str]
    models: list[dict[str, str]]
    sources: list[dict[str, str]]
    provenance: dict[str, Any] | None = None
    evaluated: bool = False
    privacy: list[Figure] = field(default_factory=list)
    utility: list[Figure] = field(default_factory=list)
    evaluation_errors: int = 0
    execution: str = ""
    general: tuple[str, ...] = GENERAL

    @property
    def total_files(self) -> int:
        return sum(v.get("ok", 0) for v in self.files.values())

    @property
    def failed_files(self) -> int:
        return sum(v.get("failed", 0) for v in self.files.values())

    def by_modality(self) -> list[dict[str, Any]]:
        """Per modality (``audio``, ``video`` ...): its file counts and the steps applied to it."""
        return [
            {"modality": kind, "ok": counts.get("ok", 0), "failed": counts.get("failed", 0), "steps": [s for s in self.steps if kind in s.modalities]}
            for kind, counts in self.files.items()
        ]

    def methods_used(self) -> list[Step]:
        """Registered methods applied (one per name), for the limitations."""
        seen: dict[tuple[str, str], Step] = {}
        for step in self.steps:
            if step.kind:
                seen.setdefault((step.kind, step.method), step)
        return list(seen.values())


def fmt_number(value: Any) -> str:
    """How numbers are written in statements: integers as they are, others to 3 decimals."""
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return f"{value:.3f}" if value == value else "n/a"
    return str(value)


def _read_json(path: Path, what: str) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise IntegrityError(f"{path}: cannot read the {what} ({exc}).") from None
    if not isinstance(data, dict):
        raise IntegrityError(f"{path}: the {what} is not a JSON object.")
    return data


def _full_params(step: dict[str, Any]) -> tuple[str, str, dict[str, Any]]:
    """(kind, method name, parameters with the registered defaults filled in) of one manifest step."""
    given = {k: v for k, v in step.items() if k not in PER_FILE_KEYS}
    kind = STEP_KINDS.get(step.get("step", ""), "")
    name = str(step.get("name", ""))
    if kind and name:
        try:
            cls = registry.get(kind, name)
        except ParameterError:
            return kind, name, given
        params = {k: spec.default for k, spec in cls.params.items()}
        params.update(given)
        return kind, name, {k: list(v) if isinstance(v, tuple) else v for k, v in params.items()}
    return kind, name or str(step.get("step", "")), given


def _steps(entries: list[dict[str, Any]]) -> list[Step]:
    found: dict[str, Step] = {}
    for entry in entries:
        if entry.get("status") != "ok":
            continue
        for raw in entry.get("steps") or []:
            kind, name, params = _full_params(raw)
            key = json.dumps([raw.get("step"), name, params], sort_keys=True, default=str)
            step = found.get(key)
            if step is None:
                step = found[key] = Step(
                    str(raw.get("step", "")),
                    STEP_WORDS.get(str(raw.get("step", "")), str(raw.get("step", ""))),
                    name,
                    kind,
                    params,
                    [],
                    0,
                    limitation(kind, name) if kind else "",
                )
            modality = str(entry.get("kind", ""))
            if modality not in step.modalities:
                step.modalities.append(modality)
            step.files += 1
    return list(found.values())


def _models(entries: list[dict[str, Any]]) -> list[dict[str, str]]:
    models: dict[str, dict[str, str]] = {}
    for entry in entries:
        for model in entry.get("models") or []:
            if isinstance(model, dict):
                models.setdefault(str(model.get("sha256") or model.get("name")), {k: str(v) for k, v in model.items()})
    return sorted(models.values(), key=lambda m: m.get("name", ""))


def _ci(detail: dict[str, Any]) -> tuple[tuple[float, float] | None, str]:
    ci = detail.get("ci95")
    if isinstance(ci, (list, tuple)) and len(ci) == 2 and all(isinstance(v, (int, float)) for v in ci):
        return (float(ci[0]), float(ci[1])), str(detail.get("ci_method") or "bootstrap")
    for hits, total in COUNTS:
        if isinstance(detail.get(hits), int) and isinstance(detail.get(total), int) and detail[total] > 0:
            return wilson_interval(detail[hits], detail[total]), "Wilson"
    return None, ""


def _metric_words(name: str) -> str:
    if name in METRIC_WORDS:
        return METRIC_WORDS[name]
    try:
        doc = (registry.get("metric", name).__doc__ or "").strip().splitlines()
    except ParameterError:
        return name.replace("_", " ")
    return doc[0].rstrip(".") if doc else name.replace("_", " ")


def _figures(metrics: dict[str, Any], source: str) -> tuple[list[Figure], list[Figure]]:
    privacy, utility = [], []
    for name, score in sorted((metrics.get("summary") or {}).items()):
        detail = score.get("detail") or {}
        ci, ci_method = _ci(detail)
        chance = detail.get("chance")
        if chance is None and name in EER_METRICS:
            chance = 0.5  # an attacker who guesses has an equal-error rate of one half, by definition
        figure = Figure(
            name,
            _metric_words(name),
            score.get("value"),
            str(score.get("unit") or ""),
            int(score.get("n") or 0),
            chance if isinstance(chance, (int, float)) else None,
            ci,
            ci_method,
            str(score.get("direction", "")),
            str(detail.get("note", "")),
            f"{source}: summary.{name}",
        )
        (privacy if score.get("aspect") == "privacy" else utility).append(figure)
    baseline = (metrics.get("voice") or {}).get("original") or {}
    if baseline.get("eer") is not None:  # the attack on unanonymized speech: the reference the others are read against
        ci, ci_method = _ci(baseline)
        privacy.append(
            Figure(
                "eer_original",
                METRIC_WORDS["eer_original"],
                baseline["eer"],
                n=int(baseline.get("trials") or 0),
                chance=0.5,
                ci=ci,
                ci_method=ci_method,
                direction="higher",
                source=f"{source}: voice.original",
            )
        )
    return privacy, utility


def collect(out_dir: Path, *, evaluation: Path | None = None) -> MethodsStatement:
    """Read the release in ``out_dir`` (and the evaluation, if given) into a :class:`MethodsStatement`.

    Parameters
    ----------
    out_dir : Path
        Folder written by ``avanon run`` (holds ``avanon_manifest.json``), released or not.
    evaluation : Path, optional
        ``metrics.json`` of ``avanon evaluate``, or the report folder that holds it.
    """
    out_dir = Path(out_dir)
    manifest_path = out_dir / MANIFEST_NAME
    if not manifest_path.is_file():
        raise IntegrityError(f"{manifest_path}: no run manifest; a methods statement needs the folder written by `avanon run`.")
    manifest = _read_json(manifest_path, "run manifest")
    entries = manifest.get("entries")
    if not isinstance(entries, list):
        raise IntegrityError(f"{manifest_path}: the field 'entries' is missing or not a list.")
    files: dict[str, dict[str, int]] = {}
    for entry in entries:
        counts = files.setdefault(str(entry.get("kind", "other")), {"ok": 0, "failed": 0})
        counts["ok" if entry.get("status") == "ok" else "failed"] += 1
    recipe = dict(manifest.get("recipe") or {})
    seed = manifest.get("seed")
    fingerprint = manifest.get("secret_fingerprint", "")
    secret = (
        "a study secret derived from a fixed seed (reproducible: anyone who knows the seed can rebuild the voice mapping)"
        if seed is not None
        else "a random study secret kept by the data steward"
    )
    if fingerprint:
        secret += f" (secret fingerprint {fingerprint})"
    sources = [{"role": "run manifest", "path": MANIFEST_NAME, "sha256": sha256_path(manifest_path)}]
    statement = MethodsStatement(
        release=out_dir.name,
        recipe={
            "name": recipe.get("name", ""),
            "version": recipe.get("version", ""),
            "description": recipe.get("description", ""),
            "sha256": manifest.get("recipe_sha256", ""),
        },
        seed=secret,
        files=dict(sorted(files.items())),
        steps=_steps(entries),
        versions={str(k): str(v) for k, v in sorted((manifest.get("versions") or {}).items())},
        models=_models(entries),
        sources=sources,
    )
    execution = manifest.get("execution") or {}
    if execution.get("executor"):
        statement.execution = f"{execution['executor']} executor with {execution.get('workers', 'an unrecorded number of')} workers"
    prov = out_dir / "provenance.json"
    if prov.is_file():
        release = out_dir / "RELEASE.json"
        version = _read_json(release, "release record").get("version") if release.is_file() else None
        statement.provenance = {"path": prov.name, "sha256": sha256_path(prov), "version": version}
        sources.append({"role": "PROV provenance record", "path": prov.name, "sha256": statement.provenance["sha256"]})
    if evaluation is not None:
        path = Path(evaluation)
        path = path / "metrics.json" if path.is_dir() else path
        if not path.is_file():
            raise IntegrityError(f"{path}: no evaluation here; give the metrics.json (or its folder) written by `avanon evaluate`.")
        metrics = _read_json(path, "evaluation")
        if "summary" not in metrics:
            raise IntegrityError(f"{path}: not an avanon evaluation (the field 'summary' is missing).")
        source = f"{METHODS_DIR}/{EVALUATION_COPY}"
        statement.evaluated = True
        statement.privacy, statement.utility = _figures(metrics, source)
        statement.evaluation_errors = len(metrics.get("errors") or [])
        sources.append({"role": "evaluation (metrics.json of avanon evaluate)", "path": source, "sha256": sha256_path(path)})
    return statement


def _latex(text: Any) -> str:
    """Escape LaTeX's special characters in ``text``."""
    table = {
        "\\": r"\textbackslash{}",
        "&": r"\&",
        "%": r"\%",
        "$": r"\$",
        "#": r"\#",
        "_": r"\_",
        "{": r"\{",
        "}": r"\}",
        "~": r"\textasciitilde{}",
        "^": r"\textasciicircum{}",
    }
    return "".join(table.get(c, c) for c in str(text))


def _params(params: dict[str, Any]) -> str:
    return ", ".join(f"{k}={json.dumps(v, sort_keys=True)}" for k, v in sorted(params.items()))


def markdown_to_text(markdown: str) -> str:
    """Plain text from the statement's Markdown: headings underlined, emphasis and code marks removed."""
    lines = []
    for line in markdown.splitlines():
        heading = re.match(r"^(#+)\s+(.*)$", line)
        if heading:
            text = heading.group(2)
            lines += [text, ("=" if len(heading.group(1)) == 1 else "-") * len(text)]
            continue
        if re.match(r"^\|?\s*:?-{3,}", line):
            continue
        line = re.sub(r"\*\*(.+?)\*\*", r"\1", line)
        line = re.sub(r"`([^`]*)`", r"\1", line)
        lines.append(line)
    return "\n".join(lines).rstrip() + "\n"


def render(statement: MethodsStatement, *, form: str, fmt: str) -> str:
    """The statement as text.

    Parameters
    ----------
    form : {"short", "long"}
        Paper methods section or ethics-board / data-protection review.
    fmt : {"md", "tex", "txt"}
    """
    from jinja2 import Environment, PackageLoader, StrictUndefined

    if form not in FORMS:
        raise ParameterError(f"The 'form' of a methods statement must be one of {', '.join(FORMS)}. Got {form!r} instead.")
    if fmt not in ("md", "tex", "txt"):
        raise ParameterError(f"The 'fmt' of a methods statement must be one of md, tex, txt. Got {fmt!r} instead.")
    env = Environment(
        loader=PackageLoader("avanon.report", "templates"),
        autoescape=False,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(num=fmt_number, latex=_latex, params=_params)
    template = env.get_template("methods.tex.j2" if fmt == "tex" else "methods.md.j2")
    text = template.render(s=statement, long=form == "long")
    text = re.sub(r"\n{3,}", "\n\n", text)
    return markdown_to_text(text) if fmt == "txt" else text


def write_methods(out_dir: Path, *, evaluation: Path | None = None, dest: Path | None = None) -> list[Path]:
    """Write the short and long statements as Markdown, LaTeX and plain text; returns the paths.

    Parameters
    ----------
    out_dir : Path
        Folder written by ``avanon run``.
    evaluation : Path, optional
        ``metrics.json`` of ``avanon evaluate`` (or its folder); copied beside the statements as
        ``evaluation_metrics.json`` without its local folder names.
    dest : Path, optional
        Where to write (default ``OUT/methods``: run this before ``avanon release`` so the
        statement is part of the release).
    """
    statement = collect(out_dir, evaluation=evaluation)
    dest = Path(dest) if dest is not None else Path(out_dir) / METHODS_DIR
    paths = []
    if evaluation is not None:
        path = Path(evaluation)
        metrics = _read_json(path / "metrics.json" if path.is_dir() else path, "evaluation")
        for local in ("original_dir", "anonymized_dir"):  # local folder names can hold a study's or a person's name
            metrics.pop(local, None)
        copy = dest / EVALUATION_COPY
        write_atomic(copy, (json.dumps(metrics, indent=2, sort_keys=True) + "\n").encode("utf-8"))
        paths.append(copy)
    for form in FORMS:
        for fmt in ("md", "tex", "txt"):
            path = dest / f"methods_{form}.{fmt}"
            write_atomic(path, render(statement, form=form, fmt=fmt).encode("utf-8"))
            paths.append(path)
    return paths
