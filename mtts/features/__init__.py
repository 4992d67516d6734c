"""Acoustic features with librosa: log-mel, frame-level F0 and energy, train-set stats."""
