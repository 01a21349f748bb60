#!/usr/bin/env python3
"""Synthesize the careconnect-ws stack: ``python main.py`` or ``cdktf synth``.

Writes ``cdktf.out/stacks/<stack_name>/cdk.tf.json``. Configuration comes from the
environment or cdktf context (see ``stacks/stack_config.py``); nothing is required,
but the default (complete) system needs the Lambda zip: ``make lambda``.
"""

from __future__ import annotations

import sys

from stacks.cdk import App
from stacks.errors import InvalidPropsError
from stacks.stack_config import CONTEXT_KEYS, load_stack_config
from stacks.websocket_stack import WebSocketStack


def build_app() -> App:
    app = App()
    context = {key: app.node.try_get_context(key) for key in CONTEXT_KEYS}
    WebSocketStack(app, load_stack_config(context))
    return app


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
