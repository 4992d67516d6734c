"""Symbols left after the other classes: "&" -> "and", "+" -> "plus", "±" -> "plus or minus",
"#5" -> "number five", "his/her" -> "his or her"; signs that are not spoken ("*", "_", "|") are dropped."""

from __future__ import annotations

import re

from mtts.text.normalize.core import Rule, Text

SIGNS = {"&": "and", "+": "plus", "=": "equals", "@": "at", "%": "percent", "°": "degrees", "×": "times",
         "÷": "divided by", "±": "plus or minus", "~": "about", "<": "less than", ">": "greater than", "©": "copyright",
         "®": "registered", "*": "", "_": "", "|": "", "\\": "", "#": ""}
_SYMBOL = re.compile(r"[&+=@%°×÷±~<>©®*_|\\#/]")


def _read(m: re.Match, t: Text) -> str:
    c = m.group()
    if c == "#":
        return "number" if t.s[m.end():m.end() + 1].isdigit() else ""
    if c == "/":
        s, i = t.s, m.start()
        if 0 < i < len(s) - 1 and s[i - 1].isalpha() and s[i + 1].isalpha():
            return "" if t.word_before(i).lower().endswith("and") else "or"
        return "slash"
    return SIGNS[c]


SYMBOL = Rule("SYMBOL", _SYMBOL, _read)
