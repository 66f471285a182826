"""Study fan-out: wall time of one population run sequentially vs in a 2-process pool (and a 2-worker Dask
LocalCluster), measured side by side in one run, alternating, so machine load hits every executor alike.

The population is the default study's (conf/base/parameters_study.yml: the τ study, the OBF sweep and the
feature study's sets that need no download), each executor starting cold (worker start-up — fresh
interpreters importing torch/timm — included). The issue's goal: parallel ≤ 0.6 × sequential on 2 cores.
Every executor's rows are checked bit-identical to the first run's.

Run: ``python benchmarks/study_fanout.py`` (≈ 6–8 min on 2 cores); ``--population tau`` for the τ study
only, ``--rounds``, ``--workers``, ``--dask`` to include a Dask LocalCluster.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

import yaml

from samlab.study import feature_population, obf_population, run_members, tau_population
from samlab.study.fanout import shutdown_pools

ROOT = Path(__file__).resolve().parents[1]


def population(which: str):
    params = yaml.safe_load((ROOT / "conf" / "base" / "parameters_study.yml").read_text())
    members = tau_population(params["study"])
    if which == "all":
        members += obf_population(params["obf_sweep"], params["study"])
        members += [
            m
            for name, fs in params["feature_study"].items()
            if not fs.get("optional")
            for m in feature_population(name, fs)
        ]
    return members


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--population", choices=["all", "tau"], default="all")
    ap.add_argument("--dask", action="store_true", help="also time a Dask LocalCluster of --workers processes")
    args = ap.parse_args()
    members = population(args.population)
    executors = ["sequential", "process"] + (["dask"] if args.dask else [])
    times: dict[str, list[float]] = {e: [] for e in executors}
    cpu: dict[str, list[float]] = {e: [] for e in executors}
    reference = None
    for r in range(args.rounds):
        for ex in executors if r % 2 == 0 else executors[::-1]:
            t0, c0 = time.perf_counter(), os.times()
            results = run_members(members, ex, workers=args.workers)
            shutdown_pools()  # the next process run starts cold, as a fresh `kedro run` would (and its CPU is counted)
            times[ex].append(time.perf_counter() - t0)
            c1 = os.times()
            cpu[ex].append(
                c1.user
                + c1.system
                + c1.children_user
                + c1.children_system
                - (c0.user + c0.system + c0.children_user + c0.children_system)
            )
            rows = json.dumps([x.row for x in results], sort_keys=True)
            reference = reference or rows
            assert rows == reference, f"{ex}: rows differ from the first run"
            print(
                f"round {r + 1} {ex:10s} {times[ex][-1]:7.1f} s wall, {cpu[ex][-1]:7.1f} s CPU, load {os.getloadavg()[0]:.1f}",
                flush=True,
            )
    seq = statistics.median(times["sequential"])
    print(f"\n{len(members)} members ({args.population}), {args.workers} workers; medians over {args.rounds} rounds")
    print(f"{'executor':10s} {'wall s':>8s} {'÷ sequential':>13s} {'CPU s':>8s}")
    for ex in executors:
        med = statistics.median(times[ex])
        print(f"{ex:10s} {med:8.1f} {med / seq:13.2f} {statistics.median(cpu[ex]):8.1f}")
    print(
        "CPU: this process and its reaped children (process pool workers; not Dask's nanny-managed workers). "
        "On a CPU shared with other jobs the wall ratio is bounded by the share the scheduler gives this job "
        "(Linux autogroup: one share per session, however many processes it runs)."
    )
    print("rows bit-identical across executors: yes")


if __name__ == "__main__":
    main()
