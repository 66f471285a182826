"""Training-loop throughput: images/s of SGD vs every SAM-family variant on the default model, plus peak memory.

Runs ``samlab.train.train`` (the loop the pipeline runs: loader, both passes, scheduler, metrics, per-epoch
checkpoint) on the default data and model of ``conf/base`` with each variant's own optimizer block
(``conf/base`` + the ``variants`` environment). Every measurement is a fresh child process, so its peak
RSS is its own; rounds interleave the variants so machine load hits them alike. Throughput is the best
round (other load only ever slows a run down), memory the median. Epoch 1 is warm-up; images/s is that of
the later epochs. On a shared, loaded machine use more rounds: the ratios are only as good as the quiet.

    python benchmarks/training_throughput.py                  # all variants, 3 rounds
    python benchmarks/training_throughput.py --variants sgd sam obf --rounds 5 --threads 2
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def child(variant: str, epochs: int, threads: int) -> None:
    import samlab  # noqa: F401  - the torchvision guard
    import torch

    from samlab.data import prepare_dataset
    from samlab.pipeline_registry import run_parameters
    from samlab.train import CheckpointStore, train

    torch.set_num_threads(threads)
    params = run_parameters()
    data_cfg = dict(params["data"])
    data = prepare_dataset(data_cfg.pop("name"), **data_cfg)
    block = params["variants"][variant]
    model_cfg = {**params["model"], **block.get("model", {})}
    train_cfg = {**params["training"], **block.get("training", {}), "epochs": epochs, "progress": False}
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with tempfile.TemporaryDirectory() as tmp:
        # live metrics are written as in the pipeline (their cost is part of the loop), but into the temporary
        # folder: data/07_model_output belongs to the pipeline and DVC
        train_cfg["logging"] = {**train_cfg.get("logging", {}), "dir": str(Path(tmp) / "{name}")}
        history = train(
            data, model_cfg, block["optimizer"], train_cfg, name=variant, checkpoints=CheckpointStore(tmp, keep=1)
        ).history
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    measured = history[1:] or history
    print(
        json.dumps(
            {
                "images_per_s": sum(r["images_per_s"] for r in measured) / len(measured),
                "peak_rss_mb": peak / 1024,
                "training_rss_mb": (peak - rss_before) / 1024,
                "model": model_cfg["name"],
                "batch_size": train_cfg["batch_size"],
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variants", nargs="*", help="default: every variant of conf/base + conf/variants")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=3, help="per measurement; the first is warm-up")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads per run")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    env = {
        **os.environ,
        "KEDRO_ENV": "variants",
        "KEDRO_DISABLE_TELEMETRY": "true",
        "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]),
    }
    if args.child:
        child(args.child, args.epochs, args.threads)
        return

    os.chdir(ROOT)
    os.environ.update(env)
    sys.path.insert(0, str(ROOT / "src"))
    from samlab.pipeline_registry import run_parameters
    from samlab.pipelines.variants import variant_names

    variants = args.variants or variant_names(run_parameters())
    if "sgd" not in variants:
        variants = ["sgd", *variants]
    runs: dict[str, list[dict]] = {v: [] for v in variants}
    t0 = time.time()
    for r in range(args.rounds):
        for v in variants:
            out = subprocess.run(
                [sys.executable, __file__, "--child", v, "--epochs", str(args.epochs), "--threads", str(args.threads)],
                cwd=ROOT,
                env=env,
                capture_output=True,
                text=True,
            )
            if out.returncode != 0:
                raise SystemExit(f"{v} failed:\n{out.stderr[-3000:]}")
            runs[v].append(json.loads(out.stdout.strip().splitlines()[-1]))
            print(
                f"round {r + 1}/{args.rounds} {v:9s} {runs[v][-1]['images_per_s']:8.1f} img/s",
                file=sys.stderr,
                flush=True,
            )
    first = runs["sgd"][0]
    print(
        f"\nTraining-loop throughput: {first['model']}, batch {first['batch_size']}, {args.threads} thread(s), "
        f"best of {args.rounds} rounds x {args.epochs - 1} measured epochs ({time.time() - t0:.0f} s)\n"
    )
    sgd_ips = max(x["images_per_s"] for x in runs["sgd"])
    sgd_mem = statistics.median(x["training_rss_mb"] for x in runs["sgd"])
    print("| variant | images/s | throughput vs SGD | step time vs SGD | peak RSS MB | training RSS MB | vs SGD |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for v in variants:
        ips = max(x["images_per_s"] for x in runs[v])
        peak = statistics.median(x["peak_rss_mb"] for x in runs[v])
        mem = statistics.median(x["training_rss_mb"] for x in runs[v])
        print(
            f"| {v} | {ips:.0f} | {ips / sgd_ips:.3f} | {sgd_ips / ips:.2f}x | {peak:.0f} | {mem:.0f} | {mem - sgd_mem:+.0f} |"
        )


if __name__ == "__main__":
    main()
