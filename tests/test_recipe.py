from __future__ import annotations

import pytest

from avanon import recipe
from avanon.errors import ParameterError


def test_builtins_load_and_round_trip():
    names = recipe.builtin_names()
    assert {"default", "pixelate", "blur"} <= set(names)
    for name in names:
        r = recipe.load(name)
        again = recipe.parse(r.to_yaml())
        assert again.dump() == r.dump()


def test_default_is_solid_and_blur_is_documented_as_reversible():
    assert recipe.load("default").video.obfuscation.name == "solid"
    assert "REVERSIBLE" in recipe.load("blur").description


def test_yaml_file_and_errors(tmp_path):
    good = tmp_path / "mine.yaml"
    good.write_text("name: mine\nvideo:\n  obfuscation: {name: pixelate, cells: 8}\n")
    assert recipe.load(good).video.obfuscation.params == {"cells": 8}
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\nvideo:\n  obfuscation: {name: pixelate, cells: 1000}\n")
    with pytest.raises(ParameterError, match="The 'cells' parameter of Pixelate must be an int in the range \\[2, 64\\]. Got 1000"):
        recipe.load(bad)
    typo = tmp_path / "typo.yaml"
    typo.write_text("name: typo\nvidoe: {}\n")
    with pytest.raises(ParameterError, match=f"{typo}: invalid recipe: vidoe"):
        recipe.load(typo)
    with pytest.raises(ParameterError, match="Unknown recipe 'nothing'"):
        recipe.load("nothing")
    with pytest.raises(ParameterError, match="not valid YAML"):
        recipe.parse("name: [", source="x.yaml")


def test_extends_merges_and_refuses_unknown_bases(tmp_path):
    mine = tmp_path / "mine.yaml"
    mine.write_text("name: mine\nextends: default\nvideo:\n  tracking: {margin: 20}\n")
    r = recipe.load(mine)
    base = recipe.load("default")
    assert r.video.tracking.margin == 20
    assert r.video.tracking.max_gap == base.video.tracking.max_gap
    assert [s.name for s in r.video.detectors] == [s.name for s in base.video.detectors]
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\nextends: nothing\n")
    with pytest.raises(ParameterError, match="unknown built-in recipe 'nothing'"):
        recipe.load(bad)
