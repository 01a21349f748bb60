"""``python -m stacks.lambda_artifact``: build the Lambda zip for this app's configured architecture.

The build itself is the library's (:mod:`careconnect_ws_cdk.lambda_artifact`); this app only decides
the default architecture the way ``main.py`` will: ``CARECONNECT_WS_ARCHITECTURE`` or the
``architecture`` key of ``cdktf.json``'s context, else arm64.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from careconnect_ws_cdk.lambda_artifact import DEFAULT_ARCHITECTURE, run_cli

from .stack_config import load_stack_config


def configured_architecture() -> str:
    config_file = Path("cdktf.json")
    context = json.loads(config_file.read_text()).get("context", {}) if config_file.is_file() else {}
    return load_stack_config(context).architecture or DEFAULT_ARCHITECTURE


if __name__ == "__main__":
    sys.exit(run_cli(sys.argv[1:], prog="python -m stacks.lambda_artifact", default_arch=configured_architecture))
