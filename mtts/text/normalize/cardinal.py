"""Numbers on their own: ordinals, fractions, plurals of numbers, and cardinals, decimals,
years and codes, told apart by their form and the words around them."""

from __future__ import annotations

import re

from mtts.text.normalize.core import Rule, Text, numbers
from mtts.text.normalize.numbers import INT, NUM, cardinal, digits, fraction, number, ordinal, plural, year

# a number not glued to a word or to another number's separator
_FREE = r"(?<![0-9A-Za-z.,])"

# ---- ordinals: 1st, 22nd, 1,000th; 2d and 3d as in older text; plurals: "3rds" thirds
_ORDINAL = re.compile(rf"{_FREE}({INT})((?i:st|nd|rd|th)|d)(s)?(?![A-Za-z0-9])")


def _ordinal(m: re.Match, t: Text) -> str | None:
    n = int(m.group(1).replace(",", ""))
    if m.group(2) == "d" and (n % 10 not in (2, 3) or n % 100 in (12, 13)):
        return None
    return ordinal(n) + ("s" if m.group(3) else "")


# ---- fractions and mixed numbers: 1/4, 3 2/4, 1/3rd
_FRACTION = re.compile(rf"{_FREE}(-)?(?:([0-9]+) )?([0-9]+)/([0-9]+)(?:(?:st|nd|rd|th)s?(?![A-Za-z]))?(?![0-9/])")
_IDIOMS = {"24/7": "twenty four seven", "9/11": "nine eleven", "50/50": "fifty fifty"}


def _fraction(m: re.Match, t: Text) -> str:
    sign, whole, num, den = m.group(1), m.group(2), m.group(3), m.group(4)
    frac = f"{num}/{den}"
    if frac in _IDIOMS and not sign:
        return (cardinal(int(whole)) + " " if whole else "") + _IDIOMS[frac]
    sign = "minus " if sign else ""
    if whole:
        return f"{sign}{cardinal(int(whole))} and {fraction(int(num), int(den), mixed=True)}"
    return sign + fraction(int(num), int(den))


# ---- a rating with a decimal: "4.5/5" -> "four point five out of five"
_OUT_OF = re.compile(rf"{_FREE}([0-9]+\.[0-9]+)/([0-9]+)(?![0-9/]|\.[0-9])")


def _out_of(m: re.Match, t: Text) -> str:
    return f"{number(m.group(1))} out of {number(m.group(2))}"


# ---- plurals of numbers: "747s", "the 5s" (decades are dates); "49ers" forty niners
_PLURAL = re.compile(rf"{_FREE}({INT})('?s|ers)(?![A-Za-z0-9])")


def _plural(m: re.Match, t: Text) -> str:
    words = number(m.group(1))
    if m.group(2) == "ers":
        return words + ("rs" if words.endswith("e") else "ers")
    return plural(words)


# ---- numbers of three or more dotted parts: "section 3.2.1", "version 2.0.1", "192.168.0.1"
_DOTTED = re.compile(rf"{_FREE}([0-9]+(?:\.[0-9]+){{2,}})(?![0-9]|\.[0-9])")


def _dotted(m: re.Match, t: Text) -> tuple[str, str]:
    parts = m.group(1).split(".")
    if len(parts) == 4 and all(int(p) <= 255 and (p == "0" or p[0] != "0") for p in parts):
        return " dot ".join(cardinal(int(p)) for p in parts), "ELECTRONIC"   # an IPv4 address
    if 1 <= len(parts[0]) <= 3 and parts[0][0] != "0" and all(len(p) == 3 for p in parts[1:]):
        return cardinal(int("".join(parts))), "CARDINAL"   # thousands grouped with dots: "1.000.000"
    return " point ".join(digits(p) if len(p) > 1 and p[0] == "0" else cardinal(int(p)) for p in parts), \
        "CARDINAL"


# ---- cardinals, decimals, years, codes
# groups of three after a space are one number ("10 000"): a group like "000" is no number alone
_CARDINAL = re.compile(rf"{_FREE}(-)?([0-9]{{1,3}}(?: [0-9]{{3}})+(?![0-9.,])|{NUM})(?![0-9])")
# before these a four-digit number is a count or a label, not a year
_COUNT_CUES = frozenset("page pages p. pp. no. nos. number numbers room flight route highway suite box "
                        "channel model some than nearly almost approximately roughly exactly".split())
_NOT_PLURAL = frozenset("is was has as its his hers this thus us yes always towards afterwards besides "
                        "whereas unless less plus minus across perhaps sometimes ours theirs yours".split())
_PLURAL_NOUNS = frozenset("people men women children feet persons police cattle troops staff".split())
# plural nouns a year describes ("at 1995 levels", "in 2020 prices"), not counts
_YEAR_NOUNS = frozenset("levels prices sales figures rates elections standards earnings profits revenues "
                        "budgets estimates forecasts".split())
