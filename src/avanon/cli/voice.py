"""``avanon transcribe`` and ``avanon redact-speech``: thin wrappers over avanon.audio."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

console = Console(stderr=True)


def _read_spans(path: Optional[Path]) -> list[tuple[float, float, str]]:
    """Spans from a TSV/CSV file of ``start_s, end_s, category`` rows (no header)."""
    from avanon.errors import ParameterError

    if path is None:
        return []
    spans = []
    for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        parts = [p.strip() for p in line.replace(",", "\t").split("\t") if p.strip()]
        if not parts or parts[0].startswith("#"):
            continue
        if len(parts) != 3:
            raise ParameterError(f"{path}, line {i}: expected start_s, end_s, category. Got {line!r} instead.")
        try:
            spans.append((float(parts[0]), float(parts[1]), parts[2]))
        except ValueError:
            raise ParameterError(f"{path}, line {i}: start_s and end_s must be numbers [s]. Got {line!r} instead.") from None
    return spans


def register(app: typer.Typer) -> None:
    @app.command("transcribe")
    def transcribe_cmd(
        audio: Path = typer.Argument(..., exists=True, dir_okay=False, help="Audio file (WAV, FLAC, ...)."),
        output: Path = typer.Option(..., "--output", "-o", help="Transcript JSON to write (word times in seconds)."),
    ) -> None:
        """Transcribe speech offline (Whisper tiny.en) with word timestamps. The transcript may contain personal information: keep it private."""
        import soundfile as sf

        from avanon.audio.redact import write_transcript_json
        from avanon.audio.transcribe import transcribe

        x, sr = sf.read(audio, dtype="float32", always_2d=True)
        tr = transcribe(x, sr)
        write_transcript_json(output, tr, [])
        console.print(f"{len(tr.words)} words -> {output}", highlight=False)

    @app.command("redact-speech")
    def redact_cmd(
        audio: Path = typer.Argument(..., exists=True, dir_okay=False, help="Audio file to redact."),
        output: Path = typer.Option(..., "--output", "-o", help="Redacted WAV or FLAC; the transcript JSON and TextGrid are written beside it."),
        roster: Optional[Path] = typer.Option(None, help="Roster file: one name per line, 'place: NAME' for places."),
        spans: Optional[Path] = typer.Option(None, help="Extra spans to redact: rows of start_s, end_s, category (for example from a PII tier)."),
        mode: str = typer.Option("tone", help="Replacement: silence, tone or noise."),
        padding_ms: float = typer.Option(150.0, help="Padding around each word [ms]."),
    ) -> None:
        """Find spoken personal information (names, numbers, dates, places, e-mails, addresses) and redact it; duration is unchanged."""
        from avanon.audio.redact import Redactor, redact_file
        from avanon.pii.recognizers import Roster

        result = redact_file(
            audio,
            output,
            redactor=Redactor(mode=mode, padding_ms=padding_ms),
            roster=Roster.read(roster) if roster else None,
            annotations=_read_spans(spans),
        )
        counts: dict[str, int] = {}
        for r in result.redactions:
            counts[r.category] = counts.get(r.category, 0) + 1
        summary = ", ".join(f"{k} x{v}" for k, v in sorted(counts.items())) or "nothing found"
        console.print(f"redacted {len(result.redactions)} span(s): {summary} -> {output}", highlight=False)
