"""`make bench`: the raw Kafka pipe and every scenario, in one run, on the same broker
and database; reports rates and their ratio to the raw pipe.

Every scenario runs right after a raw-pipe run of its own and the pair is repeated
(--rounds, default 3); the median ratio is reported, with every round's figures. A
shared machine's speed drifts from one minute to the next; pairing and the median keep
that drift out of the ratio.

Each system under test (the raw pipe, each service runtime) runs in a child process of
its own, as it would in production; this process produces the inputs and reads the
outputs. Throughput: N outputs over the time from the first to the last output.
Latency: inputs offered at --rate per second, output arrival minus input send time.

    make bench                                  # 50,000 events per scenario, 100,000 timers
    python -m kauppa.bench --only kit           # the same, without make
    make bench BENCH_ARGS="--events 10000 --only handoff --rounds 1"
    make bench BENCH_ARGS="--only closing --replicas 2"   # two replicas, one group
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import importlib
import json
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kauppa.bench import harness as b
from kauppa.devkit.embedded import provide_infrastructure
from kauppa.servicekit.settings import KafkaSettings, MongoSettings

ROOT = Path(__file__).resolve().parents[4]  # bench/src/kauppa/bench/run.py: the repository
MODULES = tuple(
    f"kauppa.bench.scenarios.{name}"
    for name in ("kit", "handoff", "closing", "confirmation", "followup", "webhooks", "dashboard")
)


def bench_modules() -> list[Any]:
    """Every scenario module; one that no longer imports fails the run loudly."""
    return [importlib.import_module(name) for name in MODULES]


@dataclass
class Row:
    """One scenario over all rounds: each round pairs it with a raw-pipe run just before
    it, so a ratio compares two runs on the same machine minutes apart at most."""

    name: str
    runs: list[b.Measurement] = field(default_factory=list)
    baselines: list[b.Measurement] = field(default_factory=list)

    def _paired(self) -> list[tuple[int, float]]:
        """(round, ratio) of the rounds where both the scenario and its raw pipe ran."""
        if not self.baselines:
            return []
        return [
            (k, r.rate / raw.rate)
            for k, (r, raw) in enumerate(zip(self.runs, self.baselines, strict=True))
            if raw.rate and r.events
        ]

    def ratios(self) -> list[float]:
        return [ratio for _, ratio in self._paired()]

    def median_run(self) -> tuple[b.Measurement, float | None]:
        """The round with the median ratio (the median rate for the raw pipe itself)."""
        paired = sorted(self._paired(), key=lambda p: p[1])
        if paired:
            i, ratio = paired[len(paired) // 2]
        else:
            order = sorted(range(len(self.runs)), key=lambda k: self.runs[k].rate)
            i, ratio = order[len(order) // 2], None
        run = self.runs[i]
        if not run.latency_ms:  # latency is measured in the first round only
            run.latency_ms = next((r.latency_ms for r in self.runs if r.latency_ms), {})
        return run, ratio


def show(rows: list[Row]) -> None:
    print()
    print(
        f"{'scenario':58} {'events':>8} {'events/s':>10} {'ratio':>6} {'p50 ms':>8} "
        f"{'p99 ms':>8} {'CPU us/ev':>10}"
    )
    for row in rows:
        r, ratio = row.median_run()
        cpu = r.cpu_us_per_event
        print(
            f"{r.name[:58]:58} {r.events:>8} {r.rate:>10,.0f} "
            f"{ratio if ratio is not None else (1.0 if r.events else float('nan')):>6.2f} "
            f"{r.latency_ms.get('p50', float('nan')):>8} {r.latency_ms.get('p99', float('nan')):>8}"
            f" {cpu if cpu is not None else float('nan'):>10.1f}"
        )
        if len(row.runs) > 1 and r.events:
            rates = ", ".join(f"{x.rate:,.0f}" for x in row.runs)
            print(f"{'':60}events/s by round: {rates}")
            if row.ratios():
                raw = ", ".join(f"{x.rate:,.0f}" for x in row.baselines)
                print(f"{'':60}its raw pipe by round: {raw}")
                print(f"{'':60}ratio by round: {', '.join(f'{x:.2f}' for x in row.ratios())}")
        for key, value in r.extra.items():
            print(f"{'':60}{key}: {value}")


async def run_all(infra: Any, args: argparse.Namespace) -> None:
    kafka = KafkaSettings(
        bootstrap_servers=infra.kafka_bootstrap_servers,
        profile=infra.profile,
        auto_offset_reset="latest",
    )
    mongo = MongoSettings(uri=infra.mongodb_uri)
    raw_row = Row("raw aiokafka consume -> produce (baseline, every run)")
    rows: dict[str, Row] = {}
    timers: list[Row] = []
    modules = bench_modules()
    selected = [
        (module, index, scenario)
        for module in modules
        for index, scenario in enumerate(getattr(module, "SCENARIOS", []))
        if not args.only or args.only in scenario.name
    ]
    timer_modules = [
        m
        for m in modules
        if hasattr(m, "lateness_bench") and (not args.only or args.only in m.__name__)
    ]
    if not selected and not timer_modules:
        names = [s.name for m in modules for s in getattr(m, "SCENARIOS", [])]
        raise SystemExit(
            f"no scenario's name contains {args.only!r}; the scenarios: " + "; ".join(names)
        )
    # Each scenario's raw pipe moves that scenario's own input records (a ~750-byte lead
    # costs the raw pipe more than a ~220-byte delivery), so a ratio compares the same
    # bytes through the same broker. The raw pipe keeps no state: every round can move
    # the same records, generated once per scenario.
    raw_inputs = {s.name: functools.lru_cache(maxsize=1)(s.make_inputs) for _, _, s in selected}
    for round_no in range(args.rounds):
        latency_events = args.latency_events if round_no == 0 else 0  # latency: once
        print(f"round {round_no + 1} of {args.rounds}", flush=True)
        for module, index, scenario in selected:
            print(f"  raw pipe: {args.events} events ...", end=" ", flush=True)
            baseline = await b.run_raw_pipe(
                kafka,
                mongo,
                raw_inputs[scenario.name],
                args.events,
                latency_events=latency_events if not raw_row.runs else 0,
                rate=args.rate,
            )
            raw_row.runs.append(baseline)
            print(f"{baseline.rate:,.0f} events/s", flush=True)
            print(f"  {scenario.name}: {args.events} events ...", end=" ", flush=True)
            started = time.perf_counter()
            try:
                result = await b.run_scenario(
                    module.__name__,
                    index,
                    kafka,
                    mongo,
                    args.events,
                    latency_events=latency_events,
                    rate=args.rate,
                    replicas=args.replicas,
                )
            except Exception as exc:  # report and go on with the next scenario
                traceback.print_exc()
                result = b.Measurement(scenario.name, 0, 0, extra={"FAILED": repr(exc)})
            row = rows.setdefault(scenario.name, Row(scenario.name))
            row.runs.append(result)
            row.baselines.append(baseline)
            paired = result.rate / baseline.rate if baseline.rate else float("nan")
            print(
                f"{result.rate:,.0f} events/s, ratio {paired:.2f} "
                f"({time.perf_counter() - started:.0f} s)",
                flush=True,
            )
    for module in timer_modules:
        print(f"{module.__name__}.lateness_bench: {args.timer_customers} customers ...")
        extra = await module.lateness_bench(kafka, mongo, args.timer_customers)
        name = f"{module.__name__} timers"
        timers.append(Row(name, [b.Measurement(name, 0, 0, extra=extra)]))
    all_rows = [raw_row, *rows.values(), *timers]
    show(all_rows)
    out = ROOT / ".local" / "bench" / "results.json"
    report = []
    for row in all_rows:
        r, ratio = row.median_run()
        report.append(
            {
                "name": r.name,
                "events": r.events,
                "rate": r.rate,
                "ratio": ratio if ratio is not None else (1.0 if row is raw_row else None),
                "ratio_by_round": row.ratios(),
                "rate_by_round": [x.rate for x in row.runs],
                "raw_rate_by_round": [x.rate for x in row.baselines],
                "latency_ms": r.latency_ms,
                "cpu_us_per_event": r.cpu_us_per_event,
                "extra": r.extra,
            }
        )
    out.write_text(json.dumps(report, indent=2, default=str))
    print(f"\nresults written to {out.relative_to(ROOT)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--latency-events", type=int, default=3_000)
    parser.add_argument("--rate", type=float, default=1_000.0)
    parser.add_argument("--only", default="", help="run scenarios whose name contains this")
    parser.add_argument("--timer-customers", type=int, default=100_000)
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="repeat every scenario, each time right after a raw-pipe run; the median "
        "ratio is reported (a shared machine's speed drifts between minutes)",
    )
    parser.add_argument(
        "--replicas",
        type=int,
        default=1,
        choices=range(1, 4),
        metavar="{1,2,3}",
        help="run each scenario as this many replicas in one consumer group (the input "
        "topics have 3 partitions); the raw pipe stays one process",
    )
    args = parser.parse_args()
    with provide_infrastructure(ROOT / ".local" / "bench") as infra:
        print(infra.describe(), flush=True)
        asyncio.run(run_all(infra, args))


if __name__ == "__main__":
    main()
