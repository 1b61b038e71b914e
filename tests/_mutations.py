"""Mutated team files for the fuzz test: a seeded generator, and a runner that loads each through ``load_spec``.

Run as a script (``python tests/_mutations.py FOLDER SEED COUNT``) it writes COUNT mutants of the example
teams into FOLDER, loads each with :func:`studio.spec.load_spec`, and prints one JSON object: how many loaded,
how many were refused with a ``SpecError``, every other exception (the failures), the slowest load, and the
process's peak resident memory against what it held before the first load: a process of its own, so that
the peak is the fuzz's alone and bounds what any one load took.
"""

from __future__ import annotations

import json
import random
import resource
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TEAMS = sorted((ROOT / "examples" / "teams").glob("*.yaml"))
_TOKENS = ["&a ", "*a", "<<: *a\n", "!!python/object:os.system ", "!!binary ", "!!timestamp 2024-13-45", "? ",
           "---\n", "...\n", "%YAML 1.1\n", "{", "}", "[", "]", ": ", "- ", "|\n", ">-\n", "'", '"', "\t", "#",
           "!!set ", "!!omap ", "~", "null", "1:2:3:4:5", "0x" + "f" * 150, "9" * 5000, "1e99999", ".nan", "yes",
           "\\u0000", "\x00", "\x1b[31m", "&b [*b]", "*undefined", "!custom ", "=", "@", "`"]


def _lines(data: bytes, rng: random.Random) -> tuple[list[bytes], int]:
    lines = data.splitlines(keepends=True) or [b""]
    return lines, rng.randrange(len(lines))


def flip_bytes(data: bytes, rng: random.Random) -> bytes:
    out = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        i = rng.randrange(len(out))
        out[i] ^= rng.randint(1, 255)
    return bytes(out)


def truncate(data: bytes, rng: random.Random) -> bytes:
    return data[:rng.randrange(len(data))]


def duplicate_line(data: bytes, rng: random.Random) -> bytes:
    lines, i = _lines(data, rng)
    return b"".join(lines[:i + 1] + [lines[i]] * rng.randint(1, 3) + lines[i + 1:])


def delete_lines(data: bytes, rng: random.Random) -> bytes:
    lines, i = _lines(data, rng)
    return b"".join(lines[:i] + lines[i + rng.randint(1, 4):])


def swap_lines(data: bytes, rng: random.Random) -> bytes:
    lines, i = _lines(data, rng)
    j = rng.randrange(len(lines))
    lines[i], lines[j] = lines[j], lines[i]
    return b"".join(lines)


def reindent(data: bytes, rng: random.Random) -> bytes:
    lines, i = _lines(data, rng)
    lines[i] = b" " * rng.randint(1, 9) + lines[i] if rng.random() < 0.5 else lines[i].lstrip(b" ")
    return b"".join(lines)


def yaml_tokens(data: bytes, rng: random.Random) -> bytes:
    i = rng.randrange(len(data) + 1)
    return data[:i] + rng.choice(_TOKENS).encode("utf-8") + data[i:]


def random_unicode(data: bytes, rng: random.Random) -> bytes:
    ranges = [(0x20, 0x7E), (0xA0, 0x2FF), (0x200B, 0x200F), (0x202A, 0x202E), (0xFEFF, 0xFEFF), (0x0600, 0x06FF),
              (0x4E00, 0x4E80), (0x1F600, 0x1F64F), (0x0, 0x1F), (0xFFF0, 0xFFFF), (0x10FFF0, 0x10FFFF)]
    text = "".join(chr(rng.randint(*rng.choice(ranges))) for _ in range(rng.randint(1, 40)))
    i = rng.randrange(len(data) + 1)
    return data[:i] + text.encode("utf-8", "surrogatepass") + data[i:]


def non_utf8(data: bytes, rng: random.Random) -> bytes:
    junk = bytes(rng.randint(0x80, 0xFF) for _ in range(rng.randint(1, 6)))
    if rng.random() < 0.3:
        return data.decode("utf-8", "replace").encode("utf-16") if rng.random() < 0.5 else junk + data
    i = rng.randrange(len(data) + 1)
    return data[:i] + junk + data[i:]


