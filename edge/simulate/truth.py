"""Ground truth against measurement: matching the pipeline's wait records to the world's true
stays and summarising the errors (:class:`TruthReport`). The matching rule and the report's
fields: ``docs/simulator.md``, "Truth report".
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict, Field

from edge.simulate.world import TrueStay


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ErrorStats(_Model):
    """Errors (measured - true), seconds."""

    count: int = Field(ge=0, description="Pairs compared.")
    mae_s: float | None = Field(default=None, description="Mean absolute error.")
    p90_abs_s: float | None = Field(default=None, description="90th percentile of the absolute error.")
    max_abs_s: float | None = Field(default=None, description="Largest absolute error.")
    bias_s: float | None = Field(default=None, description="Mean signed error (measured - true).")

    @classmethod
    def of(cls, errors: Sequence[float]) -> ErrorStats:
        if not errors:
            return cls(count=0)
        absolute = sorted(abs(e) for e in errors)
        idx = min(len(absolute) - 1, max(0, math.ceil(0.9 * len(absolute)) - 1))
        return cls(
            count=len(errors),
            mae_s=round(sum(absolute) / len(absolute), 3),
            p90_abs_s=round(absolute[idx], 3),
            max_abs_s=round(absolute[-1], 3),
            bias_s=round(sum(errors) / len(errors), 3),
        )


class ZoneLoad(_Model):
    """Occupancy as published for one zone, against its capacity."""

    zone: str
    capacity: int | None = None
    max_occupancy: float = 0.0
    seconds_over_capacity: float = 0.0


class TrueVisit(_Model):
    """One customer's true wait and service (times in simulated seconds from the start)."""

    customer: int = Field(description="The simulator's person number (no identity).")
    wait_zone: str | None = Field(default=None, description="The queue/waiting zone joined.")
    wait_start_s: float | None = Field(default=None, description="When they joined it.")
    wait_s: float | None = Field(
        default=None, description="Until service (or leaving); so far if still waiting."
    )
    service_zone: str | None = Field(default=None, description="The counter zone served at.")
    service_start_s: float | None = Field(default=None, description="When service began.")
    service_s: float | None = Field(default=None, description="Time at the counter; so far if still there.")
    outcome: str = Field(description="served, walked_out, waiting or in_service (at the end of the run).")
    ticket: bool | None = Field(default=None, description="Took a queue ticket (false: a walk-in).")


def true_visits(stays: Sequence[TrueStay], now_s: float) -> list[TrueVisit]:
    """The customers who waited or were served, from the world's true stays."""
    by_pid: dict[int, dict[str, TrueStay]] = defaultdict(dict)
    for s in stays:
        by_pid[s.pid].setdefault(s.kind, s)
    out = []
    for pid, kinds in sorted(by_pid.items()):
        w, sv = kinds.get("wait"), kinds.get("service")
        if sv is not None:
            outcome = "served" if sv.end_s is not None else "in_service"
        else:
            outcome = "walked_out" if w is not None and w.end_s is not None else "waiting"
        out.append(
            TrueVisit(
                customer=pid,
                wait_zone=None if w is None else w.zone,
                wait_start_s=None if w is None else round(w.start_s, 3),
                wait_s=None if w is None else round((w.end_s or now_s) - w.start_s, 3),
                service_zone=None if sv is None else sv.zone,
                service_start_s=None if sv is None else round(sv.start_s, 3),
                service_s=None if sv is None else round((sv.end_s or now_s) - sv.start_s, 3),
                outcome=outcome,
                ticket=None if w is None else w.ticket,
            )
        )
    return out


