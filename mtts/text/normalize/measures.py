"""Measures: a number and a unit. "12KG" -> "twelve kilograms", "1 kg" -> "one kilogram",
"100 million kg" -> "one hundred million kilograms", "60 km/h" -> "sixty kilometers per hour",
"1 mbps" -> "one megabit per second", "20°C" -> "twenty degrees celsius", "5%" -> "five
percent", "3 kg/m²" -> "three kilograms per square meter", "12/kg" -> "twelve per kilogram",
"5'11\"" -> "five feet eleven inches", "temperatures hit 40C" -> "forty degrees celsius".

The SI units are a short table of base units, each with the prefixes it is used with; the
symbols (km, mg, GHz, kWh, ...) are composed from them. A symbol matches in its own case
first ("mW" milliwatt, "MW" megawatt); anything longer than one letter also matches in any
case ("KG", "Mbps"), single letters only as written ("m", never "M", which is often million).
"""

from __future__ import annotations

import re

from mtts.text.normalize.core import Rule, Text, numbers
from mtts.text.normalize.numbers import NUM, SCALES, fraction, is_one, number

PREFIXES = {"k": "kilo", "K": "kilo", "M": "mega", "G": "giga", "T": "tera", "P": "peta", "h": "hecto",
            "d": "deci", "c": "centi", "m": "milli", "µ": "micro", "μ": "micro", "u": "micro", "n": "nano"}
# symbol: singular, plural, prefixes used with it, whether the bare symbol is a unit
_SI = {
    "m": ("meter", "meters", "kcmµμn", True), "g": ("gram", "grams", "kmµμu", True),
    "l": ("liter", "liters", "mcd", True), "L": ("liter", "liters", "mcd", True),
    "s": ("second", "seconds", "mµμn", False), "W": ("watt", "watts", "kMGTm", True),
    "Wh": ("watt hour", "watt hours", "kMGT", True), "V": ("volt", "volts", "kmM", True),
    "A": ("ampere", "amperes", "mkµμ", False), "Ah": ("ampere hour", "ampere hours", "m", True),
    "Hz": ("hertz", "hertz", "kMGT", True), "J": ("joule", "joules", "kM", False),
    "N": ("newton", "newtons", "k", False), "Pa": ("pascal", "pascals", "khM", True),
    "B": ("byte", "bytes", "kKMGTP", False), "b": ("bit", "bits", "kKMGT", False),
    "bps": ("bit per second", "bits per second", "kKMGT", True),
    "eV": ("electron volt", "electron volts", "kMGT", True),
    "cal": ("calorie", "calories", "k", True), "Ω": ("ohm", "ohms", "kM", True),
}
_OTHER = {
    "ft": ("foot", "feet"), "yd": ("yard", "yards"), "mi": ("mile", "miles"), "in": ("inch", "inches"),
    "mph": ("mile per hour", "miles per hour"), "kph": ("kilometer per hour", "kilometers per hour"),
    "kmh": ("kilometer per hour", "kilometers per hour"), "lb": ("pound", "pounds"), "lbs": ("pound", "pounds"),
    "oz": ("ounce", "ounces"), "gal": ("gallon", "gallons"), "qt": ("quart", "quarts"), "ha": ("hectare", "hectares"),
    "hp": ("horsepower", "horsepower"), "psi": ("pound per square inch", "pounds per square inch"),
    "rpm": ("revolution per minute", "revolutions per minute"), "mpg": ("mile per gallon", "miles per gallon"),
    "sec": ("second", "seconds"), "secs": ("second", "seconds"), "min": ("minute", "minutes"),
    "mins": ("minute", "minutes"), "hr": ("hour", "hours"), "hrs": ("hour", "hours"), "h": ("hour", "hours"),
    "yr": ("year", "years"), "yrs": ("year", "years"), "cc": ("cubic centimeter", "cubic centimeters"),
    "ppm": ("part per million", "parts per million"), "ppb": ("part per billion", "parts per billion"),
    "bpm": ("beat per minute", "beats per minute"), "fps": ("frame per second", "frames per second"),
    "dB": ("decibel", "decibels"), "mol": ("mole", "moles"), "mAh": ("milliampere hour", "milliampere hours"),
    "tbsp": ("tablespoon", "tablespoons"), "tsp": ("teaspoon", "teaspoons"), "pct": ("percent", "percent"),
    "%": ("percent", "percent"), "‰": ("per mille", "per mille"), "°": ("degree", "degrees"),
    "°C": ("degree celsius", "degrees celsius"), "°F": ("degree fahrenheit", "degrees fahrenheit"),
    "°K": ("kelvin", "kelvin"), "mcg": ("microgram", "micrograms"), "deg": ("degree", "degrees"),
    "mmHg": ("millimeter of mercury", "millimeters of mercury"),
}
# lengths take "square"/"cubic" before them; other units "squared"/"cubed" after (m/s²)
_LENGTHS = {"meter", "foot", "yard", "mile", "inch", "kilometer", "centimeter", "millimeter"}
# data units written in lower case mean the common thing: "mb" a megabyte, "mbps" megabits
_PREFER = {"kb": "KB", "mb": "MB", "gb": "GB", "tb": "TB", "pb": "PB", "kbps": "kbps", "mbps": "Mbps",
           "gbps": "Gbps", "mw": "MW", "kw": "kW", "gw": "GW", "mhz": "MHz", "ghz": "GHz", "khz": "kHz",
           "mv": "mV", "kv": "kV", "ma": "mA", "mm": "mm", "ms": "ms", "ml": "ml", "mg": "mg", "mah": "mAh"}


