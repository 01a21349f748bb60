"""Reading a prop's value for validation: a Terraform token is known only at plan, so only its type is checked.

Only what can be a token is asked (strings with ``${``, the huge negative numbers tokens encode to), so plain
props never load the CDK.
"""

from __future__ import annotations

from typing import Any

from .errors import InvalidPropsError


def unresolved(value: Any) -> bool:
    """A Terraform token (a variable, a reference): its value is known only at plan, so it is not checked here."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return False
    if isinstance(value, str) and "${" not in value:
        return False
    if isinstance(value, int | float) and not isinstance(value, str) and value > -1e200:
        return False
    from .cdk import Token

    return bool(Token.is_unresolved(value))


def number(prop: str, value: Any) -> float | None:
    """The number to check, None for a token; a non-number is the same clear error as a bad number."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidPropsError(prop, value, "give a number (or a Terraform token such as a variable's .number_value)")
    return None if unresolved(value) else value


def text(prop: str, value: Any, *, optional: bool = False) -> str | None:
    """The text to check, None for a token (or for a missing optional value); a non-string is an error."""
    if value is None and optional:
        return None
    if not isinstance(value, str):
        raise InvalidPropsError(prop, value, "give a string (or a Terraform token such as a variable's .string_value)")
    return None if unresolved(value) else value
