"""ELAN ``.eaf`` files through pympi-ling, after a hardened XML check.

Every tier type is read: time-alignable tiers (with or without Time_Subdivision / Included_In
constraints, unaligned time slots included) become ``interval`` tiers; symbolic tiers
(Symbolic_Subdivision, Symbolic_Association) become ``reference`` tiers whose times are those of the
aligned ancestor. The pympi document stays in :attr:`AnnotationDocument.native`, so writing keeps
linguistic types, controlled vocabularies, locales, languages, lexicon and external references; the
writer carries changed values, times, tier names, attributes and media links back into it. Time
slots shared between annotations stay shared.
"""

from __future__ import annotations

import copy
from pathlib import Path

from pympi.Elan import Eaf, to_string

from avanon.annotations.model import Annotation, AnnotationDocument, MediaLink, Tier, is_absolute_link
from avanon.annotations.safety import check_xml
from avanon.files import write_atomic
from avanon.errors import MediaError, ParameterError

_SKIPPED_PROPERTIES = {"URN", "lastUsedAnnotationId", "lastUsedAnnotation"}
_DEFAULT_TYPE = "avanon-time-aligned"
_XSI_LOCATION = "{http://www.w3.org/2001/XMLSchema-instance}noNamespaceSchemaLocation"


def read_elan(path: Path) -> AnnotationDocument:
    """Read an ELAN file.

    Raises
    ------
    MediaError
        Broken or unsafe XML, missing required attributes, or references to unknown time slots,
        annotations, tiers or linguistic types (the message names tier and annotation).
    """
    path = Path(path)
    check_xml(path)
    try:
        eaf = _load(path)
    except (KeyError, ValueError, IndexError, AttributeError, TypeError) as exc:
        raise MediaError(f"{path}: not a valid ELAN document (missing or malformed {exc})") from exc
    except Exception as exc:  # pympi raises a bare Exception on parse errors
        raise MediaError(f"{path}: not a valid ELAN document ({exc})") from exc
    _check_references(eaf, str(path))

    doc = AnnotationDocument(format="elan", native=eaf, source=str(path))
    doc.header["AUTHOR"] = eaf.adocument.get("AUTHOR", "")
    if eaf.header.get("MEDIA_FILE"):
        doc.header["MEDIA_FILE"] = eaf.header["MEDIA_FILE"]
        doc.options["header_media_keys"] = ("MEDIA_FILE",)
    for index, (name, value) in enumerate(eaf.properties):
        if name not in _SKIPPED_PROPERTIES and value is not None:
            doc.header[f"PROPERTY {index} {name}"] = str(value)
    for desc in eaf.media_descriptors:
        doc.media.append(MediaLink(path=desc.get("MEDIA_URL", ""), relative=desc.get("RELATIVE_MEDIA_URL", "") or "",
                                   mime=desc.get("MIME_TYPE", "") or ""))
    for desc in eaf.linked_file_descriptors:
        doc.media.append(MediaLink(path=desc.get("LINK_URL", ""), relative=desc.get("RELATIVE_LINK_URL", "") or "",
                                   mime=desc.get("MIME_TYPE", "") or "", role="linked"))

    for name, (aligned, refs, attrib, _) in sorted(eaf.tiers.items(), key=lambda item: item[1][3]):
        attributes = {k: str(v) for k, v in attrib.items() if k != "TIER_ID" and v is not None}
        ling = eaf.linguistic_types.get(attrib.get("LINGUISTIC_TYPE_REF", ""), {})
        alignable = ling.get("TIME_ALIGNABLE", "true") == "true" or bool(aligned)
        tier = Tier(name=name, kind="interval" if alignable and not refs else "reference", attributes=attributes)
        for aid, (ts1, ts2, value, _svg) in aligned.items():
            tier.annotations.append(Annotation(onset=_seconds(eaf.timeslots[ts1]), offset=_seconds(eaf.timeslots[ts2]),
                                               value=value or "", id=aid))
        for aid, (ref, value, _prev, _svg) in refs.items():
            onset, offset = _ref_times(eaf, ref)
            tier.annotations.append(Annotation(onset=onset, offset=offset, value=value or "", id=aid, ref=ref))
        doc.tiers.append(tier)
    return doc


