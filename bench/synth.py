"""Cold synth of the default stack on each CDK lineage: wall time and peak memory of the whole process
tree (Python + Node), each against the floor of importing that lineage's core package alone, and
where the seconds of one synth go (import of the core, the provider bindings, building the constructs,
synth, exit). Runs each lineage from its own virtualenv (.venv: cdktf, .venv-cdktn: CDK Terrain),
interleaved, so both see the same machine."""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import time
from pathlib import Path

from .proctree import median_run

ROOT = Path(__file__).resolve().parents[1]
LINEAGES = {"cdktf": ROOT / ".venv" / "bin" / "python", "cdktn": ROOT / ".venv-cdktn" / "bin" / "python"}

PHASES = r"""
import json, os, sys, time
t0 = time.perf_counter()
__import__(os.environ["CARECONNECT_WS_CDK"])
t1 = time.perf_counter()
import careconnect_ws_cdk.cdk
t2 = time.perf_counter()
sys.path.insert(0, os.getcwd())
import main
app = main.build_app()
t3 = time.perf_counter()
app.synth()
t4 = time.perf_counter()
print(json.dumps({"core": t1 - t0, "bindings": t2 - t1, "constructs": t3 - t2, "synth": t4 - t3, "started": t0}))
"""


def _phases(python: Path, env: dict) -> dict:
    started = time.perf_counter()
    proc = subprocess.run([str(python), "-c", PHASES], cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    wall = time.perf_counter() - started
    phases = json.loads(proc.stdout.strip().splitlines()[-1])
    inside = phases["core"] + phases["bindings"] + phases["constructs"] + phases["synth"]
    phases["interpreter and exit"] = wall - inside
    phases.pop("started")
    phases["wall"] = wall
    return phases


def run(repeat: int = 3) -> str:
    available = {name: py for name, py in LINEAGES.items() if py.exists()}
    rows, phase_rows = [], []
    with tempfile.TemporaryDirectory() as out:
        results: dict[str, dict] = {}
        for name, python in available.items():
            env = {**os.environ, "CDKTF_OUTDIR": out, "CARECONNECT_WS_CDK": name}
            floor = median_run([str(python), "-c", f"import {name}"], repeat, cwd=ROOT, env=env)
            synth = median_run([str(python), "main.py"], repeat, cwd=ROOT, env=env)
            phases = [_phases(python, env) for _ in range(repeat)]
            results[name] = {
                "floor": floor,
                "synth": synth,
                "phases": {k: sorted(p[k] for p in phases)[len(phases) // 2] for k in phases[0]},
            }
    for name, r in results.items():
        floor, synth = r["floor"], r["synth"]
        rows.append(
            f"| {name}: floor `python -c 'import {name}'` | {floor.wall_s:.2f} | {floor.peak_rss_mib:.0f} | 1.00 / 1.00 |"
        )
        rows.append(
            f"| {name}: `python main.py` | {synth.wall_s:.2f} | {synth.peak_rss_mib:.0f} | "
            f"{synth.wall_s / floor.wall_s:.2f} / {synth.peak_rss_mib / floor.peak_rss_mib:.2f} |"
        )
        p = r["phases"]
        phase_rows.append(
            f"| {name} | {p['core']:.2f} | {p['bindings']:.2f} | {p['constructs']:.2f} | {p['synth']:.2f} | "
            f"{p['interpreter and exit']:.2f} | {p['wall']:.2f} |"
        )
    return "\n".join(
        [
            f"### Synth of the default stack (median of {repeat} cold runs per lineage)",
            "",
            "| what | wall s | peak RSS MiB (Python + Node) | ratio to floor (time / memory) |",
            "|---|---:|---:|---:|",
            *rows,
            "",
            "Where the seconds of one synth go (median, seconds):",
            "",
            "| lineage | import core | provider bindings | build constructs | synth | interpreter + exit | wall |",
            "|---|---:|---:|---:|---:|---:|---:|",
            *phase_rows,
        ]
    )
