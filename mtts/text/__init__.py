"""Text front end: normalisation, G2P with phonemizer + espeak-ng, token tables."""
