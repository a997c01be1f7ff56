"""`make bench`: the raw Kafka pipe and every scenario, in one run, on the same broker
and database; reports rates and their ratio to the raw pipe.

Each system under test (the raw pipe, each service runtime) runs in a child process of
its own, as it would in production; this process produces the inputs and reads the
outputs. Throughput: N outputs over the time from the first to the last output.
Latency: inputs offered at --rate per second, output arrival minus input send time.

    make bench                                  # 50,000 events per scenario, 100,000 timers
    make bench BENCH_ARGS="--events 10000 --only handoff"
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import time
import traceback
from pathlib import Path
from typing import Any

from kauppa.servicekit import benchmarking as b
from kauppa.servicekit.bench import inputs as kit_inputs
from kauppa.servicekit.embedded import provide_infrastructure
from kauppa.servicekit.settings import KafkaSettings, MongoSettings

ROOT = Path(__file__).resolve().parents[1]
MODULES = (
    "kauppa.servicekit.bench",
    "kauppa.handoff.bench",
    "kauppa.closing.bench",
    "kauppa.confirmation.bench",
    "kauppa.followup.bench",
    "kauppa.dashboard.bench",
)


def bench_modules() -> list[Any]:
    found = []
    for name in MODULES:
        try:
            found.append(importlib.import_module(name))
        except ModuleNotFoundError:
            continue
    return found


def show(results: list[b.Measurement], baseline: b.Measurement) -> None:
    print()
    print(
        f"{'scenario':58} {'events':>8} {'events/s':>10} {'ratio':>6} {'p50 ms':>8} "
        f"{'p99 ms':>8} {'CPU us/ev':>10}"
    )
    for r in results:
        ratio = r.rate / baseline.rate if baseline.rate and r.events else float("nan")
        cpu = r.cpu_us_per_event
        print(
            f"{r.name[:58]:58} {r.events:>8} {r.rate:>10,.0f} {ratio:>6.2f} "
            f"{r.latency_ms.get('p50', float('nan')):>8} {r.latency_ms.get('p99', float('nan')):>8}"
            f" {cpu if cpu is not None else float('nan'):>10.1f}"
        )
        for key, value in r.extra.items():
            print(f"{'':60}{key}: {value}")


async def run_all(infra: Any, args: argparse.Namespace) -> None:
    kafka = KafkaSettings(
        bootstrap_servers=infra.kafka_bootstrap_servers,
        profile=infra.profile,
        auto_offset_reset="latest",
    )
    mongo = MongoSettings(uri=infra.mongodb_uri)
    print(f"raw pipe: {args.events} events ...", flush=True)
    baseline = await b.run_raw_pipe(
        kafka, mongo, kit_inputs, args.events, latency_events=args.latency_events, rate=args.rate
    )
    print(f"  {baseline.rate:,.0f} events/s", flush=True)
    results = [baseline]
    for module in bench_modules():
        for index, scenario in enumerate(getattr(module, "SCENARIOS", [])):
            if args.only and args.only not in scenario.name:
                continue
            print(f"{scenario.name}: {args.events} events ...", flush=True)
            started = time.perf_counter()
            try:
                result = await b.run_scenario(
                    module.__name__,
                    index,
                    kafka,
                    mongo,
                    args.events,
                    latency_events=args.latency_events,
                    rate=args.rate,
                )
            except Exception as exc:  # report and go on with the next scenario
                traceback.print_exc()
                result = b.Measurement(scenario.name, 0, 0, extra={"FAILED": repr(exc)})
            print(
                f"  {result.rate:,.0f} events/s ({time.perf_counter() - started:.0f} s)",
                flush=True,
            )
            results.append(result)
        if hasattr(module, "lateness_bench") and (not args.only or args.only in module.__name__):
            print(f"{module.__name__}.lateness_bench: {args.timer_customers} customers ...")
            extra = await module.lateness_bench(kafka, mongo, args.timer_customers)
            results.append(b.Measurement(f"{module.__name__} timers", 0, 0, extra=extra))
    show(results, baseline)
    out = ROOT / ".local" / "bench" / "results.json"
    out.write_text(
        json.dumps(
            [
                {
                    "name": r.name,
                    "events": r.events,
                    "rate": r.rate,
                    "ratio": r.rate / baseline.rate if baseline.rate and r.events else None,
                    "latency_ms": r.latency_ms,
                    "cpu_us_per_event": r.cpu_us_per_event,
                    "extra": r.extra,
                }
                for r in results
            ],
            indent=2,
            default=str,
        )
    )
    print(f"\nresults written to {out.relative_to(ROOT)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--latency-events", type=int, default=3_000)
    parser.add_argument("--rate", type=float, default=1_000.0)
    parser.add_argument("--only", default="", help="run scenarios whose name contains this")
    parser.add_argument("--timer-customers", type=int, default=100_000)
    args = parser.parse_args()
    with provide_infrastructure(ROOT / ".local" / "bench") as infra:
        print(infra.describe(), flush=True)
        asyncio.run(run_all(infra, args))


if __name__ == "__main__":
    main()
