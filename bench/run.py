"""`make bench`: the raw Kafka pipe and every scenario, in one run, on the same broker
and database; reports rates and their ratio to the raw pipe.

    make bench                          # 50,000 events per scenario
    make bench BENCH_ARGS="--events 10000 --only kit"
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from kauppa.servicekit import benchmarking as b
from kauppa.servicekit.embedded import provide_infrastructure
from kauppa.servicekit.settings import KafkaSettings, MongoSettings
from kit_service import SCENARIO as KIT_SCENARIO

ROOT = Path(__file__).resolve().parents[1]
SERVICES = ("handoff", "closing", "confirmation", "followup", "dashboard")


def service_modules() -> list[Any]:
    found = []
    for name in SERVICES:
        try:
            found.append(importlib.import_module(f"kauppa.{name}.bench"))
        except ModuleNotFoundError:
            continue
    return found


async def raw_pipe(kafka: KafkaSettings, n: int, latency_events: int, rate: float) -> b.Measurement:
    src, dst = "bench.raw.in", "bench.raw.out"
    await b.ensure_bench_topics(kafka.bootstrap_servers, src, dst)
    pipe = b.RawPipe(kafka, src, dst)

    inputs = KIT_SCENARIO.make_inputs(n)

    async def start() -> None:
        nonlocal pipe
        pipe = b.RawPipe(kafka, src, dst)
        await pipe.start()
        while not pipe.consumer.assignment():
            await asyncio.sleep(0.05)
        for tp in pipe.consumer.assignment():
            await pipe.consumer.position(tp)

    async def stop() -> None:
        await pipe.stop()

    seconds = await b.throughput(
        kafka.bootstrap_servers, start, stop, inputs, dst, None, input_topic=src
    )
    result = b.Measurement("raw aiokafka consume -> produce (baseline)", n, seconds)
    if latency_events:
        result.latency_ms = await b.latency(
            kafka.bootstrap_servers,
            start,
            stop,
            KIT_SCENARIO.make_inputs(latency_events),
            dst,
            None,
            rate,
            input_topic=src,
        )
    return result


def show(results: list[b.Measurement], baseline: b.Measurement) -> None:
    print()
    print(
        f"{'scenario':58} {'events':>8} {'events/s':>10} {'ratio':>6} {'p50 ms':>8} {'p99 ms':>8}"
    )
    for r in results:
        ratio = r.rate / baseline.rate if baseline.rate else 0
        print(
            f"{r.name[:58]:58} {r.events:>8} {r.rate:>10,.0f} {ratio:>6.2f} "
            f"{r.latency_ms.get('p50', float('nan')):>8} {r.latency_ms.get('p99', float('nan')):>8}"
        )
        for key, value in r.extra.items():
            print(f"{'':60}{key}: {value}")


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


async def run_all(infra: Any, args: argparse.Namespace) -> None:
    if True:
        kafka = KafkaSettings(
            bootstrap_servers=infra.kafka_bootstrap_servers,
            profile=infra.profile,
            auto_offset_reset="latest",
        )
        mongo = MongoSettings(uri=infra.mongodb_uri)
        print(f"raw pipe: {args.events} events ...", flush=True)
        baseline = await raw_pipe(kafka, args.events, args.latency_events, args.rate)
        print(f"  {baseline.rate:,.0f} events/s", flush=True)
        results = [baseline]
        scenarios = [KIT_SCENARIO]
        extras = []
        for module in service_modules():
            scenarios += list(getattr(module, "SCENARIOS", []))
            if hasattr(module, "lateness_bench"):
                extras.append(module)
        for scenario in scenarios:
            if args.only and args.only not in scenario.name:
                continue
            print(f"{scenario.name}: {args.events} events ...", flush=True)
            started = time.perf_counter()
            result = await b.run_scenario(
                scenario,
                kafka,
                mongo,
                args.events,
                latency_events=args.latency_events,
                rate=args.rate,
            )
            print(
                f"  {result.rate:,.0f} events/s ({time.perf_counter() - started:.0f} s)",
                flush=True,
            )
            results.append(result)
        for module in extras:
            if args.only and args.only not in module.__name__:
                continue
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
                        "ratio": r.rate / baseline.rate if baseline.rate else None,
                        "latency_ms": r.latency_ms,
                        "extra": r.extra,
                    }
                    for r in results
                ],
                indent=2,
                default=str,
            )
        )
        print(f"\nresults written to {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
