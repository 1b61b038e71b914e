"""Why a test failed, in one short text: the failing line and, for a comparison, both sides (standard library only).

Used inside the sandbox by the test runner (for the test files) and by the
solution's process (for the solution's own ``test_*`` functions).
"""


def explain(exc, filename):
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
