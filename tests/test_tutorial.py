"""docs/tutorial.md runs: every ```python block, in order, in one namespace, in a temp dir.

A ```text block right after a python block is that block's printed output. The test checks
it: the words exactly (runs of spaces aside), integers exactly, decimals within a tolerance
(percentages as fractions). The model's last digits depend on the CPU, the thread count and
even on what ran before in the same process; the tutorial's outputs were made with one torch
thread, as here. After a change that moves the outputs, rewrite them with::

    PYTHONPATH=src python tests/test_tutorial.py [WORKDIR]  # runs it, updates its outputs

so every output in the document is one that its code printed.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import shutil
import sys
import time
from pathlib import Path

import pytest

TUTORIAL = Path(__file__).resolve().parents[1] / "docs" / "tutorial.md"
#: The tutorial's figures shown in the document (copied there by ``update``).
FIGURES = TUTORIAL.parent / "tutorial_figures"
SHOWN_FIGURES = ("mean_regression", "embedding", "deg_violins", "ot_pairing")
FENCE = re.compile(r"^```(\w*)[ \t]*\n(.*?)^```[ \t]*$", re.S | re.M)
NUMBER = re.compile(r"[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?")
#: decimals may differ by this much plus this share of their size (CPU, threads)
ABS_TOL, REL_TOL = 0.02, 0.05


def blocks(text: str) -> list[tuple[str, str, tuple[int, int] | None]]:
    """(code, expected output or "", span of the output block's body) for each python block."""
    fences = list(FENCE.finditer(text))
    out = []
    for i, m in enumerate(fences):
        if m.group(1) != "python":
            continue
        nxt = fences[i + 1] if i + 1 < len(fences) else None
        is_output = (
            nxt is not None and nxt.group(1) == "text" and not text[m.end() : nxt.start()].strip()
        )
        if is_output:
            out.append((m.group(2), nxt.group(2), nxt.span(2)))
        else:
            out.append((m.group(2), "", None))
    return out


def run_tutorial(text: str, workdir: Path) -> list[tuple[str, float]]:
    """Run every python block in ``workdir``; each block's stdout and seconds."""
    import torch

    namespace: dict = {"__name__": "__tutorial__"}
    results = []
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the outputs were made with one thread; and the CI box is shared
    cwd = os.getcwd()
    os.chdir(workdir)
    try:
        for i, (code, _, _) in enumerate(blocks(text), 1):
            buf = io.StringIO()
            t0 = time.perf_counter()
            with contextlib.redirect_stdout(buf):
                exec(compile(code, f"{TUTORIAL.name}, block {i}", "exec"), namespace)
            results.append((buf.getvalue(), time.perf_counter() - t0))
            print(f"tutorial block {i}: {results[-1][1]:.1f} s", file=sys.stderr)
    finally:
        os.chdir(cwd)
        torch.set_num_threads(threads)
    return results


def same_output(got: str, expected: str) -> str | None:
    """None if ``got`` matches ``expected`` (see the module docstring), else why not."""
    g_words, e_words = NUMBER.split(got), NUMBER.split(expected)
    norm = [" ".join(w.split()) for w in g_words], [" ".join(w.split()) for w in e_words]
    if norm[0] != norm[1]:
        for a, b in zip(*norm, strict=False):
            if a != b:
                return f"text differs: {a!r} != {b!r}"
        return f"{len(g_words) - 1} numbers printed, {len(e_words) - 1} expected"
    expected_numbers = list(NUMBER.finditer(expected))
    for a, m in zip(NUMBER.findall(got), expected_numbers, strict=True):
        b = m.group(0)
        if "." not in b and "e" not in b.lower():
            if a != b:
                return f"integer {a} != {b}"
            continue
        scale = 100.0 if expected[m.end() : m.end() + 1] == "%" else 1.0  # a share, in %
        x, y = float(a) / scale, float(b) / scale
        if abs(x - y) > ABS_TOL + REL_TOL * abs(y):
            return f"number {a} too far from {b}"
    return None


def test_blocks_and_output_matching():
    doc = "x\n```python\nprint(1)\n```\n\n```text\n1\n```\n```python\npass\n```\n"
    found = blocks(doc)
    assert [(c, o) for c, o, _ in found] == [("print(1)\n", "1\n"), ("pass\n", "")]
    assert same_output("r2 0.901 n=13576\n", "r2  0.905 n=13576") is None
    assert "integer" in same_output("n=13575", "n=13576")
    assert "too far" in same_output("r2 0.70", "r2 0.90")
    assert same_output("B 3.7% of it", "B 3.5% of it") is None  # shares compare as fractions
    assert "too far" in same_output("B 9.5% of it", "B 3.5% of it")
    assert "text differs" in same_output("r2_mean 0.9", "r2_var 0.9")
    assert "numbers printed" in same_output("a 1 b", "a 1 b 2")


@pytest.mark.kang
def test_tutorial_runs_and_prints_what_it_shows(tmp_path):
    text = TUTORIAL.read_text(encoding="utf-8")
    found = blocks(text)
    assert len(found) >= 8, "the tutorial lost its code blocks"
    results = run_tutorial(text, tmp_path)
    for i, ((_, expected, span), (got, _s)) in enumerate(zip(found, results, strict=True), 1):
        if span is None:
            continue
        assert expected.strip(), f"block {i}'s output block is empty; run {Path(__file__).name}"
        why = same_output(got, expected)
        assert why is None, (
            f"block {i}: {why}\n--- printed:\n{got}\n--- the tutorial shows:\n{expected}"
        )
    # what the tutorial says it writes
    for name in ("mean_regression", "embedding", "ot_pairing", "training_curves"):
        assert (tmp_path / "figures" / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert (tmp_path / "figures" / f"{name}.pdf").read_bytes()[:5] == b"%PDF-"
    assert (tmp_path / "cd14_model" / "scotm.json").exists()
    for name in SHOWN_FIGURES:  # the document shows these, from an earlier run of this code
        assert f"(tutorial_figures/{name}.png)" in text
        assert (FIGURES / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def update(path: Path = TUTORIAL, workdir: str | None = None) -> None:
    """Run the tutorial and write each block's printed output into its ```text block.

    The files it writes (figures, the model) go to a temporary directory, or to ``workdir``.
    """
    import tempfile

    text = path.read_text(encoding="utf-8")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(workdir or tmp)
        work.mkdir(parents=True, exist_ok=True)
        results = run_tutorial(text, work)
        # the figures the tutorial shows, as this run drew them
        FIGURES.mkdir(exist_ok=True)
        for name in SHOWN_FIGURES:
            shutil.copyfile(work / "figures" / f"{name}.png", FIGURES / f"{name}.png")
    pieces, pos = [], 0
    for (_, _, span), (got, seconds) in zip(blocks(text), results, strict=True):
        print(f"block took {seconds:.1f} s", file=sys.stderr)
        if span is None:
            continue
        pieces += [text[pos : span[0]], got if got.endswith("\n") or not got else got + "\n"]
        pos = span[1]
    pieces.append(text[pos:])
    path.write_text("".join(pieces), encoding="utf-8")
    print(f"updated {path}; total {sum(s for _, s in results):.1f} s", file=sys.stderr)


if __name__ == "__main__":
    update(workdir=sys.argv[1] if len(sys.argv) > 1 else None)