def _load(path: Path) -> Eaf:
    """Load with pympi, which needs the ``xsi:noNamespaceSchemaLocation`` attribute that some writers omit."""
    import tempfile

    from defusedxml.ElementTree import parse

    tree = parse(str(path), forbid_dtd=True)
    root = tree.getroot()
    if _XSI_LOCATION in root.attrib:
        return Eaf(str(path), suppress_version_warning=True)
    root.set(_XSI_LOCATION, f"http://www.mpi.nl/tools/elan/EAFv{root.get('VERSION', '3.0')}.xsd")
    with tempfile.TemporaryDirectory(prefix="avanon-eaf-") as folder:
        copy_path = Path(folder) / "document.eaf"
        tree.write(copy_path, encoding="UTF-8", xml_declaration=True)
        return Eaf(str(copy_path), suppress_version_warning=True)


def _seconds(ms: int | None) -> float | None:
    return None if ms is None else ms / 1000.0


def _ref_times(eaf: Eaf, ref: str) -> tuple[float | None, float | None]:
    """Times of the aligned ancestor of a reference annotation (``None`` if there is none)."""
    seen: set[str] = set()
    while ref not in seen:
        seen.add(ref)
        tier = eaf.annotations.get(ref)
        if tier is None:
            return None, None
        aligned, refs = eaf.tiers[tier][0], eaf.tiers[tier][1]
        if ref in aligned:
            ts1, ts2 = aligned[ref][0], aligned[ref][1]
            return _seconds(eaf.timeslots[ts1]), _seconds(eaf.timeslots[ts2])
        ref = refs[ref][0]
    return None, None


def _check_references(eaf: Eaf, source: str) -> None:
    for name, (aligned, refs, attrib, _) in eaf.tiers.items():
        parent = attrib.get("PARENT_REF")
        if parent and parent not in eaf.tiers:
            raise MediaError(f"{source}: tier {name!r} refers to unknown parent tier {parent!r}")
        ling = attrib.get("LINGUISTIC_TYPE_REF")
        if ling and ling not in eaf.linguistic_types:
            raise MediaError(f"{source}: tier {name!r} refers to unknown linguistic type {ling!r}")
        for aid, (ts1, ts2, _, _) in aligned.items():
            for slot in (ts1, ts2):
                if slot not in eaf.timeslots:
                    raise MediaError(f"{source}: tier {name!r}, annotation {aid}: unknown time slot {slot!r}")
        for aid, (ref, _, prev, _) in refs.items():
            if ref not in eaf.annotations:
                raise MediaError(f"{source}: tier {name!r}, annotation {aid}: refers to unknown annotation {ref!r}")
            if prev and prev not in eaf.annotations:
                raise MediaError(f"{source}: tier {name!r}, annotation {aid}: previous annotation {prev!r} is unknown")
    for slot, value in eaf.timeslots.items():
        if value is not None and value < 0:
            raise MediaError(f"{source}: time slot {slot} has a negative time ({value} ms)")


