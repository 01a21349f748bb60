"""A Lambda function an API Gateway route or authorizer invokes: the Terraform module's name + invoke ARN pair."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .errors import InvalidPropsError

_TARGET_OF_FUNCTION = "_careconnect_ws_target"


@dataclass(frozen=True, kw_only=True)
class LambdaTarget:
    """A Lambda function a route (or the ``$connect`` authorizer) invokes."""

    function_name: str
    """Function name (or ARN), used for the invoke permission."""

    invoke_arn: str
    """The function's invoke ARN (``aws_lambda_function.x.invoke_arn``), used for the integration."""

    qualifier: str | None = None
    """An alias (or version) of the function that the routes invoke: the invoke permissions are granted on it,
    and ``invoke_arn`` must be its invoke ARN (``aws_lambda_alias.x.invoke_arn``). Default: none (the function
    itself, ``$LATEST``)."""

    @classmethod
    def from_function(cls, function: Any) -> LambdaTarget:
        """From an ``aws_lambda_function`` resource or data source of your own stack, in one call. The same function
        gives the same target each time (each read of a resource attribute is a new token, and routes share one
        integration per target)."""
        target = getattr(function, _TARGET_OF_FUNCTION, None)
        if target is None:
            target = cls(function_name=function.function_name, invoke_arn=function.invoke_arn)
            setattr(function, _TARGET_OF_FUNCTION, target)
        return target

    @property
    def permission_qualifier(self) -> dict[str, str]:
        """An invoke permission's ``qualifier``: on the alias the route invokes (SnapStart), or the function itself."""
        return {"qualifier": self.qualifier} if self.qualifier else {}


def check_target(prop: str, target: Any) -> None:
    """``target`` is a usable :class:`LambdaTarget`, or an error naming ``prop``."""
    if not isinstance(target, LambdaTarget):
        raise InvalidPropsError(prop, target, "give a LambdaTarget (LambdaTarget.from_function(fn) for a function resource)")
    if not target.function_name or not target.invoke_arn:
        raise InvalidPropsError(prop, target, "a LambdaTarget needs both function_name and invoke_arn")
    if target.qualifier is not None and (not isinstance(target.qualifier, str) or not target.qualifier):
        raise InvalidPropsError(prop, target, "qualifier is an alias name or version number (text), or None")
