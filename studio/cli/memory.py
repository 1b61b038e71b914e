"""``huddle memory``: ingest files, search, list and forget items of a team's shared memory; serve it.

``--team`` takes a team file (its memory settings are used) or a memory
namespace; without it the namespace is ``default``. ``--url`` points any command
at a Chroma server (``huddle memory serve`` runs one). Heavy modules load inside
the commands.
"""

from __future__ import annotations

import functools
import json
import os
import sys
from pathlib import Path
from urllib.parse import urlparse

import typer

from studio.cli._common import fail

app = typer.Typer(help="The team's shared memory: ingest files, search, list, forget; serve it to other machines.",
                  no_args_is_help=True)

TEAM_HELP = "Team file (YAML/JSON) or memory namespace; 'default' when omitted."
URL_HELP = "A Chroma server (http://host:8000) to use instead of the team's store (overrides memory.url)."
COLLECTION_CHOICES = ("knowledge", "episodes", "reflections")


def _open(team: str | None, url: str | None = None):
    """(memory, namespace) for ``--team`` (and ``--url``); user mistakes exit 2 with the reason."""
    from memory.embedder import EmbedderError
    from memory.items import MemoryStoreError
    from memory.team import open_memory
    from studio.home import huddle_home
    from studio.spec import MemorySpec, SpecError, load_spec

    if url is not None and not (urlparse(url).scheme in ("http", "https") and urlparse(url).hostname):
        fail(f"--url {url!r}: expected a Chroma server's address such as http://127.0.0.1:8000")
    settings, namespace = MemorySpec(), team or "default"
    try:
        if team and (Path(team).is_file() or team.endswith((".yaml", ".yml", ".json"))):
            spec = load_spec(team)
            if not spec.memory.enabled:
                fail(f"team {spec.name!r} ({team}) has memory.enabled: false")
            settings, namespace = spec.memory, spec.memory_namespace()
        if url:
            settings = settings.model_copy(update={"url": url.rstrip("/")})
        return open_memory(settings, namespace, huddle_home()), namespace
    except (SpecError, EmbedderError, MemoryStoreError) as exc:
        fail(str(exc))


def _store_errors(command):
    """Wrap ``command`` so that what the store raises is an error that exits 2, not a traceback.

    That is, a server gone away or a store built with another embedder.
    """

    @functools.wraps(command)
    def run(*args, **kwargs):
        import httpx

        from memory.items import MemoryStoreError

        try:
            return command(*args, **kwargs)
        except MemoryStoreError as exc:
            fail(str(exc))
        except httpx.TransportError as exc:  # chromadb's HTTP client: the server stopped answering
            fail(f"lost {_server_of(exc)} (is `chroma run` up?): {exc}")

    return run


def _server_of(exc) -> str:
    try:
        url = exc.request.url
    except RuntimeError:  # httpx raises it when the error carries no request
        return "the Chroma server"
    return f"the Chroma server at {url.scheme}://{url.netloc.decode()}"


def _hint_default(memory) -> None:
    """Say on stderr that the ``default`` namespace (no ``--team``) is empty, and how to pick a team's."""
    if not any(memory.count().values()):
        typer.echo("hint: without --team, huddle memory uses the 'default' namespace, which is empty here; a team "
                   "keeps its memory in a namespace of its own: add --team FILE (the team's file) or --team NAMESPACE",
                   err=True)


def _check_collection(collection: str | None) -> None:
    if collection is not None and collection not in COLLECTION_CHOICES:
        fail(f"--collection {collection!r}: expected one of {', '.join(COLLECTION_CHOICES)}")


