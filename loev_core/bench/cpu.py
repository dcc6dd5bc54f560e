"""How much CPU other processes take while a benchmark measures response times (Linux /proc; elsewhere unknown).

A timing target holds on an otherwise idle machine; on a shared one, other people's jobs take cores
from the server and the browser. `OtherLoad` measures that share during a `with` block: the machine's
busy time minus that of this process and its descendants (the benchmark, the server, the browser and its
renderers), sampled a few times a second so processes that exit meanwhile still count as ours.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

PROC = Path("/proc")
SAMPLE_S = 0.2


def machine_busy_ticks() -> int | None:
    """Busy CPU time of the whole machine, in clock ticks (None without /proc)."""
    try:
        fields = [int(v) for v in (PROC / "stat").read_text().splitlines()[0].split()[1:9]]
    except (OSError, ValueError, IndexError):
        return None
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields
    return user + nice + system + irq + softirq + steal


def tree_ticks(root: int) -> dict[int, int]:
    """CPU time (user + system, clock ticks) of `root` and each of its living descendants."""
    stats: dict[int, tuple[int, int]] = {}  # pid -> (parent, ticks)
    for d in PROC.glob("[0-9]*"):
        try:
            raw = (d / "stat").read_text()
        except OSError:
            continue
        fields = raw[raw.rindex(")") + 2:].split()  # after "pid (comm) "
        stats[int(d.name)] = (int(fields[1]), int(fields[11]) + int(fields[12]))
    children: dict[int, list[int]] = {}
    for pid, (parent, _) in stats.items():
        children.setdefault(parent, []).append(pid)
    out, todo = {}, [root]
    while todo:
        pid = todo.pop()
        if pid in stats:
            out[pid] = stats[pid][1]
            todo += children.get(pid, [])
    return out


class OtherLoad:
    """Cores' worth of CPU used by processes outside this one's tree during the block (None if unknown)."""

    def __enter__(self) -> OtherLoad:
        self.cores: float | None = None
        self.first = tree_ticks(os.getpid())
        self.last = dict(self.first)
        self.stop = threading.Event()
        self.sampler = threading.Thread(target=self._sample, daemon=True)
        self.start = (time.monotonic(), machine_busy_ticks())
        self.sampler.start()
        return self

    def _sample(self) -> None:
        while not self.stop.wait(SAMPLE_S):
            self.last.update(tree_ticks(os.getpid()))

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.sampler.join()
        self.last.update(tree_ticks(os.getpid()))
        (t0, busy0), busy1 = self.start, machine_busy_ticks()
        if busy0 is None or busy1 is None:
            return
        own = sum(ticks - self.first.get(pid, 0) for pid, ticks in self.last.items())
        seconds = max(time.monotonic() - t0, 1e-3)
        self.cores = max((busy1 - busy0) - own, 0) / os.sysconf("SC_CLK_TCK") / seconds
