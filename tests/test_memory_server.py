"""Shared memory on a real Chroma server (`chroma run`): separate processes write and read one memory at once.

What is guaranteed, and checked here: however many processes add the same texts at
once, the memory holds each text once (ids are content hashes), exactly one writer
reports each new text as added (the one whose record was kept, with its provenance),
the others report it as a duplicate, and every process reads what the others wrote.
"""

from __future__ import annotations

import json
import os
import random
import secrets
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import yaml
from _chroma_server import add_texts, race_first_write, run_together, search
from _procs import free_port
from conftest import DEV_SCRIPT, start_chroma_server
from typer.testing import CliRunner

from memory import MemoryItem, VectorMemory, get_embedder
from memory.items import MemoryStoreError, item_id

HUDDLE = str(Path(sys.executable).parent / "huddle")
SERVICES = ["billing", "search", "auth", "upload", "mailer", "thumbnail", "export", "report", "audit", "gateway",
            "ledger", "catalog"]
FACTS = [f"The {s} service retries {n} times, then writes a {kind} alert to the on-call channel."
         for s in SERVICES for n, kind in ((2, "warning"), (3, "paging"), (5, "summary"), (8, "critical"))]


def huddle(*args: str, home: Path, **popen) -> subprocess.CompletedProcess | subprocess.Popen:
    """``huddle ARGS`` in its own process with its own HUDDLE_HOME (another machine, as far as Huddle can tell)."""
    env = {**os.environ, "HUDDLE_HOME": str(home), "COLUMNS": "200"}
    if popen:
        return subprocess.Popen([HUDDLE, *args], text=True, env=env, **popen)
    return subprocess.run([HUDDLE, *args], capture_output=True, text=True, env=env, timeout=300)


def _lines(out: subprocess.CompletedProcess) -> list[dict]:
    assert out.returncode == 0, out.stderr
    return [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]


def _team_file(tmp_path: Path, dev_team, namespace: str, url: str | None = None, **embedder) -> Path:
    data = dev_team.model_dump(mode="json", by_alias=True)
    data["memory"]["namespace"] = namespace
    data["memory"]["embedder"].update(embedder)
    if url:
        data["memory"]["url"] = url
    path = tmp_path / f"{namespace}-{len(list(tmp_path.glob('*.yaml')))}.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def _wait_for(url: str, proc: subprocess.Popen, seconds: float = 60, token: str | None = None) -> None:
    deadline = time.monotonic() + seconds
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    while True:
        try:
            urllib.request.urlopen(urllib.request.Request(f"{url}/api/v2/heartbeat", headers=headers),
                                   timeout=1).read()
            return
        except OSError:
            assert proc.poll() is None, f"the server exited with {proc.returncode}"
            assert time.monotonic() < deadline, f"nothing answered at {url} within {seconds} s"
            time.sleep(0.2)


# -- many writers, one memory -------------------------------------------------------------------------------------

@pytest.mark.parametrize("round_", range(3))
def test_writers_in_separate_processes_store_each_text_once_and_agree_who_added_it(chroma_server, namespace,
                                                                                    round_):
    rng = random.Random(round_)
    jobs, asked = [], {}
    for w in range(5):
        texts = rng.sample(FACTS, 36)
        # the same text, spaced differently: the same content hash, so the same record
        texts += ["  " + t.replace(" ", "   ") + "\n" for t in rng.sample(texts, 6)]
        rng.shuffle(texts)
        asked[f"w{w}"] = {item_id("knowledge", t) for t in texts}
        jobs.append((chroma_server, namespace, texts, f"w{w}", "small-batches"))
    expected = set().union(*asked.values())

    reports = run_together(add_texts, jobs)

    for report in reports:  # each writer accounts for each of its ids once: added or duplicate
        mine = report["added"] + report["duplicates"]
        assert len(mine) == len(set(mine)) and set(mine) == asked[report["writer"]]
    added = [i for r in reports for i in r["added"]]
    assert len(added) == len(set(added)) == len(expected)  # every new text added by exactly one writer
    assert sum(len(r["added"]) for r in reports) == len(expected)

    mem = VectorMemory(namespace, embedder=get_embedder("hash"), url=chroma_server)
    assert mem.count()["knowledge"] == len(expected)
    stored = mem.get(sorted(expected))
    assert len(stored) == len(expected) and len({h.metadata["content_hash"] for h in stored}) == len(expected)
    adder = {i: r["writer"] for r in reports for i in r["added"]}
    assert all(h.source == f"{adder[h.id]}.md" and h.writer == adder[h.id] for h in stored)  # the adder's record
    assert "write_id" not in stored[0].as_dict()

    # the adder may have stored the respaced copy of the text: find it whatever its spacing
    target = next(h for h in stored if "ledger service retries 8 times" in " ".join(h.text.split()))
    [found] = run_together(search, [(chroma_server, namespace, "ledger retries critical alert", "hash")])
    assert found["hits"][0] == {**found["hits"][0], "id": target.id, "source": target.source, "text": target.text}