def _build() -> dict[str, tuple[str, str]]:
    units: dict[str, tuple[str, str]] = {}
    for sym, (one, many, prefixes, bare) in _SI.items():
        if bare:
            units[sym] = (one, many)
        for p in prefixes:
            units.setdefault(p + sym, (PREFIXES[p] + one, PREFIXES[p] + many))
    units.update(_OTHER)
    return units


UNITS = _build()
_LOWER: dict[str, tuple[str, str]] = {k: UNITS[v] for k, v in _PREFER.items()}
for _k in sorted(UNITS, key=lambda k: (k != k.lower(), k)):   # a lower-case symbol wins its spelling
    if len(_k) > 1:
        _LOWER.setdefault(_k.lower(), UNITS[_k])
# a word that may be a unit, looked up afterwards: much faster than an alternation of them all
_UNIT = rf"(?:° ?[CFK]|[%‰°]|[A-Za-zµμΩ]{{1,{max(map(len, UNITS))}}})"
_TAIL = r"(?![A-Za-z0-9])"
_POWER = r"(?P<{}>[23](?![0-9]))?"


# symbols that are units only after a slash: "m/s", not "5 s"
_DENOMINATORS = {"s": ("second", "seconds")}


def lookup(sym: str, denominator: bool = False) -> tuple[str, str] | None:
    sym = sym.replace(" ", "")
    if denominator and sym in _DENOMINATORS:
        return _DENOMINATORS[sym]
    if sym in UNITS:
        return UNITS[sym]
    return _LOWER.get(sym.lower()) if len(sym) > 1 else None


def _powered(names: tuple[str, str], power: str | None) -> tuple[str, str]:
    if not power:
        return names
    one, many = names
    if one in _LENGTHS:
        word = "square" if power == "2" else "cubic"
        return f"{word} {one}", f"{word} {many}"
    word = " squared" if power == "2" else " cubed"
    return one + word, many + word


_QUANTITY = (rf"(?<![0-9A-Za-z.,])(?P<neg>-)?(?:(?P<whole>[0-9]+) (?=[0-9]+/))?"
             rf"(?:(?P<fn>[0-9]+)/(?P<fd>[0-9]+)|(?P<num>{NUM}))(?: (?P<scale>{'|'.join(SCALES)}))?")
