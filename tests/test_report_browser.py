"""report.html in a real browser: benchmarks/report_browser_check.py on a toy report.

Needs Chromium (Debian: ``apt-get install chromium``); skipped, with the reason, without it.
"""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from scotm.cli import main
from scotm.datasets import toy

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "report_browser_check.py"


def _load_script():
    spec = importlib.util.spec_from_file_location("report_browser_check", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


check = _load_script()
needs_chromium = pytest.mark.skipif(
    check.find_chromium() is None,
    reason="Chromium is not installed (Debian: apt-get install chromium); "
    "the browser check of report.html needs it",
)


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("browser")
    toy(n_cells=300, n_genes=60).write_h5ad(tmp / "toy.h5ad")
    argv = ["-q", "benchmark", "--data", str(tmp / "toy.h5ad"), "--methods", "identity,mean_shift"]
    assert main([*argv, "--out", str(tmp / "bench")]) == 0
    return tmp / "bench" / "report.html"


def run_check(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args, "--json", "--timeout", "90"],
        capture_output=True,
        text=True,
        timeout=300,
    )


@needs_chromium
def test_report_renders_in_headless_chromium(report, tmp_path):
    shot = tmp_path / "shot.png"
    done = run_check(str(report), "--screenshot", str(shot))
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    # 3 bar charts + 3 figures for each of the 3 folds, every one decoded by the browser
    assert len(result["images"]) == 3 + 3 * 3
    assert all(img["loaded"] and img["natural"][0] > 300 for img in result["images"])
    # shown at the figure's size in inches (96 CSS px an inch), not blown up to its pixels
    for img in result["images"]:
        assert img["shown"][0] == pytest.approx(img["natural"][0] * 96 / 150, abs=2)
    headers = [t["headers"] for t in result["tables"]]
    assert any({"method", "r2_mean_deg", "edist"} <= set(h) for h in headers)
    assert result["scroll_width"] <= result["window_width"] == 1280
    assert result["problems"] == []
    # the screenshot: a PNG of the whole page at the window's width
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    import matplotlib.image as mpimg

    height, width = mpimg.imread(shot).shape[:2]
    assert width == 1280 and height == min(result["scroll_height"], check.MAX_SCREENSHOT_HEIGHT)
    assert height > 1500


@needs_chromium
def test_a_broken_image_fails_the_check(report, tmp_path):
    page = report.read_text(encoding="utf-8")
    first = re.search(r"base64,([A-Za-z0-9+/=]{200})", page)
    broken = page.replace(first.group(1), "A" * 200, 1)  # the PNG's header is gone
    (tmp_path / "report.html").write_text(broken, encoding="utf-8")
    done = run_check(str(tmp_path / "report.html"))
    assert done.returncode == 1
    result = json.loads(done.stdout)
    assert sum(not img["loaded"] for img in result["images"]) == 1
    assert any("did not load" in p for p in result["problems"])
    assert "FAIL: image 1" in done.stderr


@needs_chromium
def test_a_page_without_the_metrics_table_fails(report, tmp_path):
    page = re.sub(r"<table>.*?</table>", "", report.read_text(encoding="utf-8"), flags=re.S)
    (tmp_path / "report.html").write_text(page, encoding="utf-8")
    problems = check.check_report(tmp_path / "report.html", timeout=90)["problems"]
    assert problems == ["no metrics table (a table headed 'method' and the metric names)"]


def test_problems_flags_layout():
    img = {"alt": "x", "loaded": True, "natural": [600, 400], "shown": [900, 600], "right": 1400}
    result = {
        "images": [img],
        "tables": [{"headers": ["method", "edist"], "rows": 2}],
        "window_width": 1280,
        "page_width": 1280,
        "scroll_width": 1500,
    }
    found = check.problems(result)
    assert len(found) == 3
    assert any("blown up" in p for p in found) and any("sideways" in p for p in found)
    assert any("right edge" in p for p in found)
