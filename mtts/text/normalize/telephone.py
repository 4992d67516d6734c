"""Telephone numbers, read digit by digit in their written groups with a pause between
groups: "555-1234" -> "five five five, one two three four", "(555) 123-4567",
"1-800-555-0199", "+44 20 7946 0958" -> "plus four four, two o, ...", "020 7946 0958"."""

from __future__ import annotations

import re

from mtts.text.normalize.core import Rule, Text, number_runs
from mtts.text.normalize.numbers import digits

_PHONE = re.compile(
    r"(?<![0-9A-Za-z.,+-])(?:"
    r"\+[0-9]{1,3}(?:[ .-]\(?[0-9]{1,4}\)?){2,5}"                   # international
    r"|(?:1[ .-])?\(?[0-9]{3}\)?[ .-]?[0-9]{3}[.-][0-9]{4}"          # North American
    r"|(?:1[ .-])?\(?[0-9]{3}\)? ?[0-9]{3} [0-9]{4}"
    r"|[0-9]{3}-[0-9]{4}"                                          # local
    r"|\(?0[0-9]{1,4}\)?(?:[ .-][0-9]{2,4}){1,3}"                    # national, trunk 0: "020 7946 0958"
    r")(?![0-9]|[.-][0-9])")
_GROUP = re.compile(r"\+?[0-9]+")


def _phone(m: re.Match, t: Text) -> str | None:
    groups = _GROUP.findall(m.group())
    n = sum(len(g) for g in groups)
    if m.group()[0] == "+" and n < 8:
        return None   # too short for an international number
    if m.group().lstrip("(")[0] == "0" and len(groups) > 1 and not 9 <= n <= 12:
        return None   # "0 10 20": numbers, not a national telephone number
    return ", ".join(("plus " if g[0] == "+" else "") + digits(g) for g in groups)


_NEXT_GROUP = re.compile(r"[-. ]?[0-9]{3}|\) ?[0-9]{3}|-[0-9]{4}")


def _starts(s: str) -> list[int]:
    """Numbers after "+" or "(", or followed by another group of digits."""
    out = []
    for a, b in number_runs(s):
        if a and s[a - 1] in "+(":
            out.append(a - 1)
        elif _NEXT_GROUP.match(s, b) or "." in s[a:b]:
            out.append(a)
    return out


TELEPHONE = Rule("TELEPHONE", _PHONE, _phone, "digit", _starts)
