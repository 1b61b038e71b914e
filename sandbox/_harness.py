"""The test runner that runs inside the sandbox (standard library only; executed by ``_boot.py``).

Tests are written pytest style: ``test_*`` functions without arguments, in the
solution itself or in the test files, and top-level ``assert`` lines in the
test files, each counted as one test. Test files run in a namespace that
already holds the solution's names, so ``assert add(1, 2) == 3`` works as is.
Names say where a test came from: ``test_add`` is the solution's own function,
``test_task.py:4`` and ``test_task.py:test_add`` an assert line and a function
of a test file, ``test_task.py`` the file itself failing, ``import solution``
the solution failing to import.
The report goes to ``.huddle/tests.json`` in the workspace; a failing
``assert a == b`` reports both sides.
"""

import os
import sys

# ast, traceback, json and importlib.util cost ~30 ms to import, half of a short test run: the first two load
# only when needed (test files, and explaining a failure); the report is written and the solution imported
# without the others.

SOLUTION_MODULE = "solution"


def _string(text):
    """``text`` as a JSON string, every character outside printable ASCII escaped (as ``json.dumps`` does)."""
    out = ['"']
    for ch in text:
        code = ord(ch)
        if ch in '"\\':
            out.append("\\" + ch)
        elif 0x20 <= code < 0x7F:
            out.append(ch)
        elif code > 0xFFFF:
            code -= 0x10000
            out.append(f"\\u{0xD800 | code >> 10:04x}\\u{0xDC00 | code & 0x3FF:04x}")
        else:
            out.append(f"\\u{code:04x}")
    return "".join(out) + '"'


def _report(results):
    """The results as a JSON list of ``{"name", "ok", "message"}`` objects."""
    rows = [f'{{"name": {_string(r["name"])}, "ok": {"true" if r["ok"] else "false"}, '
            f'"message": {_string(r["message"])}}}' for r in results]
    return "[" + ", ".join(rows) + "]"


def _explain(exc, filename):
    """A short reason for a failed test: the failing line and, for a comparison, both sides."""
    import traceback

    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename == filename] or \
        traceback.extract_tb(exc.__traceback__)[-1:]
    where = frames[-1] if frames else None
    text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    if where is None:
        return text
    line = (where.line or "").strip()
    text = f"line {where.lineno}: {line}\n  {text}"
    if isinstance(exc, AssertionError) and not str(exc):
        text += _sides(line, exc)
    return text


def _sides(line, exc):
    import ast

    try:
        node = ast.parse(line).body[0]
    except (SyntaxError, IndexError):
        return ""
    if not (isinstance(node, ast.Assert) and isinstance(node.test, ast.Compare) and len(node.test.comparators) == 1):
        return ""
    tb = exc.__traceback__
    while tb.tb_next is not None:
        tb = tb.tb_next
    frame = tb.tb_frame
    shown = []
    for side in (node.test.left, node.test.comparators[0]):
        if isinstance(side, ast.Constant):
            continue
        try:
            value = eval(compile(ast.Expression(side), "<assert>", "eval"), frame.f_globals, frame.f_locals)
            shown.append(f"{ast.unparse(side)} = {value!r}"[:300])
        except Exception:
            return ""
    return "\n  where " + "\n  and ".join(shown) if shown else ""


def _check(results, name, call, filename):
    try:
        call()
    except BaseException as exc:  # SystemExit and KeyboardInterrupt from the code count as failures too
        results.append({"name": name, "ok": False, "message": _explain(exc, filename)})
    else:
        results.append({"name": name, "ok": True, "message": ""})


def _functions(namespace, filename):
    """The ``test_*`` functions defined in ``filename``, in order."""
    found = [v for k, v in namespace.items() if k.startswith("test") and callable(v)
             and getattr(getattr(v, "__code__", None), "co_filename", None) == filename]
    return sorted(found, key=lambda f: f.__code__.co_firstlineno)


def _run_file(results, path, base):
    """Run one test file: its statements in order, each top-level assert as a test, then its test functions."""
    import ast

    with open(path, encoding="utf-8") as f:
        source = f.read()
    namespace = dict(base)
    namespace.update({"__name__": os.path.splitext(os.path.basename(path))[0], "__file__": path})
    tree = ast.parse(source, path)
    for node in tree.body:
        code = compile(ast.Module(body=[node], type_ignores=[]), path, "exec")
        if isinstance(node, ast.Assert):
            _check(results, f"{os.path.basename(path)}:{node.lineno}", lambda c=code: exec(c, namespace), path)
        else:
            exec(code, namespace)
    for fn in _functions(namespace, path):
        _check(results, f"{os.path.basename(path)}:{fn.__name__}", fn, path)


def main(cfg):
    """Import the solution, run every test, write the report; the exit status is 1 when any test failed."""
    workspace = cfg["workspace"]
    results = []
    solution = os.path.join(workspace, cfg["entry"])
    module = type(sys)(SOLUTION_MODULE)
    module.__file__ = solution
    sys.modules[SOLUTION_MODULE] = module
    base = {}
    try:
        with open(solution, encoding="utf-8") as f:
            source = f.read()
        exec(compile(source, solution, "exec"), vars(module))
    except BaseException as exc:
        results.append({"name": "import solution", "ok": False, "message": _explain(exc, solution)})
    else:
        base = {k: v for k, v in vars(module).items() if not k.startswith("__")}
        for fn in _functions(vars(module), solution):
            _check(results, fn.__name__, fn, solution)
        for test_file in cfg["tests"]:
            path = os.path.join(workspace, test_file)
            try:
                _run_file(results, path, base)
            except BaseException as exc:  # the test file itself broke (syntax, a failing setup line)
                results.append({"name": test_file, "ok": False, "message": _explain(exc, path)})
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    os.makedirs(os.path.join(workspace, ".huddle"), exist_ok=True)
    with open(os.path.join(workspace, ".huddle", "tests.json"), "w", encoding="ascii") as f:
        f.write(_report(results))
    return 0 if results and all(r["ok"] for r in results) else 1
