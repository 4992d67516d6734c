"""Roman numerals where the words around them say so: after a ruler's name an ordinal
("Henry VIII" -> "henry the eighth", "Elizabeth I" -> "elizabeth the first"), after a word
that numbers things a cardinal ("Chapter IV" -> "chapter four", "World War II" -> "world
war two"), before "century" an ordinal ("the XIX century"). A lone "I" is the pronoun
unless a ruler's name comes before it."""

from __future__ import annotations

import re

from mtts.text.normalize.core import NOT_NAMES, Rule, Text
from mtts.text.normalize.numbers import cardinal, ordinal, roman

KEYWORDS = frozenset("chapter chapters part parts volume vol book act scene section article title phase stage "
                     "level class type grade war round series unit appendix psalm canto movement episode season "
                     "bowl schedule annex plate figure fig tome mark apollo vatican gemini".split())
# names that a regnal number follows, so that even "I" and "V" after them are numerals
REGNAL = frozenset("henry edward george william charles james richard john elizabeth mary victoria anne louis "
                   "philip peter catherine frederick ferdinand francis napoleon alexander nicholas paul leo pius "
                   "gregory innocent clement benedict boniface urban sixtus alfonso carlos juan pedro gustav "
                   "gustavus christian olaf harald haakon magnus ivan constantine otto wilhelm ludwig rudolf "
                   "leopold joseph franz umberto victor emmanuel sigismund casimir ramesses ramses thutmose "
                   "amenhotep ptolemy antiochus darius xerxes artaxerxes david robert selim mehmed murad "
                   "suleiman mahmud hussein farouk fuad rama"
                   .split())
_ROMAN = re.compile(r"(?<![A-Za-z0-9'])(?P<r>[IVXLCDM]+|[ivxlc]+)(?P<pos>'s)?(?![A-Za-z0-9])")


_TRAILING_WORD = re.compile(r"[A-Za-z]+$")


def _read(m: re.Match, t: Text) -> str | None:
    r = m.group("r")
    n = roman(r)
    if n is None:
        return None
    pos = "'s" if m.group("pos") else ""
    prev = t.word_before(m.start())
    key = _TRAILING_WORD.search(prev.rstrip("."))
    nxt = t.word_after(m.end())
    if key and key.group().lower() in KEYWORDS and set(r.upper()) <= set("IVXL"):
        # lower case only from two letters on: "chapter iv", but "type i v" is spelled out;
        # "I" before a lower-case word is the pronoun: "in the last chapter I said"
        world_war = key.group().lower() == "war" and t.words_before(m.start(), 2)[0].lower() == "world"
        if len(r) > 1 or (r in "VX" or r == "I" and (world_war or not nxt[:1].islower())):
            return cardinal(n) + pos
    if not r.isupper():
        return None
    if nxt.lower().startswith("centur"):
        return ordinal(n)
    if not prev.isalpha():
        return None
    if prev.lower() in REGNAL and set(r) <= set("IVXL"):
        # a single letter before a surname or with a full stop is an initial: "Robert I. Bouck"
        if len(r) > 1 or r in "IVX" and not (nxt[:1].isupper() or nxt[:1] == "." and m.end() + 1 < len(t.s)):
            return f"the {ordinal(n)}{pos}"
        return None
    name = prev[0].isupper() and (prev[1:].islower() or t.caps) and prev not in NOT_NAMES
    if name and len(r) >= 2 and set(r) <= set("IVX") and n < 40:
        return f"the {ordinal(n)}{pos}"
    if prev[0].isupper() and prev not in NOT_NAMES and len(r) >= 3 and set(r) <= set("IVX") and n < 40:
        return cardinal(n) + pos   # after a title in capitals and small letters: "WrestleMania III"
    return None


ROMAN = Rule("ROMAN", _ROMAN, _read, "", re.compile(r"[IVXLCDM]+(?![a-z])|[ivxl]{2,}(?![a-z])"))
