"""ELAN ``.eaf`` files through pympi-ling, after a hardened XML check.

Every tier type is read: time-alignable tiers (with or without Time_Subdivision / Included_In
constraints, unaligned time slots included) become ``interval`` tiers; symbolic tiers
(Symbolic_Subdivision, Symbolic_Association) become ``reference`` tiers whose times are those of the
aligned ancestor. The pympi document stays in :attr:`AnnotationDocument.native`, so writing keeps
linguistic types, controlled vocabularies, locales, languages, lexicon and external references; the
writer carries changed values, times, tier names, attributes and media links back into it. Time
slots shared between annotations stay shared.

What anonymization must see travels in :attr:`AnnotationDocument.header`, so that
:func:`~avanon.annotations.model.map_text` rewrites it with the same function as the annotation
values (an annotation that equals a controlled-vocabulary entry stays equal to the renamed entry):

====================================  ==================================================
header key                            what
====================================  ==================================================
``AUTHOR``                            document author (an annotator pseudonym)
``MEDIA_FILE``                        old header media file (a media link)
``PROPERTY i NAME``                   header properties (URN and last-used ids excepted);
                                      absolute paths are media links; properties named
                                      like a person (author, user, ...) are annotators
``CV i ID``                           controlled vocabulary id (linguistic types follow)
``CV i DESCRIPTION j``                its descriptions
``CV i ENTRY k VALUE j``              entry values (``CV_ENTRY`` and ``CVE_VALUE``)
``CV i ENTRY k DESCRIPTION j``        entry descriptions
``LICENSE i``                         licence texts
``EXTERNAL_REF id``, ``LEXICON_REF    absolute ``file:`` or path values only (links, so
id URL``, ``LANGUAGE id LANG_DEF``    that no user folder survives); web URLs stay
====================================  ==================================================

pympi drops the ``CVE_REF``, ``EXT_REF`` and ``LANG_REF`` attributes of annotations; the reader keeps
them in ``options["annotation_attributes"]`` and the writer puts them back, so links from annotations
to vocabulary entries stay valid. Files of format 2.7 and older get their vocabularies written back as
``CV_ENTRY`` elements (pympi writes the 2.8 ``CV_ENTRY_ML`` form).
"""

from __future__ import annotations

import copy
import re
import xml.etree.ElementTree as etree
from pathlib import Path
from typing import Any

from pympi.Elan import Eaf, to_adocument

from avanon.annotations.model import Annotation, AnnotationDocument, MediaLink, Tier, is_absolute_link
from avanon.annotations.safety import check_xml
from avanon.errors import MediaError, ParameterError
from avanon.files import write_atomic

_SKIPPED_PROPERTIES = {"URN", "lastUsedAnnotationId", "lastUsedAnnotation"}
_DEFAULT_TYPE = "avanon-time-aligned"
_XSI_LOCATION = "{http://www.w3.org/2001/XMLSchema-instance}noNamespaceSchemaLocation"
_ANNOTATION_ATTRIBUTES = ("CVE_REF", "EXT_REF", "LANG_REF")
_PERSON_PROPERTY = re.compile(r"author|creator|annotator|transcriber|coder|user|owner|editor|modified|name", re.IGNORECASE)


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
        eaf, annotation_attributes = _load(path)
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
    doc.options["annotation_attributes"] = annotation_attributes
    _read_header_texts(eaf, doc)
    for desc in eaf.media_descriptors:
        doc.media.append(MediaLink(path=desc.get("MEDIA_URL", ""), relative=desc.get("RELATIVE_MEDIA_URL", "") or "", mime=desc.get("MIME_TYPE", "") or ""))
    for desc in eaf.linked_file_descriptors:
        doc.media.append(
            MediaLink(path=desc.get("LINK_URL", ""), relative=desc.get("RELATIVE_LINK_URL", "") or "", mime=desc.get("MIME_TYPE", "") or "", role="linked")
        )

    for name, (aligned, refs, attrib, _) in sorted(eaf.tiers.items(), key=lambda item: item[1][3]):
        attributes = {k: str(v) for k, v in attrib.items() if k != "TIER_ID" and v is not None}
        ling = eaf.linguistic_types.get(attrib.get("LINGUISTIC_TYPE_REF", ""), {})
        alignable = ling.get("TIME_ALIGNABLE", "true") == "true" or bool(aligned)
        tier = Tier(name=name, kind="interval" if alignable and not refs else "reference", attributes=attributes)
        for aid, (ts1, ts2, value, _svg) in aligned.items():
            tier.annotations.append(Annotation(onset=_seconds(eaf.timeslots[ts1]), offset=_seconds(eaf.timeslots[ts2]), value=value or "", id=aid))
        for aid, (ref, value, _prev, _svg) in refs.items():
            onset, offset = _ref_times(eaf, ref)
            tier.annotations.append(Annotation(onset=onset, offset=offset, value=value or "", id=aid, ref=ref))
        doc.tiers.append(tier)
    return doc


