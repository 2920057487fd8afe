"""A whole video anonymized in one pass: the one-segment case of the video pipeline.

:func:`transcode_video` runs the frame loop every video goes through
(:func:`avanon.media.video.encode_range`) over :meth:`~avanon.media.video.Segment.whole`, with a
:class:`~avanon.video.faces.FaceMasker` that detects, tracks and masks as the frames stream past,
and the audio voice-transformed in the same pass. A frame at time ``t`` in the input is at ``t`` in
the output, with the same frame count, size, start time and duration; the audio keeps its sample
rate, layout, sample count and start. The container is the input's own (from its demuxer, not its
name: :func:`avanon.media.video.output_format`). Nothing else is copied: container, stream and frame
metadata (titles, comments, creation time, GPS, device serials), subtitle, data and attachment
streams are all dropped.

The segments of a long recording go through the same loop with the boxes the coordinator's tracker
made final (:mod:`avanon.execute.segments`).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Callable

from avanon.audio.base import VoiceTransform
from avanon.media.video import Output, Segment, VideoResult, Voice, encode_range, format_for
from avanon.recipe import Encoder
from avanon.video.faces import FaceMasker

__all__ = ["VideoResult", "transcode_video"]


def transcode_video(
    src: Path,
    dst: Path,
    *,
    masker_factory: Callable[[int, int, float], FaceMasker],
    voice: VoiceTransform | None,
    seed: int,
    speaker: str,
    encoder: Encoder,
    progress: Callable[[int], None] | None = None,
) -> VideoResult:
    """Anonymize the whole of ``src`` into ``dst`` (a temporary path chosen by the caller); see the module docstring.

    Parameters
    ----------
    masker_factory : callable (width [px], height [px], rate [frames/s]) -> FaceMasker
    voice : VoiceTransform or None
        The voice of the audio track (``None``: re-encoded unchanged); keyed by ``seed`` and ``speaker``.
    encoder : Encoder
        The recipe's encoder settings.
    progress : callable, optional
        Called with 1 per decoded frame.
    """
    made: list[FaceMasker] = []

    def masker(width: int, height: int, fps: float) -> FaceMasker:
        made.append(masker_factory(width, height, fps))
        return made[0]

    out = Output(path=dst, fmt=format_for(src, dst), encoder=encoder)
    result = encode_range(src, out, Segment.whole(), masker=masker, voice=Voice(voice, seed, speaker), progress=progress)
    return replace(result, masking=made[0].stats.to_dict())
