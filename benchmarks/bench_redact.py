"""What the redactor costs per message: ``studio.redact.redact`` on 2 KB texts, before and after issue 18.

The redactor runs on every message the bus stores (each text field), on every
checkpoint, on every memory item and on everything ``huddle runs`` prints, so its
cost per message matters. Measured here, in this process: the version before
issue 18 (secret environment values and one key pattern; a copy is kept
below) against the current one
(connection strings, a dozen key shapes, JWTs, Bearer tokens, private keys,
``password=`` assignments), on three 2 KB messages: prose, Python code, and
prose with three secrets in it. Best of 5 repeats of 3,000 calls each, in µs per
call; the environment is this process's own.

Run: ``python benchmarks/bench_redact.py``.
"""

from __future__ import annotations

import os
import platform
import random
import re
import timeit

from studio.redact import redact

_OLD_NAME = re.compile(r"(KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIALS?)$|^AWS_|_AUTH$", re.IGNORECASE)
_OLD_KEY = re.compile(r"\b(sk|pk|rk|gsk|xai|hf|ghp|github_pat)[-_][A-Za-z0-9_\-]{12,}")


def redact_before(text: str) -> str:
    """The redactor as it was before issue 18 (studio/redact.py at commit 550e450)."""
    secrets = {n: v for n, v in os.environ.items() if _OLD_NAME.search(n) and len(v) >= 8}
    for name, value in sorted(secrets.items(), key=lambda item: -len(item[1])):
        if value in text:
            text = text.replace(value, f"[redacted {name}]")
    return _OLD_KEY.sub("[redacted key]", text)


def texts() -> dict[str, str]:
    rng = random.Random(1)
    words = ("the task is to write a function that parses the input file and returns the sorted records with "
             "keys risk ask skip token count api response status request user password model key value").split()
    prose = " ".join(rng.choice(words) for _ in range(400))[:2048]
    code = ("def parse(path):\n    with open(path) as f:\n        rows = [line.split(',') for line in f]\n"
            "    return sorted(rows, key=lambda r: r[0])\n") * 14
    secrets = (prose[:1850] + " postgresql://u:hunter22@db/x sk-proj-abc123def456ghi789 password=hunter2")[:2048]
    return {"prose": prose, "Python code": code[:2048], "prose with 3 secrets": secrets}


def per_call_us(fn, text: str, number: int = 3000) -> float:
    return min(timeit.repeat(lambda: fn(text), number=number, repeat=5)) / number * 1e6


def main() -> None:
    print(f"redact() on a 2 KB message (Python {platform.python_version()}, {len(os.environ)} environment "
          "variables), µs per call, best of 5")
    print("| message (2 KB) | before issue 18 | now | secrets found now |\n|---|---|---|---|")
    for name, text in texts().items():
        found = redact(text).count("[redacted")
        print(f"| {name} | {per_call_us(redact_before, text):.1f} | {per_call_us(redact, text):.1f} | {found} |")


if __name__ == "__main__":
    main()
