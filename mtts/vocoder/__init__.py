"""Neural vocoder: log-mel -> waveform with a Vocos-style network and an iSTFT head."""
