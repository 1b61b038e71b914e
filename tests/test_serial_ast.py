"""``ast.parse`` takes turns across threads, and a parse inside a parse on one thread does not wait for itself."""

from __future__ import annotations

import ast
import subprocess
import sys

SCRIPT = """
import ast, sys, threading
from studio._serial_ast import serial_ast

serial_ast()
seen = []

def hook(unraisable):  # pytest's own hook formats a traceback here, and a traceback parses source lines
    seen.append(ast.dump(ast.parse("inner = 1")))

sys.unraisablehook = hook

class Noisy:
    def __del__(self):
        raise RuntimeError("raised while collected")

def parse_while_collecting():
    import ast as a
    holder = [Noisy()]
    tree = a.parse("outer = 2")
    holder.clear()  # its __del__ runs now, its exception goes to the hook, the hook parses
    return tree

done = threading.Event()
def work():
    from studio._serial_ast import _LOCK
    with _LOCK:  # as if inside a parse
        parse_while_collecting()
    done.set()

worker = threading.Thread(target=work, daemon=True)
worker.start()
worker.join(10)
print("done" if done.is_set() and seen else "stuck")
"""


def test_a_parse_within_a_parse_on_one_thread_goes_through():
    out = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "done", out.stderr


def test_parses_from_many_threads_all_finish():
    from concurrent.futures import ThreadPoolExecutor

    from studio._serial_ast import serial_ast

    serial_ast()
    source = "\n".join(f"def f{i}(x):\n    return [y * {i} for y in range(x)]" for i in range(200))
    with ThreadPoolExecutor(8) as pool:
        trees = list(pool.map(lambda _: ast.parse(source), range(32)))
    assert all(len(t.body) == 200 for t in trees)
