#!/usr/bin/env bash
# Tutorial 4: a consortium release on Dask, with the vault, access tiers, verification and the
# methods statement; then the governance checks: a consent audit (clean, then a mismatch made on
# purpose), a red-team record and a signed checkpoint of the audit trail.
# Run: bash docs/tutorials/04_consortium_release.sh [WORK_DIR]
# (tests/test_tutorials.py runs it; `avanon` must be on PATH, e.g. `source .venv/bin/activate`).
set -euo pipefail
WORK="${1:-$(mktemp -d)}"
mkdir -p "$WORK"
cd "$WORK"
# Everything the governance tools keep (catalogue, audit key, vault) lives under AVANON_HOME.
export AVANON_HOME="$WORK/home"
export AVANON_VAULT_PASSPHRASE="tutorial-only passphrase: use a long secret one"
export AVANON_NEW_PASSWORD="tutorial-only password 1"
export COLUMNS=160  # wide enough for the tables the commands print

# 1. A site's recordings: the audio of the demo study (regenerated here; real voices when the
#    shared dev recordings are beside the repository, otherwise two readings made with the offline
#    speech synthesizer, the second voice a few semitones up).
python - <<'PY'
from pathlib import Path

import numpy as np
import soundfile as sf

from avanon.audio.resample import resample
from avanon.audio.resynth import synthesize
from avanon.demo import build_demo_study

study = build_demo_study(Path("incoming/consortium"))
for path in list(study.rglob("*")):
    if path.is_file() and path.suffix not in (".wav", ".tsv"):
        path.unlink()
READING = "The north wind and the sun were disputing which was the stronger, when a traveler came along."
for sub, up in (("sub-01", 1.0), ("sub-02", 1.19)):
    wav = study / sub / "ses-01" / "audio" / f"{sub}_ses-01_task-reading_run-1.wav"
    if not wav.exists():
        speech, rate = synthesize(READING)
        speech = resample(speech.astype(np.float32), rate, 16000)
        speech = resample(speech, 16000, int(16000 / up))[: len(speech)] if up != 1.0 else speech
        wav.parent.mkdir(parents=True, exist_ok=True)
        sf.write(wav, speech, 16000, subtype="PCM_16")
print("recordings:", sorted(p.relative_to(study).as_posix() for p in study.rglob("*.wav")))
PY

# 2. The originals go into the encrypted vault; the governance catalogue and its audit trail start.
avanon access init
avanon vault init
avanon vault add incoming/consortium --retention-until 2036-12-31
avanon vault verify

# 3. Anonymize from the vault on a Dask cluster (a LocalCluster here; `--executor dask
#    --scheduler tcp://host:8786` on a real one). Originals are decrypted to memory only.
avanon run consortium -o release --from-vault home/vault --executor dask-local --workers 2 --seed 11 --quiet

# 4. Measure privacy and utility (against the site's incoming copy, then delete it), and write the
#    methods statement from the manifest and the evaluation into the release.
avanon evaluate incoming/consortium release -o report
rm -rf incoming
avanon methods release --evaluation report

# 5. Freeze the release (data dictionary, PROV provenance, SHA256SUMS) and verify it.
avanon release release --notes "first consortium release"
avanon verify release

# 6. Access tiers: participants' consent, a steward, the release catalogued with its tiers.
avanon access user-add steward --role steward
avanon access consent P01 --study consortium --audio --derived
avanon access consent P02 --study consortium --audio
cat > participants.json <<'JSON'
{"sub-01/ses-01/audio/sub-01_ses-01_task-reading_run-1.wav": ["P01"],
 "sub-02/ses-01/audio/sub-02_ses-01_task-reading_run-1.wav": ["P02"]}
JSON
avanon access release-add release --study consortium --tier audio=authorized --participants participants.json
avanon access release-approve 1 --as steward
avanon access consent-report consortium -o consent.csv

# 7. Consent audit: every file of release 1 against its participants' consent (exit 0: all match).
avanon access audit-consent 1 --json consent-audit-clean.json --csv consent-audit-clean.csv

# 8. A mismatch made on purpose: P02's family now agrees to derived features only, not to sharing
#    recordings in which P02 is heard. The catalogue drops the file to 'private' at once; the audit
#    names it as a mismatch (P02's consent does not cover audio) and exits 1, the steward's signal
#    to take it out of the next release version.
avanon access consent P02 --study consortium --derived
status=0
avanon access audit-consent 1 --json consent-audit-after.json --csv consent-audit-after.csv || status=$?
echo "audit-consent exit status: $status"
if [ "$status" -ne 1 ]; then
    echo "expected exit status 1 (a mismatch) from the consent audit" >&2
    exit 1
fi
python - <<'PY'
import json

audit = json.load(open("consent-audit-after.json", encoding="utf-8"))
for f in audit["files"]:
    if f["status"] == "mismatch":
        print(f"flagged by the consent audit: {f['path']} ({f['participants']}): {'; '.join(f['problems'])}")
PY

# 9. Red-team exercise: every attack of the evaluation judged against its stated criterion, as a
#    dated record (Markdown for sign-off, JSON) in a governance folder outside the release.
avanon redteam release --metrics report -o governance
cat governance/redteam-*.md

# 10. A signed checkpoint of the audit trail (Ed25519, in home/audit.checkpoints, outside the
#     database), then the whole trail checked: hash chain, signed head and every checkpoint.
avanon audit checkpoint
avanon audit verify
#     What an edit looks like: on a copy of the governance home, P02's consent entry is rewritten
#     to say audio was agreed; verify exits 1 and names the entry.
cp -r home home-edited
python - <<'PY'
import sqlite3

db = sqlite3.connect("home-edited/catalogue.sqlite")
with db:
    changed = db.execute(
        "UPDATE audit_entries SET detail = replace(detail, '\"audio\": false', '\"audio\": true') "
        "WHERE seq = (SELECT max(seq) FROM audit_entries WHERE action = 'consent' AND target = 'P02')"
    ).rowcount
assert changed == 1, changed
PY
status=0
AVANON_HOME="$WORK/home-edited" avanon audit verify || status=$?
echo "audit verify of the edited copy: exit status $status"
if [ "$status" -ne 1 ]; then
    echo "expected exit status 1 from verifying an edited trail" >&2
    exit 1
fi

echo "methods statement: $WORK/release/methods/methods_short.md"
cat release/methods/methods_short.md
