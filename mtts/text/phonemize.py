"""Grapheme-to-phoneme with phonemizer's espeak-ng backend, cached and kept aligned.

espeak is loaded on first use, not at import. phonemizer can return a different number
of lines than it was given (it splits on some punctuation, e.g. after "$3.50."), so a
batch whose length does not match is redone one utterance at a time: the output always
stays aligned with the input, utterance by utterance.

With a user lexicon ({word: IPA}, mtts.text.lexicon), words found in it get its
pronunciation in place of espeak's word, the rest is espeak's reading of the whole text, so
each word of the text is still one word of phonemes. The cache holds espeak's output only.
"""

from __future__ import annotations

import json
from pathlib import Path

from mtts.errors import MttsError
from mtts.io import write_text

LANGUAGE = "en-us"


class Phonemizer:
    def __init__(self, language: str = LANGUAGE, cache_path: Path | None = None,
                 lexicon: dict[str, str] | None = None):
        self.language = language
        self.lexicon = dict(lexicon or {})
        self.cache_path = cache_path
        self.cache: dict[str, str] = {}
        if cache_path is not None and cache_path.is_file():
            try:
                self.cache = json.loads(cache_path.read_text(encoding="utf-8"))
            except json.JSONDecodeError:
                self.cache = {}  # a broken cache is only a lost speed-up
        self._backend = None
        self.calls = 0  # number of texts sent to espeak; tests use it to prove caching

    @property
    def backend(self):
        if self._backend is None:
            try:
                from phonemizer.backend import EspeakBackend
                self._backend = EspeakBackend(self.language, preserve_punctuation=True,
                                              with_stress=True, language_switch="remove-flags")
            except RuntimeError as e:
                raise MttsError(f"espeak-ng is not usable ({e}); install it: apt-get install espeak-ng") from None
        return self._backend

    def _run(self, texts: list[str]) -> list[str]:
        self.calls += len(texts)
        out = self.backend.phonemize(texts, strip=True, njobs=1)
        if len(out) == len(texts):
            return out
        # misaligned batch: one call per utterance, joining any extra lines it returns
        fixed = []
        for t in texts:
            fixed.append(" ".join(x for x in self.backend.phonemize([t], strip=True) if x))
        return fixed

    def __call__(self, texts: list[str]) -> list[str]:
        if not self.lexicon:
            return self._espeak(texts)
        from mtts.text.lexicon import normalise_word, split_word
        # The whole text goes to espeak, so the words around a lexicon word keep their context
        # ("to a cat": a weak "a"); the lexicon word's phoneme word is then swapped in. Where
        # espeak's words do not line up one to one with the text's, the stretches between
        # lexicon words are read on their own instead.
        full = self._espeak(texts)
        plans = []   # per text: pieces, each ("lex", phonemes) or ("espeak", text)
        for t, spoken_full in zip(texts, full):
            toks = t.split()
            hits = {}
            for i, tok in enumerate(toks):
                lead, word, trail = split_word(tok)
                ipa = self.lexicon.get(normalise_word(word)) if word else None
                if ipa is not None:
                    hits[i] = lead + ipa + trail   # punctuation kept, as espeak keeps it
            words = spoken_full.split()
            if not hits or len(words) == len(toks):
                plans.append([("lex", " ".join(hits.get(i, w) for i, w in enumerate(words)))])
                continue
            pieces, run = [], []
            for i, tok in enumerate(toks):
                if i not in hits:
                    run.append(tok)
                    continue
                if run:
                    pieces.append(("espeak", " ".join(run)))
                    run = []
                pieces.append(("lex", hits[i]))
            if run:
                pieces.append(("espeak", " ".join(run)))
            plans.append(pieces)
        spoken = iter(self._espeak([x for pieces in plans for kind, x in pieces if kind == "espeak"]))
        out = []
        for pieces in plans:
            parts = [x if kind == "lex" else next(spoken) for kind, x in pieces]
            out.append(" ".join(p for p in parts if p))
        return out

    def _espeak(self, texts: list[str]) -> list[str]:
        todo = sorted({t for t in texts if t not in self.cache and t.strip()})
        if todo:
            for i in range(0, len(todo), 500):
                chunk = todo[i:i + 500]
                for t, p in zip(chunk, self._run(chunk)):
                    self.cache[t] = " ".join(p.split())
            if self.cache_path is not None:
                self.save()
        return [self.cache.get(t, "") if t.strip() else "" for t in texts]

    def save(self) -> None:
        """Write the cache, sorted: the same entries give the same file, in whatever order they
        came (by one process or merged from shards)."""
        write_text(self.cache_path, json.dumps(dict(sorted(self.cache.items())), ensure_ascii=False))
