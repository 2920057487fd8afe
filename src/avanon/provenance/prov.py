"""A W3C PROV record (PROV-JSON, through the ``prov`` library) of every transformation in a run.

Built from the run manifest: for each file that came out ``ok``, an input entity (identified by its
SHA-256 only, never by its name: input paths can hold participant names), an activity for the
anonymization with the recipe steps and their parameters, the seed and the timings, the software agent
with its package versions, the model files used (entities with their pinned hashes), and the output
entity (its relative output path and SHA-256). Failed files appear as activities without an output
and without their reason (reasons can quote input names).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from prov.model import ProvDocument

from avanon.files import write_atomic

PROV_NAME = "provenance.json"
NAMESPACE = "https://avanon.org/ns/prov#"


def _attr(value: Any) -> str | int | float | bool:
    if isinstance(value, (str, int, float, bool)):
        return value
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def build_prov(manifest: dict[str, Any]) -> ProvDocument:
    """A PROV document for a manifest (the parsed ``avanon_manifest.json``).

    Parameters
    ----------
    manifest : dict
        Header fields (``recipe``, ``seed``, ``versions`` ...) and ``entries``.
    """
    doc = ProvDocument()
    doc.add_namespace("avanon", NAMESPACE)
    versions = manifest.get("versions") or {}
    agent = doc.agent(
        "avanon:software/avanon-" + str(versions.get("avanon", "unknown")), {"prov:type": "prov:SoftwareAgent", "avanon:versions": _attr(versions)}
    )
    models: dict[str, Any] = {}
    for index, entry in enumerate(sorted(manifest.get("entries", []), key=lambda e: e.get("output") or e.get("input_sha256") or ""), start=1):
        sha_in = entry.get("input_sha256") or f"unknown-{index}"
        source = doc.entity(f"avanon:input/sha256-{sha_in}", {"avanon:sha256": sha_in, "prov:type": "avanon:OriginalFile"})
        attrs = {
            "avanon:status": entry.get("status", ""),
            "avanon:steps": _attr(entry.get("steps", [])),
            "avanon:seed": _attr(entry.get("seed", manifest.get("seed", ""))),
        }
        if entry.get("timings"):
            attrs["avanon:timings"] = _attr(entry["timings"])
        activity = doc.activity(f"avanon:run/{index}", other_attributes=attrs)
        doc.used(activity, source)
        doc.wasAssociatedWith(activity, agent)
        for model in entry.get("models") or []:
            key = model.get("sha256") or model.get("name") if isinstance(model, dict) else str(model)
            if key not in models:
                info = model if isinstance(model, dict) else {"name": str(model)}
                models[key] = doc.entity(f"avanon:model/{key}", {"prov:type": "avanon:ModelFile", **{f"avanon:{k}": _attr(v) for k, v in info.items()}})
            doc.used(activity, models[key])
        if entry.get("status") == "ok" and entry.get("output"):
            output = doc.entity(
                f"avanon:output/{entry['output']}",
                {"avanon:path": entry["output"], "avanon:sha256": entry.get("output_sha256", ""), "prov:type": "avanon:ReleasedFile"},
            )
            doc.wasGeneratedBy(output, activity)
            doc.wasDerivedFrom(output, source)
    return doc


def write_prov(manifest: dict[str, Any], path: Path) -> None:
    """Write the PROV-JSON record of ``manifest`` to ``path`` atomically."""
    text = build_prov(manifest).serialize(format="json", indent=1)
    write_atomic(Path(path), text.encode("utf-8"))


def read_prov_outputs(path: Path) -> dict[str, str]:
    """Output path -> SHA-256 of the released files named in a PROV-JSON record."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    outputs = {}
    for record in (data.get("entity") or {}).values():
        if record.get("prov:type") in ("avanon:ReleasedFile", {"$": "avanon:ReleasedFile", "type": "prov:QUALIFIED_NAME"}):
            outputs[str(record["avanon:path"])] = str(record.get("avanon:sha256", ""))
    return outputs
