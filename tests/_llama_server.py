"""llama-cpp-python's OpenAI-compatible server on loopback, serving the embedded GGUF, for the provider tests.

The server runs in its own process with the ``chatml-function-calling`` chat format (SmolLM2 is a ChatML model),
which turns OpenAI ``tools=`` into grammar-constrained calls. :func:`llama_server` is a session fixture: one
server for the whole test session, stopped at the end.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from _procs import free_port, stop

from studio.llm.local import gguf_path

MODEL_NAME = "smollm2"
"""The name the server answers to (``--model_alias``): Huddle's model string is ``openai/smollm2``."""


def start_llama_server(folder: Path, timeout_s: float = 90) -> tuple[subprocess.Popen, str]:
    """Start the server on a free loopback port, logging to ``folder``; (process, ``http://.../v1``) once it answers.

    Raises:
        AssertionError: the server exited, or did not list its model within ``timeout_s`` (with its log).
    """
    port = free_port()
    log_path = folder / "llama_server.log"
    log = open(log_path, "w")  # noqa: SIM115 - the server writes to it until it stops
    proc = subprocess.Popen(
        [sys.executable, "-m", "llama_cpp.server", "--model", str(gguf_path("smollm2")), "--model_alias", MODEL_NAME,
         "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "2048", "--seed", "0",
         # one thread: on a busy machine llama.cpp's spinning threads make 2 threads several times slower than 1
         "--n_threads", "1", "--n_threads_batch", "1", "--chat_format", "chatml-function-calling"],
        stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/v1"
    direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: never through a proxy
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            listed = json.loads(direct.open(f"{url}/models", timeout=2).read())
            assert [m["id"] for m in listed["data"]] == [MODEL_NAME], listed
            return proc, url
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                stop(proc)
                raise AssertionError(f"llama_cpp.server did not start: {log_path.read_text()[-3000:]}") from None
            time.sleep(0.25)


@pytest.fixture(scope="session")
def llama_server(tmp_path_factory) -> Iterator[str]:
    """The server's base URL (``http://127.0.0.1:PORT/v1``) for the whole session."""
    proc, url = start_llama_server(tmp_path_factory.mktemp("llama_server"))
    try:
        yield url
    finally:
        stop(proc)