def alias_bomb(data: bytes, rng: random.Random) -> bytes:
    width, depth = rng.randint(2, 10), rng.randint(3, 12)
    bomb = [f'x0: &x0 ["{"lol" * rng.randint(1, 4)}"]']
    bomb += [f"x{i}: &x{i} [{', '.join([f'*x{i - 1}'] * width)}]" for i in range(1, depth)]
    where = "\n".join(bomb) + "\n"
    if rng.random() < 0.5:  # as the team's description, so the spec itself carries it
        where += f"description: *x{depth - 1}\n"
    return where.encode() + data


def deep_nesting(data: bytes, rng: random.Random) -> bytes:
    depth = rng.choice([60, 65, 100, 500, 5000, 50_000])
    if rng.random() < 0.5:
        nested = "[" * depth + "]" * depth
    else:
        nested = "\n" + "".join("  " * i + "- \n" for i in range(1, min(depth, 2000)))
    return data + f"deep: {nested}\n".encode()


def long_value(data: bytes, rng: random.Random) -> bytes:
    lines, i = _lines(data, rng)
    key = lines[i].split(b":", 1)[0] if b":" in lines[i] else b"description"
    piece = rng.choice([b"a", b"sk-", b"ab1-", b"key=x1 ", b"\xc3\xa9", b"postgres://u:p@h/db "])
    # 10 kB at most: longer secret-shaped runs (sk-sk-…) are test_inputs.py's, where they are timed on their own
    lines[i] = key + b": '" + piece * (rng.randint(1_000, 10_000) // len(piece)) + b"'\n"
    return b"".join(lines)


def as_json(data: bytes, rng: random.Random) -> bytes:
    import yaml

    text = json.dumps(yaml.safe_load(data))
    return flip_bytes(text.encode(), rng) if rng.random() < 0.5 else text.encode()[:rng.randrange(len(text))]


MUTATIONS: list[Callable[[bytes, random.Random], bytes]] = [
    flip_bytes, truncate, duplicate_line, delete_lines, swap_lines, reindent, yaml_tokens, random_unicode, non_utf8,
    alias_bomb, deep_nesting, long_value]


def mutants(count: int, seed: int):
    """``count`` (name, suffix, bytes) mutants of the example teams, the same for the same seed."""
    rng = random.Random(seed)
    bases = [path.read_bytes() for path in TEAMS]
    for n in range(count):
        data = bases[n % len(bases)]
        if n % 10 == 9:
            yield f"{n:04d}-as_json", ".json", as_json(data, rng)
            continue
        names = []
        for _ in range(rng.choice([1, 1, 1, 2, 3])):
            mutate = rng.choice(MUTATIONS)
            data = mutate(data or b"x", rng)
            names.append(mutate.__name__)
        yield f"{n:04d}-{'+'.join(names)}", ".yaml", data


def _peak_rss_mb(reset: bool = False) -> float:
    """This process's peak resident memory: VmHWM, which Linux lets a process reset to what it holds now (the
    ru_maxrss of a child starts at its parent's, inherited across exec); ru_maxrss where there is no /proc."""
    try:
        if reset:
            Path("/proc/self/clear_refs").write_text("5")
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(folder: str, seed: int, count: int) -> dict:
    from studio.spec import SpecError, load_spec

    base_mb = _peak_rss_mb(reset=True)
    loaded = refused = 0
    failures, times, kinds = [], [], {}
    for name, suffix, data in mutants(count, seed):
        for kind in name.split("-", 1)[1].split("+"):
            kinds[kind] = kinds.get(kind, 0) + 1
        path = Path(folder) / f"{name}{suffix}"
        path.write_bytes(data)
        start = time.perf_counter()
        try:
            load_spec(path)
            loaded += 1
        except SpecError as exc:
            refused += 1
            if str(path) not in str(exc):
                failures.append(f"{name}: the SpecError does not name the file: {exc}")
        except BaseException as exc:  # noqa: BLE001 - anything else is what the fuzz looks for
            failures.append(f"{name}: {type(exc).__name__}: {str(exc)[:200]}\n{traceback.format_exc()[-800:]}")
        times.append((time.perf_counter() - start, name))
    peak_mb = _peak_rss_mb()
    times.sort()
    return {"count": count, "loaded": loaded, "refused": refused, "failures": failures, "kinds": kinds,
            "slowest_s": times[-1][0], "slowest": times[-1][1], "median_s": times[len(times) // 2][0],
            "total_s": sum(t for t, _ in times), "rss_mb_at_start": base_mb, "rss_mb": peak_mb,
            "rss_mb_above_start": peak_mb - base_mb}


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    print(json.dumps(main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))))