@app.command()
@_store_errors
def ingest(
    paths: list[Path] = typer.Argument(..., help="Files and folders (.md .txt .rst .py .ipynb .pdf)."),
    team: str | None = typer.Option(None, "--team", "-t", help=TEAM_HELP),
    url: str | None = typer.Option(None, "--url", help=URL_HELP),
    chunk_size: int = typer.Option(1000, "--chunk-size", min=100, help="Characters per chunk."),
    overlap: int = typer.Option(150, "--overlap", min=0, help="Characters repeated between chunks of one section."),
    json_out: bool = typer.Option(False, "--json", help="Print the summary as one JSON object."),
) -> None:
    """Read files and folders into the team's knowledge (chunked, embedded, de-duplicated)."""
    if overlap >= chunk_size:
        fail(f"--overlap ({overlap}) must be smaller than --chunk-size ({chunk_size})")
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from memory.ingestion import ingest as run_ingest
    from memory.readers import discover
    from studio.render import ingest_summary

    files, skipped = discover(paths)
    if not files:  # say so before loading any model
        fail("nothing to ingest: " + ("; ".join(f"{p}: {r}" for p, r in skipped[:5]) or "no files given"))
    console = Console(stderr=True)
    with console.status("loading the memory…"):
        memory, label = _open(team, url)
    columns = (TextColumn("[bold]ingesting[/]"), BarColumn(), MofNCompleteColumn(), TextColumn("files"),
               TimeElapsedColumn(), TextColumn("[dim]{task.description}[/]"))
    with Progress(*columns, console=console, transient=True, disable=json_out) as progress:
        bar = progress.add_task("", total=None)

        def moved(current: str, done: int, total: int) -> None:
            progress.update(bar, completed=done, total=total, description=Path(current).name if current else "")

        report = run_ingest(memory, paths, size=chunk_size, overlap=overlap, on_progress=moved)
    if json_out:
        typer.echo(json.dumps({**report.as_dict(), "namespace": label, "location": memory.location}))
    else:
        Console().print(ingest_summary(report, label, memory.location))
    if report.files == 0:
        fail("nothing was ingested: " + ("; ".join(f"{p}: {r}" for p, r in report.skipped[:5]) or "no files given"))


@app.command()
@_store_errors
def search(
    query: str = typer.Argument(..., help="What to look for."),
    k: int = typer.Option(5, "-k", min=1, max=100, help="How many hits."),
    collection: str | None = typer.Option(None, "--collection", "-c", help="knowledge, episodes or reflections."),
    team: str | None = typer.Option(None, "--team", "-t", help=TEAM_HELP),
    url: str | None = typer.Option(None, "--url", help=URL_HELP),
    json_out: bool = typer.Option(False, "--json", help="One JSON object per hit."),
) -> None:
    """Search the memory; each hit shows its id, collection, score, source and text."""
    _check_collection(collection)
    memory, label = _open(team, url)
    hits = memory.search(query, k, collections=(collection,) if collection else COLLECTION_CHOICES)
    if not hits and team is None:
        _hint_default(memory)
    if json_out:
        for hit in hits:
            typer.echo(json.dumps(hit.as_dict()))
        return
    from rich.console import Console

    from studio.render import hits_table

    Console().print(hits_table(hits, scores=True) if hits else f"nothing in {label}'s memory matches")


@app.command("list")
@_store_errors
def list_items(
    collection: str | None = typer.Option(None, "--collection", "-c", help="knowledge, episodes or reflections."),
    team: str | None = typer.Option(None, "--team", "-t", help=TEAM_HELP),
    url: str | None = typer.Option(None, "--url", help=URL_HELP),
    limit: int = typer.Option(50, "--limit", "-n", min=1, help="How many items."),
    json_out: bool = typer.Option(False, "--json", help="One JSON object per item."),
) -> None:
    """List stored items, newest first, with their provenance."""
    _check_collection(collection)
    memory, label = _open(team, url)
    items = memory.list(collection, limit=limit)
    if not items and team is None:
        _hint_default(memory)
    if json_out:
        for item in items:
            typer.echo(json.dumps(item.as_dict()))
        return
    from rich.console import Console

    from studio.render import hits_table

    console = Console()
    counts = ", ".join(f"{n} {c}" for c, n in memory.count().items())
    console.print(hits_table(items, scores=False) if items else f"{label}'s memory is empty here")
    console.print(f"[dim]{label} · {counts} · {memory.location}[/]")


@app.command()
@_store_errors
def forget(
    ids: list[str] = typer.Argument(None, help="Item ids (a unique prefix is enough)."),
    source: str | None = typer.Option(None, "--source", "-s", help="Forget every item from this source file."),
    run: str | None = typer.Option(None, "--run", "-r", help="Forget every item a run wrote."),
    team: str | None = typer.Option(None, "--team", "-t", help=TEAM_HELP),
    url: str | None = typer.Option(None, "--url", help=URL_HELP),
) -> None:
    """Delete items by id, by source or by run."""
    chosen = [name for name, given in (("ID", ids), ("--source", source), ("--run", run)) if given]
    if len(chosen) != 1:
        fail("give exactly one of: ID..., --source PATH, --run RUN_ID" +
              (f" (got {', '.join(chosen)})" if chosen else ""))
    memory, label = _open(team, url)
    if source:
        gone = memory.forget(source=source) or memory.forget(source=str(Path(source).resolve()))
    else:
        gone = memory.forget(ids or (), run_id=run)
    if not gone:
        fail(f"nothing in {label}'s memory matched", code=1)
    typer.echo(f"forgot {gone} item(s) from {label}'s memory")


