"""Light built-in English text normaliser: written forms -> words a G2P can read.

Covers cardinals, decimals, ordinals, years and decades, times, dates in digits,
currency, percent and common measures, title abbreviations and symbols. Spelling of
numbers comes from num2words; this module only finds them in text.
"""

from __future__ import annotations

import re
import unicodedata

from num2words import num2words

ABBREVIATIONS = {
    "mr": "mister", "mrs": "missus", "ms": "miss", "dr": "doctor",
    "jr": "junior", "sr": "senior", "prof": "professor", "gen": "general", "gov": "governor",
    "capt": "captain", "col": "colonel", "lt": "lieutenant", "sgt": "sergeant", "rev": "reverend",
    "hon": "honorable", "co": "company", "corp": "corporation", "ltd": "limited", "inc": "incorporated",
    "vs": "versus", "etc": "et cetera", "no": "number", "mt": "mount", "ave": "avenue",
}
MEASURES = {
    "km": "kilometers", "m": "meters", "cm": "centimeters", "mm": "millimeters", "kg": "kilograms",
    "g": "grams", "mg": "milligrams", "lb": "pounds", "lbs": "pounds", "oz": "ounces",
    "ft": "feet", "mi": "miles", "mph": "miles per hour", "km/h": "kilometers per hour",
    "ml": "milliliters", "sec": "seconds", "min": "minutes", "hr": "hours", "hrs": "hours",
    "kb": "kilobytes", "mb": "megabytes", "gb": "gigabytes",
}
CURRENCIES = {"$": ("dollar", "dollars", "cent", "cents"), "£": ("pound", "pounds", "penny", "pence"),
              "€": ("euro", "euros", "cent", "cents")}
SYMBOLS = {"&": " and ", "%": " percent ", "@": " at ", "+": " plus ", "=": " equals ",
           "#": " number ", "°": " degrees ", "×": " times ", "/": " slash "}
MONTHS = ["january", "february", "march", "april", "may", "june", "july", "august",
          "september", "october", "november", "december"]


def _words(n: int | float, **kw) -> str:
    s = num2words(n, **kw)
    s = s.replace(",", "").replace("-", " ")
    return re.sub(r"\band\b ", "", s) if kw.get("to") != "year" else s.replace(" and ", " ")


def _year(n: int) -> str:
    if 2000 <= n <= 2009:
        return _words(n)
    return _words(n, to="year")


def _money(m: re.Match) -> str:
    one, many, cent, cents = CURRENCIES[m.group(1)]
    whole = int(m.group(2).replace(",", ""))
    frac = m.group(3)
    scale = m.group(4)
    if scale:
        return f"{_words(float(m.group(2).replace(',', '') + (frac or '')))} {scale} {many}"
    parts = [f"{_words(whole)} {one if whole == 1 else many}"] if whole or not frac else []
    if frac:
        c = int((frac[1:] + "0")[:2])
        if c:
            parts.append(f"{_words(c)} {cent if c == 1 else cents}")
    return " ".join(parts) or f"zero {many}"


def _number(m: re.Match) -> str:
    s = m.group(0).replace(",", "")
    if "." in s:
        whole, frac = s.split(".")
        return f"{_words(int(whole))} point {' '.join(_words(int(d)) for d in frac)}"
    n = int(s)
    if 1100 <= n <= 2099 and "," not in m.group(0) and n % 100 != 0 or n in (1900,):
        return _year(n)  # four digits without a comma read as a year, as in LJSpeech
    return _words(n)


def _decade(m: re.Match) -> str:
    n = int(m.group(1))
    w = _year(n) if n >= 1000 else _words(n)
    return (w[:-1] + "ies") if w.endswith("y") else w + "s"


def _time(m: re.Match) -> str:
    h, mnt, ampm = int(m.group(1)), int(m.group(2)), m.group(3)
    out = _words(h) + (" o'clock" if mnt == 0 and not ampm else "" if mnt == 0
                       else f" oh {_words(mnt)}" if mnt < 10 else f" {_words(mnt)}")
    if ampm:
        out += " " + " ".join(ampm.lower().replace(".", ""))
    return out


def _date(m: re.Match) -> str:
    mo, d, y = int(m.group(1)), int(m.group(2)), m.group(3)
    if not (1 <= mo <= 12 and 1 <= d <= 31):
        return m.group(0).replace("/", " slash ")
    y = int(y) + (2000 if len(y) == 2 and int(y) < 50 else 1900 if len(y) == 2 else 0)
    return f"{MONTHS[mo - 1]} {_words(d, to='ordinal')} {_year(y)}"


