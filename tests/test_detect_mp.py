"""MediaPipe is imported without matplotlib.pyplot (start-up time of every run and worker)."""

from __future__ import annotations

import subprocess
import sys


def _run(code: str) -> list[str]:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return out.strip().splitlines()


def test_mediapipe_loads_without_pyplot_and_pyplot_still_works():
    lines = _run(
        "import sys\n"
        "from avanon.detect.mp import mediapipe\n"
        "mp = mediapipe()\n"
        "print(hasattr(mp.solutions, 'pose'), 'matplotlib.pyplot' in sys.modules, 'matplotlib' in sys.modules)\n"
        "import matplotlib\n"
        "matplotlib.use('Agg')\n"
        "import matplotlib.pyplot as plt\n"
        "print(type(plt).__name__, callable(plt.figure))\n"
        "from mediapipe.python.solutions import drawing_utils\n"
        "print(drawing_utils.plt.figure is plt.figure)\n"
    )
    assert lines == ["True False False", "module True", "True"]


def test_mediapipe_after_pyplot_is_the_plain_import():
    lines = _run(
        "import matplotlib\n"
        "matplotlib.use('Agg')\n"
        "import matplotlib.pyplot as plt\n"
        "from avanon.detect.mp import mediapipe\n"
        "mediapipe()\n"
        "from mediapipe.python.solutions import drawing_utils\n"
        "print(drawing_utils.plt is plt)\n"
    )
    assert lines == ["True"]


def test_model_lookup_imports_mediapipe_the_same_way():
    lines = _run(
        "import sys\n"
        "from avanon.detect.faces import BLAZEFACE_FULL\n"
        "BLAZEFACE_FULL.path()\n"
        "print('mediapipe' in sys.modules, 'matplotlib.pyplot' in sys.modules)\n"
    )
    assert lines == ["True False"]
