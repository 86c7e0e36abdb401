"""Minimal Prometheus metrics: counters, gauges and histograms with labels,
rendered as the text exposition format on each process's /metrics."""
from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any, Generic, TypeVar

DEFAULT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


def _labels(names: tuple[str, ...], values: tuple[str, ...], extra: str = "") -> str:
    parts = [f'{n}="{_escape(v)}"' for n, v in zip(names, values, strict=False)]
    if extra:
        parts.append(extra)
    return "{" + ",".join(parts) + "}" if parts else ""


def _escape(v: str) -> str:
    return str(v).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


V = TypeVar("V")
# A histogram's value per label set: (per-bucket counts, [count, sum]).
_HistogramValue = tuple[list[int], list[float]]


class _Metric(Generic[V]):
    kind = ""

    def __init__(self, name: str, help_text: str, labels: Iterable[str] = ()) -> None:
        self.name, self.help, self.label_names = name, help_text, tuple(labels)
        self._lock = threading.Lock()
        self._values: dict[tuple[str, ...], V] = {}

    def _key(self, labels: dict[str, object]) -> tuple[str, ...]:
        return tuple(str(labels.get(n, "")) for n in self.label_names)

    def header(self) -> list[str]:
        return [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} {self.kind}"]

    def render(self) -> list[str]:
        raise NotImplementedError


class Counter(_Metric[float]):
    kind = "counter"

    def inc(self, amount: float = 1.0, **labels: object) -> None:
        k = self._key(labels)
        with self._lock:
            self._values[k] = self._values.get(k, 0.0) + amount

    def value(self, **labels: object) -> float:
        return float(self._values.get(self._key(labels), 0.0))

    def render(self) -> list[str]:
        return self.header() + [f"{self.name}{_labels(self.label_names, k)} {v}"
                                for k, v in sorted(self._values.items())]


class Gauge(Counter):
    kind = "gauge"

    def set(self, value: float, **labels: object) -> None:
        with self._lock:
            self._values[self._key(labels)] = float(value)


class Histogram(_Metric[_HistogramValue]):
    kind = "histogram"

    def __init__(self, name: str, help_text: str, labels: Iterable[str] = (),
                 buckets: Iterable[float] = DEFAULT_BUCKETS) -> None:
        super().__init__(name, help_text, labels)
        self.buckets = tuple(buckets)

    def observe(self, value: float, **labels: object) -> None:
        k = self._key(labels)
        with self._lock:
            counts, total = self._values.get(k, ([0] * len(self.buckets), [0, 0.0]))
            for i, b in enumerate(self.buckets):
                if value <= b:
                    counts[i] += 1
            total[0] += 1
            total[1] += value
            self._values[k] = (counts, total)

    def count(self, **labels: object) -> int:
        v = self._values.get(self._key(labels))
        return int(v[1][0]) if v else 0

    def render(self) -> list[str]:
        out = self.header()
        for k, (counts, total) in sorted(self._values.items()):
            for b, c in zip(self.buckets, counts, strict=False):
                le = f'le="{b}"'
                out.append(f"{self.name}_bucket{_labels(self.label_names, k, le)} {c}")
            inf = 'le="+Inf"'
            out.append(f"{self.name}_bucket{_labels(self.label_names, k, inf)} {total[0]}")
            out.append(f"{self.name}_count{_labels(self.label_names, k)} {total[0]}")
            out.append(f"{self.name}_sum{_labels(self.label_names, k)} {total[1]}")
        return out


M = TypeVar("M", bound=_Metric[Any])


class Registry:
    def __init__(self) -> None:
        self._metrics: dict[str, _Metric[Any]] = {}
        self._lock = threading.Lock()

    def _get(self, cls: type[M], name: str, help_text: str, labels: tuple[str, ...], **kw: Any) -> M:
        with self._lock:
            m = self._metrics.get(name)
            if m is None:
                new = cls(name, help_text, labels, **kw)
                self._metrics[name] = new
                return new
            if not isinstance(m, cls):
                raise TypeError(f"metric {name} already registered as {m.kind}")
            return m

    def counter(self, name: str, help_text: str, labels: Iterable[str] = ()) -> Counter:
        return self._get(Counter, name, help_text, tuple(labels))

    def gauge(self, name: str, help_text: str, labels: Iterable[str] = ()) -> Gauge:
        return self._get(Gauge, name, help_text, tuple(labels))

    def histogram(self, name: str, help_text: str, labels: Iterable[str] = (),
                  buckets: Iterable[float] = DEFAULT_BUCKETS) -> Histogram:
        return self._get(Histogram, name, help_text, tuple(labels), buckets=buckets)

    def render(self) -> str:
        lines: list[str] = []
        for name in sorted(self._metrics):
            lines.extend(self._metrics[name].render())
        return "\n".join(lines) + "\n"


# A process-wide default; processes that host several zones pass their own.
REGISTRY = Registry()

