"""Cold `python main.py` (full synth) against the floor of `import cdktf` alone, same run."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

from .proctree import median_run

ROOT = Path(__file__).resolve().parents[1]


def run(repeat: int = 3) -> str:
    env = {**os.environ, "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20"}
    with tempfile.TemporaryDirectory() as out:
        env["CDKTF_OUTDIR"] = out
        floor = median_run([sys.executable, "-c", "import cdktf"], repeat, cwd=ROOT, env=env)
        synth = median_run([sys.executable, "main.py"], repeat, cwd=ROOT, env=env)
    return "\n".join(
        [
            f"### Synth (median of {repeat} cold runs)",
            "",
            "| what | wall s | peak RSS MiB (Python + Node) | ratio to floor (time / memory) |",
            "|---|---:|---:|---:|",
            f"| floor: `python -c 'import cdktf'` | {floor.wall_s:.2f} | {floor.peak_rss_mib:.0f} | 1.00 / 1.00 |",
            f"| `python main.py` | {synth.wall_s:.2f} | {synth.peak_rss_mib:.0f} | "
            f"{synth.wall_s / floor.wall_s:.2f} / {synth.peak_rss_mib / floor.peak_rss_mib:.2f} |",
        ]
    )