class TruthReport(_Model):
    """The simulator's verdict on the pipeline's waits (printed and written as JSON)."""

    site: str
    scenario: str
    simulated_s: float = Field(description="Simulated seconds.")
    tick_s: float = Field(description="Simulated seconds per step (and per camera frame).")
    arrivals: int = Field(description="People who entered the hall.")
    counted_arrivals: int = Field(
        default=0, description="arrivals_total the pipeline published, summed over entrance zones."
    )
    entrance_entries: int = Field(
        default=0, description="entered_total of entrance zones (every entry, leaving ones too)."
    )
    true_waits: int = Field(description="Completed true waits (queue/waiting zones seen by a camera).")
    true_wait_max_s: float | None = Field(default=None, description="Longest completed true wait.")
    true_waits_over_limit: int = Field(default=0, description="True waits longer than max_wait_min.")
    measured_waits: ErrorStats = Field(description="WaitRecord (kind wait) durations vs true waits.")
    measured_services: ErrorStats = Field(description="WaitRecord (kind service) vs true service times.")
    expected_waits: ErrorStats = Field(description="expected_wait_s at joining vs the true wait.")
    unmatched_records: int = Field(default=0, description="Records no true stay matched.")
    unmatched_truth: int = Field(default=0, description="True stays (seen by a camera) without a record.")
    too_short_to_see: int = Field(
        default=0, description="True stays shorter than the entry debounce (no camera can see them)."
    )
    zones: list[ZoneLoad] = Field(default_factory=list, description="Published occupancy vs capacity.")
    visits: list[TrueVisit] = Field(
        default_factory=list, description="Every customer's true wait and service (written out, not printed)."
    )

    def text(self) -> str:
        """A short bilingual summary for the terminal."""

        def fmt(name_en: str, name_zh: str, s: ErrorStats) -> str:
            if not s.count:
                return f"{name_en} / {name_zh}: n=0"
            return (
                f"{name_en} / {name_zh}: n={s.count} MAE={s.mae_s:.1f}s p90={s.p90_abs_s:.1f}s "
                f"bias={s.bias_s:+.1f}s"
            )

        crowded = [z for z in self.zones if z.seconds_over_capacity > 0]
        lines = [
            f"truth report / 真值报告 — site {self.site}, scenario {self.scenario}, "
            f"{self.simulated_s / 60:.0f} simulated min / 模拟分钟",
            f"arrivals / 到店: {self.arrivals} (counted / 计数 {self.counted_arrivals}, "
            f"entrance entries / 入口进入 {self.entrance_entries}); "
            f"completed waits / 完成等待: {self.true_waits}; "
            f"longest / 最长: {(self.true_wait_max_s or 0) / 60:.1f} min; "
            f"over limit / 超时: {self.true_waits_over_limit}",
            fmt("measured waits", "实测等待", self.measured_waits),
            fmt("service times", "办理时长", self.measured_services),
            fmt("expected waits", "预计等待", self.expected_waits),
            f"unmatched records / 未匹配记录: {self.unmatched_records}; "
            f"unmatched true stays / 未匹配真值: {self.unmatched_truth}; "
            f"too short to see / 过短不可见: {self.too_short_to_see}",
        ]
        for z in crowded:
            lines.append(
                f"crowding / 拥挤 {z.zone}: max {z.max_occupancy:g} > capacity {z.capacity} "
                f"for {z.seconds_over_capacity:.0f}s"
            )
        return "\n".join(lines)


Measured = tuple[str, float, float]  # zone, start, end (simulated seconds)


def match(
    records: Sequence[Measured], truths: Sequence[TrueStay], match_window_s: float
) -> tuple[list[tuple[Measured, TrueStay]], list[Measured], list[TrueStay]]:
    """Pair records with completed true stays of the same zone; return pairs and leftovers."""
    by_zone: dict[str | None, list[TrueStay]] = defaultdict(list)
    for t in truths:
        if t.end_s is not None:
            by_zone[t.zone].append(t)
    candidates: list[tuple[float, int, int]] = []
    for ri, (zone, start, end) in enumerate(records):
        for t in by_zone.get(zone, []):
            assert t.end_s is not None
            ds = abs(start - t.start_s)
            if ds <= match_window_s:
                candidates.append((ds + abs(end - t.end_s), ri, id(t)))
    candidates.sort()
    used_r: set[int] = set()
    used_t: set[int] = set()
    index = {id(t): t for t in truths}
    pairs: list[tuple[Measured, TrueStay]] = []
    for _cost, ri, tid in candidates:
        if ri in used_r or tid in used_t:
            continue
        used_r.add(ri)
        used_t.add(tid)
        pairs.append((records[ri], index[tid]))
    left_r = [r for i, r in enumerate(records) if i not in used_r]
    left_t = [t for t in truths if t.end_s is not None and id(t) not in used_t]
    return pairs, left_r, left_t


def errors(pairs: Sequence[tuple[Measured, TrueStay]]) -> list[float]:
    """Measured minus true duration of each pair."""
    out: list[float] = []
    for (_zone, start, end), t in pairs:
        true = t.duration_s
        if true is not None:
            out.append((end - start) - true)
    return out
