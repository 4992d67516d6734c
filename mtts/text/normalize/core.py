"""The engine: rules claim spans of the cleaned text in priority order and give each a
reading; text no rule claims is kept as it is. A rule sees the whole sentence (`Text`), so
its reading can depend on the words around the span ("St." before or after a name).

Between two numeric spans a dash is read "to" (ranges: "1990–1995", "$10-20", "9am-5pm");
a hyphen between a number and a word is a space ("10-year-old", "COVID-19").
"""

from __future__ import annotations

import bisect
import functools
import re
import unicodedata
from dataclasses import dataclass
from typing import Callable

# classes whose spans are quantities, so a dash between two of them is a range
NUMERIC = frozenset({"CARDINAL", "DECIMAL", "ORDINAL", "FRACTION", "MONEY", "MEASURE", "DATE", "TIME"})


@dataclass(frozen=True)
class Span:
    start: int       # offsets in the cleaned text
    end: int
    text: str
    cls: str         # the semiotic class: CARDINAL, DATE, MONEY, ...
    reading: str


class Text:
    """The cleaned sentence a rule reads, with the words around a match."""

    def __init__(self, s: str):
        self.s = s

    @functools.cached_property
    def caps(self) -> bool:
        return is_caps(self.s)

    def word_before(self, i: int) -> str:
        s, j = self.s, i
        while j > 0 and s[j - 1] == " ":
            j -= 1
        return s[s.rfind(" ", 0, j) + 1:j]

    def word_after(self, i: int) -> str:
        s, j = self.s, i
        while j < len(s) and s[j] == " ":
            j += 1
        k = s.find(" ", j)
        return s[j:k if k >= 0 else len(s)]

    def words_before(self, i: int, n: int) -> list[str]:
        """Up to n words before position i, nearest last."""
        return self.s[:i].split()[-n:]


@dataclass(frozen=True)
class Rule:
    cls: str
    pattern: re.Pattern
    # the reading, or (reading, class) where the rule tells two classes apart; None: not
    # this class after all, the span stays free for later rules
    read: Callable[[re.Match, Text], "str | tuple[str, str] | None"]
    # skip the rule unless the text has: "digit", "upper", one of these characters, or a match
    needs: "str | re.Pattern" = ""
    # where a match can start: a quick pattern or a function of the text giving positions;
    # the rule is tried only there, much faster than a search with a pattern that opens
    # with a lookbehind (Python's re then tries every position)
    first: "re.Pattern | Callable[[str], list[int]] | None" = None


# capitalised words that start sentences or titles, not names
NOT_NAMES = frozenset("The A An In On At Of To For By And But Or As If It Is Was He She We They This That "
                       "These Those His Her Its Our Their My Your From With Without After Before When While "
                       "Where Why How What Who Not No So Then There Here All Some Any Each Every".split())
_CAPS_WORD = re.compile(r"\b[A-Z]{2,}\b")
_LONG_WORD = re.compile(r"\b[^\W\d_]{2,}\b")
# a list of initialisms has none of these; a sentence in capitals has some
_FUNCTION_WORDS = frozenset("THE AND OF TO IN IS IT THAT WAS FOR ON ARE WITH AS HIS HER BE AT HAVE THIS FROM BY "
                            "BUT NOT WHAT WE CAN WERE ALL THERE WHEN YOUR SAID HAD HAS SHE YOU THEY".split())


def is_caps(s: str) -> bool:
    """Text written in capitals: its all-caps words are ordinary words, not initialisms."""
    caps = _CAPS_WORD.findall(s)
    return (len(caps) >= 3 and len(caps) >= 0.7 * len(_LONG_WORD.findall(s))
            and sum(w in _FUNCTION_WORDS for w in caps) >= 2)


# ---- cleaning: the same before the rules and on the result, so a second pass changes nothing
_QUOTES = str.maketrans({"’": "'", "‘": "'", "ʼ": "'", "“": '"', "”": '"', "„": '"', "⁄": "/", "º": "°",
                         "−": "-", "‐": "-", "‑": "-"})
_KEEP_SYMBOLS = frozenset("°©®")
_VULGAR = {c: unicodedata.normalize("NFKC", c).replace("⁄", "/")
           for c in "¼½¾⅐⅑⅒⅓⅔⅕⅖⅗⅘⅙⅚⅛⅜⅝⅞"}