def test_writes_interleaved_with_reads_across_processes(chroma_server, namespace):
    """Writers in two processes, then a third process reads each one's texts; adding again is all duplicates."""
    alice = [f for f in FACTS if "billing" in f or "auth" in f]
    bob = [f for f in FACTS if "auth" in f or "mailer" in f]
    jobs = [(chroma_server, namespace, alice, "alice", "hash"), (chroma_server, namespace, bob, "bob", "hash")]
    first = run_together(add_texts, jobs)
    assert sum(len(r["added"]) for r in first) == len(set(alice) | set(bob))
    hits = run_together(search, [(chroma_server, namespace, "mailer paging alert", "hash"),
                                 (chroma_server, namespace, "billing summary alert", "hash")])
    sources = sorted(r["hits"][0]["source"] for r in hits)
    assert sources == ["alice.md", "bob.md"]
    again = run_together(add_texts, jobs)
    assert [r["added"] for r in again] == [[], []]
    assert sorted(len(r["duplicates"]) for r in again) == sorted([len(alice), len(bob)])


def test_a_search_racing_another_process_first_write_still_answers(chroma_server, namespace):
    """A Chroma server fails a query that reaches a collection while another client writes its first vectors
    ("Error creating hnsw segment reader: Nothing found on disk"); a search waits that out instead of failing
    the run (it happened in two team runs started at once on one memory)."""
    jobs = [(chroma_server, namespace, 30, role) for role in ("writer", "searcher")]
    reports = {r["role"]: r for r in run_together(race_first_write, jobs)}
    assert reports["searcher"]["searches"] >= 30


@pytest.mark.slow
def test_the_bundled_minilm_model_across_processes_and_the_embedder_guard(chroma_server, namespace, tmp_path,
                                                                          dev_team, home):
    """Real sentence embeddings written by two processes, found by meaning from a third; a team with another
    embedder is refused with a message naming both."""
    docs = ["Store every timestamp in UTC and convert to local time only when showing it.",
            "Retry HTTP requests that fail with 503, with exponential back-off.",
            "Use pytest fixtures with tmp_path for tests that write files."]
    jobs = [(chroma_server, namespace, docs[:2], "alice", "all-MiniLM-L6-v2"),
            (chroma_server, namespace, docs[1:], "bob", "all-MiniLM-L6-v2")]
    reports = run_together(add_texts, jobs)
    assert sorted(i for r in reports for i in r["added"]) == sorted(item_id("knowledge", d) for d in docs)
    [found] = run_together(search, [(chroma_server, namespace, "what time zone should I save dates in",
                                     "all-MiniLM-L6-v2")])
    assert found["hits"][0]["text"] == docs[0]  # no word shared with the query: meaning, not spelling

    hashed_team = _team_file(tmp_path, dev_team, namespace, url=chroma_server)
    out = huddle("memory", "search", "dates", "--team", str(hashed_team), home=home)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert "was built with embedder 'all-MiniLM-L6-v2', but this team uses 'hash'" in out.stderr
    assert chroma_server in out.stderr


# -- the CLI and team runs against the server ---------------------------------------------------------------------