_SAID_AS_DIGITS = {"911": "nine one one", "411": "four one one"}


def counts_things(t: Text, m: re.Match, cues: bool = True) -> bool:
    """'1500 soldiers', 'page 1999': a count or a label rather than a year (cues: whether
    a word before the number, "page", "some", says so too)."""
    if cues and t.word_before(m.start()).lower() in _COUNT_CUES:
        return True
    bare = t.word_after(m.end()).rstrip(",.;:!?)")
    if not bare.isalpha() or not bare.islower():
        return False
    # "soldiers", not "class", "census" or "analysis"
    return bare in _PLURAL_NOUNS or (bare.endswith("s") and not bare.endswith(("ss", "us", "is"))
                                     and bare not in _NOT_PLURAL and bare not in _YEAR_NOUNS)


def _cardinal(m: re.Match, t: Text) -> tuple[str, str]:
    sign, s = m.group(1), m.group(2).replace(" ", ",")
    if "." in s:
        return ("minus " if sign else "") + number(s), "DECIMAL"
    plain = s.isdigit()
    if plain and not sign and len(s) == 4 and 1000 <= int(s) <= 2099 and not counts_things(t, m):
        return year(int(s)), "DATE"
    if s in _SAID_AS_DIGITS and not sign:
        return _SAID_AS_DIGITS[s], "DIGITS"
    if plain and len(s) > 1 and s[0] == "0":
        return ("minus " if sign else "") + digits(s), "DIGITS"
    return ("minus " if sign else "") + number(s), "CARDINAL"


# ---- a scale letter before a plural noun: "1.5M users", "10k runners", "2bn people" (a "4K TV"
# and "3M" the company stay letters)
_SCALED = re.compile(rf"{_FREE}(-)?({NUM})([kK]|M|B|bn|mn)(?= [a-z]+(?![A-Za-z]))")
_SCALE_LETTERS = {"k": "thousand", "K": "thousand", "M": "million", "mn": "million", "B": "billion", "bn": "billion"}


def _scaled(m: re.Match, t: Text) -> str | None:
    if not counts_things(t, m, cues=False):
        return None
    return ("minus " if m.group(1) else "") + f"{number(m.group(2))} {_SCALE_LETTERS[m.group(3)]}"


# ---- ratios and scores that are not times: "3:2", "a 2:1 win"
_RATIO = re.compile(r"(?<![0-9A-Za-z.,:])([0-9]+):([0-9]+)(?![0-9:]|\.[0-9])")


def _ratio(m: re.Match, t: Text) -> str:
    return f"{number(m.group(1))} to {number(m.group(2))}"


# ---- "3x" three times, "1.5x" one point five times, "2x4" and "10 x 12" by
_TIMES = re.compile(rf"{_FREE}([0-9]+(?:\.[0-9]+)?)(?:x|(?P<sp> x ))(?:([0-9]+(?:\.[0-9]+)?)(?![0-9]|[.,][0-9])"
                    r"|(?(sp)(?!)|(?![A-Za-z])))")


def _times(m: re.Match, t: Text) -> str:
    n, by = m.group(1), m.group(3)
    return f"{number(n)} by {number(by)}" if by else f"{number(n)} times"


# ---- digits glued to letters: "mp3", "B52", "R2D2"; and whatever digit is left
_AFTER_LETTER = re.compile(r"(?<=[A-Za-z])[0-9]+")
_ANY_DIGITS = re.compile(r"[0-9]+")


def _after_letter(m: re.Match, t: Text) -> str:
    s = m.group()
    return number(s) if len(s) <= 4 else digits(s)


def _digits(m: re.Match, t: Text) -> str:
    return digits(m.group())


ORDINAL = Rule("ORDINAL", _ORDINAL, _ordinal, "digit", numbers("[A-Za-z]"))
OUT_OF = Rule("CARDINAL", _OUT_OF, _out_of, "/", numbers("/"))
FRACTION = Rule("FRACTION", _FRACTION, _fraction, "/", numbers("/| [0-9]+/", "-"))
PLURAL = Rule("CARDINAL", _PLURAL, _plural, "digit", numbers("'?s|ers"))
RATIO = Rule("CARDINAL", _RATIO, _ratio, ":", numbers(":"))
TIMES = Rule("CARDINAL", _TIMES, _times, "x", numbers(" ?x"))
DOTTED = Rule("CARDINAL", _DOTTED, _dotted, ".", numbers())
SCALED = Rule("CARDINAL", _SCALED, _scaled, "digit", numbers("[kKMBbm]", "-"))
CARDINAL = Rule("CARDINAL", _CARDINAL, _cardinal, "digit", numbers(lead="-."))
AFTER_LETTER = Rule("CARDINAL", _AFTER_LETTER, _after_letter, "digit", re.compile("(?<=[A-Za-z])[0-9]"))
DIGITS = Rule("DIGITS", _ANY_DIGITS, _digits, "digit")
