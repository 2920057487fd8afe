"""Annotation files (ELAN, Praat TextGrid, RTTM, CHAT, BORIS, plain CSV): read, check, anonymize, write.

The pipeline calls :func:`is_annotation` to route a file here and :func:`carry_annotations` once per
annotation file after the media are done.
"""

from avanon.annotations.alignment import Problem, check_durations, check_structure, check_within
from avanon.annotations.carry import AnnotationResult, MediaInfo, TextKeys, carry_annotations
from avanon.annotations.formats import FORMATS, detect_format, is_annotation, read_annotations, write_annotations
from avanon.annotations.model import REDACTED_TIER, Annotation, AnnotationDocument, MediaLink, Tier

__all__ = [
    "FORMATS",
    "REDACTED_TIER",
    "Annotation",
    "AnnotationDocument",
    "AnnotationResult",
    "MediaInfo",
    "TextKeys",
    "MediaLink",
    "Problem",
    "Tier",
    "carry_annotations",
    "check_durations",
    "check_structure",
    "check_within",
    "detect_format",
    "is_annotation",
    "read_annotations",
    "write_annotations",
]
