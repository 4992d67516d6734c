"""Times of day and durations: "3:30 pm" -> "three thirty p m", "1.59 p.m." -> "one fifty nine
p m", "1 a.m." -> "one a m", "7:05" -> "seven o five", "14:00" -> "fourteen hundred",
"3:00" -> "three o'clock", "at 1400 hours" -> "fourteen hundred hours", time zones spelled
("EST" -> "e s t"), and durations: "1:30:05" -> "one hour thirty minutes five seconds",
"25:30" -> "twenty five minutes thirty seconds"."""

from __future__ import annotations

import re

from mtts.text.normalize.core import Rule, Text, numbers
from mtts.text.normalize.numbers import cardinal

# am, a.m., AM, A.M., a. m.; not followed by a letter ("amber")
_AMPM = r"(?P<ampm>(?i:[ap])\.? ?(?i:m)\b\.?)"
_ZONES = ("UTC GMT BST IST CET CEST EET EEST WET MSK EST EDT CST CDT MST MDT PST PDT AKST AKDT HST "
          "AEST AEDT ACST AWST JST KST NZST NZDT SGT HKT ET CT MT PT").split()
_ZONE = rf"(?: (?P<zone>(?:{'|'.join(sorted(_ZONES, key=len, reverse=True))})(?:[+-][0-9]{{1,2}})?)(?![A-Za-z]))?"

_CLOCK = re.compile(rf"(?<![0-9.:,])(?P<h>[0-9]{{1,2}}):(?P<m>[0-5][0-9])(?::(?P<s>[0-5][0-9]))?(?![0-9:])"
                    rf"(?: ?{_AMPM})?{_ZONE}")
_DOTTED = re.compile(rf"(?<![0-9.:,])(?P<h>[01]?[0-9])\.(?P<m>[0-5][0-9]) ?{_AMPM}{_ZONE}")
_HOUR = re.compile(rf"(?<![0-9.:,])(?P<h>[01]?[0-9]) ?{_AMPM}{_ZONE}")
_DURATION_UNITS = (("hour", "hours"), ("minute", "minutes"), ("second", "seconds"))


def _letters(s: str) -> str:
    out = []
    for c in s:
        out.append(c.lower() if c.isalpha() else " plus " if c == "+" else " minus " if c == "-"
                   else " " + cardinal(int(c)) if c.isdigit() else "")
    return " ".join(" ".join(out).split())


def _suffix(m: re.Match, t: Text) -> str:
    out = ""
    if m.group("ampm"):
        out += " " + " ".join(c.lower() for c in m.group("ampm") if c.isalpha())
    if m.group("zone"):
        out += " " + _letters(m.group("zone"))
    return out


def _minutes(mm: int, hour: int, ampm: bool) -> str:
    if mm == 0:
        return "" if ampm else " o'clock" if hour <= 12 else " hundred"
    return f" o {cardinal(mm)}" if mm < 10 else f" {cardinal(mm)}"


def _duration(h: int, mm: int, ss: int) -> str:
    parts = [f"{cardinal(v)} {one if v == 1 else many}"
             for v, (one, many) in zip((h, mm, ss), _DURATION_UNITS) if v]
    return " ".join(parts) or "zero seconds"


def _clock(m: re.Match, t: Text) -> str | None:
    h, mm = int(m.group("h")), int(m.group("m"))
    ampm = bool(m.group("ampm"))
    if h > 24 and not ampm and not m.group("s"):
        return _duration(0, h, mm) + _suffix(m, t)   # "25:30": minutes and seconds
    if h > 24 or (ampm and not 1 <= h <= 12):
        return None
    if m.group("s") and not ampm:
        return _duration(h, mm, int(m.group("s"))) + _suffix(m, t)
    secs = f" {cardinal(int(m.group('s')))} seconds" if m.group("s") else ""
    if h == 0 and not ampm:
        return f"zero {cardinal(mm) if mm >= 10 else 'o ' + cardinal(mm) if mm else 'hundred'}{secs}{_suffix(m, t)}"
    return f"{cardinal(h)}{_minutes(mm, h, ampm)}{secs}{_suffix(m, t)}"


def _dotted(m: re.Match, t: Text) -> str | None:
    h, mm = int(m.group("h")), int(m.group("m"))
    if not 1 <= h <= 12:
        return None
    return f"{cardinal(h)}{_minutes(mm, h, True)}{_suffix(m, t)}"


def _hour(m: re.Match, t: Text) -> str | None:
    h = int(m.group("h"))
    if not 1 <= h <= 12:
        return None
    return cardinal(h) + _suffix(m, t)


# ---- the 24-hour clock without a colon: "at 1400 hours" -> "fourteen hundred hours", "0800 hrs"
_MILITARY = re.compile(r"(?<![0-9A-Za-z.,])(?P<h>[01][0-9]|2[0-3])(?P<m>[0-5][0-9]) ?(?:hours|hrs|h)(?![A-Za-z])\.?")
_AT = frozenset("at by until till from before after since".split())


def _military(m: re.Match, t: Text) -> str | None:
    hh, mm = m.group("h"), int(m.group("m"))
    if hh[0] != "0" and t.word_before(m.start()).lower() not in _AT:
        return None   # "it took 1400 hours": a count
    hour = f"o {cardinal(int(hh))}" if hh[0] == "0" else cardinal(int(hh))
    if hh == "00":
        hour = "zero"
    minutes = "hundred" if mm == 0 else f"o {cardinal(mm)}" if mm < 10 else cardinal(mm)
    return f"{hour} {minutes} hours"


CLOCK = Rule("TIME", _CLOCK, _clock, ":", numbers(":"))
MILITARY = Rule("TIME", _MILITARY, _military, "digit", numbers(" ?h"))
DOTTED = Rule("TIME", _DOTTED, _dotted, "digit", numbers(" ?[AaPp]"))
HOUR = Rule("TIME", _HOUR, _hour, "digit", numbers(" ?[AaPp]"))
