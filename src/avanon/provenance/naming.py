"""Output names: keyed pseudonyms for identifying file and folder names, and BIDS-style layouts.

File and folder names in behavioural studies often carry identity (``anna_smith_2019-03-01.mp4``,
``VanDam_FJ11_020816b.wav``). :class:`NameMapper` replaces every path component that contains a
roster name or a date by a keyed pseudonym (HMAC of the study secret, the same everywhere in the
study), keeps the extension, and records the mapping. The mapping is for the data steward only:
:meth:`NameMapper.save` writes it into the steward folder and refuses a path inside the release.

:func:`bids_path` builds ``sub-01/ses-01/beh/sub-01_ses-01_task-play_video.mp4`` names and
:func:`media_sidecar` the JSON sidecar beside them (frame rate, duration, sample rate, codecs and the
anonymization applied).
"""

from __future__ import annotations

import json
import posixpath
import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from avanon.errors import AccessError, ParameterError
from avanon.files import write_atomic

Namer = Callable[[bytes, str, str], str]
MAP_NAME = "name_map.json"
DATE_PATTERN = re.compile(
    r"(?<!\d)(?:(?:19|20)\d{2}[-_.]?(?:0[1-9]|1[0-2])[-_.]?(?:0[1-9]|[12]\d|3[01])"
    r"|(?:0[1-9]|[12]\d|3[01])[-_.](?:0[1-9]|1[0-2])[-_.](?:19|20)?\d{2})(?!\d)"
)
_LABEL = re.compile(r"^[A-Za-z0-9]+$")
BIDS_DATATYPES = ("beh", "audio", "video", "func", "anat", "eeg", "meg", "motion")


def _default_namer() -> Namer:
    from avanon.studykeys import pseudonym

    return pseudonym


class NameMapper:
    """Pseudonymize identifying path components, consistently across a study.

    Parameters
    ----------
    secret : bytes
        Study secret.
    roster : sequence of str, optional
        Names whose presence (case-insensitive, as a word or between ``_ - .``) marks a component.
    dates : bool
        Also mark components holding a calendar date (YYYY-MM-DD, YYYYMMDD, DD.MM.YYYY ...).
    namer : callable, optional
        ``namer(secret, kind, key) -> str``; defaults to :func:`avanon.studykeys.pseudonym`.
    """

    def __init__(self, secret: bytes, roster: Sequence[str] | Mapping[str, str] | None = None, *, dates: bool = True, namer: Namer | None = None) -> None:
        self.secret = secret
        self.namer = namer or _default_namer()
        self.dates = dates
        names = sorted((str(n).strip() for n in (roster or []) if str(n).strip()), key=len, reverse=True)
        self._names = re.compile(r"(?<![A-Za-z0-9])(" + "|".join(re.escape(n) for n in names) + r")(?![A-Za-z0-9])", re.IGNORECASE) if names else None
        self.mapping: dict[str, str] = {}

    def identifying(self, component: str) -> bool:
        """True if a path component holds a roster name or (with ``dates``) a date."""
        if self._names is not None and self._names.search(component):
            return True
        return self.dates and bool(DATE_PATTERN.search(component))

    def component(self, component: str, *, is_file: bool) -> str:
        """The output name of one component: unchanged, or ``<pseudonym><ext>`` when identifying."""
        if not self.identifying(component):
            return component
        stem, ext = posixpath.splitext(component) if is_file else (component, "")
        return self.namer(self.secret, "path", stem.casefold()) + ext.lower()

    def map_path(self, relpath: str) -> str:
        """Map a POSIX path relative to the study root; records the mapping and returns the output path."""
        parts = [p for p in relpath.replace("\\", "/").split("/") if p not in ("", ".")]
        if any(p == ".." for p in parts):
            raise ParameterError(f"The path {relpath!r} must stay inside the study root (no '..').")
        out = [self.component(p, is_file=i == len(parts) - 1) for i, p in enumerate(parts)]
        result = "/".join(out)
        if result != relpath:
            self.mapping[relpath] = result
        return result

    def save(self, steward_dir: Path, *, release_root: Path | None = None) -> Path:
        """Merge the mapping into ``steward_dir/name_map.json`` (never inside ``release_root``)."""
        steward_dir = Path(steward_dir)
        if release_root is not None and steward_dir.resolve().is_relative_to(Path(release_root).resolve()):
            raise AccessError(f"{steward_dir}: the name mapping may not be stored inside the release {release_root}")
        path = steward_dir / MAP_NAME
        data = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
        data.update(self.mapping)
        write_atomic(path, (json.dumps(data, sort_keys=True, indent=1, ensure_ascii=False) + "\n").encode("utf-8"))
        return path