# abbreviations often written with a full stop, which then belongs to them ("5 ft. tall")
_DOTTED = frozenset("ft in yd mi lb lbs oz gal qt min mins sec secs hr hrs yr yrs tbsp tsp sq cu".split())
_MEASURE = re.compile(rf"{_QUANTITY}(?:(?P<hy>-)| ?)(?:(?P<area>sq|cu|square|cubic)\.? ?)?"
                      rf"(?P<unit>{_UNIT}){_POWER.format('p1')}"
                      rf"(?:/(?P<den>{_UNIT}){_POWER.format('p2')})?{_TAIL}(?P<dot>\.(?= [a-z0-9]))?")
# "12/kg", "$5/kg", "$10/hour": per unit after a number
_PER = re.compile(rf"/(?P<den>{_UNIT}|[a-z]+){_POWER.format('p2')}{_TAIL}")
_PER_WORDS = frozenset("second minute hour day night week month year person head unit item piece page "
                       "share seat ticket visit month".split())
# 5'11": feet and inches
# 5'11", and 6' alone before a word or the end ("6' tall"), not a closing quote after it
_FEET_INCHES = re.compile(r"(?<![0-9A-Za-z.,'])(?P<ft>[0-9]+)'(?: ?(?P<inch>[0-9]{1,2}(?:\.[0-9]+)?)\"|(?= [a-z]|$))")


def _quantity(m: re.Match) -> tuple[str, bool]:
    """The number's words and whether the unit that follows is singular."""
    sign = "minus " if m.group("neg") else ""
    if m.group("fn"):
        num, den = int(m.group("fn")), int(m.group("fd"))
        if m.group("whole"):
            return f"{sign}{number(m.group('whole'))} and {fraction(num, den, mixed=True)}", False
        return sign + fraction(num, den) + (" of a" if num < den else ""), num < den
    words = number(m.group("num"))
    if m.group("scale"):
        return f"{sign}{words} {m.group('scale')}", False
    return sign + words, is_one(m.group("num"))


# an hour before it makes "m" minutes: "3h 20m", "2 hrs 30 m"
_HOURS_BEFORE = re.compile(r"[0-9] ?(?:h|hrs?|hours?) $")


def _measure(m: re.Match, t: Text) -> str | None:
    names = lookup(m.group("unit"))
    if names is None and m.group("unit") == "s" and "." in (m.group("num") or ""):
        names = ("second", "seconds")   # "9.58s": a decimal has no plural, so "s" is seconds
    if m.group("unit") == "m" and not m.group("den") and _HOURS_BEFORE.search(t.s, max(0, m.start() - 8), m.start()):
        names = ("minute", "minutes")
    if names is None or (m.group("unit") == "in" and not m.group("dot") and m.end() < len(t.s)
                         and t.s[m.end()] not in ".,;)"):
        return None   # "in" is an inch only at the end of a phrase: "5 in the box" is not
    if m.group("dot") and m.group("unit").lower() not in _DOTTED:
        return None
    words, singular = _quantity(m)
    if m.group("hy"):
        # hyphened, the measure describes a noun: "a 5-km run", "a 9-V battery"
        if m.group("fn") or m.group("scale") or m.group("unit") in "%‰°":
            return None
        singular = True
    area = m.group("area")
    one, many = _powered(names, "2" if area in ("sq", "square") else "3" if area else m.group("p1"))
    unit = one if singular else many
    if m.group("den"):
        den = lookup(m.group("den"), denominator=True)
        if den is None:
            return None
        unit += " per " + _powered(den, m.group("p2"))[0]
    return f"{words} {unit}"


def _per(m: re.Match, t: Text) -> str | None:
    if not t.s[m.start() - 1:m.start()].isdigit():
        return None
    word = m.group("den")
    den = lookup(word, denominator=True)
    if den is None:
        return f"per {word}" if word in _PER_WORDS and not m.group("p2") else None
    return f"per {_powered(den, m.group('p2'))[0]}"


