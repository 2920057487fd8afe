"""CHILDES CHAT (``.cha``) transcripts: a careful line-based reader and a faithful writer.

A CHAT file is a sequence of records. A record starts with ``@`` (headers such as ``@Participants``,
``@ID``, ``@Media``, ``@Comment``), ``*`` (a main tier: one utterance of one speaker, ``*CHI:``) or
``%`` (a dependent tier of the utterance above it: ``%mor``, ``%com``, ``%act``...); a physical line
that starts with a tab continues the record above. An utterance ends with a media bullet
``\\x15start_end\\x15`` in milliseconds when it is time-aligned.

In the common model every speaker code is a tier (named by the code, in ``@Participants`` order) and
every utterance an annotation: its value is the text without the bullet (continuation lines joined
by one space), its times come from the bullet (``None`` when there is none; such an utterance keeps
no time and is written back without one), and its dependent tiers travel in ``fields`` under keys
``%mor``, ``%com``... The records themselves stay in :attr:`AnnotationDocument.native`, so the
writer puts out every record whose content did not change byte for byte, line breaks and all;
a changed record is written on one line (valid CHAT; CLAN re-wraps on its next save).

What anonymization sees (keys of :attr:`AnnotationDocument.header`):

* ``PARTICIPANT <code> NAME``: the name in ``@Participants`` (a person: pseudonymized, and replaced
  wherever it occurs in this transcript even when it is not on the roster); codes and roles stay.
* ``ID <i> corpus|age|education|custom``: fields of ``@ID`` lines; ages are kept to the month
  (``2;06.15`` -> ``2;06.``). Language, code, sex, group, SES and role stay.
* ``@Birth of <code>``, ``@Birthplace of <code>``, ``@Date``, ``@Location``, ``@PID``: **removed**.
  A birth date and an absolute recording date identify a child (with the ages they pin the birth to
  the day); shifting dates would still leak the weekday and season and would look like real data,
  so the records go, and the age in ``@ID`` (to the month) carries what analyses need. ``@PID`` is
  the persistent handle of the original, not anonymized, corpus file.
* ``@Transcriber``, ``@Coder``: annotators (annotator pseudonyms).
* every other header with content (``@Comment``, ``@Situation``, ...): free text.
* ``@Media``: the recording name (a media link of kind ``stem``), rewritten to the output stem.

Annotations added by the pipeline (the redaction tier) have no record; they are written as
``@Comment`` lines before ``@End``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from avanon.annotations.model import Annotation, AnnotationDocument, MediaLink, Tier
from avanon.annotations.safety import read_text
from avanon.errors import MediaError, ParameterError
from avanon.files import write_atomic

BULLET = "\x15"
_BULLET_AT_END = re.compile(r"(\s*)\x15(\d+)_(\d+)\x15([ \t]*)$")
_INNER_BULLET = re.compile(r"\x15[^\x15]*\x15")
_HEAD = re.compile(r"^([@*%][^:\t\r\n]*)(:[ \t]*)")
_ID_FIELDS = {"corpus": 1, "age": 3, "education": 8, "custom": 9}
_PRIVATE = re.compile(r"^(Birth of .*|Birthplace of .*|Date|Location|PID)$")
_ANNOTATORS = {"Transcriber", "Coder"}


@dataclass
class Record:
    """One logical CHAT line.

    Attributes
    ----------
    kind : {'header', 'utterance', 'dependent', 'other'}
    lines : list of str
        The physical lines as read, line endings included.
    name : str
        Header name (``Participants``), speaker code (``CHI``) or dependent tier (``mor``).
    head : str
        Everything up to the content (``*CHI:\\t``, ``%add:   ``).
    content : str
        The content, continuation lines joined by one space, line ending removed.
    """

    kind: str
    lines: list[str]
    name: str = ""
    head: str = ""
    content: str = ""
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def ending(self) -> str:
        last = self.lines[-1]
        return last[len(last.rstrip("\r\n")) :]


def _records(text: str, source: str) -> list[Record]:
    records: list[Record] = []
    for number, line in enumerate(text.splitlines(keepends=True), start=1):
        body = line.rstrip("\r\n")
        if body.startswith("\t") and records and records[-1].kind != "other":
            records[-1].lines.append(line)
            records[-1].content += " " + body[1:]
            continue
        match = _HEAD.match(body)
        if body[:1] in "@*%" and match is not None:
            kind = {"@": "header", "*": "utterance", "%": "dependent"}[body[0]]
            records.append(Record(kind, [line], name=match.group(1)[1:], head=match.group(0), content=body[match.end() :]))
        elif body.startswith("@"):
            records.append(Record("header", [line], name=body[1:].strip(), head=body))
        elif body.startswith(("*", "%")):
            raise MediaError(f"{source}: line {number}: tier line without ':' ({body[:40]!r})")
        else:
            records.append(Record("other", [line]))
    return records


def read_chat(path: Path) -> AnnotationDocument:
    """Read a CHAT transcript.

    Raises
    ------
    MediaError
        Undecodable text, no ``@Begin`` header, a tier line without a colon, a dependent tier before
        any utterance, or a bullet whose end comes before its start (naming the line).
    """
    path = Path(path)
    records = _records(read_text(path), str(path))
    if not any(r.kind == "header" and r.name == "Begin" for r in records):
        raise MediaError(f"{path}: not a CHAT transcript (no @Begin line)")
    doc = AnnotationDocument(format="chat", source=str(path), native=records)
    tiers: dict[str, Tier] = {}
    private: list[str] = []
    annotators: list[str] = []
    persons: list[str] = []
    ages: list[str] = []
    current: Annotation | None = None
    line = 1
    ids = 0
    for index, record in enumerate(records):
        if record.kind == "header" and record.name == "Participants":
            for code, name, role in _participants(record.content):
                tiers.setdefault(code, Tier(name=code, kind="interval", attributes={"role": role}))
                if name:
                    doc.header[f"PARTICIPANT {code} NAME"] = name
                    persons.append(f"PARTICIPANT {code} NAME")
        elif record.kind == "header" and record.name == "ID":
            fields = record.content.split("|")
            for label, position in _ID_FIELDS.items():
                if position < len(fields) and fields[position].strip():
                    doc.header[f"ID {ids} {label}"] = fields[position]
                    if label == "age":
                        ages.append(f"ID {ids} {label}")
            record.extra["id"] = str(ids)
            ids += 1
        elif record.kind == "header" and record.name == "Media":
            stem, _, rest = record.content.partition(",")
            doc.media.append(MediaLink(path=stem.strip(), kind="stem"))
            record.extra["media"] = str(len(doc.media) - 1)
        elif record.kind == "header" and ":" in record.head:
            key = f"HEADER {index} {record.name}"
            doc.header[key] = record.content
            if _PRIVATE.match(record.name):
                private.append(key)
            elif record.name in _ANNOTATORS:
                annotators.append(key)
        elif record.kind == "utterance":
            current = _utterance(record, index, str(path), line)
            tiers.setdefault(record.name, Tier(name=record.name, kind="interval")).annotations.append(current)
        elif record.kind == "dependent":
            if current is None:
                raise MediaError(f"{path}: line {line}: dependent tier %{record.name} before any utterance")
            key = f"%{record.name}"
            while key in current.fields:
                key += "+"
            current.fields[key] = record.content
            record.extra["field"] = key
            record.extra["utterance"] = current.id
        line += len(record.lines)
    doc.tiers = list(tiers.values())
    doc.options.update(
        {
            "private_header_keys": tuple(private),
            "annotator_header_keys": tuple(annotators),
            "person_header_keys": tuple(persons),
            "age_header_keys": tuple(ages),
        }
    )
    return doc


def _participants(content: str) -> list[tuple[str, str, str]]:
    """``(code, name, role)`` for each ``CODE [Name ...] Role`` entry of ``@Participants``."""
    out = []
    for entry in content.split(","):
        words = entry.split()
        if not words:
            continue
        code, role = words[0], words[-1] if len(words) > 1 else ""
        out.append((code, " ".join(words[1:-1]), role))
    return out


def _utterance(record: Record, index: int, source: str, line: int) -> Annotation:
    match = _BULLET_AT_END.search(record.content)
    ann = Annotation(onset=None, offset=None, value=record.content, id=f"r{index}")
    if match is not None:
        start, end = int(match.group(2)), int(match.group(3))
        if end < start:
            raise MediaError(f"{source}: line {line}: bullet {start}_{end} ends before it starts")
        ann.onset, ann.offset = start / 1000.0, end / 1000.0
        ann.value = record.content[: match.start()]
        record.extra.update({"gap": match.group(1), "tail": match.group(4)})
    record.extra.update({"value": ann.value, "onset": str(ann.onset), "offset": str(ann.offset)})
    return ann


def write_chat(doc: AnnotationDocument, path: Path) -> None:
    """Write ``doc`` as CHAT (atomically), starting from the records it was read from.

    Raises
    ------
    ParameterError
        A document that was not read from a CHAT file, or a retimed utterance that holds word
        bullets inside its text (they cannot be retimed safely).
    """
    records = doc.native
    if not isinstance(records, list) or not all(isinstance(r, Record) for r in records):
        raise ParameterError(f"{doc.source}: only documents read from CHAT files can be written as CHAT")
    by_id = {ann.id: ann for _, ann in doc.annotations() if ann.id}
    known = {f"r{i}" for i, r in enumerate(records) if r.kind == "utterance"}
    added = [(tier, ann) for tier, ann in doc.annotations() if ann.id not in known]
    out: list[str] = []
    for index, record in enumerate(records):
        if record.kind == "header" and record.name == "End" and added:
            out += [_comment(tier.name, ann) for tier, ann in added]
            added = []
        out += _write_record(doc, record, index, by_id)
    if added and out and not out[-1].endswith("\n"):
        out[-1] += "\n"
    out += [_comment(tier.name, ann) for tier, ann in added]
    write_atomic(Path(path), "".join(out).encode("utf-8"))


def _write_record(doc: AnnotationDocument, record: Record, index: int, by_id: dict[str, Annotation]) -> list[str]:
    header = doc.header
    if record.kind == "utterance":
        ann = by_id.get(f"r{index}")
        if ann is None:
            return []
        same_times = (str(ann.onset), str(ann.offset)) == (record.extra["onset"], record.extra["offset"])
        if ann.value == record.extra["value"] and same_times:
            return record.lines
        if not same_times and _INNER_BULLET.search(ann.value):
            raise ParameterError(f"{doc.source}: utterance {ann.label()} has word bullets that cannot be retimed")
        text = record.head + ann.value
        if ann.onset is not None and ann.offset is not None:
            text += (record.extra.get("gap") or " ") + f"{BULLET}{round(ann.onset * 1000)}_{round(ann.offset * 1000)}{BULLET}"
            text += record.extra.get("tail", "")
        return [text + record.ending]
    if record.kind == "dependent":
        ann = by_id.get(record.extra.get("utterance", ""))
        if ann is None:
            return []
        value = ann.fields.get(record.extra["field"], record.content)
        return record.lines if value == record.content else [record.head + value + record.ending]
    if record.kind != "header":
        return record.lines
    if record.name == "Participants":
        entries = _participants(record.content)
        names = [header.get(f"PARTICIPANT {code} NAME", name) if name else name for code, name, _ in entries]
        if names == [name for _, name, _ in entries]:
            return record.lines
        parts = [" ".join(w for w in (code, name, role) if w) for (code, _, role), name in zip(entries, names)]
        return [record.head + ", ".join(parts) + record.ending]
    if record.name == "ID" and "id" in record.extra:
        fields = record.content.split("|")
        for label, position in _ID_FIELDS.items():
            key = f"ID {record.extra['id']} {label}"
            if position < len(fields) and fields[position].strip():
                fields[position] = header.get(key, "")
        content = "|".join(fields)
        return record.lines if content == record.content else [record.head + content + record.ending]
    if record.name == "Media" and "media" in record.extra:
        links = [m for m in doc.media if m.kind == "stem"]
        position = int(record.extra["media"])
        stem, comma, rest = record.content.partition(",")
        new = links[position].path if position < len(links) else ""
        if new == stem.strip():
            return record.lines
        return [record.head + new + comma + rest + record.ending]
    key = f"HEADER {index} {record.name}"
    if key not in header:
        return record.lines if ":" not in record.head else []  # removed by anonymization
    return record.lines if header[key] == record.content else [record.head + header[key] + record.ending]


def _comment(tier: str, ann: Annotation) -> str:
    onset = "?" if ann.onset is None else f"{ann.onset:.3f}"
    offset = "?" if ann.offset is None else f"{ann.offset:.3f}"
    return f"@Comment:\t{tier} {onset}-{offset} s: {ann.value}\n"