def _load(path: Path) -> tuple[Eaf, dict[str, dict[str, str]]]:
    """Load with pympi, which needs the ``xsi:noNamespaceSchemaLocation`` attribute that some writers omit.

    Also returns the annotation attributes pympi drops (annotation id -> ``CVE_REF``, ``EXT_REF``,
    ``LANG_REF``).
    """
    import tempfile

    from defusedxml.ElementTree import parse

    tree = parse(str(path), forbid_dtd=True)
    root = tree.getroot()
    kept: dict[str, dict[str, str]] = {}
    for tag in ("ALIGNABLE_ANNOTATION", "REF_ANNOTATION"):
        for element in root.iter(tag):
            extra = {k: v for k, v in element.attrib.items() if k in _ANNOTATION_ATTRIBUTES}
            if extra and element.get("ANNOTATION_ID"):
                kept[element.attrib["ANNOTATION_ID"]] = extra
    if _XSI_LOCATION in root.attrib:
        return Eaf(str(path), suppress_version_warning=True), kept
    root.set(_XSI_LOCATION, f"http://www.mpi.nl/tools/elan/EAFv{root.get('VERSION', '3.0')}.xsd")
    with tempfile.TemporaryDirectory(prefix="avanon-eaf-") as folder:
        copy_path = Path(folder) / "document.eaf"
        tree.write(copy_path, encoding="UTF-8", xml_declaration=True)
        return Eaf(str(copy_path), suppress_version_warning=True), kept


def _read_header_texts(eaf: Eaf, doc: AnnotationDocument) -> None:
    """Put properties, vocabularies, licences and absolute reference paths into ``doc.header`` (see the module docstring)."""
    links: list[str] = list(doc.options.get("header_media_keys", ()))
    annotators: list[str] = []
    for index, (name, value) in enumerate(eaf.properties):
        if name in _SKIPPED_PROPERTIES or value is None:
            continue
        key = f"PROPERTY {index} {name}"
        doc.header[key] = str(value)
        if is_absolute_link(str(value)):
            links.append(key)
        elif _PERSON_PROPERTY.search(name):
            annotators.append(key)
    for ci, (cv_id, (descriptions, entries, _)) in enumerate(eaf.controlled_vocabularies.items()):
        doc.header[f"CV {ci} ID"] = cv_id
        for di, (_, description) in enumerate(descriptions):
            if description:
                doc.header[f"CV {ci} DESCRIPTION {di}"] = description
        for ei, (values, _) in enumerate(entries.values()):
            for vi, (value, _, description) in enumerate(values):
                doc.header[f"CV {ci} ENTRY {ei} VALUE {vi}"] = value or ""
                if description:
                    doc.header[f"CV {ci} ENTRY {ei} DESCRIPTION {vi}"] = description
    for index, (text, _) in enumerate(eaf.licenses):
        if text:
            doc.header[f"LICENSE {index}"] = text
    for eid, (_, value) in eaf.external_refs.items():
        if value and is_absolute_link(value):
            doc.header[f"EXTERNAL_REF {eid}"] = value
            links.append(f"EXTERNAL_REF {eid}")
    for lid, attributes in eaf.lexicon_refs.items():
        if attributes.get("URL") and is_absolute_link(attributes["URL"]):
            doc.header[f"LEXICON_REF {lid} URL"] = attributes["URL"]
            links.append(f"LEXICON_REF {lid} URL")
    for lang, (definition, _) in eaf.languages.items():
        if definition and is_absolute_link(definition):
            doc.header[f"LANGUAGE {lang} LANG_DEF"] = definition
            links.append(f"LANGUAGE {lang} LANG_DEF")
    if links:
        doc.options["header_media_keys"] = tuple(links)
    if annotators:
        doc.options["annotator_header_keys"] = tuple(annotators)


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
    _write_header_texts(eaf, doc)
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
    root = to_adocument(eaf, pretty=False)
    _restore_annotation_attributes(root, doc.options.get("annotation_attributes", {}))
    if version in ("2.7", "2.6", "2.5"):
        _old_vocabularies(root)
    _indent(root)
    text = etree.tostring(root, encoding="unicode")
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
        desc.update({"MEDIA_URL": link.path, "MIME_TYPE": link.mime or desc.get("MIME_TYPE"), "RELATIVE_MEDIA_URL": link.relative or None})
        if desc.get("EXTRACTED_FROM") and is_absolute_link(desc["EXTRACTED_FROM"]):
            del desc["EXTRACTED_FROM"]
        eaf.media_descriptors.append(desc)
    old_linked = eaf.linked_file_descriptors
    eaf.linked_file_descriptors = []
    for index, link in enumerate(linked):
        desc = dict(old_linked[index]) if index < len(old_linked) else {}
        desc.update({"LINK_URL": link.path, "MIME_TYPE": link.mime or desc.get("MIME_TYPE"), "RELATIVE_LINK_URL": link.relative or None})
        if desc.get("ASSOCIATED_WITH") and is_absolute_link(desc["ASSOCIATED_WITH"]):
            del desc["ASSOCIATED_WITH"]
        eaf.linked_file_descriptors.append(desc)


