"""Initialisms and words in capitals: "FBI" -> "f b i", "U.S." -> "u s", "CDs" -> "c d's";
capitals that read as a word stay a word ("NASA", "UNESCO"). Conservative: a token of two
or three capitals, or one no English word could be pronounced like (no vowel, a cluster no
English word starts or ends with), is spelled. In text written all in capitals none are."""

from __future__ import annotations

import re

from mtts.text.normalize.core import Rule, Text

_DOTTED = re.compile(r"(?<![A-Za-z])(?P<w>(?:[A-Za-z]\.){2,})(?P<pos>'s)?")
_CAPS = re.compile(r"(?<![A-Za-z'])(?P<w>[A-Z]{2,}|PhD|MSc|BSc|DPhil)(?P<pos>'?s)?(?![A-Za-z])")
# short words often written in capitals for emphasis: words, not initialisms
WORDS = {"OK": "okay", "WWI": "world war one", "WWII": "world war two", "RAM": "ram", "ROM": "rom", "PIN": "pin",
         "SIM": "sim", "LAN": "lan", **{w: w.lower() for w in
         "NO NOT YES THE AND BUT FOR YOU ALL ARE WAS HAS HAD HIS HER HIM SHE ONE TWO NOW NEW OLD OUT OUR "
         "GET GOT CAN MAY SAY SEE WAY HOW WHY ITS LET PUT TOO BIG END DAY MAN MEN BOY GIRL OH GO SO DO "
         "UP IF AN OR AT TO IN ON OF IS BE BY WE HE ME MY".split()}}
_VOWELS = "AEIOUY"
_RUNS = re.compile(r"[AEIOUY]+|[^AEIOUY]+")
ONSETS = frozenset("B C D F G H J K L M N P Q R S T V W X Z BL BR CH CL CR DR FL FR GL GN GR KN PH PL PR QU "
                   "SC SCH SCR SH SK SL SM SN SP SPL SPR ST STR SW TH THR TR TW WH WR".split())
CODAS = frozenset("B C D F G H K L M N P Q R S T V W X Z CH CK CT DS FF FT GH LD LF LK LL LM LP LS LT MB MP MS "
                  "ND NG NK NN NS NT PH PS PT RB RC RD RF RG RK RL RM RN RP RS RT SH SK SP SS ST TH TS TT "
                  "TZ WN WS ZZ".split())


def pronounceable(w: str) -> bool:
    """Whether capitals read as an English word: a vowel, onsets and codas English has,
    no run of more than three consonants or two vowels inside."""
    runs = _RUNS.findall(w)
    if not any(r[0] in _VOWELS for r in runs):
        return False
    if w[0] == "Y" and len(runs[0]) == 1:
        return pronounceable("J" + w[1:])
    if runs[0][0] not in _VOWELS and runs[0] not in ONSETS:
        return False
    if runs[-1][0] not in _VOWELS and runs[-1] not in CODAS:
        return False
    if any(len(r) > 2 for r in runs if r[0] in _VOWELS):
        return False
    return all(len(r) <= 3 for r in runs[1:-1])


def spell(w: str) -> str:
    return " ".join(c.lower() for c in w if c.isalpha())


def _dotted(m: re.Match, t: Text) -> str:
    return spell(m.group("w")) + ("'s" if m.group("pos") else "")


def _caps(m: re.Match, t: Text) -> str | None:
    if t.caps:
        return None
    w, pos = m.group("w"), m.group("pos") or ""
    if w in WORDS and not pos:
        return WORDS[w]
    if len(w) >= 4 and pronounceable(w):
        return w.lower() + pos
    return spell(w) + ("'s" if pos else "")


DOTTED = Rule("LETTERS", _DOTTED, _dotted, ".", re.compile(r"[A-Za-z](?=\.[A-Za-z]\.)"))
CAPS = Rule("LETTERS", _CAPS, _caps, "upper", re.compile(r"[A-Z]{2}|PhD|MSc|BSc|DPhil"))
