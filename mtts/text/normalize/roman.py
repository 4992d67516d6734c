"""Roman numerals where the words around them say so: after a ruler's name an ordinal
("Henry VIII" -> "henry the eighth", "Elizabeth I" -> "elizabeth the first"), after a word
that numbers things a cardinal ("Chapter IV" -> "chapter four", "World War II" -> "world
war two"), before "century" an ordinal ("the XIX century"). A lone "I" is the pronoun
unless a ruler's name comes before it."""

from __future__ import annotations

import re

from mtts.text.normalize.core import Rule, Text
from mtts.text.normalize.numbers import cardinal, ordinal, roman

KEYWORDS = frozenset("chapter chapters part parts volume vol book act scene section article title phase stage "
                     "level class type grade war round series unit appendix psalm canto movement episode season "
                     "bowl schedule annex plate figure fig tome number no".split())
# names that a regnal number follows, so that even "I" and "V" after them are numerals
REGNAL = frozenset("henry edward george william charles james richard john elizabeth mary victoria anne louis "
                   "philip peter catherine frederick ferdinand francis napoleon alexander nicholas paul leo pius "
                   "gregory innocent clement benedict boniface urban sixtus alfonso carlos juan pedro gustav "
                   "gustavus christian olaf harald haakon magnus ivan constantine otto wilhelm ludwig rudolf "
                   "leopold joseph franz umberto victor emmanuel sigismund casimir ramesses ramses thutmose "
                   "amenhotep ptolemy antiochus darius xerxes artaxerxes david robert selim mehmed murad "
                   "suleiman mahmud hussein farouk fuad rama"
                   .split())
# capitalised words that start sentences or titles, not names
_NOT_NAMES = frozenset("The A An In On At Of To For By And But Or As If It Is Was He She We They This That "
                       "These Those His Her Its Our Their My Your From With Without After Before When While "
                       "Where Why How What Who Not No So Then There Here All Some Any Each Every".split())
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
    if key and key.group().lower() in KEYWORDS and set(r.upper()) <= set("IVXL"):
        # lower case only from two letters on: "chapter iv", but "type i v" is spelled out
        if r.isupper() and (len(r) > 1 or r in "IVX") or len(r) > 1:
            return cardinal(n) + pos
    if not r.isupper():
        return None
    if t.word_after(m.end()).lower().startswith("centur"):
        return ordinal(n)
    if not prev.isalpha():
        return None
    if prev.lower() in REGNAL and set(r) <= set("IVXL"):
        return f"the {ordinal(n)}{pos}"
    name = prev[0].isupper() and (prev[1:].islower() or t.caps) and prev not in _NOT_NAMES
    if name and len(r) >= 2 and set(r) <= set("IVX") and n < 40:
        return f"the {ordinal(n)}{pos}"
    return None


ROMAN = Rule("ROMAN", _ROMAN, _read, "", re.compile(r"[IVXLCDM]+(?![a-z])|[ivxl]{2,}(?![a-z])"))
