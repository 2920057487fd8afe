"""Contract tests over every registered method, and the registry itself."""

from __future__ import annotations

import numpy as np
import pytest
import yaml

from avanon import registry
from avanon.audio.base import VoiceTransform
from avanon.errors import ParameterError
from avanon.registry import Interval, Method, Options, Param, register

ALL = [(kind, name) for kind in registry.KINDS for name in registry.names(kind)]


def test_every_kind_with_media_has_methods():
    assert {"blazeface", "centerface", "pose-head"} <= set(registry.names("detector"))
    assert {"solid", "pixelate", "blur"} <= set(registry.names("obfuscation"))
    assert "mcadams" in registry.names("voice")


@pytest.mark.parametrize("kind,name", ALL)
def test_defaults_validate_and_round_trip(kind, name):
    cls = registry.get(kind, name)
    method = cls()
    params = method.get_params()
    assert set(params) == set(cls.params)
    again = cls(**yaml.safe_load(yaml.safe_dump(params)))
    assert again.get_params() == params


@pytest.mark.parametrize("kind,name", ALL)
def test_unknown_parameter_is_refused(kind, name):
    with pytest.raises(ParameterError, match="unknown parameter"):
        registry.create(kind, name, no_such_parameter=1)


@pytest.mark.parametrize("kind,name", ALL)
def test_bad_values_give_the_standard_message(kind, name):
    cls = registry.get(kind, name)
    for key in cls.params:
        with pytest.raises(ParameterError) as info:
            cls(**{key: object()})
        assert str(info.value).startswith(f"The {key!r} parameter of {cls.__name__} must be ")
        assert "instead." in str(info.value)


def test_interval_message_quotes_range_and_value():
    with pytest.raises(ParameterError, match=r"The 'alpha' parameter of McAdams must be a float in the range \[0.5, 1.0\] or a NoneType. Got 1.3 instead."):
        registry.create("voice", "mcadams", alpha=1.3)


def test_unknown_name_lists_allowed():
    with pytest.raises(ParameterError, match="allowed: .*solid"):
        registry.get("obfuscation", "nope")


@pytest.fixture()
def scratch_registry(monkeypatch):
    """The global registry with every kind copied, so that classes a test registers vanish after it."""
    for kind in registry.KINDS:
        monkeypatch.setitem(registry._REGISTRY, kind, dict(registry._REGISTRY[kind]))
    return registry._REGISTRY


def test_duplicate_names_are_refused(scratch_registry):
    class A(Method):
        kind = "metric"
        name = "contract-test-dup"
        params = {"x": Param(1, Interval(int, 0, 3))}

    register(A)
    assert scratch_registry["metric"]["contract-test-dup"] is A

    class B(Method):
        kind = "metric"
        name = "contract-test-dup"
        params = {"y": Param("a", Options(("a", "b")))}

    with pytest.raises(ParameterError, match="already taken"):
        register(B)


def test_scratch_registrations_do_not_leak():
    assert "contract-test-dup" not in registry.names("metric")


def test_a_voice_without_stream_cannot_be_instantiated():
    class NoStream(VoiceTransform):
        name = "contract-test-no-stream"

    with pytest.raises(TypeError, match="abstract method.*stream"):
        NoStream()


def test_a_method_with_its_working_method_can_be_instantiated():
    class Silent(VoiceTransform):
        name = "contract-test-silent"

        def stream(self, sample_rate, channels, *, seed, speaker):  # type: ignore[no-untyped-def]
            raise AssertionError("not called")

    assert Silent().get_params() == {}


@pytest.mark.parametrize("name", registry.names("obfuscation"))
def test_obfuscations_are_deterministic_and_change_only_boxes(name):
    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, (60, 80, 3), dtype=np.uint8)
    boxes = [(10.5, 5.2, 40.0, 35.9)]
    a = registry.create("obfuscation", name).apply(image.copy(), boxes)
    b = registry.create("obfuscation", name).apply(image.copy(), boxes)
    assert np.array_equal(a, b)
    outside = np.ones(image.shape[:2], bool)
    outside[5:36, 10:40] = False
    assert np.array_equal(a[outside], image[outside])
    assert not np.array_equal(a[6:35, 11:40], image[6:35, 11:40])


@pytest.mark.parametrize("name", registry.names("voice"))
def test_voices_keep_length_and_are_deterministic(name):
    rate = 16000
    t = np.arange(int(0.7 * rate)) / rate
    x = (0.2 * np.sin(2 * np.pi * 150 * t) + 0.01 * np.random.default_rng(1).standard_normal(t.size)).astype(np.float32)
    voice = registry.create("voice", name)
    y1 = voice.apply(x, rate, seed=3, speaker="sub-01")
    y2 = voice.apply(x, rate, seed=3, speaker="sub-01")
    assert y1.shape == x.shape
    assert np.array_equal(y1, y2)


# ------------------------------------------------------------------------------ every kind, one contract
def test_every_kind_has_registered_methods():
    assert all(registry.names(kind) for kind in registry.KINDS)


def _out_of_range(spec: Param):  # type: ignore[no-untyped-def]
    """A value the parameter's constraint refuses although its type is right, or None."""
    constraint = spec.constraint
    if isinstance(constraint, Interval) and constraint.high is not None:
        return constraint.type(constraint.high + 1)
    if isinstance(constraint, Interval) and constraint.low is not None:
        return constraint.type(constraint.low - 1)
    if isinstance(constraint, Options) and all(isinstance(v, str) for v in constraint.values):
        return "no-such-option"
    return None