def test_concurrent_cli_ingests_report_consistent_counts(chroma_server, namespace, tmp_path, dev_team):
    docs = tmp_path / "docs"
    docs.mkdir()
    for n, service in enumerate(SERVICES):
        body = "\n\n".join(f for f in FACTS if f" {service} " in f)
        owner = f"## Owner\n\nTeam {n} owns the {service} service."
        (docs / f"{service}.md").write_text(f"# {service}\n\n{body}\n\n{owner}\n")
    team = _team_file(tmp_path, dev_team, namespace)  # no url in the file: --url points it at the server
    args = ["memory", "ingest", str(docs), "--team", str(team), "--url", chroma_server, "--chunk-size", "200",
            "--overlap", "0", "--json"]
    procs = [huddle(*args, home=tmp_path / f"machine{i}", stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for i in range(3)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], [err for _, err in outs]
    reports = [json.loads(out) for out, _ in outs]
    assert {r["location"] for r in reports} == {chroma_server}
    chunks = reports[0]["chunks"]
    assert chunks > len(SERVICES) and all(r["chunks"] == chunks and r["added"] + r["duplicates"] == chunks
                                          for r in reports)
    assert sum(r["added"] for r in reports) == chunks  # each chunk added by one process only

    listed = _lines(huddle("memory", "list", "-c", "knowledge", "-n", "1000", "--team", str(team), "--url",
                           chroma_server, "--json", home=tmp_path / "machine4"))
    assert len(listed) == chunks


def test_team_runs_in_two_processes_share_one_memory(chroma_server, namespace, tmp_path, dev_team):
    team = _team_file(tmp_path, dev_team, namespace, url=chroma_server)
    run = ["run", str(team), "Write fizzbuzz", "--model", f"scripted:{DEV_SCRIPT}", "--json"]
    procs = [huddle(*run, home=tmp_path / f"machine{i}", stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for i in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [err for _, err in outs]
    notes = [{m["note"]: m["memory_ids"] for m in map(json.loads, out.splitlines()) if m["kind"] == "reflection"}
             for out, _ in outs]
    # The same texts make the same records. The two runs overlap: one that was shown the other's lesson
    # before writing its own does not store it again (a repeat), so the lesson may come from one run only.
    assert notes[0]["episode"] == notes[1]["episode"]
    lessons = {tuple(n["lesson"]) for n in notes if "lesson" in n}
    assert len(lessons) == 1 and all(set(n) <= {"lesson", "episode"} for n in notes)
    lesson = lessons.pop()[0]

    mem = VectorMemory(namespace, embedder=get_embedder("hash"), url=chroma_server)
    assert mem.count() == {"knowledge": 0, "episodes": 1, "reflections": 1}
    assert mem.get([lesson])[0].metadata["run_id"] in {json.loads(out.splitlines()[0])["run_id"] for out, _ in outs}

    third = _lines(huddle(*run, home=tmp_path / "machine3"))
    plan = next(m for m in third if m["kind"] == "plan")
    assert lesson in plan["memory_ids"]  # a third machine's planner retrieved the lesson the others wrote


# -- a server that is not there -----------------------------------------------------------------------------------

@pytest.mark.parametrize("args", [["search", "x"], ["list"], ["forget", "k-1"], ["ingest", "DOCS"]])
def test_cli_commands_against_a_server_that_is_down_exit_2_naming_it(args, home, tmp_path):
    url = f"http://127.0.0.1:{free_port()}"
    (tmp_path / "a.md").write_text("a note\n")
    args = [str(tmp_path) if a == "DOCS" else a for a in args]
    out = huddle("memory", *args, "--url", url, home=home)
    assert out.returncode == 2, (out.stdout, out.stderr)
    assert f"cannot open the Chroma server at {url}" in out.stderr and "Traceback" not in out.stderr


def test_a_server_that_stopped_fails_cli_and_runs_with_exit_2(home, tmp_path, dev_team):
    proc, url = start_chroma_server(tmp_path)
    team = _team_file(tmp_path, dev_team, "stopped", url=url)
    try:
        assert huddle("memory", "list", "--team", str(team), home=home).returncode == 0
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    out = huddle("memory", "list", "--team", str(team), home=home)
    assert out.returncode == 2 and f"cannot open the Chroma server at {url}" in out.stderr
    out = huddle("run", str(team), "Write fizzbuzz", "--model", f"scripted:{DEV_SCRIPT}", home=home)
    assert out.returncode == 2 and f"cannot open the Chroma server at {url}" in out.stderr
    assert "Traceback" not in out.stderr


def test_a_server_lost_during_a_command_is_an_error_naming_it(chroma_server, monkeypatch, tmp_path, dev_team):
    import httpx

    from studio.cli.memory import app

    team = _team_file(tmp_path, dev_team, "lost")

    def gone(self, *args, **kwargs):
        raise httpx.ConnectError("[Errno 111] Connection refused",
                                 request=httpx.Request("POST", f"{chroma_server}/api/v2/collections/x/query"))

    monkeypatch.setattr(VectorMemory, "search", gone)
    out = CliRunner().invoke(app, ["search", "x", "--url", chroma_server, "--team", str(team)])
    assert out.exit_code == 2, out.output
    assert f"lost the Chroma server at {chroma_server}" in out.output and "Connection refused" in out.output


@pytest.mark.parametrize("bad", ["127.0.0.1:8000", "localhost", "ftp://host:21"])
def test_a_malformed_url_exits_2(bad, home):
    out = huddle("memory", "list", "--url", bad, home=home)
    assert out.returncode == 2 and f"--url {bad!r}: expected a Chroma server's address" in out.stderr


# -- huddle memory serve ------------------------------------------------------------------------------------------

@pytest.mark.timeout(300)
def test_memory_serve_runs_a_server_teams_share_and_keeps_its_data(home, tmp_path, namespace, dev_team):
    team = str(_team_file(tmp_path, dev_team, namespace))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    (tmp_path / "notes.md").write_text("# Releases\n\nTag every release with its version and date.\n")
    server = huddle("memory", "serve", "--port", str(port), home=home, stdout=subprocess.DEVNULL,
                    stderr=subprocess.PIPE)
    try:
        _wait_for(url, server)
        assert (home / "chroma-server").is_dir()  # the default place for its data
        busy = huddle("memory", "serve", "--port", str(port), home=home)
        assert busy.returncode == 2 and f"cannot listen on 127.0.0.1:{port}" in busy.stderr
        ingest = huddle("memory", "ingest", str(tmp_path / "notes.md"), "--team", team, "--url", url, "--json",
                        home=tmp_path / "machine1")
        assert _lines(ingest)[0]["added"] == 1
    finally:
        server.terminate()
        server.wait(timeout=30)
    assert f"Huddle memory server: {url}" in server.stderr.read()

    again = huddle("memory", "serve", "--port", str(port), home=home, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    try:
        _wait_for(url, again)
        hits = _lines(huddle("memory", "search", "how to tag a release", "--team", team, "--url", url,
                             "--json", home=tmp_path / "machine2"))
        assert hits[0]["source"].endswith("notes.md")  # still there after a restart
    finally:
        again.terminate()
        again.wait(timeout=30)


def _status(url: str, token: str | None = None, body: bytes | None = None) -> int:
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"} if token else {}
    try:
        with urllib.request.urlopen(urllib.request.Request(url, data=body, headers=headers), timeout=10) as reply:
            return reply.status
    except urllib.error.HTTPError as exc:
        return exc.code


def _family(pid: int) -> set[str]:
    """``pid`` and the processes under it."""
    family = {str(pid)}
    for _ in range(3):
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if fields[1] in family:
                family.add(stat.parent.name)
    return family


def _listening(pids: set[str]) -> list[str]:
    """The addresses these processes listen on."""
    lines = subprocess.run(["ss", "-ltnpH"], capture_output=True, text=True).stdout.splitlines()
    return [line.split()[3] for line in lines if any(f"pid={p}," in line for p in pids)]


@pytest.mark.timeout(300)
def test_memory_serve_with_a_token_refuses_every_client_without_it(home, tmp_path, namespace, dev_team,
                                                                    monkeypatch):
    """Attack: on a public address with --token-env, a client without the token (raw HTTP, chromadb, the CLI,
    a team) is refused; with it, teams ingest and search; Chroma itself listens on loopback only."""
    token = "shared-" + secrets.token_hex(16)
    monkeypatch.setenv("SHARED_TOKEN", token)
    monkeypatch.delenv("HUDDLE_MEMORY_TOKEN", raising=False)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = huddle("memory", "serve", "--host", "0.0.0.0", "--port", str(port), "--token-env", "SHARED_TOKEN",
                    home=home, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    (tmp_path / "notes.md").write_text("# Releases\n\nTag every release with its version and date.\n")
    team = _team_file(tmp_path, dev_team, namespace, url=url)
    try:
        _wait_for(url, server, token=token)
        pids = _family(server.pid)
        addresses = _listening(pids)
        assert f"0.0.0.0:{port}" in addresses and len(addresses) == 2, addresses
        assert all(a.startswith("127.0.0.1:") for a in addresses if a != f"0.0.0.0:{port}")  # chroma: loopback

        listing = f"{url}/api/v2/tenants/default_tenant/databases/default_database/collections"
        for wrong in (None, "shared-" + "0" * 32, token[:-1]):
            assert _status(f"{url}/api/v2/heartbeat", wrong) == 401
            assert _status(listing, wrong) == 401
            assert _status(listing, wrong, body=b'{"name": "stolen"}') == 401
        assert _status(listing, token) == 200
        with pytest.raises(MemoryStoreError, match="asks for a token and this client sent none"):
            VectorMemory(namespace, embedder=get_embedder("hash"), url=url)
        with pytest.raises(MemoryStoreError, match="refused the token this client sent"):
            VectorMemory(namespace, embedder=get_embedder("hash"), url=url, token="not-" + token)

        refused = huddle("memory", "ingest", str(tmp_path / "notes.md"), "--url", url, home=tmp_path / "m1")
        assert refused.returncode == 2 and "asks for a token" in refused.stderr and "HUDDLE_MEMORY_TOKEN" in \
            refused.stderr and "Traceback" not in refused.stderr

        monkeypatch.setenv("HUDDLE_MEMORY_TOKEN", token)
        ingest = huddle("memory", "ingest", str(tmp_path / "notes.md"), "--team", str(team), "--json",
                        home=tmp_path / "m1")
        assert _lines(ingest)[0]["added"] == 1
        monkeypatch.delenv("HUDDLE_MEMORY_TOKEN")

        data = yaml.safe_load(team.read_text())
        data["memory"]["token_env"] = "HUDDLE_MEMORY_TOKEN_TEAM_A"
        team.write_text(yaml.safe_dump(data))
        unset = huddle("memory", "search", "tag a release", "--team", str(team), home=tmp_path / "m2")
        assert unset.returncode == 2 and "memory.token_env names $HUDDLE_MEMORY_TOKEN_TEAM_A, which is not set" in \
            unset.stderr
        monkeypatch.setenv("HUDDLE_MEMORY_TOKEN_TEAM_A", token)
        hits = _lines(huddle("memory", "search", "how to tag a release", "--team", str(team), "--json",
                             home=tmp_path / "m2"))
        assert hits[0]["source"].endswith("notes.md")
    finally:
        server.terminate()
        server.wait(timeout=30)
    err = server.stderr.read()
    assert "Huddle memory server:" in err and token not in err  # a token from --token-env is never printed
    with pytest.raises(OSError):
        urllib.request.urlopen(f"{url}/api/v2/heartbeat", timeout=2)
    assert not [p for p in pids if Path(f"/proc/{p}").exists()]  # the chroma child went with it


@pytest.mark.timeout(300)
def test_memory_serve_new_token_is_printed_once_and_opens_the_memory(home, tmp_path, namespace, monkeypatch):
    monkeypatch.delenv("HUDDLE_MEMORY_TOKEN", raising=False)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = huddle("memory", "serve", "--port", str(port), "--new-token", home=home, stdout=subprocess.DEVNULL,
                    stderr=subprocess.PIPE)
    try:
        lines = []
        while not any(line.startswith("token (shown once") for line in lines):
            line = server.stderr.readline()
            assert line, f"the server stopped: {lines}"
            lines.append(line)
        token = lines[-1].split(": ", 1)[1].strip()
        assert len(token) >= 40 and "".join(lines).count(token) == 1
        assert _status(f"{url}/api/v2/heartbeat") == 401
        mem = VectorMemory(namespace, embedder=get_embedder("hash"), url=url, token=token)
        assert mem.add([MemoryItem("a fact only the team may read", "knowledge")]).added
        assert mem.search("fact", k=1)[0].text == "a fact only the team may read"
        pids = _family(server.pid) - {str(server.pid)}
        assert pids and any(a.startswith("127.0.0.1:") for a in _listening(pids))  # chroma, behind the proxy
    finally:
        server.kill()  # kill -9: no finally runs in huddle; the chroma child must not live on unguarded
        server.wait(timeout=30)
    assert token not in server.stderr.read()  # and never again
    deadline = time.monotonic() + 20
    while [p for p in pids if Path(f"/proc/{p}").exists()]:
        assert time.monotonic() < deadline, f"chroma outlived huddle memory serve: {pids}"
        time.sleep(0.2)


def test_memory_serve_without_chroma_exits_2(home, monkeypatch):
    import shutil

    from studio.cli.memory import app

    monkeypatch.setattr(shutil, "which", lambda *a, **k: None)
    out = CliRunner().invoke(app, ["serve", "--port", str(free_port())])
    assert out.exit_code == 2 and "the `chroma` command (from the chromadb package) is not installed" in out.output


def test_add_reports_each_id_once_with_threads_on_every_store(tmp_path, namespace, chroma_server):
    """The same accounting between threads of one process, on each kind of store."""
    import threading

    items = [MemoryItem(f, "knowledge") for f in FACTS]
    for mem in (VectorMemory(namespace, embedder=get_embedder("hash"), ephemeral=True),
                VectorMemory(namespace, embedder=get_embedder("hash"), path=tmp_path / "mem"),
                VectorMemory(namespace + "-threads", embedder=get_embedder("hash"), url=chroma_server)):
        results: list = []
        threads = [threading.Thread(target=lambda m=mem, out=results: out.append(m.add(items))) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(i for r in results for i in r.added) == sorted({i.id for i in items}), mem.location
        assert all(len(r.added) + len(r.duplicates) == len(items) for r in results)
