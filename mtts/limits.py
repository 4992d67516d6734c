"""Limits on what one request may ask of synthesis, in one place: the command line uses them
as option defaults (`mtts synthesize --max-chars/--max-seconds`, 0 lifts a limit) and a server
can apply the same ones. They stop a runaway input early (a 100,000-character "word" once gave
36 minutes of audio) with a message that says how to lift them.
"""

from __future__ import annotations

from mtts.errors import MttsError

MAX_CHARS = 10_000           # characters of one --text or one --text-file line: about 11 minutes of speech
MAX_SECONDS = 900.0          # seconds of audio in one output wav
MAX_TEXT_FILE_BYTES = 64 * 2**20   # a --text-file larger than this is refused before it is read


def check_chars(text: str, where: str, max_chars: int = MAX_CHARS) -> str:
    """`text` unless it is longer than `max_chars` (0: no limit); `where` names it."""
    if max_chars and len(text) > max_chars:
        raise MttsError(f"{where} is {len(text):,} characters, over the limit of {max_chars:,}: "
                        "split it, or raise the limit with --max-chars (0: none)")
    return text


def check_line(line: str, where: str, max_chars: int = MAX_CHARS) -> str:
    """One line of input text, as every reader of text files checks it (whole files and
    streams alike, so both refuse the same lines the same way): no NUL byte, which means a
    binary file, and at most `max_chars` characters. `where` is `FILE:LINE`."""
    if "\0" in line:
        raise MttsError(f"{where}: holds a NUL byte: is it a text file?")
    return check_chars(line, where, max_chars)


def check_seconds(seconds: float, max_seconds: float = MAX_SECONDS) -> None:
    """Called as audio accumulates, so that a runaway input stops early (0: no limit)."""
    if max_seconds and seconds > max_seconds:
        raise MttsError(f"the audio would be longer than {max_seconds:g} s: split the text, or raise the "
                        "limit with --max-seconds (0: none)")
