#!/usr/bin/env python3
"""Synthesize the careconnect-ws stack: ``python main.py`` or ``cdktf synth``.

Writes ``cdktf.out/stacks/<stack_name>/cdk.tf.json``. Configuration comes from the
environment or cdktf context (see ``stacks/stack_config.py``); nothing is required,
but the default (complete) system needs the Lambda zip: ``make lambda``.
"""

from __future__ import annotations

import os
import sys

from careconnect_ws_cdk.cdk import App
from careconnect_ws_cdk.errors import InvalidPropsError
from stacks.stack_config import CONTEXT_KEYS, RENAMED, deprecated_options, load_stack_config, unknown_options
from stacks.websocket_stack import WebSocketStack


def build_app() -> App:
    app = App()
    # cdktf.json's "context", as the cdktf CLI passes it; context given to the app itself wins.
    file_context = _cdktf_json_context()
    keys = (*CONTEXT_KEYS, *RENAMED)
    context = {**file_context, **{k: v for k in keys if (v := app.node.try_get_context(k)) is not None}}
    for warning in (*unknown_options(file_context), *deprecated_options(context)):
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


def _exit_now(code: int) -> None:
    """Leave without the jsii runtime's exit-time teardown. The synth is complete and on disk when
    app.synth() returns; on cdktf the teardown (stopping a Node.js holding the provider's 46 MB
    assembly) took about 4 of the 12.5 seconds of a synth (BENCHMARKS.md). Node exits on its own once
    its stdin closes."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    _exit_now(main())