@app.command()
@_store_errors
def approve(
    ids: list[str] = typer.Argument(..., help="Ids of lessons stored as untrusted (tainted); `huddle memory list "
                                              "--collection reflections` shows them."),
    team: str | None = typer.Option(None, "--team", "-t", help=TEAM_HELP),
    url: str | None = typer.Option(None, "--url", help=URL_HELP),
) -> None:
    """Vouch for lessons written after the team saw untrusted data: later runs show them as trusted lessons."""
    from memory.reflection import approve as approve_lessons

    memory, label = _open(team, url)
    done = approve_lessons(memory, ids)
    typer.echo(f"approved {len(done)} lesson(s) in {label}'s memory: {', '.join(done)}")


@app.command()
def serve(
    path: Path | None = typer.Option(None, "--path", help="Where the server keeps its data; "
                                                          "$HUDDLE_HOME/chroma-server when omitted."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on: another than loopback (0.0.0.0 "
                                                         "lets other machines in) needs a token or --insecure."),
    port: int = typer.Option(8000, "--port", min=1, max=65535, help="Port to listen on."),
    token_env: str | None = typer.Option(None, "--token-env", metavar="NAME",
                                         help="Ask every client for the token this environment variable holds."),
    new_token: bool = typer.Option(False, "--new-token", help="Make a token, print it once, and ask clients for it."),
    insecure: bool = typer.Option(False, "--insecure", help="Serve a non-loopback address without a token: "
                                                            "anyone who reaches it reads every document."),
) -> None:
    """Run a Chroma server (`chroma run`) that teams in other processes and on other machines share.

    Point a team at it with `memory: {url: http://HOST:PORT}` in its file, or any `huddle memory`
    command with `--url http://HOST:PORT`. With a token, clients send it from $HUDDLE_MEMORY_TOKEN
    (or the variable the team's memory.token_env names). Ctrl-C stops it; its data stays in --path.
    """
    import shutil
    import socket

    from studio.exposure import AccessError, server_token
    from studio.home import huddle_home

    try:
        token = server_token(host, "every document stored in the memory", token_env=token_env, new_token=new_token,
                             insecure=insecure)
    except AccessError as exc:
        fail(str(exc))
    exe = shutil.which("chroma", path=str(Path(sys.executable).parent)) or shutil.which("chroma")
    if not exe:
        fail("the `chroma` command (from the chromadb package) is not installed here: pip install chromadb")
    folder = (path or huddle_home() / "chroma-server").expanduser()
    try:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        with socket.create_server((host, port), family=family):  # chroma's own message for a taken port is a Rust panic
            pass
    except OSError as exc:
        fail(f"cannot listen on {host}:{port}: {exc.strerror or exc} (is a server already running there? "
              "pick another --port)")
    folder.mkdir(parents=True, exist_ok=True)
    shown = socket.gethostname() if host in ("0.0.0.0", "::") else host

    def announce() -> None:
        typer.echo(f"Huddle memory server: http://{shown}:{port} (data in {folder}); teams use it with "
                   f"memory.url or --url http://{shown}:{port}", err=True)
        if token is None and insecure:
            typer.echo(f"warning: --insecure: no token; every document stored here is readable (and writable) by "
                       f"anyone who can reach {host}:{port}", err=True)
        elif token is not None:
            typer.echo("every client must send the token: set HUDDLE_MEMORY_TOKEN (or the variable memory.token_env "
                       "names) to it", err=True)
        if new_token:
            typer.echo(f"token (shown once, stored nowhere): {token}", err=True)
        sys.stderr.flush()

    if token is not None:
        from studio.cli._memory_serve import ServeError, serve_with_token

        try:
            serve_with_token(exe, folder, host, port, token, announce)
        except (OSError, ServeError) as exc:
            fail(f"cannot serve on {host}:{port}: {exc}")
        return
    announce()
    argv = [exe, "run", "--path", str(folder), "--host", host, "--port", str(port)]
    if os.name == "nt":  # no exec there: wait for the server instead
        import subprocess

        raise typer.Exit(subprocess.call(argv))
    os.execv(exe, argv)  # the server gets the signals (Ctrl-C, SIGTERM) directly
