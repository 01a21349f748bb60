"""Small IAM helpers shared by the constructs."""

from __future__ import annotations

import json


def trust_policy(service: str) -> str:
    """An assume-role policy that lets one AWS service (e.g. ``lambda.amazonaws.com``) assume the role."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}],
        }
    )
