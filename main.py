#!/usr/bin/env python3
"""Synthesize the careconnect-ws stack: ``python main.py`` or ``cdktf synth``.

Writes ``cdktf.out/stacks/<stack_name>/cdk.tf.json``. Configuration comes from the
environment or cdktf context (see ``stacks/stack_config.py``); nothing is required,
but the default (complete) system needs the Lambda zip: ``make lambda``.
"""

from __future__ import annotations

import sys

from careconnect_ws_cdk.cdk import App
from careconnect_ws_cdk.errors import InvalidPropsError
from stacks.stack_config import CONTEXT_KEYS, load_stack_config, unknown_options
from stacks.websocket_stack import WebSocketStack


def build_app() -> App:
    app = App()
    # cdktf.json's "context", as the cdktf CLI passes it; context given to the app itself wins.
    file_context = _cdktf_json_context()
    context = {**file_context, **{k: v for k in CONTEXT_KEYS if (v := app.node.try_get_context(k)) is not None}}
    for warning in unknown_options(file_context):
        print(f"careconnect-ws: warning: {warning}", file=sys.stderr)
    WebSocketStack(app, load_stack_config(context))
    return app


def _cdktf_json_context() -> dict:
    import json
    from pathlib import Path

    path = Path("cdktf.json")
    return json.loads(path.read_text()).get("context", {}) if path.is_file() else {}


def main() -> int:
    try:
        app = build_app()
    except InvalidPropsError as err:
        print(f"careconnect-ws: {err}", file=sys.stderr)
        return 2
    app.synth()
    return 0


if __name__ == "__main__":
    sys.exit(main())
