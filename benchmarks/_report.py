"""The report and verify on the large archive: ``cexledger report --json``, ``cexledger
verify`` and ``cexledger report --html FILE`` as subprocesses, CLI start included, each with
its own peak RSS; the page's size and the time headless Chromium takes to render it.

Render time is measured side by side: ``chromium --headless --dump-dom`` of the report page
and of an empty page, alternating, :data:`RENDERS` times each; the figure is the difference of
the medians (what the page itself costs beyond starting the browser), both medians kept.
"""

from __future__ import annotations

import json
import shutil
import statistics
import subprocess
import time
from pathlib import Path
from typing import Any

from _sandbox import run_cli

RENDERS = 5
CHROMIUM = "/usr/bin/chromium"
_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
          "--host-resolver-rules=MAP * ~NOTFOUND", "--proxy-server=127.0.0.1:9"]


def _url(db: Path) -> str:
    return f"sqlite:///{db}"


def report_json(db: Path, workdir: Path) -> dict[str, Any]:
    run = run_cli(["--db", _url(db), "report", "--json"], workdir).check()
    document = json.loads(run.stdout)
    return {"wall_s": round(run.wall_s, 2), "maxrss_mb": round(run.maxrss_mb, 1),
            "cpu_s": round(run.user_s + run.sys_s, 2), "json_bytes": len(run.stdout.encode()),
            "months": len(document.get("months", []))}


def verify(db: Path, workdir: Path) -> dict[str, Any]:
    run = run_cli(["--db", _url(db), "verify", "--json"], workdir)
    if run.returncode not in (0, 1):
        run.check()
    document = json.loads(run.stdout)
    return {"wall_s": round(run.wall_s, 2), "maxrss_mb": round(run.maxrss_mb, 1),
            "cpu_s": round(run.user_s + run.sys_s, 2), "exit": run.returncode,
            "ok": document.get("ok"), "streams": len(document.get("streams", []))}


def _dump(page: Path, profile: Path) -> float:
    start = time.perf_counter()
    subprocess.run([CHROMIUM, *_FLAGS, f"--user-data-dir={profile}", "--dump-dom", page.as_uri()],
                   check=True, capture_output=True, timeout=120)
    return time.perf_counter() - start


def report_html(db: Path, workdir: Path) -> dict[str, Any]:
    page = workdir / "report.html"
    run = run_cli(["--db", _url(db), "report", "--html", str(page)], workdir).check()
    size = page.stat().st_size
    result: dict[str, Any] = {"wall_s": round(run.wall_s, 2), "maxrss_mb": round(run.maxrss_mb, 1),
                              "bytes": size}
    if shutil.which(CHROMIUM) is None:
        result["render_s"] = None
        return result
    empty = workdir / "empty.html"
    empty.write_text("<!doctype html><title>empty</title>")
    profile = workdir / "chromium-profile"
    _dump(empty, profile)                      # first start warms the profile and the disk cache
    pages, blanks = [], []
    for _ in range(RENDERS):
        pages.append(_dump(page, profile))
        blanks.append(_dump(empty, profile))
    result.update(render_s=round(statistics.median(pages) - statistics.median(blanks), 3),
                  page_median_s=round(statistics.median(pages), 3),
                  empty_median_s=round(statistics.median(blanks), 3))
    page.unlink()
    return result
