"""kedro-viz on loopback over a project with outputs: every registered pipeline, readable node names and tags,
plotly previews, and the page rendered by headless Chromium."""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from tests.browser import distinct_colours, render, require_browser
from tests.conftest import REPO

pytestmark = pytest.mark.slow


def _free_port() -> int:
    """A free port below 49152: kedro-viz refuses to serve from the ephemeral range the OS hands out."""
    for port in random.Random().sample(range(20000, 40000), 200):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port in 20000-40000")


def _get(url: str):
    with urllib.request.urlopen(url, timeout=10) as r:
        return json.loads(r.read())


@pytest.fixture(scope="module")
def viz(full_report):
    """``kedro viz run`` in its own process group (its server child outlives the kedro process otherwise)."""
    port = _free_port()
    log = open(full_report / "viz.log", "w")
    env = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "true"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "kedro", "viz", "run", "--no-browser", "--host", "127.0.0.1", "--port", str(port)],
        cwd=full_report,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 150
        while True:
            try:
                main = _get(f"{base}/api/main")
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(
                        f"kedro viz did not serve: {(full_report / 'viz.log').read_text()[-3000:]}"
                    ) from None
                time.sleep(0.5)
        yield base, main
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()
        deadline = time.monotonic() + 20  # the server child exits a moment after the group is signalled
        while True:
            try:
                urllib.request.urlopen(f"{base}/api/main", timeout=2).close()
            except OSError:
                break  # the whole group is gone: nothing serves the port any more
            if time.monotonic() > deadline:
                pytest.fail(f"kedro viz still serves {base} after its process group was stopped")
            time.sleep(0.5)


def registered_pipelines() -> set[str]:
    """What ``find_pipelines`` registers: every package under pipelines/ with a pipeline.py, and ``__default__``."""
    root = REPO / "src" / "samlab" / "pipelines"
    return {p.name for p in root.iterdir() if (p / "pipeline.py").exists()} | {"__default__"}


def test_api_lists_every_pipeline_with_readable_nodes_tags_and_previews(viz):
    base, main = viz
    assert {p["id"] for p in main["pipelines"]} == registered_pipelines()
    tasks = {n["name"] for n in main["nodes"] if n["type"] == "task"}
    assert {
        "prepare_data",
        "train_model",
        "evaluate_model",
        "plot_learning_curves",
        "summarise_metrics",
        "plot_robustness",
        "plot_correlation",
        "plot_obf",
        "build_report",
    } <= tasks
    assert {"sam", "sgd"} <= {n["name"] for n in main["nodes"] if n["type"] == "modularPipeline"}
    assert {"data", "training", "evaluation", "reporting", "figure", "report"} <= {t["id"] for t in main["tags"]}
    figures = {n["name"]: n for n in main["nodes"] if n.get("dataset_type") == "plotly.json_dataset.JSONDataset"}
    assert {"learning_curves", "accuracy_bars", "robustness_heatmap"} <= set(figures)
    assert all(f["layer"] == "reporting" for f in figures.values())
    preview = _get(f"{base}/api/nodes/{figures['learning_curves']['id']}")["preview"]
    assert {"sam val", "sgd val"} <= {t["name"] for t in preview["data"]}


def test_page_renders_in_chromium(viz, tmp_path):
    require_browser()
    base, main = viz
    shot = tmp_path / "viz.png"
    out = render(
        f"{base}/", shot, "return document.querySelectorAll('.pipeline-node').length;", wait_for=".pipeline-node"
    )
    assert out.console_errors == [] and out.page_errors == [], (out.console_errors, out.page_errors)
    assert all("fonts.googleapis.com" in u for u in out.outside_requests), out.outside_requests  # web font only
    drawn = sum(1 for n in main["nodes"] if "__default__" in n["pipelines"] and n["type"] != "modularPipeline")
    assert out.facts >= 10 and out.facts <= drawn
    assert distinct_colours(shot) > 100
