"""Whole synthesized stacks as syrupy snapshots: any change to the Terraform shows in review."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize("name", ["default_synth", "existing_synth", "full_synth", "existing_full_synth", "three_function_synth"])
def test_stack_snapshot(name, request, snapshot):
    assert request.getfixturevalue(name).doc == snapshot
