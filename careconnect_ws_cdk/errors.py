"""Errors raised at synth time."""

from __future__ import annotations


class InvalidPropsError(ValueError):
    """A construct prop breaks a rule; the message names the prop, its value and what is allowed."""

    def __init__(self, prop: str, value: object, rule: str) -> None:
        self.prop = prop
        self.value = value
        self.rule = rule
        super().__init__(f"{prop}={value!r} is not allowed: {rule}")
