r"""What a task says its function does on empty input, as assert lines: ``An empty list gives 0``.

Users rarely write ``f([]) == 0``; they write "an empty list gives 0", "the product of an empty
list is 1", "return None if the list is empty", "(0 for an empty list)", "or the empty string when
s is empty", "an empty string stays empty". For a function of one parameter, each such sentence
is a worked example whose input is named in words: the empty value of the parameter's type
(from its hint, its name or the words around it, as :mod:`roles.inputs` reads them) and the value
the sentence gives. What is not plainly one of these (a function of two parameters, a value that
is not a Python literal, an empty input of another type than the parameter's) is left out rather
than guessed.

Example:
    >>> empty_asserts("Write product(nums). The product of an empty list is 1.")
    ['assert product([]) == 1']
    >>> empty_asserts("first_char(s) returns the first character of s, or the empty string when s is empty.")
    ["assert first_char('') == ''"]
"""

from __future__ import annotations

import re

from roles.inputs import param_kind, signature

__all__ = ["empty_asserts"]

_NOUNS = {"list": "[]", "array": "[]", "sequence": "[]", "matrix": "[]", "grid": "[]", "string": "''",
          "str": "''", "text": "''", "sentence": "''", "word": "''", "dict": "{}", "dictionary": "{}",
          "mapping": "{}", "tuple": "()", "set": "set()"}
_NOUN = "|".join(sorted(_NOUNS, key=len, reverse=True))
_LITERALS = {"list[int]": "[]", "list[str]": "[]", "list[float]": "[]", "list": "[]", "str": "''", "dict": "{}",
             "tuple": "()"}
_VALUE = (rf"(?:the|an?)\s+empty\s+(?:{_NOUN})|empty|none|zero|true|false|-?\d+(?:\.\d+)?|\"\"|''|\[\]|\{{\}}|"
          r"\(\)")
_END = r"(?=\s*(?:[.,;:)!?]|$|\s(?:and|but|too|as\s+well|instead)\b))"
_VERB = (r"gives|returns|yields|is|stays|remains|becomes|produces|has|contains|[a-z]+s\s+(?:to|into)|results\s+in|"
         r"should\s+(?:return|give|be|stay|yield)|must\s+(?:return|give|be)")


def _subject(param: str) -> str:
    """An empty input in words: "an empty list", "empty arr", "the given array is empty", "'s' is an empty string".

    Also what holds of the empty input among others: "a sentence with no words", "there are no numbers" (the
    empty sentence has no words; a one-parameter function's empty input has no items of any kind).
    """
    name = re.escape(param)
    return (rf"(?:(?:(?:an?|the)\s+)?empty\s+(?:(?P<noun>{_NOUN})\b|(?P<input>input)\b|[`'\"]?(?P<param1>{name})\b)"
            rf"|\b(?:the\s+(?:given\s+|input\s+)?(?P<noun2>{_NOUN})|[`'\"]?(?P<param2>{name})[`'\"]?)\s+is\s+"
            rf"(?:an?\s+)?empty(?:\s+(?P<noun3>{_NOUN}))?\b"
            rf"|\b(?:an?\s+)?(?P<noun4>{_NOUN})\s+(?:with\s+no|without\s+any)\s+[a-z]+s\b"
            rf"|\b(?P<none>there\s+(?:are|is)\s+no)\s+[a-z]+s?\b)")


