"""Known limitations of every registered method, in plain words, in one place.

The methods statement (:mod:`avanon.provenance.methods`) quotes the entry of each method a run used,
so an ethics board reads what each step does *not* do next to what it does. The texts hold no
numbers: every number in a methods statement comes from a file of the release (the manifest or
the evaluation), and measured limits belong there. ``tests/test_methods.py`` checks that every
registered transform, detector and redaction has an entry here.

Keys are ``(kind, name)`` as in :mod:`avanon.registry`; ``GENERAL`` lists limitations of the run
as a whole (they apply whatever the recipe).
"""

from __future__ import annotations

LIMITATIONS: dict[tuple[str, str], str] = {
    # face detectors
    ("detector", "blazeface"): (
        "A face detector trained mostly on frontal and near-frontal faces: it misses some profiles, heads "
        "turned away, very small background faces and faces covered by hands or objects."
    ),
    ("detector", "centerface"): (
        "A second face detector run only on some frames (and on the first frame of each new shot); faces "
        "it alone finds are covered only from the frames it runs on, through tracking."
    ),
    ("detector", "pose-head"): (
        "Head positions estimated from body pose: it finds heads the face detectors miss, but only for "
        "people whose body the pose model finds; people mostly out of frame or hidden are not found."
    ),
    # face obfuscations
    ("obfuscation", "solid"): (
        "An opaque box over each detected face; not reversible, but a face that no detector found is "
        "not covered, and hair, clothing, body shape, voice and surroundings remain visible."
    ),
    ("obfuscation", "pixelate"): (
        "Coarse blocks over each face. Pixelation keeps the face's average colours and rough layout; "
        "recognition from pixelated faces is possible for people who know the participant, and "
        "machine attacks on pixelation exist. Not recommended for public sharing."
    ),
    ("obfuscation", "blur"): (
        "A Gaussian blur over each face. Blurring is reversible by modern attacks and leaves faces recognisable to acquaintances: never use it for sharing."
    ),
    # video filters
    ("video", "face-mesh"): (
        "Each face is replaced by a rendering of its landmarks: expression geometry, gaze and head "
        "orientation stay, and facial proportions carried by the landmarks stay with them; hair, "
        "body, clothing and the room are untouched."
    ),
    ("video", "background"): (
        "Everything outside the people is replaced: rooms, photos on walls, name tags on tables go, "
        "but objects held by or touching a person, and regions kept on purpose, stay; the people "
        "themselves (bodies, clothing, gait) stay visible."
    ),
    ("video", "skeleton"): (
        "Each person becomes a drawn skeleton: body proportions, posture and movement (gait) remain, "
        "and they can be identifying for people who know the participant."
    ),
    ("video", "silhouette"): ("Each person becomes a filled silhouette: outline, body shape, hair outline and movement remain."),
    ("video", "consent"): (
        "People matched to reference photos of consenting participants stay visible. A wrong match "
        "would leave a non-consenting person visible for a short time; anything uncertain is masked, "
        "so consenting people are sometimes masked too."
    ),
    # voices
    ("voice", "mcadams"): (
        "Formants are shifted by a signal-processing transform; pitch, timing, speaking style, accent "
        "and the words stay. Attackers who know the method and train on transformed speech link "
        "voices far more often than naive listeners do."
    ),
    ("voice", "pseudo-speaker"): (
        "Pitch level and timbre are replaced by a keyed pseudo-voice; the intonation contour, "
        "speaking rate, pauses, accent, the words and non-speech sounds stay. The same speaker gets "
        "the same pseudo-voice in every file of a study (by design), so sessions of one participant "
        "remain linkable inside one release."
    ),
    ("voice", "resynth"): (
        "The words are re-spoken by a synthetic voice at their original times; what the recognizer "
        "did not hear (laughter, fillers, other languages, child vocalisations) is lost, recognition "
        "errors become wrong words, and the words themselves and the timing of turns remain."
    ),
    # spoken personal information
    ("redaction", "redact"): (
        "Spoken names, places, numbers and dates are covered where the offline English recognizer "
        "heard them: words it misheard or did not transcribe, other languages, and details that "
        "identify without being names (a rare job, a local event) are not covered."
    ),
}

GENERAL: tuple[str, ...] = (
    "The content of what people say and do is kept on purpose; a participant can be recognised from "
    "what they talk about or from a distinctive event in a recording.",
    "Container metadata is removed and names in file paths are replaced, but durations, frame counts "
    "and recording order remain and can link files to an external schedule.",
    "Annotation text is checked by pattern and named-entity recognizers; identifying details written in free text in an unusual form can remain.",
    "Anyone holding the study secret (or the seed a run was made with) can rebuild the voice mapping.",
)


def limitation(kind: str, name: str) -> str:
    """The plain-words limitation of the method ``name`` of ``kind`` (empty when none is recorded)."""
    return LIMITATIONS.get((kind, name), "")
