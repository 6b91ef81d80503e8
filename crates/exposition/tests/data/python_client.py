"""Prints a registry of every metric kind from prometheus_client.

Usage: python3 python_client.py text|openmetrics
"""
import sys

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Enum,
    Gauge,
    Histogram,
    Info,
    Summary,
    generate_latest,
)
from prometheus_client.openmetrics.exposition import generate_latest as generate_latest_om

registry = CollectorRegistry()

requests = Counter(
    "http_requests", "Requests served.", ["method", "path"], registry=registry
)
requests.labels("GET", '/a"b\\c\nd').inc(3)
requests.labels(method="POST", path="/").inc(1.5, exemplar={"trace_id": "abc123"})

temperature = Gauge(
    "room_temperature", "Temperature \\ with \"quotes\"\nand newline.", ["room"],
    unit="celsius", registry=registry,
)
temperature.labels("kitchen").set(21.5)
temperature.labels("attic").set(float("nan"))
temperature.labels("oven").set(float("inf"))
temperature.labels("freezer").set(-18e-3)
temperature.labels("sun").set(5.772e3 * 1e6)

latency = Histogram(
    "request_latency_seconds", "Request latency.", ["handler"],
    buckets=(0.005, 0.1, 1, 2.5, 10), registry=registry,
)
latency.labels("/").observe(0.05, exemplar={"trace_id": "t1"})
latency.labels("/").observe(3)
latency.labels("/api").observe(0.2)

size = Summary("response_size_bytes", "Response size.", registry=registry)
size.observe(512)
size.observe(2048)

build = Info("build", "Build information.", registry=registry)
build.info({"version": "1.2.3", "revision": "abc"})

state = Enum(
    "task_state", "Task state.", states=["starting", "running", "stopped"],
    registry=registry,
)
state.state("running")

if sys.argv[1:] == ["openmetrics"]:
    sys.stdout.buffer.write(generate_latest_om(registry))
else:
    sys.stdout.buffer.write(generate_latest(registry))