@pytest.mark.parametrize("kind,name", ALL)
def test_out_of_range_values_give_the_standard_message(kind, name):
    cls = registry.get(kind, name)
    for key, spec in cls.params.items():
        bad = _out_of_range(spec)
        if bad is None:
            continue
        with pytest.raises(ParameterError) as info:
            cls(**{key: bad})
        assert str(info.value) == f"The {key!r} parameter of {cls.__name__} must be {spec.constraint.describe()}. Got {bad!r} instead."


@pytest.mark.parametrize("kind,name", ALL)
def test_non_default_values_survive_a_yaml_round_trip(kind, name):
    cls = registry.get(kind, name)
    changed = {}
    for key, spec in cls.params.items():
        c = spec.constraint
        if isinstance(c, Interval) and c.low is not None and c.high is not None:
            mid = c.low + (c.high - c.low) / 2
            changed[key] = c.type(round(mid)) if c.type is int else float(mid)
        elif isinstance(c, Options) and len(c.values) > 1:
            changed[key] = next(v for v in c.values if v != spec.default)
    method = cls(**changed)
    params = method.get_params()
    assert cls(**yaml.safe_load(yaml.safe_dump(params))).get_params() == params


@pytest.fixture(scope="module")
def portrait():  # type: ignore[no-untyped-def]
    from PIL import Image
    from tests.conftest import DEV

    return np.asarray(Image.open(DEV / "face_recognition_examples/examples/obama-480p.jpg").convert("RGB"))


@pytest.mark.parametrize("name", registry.names("detector"))
def test_detectors_are_deterministic_and_stay_inside_the_frame(name, portrait):
    h, w = portrait.shape[:2]
    runs = []
    for _ in range(2):
        detector = registry.create("detector", name).session()
        runs.append([(d.box, d.score) for d in detector.detect(portrait.copy())])
        detector.close()
    assert runs[0] == runs[1]
    for (x0, y0, x1, y1), score in runs[0]:
        assert 0 <= x0 < x1 <= w and 0 <= y0 < y1 <= h
        assert 0.0 <= score <= 1.0


def test_the_frame_detectors_find_the_portrait_face(portrait):
    for name in ("blazeface", "centerface"):
        found = registry.create("detector", name).detect(portrait.copy())
        centres = np.array([((d.x0 + d.x1) / 2, (d.y0 + d.y1) / 2) for d in found])
        assert len(found) >= 1, name
        assert np.ptp(centres, axis=0).max() < 30, f"{name} found boxes away from the one face: {found}"


@pytest.fixture(scope="module")
def small_street(street):  # type: ignore[no-untyped-def]
    import cv2

    return cv2.resize(street, (640, 360), interpolation=cv2.INTER_AREA)


@pytest.mark.parametrize("name", registry.names("video"))
def test_video_filters_keep_the_frame_shape_and_are_deterministic(name, small_street):
    h, w = small_street.shape[:2]
    boxes = [(300.0, 40.0, 340.0, 90.0)]
    outputs = []
    for _ in range(2):
        session = registry.create("video", name).session(width=w, height=h, fps=25.0)
        frames = [session.apply(small_street.copy(), list(boxes), index=i) for i in range(3)]
        session.close()
        outputs.append(frames)
    for (a, boxes_a), (b, boxes_b) in zip(*outputs):
        assert a.shape == small_street.shape and a.dtype == np.uint8
        assert np.array_equal(a, b)
        assert boxes_a == boxes_b
        assert set(boxes_a) <= set(boxes)  # a filter may keep a consented face visible, never add a box


@pytest.mark.parametrize("mode", ["silence", "tone", "noise"])
def test_redaction_is_deterministic_and_changes_only_its_spans(mode):
    from avanon.audio.redact import Redaction

    rate = 16000
    x = (0.1 * np.random.default_rng(2).standard_normal((rate, 2))).astype(np.float32)
    spans = [Redaction(0.25, 0.5, "PERSON", "transcript")]
    redactor = registry.create("redaction", "redact", mode=mode)
    a = redactor.apply(x, rate, spans)
    b = registry.create("redaction", "redact", mode=mode).apply(x, rate, spans)
    assert a.shape == x.shape and a.dtype == np.float32
    assert np.array_equal(a, b)
    assert np.array_equal(a[: rate // 4], x[: rate // 4]) and np.array_equal(a[rate // 2 :], x[rate // 2 :])
    assert not np.allclose(a[rate // 4 + 200 : rate // 2 - 200], x[rate // 4 + 200 : rate // 2 - 200])


@pytest.mark.parametrize("name", registry.names("metric"))
def test_metrics_declare_direction_aspect_and_unit(name):
    from avanon.evaluate.base import ASPECTS, DIRECTIONS, Metric

    cls = registry.get("metric", name)
    assert issubclass(cls, Metric)
    assert cls.direction in DIRECTIONS and cls.aspect in ASPECTS and isinstance(cls.unit, str)
    assert (cls.__doc__ or "").strip(), f"{cls.__name__} has no docstring"


def _acoustic_metrics() -> list[str]:
    from avanon.evaluate.speech import SpeechMetric

    return [n for n in registry.names("metric") if issubclass(registry.get("metric", n), SpeechMetric) and n != "wer"]


@pytest.mark.parametrize("name", _acoustic_metrics())
def test_acoustic_metrics_are_deterministic(name):
    rate = 16000
    t = np.arange(rate) / rate
    env = (np.sin(2 * np.pi * 2 * t) > 0).astype(np.float32)  # 250 ms syllables and pauses
    x = (env * 0.3 * np.sin(2 * np.pi * (140 + 20 * t) * t)).astype(np.float32)
    y = (env * 0.3 * np.sin(2 * np.pi * (180 + 20 * t) * t)).astype(np.float32)
    a = registry.create("metric", name).compute(x, y, rate)
    b = registry.create("metric", name).compute(x, y, rate)
    assert a.metric == name and a.direction == registry.get("metric", name).direction
    assert a.to_json() == b.to_json()
