"""``--quiet`` keeps native libraries' own logging off the terminal, never avanon's failures (issue 17)."""

from __future__ import annotations

import subprocess
import sys

from synth import write_video, write_wav

NOISE = ("XNNPACK", "W0000", "absl::InitializeLog", "GetPrototype")


def _run(study, out, *flags):
    code = f"import sys; from avanon.cli import main; sys.exit(main(['run', {str(study)!r}, '-o', {str(out)!r}, '--workers', '1', '--seed', '1', *{list(flags)!r}]))"
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)


def test_quiet_run_prints_only_failures(tmp_path):
    study = tmp_path / "study"
    write_video(study / "clip.mp4", frames=12, size=(160, 120))
    write_wav(study / "a.wav", seconds=0.3)
    (study / "broken.wav").write_bytes(b"RIFF....WAVEfmt nonsense")
    loud = _run(study, tmp_path / "loud")
    assert loud.returncode == 1
    assert any(n in loud.stderr for n in NOISE), "the check must see the native logging a plain run prints"
    quiet = _run(study, tmp_path / "quiet", "--quiet")
    assert quiet.returncode == 1
    assert [n for n in NOISE if n in quiet.stderr] == []
    assert "failed broken.wav" in quiet.stderr
    assert quiet.stdout == ""