_VULGAR_RE = re.compile("[" + "".join(_VULGAR) + "]")
_THIN_SPACE = re.compile(r"(?<=[0-9])[\u00a0\u2009\u202f](?=[0-9]{3}(?![0-9]))")
_ASCII_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_SPACE = re.compile(r"\s+")
_SPACE_BEFORE_PUNCT = re.compile(r" (?=[,;:!?)\]]|\.(?![0-9A-Za-z]))")
_SPACE_AFTER_OPEN = re.compile(r"(?<=[(\[]) ")
# signs that are not spoken, gone before the rules run (a rule reading them as nothing would
# leave "Mr#." as "Mr.", which reads "mister" only the second time round): "#" but before a
# number ("#5"), "_" but inside a word ("john_doe@x.com")
_SILENT = re.compile(r"[*|\\]|#(?![0-9])|(?<![0-9A-Za-z])_|_(?![0-9A-Za-z])")


def _drop_unspeakable(s: str) -> str:
    out = []
    for c in s:
        cat = unicodedata.category(c)
        if cat[0] in "CZ":
            out.append(" ")
        elif cat in ("So", "Sk") and c not in _KEEP_SYMBOLS:
            continue
        else:
            out.append(c)
    return "".join(out)


def clean(text: str) -> str:
    """NFKC, quotes and dashes made plain, control characters and emoji gone, one space."""
    if not text.isascii():
        text = _VULGAR_RE.sub(lambda m: " " + _VULGAR[m.group()], text)  # "3½" -> "3 1/2"
        text = _THIN_SPACE.sub(",", text)  # "1 234 567" with thin spaces is one number
        text = unicodedata.normalize("NFKC", text.translate(_QUOTES))
        text = unicodedata.normalize("NFKC", _drop_unspeakable(text))  # a mark can join a letter again
    elif _ASCII_CONTROL.search(text):
        text = _ASCII_CONTROL.sub(" ", text)
    text = _SPACE.sub(" ", _SILENT.sub(" ", text)).strip()
    return _SPACE_AFTER_OPEN.sub("", _SPACE_BEFORE_PUNCT.sub("", text))


# ---- the engine
# where matches of the number rules start; cached, so the text is scanned once for them all
_RUN = re.compile(r"[0-9]+(?:[,.][0-9]+)*")


@functools.lru_cache(maxsize=64)
def number_runs(s: str) -> tuple[tuple[int, int], ...]:
    """Where the written numbers are: "1,000.5", "12" and "25" in "12/25"."""
    return tuple(m.span() for m in _RUN.finditer(s))


def numbers(follow: str = "", lead: str = ""):
    """Candidate starts for a number rule: each written number whose next characters match
    `follow` (a rule for "3rd" needs letters after the number, one for "3:30" a colon),
    and the character just before it when that is in `lead` ("-5", ".5", "'90s"), or the
    word `lead` when it ends in a space ("the 5th")."""
    after = re.compile(follow) if follow else None
    word = lead if lead.endswith(" ") else ""

    def starts(s: str) -> list[int]:
        out = []
        for a, b in number_runs(s):
            if after is not None and after.match(s, b) is None:
                continue
            if word and s[max(a - len(word), 0):a].lower() == word:
                out.append(a - len(word))
            elif not word and a and s[a - 1] in lead:
                out.append(a - 1)
            out.append(a)
        return out
    return starts


_DIGIT = re.compile(r"[0-9]")
_UPPER = re.compile(r"[A-Z]")
_RANGE_DASH = re.compile(r" ?(?:-|–|—|--) ?")
_DASHES = re.compile(r" ?[-–—]*[–—][-–—]* ?|--+|(?<= )-+(?= )")


def _gates(s: str) -> dict[str, bool]:
    return {"digit": _DIGIT.search(s) is not None, "upper": _UPPER.search(s) is not None}


def _wanted(rule: Rule, s: str, gates: dict[str, bool]) -> bool:
    needs = rule.needs
    if not needs:
        return True
    if needs in gates:
        return gates[needs]
    if isinstance(needs, str):
        return any(c in s for c in needs)
    return needs.search(s) is not None


def _candidates(rule: Rule, s: str, starts: dict) -> list[int] | None:
    """Where the rule's matches can start (None: anywhere); shared by rules with one `first`."""
    f = rule.first
    if f is None:
        return None
    if f not in starts:
        starts[f] = [m.start() for m in f.finditer(s)] if isinstance(f, re.Pattern) else f(s)
    return starts[f]


