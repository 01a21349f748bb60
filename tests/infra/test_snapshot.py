"""Whole synthesized stacks as syrupy snapshots: any change to the Terraform shows in review.

Two things are masked (by careconnect_ws_cdk.testing, the helpers the library ships for its users) because they change without any change of ours: the AWS provider version the
bindings pin (cdktf and CDK Terrain ship different ones, and cdktf writes the provider's address in its
short form; a bindings update moves the pin) and the asset hash in the Lambda zip's path (CDK Terrain's ``Testing.app()`` hashes assets canonically, cdktf does
not). Both are checked on their own: the pin in test_complete_stack.py, the asset wiring below.
"""

from __future__ import annotations

import re

import pytest

from careconnect_ws_cdk.testing import snapshot_json

_ASSET = re.compile(r"assets/([A-Za-z0-9_]+)/[0-9A-F]{32}/")


@pytest.mark.parametrize("name", ["default_synth", "existing_synth", "full_synth", "existing_full_synth", "three_function_synth"])
def test_stack_snapshot(name, request, snapshot):
    assert snapshot_json(request.getfixturevalue(name)) == snapshot


def test_the_zip_is_one_asset_used_by_path_and_hash(default_synth):
    function = next(iter(default_synth.resources("aws_lambda_function").values()))
    assert _ASSET.match(function["filename"]) and function["filename"].endswith("/careconnect-ws-lambda-arm64.zip")
    assert function["source_code_hash"] == f'${{filebase64sha256("{function["filename"]}")}}'
