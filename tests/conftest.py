"""Shared fixtures: an isolated HUDDLE_HOME, a network guard, and script helpers."""

from __future__ import annotations

import ipaddress
import socket
from pathlib import Path

import pytest
import yaml

from studio.spec import load_spec

ROOT = Path(__file__).resolve().parents[1]
DEV_TEAM = ROOT / "examples" / "teams" / "dev_team.yaml"
DEV_SCRIPT = ROOT / "examples" / "scripts" / "dev_team.yaml"

_real_connect = socket.socket.connect


def _guarded_connect(self, address):
    """Fail any connection that leaves this machine: unit tests never call a real provider."""
    if self.family in (socket.AF_INET, socket.AF_INET6):
        host = address[0]
        try:
            loopback = ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = host == "localhost"
        if not loopback:
            raise ConnectionRefusedError(f"network call to {address!r} blocked in tests")
    return _real_connect(self, address)


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    monkeypatch.setenv("HUDDLE_HOME", str(tmp_path / "home"))
    monkeypatch.setattr(socket.socket, "connect", _guarded_connect)
    for key in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY"):
        monkeypatch.delenv(key, raising=False)


@pytest.fixture
def home(tmp_path) -> Path:
    return tmp_path / "home"


@pytest.fixture
def script(tmp_path):
    """Write a scripted-model file; returns the ``scripted:PATH`` model string."""
    counter = iter(range(1000))

    def write(replies: dict) -> str:
        path = tmp_path / f"script{next(counter)}.yaml"
        path.write_text(yaml.safe_dump(replies, sort_keys=False))
        return f"scripted:{path}"

    return write


@pytest.fixture
def dev_team():
    """The example dev team, with instant retries."""
    spec = load_spec(DEV_TEAM)
    return spec.model_copy(update={"defaults": spec.defaults.model_copy(update={"retry_backoff_s": 0.0})})