# "km/h", "kg/m²" without a number
_RATIO = re.compile(rf"(?<![0-9A-Za-z/])(?P<unit>{_UNIT}){_POWER.format('p1')}"
                    rf"/(?P<den>{_UNIT}){_POWER.format('p2')}{_TAIL}")


def _ratio(m: re.Match, t: Text) -> str | None:
    num, den = lookup(m.group("unit")), lookup(m.group("den"), denominator=True)
    if num is None or den is None:
        return None
    return f"{_powered(num, m.group('p1'))[1]} per {_powered(den, m.group('p2'))[0]}"


# "5 per kg": a unit after "per"
_PER_WORD = re.compile(rf"(?<![A-Za-z])[Pp]er (?P<den>{_UNIT}){_POWER.format('p2')}{_TAIL}")


def _per_word(m: re.Match, t: Text) -> str | None:
    den = lookup(m.group("den"), denominator=True)
    return "per " + _powered(den, m.group("p2"))[0] if den else None


# 15", 3.5": inches, where the mark does not close a quotation opened before it
_INCHES = re.compile(r"(?<![0-9A-Za-z.,'\"])(?P<n>[0-9]+(?:\.[0-9]+)?)\"(?![A-Za-z0-9])")


def _inches(m: re.Match, t: Text) -> str | None:
    if t.s.count('"', 0, m.start()) % 2:
        return None
    n = m.group("n")
    return f"{number(n)} {'inch' if is_one(n) else 'inches'}"


def _feet_inches(m: re.Match, t: Text) -> str:
    ft, inch = m.group("ft"), m.group("inch")
    feet = f"{number(ft)} {'foot' if is_one(ft) else 'feet'}"
    return f"{feet} {number(inch)} {'inch' if is_one(inch) else 'inches'}" if inch else feet


# "40C", "75F": degrees without the sign, where the sentence speaks of temperature ("seat 14C" does not)
_BARE_DEGREES = re.compile(r"(?<![0-9A-Za-z.,])(?P<neg>-)?(?P<n>[0-9]{1,3}(?:\.[0-9])?)(?P<scale>[CF])(?![A-Za-z0-9])")
_WARMTH = re.compile(r"(?i:temperature|degree|celsius|fahrenheit|\bhot|heat|cold|warm|cool|\bhighs?\b|\blows?\b|"
                     r"weather|forecast|freez|thermometer|fever|oven|\bhit\b|reach|soar|climb|plung)")


def _bare_degrees(m: re.Match, t: Text) -> str | None:
    if not _WARMTH.search(t.s):
        return None
    n = m.group("n")
    return (f"{'minus ' if m.group('neg') else ''}{number(n)} {'degree' if is_one(n) else 'degrees'} "
            f"{'celsius' if m.group('scale') == 'C' else 'fahrenheit'}")


# a unit, a scale word or a fraction comes next
_NEXT = r" ?[^\s0-9,.;:!?)\]\"'-]| [0-9]+/|-[A-Za-zµμΩ°]"
MEASURE = Rule("MEASURE", _MEASURE, _measure, "digit", numbers(_NEXT, "-."))
PER = Rule("MEASURE", _PER, _per, "/", re.compile("(?<=[0-9])/"))
RATIO = Rule("MEASURE", _RATIO, _ratio, re.compile(r"[A-Za-z0-9²³]/[A-Za-z°]"))
PER_WORD = Rule("MEASURE", _PER_WORD, _per_word, "digit", re.compile(r"[Pp]er "))
FEET_INCHES = Rule("MEASURE", _FEET_INCHES, _feet_inches, "'", numbers("'"))
INCHES = Rule("MEASURE", _INCHES, _inches, '"', numbers('"'))
BARE_DEGREES = Rule("MEASURE", _BARE_DEGREES, _bare_degrees, "digit", numbers("[CF]", "-"))
