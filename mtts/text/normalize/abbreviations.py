"""Abbreviations, mostly those of LJSpeech-era text: titles ("Mr." mister, "Mrs." missus),
"Dr." doctor before a name and drive after one, "St." saint before a name and street after
one, "No." number before a digit, "Co." company, months ("Jan." january)."""

from __future__ import annotations

import re

from mtts.text.normalize.core import NOT_NAMES, Rule, Text

ABBREVIATIONS = {
    "mr": "mister", "mrs": "missus", "ms": "miss", "messrs": "messieurs", "mme": "madame", "mlle": "mademoiselle",
    "jr": "junior", "sr": "senior", "esq": "esquire", "prof": "professor", "gen": "general", "gov": "governor",
    "capt": "captain", "col": "colonel", "lt": "lieutenant", "sgt": "sergeant", "maj": "major", "cpl": "corporal",
    "adm": "admiral", "cmdr": "commander", "pvt": "private", "pfc": "private first class", "brig": "brigadier",
    "atty": "attorney", "msgr": "monsignor", "pkwy": "parkway", "rev": "reverend", "hon": "honorable", "sen": "senator",
    "rep": "representative", "pres": "president", "supt": "superintendent", "insp": "inspector", "det": "detective",
    "drs": "doctors", "co": "company", "corp": "corporation", "ltd": "limited", "inc": "incorporated",
    "bros": "brothers", "dept": "department", "univ": "university", "assn": "association", "govt": "government",
    "vs": "versus", "etc": "et cetera", "approx": "approximately", "ave": "avenue", "blvd": "boulevard",
    "rd": "road", "ln": "lane", "hwy": "highway", "mt": "mount", "ft": "fort", "fig": "figure", "vol": "volume",
    "vols": "volumes", "ch": "chapter", "apt": "apartment", "e.g": "for example", "i.e": "that is",
    "jan": "january", "feb": "february", "mar": "march", "apr": "april", "jun": "june", "jul": "july",
    "aug": "august", "sep": "september", "sept": "september", "oct": "october", "nov": "november",
    "dec": "december", "ph.d": "p h d", "a.k.a": "also known as", "ext": "extension",
    "mon": "monday", "tue": "tuesday", "tues": "tuesday", "thu": "thursday", "thur": "thursday",
    "thurs": "thursday", "fri": "friday",
}
# read so only before a number: "No. 5", "p. 12"
BEFORE_NUMBER = {"no": "number", "nos": "numbers", "p": "page", "pp": "pages", "c": "circa", "ca": "circa",
                 "est": "established"}
# states as AP style shortens them after a town and a comma ("Dallas, Tex."), read so only there,
# since several are words ("ill.", "wash.", "mass.")
STATES = {"ala": "alabama", "ariz": "arizona", "ark": "arkansas", "calif": "california", "colo": "colorado",
          "conn": "connecticut", "del": "delaware", "fla": "florida", "ga": "georgia", "ill": "illinois",
          "ind": "indiana", "kan": "kansas", "ky": "kentucky", "la": "louisiana", "md": "maryland",
          "mass": "massachusetts", "mich": "michigan", "minn": "minnesota", "miss": "mississippi", "mo": "missouri",
          "mont": "montana", "neb": "nebraska", "nev": "nevada", "okla": "oklahoma", "ore": "oregon",
          "pa": "pennsylvania", "penn": "pennsylvania", "tenn": "tennessee", "tex": "texas", "va": "virginia",
          "vt": "vermont", "wash": "washington", "wis": "wisconsin", "wyo": "wyoming"}
# weekdays that are also words ("They will wed."): read so only before a date
WEEKDAYS = {"wed": "wednesday", "sat": "saturday", "sun": "sunday"}
# titles also written without a full stop ("Mr Smith")
_BARE_TITLES = {"mr", "mrs", "ms", "dr", "st", "messrs"}
# words read so without a full stop, between two words: "Lakers vs Celtics"
_BARE_WORDS = {"vs": "versus"}

_KEYS = frozenset(ABBREVIATIONS) | set(BEFORE_NUMBER) | set(WEEKDAYS) | set(STATES) | {"dr", "st", "v", "rt"}
_DOTTED_KEYS = sorted((k for k in _KEYS if "." in k), key=len, reverse=True)
# any short word, looked up in _read: faster than an alternation of every key
_ABBR = re.compile(r"(?<![A-Za-z])(?P<w>(?i:" + "|".join(re.escape(k) for k in _DOTTED_KEYS) + r")|[A-Za-z]{1,6})"
                   r"(?![A-Za-z])(?P<dot>\.)?")


