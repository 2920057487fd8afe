"""Real-browser fixtures: the portal served by uvicorn on a loopback port, and Debian's headless Chromium
driven by Playwright (the browser is /usr/bin/chromium, never downloaded by a test tool)."""

from __future__ import annotations

import os
import socket
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from access_support import build_world  # noqa: E402

CHROMIUM = Path(os.environ.get("AVANON_CHROMIUM", "/usr/bin/chromium"))
ARTIFACTS = Path(os.environ.get("AVANON_TEST_ARTIFACTS", Path(__file__).resolve().parents[2] / "build" / "test-artifacts")) / "browser"
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, object]]:
    """The portal over a world (see access_support.build_world) on http://127.0.0.1:PORT."""
    import uvicorn

    from avanon.portal import create_app

    tmp = tmp_path_factory.mktemp("browser")
    gov, users, secrets, release, run = build_world(f"sqlite:///{tmp / 'catalogue.sqlite'}", tmp, mfa_for_all=True)
    gov.approve_release(users["steward"], release)
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(gov), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the portal did not start")
        time.sleep(0.05)
    try:
        yield {"url": f"http://127.0.0.1:{port}", "gov": gov, "users": users, "secrets": secrets, "run": run}
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """A persistent Chromium context with a fresh --user-data-dir (Playwright passes --headless)."""
    from playwright.sync_api import sync_playwright

    if not CHROMIUM.is_file():
        raise FileNotFoundError(f"{CHROMIUM} is missing: install Debian's chromium (`make test` does: scripts/test-services.sh).")
    profile = tmp_path_factory.mktemp("chromium-profile")
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(str(profile), executable_path=str(CHROMIUM), headless=True, args=FLAGS, accept_downloads=True)
        try:
            yield context
        finally:
            context.close()


@pytest.fixture()
def shoot(request: pytest.FixtureRequest):  # type: ignore[no-untyped-def]
    """Save a full-page screenshot under build/test-artifacts/browser/<test>-<name>.png."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)

    def save(page, name: str) -> Path:  # type: ignore[no-untyped-def]
        path = ARTIFACTS / f"{request.node.name}-{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return save
