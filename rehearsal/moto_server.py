"""A throwaway moto server on a free loopback port, and the Terraform override that points the AWS provider at it.

A fresh server per rehearsal: moto keeps deleted secrets in their recovery window, so a second
apply against the same server would collide with the first one's names.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from careconnect_ws.local.ports import free_port

ACCESS_KEY = "rehearsal"
SECRET_KEY = "rehearsal"

# Every service the stacks use: the provider's endpoints block must name each one.
SERVICES = (
    "acm",
    "apigateway",
    "apigatewayv2",
    "cloudwatch",
    "events",
    "iam",
    "kms",
    "lambda",
    "logs",
    "route53",
    "secretsmanager",
    "sns",
    "sqs",
    "sts",
)


class MotoServer:
    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None

    def start(self) -> MotoServer:
        binary = shutil.which("moto_server") or str(Path(sys.executable).with_name("moto_server"))
        if not Path(binary).exists():
            raise FileNotFoundError("moto_server is not installed: pip install 'moto[server]' (the dev extra)")
        # AWS-managed policies (the account logging role attaches AmazonAPIGatewayPushToCloudWatchLogs)
        # exist in moto only when it is asked to load them.
        env = {**os.environ, "MOTO_IAM_LOAD_MANAGED_POLICIES": "true"}
        self.proc = subprocess.Popen(
            [binary, "-H", "127.0.0.1", "-p", str(self.port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"moto_server exited with {self.proc.returncode}")
            try:
                urllib.request.urlopen(f"{self.url}/moto-api/", timeout=1).read()
                return self
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError("moto_server did not answer within 30 s")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()

    def client(self, service: str, region: str):
        import boto3

        return boto3.client(
            service, endpoint_url=self.url, region_name=region, aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY
        )

    def write_override(self, stack_dir: Path, region: str) -> Path:
        """``rehearsal_override.tf.json`` beside ``cdk.tf.json``: Terraform merges it into the provider block,
        so the synthesized configuration itself is never edited."""
        provider = {
            "region": region,
            "access_key": ACCESS_KEY,
            "secret_key": SECRET_KEY,
            "skip_credentials_validation": True,
            "skip_metadata_api_check": True,
            # Not skip_requesting_account_id: without the account id every execution ARN comes out as
            # arn:aws:execute-api:<region>::… and every permission's source_arn is wrong.
            "max_retries": 1,  # moto has no UpdateStage: an update would otherwise retry for minutes
            "endpoints": [{service: self.url for service in SERVICES}],
        }
        path = stack_dir / "rehearsal_override.tf.json"
        path.write_text(json.dumps({"provider": {"aws": provider}}, indent=2))
        return path

    def __enter__(self) -> MotoServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
