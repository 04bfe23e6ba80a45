"""A benchmark's results as one self-contained HTML page: ``report.html``.

The page holds the metrics table (per fold and the mean over folds), per-fold bar charts, and
for each fold one method's figures (mean regression, embedding, DEG violins and, for the model,
where its shift came from), plus the settings, a data summary and the run time. Images are
embedded as base64 PNG and the CSS is inline: the file can be mailed or archived alone.

Figures are rendered while the benchmark runs, by a :class:`FigureCollector` passed as
``run_benchmark(on_prediction=...)``; only the PNGs are kept, never the predicted cells::

    collector = FigureCollector(report_method(methods))
    table = run_benchmark(adata, methods, out_dir="results", on_prediction=collector)
    write_report("results", table, collector.folds, runtime_s=...)
"""

from __future__ import annotations

import base64
import binascii
import datetime as _dt
import html
import io
import logging
import math
import os
import struct
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._io import atomic_path

if TYPE_CHECKING:  # pragma: no cover
    import anndata as ad
    import pandas as pd
    from matplotlib.figure import Figure

    from .benchmark import Fold

logger = logging.getLogger(__name__)

REPORT_FILE = "report.html"
#: Resolution of the embedded images: sharp on high-density screens, ~100 kB an image.
REPORT_DPI = 150
#: Metrics drawn as per-fold bar charts, when present.
BAR_METRICS = ("r2_mean_deg", "delta_r_deg", "edist")
#: Metrics where lower is better (the others: higher is better).
LOWER_IS_BETTER = frozenset({"edist", "centroid_rank"})


@dataclass
class FoldFigures:
    """One fold's rendered figures: captions to base64-encoded PNGs, and any notes."""

    holdout: str
    method: str
    images: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def figure_png_base64(fig: Figure, dpi: int = REPORT_DPI) -> str:
    """``fig`` as a base64-encoded PNG (ASCII), for a ``data:image/png;base64,`` URI."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight", facecolor="white")
    return base64.b64encode(buf.getvalue()).decode("ascii")


def render_fold(
    ctrl: ad.AnnData,
    real: ad.AnnData,
    pred: ad.AnnData,
    *,
    holdout: str,
    method: str,
    degs: Sequence[str] | None = None,
    dpi: int = REPORT_DPI,
) -> FoldFigures:
    """Render one fold's report figures (see :mod:`scotm.pl`) to PNG.

    Parameters
    ----------
    ctrl, real, pred
        The held-out type's control, real perturbed and predicted cells (log-normalised).
    holdout, method
        The held-out cell type and the method that predicted ``pred``, for the captions.
    degs
        The fold's top DEGs (from :func:`scotm.metrics.top_degs`); computed if omitted.
    dpi
        Resolution of the PNGs.

    Returns
    -------
    The captions and base64 PNGs; ``shift_sources`` only when ``pred`` came from SCOTM.
    """
    from . import metrics, pl

    if degs is None:
        degs = metrics.top_degs(ctrl, real)
    degs = list(degs)
    out = FoldFigures(holdout=holdout, method=method)
    plots = {
        "predicted vs real mean expression": lambda: pl.mean_regression(ctrl, real, pred, degs),
        "control, real and predicted cells (PCA)": lambda: pl.embedding(ctrl, real, pred),
        "top DEGs": lambda: pl.deg_violins(ctrl, real, pred, genes=degs[:8]),
    }
    if (pred.uns.get("scotm") or {}).get("shift_sources"):
        plots["sources of the predicted shift"] = lambda: pl.shift_sources(pred)
    for caption, draw in plots.items():
        out.images[caption] = figure_png_base64(draw(), dpi)
    return out


def report_method(methods: Sequence[str]) -> str:
    """The method whose per-fold figures the report shows: ``scotm``, else the first."""
    if not methods:
        raise ValueError("no methods")
    return "scotm" if "scotm" in methods else str(methods[0])


class FigureCollector:
    """A ``run_benchmark(on_prediction=...)`` callback keeping one method's figures per fold.

    It renders the figures of :func:`render_fold` as each of ``method``'s predictions comes in
    and keeps only the PNGs (in :attr:`folds`), so memory does not grow with the cells. A
    figure that cannot be drawn is logged and noted in the report; it never stops a benchmark.

    Parameters
    ----------
    method
        The method to keep figures of (see :func:`report_method`).
    dpi
        Resolution of the PNGs.
    """

    def __init__(self, method: str, dpi: int = REPORT_DPI) -> None:
        self.method = method
        self.dpi = dpi
        self.folds: list[FoldFigures] = []
        #: Seconds spent rendering figures: the report's cost inside a benchmark.
        self.seconds = 0.0

    def __call__(
        self, fold: Fold, method: str, pred: ad.AnnData, degs: Sequence[str] | None = None
    ) -> None:
        if method != self.method:
            return
        t0 = time.perf_counter()
        logger.info("  report: drawing the figures of %s / %s", fold.holdout, method)
        try:
            figs = render_fold(
                fold.ctrl,
                fold.real,
                pred,
                holdout=fold.holdout,
                method=method,
                degs=degs,
                dpi=self.dpi,
            )
        except Exception as exc:  # a plot must never cost the user a finished benchmark
            logger.warning("report: no figures for %s / %s (%s)", fold.holdout, method, exc)
            figs = FoldFigures(fold.holdout, method, notes=[f"figures failed: {exc}"])
        self.folds.append(figs)
        self.seconds += time.perf_counter() - t0


# --------------------------------------------------------------------------- HTML

_CSS = """
body { font: 14px/1.45 -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; color: #222;
       max-width: 1200px; margin: 2em auto; padding: 0 1.5em; }
