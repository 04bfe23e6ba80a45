"""Open a scotm ``report.html`` in headless Chromium and check that it renders.

Usage::

    python benchmarks/report_browser_check.py scotm_out/run/report.html --screenshot shot.png

It uses the system's Chromium (Debian: ``apt-get install chromium``) and needs no Python
package and no downloaded browser build. Two headless runs:

1. ``--dump-dom`` on a temporary copy of the page with a small probe script added. On the
   window's ``load`` event (every image decoded or failed) the probe writes what the browser
   sees into the DOM, which Chromium then prints:

   - every ``<img>``: loaded (``complete && naturalWidth > 0``), its natural and shown size;
   - the metrics table: a ``<table>`` whose header has ``method`` and the metric names;
   - the layout: no horizontal scrolling at the window width, no image shown wider than the
     page, no image blown up beyond its natural size.

2. ``--screenshot`` of the unchanged page, full height, at the same width.

Exit code 0 when every check passes, 1 when one fails (each problem on its own line), 2 when
no Chromium is found or it cannot run. ``--json`` prints the full result as JSON.
"""

from __future__ import annotations

import argparse
import html
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

#: Executable names tried in order (``--chromium`` or ``$CHROMIUM`` override them).
CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
#: Metric columns of ``scotm.metrics.METRICS`` that mark the metrics table.
METRICS = ("r2_mean_all", "r2_mean_deg", "delta_r_deg", "edist")
PROBE_ID = "scotm-browser-check"
#: Tallest screenshot taken (pixels); a longer page is cut there.
MAX_SCREENSHOT_HEIGHT = 16000

PROBE = """
<script>
window.addEventListener("load", function () {
  var doc = document.documentElement;
  var pageWidth = doc.clientWidth;
  var images = Array.prototype.map.call(document.images, function (img) {
    var box = img.getBoundingClientRect();
    return {alt: img.alt, loaded: img.complete && img.naturalWidth > 0,
            natural: [img.naturalWidth, img.naturalHeight],
            shown: [Math.round(box.width), Math.round(box.height)],
            right: Math.round(box.right)};
  });
  var tables = Array.prototype.map.call(document.querySelectorAll("table"), function (t) {
    return {headers: Array.prototype.map.call(t.querySelectorAll("thead th"),
                                              function (th) { return th.textContent.trim(); }),
            rows: t.querySelectorAll("tbody tr").length};
  });
  var out = {title: document.title, images: images, tables: tables,
             window_width: window.innerWidth, page_width: pageWidth,
             scroll_width: doc.scrollWidth, scroll_height: doc.scrollHeight};
  var pre = document.createElement("pre");
  pre.id = "PROBE_ID";
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
});
</script>
""".replace("PROBE_ID", PROBE_ID)


def find_chromium(explicit: str | None = None) -> str | None:
    """The Chromium executable: ``explicit``, ``$CHROMIUM``, or the first of CANDIDATES."""
    for name in (explicit, os.environ.get("CHROMIUM"), *CANDIDATES):
        if name:
            path = shutil.which(name)
            if path:
                return path
    return None


def _run_chromium(chromium: str, args: list[str], timeout: float) -> str:
    """Run headless Chromium with a throw-away profile; its stdout, or RuntimeError."""
    with tempfile.TemporaryDirectory(prefix="scotm-chromium-") as profile:
        cmd = [
            chromium,
            "--headless",
            "--disable-gpu",
            "--hide-scrollbars",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-extensions",
            "--mute-audio",
            f"--user-data-dir={profile}",
            *args,
        ]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            cmd.insert(2, "--no-sandbox")  # Chromium refuses to run as root with its sandbox
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired as exc:
            raise RuntimeError(f"chromium did not finish within {timeout:.0f} s") from exc
    if done.returncode != 0:
        tail = "\n".join(done.stderr.strip().splitlines()[-5:])
        raise RuntimeError(f"chromium exited with {done.returncode}:\n{tail}")
    return done.stdout


def probe(report: Path, chromium: str, width: int, height: int, timeout: float) -> dict:
    """What the browser sees once ``report`` has loaded (see the module docstring)."""
    page = report.read_text(encoding="utf-8")
    if "</body>" not in page:
        raise RuntimeError(f"{report} has no </body>: not a complete HTML page")
    with tempfile.TemporaryDirectory(prefix="scotm-probe-") as tmp:
        copy = Path(tmp) / "probe.html"
        head, sep, tail = page.rpartition("</body>")
        copy.write_text(head + PROBE + sep + tail, encoding="utf-8")
        dom = _run_chromium(
            chromium,
            [f"--window-size={width},{height}", "--dump-dom", copy.resolve().as_uri()],
            timeout,
        )
    found = re.search(rf'<pre id="{PROBE_ID}">(.*?)</pre>', dom, re.S)
    if not found:
        raise RuntimeError("the page's load event never fired: something on it did not load")
    return json.loads(html.unescape(found.group(1)))


