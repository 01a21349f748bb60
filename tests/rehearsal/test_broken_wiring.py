"""A deliberately broken stack applies cleanly against moto (moto checks no references): the read-back
must be what catches it, naming the resource. Runs with ``make rehearse`` (``-m rehearsal``)."""

from __future__ import annotations

import pytest

from rehearsal.readback import WiringError
from rehearsal.rehearse import _modes, rehearse
from rehearsal.terraform import Unavailable, find_toolchain

pytestmark = pytest.mark.rehearsal


@pytest.fixture(scope="module")
def toolchain(tmp_path_factory):
    try:
        return find_toolchain(tmp_path_factory.mktemp("terraform"))
    except Unavailable as reason:
        pytest.skip(f"rehearsal not possible here: {reason}")


def test_a_route_target_without_integrations_prefix_fails_the_readback_naming_the_route(toolchain):
    with pytest.raises(WiringError) as err:
        rehearse(_modes(None)["existing"], toolchain, broken=True, log=lambda *_: None)
    message = str(err.value)
    assert "1 of" in message and "wiring checks failed" in message
    assert "aws_apigatewayv2_route.websocket_route_default" in message and "($default)" in message
    assert "is not integrations/<id of an integration" in message
