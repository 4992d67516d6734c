"""URLs and e-mail addresses: "john.smith@example.com" -> "john dot smith at example dot
com", "https://www.example.org/a-b" -> "h t t p s colon slash slash w w w dot example dot
org slash a dash b". Words are read as words, digits one by one, letter strings without
a vowel letter by letter."""

from __future__ import annotations

import re

from mtts.text.normalize.core import Rule, Text
from mtts.text.normalize.numbers import digits

_SIGNS = {".": "dot", "@": "at", "/": "slash", ":": "colon", "-": "dash", "_": "underscore", "~": "tilde",
          "?": "question mark", "=": "equals", "&": "and", "#": "hash", "%": "percent", "+": "plus"}
_SPELLED = {"www", "http", "https", "ftp"}
_PIECE = re.compile(r"[A-Za-z]+|[0-9]+|.")
_TLDS = "com|org|net|edu|gov|mil|int|info|biz|io|ai|app|dev|co\\.uk|org\\.uk|ac\\.uk|uk|us|ca|de|fr|eu"
_EMAIL = re.compile(r"(?<![\w.+])[A-Za-z0-9][A-Za-z0-9._%+-]*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}"
                    r"(?![A-Za-z@])")
# a path is URL characters and does not end in punctuation ("see example.com/a.")
_PATH = r"[A-Za-z0-9/_.~%=&?#+:-]*[A-Za-z0-9/_~%=&#+-]"
_URL = re.compile(r"(?<![\w])(?:(?:https?|ftp)://" + _PATH +
                  r"|(?:www\.)?[A-Za-z0-9][A-Za-z0-9-]*(?:\.[A-Za-z0-9-]+)*\.(?:" + _TLDS + r")(?:/" + _PATH + r")?)"
                  r"(?![A-Za-z])")
_VOWELS = set("aeiouy")


def spell_out(s: str) -> str:
    """An address piece by piece: words as words, digits one by one, signs by name."""
    out = []
    for p in _PIECE.findall(s):
        if p.isdigit():
            out.append(digits(p))
        elif p.isalpha():
            low = p.lower()
            out.append(" ".join(low) if low in _SPELLED or not _VOWELS & set(low) else low)
        elif p in _SIGNS:
            out.append(_SIGNS[p])
    return " ".join(out)


def _read(m: re.Match, t: Text) -> str:
    return spell_out(m.group())


EMAIL = Rule("ELECTRONIC", _EMAIL, _read, "@")
URL = Rule("ELECTRONIC", _URL, _read, re.compile(r"://|www\.|\.(?:" + _TLDS + r")(?![A-Za-z])"))
