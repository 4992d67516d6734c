"""Free-running intelligibility during training: a handful of dev sentences synthesised from
text alone (predicted durations, pitch and energy; Griffin-Lim) and transcribed by
pocketsphinx. It is what a listener gets, unlike the teacher-forced dev losses beside it
(`train.asr_utts`; logged as fr_wer/fr_cer in the dev records of metrics.jsonl).
"""

from __future__ import annotations

import zlib
from pathlib import Path

from mtts.errors import MttsError

N_ITER = 16   # Griffin-Lim iterations: a trend figure, so cheaper than synthesis's 32


def check_available() -> None:
    try:
        import jiwer  # noqa: F401
        import pocketsphinx  # noqa: F401
    except ImportError:
        raise MttsError("train.asr_utts needs pocketsphinx and jiwer: pip install -e '.[eval]' "
                        "(or set train.asr_utts: 0)") from None


class FreeRunning:
    """fr_wer/fr_cer of the first `n` sentences of a split, spoken by the model being trained."""

    def __init__(self, split_dir: Path, n: int, tokens, stats, params, normalizer: str, chars, phonemizer,
                 speakers: dict[str, int] | None = None):
        """speakers: a multi-speaker model's map; each sentence is then spoken in its own voice
        (the split's utt2spk)."""
        from mtts.data.datadir import read_table
        check_available()
        text = read_table(split_dir / "text")
        utt2spk = read_table(split_dir / "utt2spk") if speakers else {}
        self.speakers = speakers
        self.items = [(u, text[u], utt2spk.get(u)) for u in sorted(text)][:n]
        self.tokens, self.stats, self.params = tokens, stats, params
        self.normalizer, self.chars, self.phonemizer = normalizer, chars, phonemizer

    def __call__(self, model) -> dict[str, float]:
        from mtts.evaluate.metrics import asr_errors, error_rates, normalize_for_asr, transcribe
        from mtts.io import rng_state, set_rng_state
        from mtts.synthesize import Synthesizer
        state, was_training = rng_state(), model.training   # Griffin-Lim draws random phases:
        model.eval()                                        # the run must not depend on whether it listened
        trained = model
        if next(model.parameters()).device.type != "cpu":   # synthesis runs on the CPU: a copy of a GPU model
            import copy
            model = copy.deepcopy(model).cpu()
        try:
            synth = Synthesizer(model, self.tokens, self.params, self.stats, self.phonemizer, self.normalizer,
                                self.chars, speakers=self.speakers)
            refs, hyps = [], []
            for uid, text, speaker in self.items:
                # phases seeded by the sentence, as in evaluate: a change in fr_cer between two
                # checkpoints (or two runs) is the model's, not Griffin-Lim's random start
                wav, _ = synth(text, n_iter=N_ITER, seed=zlib.crc32(uid.encode()), speaker=speaker)
                refs.append(normalize_for_asr(text))
                hyps.append(transcribe(wav, self.params.sample_rate))
        finally:
            trained.train(was_training)
            set_rng_state(state)
        rates = error_rates(asr_errors(refs, hyps))
        return {"fr_wer": rates["wer"], "fr_cer": rates["cer"]}
