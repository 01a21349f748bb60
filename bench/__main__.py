"""``python -m bench [name ...]``: run the named benchmarks (all by default) and print Markdown."""

from __future__ import annotations

import importlib
import platform
import sys
import time

BENCHMARKS = [
    "synth",
    "artifact",
    "cold_start",
    "extensions",
    "declared_topics",
    "handler",
    "gateway",
    "serve_memory",
    "fanout",
    "registry",
    "streams",
    "operations",
]
# Run only when named: serverless_offline needs npm and downloads serverless + serverless-offline.
OPTIONAL = ["serverless_offline"]


def main(argv: list[str]) -> int:
    names = argv or BENCHMARKS
    unknown = sorted(set(names) - set(BENCHMARKS) - set(OPTIONAL))
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; choose from {', '.join(BENCHMARKS + OPTIONAL)}", file=sys.stderr)
        return 2
    print(
        f"<!-- {time.strftime('%Y-%m-%d')} · {platform.python_implementation()} {platform.python_version()} · "
        f"{platform.machine()} -->"
    )
    for name in names:
        module = importlib.import_module(f"bench.{name}")
        print()
        print(module.run())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
