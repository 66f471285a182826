"""The HTML report of a real (tiny) run: self-contained, and rendered by headless Chromium without errors."""

import json
import re

import pandas as pd
import plotly.io as pio
import pytest

from tests.browser import distinct_colours, render, require_browser
from tests.reporting.conftest import MISSING_TABLE


# the page's figures as the browser drew them: plotly root per figure, its SVG size and drawn marks
FIGURE_FACTS = """
  const figs = [...document.querySelectorAll('.js-plotly-plot')].map(el => {
    const svg = el.querySelector('svg.main-svg'); const r = svg ? svg.getBoundingClientRect() : {width: 0, height: 0};
    return {id: el.id, width: r.width, height: r.height,
            marks: el.querySelectorAll('g.trace path, g.trace .point, g.hm image, .heatmaplayer image').length};
  });
  return {figs, nothingYet: document.querySelectorAll('p.nothing-yet').length,
          bold: document.querySelectorAll('table.summary td.best b').length,
          scripts: [...document.scripts].filter(s => s.src).map(s => s.src)};
"""


def _check_rendered(path, screenshot):
    out = render(path.as_uri(), screenshot, FIGURE_FACTS, wait_for=".js-plotly-plot .main-svg")
    assert out.console_errors == [] and out.page_errors == [], (out.console_errors, out.page_errors)
    assert out.outside_requests == [] and out.facts["scripts"] == []  # plotly.js inline: works offline
    for fig in out.facts["figs"]:
        assert fig["width"] > 300 and fig["height"] > 150 and fig["marks"] > 0, fig
    assert screenshot.stat().st_size > 20_000 and distinct_colours(screenshot) > 200
    return out.facts


@pytest.mark.slow
def test_default_report_has_summary_curves_and_says_what_is_missing(default_run):
    out = default_run / "data" / "08_reporting"
    html = (out / "report.html").read_text()
    assert html.count("<script") == 1 + 7 and not re.search(r"<script[^>]*\bsrc=", html)  # plotly.js inline once
    assert (
        "7 of 12 figures have data" in html and "No OBF sweep yet" in html
    )  # + update curves, robustness (2), Lorenz, LR scaling
    assert re.search(r"<td>sam</td><td>sam</td>", html) and "name: samlab_cnn" in html  # summary + config
    fig = pio.from_json((out / "learning_curves.json").read_text())
    assert {"sgd val", "sam val", "sam rho"} <= {t.name for t in fig.data}
    updates = pio.from_json((out / "figures" / "update_curves.json").read_text())  # DVCLive's per-update files
    assert {"sgd", "sam"} <= {t.legendgroup or t.name for t in updates.data}, [t.name for t in updates.data]
    summary = pd.read_csv(out / "summary.csv")
    best = summary["test_accuracy"].idxmax()
    md = (out / "summary.md").read_text()
    assert f"**{summary['test_accuracy'][best]:.4f}**" in md
    metrics = json.loads((default_run / "data" / "07_model_output" / "sam" / "metrics.json").read_text())
    assert summary.set_index("variant").loc["sam", "test_accuracy"] == pytest.approx(metrics["test_accuracy"])


@pytest.mark.slow
def test_full_report_draws_every_declared_table(full_report):
    html = (full_report / "data" / "08_reporting" / "report.html").read_text()
    assert "11 of 12 figures have data" in html
    assert f"{MISSING_TABLE}" not in html or "No OBF sweep yet" in html  # declared, no file: it says so
    assert "No OBF sweep yet: run `kedro run --pipelines study`." in html
    summary = pd.read_csv(full_report / "data" / "08_reporting" / "summary.csv")
    assert {"corrupted_accuracy", "dominoes_hard accuracy", "digits_parity finetune accuracy", "mce"} <= set(summary)
    heat = pio.from_json((full_report / "data" / "08_reporting" / "figures" / "robustness_heatmap.json").read_text())
    assert list(heat.data[0].x) == ["gaussian_noise", "defocus_blur", "contrast", "mean"]


@pytest.mark.slow
def test_default_report_renders_in_chromium(default_run, tmp_path):
    require_browser()
    facts = _check_rendered(default_run / "data" / "08_reporting" / "report.html", tmp_path / "default.png")
    assert len(facts["figs"]) == 7 and facts["nothingYet"] == 5 and facts["bold"] >= 2


@pytest.mark.slow
def test_full_report_renders_in_chromium(full_report, tmp_path):
    require_browser()
    facts = _check_rendered(full_report / "data" / "08_reporting" / "report.html", tmp_path / "full.png")
    assert len(facts["figs"]) == 11 and facts["nothingYet"] == 1


def test_without_chromium_browser_tests_skip_with_the_reason(monkeypatch):
    import tests.browser as browser

    monkeypatch.delenv("SAMLAB_CHROMIUM", raising=False)
    monkeypatch.setattr(browser.shutil, "which", lambda name: None)
    with pytest.raises(pytest.skip.Exception, match="no Chromium: `make test` installs Debian's chromium"):
        browser.require_browser()