h1 { font-size: 1.6em; margin-bottom: .2em; } h2 { font-size: 1.25em; margin-top: 2em;
     border-bottom: 1px solid #ddd; padding-bottom: .2em; } h3 { font-size: 1.05em; }
.meta { color: #666; font-size: .9em; }
table { border-collapse: collapse; margin: .6em 0 1.2em; font-size: .88em; }
th, td { padding: .25em .7em; border-bottom: 1px solid #e5e5e5; text-align: right; }
th { background: #f5f5f5; font-weight: 600; } td.l, th.l { text-align: left; }
td.best { font-weight: 700; color: #0b5394; }
.figs { display: flex; flex-wrap: wrap; gap: 1em; align-items: flex-start; }
figure { margin: 0; } figure img { max-width: 100%; height: auto; display: block; }
figcaption { font-size: .85em; color: #555; text-align: center; }
.note { color: #a33; } dl { display: grid; grid-template-columns: max-content auto;
        gap: .15em 1.2em; } dt { font-weight: 600; } dd { margin: 0; }
"""


def _esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _num(value: Any, col: str) -> str:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return _esc(value)
    if math.isnan(v):
        return "–"
    if col.endswith("_s"):  # seconds
        return f"{v:.2f}" if v < 10 else f"{v:.0f}"
    return f"{v:.3f}"


def _metrics_table(
    frame: pd.DataFrame, label_cols: Sequence[str], best_within: str | list[str] | None
) -> str:
    """An HTML table; in each metric column the best value (per ``best_within`` group) bold."""
    import numpy as np

    from . import metrics
    from .benchmark import EXTRA_METRICS

    metric_cols = [c for c in (*metrics.METRICS, *EXTRA_METRICS) if c in frame]
    cols = list(label_cols) + metric_cols + [c for c in ("fit_s", "predict_s") if c in frame]
    best = {}
    if best_within is not None or len(frame) > 1:
        groups = frame.groupby(best_within, sort=False) if best_within else [(None, frame)]
        for _, g in groups:
            for c in metric_cols:
                v = g[c].astype(float)
                if len(g) < 2 or v.isna().all():
                    continue
                target = v.min() if c in LOWER_IS_BETTER else v.max()
                for i in g.index[np.isclose(v, target)]:
                    best[(i, c)] = True
    head = "".join(
        f'<th class="l">{_esc(c)}</th>' if c in label_cols else f"<th>{_esc(c)}</th>" for c in cols
    )
    rows = []
    for i, row in frame.iterrows():
        cells = []
        for c in cols:
            if c in label_cols:
                cells.append(f'<td class="l">{_esc(row[c])}</td>')
            else:
                cls = ' class="best"' if best.get((i, c)) else ""
                cells.append(f"<td{cls}>{_num(row[c], c)}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _dl(items: Mapping[str, Any]) -> str:
    parts = []
    for k, v in items.items():
        if hasattr(v, "to_html"):  # a DataFrame: its own small table
            value = v.to_html(border=0, na_rep="–", classes="data")
        elif isinstance(v, Mapping):
            value = ", ".join(f"{_esc(a)}={_esc(b)}" for a, b in v.items())
        elif isinstance(v, list | tuple):
            value = _esc(", ".join(map(str, v)))
        else:
            value = _esc(v)
        parts.append(f"<dt>{_esc(k)}</dt><dd>{value}</dd>")
    return "<dl>" + "".join(parts) + "</dl>"


#: CSS pixels per inch: a figure is shown at its size in inches, whatever its PNG resolution.
CSS_DPI = 96


def png_display_size(png: bytes, dpi: float = REPORT_DPI) -> tuple[int, int]:
    """The CSS size (width, height) at which to show a PNG: its size in inches at 96 px/inch.

    The resolution is read from the PNG's ``pHYs`` chunk (matplotlib writes it), else ``dpi``
    is assumed. A 4-inch figure rendered at 150 dpi (600 pixels) is shown 384 CSS pixels wide:
    as large as it was drawn, beside its neighbours, and sharp on high-density screens.
    """
    if png[:8] != b"\x89PNG\r\n\x1a\n" or png[12:16] != b"IHDR":
        raise ValueError("not a PNG image")
    width, height = struct.unpack(">II", png[16:24])
    pos = 8
    while pos + 8 <= len(png):
        (length,) = struct.unpack(">I", png[pos : pos + 4])
        kind = png[pos + 4 : pos + 8]
        if kind == b"pHYs" and length == 9:
            per_x, _, unit = struct.unpack(">IIB", png[pos + 8 : pos + 17])
            if unit == 1 and per_x > 0:  # pixels per metre
                dpi = per_x * 0.0254
            break
        if kind in (b"IDAT", b"IEND"):  # pHYs must come before the image data
            break
        pos += 12 + length
    scale = CSS_DPI / dpi
    return max(1, round(width * scale)), max(1, round(height * scale))


def _img(b64: str, caption: str) -> str:
    try:
        # the header chunks sit in the first bytes: decode 3 kB, not the whole image
        w, h = png_display_size(base64.b64decode(b64[:4096]))
        size = f' width="{w}" height="{h}"'
    except (ValueError, struct.error, binascii.Error):  # not a PNG we can read: natural size
        size = ""
    return (
        f'<figure><img alt="{_esc(caption)}"{size} src="data:image/png;base64,{b64}">'
        f"<figcaption>{_esc(caption)}</figcaption></figure>"
    )


def _duration(seconds: float) -> str:
    seconds = float(seconds)
    if seconds < 120:
        return f"{seconds:.1f} s"
    minutes, sec = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min {sec:02d} s"


def build_report(
    table: pd.DataFrame,
    folds: Iterable[FoldFigures] = (),
    *,
    settings: Mapping[str, Any] | None = None,
    data_summary: Mapping[str, Any] | None = None,
    runtime_s: float | None = None,
    title: str = "scotm benchmark report",
    dpi: int = REPORT_DPI,
) -> str:
    """The report as an HTML string; see :func:`write_report`."""
    from scotm.benchmark import summary, summary_by_perturbation

    from . import __version__, pl

    now = _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    meta = f"scotm {_esc(__version__)} · {now}"
    if runtime_s is not None:
        meta += f" · run time {_esc(_duration(runtime_s))}"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_esc(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{_esc(title)}</h1>",
        f'<p class="meta">{meta}</p>',
    ]
    methods = list(dict.fromkeys(table["method"].astype(str))) if len(table) else []
    folds_in_table = list(dict.fromkeys(table["holdout"].astype(str))) if len(table) else []
    many = "perturbation" in table
    parts.append("<h2>Metrics</h2>")
    if len(table):
        what = f" × {table['perturbation'].nunique()} perturbation(s)" if many else ""
        parts.append(
            f"<p>{len(folds_in_table)} held-out cell type(s){what} × {len(methods)} method(s), "
            "scored with <code>scotm.metrics.evaluate</code>. Higher is better except for "
            "<code>edist</code> and <code>centroid_rank</code>; the best value of each column "
            "is in bold (per fold, and among the means).</p>"
        )
        if len(folds_in_table) > 1 or many:
            label = "Mean over (fold, perturbation) rows" if many else "Mean over folds"
            parts.append(f"<h3>{label}</h3>")
            parts.append(_metrics_table(summary(table).reset_index(), ["method"], None))
        if many:
            parts.append("<h3>Mean over folds per perturbation</h3>")
            per_pert = summary_by_perturbation(table).reset_index()
            parts.append(_metrics_table(per_pert, ["perturbation", "method"], "perturbation"))
            parts.append("<h3>Per fold and perturbation</h3>")
            labels = ["holdout", "perturbation", "method"]
            parts.append(_metrics_table(table.reset_index(drop=True), labels, labels[:2]))
        else:
            if len(folds_in_table) > 1:
                parts.append("<h3>Per fold</h3>")
            frame = table.reset_index(drop=True)
            parts.append(_metrics_table(frame, ["holdout", "method"], "holdout"))
        bars = table
        if many:  # one bar per (fold, method): the mean over its perturbations
            cols = [c for c in BAR_METRICS if c in table]
            bars = table.groupby(["holdout", "method"], sort=False)[cols].mean().reset_index()
        images = []
        for metric in BAR_METRICS:
            if metric in bars and bars[metric].notna().any():
                fig = pl.fold_bars(bars, metric)
                images.append(_img(figure_png_base64(fig, dpi), pl.METRIC_LABELS[metric]))
        if images:
            parts.append('<div class="figs">' + "".join(images) + "</div>")
    else:
        parts.append("<p>No results.</p>")
    fold_parts = []
    for f in folds:
        fold_parts.append(f"<h3>{_esc(f.holdout)} <small>({_esc(f.method)})</small></h3>")
        fold_parts += [f'<p class="note">{_esc(n)}</p>' for n in f.notes]
        if f.images:
            imgs = "".join(_img(b64, cap) for cap, b64 in f.images.items())
            fold_parts.append(f'<div class="figs">{imgs}</div>')
    if fold_parts:
        parts.append(f"<h2>Predictions per held-out cell type{' and perturbation' * many}</h2>")
        parts += fold_parts
    if data_summary:
        parts += ["<h2>Data</h2>", _dl(data_summary)]
    if settings:
        parts += ["<h2>Settings</h2>", _dl(settings)]
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def write_report(
    out_dir: str | os.PathLike,
    table: pd.DataFrame,
    folds: Iterable[FoldFigures] = (),
    *,
    settings: Mapping[str, Any] | None = None,
    data_summary: Mapping[str, Any] | None = None,
    runtime_s: float | None = None,
    title: str = "scotm benchmark report",
    filename: str = REPORT_FILE,
) -> Path:
    """Write ``<out_dir>/report.html``, one self-contained page, atomically.

    Parameters
    ----------
    out_dir
        Output directory (created if needed).
    table
        The benchmark table of :func:`scotm.benchmark.run_benchmark` (or ``metrics.csv``).
    folds
        Per-fold figures, e.g. :attr:`FigureCollector.folds`, or :func:`render_fold` results.
    settings
        What was run (methods, keys, model settings, ...), shown as a list.
    data_summary
        The data (cells, genes, cell types, ...), shown as a list; a DataFrame value is shown
        as a table.
    runtime_s
        Run time of the benchmark, in seconds.
    title
        Page title.
    filename
        File name inside ``out_dir``.

    Returns
    -------
    The path of the report.

    Examples
    --------
    >>> collector = FigureCollector("pca_ot")  # doctest: +SKIP
    >>> table = run_benchmark(adata, ["identity", "pca_ot"], on_prediction=collector)  # doctest: +SKIP
    >>> write_report("results", table, collector.folds)  # doctest: +SKIP
    """
    page = build_report(
        table,
        folds,
        settings=settings,
        data_summary=data_summary,
        runtime_s=runtime_s,
        title=title,
    )
    path = Path(out_dir) / filename
    with atomic_path(path) as tmp:
        tmp.write_text(page, encoding="utf-8")
    return path
