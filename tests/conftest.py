"""Shared fixtures: paths to the real dev recordings and small synthetic media."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DEV = (REPO.parent / "shared" / "data" / "dev").resolve()


@pytest.fixture(scope="session")
def dev_data() -> Path:
    """The shared dev recordings (../shared/data/dev); they must exist on every machine that runs the tests."""
    if not DEV.is_dir():
        raise FileNotFoundError(f"Dev recordings not found at {DEV}: the tests need ../shared/data/dev beside the repository.")
    return DEV


def _openpose_frame(dev: Path, index: int):  # type: ignore[no-untyped-def]
    import av

    with av.open(str(dev / "openpose_media/examples/media/video.avi")) as container:
        for k, frame in enumerate(container.decode(video=0)):
            if k == index:
                return frame.to_ndarray(format="rgb24")
    raise AssertionError(f"the openpose clip has no frame {index}")


@pytest.fixture(scope="session")
def street(dev_data: Path):  # type: ignore[no-untyped-def]
    """Frame 20 of the openpose street clip (1280x720 RGB): the dancer and passers-by."""
    return _openpose_frame(dev_data, 20)


@pytest.fixture(scope="session")
def dancer(dev_data: Path):  # type: ignore[no-untyped-def]
    """Frame 40 of the openpose street clip (1280x720 RGB), the dancer in full view."""
    return _openpose_frame(dev_data, 40)
