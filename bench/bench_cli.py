"""CLI round trip: ``gnt-node list`` against a 3-node vcluster, and bare Python start-up.

Run from the checkout: ``.venv/bin/python -m bench.bench_cli``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import corral
from bench.common import BenchError, Figure, median, percentile, report, sample, vcluster
from corral.vcluster.cluster import VCluster

RUNS = 30
WARMUP_RUNS = 2
TARGET_MS = 80.0
NODES = 3


def precompile() -> None:
    """Write the bytecode of ``corral`` once, so that no run pays for compiling it
    (the environment may set PYTHONDONTWRITEBYTECODE=1, which stops imports caching it)."""
    package = Path(corral.__file__).parent
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(package)], check=True)
    print(f"  (bytecode precompiled: python -m compileall -q {package})", flush=True)


def gnt_node_list() -> list[str]:
    return [str(Path(sys.executable).parent / "gnt-node"), "list"]


def cli_env(vc: VCluster) -> dict[str, str]:
    return {**os.environ, "CORRAL_LUXI": str(vc.luxi_socket), "CORRAL_ROOT": vc.master.root}


def run_checked(argv: list[str], env: dict[str, str]) -> str:
    """Run a command; its output, or BenchError when it fails."""
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise BenchError(f"{' '.join(argv)} exited with {proc.returncode}: {proc.stderr.strip()}")
    return proc.stdout


def measure_cli(vc: VCluster) -> list[float]:
    """Milliseconds per ``gnt-node list`` run, after checking it lists every node."""
    argv, env = gnt_node_list(), cli_env(vc)
    output = run_checked(argv, env)
    missing = [n.name for n in vc.nodes if n.name not in output]
    if missing:
        raise BenchError(f"gnt-node list did not list {missing}:\n{output}")
    for _ in range(WARMUP_RUNS - 1):
        run_checked(argv, env)
    return [t * 1000.0 for t in sample(lambda: run_checked(argv, env), RUNS)]


def measure_python_startup() -> list[float]:
    argv = [sys.executable, "-c", "pass"]
    return [t * 1000.0 for t in sample(lambda: run_checked(argv, dict(os.environ)), RUNS)]


def run() -> list[Figure]:
    """Precompile, bring up a vcluster, time the CLI and Python start-up; returns figures."""
    print(f"cli: `gnt-node list` round trip on a {NODES}-node vcluster", flush=True)
    precompile()
    with vcluster(NODES, "cli") as vc:
        cli = measure_cli(vc)
    startup = measure_python_startup()
    detail = f"{RUNS} runs after {WARMUP_RUNS} warm-up"
    return [
        report(Figure("gnt-node list median", median(cli), "ms", TARGET_MS, "max", detail)),
        report(Figure("gnt-node list p90", percentile(cli, 90), "ms", detail=detail)),
        report(
            Figure("python -c pass start-up median", median(startup), "ms", detail=f"{RUNS} runs")
        ),
    ]


def main() -> None:
    run()


if __name__ == "__main__":
    main()
