"""Whole synthesized stacks as syrupy snapshots: any change to the Terraform shows in review.

Two things are masked because they change without any change of ours: the AWS provider version the
bindings pin (cdktf and CDK Terrain ship different ones, and cdktf writes the provider's address in its
short form; a bindings update moves the pin) and the asset hash in the Lambda zip's path (CDK Terrain's ``Testing.app()`` hashes assets canonically, cdktf does
not). Both are checked on their own: the pin in test_complete_stack.py, the asset wiring below.
"""

from __future__ import annotations

import json
import re

import pytest

PIN_DEFAULT = "<the bindings' pinned version>"
_ASSET = re.compile(r"assets/([A-Za-z0-9_]+)/[0-9A-F]{32}/")


def normalized(doc: dict) -> dict:
    doc = json.loads(_ASSET.sub(r"assets/\1/<hash>/", json.dumps(doc)))
    aws = doc.get("terraform", {}).get("required_providers", {}).get("aws")
    if aws and re.fullmatch(r"\d+\.\d+\.\d+", aws.get("version", "")):
        aws["version"] = PIN_DEFAULT
    if aws and aws.get("source") == "aws":  # cdktf writes the short form of the same address
        aws["source"] = "hashicorp/aws"
    return doc


@pytest.mark.parametrize("name", ["default_synth", "existing_synth", "full_synth", "existing_full_synth", "three_function_synth"])
def test_stack_snapshot(name, request, snapshot):
    assert normalized(request.getfixturevalue(name).doc) == snapshot


def test_the_zip_is_one_asset_used_by_path_and_hash(default_synth):
    function = next(iter(default_synth.resources("aws_lambda_function").values()))
    assert _ASSET.match(function["filename"]) and function["filename"].endswith("/careconnect-ws-lambda-arm64.zip")
    assert function["source_code_hash"] == f'${{filebase64sha256("{function["filename"]}")}}'
