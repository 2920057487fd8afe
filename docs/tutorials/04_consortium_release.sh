#!/usr/bin/env bash
# Tutorial 4: a consortium release on Dask, with the vault, access tiers, verification and the
# methods statement. Run: bash docs/tutorials/04_consortium_release.sh [WORK_DIR]
# (tests/test_tutorials.py runs it; `avanon` must be on PATH, e.g. `source .venv/bin/activate`).
set -euo pipefail
WORK="${1:-$(mktemp -d)}"
mkdir -p "$WORK"
cd "$WORK"
# Everything the governance tools keep (catalogue, audit key, vault) lives under AVANON_HOME.
export AVANON_HOME="$WORK/home"
export AVANON_VAULT_PASSPHRASE="tutorial-only passphrase: use a long secret one"
export AVANON_NEW_PASSWORD="tutorial-only password 1"

# 1. A site's recordings: the audio of the demo study (regenerated here; real voices when the
#    shared dev recordings are beside the repository, synthetic media otherwise).
python - <<'PY'
import shutil
from pathlib import Path
from avanon.demo import build_demo_study

study = build_demo_study(Path("incoming/consortium"))
for path in list(study.rglob("*")):
    if path.is_file() and path.suffix not in (".wav", ".tsv"):
        path.unlink()
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
avanon audit verify

echo "methods statement: $WORK/release/methods/methods_short.md"
cat release/methods/methods_short.md
