"""The project's own error type: the CLI prints it as one line and exits non-zero."""


class MttsError(Exception):
    """A user-facing problem (bad input, missing file) with a message that says what to do."""