def bids_path(
    *,
    subject: str,
    datatype: str,
    suffix: str,
    extension: str,
    session: str | None = None,
    task: str | None = None,
    run: int | None = None,
    acquisition: str | None = None,
) -> str:
    """A BIDS-style relative path, e.g. ``sub-01/ses-01/beh/sub-01_ses-01_task-play_video.mp4``.

    Parameters
    ----------
    subject, session, task, acquisition : str
        Alphanumeric labels (BIDS forbids ``_``, ``-`` and ``/`` inside labels).
    datatype : str
        One of :data:`BIDS_DATATYPES`.
    suffix : str
        Alphanumeric, e.g. ``video``, ``audio``, ``events``.
    extension : str
        With the dot, e.g. ``.mp4``.
    run : int >= 1, optional
    """
    for key, value in (("subject", subject), ("session", session), ("task", task), ("acquisition", acquisition), ("suffix", suffix)):
        if value is not None and not _LABEL.match(value):
            raise ParameterError(f"The '{key}' parameter of bids_path must be alphanumeric. Got {value!r} instead.")
    if datatype not in BIDS_DATATYPES:
        raise ParameterError(f"The 'datatype' parameter of bids_path must be one of {', '.join(BIDS_DATATYPES)}. Got {datatype!r} instead.")
    if run is not None and (not isinstance(run, int) or run < 1):
        raise ParameterError(f"The 'run' parameter of bids_path must be an int in the range [1, inf]. Got {run!r} instead.")
    if not extension.startswith("."):
        raise ParameterError(f"The 'extension' parameter of bids_path must start with a dot. Got {extension!r} instead.")
    entities = [f"sub-{subject}"]
    folders = [f"sub-{subject}"]
    if session:
        entities.append(f"ses-{session}")
        folders.append(f"ses-{session}")
    if task:
        entities.append(f"task-{task}")
    if acquisition:
        entities.append(f"acq-{acquisition}")
    if run is not None:
        entities.append(f"run-{run:02d}")
    return "/".join([*folders, datatype, "_".join([*entities, suffix]) + extension])


def sidecar_path(media_relpath: str) -> str:
    """The JSON sidecar beside a media file (``x_video.mp4`` -> ``x_video.json``)."""
    return posixpath.splitext(media_relpath)[0] + ".json"


def media_sidecar(info: Any, *, anonymization: Mapping[str, Any]) -> dict[str, Any]:
    """Sidecar content for a probed media file (:class:`avanon.media.probe.MediaInfo`).

    Keys follow BIDS where it has them: ``Duration`` [s], ``FrameRate`` [Hz], ``SamplingFrequency``
    [Hz], ``AudioChannelCount``, ``VideoCodec``, ``AudioCodec``, ``Width``/``Height`` [px], plus
    ``Anonymization`` (the recipe steps and parameters applied).
    """
    data: dict[str, Any] = {"Duration": round(float(info.duration_s), 6)}
    video = getattr(info, "video", None)
    audio = getattr(info, "audio", None)
    if video is not None:
        rate = video.average_rate
        if rate:
            num, _, den = str(rate).partition("/")
            data["FrameRate"] = round(float(num) / float(den or 1), 6)
        data.update({"VideoCodec": video.codec, "Width": video.width, "Height": video.height})
    if audio is not None:
        data.update({"SamplingFrequency": audio.sample_rate, "AudioChannelCount": audio.channels, "AudioCodec": audio.codec})
    data["Anonymization"] = dict(anonymization)
    return data


def write_sidecar(path: Path, data: Mapping[str, Any]) -> None:
    """Write a sidecar as canonical JSON, atomically."""
    write_atomic(Path(path), (json.dumps(dict(data), sort_keys=True, indent=1, ensure_ascii=False) + "\n").encode("utf-8"))