def write_elan(doc: AnnotationDocument, path: Path) -> None:
    """Write ``doc`` as an ELAN file (atomically), starting from the document it was read from."""
    eaf = copy.deepcopy(doc.native) if isinstance(doc.native, Eaf) else _empty_eaf()
    old_tiers = eaf.tiers
    native_aligned: dict[str, tuple] = {}
    native_refs: dict[str, tuple] = {}
    for aligned, refs, _, _ in old_tiers.values():
        native_aligned.update(aligned)
        native_refs.update(refs)

    eaf.adocument["AUTHOR"] = doc.header.get("AUTHOR", "")
    version = eaf.adocument.get("VERSION", "3.0")
    if version in ("2.7", "2.8", "3.0"):
        eaf.adocument["xsi:noNamespaceSchemaLocation"] = f"http://www.mpi.nl/tools/elan/EAFv{version}.xsd"
    if "MEDIA_FILE" in eaf.header:
        eaf.header["MEDIA_FILE"] = doc.header.get("MEDIA_FILE", "")
    for key, value in doc.header.items():
        if key.startswith("PROPERTY "):
            index = int(key.split(" ", 2)[1])
            eaf.properties[index] = (eaf.properties[index][0], value)
    _write_links(eaf, doc)

    eaf.tiers = {}
    eaf.annotations = {}
    used_slots: set[str] = set()
    for ordinal, tier in enumerate(doc.tiers):
        attrib = dict(tier.attributes)
        attrib["TIER_ID"] = tier.name
        if "LINGUISTIC_TYPE_REF" not in attrib:
            attrib["LINGUISTIC_TYPE_REF"] = _ensure_type(eaf)
        aligned: dict[str, tuple] = {}
        refs: dict[str, tuple] = {}
        for ann in tier.annotations:
            if ann.id in native_refs:
                ref, _, prev, svg = native_refs[ann.id]
                refs[ann.id] = (ref, ann.value, prev, svg)
            elif ann.id in native_aligned:
                ts1, ts2, _, svg = native_aligned[ann.id]
                _set_slot(eaf, ts1, ann.onset)
                _set_slot(eaf, ts2, ann.offset)
                aligned[ann.id] = (ts1, ts2, ann.value, svg)
            elif ann.ref:
                raise ParameterError(f"{doc.source}: tier {tier.name!r}: new reference annotations cannot be written to ELAN")
            else:
                if ann.onset is None or ann.offset is None:
                    raise ParameterError(f"{doc.source}: tier {tier.name!r}: annotation {ann.label()} has no time")
                ts1 = eaf.generate_ts_id(_ms(ann.onset))
                ts2 = eaf.generate_ts_id(_ms(ann.offset))
                aid = ann.id if ann.id and ann.id not in eaf.annotations else eaf.generate_annotation_id()
                aligned[aid] = (ts1, ts2, ann.value, None)
            for key in aligned:
                eaf.annotations[key] = tier.name
            for key in refs:
                eaf.annotations[key] = tier.name
        for ts1, ts2, _, _ in aligned.values():
            used_slots.update((ts1, ts2))
        if tier.name in eaf.tiers:
            raise ParameterError(f"{doc.source}: two tiers are called {tier.name!r}; ELAN tier names must be unique")
        eaf.tiers[tier.name] = (aligned, refs, attrib, ordinal)
    eaf.timeslots = {slot: value for slot, value in eaf.timeslots.items() if slot in used_slots}
    text = to_string(eaf, pretty=True)
    write_atomic(Path(path), ('<?xml version="1.0" encoding="UTF-8"?>\n' + text + "\n").encode("utf-8"))


def _ms(seconds: float) -> int:
    return int(round(seconds * 1000.0))


def _set_slot(eaf: Eaf, slot: str, seconds: float | None) -> None:
    if seconds is not None:
        eaf.timeslots[slot] = _ms(seconds)


def _ensure_type(eaf: Eaf) -> str:
    for name, params in eaf.linguistic_types.items():
        if params.get("TIME_ALIGNABLE", "true") == "true" and not params.get("CONSTRAINTS"):
            return name
    eaf.add_linguistic_type(_DEFAULT_TYPE)
    return _DEFAULT_TYPE


def _empty_eaf() -> Eaf:
    eaf = Eaf(author="")
    eaf.remove_tier("default")
    return eaf


def _write_links(eaf: Eaf, doc: AnnotationDocument) -> None:
    media = [link for link in doc.media if link.role == "media"]
    linked = [link for link in doc.media if link.role == "linked"]
    old_media = eaf.media_descriptors
    eaf.media_descriptors = []
    for index, link in enumerate(media):
        desc = dict(old_media[index]) if index < len(old_media) else {}
        desc.update({"MEDIA_URL": link.path, "MIME_TYPE": link.mime or desc.get("MIME_TYPE"),
                     "RELATIVE_MEDIA_URL": link.relative or None})
        if desc.get("EXTRACTED_FROM") and is_absolute_link(desc["EXTRACTED_FROM"]):
            del desc["EXTRACTED_FROM"]
        eaf.media_descriptors.append(desc)
    old_linked = eaf.linked_file_descriptors
    eaf.linked_file_descriptors = []
    for index, link in enumerate(linked):
        desc = dict(old_linked[index]) if index < len(old_linked) else {}
        desc.update({"LINK_URL": link.path, "MIME_TYPE": link.mime or desc.get("MIME_TYPE"),
                     "RELATIVE_LINK_URL": link.relative or None})
        if desc.get("ASSOCIATED_WITH") and is_absolute_link(desc["ASSOCIATED_WITH"]):
            del desc["ASSOCIATED_WITH"]
        eaf.linked_file_descriptors.append(desc)