def _write_header_texts(eaf: Eaf, doc: AnnotationDocument) -> None:
    """Carry the header texts of :func:`_read_header_texts` back into the pympi document."""
    header = doc.header
    for index, (name, _) in enumerate(eaf.properties):
        key = f"PROPERTY {index} {name}"
        if key in header:
            eaf.properties[index] = (name, header[key])
    vocabularies: dict[str, Any] = {}
    renamed: dict[str, str] = {}
    for ci, (cv_id, (descriptions, entries, ext_ref)) in enumerate(eaf.controlled_vocabularies.items()):
        new_id = header.get(f"CV {ci} ID", cv_id)
        if new_id != cv_id:
            renamed[cv_id] = new_id
        new_descriptions = [(lang, header.get(f"CV {ci} DESCRIPTION {di}", description)) for di, (lang, description) in enumerate(descriptions)]
        new_entries = {}
        for ei, (cve_id, (values, entry_ref)) in enumerate(entries.items()):
            new_values = [
                (header.get(f"CV {ci} ENTRY {ei} VALUE {vi}", value), lang, header.get(f"CV {ci} ENTRY {ei} DESCRIPTION {vi}", description))
                for vi, (value, lang, description) in enumerate(values)
            ]
            new_entries[cve_id] = (new_values, entry_ref)
        if new_id in vocabularies:
            raise ParameterError(f"{doc.source}: two controlled vocabularies are called {new_id!r} after renaming")
        vocabularies[new_id] = (new_descriptions, new_entries, ext_ref)
    eaf.controlled_vocabularies = vocabularies
    for params in eaf.linguistic_types.values():
        if params.get("CONTROLLED_VOCABULARY_REF") in renamed:
            params["CONTROLLED_VOCABULARY_REF"] = renamed[params["CONTROLLED_VOCABULARY_REF"]]
    eaf.licenses = [(header.get(f"LICENSE {i}", text), url) for i, (text, url) in enumerate(eaf.licenses)]
    for eid, (etype, value) in list(eaf.external_refs.items()):
        eaf.external_refs[eid] = (etype, header.get(f"EXTERNAL_REF {eid}", value))
    for lid, attributes in eaf.lexicon_refs.items():
        if f"LEXICON_REF {lid} URL" in header:
            attributes["URL"] = header[f"LEXICON_REF {lid} URL"]
    for lang, (definition, label) in list(eaf.languages.items()):
        eaf.languages[lang] = (header.get(f"LANGUAGE {lang} LANG_DEF", definition), label)


def _restore_annotation_attributes(root: etree.Element, kept: dict[str, dict[str, str]]) -> None:
    """Put back the ``CVE_REF``, ``EXT_REF`` and ``LANG_REF`` attributes pympi does not write."""
    if not kept:
        return
    for tag in ("ALIGNABLE_ANNOTATION", "REF_ANNOTATION"):
        for element in root.iter(tag):
            for key, value in kept.get(element.get("ANNOTATION_ID", ""), {}).items():
                element.set(key, value)


def _old_vocabularies(root: etree.Element) -> None:
    """Rewrite vocabularies in the pre-2.8 form: ``DESCRIPTION`` attributes and ``CV_ENTRY`` elements."""
    for cv in root.iter("CONTROLLED_VOCABULARY"):
        for child in list(cv):
            if child.tag == "DESCRIPTION":
                if child.text:
                    cv.set("DESCRIPTION", child.text)
                cv.remove(child)
            elif child.tag == "CV_ENTRY_ML":
                value = child.find("CVE_VALUE")
                entry = etree.Element("CV_ENTRY")
                if value is not None and value.get("DESCRIPTION"):
                    entry.set("DESCRIPTION", value.get("DESCRIPTION", ""))
                if child.get("EXT_REF"):
                    entry.set("EXT_REF", child.get("EXT_REF", ""))
                entry.text = value.text if value is not None else ""
                cv.insert(list(cv).index(child), entry)
                cv.remove(child)
    for language in list(root.iter("LANGUAGE")):
        if language.get("LANG_ID") == "und":  # added by pympi for old descriptions; not part of 2.7
            root.remove(language)


def _indent(element: etree.Element, level: int = 0) -> None:
    """Indent like pympi's pretty printer (tabs), after the tree was changed."""
    etree.indent(element, space="\t", level=level)
