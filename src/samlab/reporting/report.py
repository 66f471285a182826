"""The self-contained HTML report: the run's configuration, the summary table and every figure.

plotly.js is inlined once in the page head, so the file opens offline, attached to a mail or from DVC.
"""

from __future__ import annotations

import datetime as dt
import html
from collections.abc import Mapping
from typing import Any

import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio
import yaml
from plotly.offline import get_plotlyjs

from samlab.reporting.common import is_nothing_yet
from samlab.reporting.tables import html_table

_STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;max-width:1200px;color:#222;padding:0 1rem}
h1{margin-bottom:.2rem} .meta{color:#666;margin-top:0} section{margin:2rem 0}
table.summary{border-collapse:collapse;font-size:.9rem} table.summary th,table.summary td{border:1px solid #ddd;padding:.3rem .6rem;text-align:right}
table.summary th{background:#f4f4f4} table.summary td:first-child,table.summary th:first-child{text-align:left}
td.best{background:#e8f5e9} p.nothing-yet{color:#8a6d3b;background:#fcf8e3;border:1px solid #faebcc;padding:.6rem 1rem;border-radius:4px}
pre.config{background:#f7f7f7;padding:1rem;overflow:auto;max-height:30rem;font-size:.8rem} nav a{margin-right:1rem}
.figure{margin:1rem 0 2rem}
"""


def report_html(
    figures: Mapping[str, go.Figure],
    summary: pd.DataFrame | None,
    parameters: Mapping[str, Any],
    title: str = "samlab report",
) -> str:
    """One HTML page: configuration (collapsed YAML of the run's parameters), the summary table with the best
    value per metric bolded, then ``figures`` in order — a :func:`~samlab.reporting.common.nothing_yet`
    figure becomes its sentence, not an empty chart."""
    now = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    drawn = {k: f for k, f in figures.items() if not is_nothing_yet(f)}
    parts = [
        f"<h1>{html.escape(title)}</h1>",
        f'<p class="meta">generated {now} · {len(drawn)} of {len(figures)} figures have data</p>',
        "<nav>" + "".join(f'<a href="#{k}">{html.escape(_title(f, k))}</a>' for k, f in drawn.items()) + "</nav>",
        '<section id="summary"><h2>Summary</h2>',
    ]
    if summary is not None and len(summary):
        parts.append(
            html_table(summary) + '<p class="meta">best value per metric in bold '
            "(lowest for losses, ECE, errors and mCE; highest otherwise)</p>"
        )
    else:
        parts.append(
            '<p class="nothing-yet">No trained model to summarise yet: run `kedro run --pipelines training`.</p>'
        )
    parts.append('</section><section id="figures"><h2>Figures</h2>')
    for key, fig in figures.items():
        reason = is_nothing_yet(fig)
        if reason:
            parts.append(
                f'<div class="figure" id="{key}"><h3>{html.escape(_title(fig, key))}</h3>'
                f'<p class="nothing-yet">{html.escape(reason)}</p></div>'
            )
        else:
            div = pio.to_html(
                fig,
                full_html=False,
                include_plotlyjs=False,
                div_id=f"fig-{key}",
                config={"displaylogo": False, "responsive": True},
            )
            parts.append(f'<div class="figure" id="{key}">{div}</div>')
    parts.append("</section>")
    config = yaml.safe_dump(_plain(dict(parameters)), sort_keys=False, default_flow_style=False)
    parts.append(
        '<section id="configuration"><h2>Configuration</h2><details><summary>parameters of this run '
        f'(conf/base + overrides)</summary><pre class="config">{html.escape(config)}</pre></details></section>'
    )
    return (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        f'<meta name="viewport" content="width=device-width,initial-scale=1"><style>{_STYLE}</style>'
        f'<script type="text/javascript">{get_plotlyjs()}</script></head><body>{"".join(parts)}</body></html>\n'
    )


def _title(fig: go.Figure, key: str) -> str:
    text = fig.layout.title.text
    return text if text else key.replace("_", " ")


def _plain(value: Any) -> Any:
    """Parameters as YAML-safe plain values (OmegaConf containers, numpy scalars)."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, str | bytes):
        return value.item()
    return value
