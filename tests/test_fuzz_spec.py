"""Fuzz ``load_spec`` with 1,200 mutated team files: only SpecError comes out, each load under 2 s and 200 MB
(the process's peak resident memory above what it held before the first load bounds every load's).

The mutants (tests/_mutations.py, seeded, so a failure reproduces) start from the example teams: flipped
bytes, truncation, duplicated, deleted, swapped and re-indented lines, YAML syntax and tags dropped in,
random Unicode, bytes that are not UTF-8 (and UTF-16), alias bombs, nesting up to 50,000 deep, and JSON
versions of the files. They run in a process of their own, so that its peak memory is theirs alone.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from _mutations import MUTATIONS

SEED, COUNT = 18, 1200
RUNNER = Path(__file__).with_name("_mutations.py")


def test_1200_mutated_team_files_give_only_spec_errors_fast_and_small(tmp_path):
    start = time.perf_counter()
    out = subprocess.run([sys.executable, str(RUNNER), str(tmp_path), str(SEED), str(COUNT)],
                         capture_output=True, text=True, timeout=120)
    wall_s = time.perf_counter() - start
    assert out.returncode == 0, out.stderr[-3000:]
    figures = json.loads(out.stdout)
    print(f"\n| mutants | loaded | SpecError | other | median load | slowest load | peak RSS before / after "
          f"| wall |\n|---|---|---|---|---|---|---|---|\n"
          f"| {figures['count']} | {figures['loaded']} | {figures['refused']} | {len(figures['failures'])} | "
          f"{figures['median_s'] * 1000:.2f} ms | {figures['slowest_s'] * 1000:.0f} ms ({figures['slowest']}) | "
          f"{figures['rss_mb_at_start']:.0f} / {figures['rss_mb']:.0f} MB | {wall_s:.1f} s |")
    assert figures["failures"] == []
    assert figures["count"] == COUNT and figures["loaded"] + figures["refused"] == COUNT
    assert figures["loaded"] > 0 and figures["refused"] > 0  # the mutants are not all broken, nor all harmless
    assert {m.__name__ for m in MUTATIONS} | {"as_json"} <= set(figures["kinds"])
    assert figures["slowest_s"] < 2, figures["slowest"]
    assert figures["rss_mb_above_start"] < 200
    assert wall_s < 60
