"""Dates: "July 25, 2012" -> "july twenty fifth twenty twelve", "25 July 2012" -> "the twenty
fifth of july twenty twelve", numeric US m/d/y, d.m.y and ISO y-m-d, month and year,
decades ("1980s", "'90s") and years written with an apostrophe ("'99").

The spoken order follows the written one: a month before the day is "july twenty fifth",
a day before the month is "the twenty fifth of july"; ISO and day-first numeric dates take
the second form, US m/d/y the first.
"""

from __future__ import annotations

import re

from mtts.text.normalize.core import Rule, Text, number_runs, numbers
from mtts.text.normalize.numbers import cardinal, digits, ordinal, plural, year

MONTHS = ("january", "february", "march", "april", "may", "june", "july", "august", "september",
          "october", "november", "december")
# "jan", "jan.", "january"; "sep", "sept"; "may" only capitalised, since lower case it is a verb
# a full stop only after a shortened name: after "May" it ends the sentence
_MONTH = "|".join(["(?i:sep(?:t(?:ember)?|t\\.|\\.)?)", "May", "MAY"]
                  + [f"(?i:{m[:3]}(?:{m[3:]}|\\.)?)" for m in MONTHS if m not in ("may", "september")])
_MONTH = rf"(?<![A-Za-z])(?P<month>{_MONTH})(?![A-Za-z])"
_DAY = r"(?P<day>[0-3]?[0-9])(?:(?i:st|nd|rd|th))?"
_DAY2 = r"(?:(?: ?[-–] ?| to )(?P<day2>[0-3]?[0-9])(?:(?i:st|nd|rd|th))?)?"
_YEAR = r"(?:,? (?P<year>[12][0-9]{3})(?![0-9]))?"


def month_number(name: str) -> int:
    name = name.lower()
    return next(i for i, m in enumerate(MONTHS, 1) if m.startswith(name[:3]))


def _day(s: str | None) -> int | None:
    return int(s) if s and 1 <= int(s) <= 31 else None


def _year_of(s: str | None) -> str:
    return " " + year(int(s)) if s else ""


# ---- month before the day: "July 25, 2012", "jul 25 2012", "Sept. 3rd", "July 4-6"
_MDY = re.compile(rf"{_MONTH},? {_DAY}{_DAY2}(?![0-9:A-Za-z]){_YEAR}")


def _mdy(m: re.Match, t: Text) -> str | None:
    day = _day(m.group("day"))
    if day is None:
        return None
    month = MONTHS[month_number(m.group("month")) - 1]
    days = ordinal(day) + (f" to {ordinal(int(m.group('day2')))}" if m.group("day2") else "")
    return f"{month} {days}{_year_of(m.group('year'))}"


# ---- day before the month: "25 July 2012", "the 25th of July", "25-27 July"
_DMY = re.compile(rf"(?<![0-9A-Za-z.,])(?:(?P<the>[Tt]he) )?{_DAY}{_DAY2} (?:of )?{_MONTH}{_YEAR}")


def _dmy(m: re.Match, t: Text) -> str | None:
    day = _day(m.group("day"))
    if day is None:
        return None
    month = MONTHS[month_number(m.group("month")) - 1]
    days = ordinal(day) + (f" to the {ordinal(int(m.group('day2')))}" if m.group("day2") else "")
    return f"the {days} of {month}{_year_of(m.group('year'))}"


# ---- month and year: "July 2012"
_MY = re.compile(rf"{_MONTH},? (?P<year>[12][0-9]{{3}})(?![0-9])")


def _my(m: re.Match, t: Text) -> str:
    return f"{MONTHS[month_number(m.group('month')) - 1]} {year(int(m.group('year')))}"


# ---- numeric: 12/25/2020, 25/12/2020, 25.12.2020, 2012-07-25
_NUMERIC = re.compile(r"(?<![0-9/.,-])(?:(?P<a>[0-9]{1,2})(?P<sep>[/.-])(?P<b>[0-9]{1,2})(?P=sep)"
                      r"(?P<y>[0-9]{4}|[0-9]{2})"
                      r"|(?P<iy>[12][0-9]{3})(?P<isep>[/.-])(?P<im>[01]?[0-9])(?P=isep)(?P<id>[0-3]?[0-9]))"
                      r"(?![0-9/-]|\.[0-9])")


def _say(month: int, day: int, yr: int, day_first: bool) -> str:
    name = MONTHS[month - 1]
    if day_first:
        return f"the {ordinal(day)} of {name} {year(yr)}"
    return f"{name} {ordinal(day)} {year(yr)}"


