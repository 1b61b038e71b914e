"""How close did a ``best_of_n`` team choose to the best it could have? Every candidate, graded afterwards.

``huddle eval`` grades only the code a team ends with. This reads the team's runs
that an evaluation left in a run log and grades every candidate the flow wrote
(each branch's last code) on the task's hidden tests, in the sandbox: an oracle
that knows the hidden tests, which the team never does. Per task it prints how
many candidates were right, and whether the chosen one was. Where the team
fails with right candidates among its own, the selection is to blame; where
there are none, the candidates are.

Run it on the ``HUDDLE_HOME`` an evaluation used (the newest run of each task
counts), e.g. after ``make eval``::

    python benchmarks/eval_oracle.py                        # $HUDDLE_HOME, the public task set
    python benchmarks/eval_oracle.py --home /tmp/h tasks.jsonl
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from studio.eval import BASELINE_TEAMS, EvalError, grade, load_tasks  # noqa: E402
from studio.home import huddle_home  # noqa: E402
from studio.messages import Code, Ranking  # noqa: E402
from studio.runner import shared_store  # noqa: E402
from studio.spec import SandboxSpec  # noqa: E402


def candidates(messages) -> tuple[dict[str, str], str | None]:
    """Each branch's last code, and the branch the ranking chose (``None`` without a ranking)."""
    ranking = next((m for m in messages if isinstance(m, Ranking)), None)
    codes = {m.branch: m.code for m in messages if isinstance(m, Code) and m.branch and m.code.strip()}
    return codes, ranking.chosen if ranking else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("tasks", nargs="?", default=str(ROOT / "benchmarks" / "data" / "eval_tasks.jsonl"))
    parser.add_argument("--home", help="the HUDDLE_HOME the evaluation used ($HUDDLE_HOME by default)")
    args = parser.parse_args(argv)
    try:
        tasks = {t.prompt: t for t in load_tasks(args.tasks)}
    except EvalError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    home = huddle_home(args.home)
    newest: dict[str, list] = {}
    if home.is_dir():  # a home that is not there has no runs (and is not made here)
        log = shared_store(home)
        for info in log.runs(100_000):  # newest first: the first run seen of a task is its newest
            if info.team not in BASELINE_TEAMS and info.task in tasks and info.task not in newest:
                newest[info.task] = log.messages(info.run_id)
    if not newest:
        print(f"error: no team runs of the tasks in {args.tasks} in the run log of {home}; run huddle eval "
              "with this HUDDLE_HOME first (or pass --home)", file=sys.stderr)
        return 2
    box, scratch = SandboxSpec(), Path(tempfile.mkdtemp(prefix="huddle-oracle-"))
    rows, totals = [], {"tasks": 0, "some right": 0, "chosen right": 0}
    for prompt, task in tasks.items():
        if prompt not in newest:
            continue
        codes, chosen = candidates(newest[prompt])
        right = {name for name, code in codes.items() if not grade(task, code, box, scratch, name)[2]}
        picked = chosen in right
        rows.append((task.id, len(codes), len(right), chosen or "-", "yes" if picked else "no"))
        totals["tasks"] += 1
        totals["some right"] += bool(right)
        totals["chosen right"] += picked
    print("| task | candidates | right (hidden tests) | chosen | chosen is right |")
    print("|---|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(str(x) for x in row) + " |")
    print(f"\n{totals['tasks']} tasks; a right candidate on {totals['some right']}, "
          f"chosen on {totals['chosen right']} (the selection missed {totals['some right'] - totals['chosen right']})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
