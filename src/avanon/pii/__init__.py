"""Personal information in text: transcripts (word times) and annotation labels.

The recognizers (:mod:`avanon.pii.recognizers`: roster names, regular expressions, and spaCy and
Presidio when installed) work on :class:`~avanon.pii.transcript.Transcript` words or on plain
text. Speech redaction (:mod:`avanon.audio.redact`) and annotation pseudonymization
(:mod:`avanon.annotations.pseudonymize`) both use them; this package imports neither, so text
handling does not pull in audio and the reverse.
"""

from avanon.pii.recognizers import (
    CATEGORIES,
    Finding,
    Roster,
    SegmentFinding,
    TextFinding,
    find_pii,
    presidio_available,
    recognizers_used,
    spacy_available,
    unlocated_names,
)
from avanon.pii.text import find_pii_text
from avanon.pii.transcript import Segment, Transcript, Word, transcript_from_dict

__all__ = [
    "CATEGORIES",
    "Finding",
    "Roster",
    "Segment",
    "SegmentFinding",
    "TextFinding",
    "Transcript",
    "Word",
    "find_pii",
    "find_pii_text",
    "presidio_available",
    "recognizers_used",
    "spacy_available",
    "transcript_from_dict",
    "unlocated_names",
]
