"""Recipes are data: a validated YAML document naming registered methods and their parameters.

A recipe has a name, a schema version, a seed, and one section per media kind. Every step names a
registered method (see :mod:`avanon.registry`); its parameters are validated by that method's class
when the recipe is loaded, so a bad recipe fails before any file is touched.
"""

from __future__ import annotations

import hashlib
import json
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from avanon import registry
from avanon.errors import ParameterError

SCHEMA_VERSION = 1


class Step(BaseModel):
    """One registered method and its parameters, written flat in YAML: ``{name: solid, colour: [0,0,0]}``."""

    model_config = ConfigDict(extra="forbid")

    name: str
    params: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _flatten(cls, data: Any) -> Any:
        if isinstance(data, str):
            return {"name": data}
        if isinstance(data, dict) and "params" not in data:
            data = dict(data)
            name = data.pop("name", None)
            return {"name": name, "params": data}
        return data

    def build(self, kind: str) -> registry.Method:
        """Instantiate the registered method (validates its parameters)."""
        return registry.create(kind, self.name, **self.params)

    def dump(self) -> dict[str, Any]:
        return {"name": self.name, **self.params}


class Tracking(BaseModel):
    """How detections become masks over time."""

    model_config = ConfigDict(extra="forbid")

    max_gap: int = Field(12, ge=0, le=300, description="frames a track may go undetected and still be bridged")
    margin: int = Field(8, ge=0, le=300, description="frames masked before a face first appears and after it last appears")
    expand: float = Field(0.4, ge=0.0, le=2.0, description="box growth per side, as a fraction of the box size, to cover hair and ears")
    match_iou: float = Field(0.1, ge=0.0, le=1.0, description="overlap needed to continue a track")


class Encoder(BaseModel):
    """Video encoder settings (fixed so that the same input gives the same bytes)."""

    model_config = ConfigDict(extra="forbid")

    codec: str = "libx264"
    crf: int = Field(18, ge=0, le=51)
    preset: str = "veryfast"
    threads: int = Field(1, ge=1, le=64, description="encoder threads (slice threads); fixed for byte-identical output")
    x264_params: str = Field(
        "b-adapt=0:mbtree=0",
        description="extra libx264 settings; the default turns off the adaptive B-frame and macroblock-tree "
        "look-ahead, whose output was measured to vary between identical runs (not byte-reproducible)",
    )


class VideoSection(BaseModel):
    model_config = ConfigDict(extra="forbid")

    detectors: list[Step] = Field(default_factory=lambda: [Step(name="blazeface")])
    tracking: Tracking = Field(default_factory=Tracking)
    obfuscation: Step = Field(default_factory=lambda: Step(name="solid"))
    filters: list[Step] = Field(default_factory=list, description="whole-frame filters (kind 'video'), applied in order before obfuscation")
    features: bool = Field(False, description="also write per-frame derived features (pose, face landmarks, head pose, gaze, motion) beside each video")
    encoder: Encoder = Field(default_factory=Encoder)


class AudioSection(BaseModel):
    model_config = ConfigDict(extra="forbid")

    voice: Step | None = Field(default_factory=lambda: Step(name="mcadams"))
    redact: Step | None = Field(
        None,
        description="transcribe every recording and redact spoken personal information (method kind 'redaction', e.g. {name: redact, mode: tone}); "
        "spans of annotation tiers named PII are redacted even without it",
    )
    turns: bool = Field(True, description="give each speaker of a paired RTTM file or ELAN/TextGrid speaker tier their own pseudo-voice")
    channel_speakers: bool = Field(
        False, description="each channel of a multi-channel recording is a different speaker with their own pseudo-voice (one microphone per speaker)"
    )


class NamingSection(BaseModel):
    """Output file and folder names."""

    model_config = ConfigDict(extra="forbid")

    pseudonymize: bool = Field(True, description="replace path components holding a roster name (or a date) by keyed pseudonyms")
    dates: bool = Field(True, description="treat calendar dates in names (YYYY-MM-DD, YYYYMMDD, DD.MM.YYYY) as identifying")
    bids: bool = Field(False, description="lay media out BIDS-style (sub-*/ses-*/beh/...) with JSON sidecars")


