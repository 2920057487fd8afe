"""PROV-JSON record of a run: entities, activities, agent, relative paths and pseudonymous ids only."""

from __future__ import annotations

import json
from pathlib import Path

from prov.model import ProvDocument

from avanon.provenance.prov import build_prov, read_prov_outputs, write_prov

MANIFEST = {
    "seed": 3,
    "versions": {"avanon": "0.1.0", "av": "16.0.1"},
    "entries": [
        {
            "input": "Anna Smith/2019-03-01.mp4",
            "output": "sub-01/sub-01_video.mp4",
            "status": "ok",
            "input_sha256": "1" * 64,
            "output_sha256": "2" * 64,
            "steps": [{"name": "solid"}],
            "models": [{"name": "blazeface", "sha256": "3" * 64}],
        },
        {"input": "Bo/bo.wav", "status": "failed", "reason": "Bo/bo.wav: cannot decode", "input_sha256": "4" * 64},
    ],
}


def test_prov_document_round_trips_and_links_records(tmp_path: Path) -> None:
    path = tmp_path / "provenance.json"
    write_prov(MANIFEST, path)
    text = path.read_text()
    assert "Anna" not in text and "Bo/" not in text and "2019-03-01" not in text
    doc = ProvDocument.deserialize(content=text, format="json")
    assert doc == build_prov(MANIFEST)
    data = json.loads(text)
    assert len(data["activity"]) == 2 and len(data["wasGeneratedBy"]) == 1 and len(data["wasDerivedFrom"]) == 1
    assert any("blazeface" in json.dumps(e) for e in data["entity"].values())
    assert read_prov_outputs(path) == {"sub-01/sub-01_video.mp4": "2" * 64}