_RE_MONEY = re.compile(r"([$£€])\s?(\d[\d,]*)(\.\d+)?(?:\s?(thousand|million|billion|trillion))?")
_RE_DATE = re.compile(r"\b(\d{1,2})/(\d{1,2})/(\d{4}|\d{2})\b")
_RE_TIME = re.compile(r"\b(\d{1,2}):(\d{2})\s?([AaPp]\.?[Mm]\.?)?")
_RE_DECADE = re.compile(r"\b(\d{2,4})'?s\b")
_RE_ORDINAL = re.compile(r"\b(\d+)(st|nd|rd|th)\b", re.I)
_RE_MEASURE = re.compile(r"\b(\d+(?:\.\d+)?)\s?("
                         + "|".join(sorted(map(re.escape, MEASURES), key=len, reverse=True)) + r")\b")
_RE_PERCENT = re.compile(r"(\d+(?:\.\d+)?)\s?%")
_RE_NUMBER = re.compile(r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?")
_RE_ABBR = re.compile(r"\b(" + "|".join(ABBREVIATIONS) + r")\.", re.I)
_RE_SPACE = re.compile(r"\s+")


def normalize(text: str) -> str:
    """Return speakable text. Keeps sentence punctuation (it shapes prosody)."""
    text = unicodedata.normalize("NFKC", text)
    text = "".join(" " if unicodedata.category(c).startswith(("C", "Z")) else c for c in text)
    text = text.replace("’", "'").replace("“", '"').replace("”", '"').replace("—", ", ").replace("–", " to ")
    text = "".join(c for c in text if not unicodedata.category(c).startswith(("So", "Sk", "Cs")))
    # "St." before a name is Saint, after one it is Street
    text = re.sub(r"\bSt\.(?=\s+[A-Z])", "Saint", text)
    text = re.sub(r"\bSt\.", "Street", text)
    text = _RE_ABBR.sub(lambda m: ABBREVIATIONS[m.group(1).lower()], text)
    text = _RE_MONEY.sub(lambda m: " " + _money(m) + " ", text)
    text = _RE_DATE.sub(_date, text)
    text = _RE_TIME.sub(_time, text)
    text = _RE_PERCENT.sub(lambda m: _number(_RE_NUMBER.match(m.group(1))) + " percent", text)
    text = _RE_DECADE.sub(_decade, text)
    text = _RE_MEASURE.sub(lambda m: _number(_RE_NUMBER.match(m.group(1))) + " " + MEASURES[m.group(2)], text)
    text = _RE_ORDINAL.sub(lambda m: _words(int(m.group(1)), to="ordinal"), text)
    text = _RE_NUMBER.sub(_number, text)
    for sym, word in SYMBOLS.items():
        text = text.replace(sym, word)
    text = _RE_SPACE.sub(" ", text).strip()
    text = re.sub(r"\s+([,.;:!?])", r"\1", text)
    return text


NORMALIZERS = ("builtin", "nemo")
_nemo = None


def nemo_normalize(text: str) -> str:
    """NVIDIA's WFST normaliser (nemo-text-processing, `pip install mtts[tn]`). Its grammars
    compile for about a minute on first use and are cached in ~/.cache/mtts/nemo_tn."""
    global _nemo
    if _nemo is None:
        try:
            from nemo_text_processing.text_normalization.normalize import Normalizer
        except ImportError:
            from mtts.errors import MttsError
            raise MttsError("the nemo normaliser is not installed: pip install 'mtts[tn]'") from None
        from pathlib import Path
        cache = Path.home() / ".cache" / "mtts" / "nemo_tn"
        cache.mkdir(parents=True, exist_ok=True)
        _nemo = Normalizer(input_case="cased", lang="en", cache_dir=str(cache))
    return _RE_SPACE.sub(" ", _nemo.normalize(text, punct_post_process=True)).strip()


def get_normalizer(name: str):
    """The normaliser called `name`: 'builtin' (default) or 'nemo'."""
    if name not in NORMALIZERS:
        from mtts.errors import MttsError
        raise MttsError(f"unknown normalizer '{name}' (choose from {', '.join(NORMALIZERS)})")
    return normalize if name == "builtin" else nemo_normalize