_LETTERS = re.compile(r"[A-Za-z]*")


def _is_name(w: str) -> bool:
    """Whether a word (with whatever follows it: "Smith,", "Patrick's") is a capitalised name."""
    w = _LETTERS.match(w).group()
    return len(w) > 1 and w[0].isupper()


_CODE = re.compile(r"#?[0-9]|[A-Z]{1,2}-?[0-9]")
_MONTHS = frozenset("jan feb mar apr may jun jul aug sep sept oct nov dec".split())


def _is_month(w: str) -> bool:
    """A month's name as written, capitalised ("Jan.", "March"); readings are in lower case."""
    w = _LETTERS.match(w).group()
    return w[:1].isupper() and w[:3].lower() in _MONTHS


def _number_like(w: str) -> bool:
    return w[:1].isdigit()


def _read(m: re.Match, t: Text) -> str | None:
    w, dot = m.group("w"), m.group("dot")
    key = w.lower()
    if key not in _KEYS:
        return None
    nxt, prev = t.word_after(m.end()), t.word_before(m.start())
    if prev in ("dot", "slash", "dash", "underscore", "colon"):
        return None   # the end of an address read out: "example dot co."
    if not dot:
        # before a capital or a digit, which no reading leaves, so a second pass agrees
        if key in _BARE_WORDS and w.islower() and prev and (nxt[:1].isupper() or nxt[:1].isdigit()):
            return _BARE_WORDS[key]
        if key not in _BARE_TITLES or not w[0].isupper() or not _is_name(nxt.rstrip(",.;:")):
            return None
    if key == "v":   # "Roe v. Wade"; "Forrest V. Sorrels" has an initial
        return "versus" if w == "v" and dot and _is_name(prev) and _is_name(nxt) else None
    if key in BEFORE_NUMBER:   # "No. 5", "No. C2766", "Est. 1990"
        return BEFORE_NUMBER[key] if _CODE.match(nxt) else None
    if key in WEEKDAYS:   # "Wed., Jan. 2", "Sat. 5 May": a date follows, as written, not as read
        after = t.word_after(m.end() + (t.s[m.end():m.end() + 1] == ","))
        return WEEKDAYS[key] if w[0].isupper() and (after[:1].isdigit() or _is_month(after)) else None
    if key in STATES and dot and w[0].isupper() and prev.endswith(",") and _is_name(prev):
        return STATES[key]
    if key == "rt":   # "Rt. Hon.", "Rt. 66"
        return ("route" if _CODE.match(nxt) else "right") if dot and w[0].isupper() else None
    if key not in ABBREVIATIONS and key not in ("dr", "st"):
        return None
    if key in ("dr", "st"):
        # before a name a saint or a doctor ("St. Paul", "Bury St. Edmunds"); after a name
        # and before none a street or a drive ("Baker St.", "Baker St. The house")
        before_name = _is_name(nxt) and _LETTERS.match(nxt).group() not in NOT_NAMES
        if key == "st":
            reading = "saint" if before_name else "street"
        else:
            after_name = _is_name(prev) or _number_like(prev)
            reading = "drive" if after_name and not before_name else "doctor"
    elif key == "ft" and _number_like(prev):
        return None   # "6 ft." is a measure
    else:
        reading = ABBREVIATIONS[key]
    return reading


_TITLE = re.compile(r"(?:Mrs?|Ms|Dr|St|Messrs|MRS?|MS|DR|ST|MESSRS)(?= [A-Z])")


_LETTERS_BEFORE = re.compile(r"[A-Za-z]+$")
_BARE = re.compile(r"vs(?= [A-Z0-9])")


def _starts(s: str) -> list[int]:
    """Words before a full stop ("e.g." from its first letter), and titles before a name."""
    out = {m.start() for m in _TITLE.finditer(s)}
    out.update(m.start() for m in _BARE.finditer(s))
    i = s.find(".")
    while i >= 0:
        m = _LETTERS_BEFORE.search(s, max(i - 6, 0), i)
        if m is not None:
            j = m.start()
            out.add(j)
            if j >= 2 and s[j - 1] == ".":   # "e.g.", "a.k.a."
                out.add(j - 2 if j < 4 or s[j - 3] != "." else j - 4)
        i = s.find(".", i + 1)
    return sorted(out)


ABBREVIATION = Rule("ABBREVIATION", _ABBR, _read, "", _starts)
