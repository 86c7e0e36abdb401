"""Prometheus metrics on prometheus-client, behind the small call-site API the
rest of the code uses: `registry.counter(name, help, labels).inc(**labels)`,
`.gauge(...).set(v, **labels)`, `.histogram(...).observe(v, **labels)`.

Each Registry wraps its own CollectorRegistry, so a process hosting many zones
(`mzsim zone --count N`) serves one registry per zone. Every registry carries
the `process_*` and `python_*` collectors of the process it runs in.

Series that describe something which can go away (a backend, a mesh, a zone)
are either removed with `Gauge.remove(**labels)` when it goes, or computed at
scrape time by a collector added with `Registry.add_collector` (then they
vanish with the thing they measure)."""
from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import prometheus_client
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import Metric
from prometheus_client.registry import Collector

DEFAULT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

# `_created` series double every counter for no use here; Kuma does not export them either.
prometheus_client.disable_created_metrics()


class _Metric:
    kind = ""

    def __init__(self, registry: CollectorRegistry, name: str, help_text: str, labels: Sequence[str],
                 **kw: Any) -> None:
        self.name, self.help, self.label_names = name, help_text, tuple(labels)
        self._registry = registry
        cls = {"counter": prometheus_client.Counter, "gauge": prometheus_client.Gauge,
               "histogram": prometheus_client.Histogram}[self.kind]
        self._m: Any = cls(name, help_text or name, self.label_names, registry=registry, **kw)

    def _child(self, labels: dict[str, object]) -> Any:
        if not self.label_names:
            return self._m
        return self._m.labels(*(str(labels.get(n, "")) for n in self.label_names))

    def _sample(self, suffix: str, labels: dict[str, object]) -> float | None:
        base = self.name[:-6] if self.kind == "counter" and self.name.endswith("_total") else self.name
        wanted = {n: str(labels.get(n, "")) for n in self.label_names}
        return self._registry.get_sample_value(base + suffix, wanted)


class Counter(_Metric):
    kind = "counter"

    def inc(self, amount: float = 1.0, **labels: object) -> None:
        self._child(labels).inc(amount)

    def value(self, **labels: object) -> float:
        return self._sample("_total", labels) or 0.0


class Gauge(_Metric):
    kind = "gauge"

    def inc(self, amount: float = 1.0, **labels: object) -> None:
        self._child(labels).inc(amount)

    def set(self, value: float, **labels: object) -> None:
        self._child(labels).set(float(value))

    def remove(self, **labels: object) -> None:
        """Drop the series: what it measured is gone (a closed backend, a retired pool)."""
        if not self.label_names:
            return
        try:
            self._m.remove(*(str(labels.get(n, "")) for n in self.label_names))
        except KeyError:
            pass

    def value(self, **labels: object) -> float:
        return self._sample("", labels) or 0.0

    def has(self, **labels: object) -> bool:
        return self._sample("", labels) is not None


class Histogram(_Metric):
    kind = "histogram"

    def observe(self, value: float, **labels: object) -> None:
        self._child(labels).observe(value)

    def count(self, **labels: object) -> int:
        return int(self._sample("_count", labels) or 0)


class _FunctionCollector(Collector):
    def __init__(self, collect: Callable[[], Iterable[Metric]]) -> None:
        self._collect = collect

    def collect(self) -> Iterable[Metric]:
        return list(self._collect())


class Registry:
    def __init__(self, *, process: bool = True) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        if process:
            prometheus_client.ProcessCollector(registry=self.registry)
            prometheus_client.PlatformCollector(registry=self.registry)
            prometheus_client.GCCollector(registry=self.registry)
        self._metrics: dict[str, _Metric] = {}
        self._lock = threading.Lock()

    def _get(self, cls: type[_Metric], name: str, help_text: str, labels: tuple[str, ...], **kw: Any) -> Any:
        with self._lock:
            m = self._metrics.get(name)
            if m is None:
                m = self._metrics[name] = cls(self.registry, name, help_text, labels, **kw)
            elif not isinstance(m, cls):
                raise TypeError(f"metric {name} already registered as {m.kind}")
            return m

    def counter(self, name: str, help_text: str, labels: Iterable[str] = ()) -> Counter:
        m: Counter = self._get(Counter, name, help_text, tuple(labels))
        return m

    def gauge(self, name: str, help_text: str, labels: Iterable[str] = ()) -> Gauge:
        m: Gauge = self._get(Gauge, name, help_text, tuple(labels))
        return m

    def histogram(self, name: str, help_text: str, labels: Iterable[str] = (),
                  buckets: Iterable[float] = DEFAULT_BUCKETS) -> Histogram:
        m: Histogram = self._get(Histogram, name, help_text, tuple(labels), buckets=tuple(buckets))
        return m

    def add_collector(self, collect: Callable[[], Iterable[Metric]]) -> Collector:
        """Series computed at scrape time by `collect` (prometheus_client.core *MetricFamily objects)."""
        c = _FunctionCollector(collect)
        self.registry.register(c)
        return c

    def remove_collector(self, collector: Collector) -> None:
        self.registry.unregister(collector)

    def render(self) -> str:
        return generate_latest(self.registry).decode()