class Recipe(BaseModel):
    """A complete anonymization recipe."""

    model_config = ConfigDict(extra="forbid")

    name: str
    version: int = SCHEMA_VERSION
    description: str = ""
    seed: int | None = Field(None, description="derives the study secret reproducibly; None: a random secret kept by the data steward")
    video: VideoSection = Field(default_factory=VideoSection)
    audio: AudioSection = Field(default_factory=AudioSection)
    naming: NamingSection = Field(default_factory=NamingSection)
    other_files: Literal["anonymize", "copy"] = Field(
        "anonymize",
        description="files that are neither media nor annotations (participants tables, notes): 'anonymize' writes "
        "text, tables, JSON, YAML and spreadsheets with names and personal data replaced and fails binary formats "
        "it cannot check (PDF, Word); 'copy' copies them unchanged (the steward vouches for them)",
    )

    @model_validator(mode="after")
    def _check_methods(self) -> "Recipe":
        if self.version != SCHEMA_VERSION:
            raise ValueError(f"recipe schema version {self.version} is not supported; allowed: {SCHEMA_VERSION}")
        for step in self.video.detectors:
            step.build("detector")
        self.video.obfuscation.build("obfuscation")
        for step in self.video.filters:
            step.build("video")
        if self.audio.voice is not None:
            self.audio.voice.build("voice")
        if self.audio.redact is not None:
            self.audio.redact.build("redaction")
        return self

    def dump(self) -> dict[str, Any]:
        """Plain data, with steps written flat, for YAML and the manifest."""
        data = self.model_dump(mode="json")
        data["video"]["detectors"] = [s.dump() for s in self.video.detectors]
        data["video"]["obfuscation"] = self.video.obfuscation.dump()
        data["video"]["filters"] = [s.dump() for s in self.video.filters]
        data["audio"]["voice"] = self.audio.voice.dump() if self.audio.voice else None
        data["audio"]["redact"] = self.audio.redact.dump() if self.audio.redact else None
        return data

    def sha256(self) -> str:
        """Hex SHA-256 of the recipe's plain data as JSON with sorted keys (the manifest's ``recipe_sha256``).

        Two recipes that dump to the same data have the same hash, whatever YAML or ``extends``
        chain they came from; a run resumes only into an output made with the same hash.
        """
        return hashlib.sha256(json.dumps(self.dump(), sort_keys=True).encode()).hexdigest()

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.dump(), sort_keys=False)


def builtin_names() -> list[str]:
    """Names of the recipes shipped with avanon."""
    folder = resources.files("avanon") / "recipes"
    return sorted(p.name[: -len(".yaml")] for p in folder.iterdir() if p.name.endswith(".yaml"))


def _merge(base: Any, override: Any, *, top: bool = True) -> Any:
    """Deep-merge mappings (``override`` wins); lists, scalars and steps naming another method are replaced whole."""
    if isinstance(base, dict) and isinstance(override, dict):
        if not top and "name" in base and "name" in override and base["name"] != override["name"]:
            return override
        merged = dict(base)
        for key, value in override.items():
            merged[key] = _merge(base.get(key), value, top=False) if key in base else value
        return merged
    return override


def parse(text: str, *, source: str = "<recipe>", _seen: tuple[str, ...] = ()) -> Recipe:
    """Validate a recipe given as YAML text; errors name the source and the field.

    A recipe may start from a built-in one with ``extends: NAME`` and change only what differs
    (mappings are merged, lists such as the detectors are replaced whole).
    """
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ParameterError(f"{source}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ParameterError(f"{source}: a recipe must be a YAML mapping, got {type(data).__name__}.")
    base_name = data.pop("extends", None)
    if base_name is not None:
        if base_name not in builtin_names():
            raise ParameterError(f"{source}: 'extends' names an unknown built-in recipe {base_name!r}; allowed: {', '.join(builtin_names())}.")
        if base_name in _seen:
            raise ParameterError(f"{source}: recipes extend each other in a loop ({' -> '.join(_seen + (base_name,))}).")
        base_text = (resources.files("avanon") / "recipes" / f"{base_name}.yaml").read_text(encoding="utf-8")
        base = parse(base_text, source=f"built-in recipe {base_name!r}", _seen=_seen + (base_name,)).dump()
        base.pop("description", None)
        data = _merge(base, data)
    try:
        return Recipe.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'recipe'}: {e['msg']}" for e in exc.errors())
        raise ParameterError(f"{source}: invalid recipe: {problems}") from None


def load(name_or_path: str | Path) -> Recipe:
    """Load a built-in recipe by name or a recipe YAML file by path."""
    text_name = str(name_or_path)
    if text_name in builtin_names():
        text = (resources.files("avanon") / "recipes" / f"{text_name}.yaml").read_text(encoding="utf-8")
        return parse(text, source=f"built-in recipe {text_name!r}", _seen=(text_name,))
    path = Path(name_or_path)
    if path.suffix.lower() in (".yaml", ".yml") and path.is_file():
        return parse(path.read_text(encoding="utf-8"), source=str(path))
    raise ParameterError(f"Unknown recipe {text_name!r}: not a built-in recipe ({', '.join(builtin_names())}) and not an existing .yaml file.")
