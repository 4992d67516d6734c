"""Corpus preparation, Kaldi-style data dirs and the training data loader."""