def _numeric(m: re.Match, t: Text) -> str | None:
    if m.group("iy"):
        yr, month, day = int(m.group("iy")), int(m.group("im")), int(m.group("id"))
        return _say(month, day, yr, True) if 1 <= month <= 12 and 1 <= day <= 31 else None
    a, b, y, sep = int(m.group("a")), int(m.group("b")), m.group("y"), m.group("sep")
    if sep == "." and len(y) == 2:
        return None   # "1.5.20" is a version, not a date
    yr = int(y) if len(y) == 4 else int(y) + (2000 if int(y) <= 30 else 1900)
    month_first = 1 <= a <= 12 and 1 <= b <= 31
    day_first = 1 <= b <= 12 and 1 <= a <= 31
    if sep == "." and day_first:   # dotted dates are European: day first
        return _say(b, a, yr, True)
    if month_first:
        return _say(a, b, yr, False)
    if day_first:
        return _say(b, a, yr, True)
    return None


# ---- month/day without a year after a date word: "on 12/25"
_MONTH_DAY = re.compile(r"(?<![0-9/.,-])(?P<a>[0-9]{1,2})/(?P<b>[0-9]{1,2})(?![0-9/])")
_DATE_CUES = frozenset("on by until till since from before after due dated".split())


def _month_day(m: re.Match, t: Text) -> str | None:
    a, b = int(m.group("a")), int(m.group("b"))
    if t.word_before(m.start()).lower() not in _DATE_CUES or not (1 <= a <= 12 and 1 <= b <= 31):
        return None
    return f"{MONTHS[a - 1]} {ordinal(b)}"


# ---- decades: 1980s, 1980's, '90s, 80s; years with an apostrophe: '99
_DECADE = re.compile(r"(?<![0-9A-Za-z.,'])(?P<apo>')?(?P<n>[0-9]{2}|[0-9]{4})'?s(?![A-Za-z0-9])")
_SHORT_YEAR = re.compile(r"(?<![0-9A-Za-z'])'(?P<n>[0-9]{2})(?![0-9A-Za-z'])")


def _decade(m: re.Match, t: Text) -> str | None:
    n = m.group("n")
    if n[-1] != "0" or (m.group("apo") and len(n) == 4):
        return None
    words = year(int(n)) if len(n) == 4 else cardinal(int(n)) if n != "00" else "two thousand"
    return plural(words)


def _short_year(m: re.Match, t: Text) -> str:
    n = m.group("n")
    return digits(n) if n[0] == "0" else cardinal(int(n))


_FIRST_MONTH = re.compile(r"(?i:j(?:an|u[nl])|feb|ma[ry]|a(?:pr|ug)|sep|oct|nov|dec)")
# ---- a season or financial year: "2012/13" -> "twenty twelve thirteen"
_SEASON = re.compile(r"(?<![0-9/.,])(?P<y>1[0-9]{3}|20[0-9]{2})/(?P<n>[0-9]{4}|[0-9]{2})(?![0-9/])")


def _season(m: re.Match, t: Text) -> str | None:
    y, n = int(m.group("y")), m.group("n")
    if len(n) == 4:
        return f"{year(y)} {year(int(n))}" if int(n) == y + 1 else None
    if int(n) != (y + 1) % 100:
        return None
    return f"{year(y)} {digits(n) if n[0] == '0' else cardinal(int(n))}"


SEASON = Rule("DATE", _SEASON, _season, "/", numbers("/"))


# ---- weekday ranges: "Mon-Fri" -> "monday to friday"
DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_DAY_ABBR = r"(?:Mon|Tue|Tues|Wed|Thu|Thur|Thurs|Fri|Sat|Sun)\.?"
_DAY_RANGE = re.compile(rf"(?<![A-Za-z])(?P<a>{_DAY_ABBR})(?: ?[-–] ?| to )(?P<b>{_DAY_ABBR})(?![A-Za-z])")


def _day_name(s: str) -> str:
    return next(d for d in DAYS if d.startswith(s.rstrip(".").lower()[:3]))


def _day_range(m: re.Match, t: Text) -> str:
    return f"{_day_name(m.group('a'))} to {_day_name(m.group('b'))}"


DAY_RANGE = Rule("DATE", _DAY_RANGE, _day_range, "-–", re.compile(r"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)"))
MDY = Rule("DATE", _MDY, _mdy, "digit", _FIRST_MONTH)
DMY = Rule("DATE", _DMY, _dmy, "digit", numbers("(?i:st|nd|rd|th)?(?: ?[-–] ?| to | )", "the "))
MONTH_YEAR = Rule("DATE", _MY, _my, "digit", _FIRST_MONTH)
def _numeric_starts(s: str) -> list[int]:
    return [a for a, b in number_runs(s) if s[b:b + 1] in ("/", "-") or "." in s[a:b]]


NUMERIC = Rule("DATE", _NUMERIC, _numeric, "digit", _numeric_starts)
MONTH_DAY = Rule("DATE", _MONTH_DAY, _month_day, "/", numbers("/"))
DECADE = Rule("DATE", _DECADE, _decade, "digit", numbers("'?s", "'"))
SHORT_YEAR = Rule("DATE", _SHORT_YEAR, _short_year, "'", re.compile("'"))
