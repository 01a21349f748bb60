"""The README's construct snippet runs as written."""

from __future__ import annotations

import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_construct_snippet_synthesizes(tmp_path, monkeypatch, default_synth):  # default_synth: jsii already loaded
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## Using the construct in another stack"):]
    code = re.search(r"```python\n(.*?)```", section, re.S)[1]
    # The jsii Node process keeps the cwd it started with: point the app's outdir at tmp_path instead.
    assert code.count("App()") == 1
    code = code.replace("App()", f"App(outdir={str(tmp_path / 'out')!r})")
    monkeypatch.syspath_prepend(str(ROOT))
    exec(compile(code, "README.md", "exec"), {"__name__": "readme"})
    doc = json.loads((tmp_path / "out" / "stacks" / "my-stack" / "cdk.tf.json").read_text())
    assert len(doc["resource"]["aws_apigatewayv2_route"]) == 3
    assert "websocket_api_endpoint" in doc["output"]
