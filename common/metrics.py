"""Minimal Prometheus metrics: counters, gauges and histograms with labels,
rendered as the text exposition format on each process's /metrics."""
from __future__ import annotations

import threading
from collections.abc import Iterable

DEFAULT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


def _labels(names: tuple[str, ...], values: tuple[str, ...], extra: str = "") -> str:
    parts = [f'{n}="{_escape(v)}"' for n, v in zip(names, values)]
    if extra:
        parts.append(extra)
    return "{" + ",".join(parts) + "}" if parts else ""


def _escape(v: str) -> str:
    return str(v).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


class _Metric:
    kind = ""

    def __init__(self, name: str, help_text: str, labels: Iterable[str] = ()):
        self.name, self.help, self.label_names = name, help_text, tuple(labels)
        self._lock = threading.Lock()
        self._values: dict[tuple[str, ...], object] = {}

    def _key(self, labels: dict) -> tuple[str, ...]:
        return tuple(str(labels.get(n, "")) for n in self.label_names)

    def header(self) -> list[str]:
        return [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} {self.kind}"]


class Counter(_Metric):
    kind = "counter"

    def inc(self, amount: float = 1.0, **labels) -> None:
        k = self._key(labels)
        with self._lock:
            self._values[k] = self._values.get(k, 0.0) + amount

    def value(self, **labels) -> float:
        return float(self._values.get(self._key(labels), 0.0))

    def render(self) -> list[str]:
        return self.header() + [f"{self.name}{_labels(self.label_names, k)} {v}" for k, v in sorted(self._values.items())]


class Gauge(Counter):
    kind = "gauge"

    def set(self, value: float, **labels) -> None:
        with self._lock:
            self._values[self._key(labels)] = float(value)


class Histogram(_Metric):
    kind = "histogram"

    def __init__(self, name: str, help_text: str, labels: Iterable[str] = (), buckets=DEFAULT_BUCKETS):
        super().__init__(name, help_text, labels)
        self.buckets = tuple(buckets)

    def observe(self, value: float, **labels) -> None:
        k = self._key(labels)
        with self._lock:
            counts, total = self._values.get(k, ([0] * len(self.buckets), [0, 0.0]))  # type: ignore[misc]
            for i, b in enumerate(self.buckets):
                if value <= b:
                    counts[i] += 1
            total[0] += 1
            total[1] += value
            self._values[k] = (counts, total)

    def count(self, **labels) -> int:
        v = self._values.get(self._key(labels))
        return v[1][0] if v else 0  # type: ignore[index]

    def render(self) -> list[str]:
        out = self.header()
        for k, (counts, total) in sorted(self._values.items()):  # type: ignore[misc]
            for b, c in zip(self.buckets, counts):
                le = 'le="%s"' % b
                out.append(f"{self.name}_bucket{_labels(self.label_names, k, le)} {c}")
            inf = 'le="+Inf"'
            out.append(f"{self.name}_bucket{_labels(self.label_names, k, inf)} {total[0]}")
            out.append(f"{self.name}_count{_labels(self.label_names, k)} {total[0]}")
            out.append(f"{self.name}_sum{_labels(self.label_names, k)} {total[1]}")
        return out


class Registry:
    def __init__(self):
        self._metrics: dict[str, _Metric] = {}
        self._lock = threading.Lock()

    def _get(self, cls, name, help_text, labels, **kw):
        with self._lock:
            m = self._metrics.get(name)
            if m is None:
                m = cls(name, help_text, labels, **kw)
                self._metrics[name] = m
            elif not isinstance(m, cls):
                raise TypeError(f"metric {name} already registered as {m.kind}")
            return m

    def counter(self, name: str, help_text: str, labels: Iterable[str] = ()) -> Counter:
        return self._get(Counter, name, help_text, tuple(labels))

    def gauge(self, name: str, help_text: str, labels: Iterable[str] = ()) -> Gauge:
        return self._get(Gauge, name, help_text, tuple(labels))

    def histogram(self, name: str, help_text: str, labels: Iterable[str] = (), buckets=DEFAULT_BUCKETS) -> Histogram:
        return self._get(Histogram, name, help_text, tuple(labels), buckets=buckets)

    def render(self) -> str:
        lines: list[str] = []
        for name in sorted(self._metrics):
            lines.extend(self._metrics[name].render())
        return "\n".join(lines) + "\n"


# A process-wide default; processes that host several zones pass their own.
REGISTRY = Registry()