def _matches(rule: Rule, s: str, claimed: bytearray, cands: list[int] | None):
    """The rule's matches from left to right that do not touch a claimed span."""
    pos = 0
    while pos <= len(s):
        if cands is None:
            m = rule.pattern.search(s, pos)
        else:
            m = None
            for i in range(bisect.bisect_left(cands, pos), len(cands)):
                if (m := rule.pattern.match(s, cands[i])) is not None:
                    break
        if m is None:
            return
        a, b = m.span()
        taken = claimed.find(1, a, b)
        if taken > a:   # it runs into a claimed span: perhaps it also matches up to there
            m = rule.pattern.match(s, a, taken)
            if m is not None and m.end() > a:
                a, b = m.span()
                taken = -1
        if taken >= 0:   # look again after the span in the way, not after this match
            free = claimed.find(0, taken)
            if free < 0:
                return
            pos = max(free, a + 1)
            continue
        pos = b if b > a else a + 1
        yield m


def _gap(s: str, a: int, b: int, prev: Span | None, nxt: Span | None, spans: list[Span]) -> str:
    """The text between two spans (or an end), with its dashes read."""
    gap = s[a:b]
    if prev and nxt and prev.cls in NUMERIC and nxt.cls in NUMERIC and _RANGE_DASH.fullmatch(gap):
        if prev.text == nxt.text and gap == "-":
            return " "            # "a 50-50 chance": a split, not a range
        spans.append(Span(a, b, gap, "RANGE", "to"))
        return " to "
    if gap in (" x ", " by ") and prev and nxt and prev.cls in NUMERIC and nxt.cls in NUMERIC:
        return " by "             # dimensions: "5 m x 3 m", "10 x 2.5 m"
    if gap == "-" and (prev or nxt) and a > 0 and b < len(s):
        return " "                # "10-year-old", "COVID-19", "FBI-led"
    if prev and gap[:1] == "-" and gap[1:2].isalpha():
        gap = " " + gap[1:]       # "U.S.-led"
    if nxt and gap[-1:] == "-" and gap[-2:-1].isalpha():
        gap = gap[:-1] + " "
    if "-" in gap or "—" in gap or "–" in gap:
        # a reading is set off by spaces, so read the dashes as they will stand then
        gap = _DASHES.sub(", ", (" " if prev else "") + gap + (" " if nxt else ""))
    return gap


def run(text: str, rules: tuple[Rule, ...]) -> tuple[str, list[Span]]:
    """The spoken form of `text` and the spans the rules read, in text order."""
    s = clean(text)
    if not s:
        return "", []
    t = Text(s)
    gates = _gates(s)
    claimed = bytearray(len(s))
    spans: list[Span] = []
    starts: dict = {}
    for rule in rules:
        if not _wanted(rule, s, gates):
            continue
        cands = _candidates(rule, s, starts)
        if cands is not None and not cands:
            continue
        for m in _matches(rule, s, claimed, cands):
            reading = rule.read(m, t)
            if reading is None:
                continue
            cls = rule.cls
            if isinstance(reading, tuple):
                reading, cls = reading
            a, b = m.span()
            claimed[a:b] = b"\x01" * (b - a)
            spans.append(Span(a, b, m.group(), cls, reading))
    spans.sort(key=lambda sp: sp.start)
    parts, pos, prev, extra = [], 0, None, []
    for sp in spans:
        parts.append(_gap(s, pos, sp.start, prev, sp, extra))
        # a span that ends the text with a full stop ("5 p.m.", "U.S.") also ends the sentence,
        # and so does a time's or a unit's before a capital ("at 5 p.m. Then")
        end = ""
        if sp.text.endswith(".") and not sp.reading.endswith("."):
            if sp.end == len(s) or (sp.cls in ("TIME", "MEASURE") and s[sp.end:sp.end + 2].strip()[:1].isupper()):
                end = "."
        parts.append(f" {sp.reading}{end} ")
        pos, prev = sp.end, sp
    parts.append(_gap(s, pos, len(s), prev, None, extra))
    out = clean("".join(parts))
    if gates["upper"] and t.caps:
        out = out.lower()
    return out, sorted(spans + extra, key=lambda sp: sp.start)
