"""Bounded load test on loopback: 50 concurrent downloads of a large anonymized video all succeed,
byte-identical, while the server's memory stays bounded (files are streamed, never loaded whole)."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import psutil
import pytest

from access_support import build_world
from avanon.portal import create_app

CLIENTS = 50
SIZE_MB = int(os.environ.get("AVANON_LOAD_SIZE_MB", "64"))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.slow
def test_fifty_concurrent_downloads_bounded_memory(tmp_path: Path) -> None:
    import uvicorn

    gov, users, _secrets, release, run = build_world(f"sqlite:///{tmp_path / 'catalogue.sqlite'}", tmp_path)
    big = run / "p02" / "talk.wav"
    block = os.urandom(1 << 20)
    digest = hashlib.sha256()
    with open(big, "wb") as sink:
        for _ in range(SIZE_MB):
            sink.write(block)
            digest.update(block)
    manifest = json.loads((run / "avanon_manifest.json").read_text())
    for entry in manifest["entries"]:
        if entry["output"] == "p02/talk.wav":
            entry["output_sha256"] = digest.hexdigest()
    (run / "avanon_manifest.json").write_text(json.dumps(manifest))
    release = gov.register_release("stew", run, study="study1", name="big", tiers={"audio": "public"}, participants={"p02/talk.wav": ["P02"]})
    gov.approve_release(users["steward"], release)
    file_id = next(f.id for f in gov.catalogue(users["guest"]) if f.release == "big")

    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(gov), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    base = f"http://127.0.0.1:{port}"
    token, _ = gov.login("guest", "correct horse battery", None)
    process = psutil.Process()
    baseline = process.memory_info().rss
    peak = baseline
    stop = threading.Event()

    def watch() -> None:
        nonlocal peak
        while not stop.is_set():
            peak = max(peak, process.memory_info().rss)
            time.sleep(0.02)

    def fetch(_: int) -> tuple[int, str]:
        h = hashlib.sha256()
        with httpx.Client(base_url=base, cookies={"avanon_session": token}, timeout=120) as client:
            with client.stream("GET", f"/files/{file_id}/download") as response:
                for chunk in response.iter_bytes(1 << 16):
                    h.update(chunk)
                return response.status_code, h.hexdigest()

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    started = time.monotonic()
    try:
        with ThreadPoolExecutor(CLIENTS) as pool:
            results = list(pool.map(fetch, range(CLIENTS)))
    finally:
        elapsed = time.monotonic() - started
        stop.set()
        server.should_exit = True
        thread.join(timeout=10)
    assert [status for status, _ in results] == [200] * CLIENTS
    assert {sha for _, sha in results} == {digest.hexdigest()}
    growth_mb = (peak - baseline) / 2**20
    print(f"{CLIENTS} x {SIZE_MB} MiB in {elapsed:.1f} s; peak RSS growth {growth_mb:.0f} MiB (client and server in one process)")
    assert growth_mb < 400, f"memory grew by {growth_mb:.0f} MiB while {SIZE_MB * CLIENTS} MiB were served"
    downloads = [e for e in gov.audit.entries(action="download") if e.actor == "guest"]
    assert len(downloads) == CLIENTS and gov.audit.verify() == []