_FORMS = (
    # "An empty list gives 0", "The product of an empty list is 1", "an empty list has none"
    r"{subject}[^.;:!?\n]{{0,40}}?\b(?P<verb>{verb})\s+(?P<value>{value}){end}",
    # "(0 for an empty list)", "or the empty string when s is empty", "return None if the list is empty"
    r"(?:^|[\s(,;:])(?P<verb>(?:return|returns|give|gives|yield|yields)\s+)?(?P<value>{value})\s+"
    r"(?:for|when|if|on|in\s+case)\s+{subject}",
    # "the empty string has 0 words"
    r"{subject}[^.;:!?\n]{{0,40}}?\b(?P<verb>has|contains)\s+(?P<value>zero|\d+)\s+[a-z]+s\b",
    # "If the list is empty, return None", "If there are no even values or the array is empty, return []"
    r"\bif\s+(?:(?!\band\b)[^.;:!?\n]){{0,60}}?{subject}\s*,?\s*(?:then\s+)?(?:it\s+|the\s+function\s+)?(?:should\s+)?"
    r"(?P<verb>return|returns|give|gives)\s+(?P<value>{value}){end}",
    # for is_palindrome(s): "The empty string is a palindrome"; for is_sorted(nums): "an empty list is not sorted"
    r"{subject}\s+is\s+(?:also\s+)?(?P<verb>not\s+)?(?:an?\s+)?{word}\b",
)


def _literal(value: str, verb: str, empty: str) -> str:
    """The Python value a sentence's words name (``_VALUE`` matches only words that name one)."""
    word = value.lower()
    if word == "empty":
        return empty  # "stays empty", "is empty": the input's own empty value
    if word == "none":
        return "0" if verb.strip().lower() in ("has", "contains") else "None"  # "an empty list has none"
    if word == "zero":
        return "0"
    if word in ("true", "false"):
        return word.capitalize()
    found = re.fullmatch(rf"(?:the|an?)\s+empty\s+({_NOUN})", word)
    return _NOUNS[found.group(1)] if found else value


def empty_asserts(text: str) -> list[str]:
    r"""Each thing ``text`` says its one-parameter function returns on empty input, as an assert line.

    Example:
        >>> empty_asserts("count_positive(nums) counts the numbers above zero; an empty list has none.")
        ['assert count_positive([]) == 0']
        >>> empty_asserts("def head(xs: list) -> int:\n    '''The first item; return None if the list is empty.'''")
        ['assert head([]) is None']
        >>> empty_asserts("longest(sentence) finds the longest word; a sentence with no words gives the empty\nstring.")
        ["assert longest('') == ''"]
        >>> empty_asserts("is_palindrome(s) reads s both ways. The empty string is a palindrome.")
        ["assert is_palindrome('') is True"]
        >>> empty_asserts("rotate(items, k): an empty list stays empty.")  # two parameters: which is empty?
        []
    """
    found = signature(text)
    if found is None or len(found[1]) != 1:
        return []
    function, [(param, hint)] = found
    kinds = {param_kind(param, hint, text), param_kind(param, hint, "")}  # by the words around it, by its name
    own = {_LITERALS[k] for k in kinds if k in _LITERALS}
    if not own and kinds != {"any"}:
        return []  # a number or a flag: an empty input is about something else
    out: list[str] = []
    subject = _subject(param)
    word = r"\s+".join(map(re.escape, function.removeprefix("is_").split("_")))  # what is_palindrome says is so
    prose = re.sub(r"[ \t]*(?<!\n)\n(?!\n)[ \t]*", " ", text)  # a sentence wrapped over two lines is one sentence
    for form in _FORMS:
        pattern = form.format(subject=subject, verb=_VERB, value=_VALUE, end=_END, word=word)
        for match in re.finditer(pattern, prose, re.IGNORECASE):
            noun = match.group("noun") or match.group("noun2") or match.group("noun3") or match.group("noun4")
            empty = _NOUNS[noun.lower()] if noun else (next(iter(own)) if len(own) == 1 else None)
            if empty is None or (own and empty not in own):
                continue  # an empty input of another type than the parameter's: about something else
            if (match.group("input") or match.group("none")) and not kinds <= {*_LITERALS, "any"}:
                continue  # "there are no divisors" of divisors(n): the parameter may be a number
            verb = match.group("verb") or ""
            value = (_literal(match.group("value"), verb, empty) if "value" in match.groupdict()
                     else "False" if verb else "True")  # a predicate: "is a palindrome", "is not sorted"
            line = f"assert {function}({empty}) {'is' if value in ('True', 'False', 'None') else '=='} {value}"
            if line not in out:
                out.append(line)
    return out
