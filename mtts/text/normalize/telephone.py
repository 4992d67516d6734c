"""Telephone numbers, read digit by digit in their written groups with a pause between
groups: "555-1234" -> "five five five, one two three four", "(555) 123-4567",
"1-800-555-0199", "+44 20 7946 0958" -> "plus four four, two o, ...", "020 7946 0958", and an
extension after one: "555-1234 ext. 42" -> "..., extension four two"."""

from __future__ import annotations

import re

from mtts.text.normalize.cardinal import counts_things
from mtts.text.normalize.core import Rule, Text, number_runs
from mtts.text.normalize.numbers import digits

_PHONE = re.compile(
    r"(?<![0-9A-Za-z.,+-])(?P<tel>"
    r"\+[0-9]{1,3}(?: ?\(0\) ?|[ .-])\(?[0-9]{1,4}\)?(?:[ .-]\(?[0-9]{1,4}\)?){1,4}"  # international; "+44 (0)20"
    r"|\+[0-9]{1,3}(?: ?\(0\) ?|[ .-])[0-9]{1,5}(?:[ .-][0-9]{1,5}){0,2}[ .-][0-9]{5,8}"   # "+49 30 1234567"
    r"|(?:1[ .-])?\(?[0-9]{3}\)?[ .-]?[0-9]{3}[.-][0-9]{4}"          # North American
    r"|(?:1[ .-])?\(?[0-9]{3}\)? ?[0-9]{3} [0-9]{4}"
    r"|[0-9]{3}-[0-9]{4}"                                          # local
    r"|\(?0[0-9]{1,4}\)?(?:[ .-][0-9]{2,4}){1,3}"                    # national, trunk 0: "020 7946 0958"
    r"|0[0-9]{3,4} [0-9]{6}"                                       # "07700 900123"
    r")(?![0-9]|[.-][0-9])"
    # an extension: "ext. 42", "x204", "extension 7"
    r"(?:,? (?:ext\.?|extension) ?(?P<ext>[0-9]{1,5})(?![0-9])|(?<=[0-9]) ?x ?(?P<ext2>[0-9]{2,5})(?![0-9]))?")
_GROUP = re.compile(r"\+?[0-9]+")


def _phone(m: re.Match, t: Text) -> str | None:
    ext = m.group("ext") or m.group("ext2")
    number = m.group("tel")
    groups = _GROUP.findall(number.replace("(0)", ""))   # the trunk 0 not dialled from abroad
    n = sum(len(g) for g in groups)
    if number[0] == "+" and n < 8:
        return None   # too short for an international number
    if number.lstrip("(")[0] == "0" and len(groups) > 1 and not 9 <= n <= 12:
        return None   # "0 10 20": numbers, not a national telephone number
    said = ", ".join(("plus " if g[0] == "+" else "") + digits(g) for g in groups)
    return f"{said}, extension {digits(ext)}" if ext else said


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


# ---- a number to dial, said after a word for dialling: "dial 999", "call 112", "call 555 1234"
_DIALLED = re.compile(r"(?<=[A-Za-z.:] )(?P<tel>[0-9]{3,}(?: [0-9]{3,}){0,3})(?![0-9]|[.,][0-9])")
_DIAL_WORDS = frozenset("call dial dialled dialed dialling dialing phone ring text tel tel. tel: telephone fax fax: "
                         "phone: call:".split())


def _dialled(m: re.Match, t: Text) -> str | None:
    if t.word_before(m.start()).lower() not in _DIAL_WORDS or counts_things(t, m, cues=False):
        return None
    return ", ".join(digits(g) for g in m.group().split())


def _dialled_starts(s: str) -> list[int]:
    """Numbers of three digits or more after a word for dialling."""
    return [a for a, b in number_runs(s) if b - a >= 3 and s[a - 1:a] == " "
            and s[s.rfind(" ", 0, a - 1) + 1:a - 1].lower() in _DIAL_WORDS]


DIALLED = Rule("TELEPHONE", _DIALLED, _dialled, "digit", _dialled_starts)
