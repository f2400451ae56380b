"""A real Prometheus for the integration tests: started on a free port, stopped by its PID."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from servicepulse.devtools.broker import free_port
from servicepulse.processors.timestamps import epoch_of
from tests.integration.support import WorkerProcess, wait_for


def binary(name: str) -> str:
    """Path of a Debian prometheus tool; skips (or fails under SERVICEPULSE_REQUIRE_PROMTOOL)."""
    path = shutil.which(name) or (f"/usr/bin/{name}" if Path(f"/usr/bin/{name}").exists() else None)
    if path is None:
        if os.environ.get("SERVICEPULSE_REQUIRE_PROMTOOL"):
            pytest.fail(f"{name} not found and SERVICEPULSE_REQUIRE_PROMTOOL is set")
        pytest.skip(f"{name} not installed (apt install prometheus)")
    return path


@dataclass
class Prometheus:
    url: str
    # Once set, queries are evaluated at this instant (e.g. right after a batch, so a rate
    # over [1m] sees it however long the checks themselves take on a loaded machine).
    at: float | None = None

    def api(self, path: str, **params: str) -> dict[str, Any]:
        query = urllib.parse.urlencode(params)
        try:
            with urllib.request.urlopen(f"{self.url}/api/v1/{path}?{query}", timeout=30) as r:
                body: dict[str, Any] = json.load(r)
        except urllib.error.HTTPError as err:  # 400/422: bad query, the body says why
            body = json.load(err)
        return body

    def query(self, expr: str) -> dict[str, Any]:
        if self.at is None:
            return self.api("query", query=expr)
        return self.api("query", query=expr, time=f"{self.at:.3f}")

    def result(self, expr: str) -> list[dict[str, Any]]:
        answer = self.query(expr)
        assert answer["status"] == "success", f"{expr}: {answer.get('error')}"
        result: list[dict[str, Any]] = answer["data"]["result"]
        return result

    def groups_not_evaluated_since(self, since: float) -> list[str]:
        """Rule groups not evaluated since ``since`` (epoch seconds). A group's evaluations
        come at an offset inside its interval hashed from the group and file names, so a 1m
        group in a temporary directory may first run anywhere in the first minute, and run
        before the worker's first scrape: that evaluation records nothing."""
        groups = self.api("rules")["data"]["groups"]
        assert groups, "Prometheus loaded no rule groups"
        return [group["name"] for group in groups
                if epoch_of(group["lastEvaluation"]) < since]  # fmt: skip

    def scrapes(self) -> int:
        found = self.result('count_over_time(up{job="servicepulse"}[10m])')
        return int(float(found[0]["value"][1])) if found else 0


def scrape_config(
    directory: Path, worker_port: int, rules_file: Path, interval: str = "1s"
) -> Path:
    """A prometheus.yml scraping one worker and evaluating ``rules_file`` every ``interval``."""
    config = {
        "global": {"scrape_interval": interval, "evaluation_interval": interval,
                   "scrape_timeout": interval},
        "rule_files": [str(rules_file)],
        "scrape_configs": [{
            "job_name": "servicepulse",  # the name the shipped rules match (up{job=...})
            "metrics_path": "/metrics",
            "static_configs": [{"targets": [f"127.0.0.1:{worker_port}"]}],
        }],
    }  # fmt: skip
    path = directory / "prometheus.yml"
    path.write_text(json.dumps(config))  # JSON is YAML
    return path


@contextmanager
def running_prometheus(config: Path, workdir: Path) -> Iterator[Prometheus]:
    """Our own Prometheus on a free port; stopped by PID when the block ends (log on failure)."""
    port = free_port()
    log_path = workdir / "prometheus.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [binary("prometheus"), f"--config.file={config}",
             f"--storage.tsdb.path={workdir / 'prometheus-data'}",
             f"--web.listen-address=127.0.0.1:{port}"],
            stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    prometheus = Prometheus(f"http://127.0.0.1:{port}")

    def ready() -> bool:
        assert process.poll() is None, log_path.read_text()
        try:
            with urllib.request.urlopen(f"{prometheus.url}/-/ready", timeout=2) as r:
                return bool(r.status == 200)
        except OSError:
            return False

    ok = False
    try:
        wait_for(ready, 60, "prometheus ready")
        yield prometheus
        ok = True
    finally:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if not ok:
            print(f"--- prometheus log ---\n{log_path.read_text()[-4000:]}")


@contextmanager
def stopped_after(worker: WorkerProcess) -> Iterator[WorkerProcess]:
    """Stops the worker when the block ends; prints its log if the block failed."""
    ok = False
    try:
        yield worker
        ok = True
    finally:
        worker.stop()
        if not ok:
            print(f"--- worker log ---\n{worker.log_tail()}")
