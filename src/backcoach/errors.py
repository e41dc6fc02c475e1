"""The one error type users can cause: what went wrong and what to do about it."""

from __future__ import annotations


class BackcoachError(Exception):
    """An error a user can cause (bad file, missing model, broken YAML).

    The message is one line that says what went wrong and, where it helps, what to do.
    The CLI prints it as ``backcoach: <message>`` and never shows a traceback for it.
    """

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        self.message = message
        self.hint = hint
        super().__init__(self.one_line())

    def one_line(self) -> str:
        """The message and hint on a single line."""
        text = " ".join(self.message.split())
        if self.hint:
            text += " (" + " ".join(self.hint.split()) + ")"
        return text
