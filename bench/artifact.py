"""Size of the Lambda zip per architecture, against the floor of its pinned dependencies alone
(the same zip without ``careconnect_ws``), built in the same run."""

from __future__ import annotations

import tempfile
import time
import zipfile
from pathlib import Path

from careconnect_ws_cdk.lambda_artifact import ARCHITECTURES, build


def run() -> str:
    lines = [
        "### Lambda artifact (`make lambda`)",
        "",
        "| arch | zip MiB | unzipped MiB | files | floor: dependencies only, zip MiB | ratio to floor | build s |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    with tempfile.TemporaryDirectory() as tmp:
        for arch in ARCHITECTURES:
            started = time.perf_counter()
            path = build(arch, out=Path(tmp) / f"{arch}.zip")
            seconds = time.perf_counter() - started
            with zipfile.ZipFile(path) as zf:
                infos = zf.infolist()
            ours = [i for i in infos if i.filename.startswith("careconnect_ws/")]
            total = path.stat().st_size
            deps = total - sum(i.compress_size for i in ours)
            lines.append(
                f"| {arch} | {total / 2**20:.2f} | {sum(i.file_size for i in infos) / 2**20:.1f} | {len(infos)} | "
                f"{deps / 2**20:.2f} | {total / deps:.3f} | {seconds:.1f} |"
            )
    return "\n".join(lines)