def screenshot(
    report: Path, out: Path, chromium: str, width: int, height: int, timeout: float
) -> Path:
    """A PNG of ``report`` rendered ``width`` x ``height`` CSS pixels."""
    out = out.resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    _run_chromium(
        chromium,
        [f"--window-size={width},{height}", f"--screenshot={out}", report.resolve().as_uri()],
        timeout,
    )
    if not out.exists() or out.read_bytes()[:8] != b"\x89PNG\r\n\x1a\n":
        raise RuntimeError(f"chromium wrote no PNG screenshot to {out}")
    return out


def problems(result: dict) -> list[str]:
    """Every way the probed page falls short; empty when it renders as it should."""
    out = []
    images = result["images"]
    if not images:
        out.append("the page has no images")
    for i, img in enumerate(images, 1):
        name = f"image {i} ({img['alt'] or 'no alt text'})"
        if not img["loaded"]:
            out.append(f"{name} did not load")
            continue
        if img["right"] > result["page_width"] + 1:
            out.append(f"{name} reaches past the page's right edge ({img['right']} px)")
        if img["shown"][0] > img["natural"][0] + 1:
            out.append(
                f"{name} is blown up: shown {img['shown'][0]} px wide, drawn {img['natural'][0]}"
            )
        if img["shown"][0] < 100 or img["shown"][1] < 60:
            out.append(f"{name} is shown too small ({img['shown'][0]} x {img['shown'][1]} px)")
    metric_tables = [
        t for t in result["tables"] if "method" in t["headers"] and set(METRICS) & set(t["headers"])
    ]
    if not metric_tables:
        out.append("no metrics table (a table headed 'method' and the metric names)")
    elif not any(t["rows"] for t in metric_tables):
        out.append("the metrics table has no rows")
    if result["scroll_width"] > result["window_width"]:
        out.append(
            f"the page scrolls sideways: {result['scroll_width']} px wide in a "
            f"{result['window_width']} px window"
        )
    return out


def check_report(
    report: str | os.PathLike,
    screenshot_path: str | os.PathLike | None = None,
    *,
    chromium: str | None = None,
    width: int = 1280,
    timeout: float = 120.0,
) -> dict:
    """Probe ``report`` in headless Chromium and optionally screenshot it, full height.

    Returns
    -------
    The probe's result plus ``problems`` (a list of strings, empty when every check passes),
    ``chromium`` (the executable and its version) and ``screenshot`` (the PNG's path, or None).
    """
    report = Path(report)
    if not report.is_file():
        raise FileNotFoundError(f"no report at {report}")
    binary = find_chromium(chromium)
    if binary is None:
        raise FileNotFoundError(
            "no Chromium found (tried " + ", ".join(CANDIDATES) + "); install it "
            "(Debian: apt-get install chromium) or pass --chromium PATH"
        )
    result = probe(report, binary, width, 900, timeout)
    result["problems"] = problems(result)
    version = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=60)
    result["chromium"] = f"{binary}: {version.stdout.strip()}"
    result["screenshot"] = None
    if screenshot_path is not None:
        height = min(max(int(result["scroll_height"]), 600), MAX_SCREENSHOT_HEIGHT)
        result["screenshot"] = str(
            screenshot(report, Path(screenshot_path), binary, width, height, timeout)
        )
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("report", help="the report.html to check")
    parser.add_argument("--screenshot", metavar="PNG", help="also save a full-page screenshot")
    parser.add_argument("--chromium", metavar="PATH", help="the Chromium executable")
    parser.add_argument("--width", type=int, default=1280, help="window width (default 1280)")
    parser.add_argument("--timeout", type=float, default=120, help="seconds per browser run")
    parser.add_argument("--json", action="store_true", help="print the full result as JSON")
    args = parser.parse_args(argv)
    try:
        result = check_report(
            args.report,
            args.screenshot,
            chromium=args.chromium,
            width=args.width,
            timeout=args.timeout,
        )
    except (FileNotFoundError, RuntimeError) as exc:
        print(f"report_browser_check: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(result, indent=1))
    images = result["images"]
    loaded = sum(img["loaded"] for img in images)
    tables = [t for t in result["tables"] if "method" in t["headers"]]
    print(
        f"{result['chromium']}\n"
        f"{args.report}: {loaded} of {len(images)} images loaded; "
        f"{len(tables)} metrics table(s), {sum(t['rows'] for t in tables)} rows; "
        f"page {result['scroll_width']} x {result['scroll_height']} px in a "
        f"{result['window_width']} px window",
        file=sys.stderr,
    )
    if result["screenshot"]:
        print(f"screenshot: {result['screenshot']}", file=sys.stderr)
    for problem in result["problems"]:
        print(f"FAIL: {problem}", file=sys.stderr)
    if not result["problems"]:
        print(
            "OK: every image loaded, the metrics table is there, nothing overflows", file=sys.stderr
        )
    return 1 if result["problems"] else 0


if __name__ == "__main__":
    sys.exit(main())
