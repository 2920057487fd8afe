"""Contract tests over every registered method, and the registry itself."""

from __future__ import annotations

import numpy as np
import pytest
import yaml

from avanon import registry
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
    for key, spec in cls.params.items():
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


def test_duplicate_names_are_refused():
    class A(Method):
        kind = "metric"
        name = "contract-test-dup"
        params = {"x": Param(1, Interval(int, 0, 3))}

    register(A)

    class B(Method):
        kind = "metric"
        name = "contract-test-dup"
        params = {"y": Param("a", Options(("a", "b")))}

    with pytest.raises(ParameterError, match="already taken"):
        register(B)


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
