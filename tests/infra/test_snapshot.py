"""The whole synthesized default stack, as a syrupy snapshot: any change to the Terraform shows in review."""

from __future__ import annotations


def test_default_stack_snapshot(default_synth, snapshot):
    assert default_synth.doc == snapshot


def test_three_function_stack_snapshot(three_function_synth, snapshot):
    assert three_function_synth.doc == snapshot
