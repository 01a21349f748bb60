"""A team's extension at cold start, from the Lambda artifact: the same zip built with ``--include`` of a small
package (a topic, an action, a notification type), imported as ``WS_EXTENSIONS`` names it, against the same zip
without it. Each pair runs back to back in fresh CPython 3.12 interpreters (``-I -B``, the task directory read as
Lambda's), interleaved, medians of the rounds; the target is at most 1.1x.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import tempfile
import zipfile
from pathlib import Path

from careconnect_ws_cdk.lambda_artifact import PYTHON_VERSION, build, target_python

ROUNDS = 9

TEAM_PACKAGE = """
from careconnect_ws.notifications import Field, NotificationType, register_notification
from careconnect_ws.routing import router
from careconnect_ws.topics import Topic, register_topic

register_topic(Topic("care-plan", may_subscribe=lambda user_id, subject: user_id.startswith("nurse-")))


@router.action("ward.note")
def ward_note(ctx):
    return {"type": "noted"}


register_notification(NotificationType(
    name="lab-result-ready", topic="care-plan", fields=(Field("result", "the result's id", required=True),),
    payload=lambda user_id, fields, at: {"type": "lab-result", "result": fields["result"]},
))
"""

_COLD = """
import os, sys, time
t = time.perf_counter()
sys.path.insert(0, sys.argv[1])
import careconnect_ws.handler
from careconnect_ws.extensions import ensure_extensions
ensure_extensions()
print(time.perf_counter() - t)
"""


def _once(python: str, task: Path, extensions: str) -> float:
    env = {"PATH": os.environ.get("PATH", ""), "WS_EXTENSIONS": extensions}
    # -I ignores PYTHON* variables, so WS_EXTENSIONS reaches the code through os.environ as in Lambda.
    out = subprocess.run([python, "-I", "-B", "-c", _COLD, str(task)], capture_output=True, text=True, timeout=120, env=env)
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-2000:])
    return float(out.stdout.strip().splitlines()[-1])


def run() -> str:
    python = target_python()
    if python is None:
        return f"### A team's extension at cold start\n\nNot measured: no CPython {PYTHON_VERSION} on this machine."
    arch = "x86_64" if platform.machine() in ("x86_64", "AMD64") else "arm64"
    with tempfile.TemporaryDirectory(prefix="ccws-ext-") as tmp:
        root = Path(tmp)
        package = root / "team" / "acme_ws"
        package.mkdir(parents=True)
        (package / "__init__.py").write_text(TEAM_PACKAGE)
        artifact = build(arch, out=root / f"{arch}.zip", include=[package])
        with zipfile.ZipFile(artifact) as zf:
            zf.extractall(root / "task")
        task = root / "task"
        without, with_ = [], []
        for _ in range(ROUNDS):  # interleaved: the machine's noise falls on both alike
            without.append(_once(python, task, ""))
            with_.append(_once(python, task, "acme_ws"))
    base, ext = statistics.median(without), statistics.median(with_)
    ratios = [w / b for w, b in zip(with_, without, strict=True)]
    return "\n".join(
        [
            f"### A team's extension at cold start ({arch}, CPython {PYTHON_VERSION}, {ROUNDS} interleaved rounds)",
            "",
            "| what | ms (median) | ratio |",
            "|---|---:|---:|",
            f"| `import careconnect_ws.handler` + `ensure_extensions()`, no extension (the floor) | {base * 1000:.0f} | 1.00 |",
            f"| the same zip with `acme_ws` (a topic, an action, a notification type) in `WS_EXTENSIONS` | {ext * 1000:.0f} | "
            f"{ext / base:.2f} (median of per-round ratios {statistics.median(ratios):.2f}; target ≤ 1.1) |",
            "",
            json.dumps({"without_ms": [round(x * 1000) for x in without], "with_ms": [round(x * 1000) for x in with_]}),
        ]
    )
