"""Fake iPhones for the iOS driver tests: the fake ``xcrun`` (tests/support/fake_xcrun) on PATH,
a state folder describing the phones, and a stand-in ``PhoneNASBench.app`` folder to install.

Import the ``iphones`` fixture into a test module (``from tests.support.ios_fixtures import iphones``);
it also makes ``android_bench.ios_app.host_is_macos`` answer True, since devicectl exists only on macOS.
"""

from __future__ import annotations

import functools
import json
import os
import signal
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from android_bench import MeasurementProtocol
from android_bench import ios_app as ios_app_module
from android_bench.ios_app import BUNDLE_ID

FAKE_DIR = Path(__file__).parent / "fake_xcrun"
UDID = "00008110-001A2B3C4D5E801E"
IDENTIFIER = "6A1B2C3D-1111-2222-3333-444455556666"
UDID2 = "00008120-000A1B2C3D4E5F60"

# quick protocol for tests: no host temperature gate, no pinning, one retry without backoff
FAST = MeasurementProtocol(
    warmup=2, runs=5, cooldown_s=0, max_temp_c=None, affinity="none", max_retries=1, backoff_s=0,
    cv_threshold=100.0, run_timeout_s=60,
)  # fmt: skip


def phone(udid: str = UDID, identifier: str = IDENTIFIER, **overrides: object) -> dict:
    entry = {
        "udid": udid, "identifier": identifier, "name": "Bench iPhone", "productType": "iPhone15,2",
        "marketingName": "iPhone 14 Pro", "osVersion": "17.5.1", "cpu": "arm64e",
        "pairingState": "paired", "tunnelState": "connected", "transportType": "wired",
    }  # fmt: skip
    entry.update(overrides)
    return entry


def build_app(root: Path, version: str = "1", bundle_id: str = BUNDLE_ID) -> Path:
    """A stand-in PhoneNASBench.app folder (the fake's `install app` reads standin.json)."""
    app = root / f"v{version}" / "PhoneNASBench.app"
    app.mkdir(parents=True, exist_ok=True)
    (app / "standin.json").write_text(json.dumps({"bundleIdentifier": bundle_id}))
    (app / "PhoneNASBench").write_bytes(f"stand-in executable build {version}\n".encode())
    return app


class FakeIphones:
    def __init__(self, state: Path) -> None:
        self.state = state
        self.write([phone()])

    def write(self, devices: list[dict], **extra: object) -> None:
        config = {"devices": devices, "python": sys.executable, **extra}
        (self.state / "config.json").write_text(json.dumps(config))

    def update(self, udid: str = UDID, **changes: object) -> None:
        config = json.loads((self.state / "config.json").read_text())
        for d in config["devices"]:
            if d["udid"] == udid:
                d.update(changes)
        (self.state / "config.json").write_text(json.dumps(config))

    def calls(self) -> list[list[str]]:
        path = self.state / "calls.jsonl"
        return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []

    def count(self, *words: str) -> int:
        return sum(1 for c in self.calls() if c[1 : 1 + len(words)] == list(words))

    def container(self, udid: str = UDID, bundle_id: str = BUNDLE_ID) -> Path:
        return self.state / "phones" / udid / "containers" / bundle_id

    def live_apps(self, udid: str = UDID) -> list[int]:
        folder = self.state / "phones" / udid / "procs"
        pids = []
        for f in folder.iterdir() if folder.is_dir() else []:
            try:
                stat = Path(f"/proc/{f.name}/stat").read_text()
            except OSError:
                continue
            if stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X"):
                pids.append(int(f.name))
        return pids

    def env(self) -> dict[str, str]:
        env = {"PATH": f"{FAKE_DIR}{os.pathsep}{os.environ['PATH']}", "FAKE_XCRUN_STATE": str(self.state)}
        native = standin_runner()
        if native:  # the stand-in app times .pte in one native process instead of importing torch per launch
            env["PHONENAS_STANDIN_RUNNER"] = native
        return env


@functools.cache
def standin_runner() -> str:
    """This host's phonenas-runner (built once, cached by source hash), or "" where it cannot be built:
    the stand-in app then times .pte through the Python runtime (slower, same results format)."""
    from android_bench.native import NativeBuildError, build_native_runner

    try:
        return str(build_native_runner())
    except NativeBuildError:
        return ""


@pytest.fixture
def iphones(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeIphones]:
    state = tmp_path / "xcrun-state"
    state.mkdir()
    fake = FakeIphones(state)
    for k, v in fake.env().items():
        monkeypatch.setenv(k, v)
    monkeypatch.setattr(ios_app_module, "host_is_macos", lambda: True)
    try:
        yield fake
    finally:
        for udid_dir in (state / "phones").glob("*"):
            for pid in fake.live_apps(udid_dir.name):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
