"""Shared fixtures: an isolated HUDDLE_HOME, a network guard, and script helpers."""

from __future__ import annotations

import ipaddress
import socket
import sys
from pathlib import Path

import pytest
import yaml
from _procs import free_port

from studio.spec import TeamSpec, dump_spec, load_spec, parse_spec

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
    yield
    if "studio._run_state" in sys.modules:  # the run logs and checkpoints this test's homes opened: closed
        sys.modules["studio._run_state"].release(tmp_path)


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


def hashed(spec):
    """``spec`` with the deterministic hash embedder (no torch): what scripted runs use."""
    memory = spec.memory.model_copy(update={"embedder": spec.memory.embedder.model_copy(update={"model": "hash"})})
    return spec.model_copy(update={"memory": memory})


def duo_team(timeout_s: float) -> TeamSpec:
    """A coder and a critic routed by edges, instant retries, no memory, the sandbox on with ``timeout_s``."""
    return parse_spec({
        "name": "duo",
        "roles": [{"name": "coder", "kind": "coder"}, {"name": "critic", "kind": "critic"}],
        "flow": {"edges": [{"from": "coder", "to": "critic"}, {"from": "critic", "to": "coder"}], "max_rounds": 6},
        "defaults": {"retry_backoff_s": 0},
        "memory": {"enabled": False},
        "sandbox": {"timeout_s": timeout_s},
    })


@pytest.fixture
def dev_team():
    """The example dev team, with instant retries and the hash embedder."""
    spec = load_spec(DEV_TEAM)
    return hashed(spec.model_copy(update={"defaults": spec.defaults.model_copy(update={"retry_backoff_s": 0.0})}))


@pytest.fixture
def team_file(tmp_path, monkeypatch) -> Path:
    """A copy of the dev team, opened as ``huddle ui --team FILE`` opens it."""
    path = tmp_path / "my_team.yaml"
    path.write_text(DEV_TEAM.read_text())
    monkeypatch.setenv("HUDDLE_UI_TEAM", str(path))
    return path


@pytest.fixture
def dev_team_file(tmp_path, dev_team) -> Path:
    """The example dev team as a file, with the hash embedder (subprocesses load no torch model)."""
    path = tmp_path / "dev_team.yaml"
    path.write_text(dump_spec(dev_team))
    return path


def start_chroma_server(folder: Path):
    """Start ``chroma run`` on a free loopback port with its data in ``folder``; (process, URL) once it answers."""
    import shutil
    import subprocess
    import sys
    import time
    import urllib.request

    exe = shutil.which("chroma", path=str(Path(sys.executable).parent)) or shutil.which("chroma")
    assert exe, "the chroma command (from the chromadb package) is missing"
    port = free_port()
    log = open(folder / "server.log", "w")  # noqa: SIM115 - the server writes to it until it stops
    proc = subprocess.Popen([exe, "run", "--path", str(folder / "db"), "--host", "127.0.0.1", "--port", str(port)],
                            stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(f"{url}/api/v2/heartbeat", timeout=1).read()
            return proc, url
        except OSError:
            assert proc.poll() is None, (folder / "server.log").read_text()
            assert time.monotonic() < deadline, "chroma run did not answer within 60 s"
            time.sleep(0.2)


@pytest.fixture(scope="session")
def chroma_server(tmp_path_factory):
    """A real Chroma server (`chroma run`) on loopback for the session; yields its URL."""
    proc, url = start_chroma_server(tmp_path_factory.mktemp("chroma-server"))
    yield url
    proc.terminate()
    proc.wait(timeout=20)


@pytest.fixture
def namespace(request) -> str:
    """A memory namespace of this test's own (in-memory chroma clients are shared within a process)."""
    import hashlib

    return "t-" + hashlib.sha256(request.node.nodeid.encode()).hexdigest()[:12]


CHROMIUM = Path("/usr/bin/chromium")
# Chromium's own background traffic would hit this machine's closed network: keep it quiet.
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--no-first-run", "--disable-quic", "--disable-dev-shm-usage"]


@pytest.fixture
def browser():
    """Debian's chromium under Playwright (never a downloaded browser); fails, not skips, without it."""
    from playwright.sync_api import sync_playwright

    assert CHROMIUM.exists(), "the studio's browser test needs Debian's chromium: apt-get install chromium"
    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
        yield launched
        launched.close()


@pytest.fixture
def downloads(monkeypatch):
    """Every media store the AppTest runs make, so a test can read what the download button serves."""
    import streamlit.testing.v1.app_test as app_test

    stores = []

    class Recording(app_test.MemoryMediaFileStorage):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            stores.append(self)

    monkeypatch.setattr(app_test, "MemoryMediaFileStorage", Recording)
    return stores


@pytest.fixture
def two_runs(dev_team, script):
    """Two done runs of the dev team: A with its script, B (the newer) with the planner's one reply changed."""
    from studio.runner import run_team

    replies = yaml.safe_load(DEV_SCRIPT.read_text())
    replies["planner"] = ['{"steps": [{"id": "s1", "description": "Write fizzbuzz(n) for any n", '
                          '"depends_on": []}]}']
    a = run_team(dev_team, "Write fizzbuzz", model=f"scripted:{DEV_SCRIPT}")
    b = run_team(dev_team, "Write fizzbuzz", model=script(replies))
    assert (a.status, b.status) == ("done", "done")
    return a.run_id, b.run_id
