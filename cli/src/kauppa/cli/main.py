"""kauppa: run the whole system locally, send events, inspect dead letters.

kauppa run                 infrastructure + every service + mail sink (Ctrl-C stops all)
kauppa status              readiness of each running service
kauppa emit FILE.json      validate a contract event and send it to Kafka
kauppa dlq list SERVICE    show a service's dead letters
kauppa dlq replay SERVICE  re-publish them to their origin topics (--org, --force)
kauppa token ROLE          print a local access token (--org ORG: bound to ORG)
kauppa routing what-if F   replay recent leads against a proposed roster (JSON/YAML)
kauppa demo                play a realistic scenario against a running `kauppa run`
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from kauppa.cli.system import (
    MAIL_UI_PORT,
    PID_FILE,
    RUN_DIR,
    SERVICES,
    SMTP_PORT,
    STATE_FILE,
    NotReady,
    port_taken,
    running_pid,
    spawn_service,
    wait_ready,
    write_run_state,
)
from rich.console import Console
from rich.table import Table

app = typer.Typer(help=__doc__, no_args_is_help=True, add_completion=False)
dlq_app = typer.Typer(help="Dead letters: list and replay.", no_args_is_help=True)
app.add_typer(dlq_app, name="dlq")
routing_app = typer.Typer(help="Routing: what-if on a proposed roster.", no_args_is_help=True)
app.add_typer(routing_app, name="routing")
console = Console()


def _settings() -> Any:
    from kauppa.servicekit.settings import ServiceSettings

    return ServiceSettings()


def local_tokens() -> dict[str, str]:
    from kauppa.servicekit.auth import issue_token

    s = _settings()
    return {
        "ops": issue_token(s, "ops-local", ["ops"]),
        "admin": issue_token(s, "admin-local", ["admin"]),
        "seller": issue_token(s, "seller-1", ["seller"]),
        "intake": issue_token(s, "upstream-local", ["intake"]),
    }


def _infra_env() -> dict[str, str]:
    if STATE_FILE.exists():
        state = json.loads(STATE_FILE.read_text())
        return {
            "KAFKA_BOOTSTRAP_SERVERS": state["kafka_bootstrap_servers"],
            "MONGODB_URI": state["mongodb_uri"],
            "KAUPPA_PROFILE": state.get("profile", "local"),
        }
    return {}


@app.command()
def run(
    clock_speed: Annotated[
        float,
        typer.Option(
            help="Run the business clock this many times faster, so next-morning "
            "confirmations and feedback calls happen in minutes (1 = real time)."
        ),
    ] = 360.0,
) -> None:
    """Start the whole system on embedded infrastructure (or the cluster named by
    KAFKA_BOOTSTRAP_SERVERS / MONGODB_URI) and keep it running until Ctrl-C."""
    from kauppa.devkit.embedded.infrastructure import resolve
    from kauppa.devkit.embedded.servers import InfrastructureError
    from kauppa.servicekit.kafka_admin import create_topics

    pid = running_pid()
    if pid is not None:
        console.print(
            f"[red]Kauppa is already running (pid {pid}).[/] Stop it with Ctrl-C in "
            f"its terminal, or `kill {pid}`."
        )
        raise typer.Exit(1)
    services = [s for s in SERVICES if s.available()]
    wanted_ports = [s.port for s in services] + [SMTP_PORT, MAIL_UI_PORT]
    taken = [p for p in wanted_ports if port_taken(p)]
    if taken:
        console.print(
            f"[red]Port(s) {', '.join(map(str, taken))} are in use.[/] Kauppa needs "
            f"127.0.0.1 ports {', '.join(map(str, wanted_ports))}; stop what uses them."
        )
        raise typer.Exit(1)

    RUN_DIR.mkdir(parents=True, exist_ok=True)
    PID_FILE.write_text(str(os.getpid()))
    children: list[tuple[str, subprocess.Popen[bytes]]] = []
    infra = None

    def shutdown(*_: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, shutdown)
    try:
        with console.status("Starting Kafka-protocol broker and MongoDB ..."):
            try:
                infra = resolve(RUN_DIR / "infra")
            except InfrastructureError as exc:
                console.print(f"[red]Could not start the infrastructure:[/] {exc}")
                raise typer.Exit(1) from exc
            asyncio.run(create_topics(infra.kafka_bootstrap_servers))
        console.print(f"[green]✓[/] infrastructure ({infra.origin})")
        env = {**infra.env(), "KAUPPA_CLOCK_SPEED": str(clock_speed)}
        if clock_speed != 1.0:
            env["KAUPPA_CLOCK_EPOCH"] = str(time.time())
            env["KAUPPA_CLOCK_START"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        write_run_state(
            STATE_FILE, infra, env, services, SMTP_PORT, f"http://127.0.0.1:{MAIL_UI_PORT}"
        )
        env.update(
            {
                "CONFIRMATION_SMTP_HOST": "127.0.0.1",
                "CONFIRMATION_SMTP_PORT": str(SMTP_PORT),
                "FOLLOWUP_SMTP_HOST": "127.0.0.1",
                "FOLLOWUP_SMTP_PORT": str(SMTP_PORT),
            }
        )
        logs = RUN_DIR / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        sink = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "kauppa.cli.mailsink",
                "--smtp-port",
                str(SMTP_PORT),
                "--http-port",
                str(MAIL_UI_PORT),
            ],
            stdout=(logs / "mailsink.log").open("ab"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        children.append(("mail sink", sink))
        for spec in services:
            children.append((spec.name, spawn_service(spec, env, logs)))
        _wait_ready(services, children)
        _print_welcome(infra.describe(), services, logs)
        while True:
            for name, proc in children:
                if proc.poll() is not None:
                    console.print(
                        f"[red]{name} exited with {proc.returncode}[/]; see "
                        f"{logs / (name.split()[0] + '.log')}. Stopping everything."
                    )
                    raise KeyboardInterrupt
            time.sleep(1)
    except KeyboardInterrupt:
        console.print("\nStopping ...")
    finally:
        for _name, proc in reversed(children):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.time() + 25
        for _name, proc in children:
            try:
                proc.wait(timeout=max(deadline - time.time(), 0.1))
            except subprocess.TimeoutExpired:
                proc.kill()
        if infra is not None:
            infra.stop()
        PID_FILE.unlink(missing_ok=True)
        STATE_FILE.unlink(missing_ok=True)
        console.print("[green]Stopped; nothing left running.[/]")


def _wait_ready(services: list[Any], children: list[tuple[str, subprocess.Popen[bytes]]]) -> None:
    names = {s.name for s in services}
    with console.status("Waiting for the services to be ready ...") as status:
        try:
            wait_ready(
                services,
                {name: proc for name, proc in children if name in names},
                on_wait=lambda spec: status.update(f"Waiting for {spec.name} ..."),
                on_ready=lambda spec: console.print(f"[green]✓[/] {spec.name:13} {spec.url}"),
            )
        except NotReady as exc:
            if exc.exited:
                console.print(
                    f"[red]{exc.name} failed to start[/]; see .local/run/logs/{exc.name}.log"
                )
            else:
                console.print(f"[red]{exc}[/]")
            raise KeyboardInterrupt from exc


def _print_welcome(infra: str, services: list[Any], logs: Path) -> None:
    tokens = local_tokens()
    table = Table(title="Kauppa is running", show_header=True)
    table.add_column("what")
    table.add_column("where")
    for spec in services:
        label = "dashboard" if spec.name == "dashboard" else f"{spec.name} API"
        table.add_row(label, f"{spec.url}/docs" if spec.name != "dashboard" else spec.url)
    table.add_row("mail sink (confirmations)", f"http://127.0.0.1:{MAIL_UI_PORT}")
    table.add_row("logs", str(logs))
    console.print(table)
    console.print(infra)
    speed = json.loads(STATE_FILE.read_text()).get("clock", {}).get("KAUPPA_CLOCK_SPEED", "1")
    if float(speed) != 1.0:
        console.print(
            f"The business clock runs {float(speed):g}x faster (demo); "
            "`make run RUN_ARGS=--clock-speed=1` for real time."
        )
    console.print("\n[bold]Local access tokens[/] (Authorization: Bearer ...):")
    for role, token in tokens.items():
        print(f"  {role:7} {token}", flush=True)  # unwrapped, so it copies whole
    console.print(
        "\n[bold]Send events[/]: `make demo` (or `.venv/bin/kauppa demo`) plays a realistic "
        "scenario;\n  `.venv/bin/kauppa emit event.json` sends one contract event; "
        "`.venv/bin/kauppa status` checks health.\nCtrl-C stops everything."
    )


@app.command()
def status() -> None:
    """Readiness of each service of a running `kauppa run`."""
    table = Table("service", "url", "ready", "checks")
    for spec in SERVICES:
        if not spec.available():
            continue
        try:
            r = httpx.get(f"{spec.url}/health/ready", timeout=2)
            table.add_row(
                spec.name,
                spec.url,
                "yes" if r.status_code == 200 else "NO",
                json.dumps(r.json().get("checks", {})),
            )
        except httpx.HTTPError as exc:
            table.add_row(spec.name, spec.url, "NO", f"not reachable ({type(exc).__name__})")
    console.print(table)


@app.command()
def token(
    role: Annotated[str, typer.Argument(help="seller, ops, admin or intake")],
    org: Annotated[
        str | None,
        typer.Option("--org", help="bind the token to this organisation (a tenant token)"),
    ] = None,
    subject: Annotated[
        str | None, typer.Option("--subject", help="the token's subject (a seller's id)")
    ] = None,
) -> None:
    """Print a local (HS256) access token for a role; with --org, one that acts in that
    organisation only (without it, a platform token that reaches every organisation)."""
    from kauppa.servicekit.auth import issue_token
    from kauppa.servicekit.ids import ID_PATTERN, is_safe_id

    if org is not None and not is_safe_id(org):
        console.print(f"[red]--org must match {ID_PATTERN}[/]")
        raise typer.Exit(2)
    minted = issue_token(_settings(), subject or f"{role}-local", [role], organisation_id=org)
    print(minted, flush=True)  # unwrapped, so it copies whole


@app.command()
def emit(
    file: Annotated[Path, typer.Argument(exists=True, readable=True)],
    event_type: Annotated[
        str | None, typer.Option("--type", help="e.g. LeadQualified (else read from the file)")
    ] = None,
) -> None:
    """Validate a contract event (JSON: the event's fields, or a structured CloudEvent)
    and send it to its topic."""
    from kauppa.contracts import DecodeError, envelope, event_class_by_name, from_structured
    from kauppa.devkit.testing.kafka import publish_envelopes

    try:
        doc = json.loads(file.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        console.print(f"[red]{file} is not JSON:[/] {exc}")
        raise typer.Exit(2) from exc
    if not isinstance(doc, dict):
        console.print(f"[red]{file} must hold one JSON object[/] (an event or a CloudEvent).")
        raise typer.Exit(2)
    try:
        if "specversion" in doc:
            env = from_structured(doc)
        else:
            name = event_type or doc.pop("type", None)
            if not name:
                console.print("[red]Name the event type[/] with --type (e.g. LeadQualified).")
                raise typer.Exit(2)
            cls = event_class_by_name(name)
            if cls is None:
                console.print(
                    f"[red]Unknown event type {name!r}.[/] Known: see contracts/README.md"
                )
                raise typer.Exit(2)
            env = envelope(cls.model_validate(doc), source="kauppa-cli")
    except (DecodeError, ValueError) as exc:
        console.print(f"[red]Not a valid event:[/] {exc}")
        raise typer.Exit(2) from exc
    bootstrap = _infra_env().get("KAFKA_BOOTSTRAP_SERVERS") or os.environ.get(
        "KAFKA_BOOTSTRAP_SERVERS"
    )
    if not bootstrap:
        console.print("[red]No broker:[/] start `make run` or set KAFKA_BOOTSTRAP_SERVERS.")
        raise typer.Exit(1)
    asyncio.run(publish_envelopes(bootstrap, [env]))
    console.print(f"sent {env.type} id={env.id} to {env.topic} (key {env.subject})")


@app.command()
def demo(
    leads: Annotated[int, typer.Option(help="How many qualified leads to send")] = 300,
    seed: Annotated[int, typer.Option(help="Random seed: the same seed plays the same story")] = 7,
    followup_wait: Annotated[
        float,
        typer.Option(help="Wait at most this many real seconds for calls to fall due"),
    ] = 45.0,
    timeout: Annotated[
        float, typer.Option(help="Give up on a step after this many seconds")
    ] = 180.0,
    digest_wait: Annotated[
        float,
        typer.Option(
            help="Wait for a seller's daily digest when it is due within this many real "
            "seconds (0: only say when it goes out)"
        ),
    ] = 300.0,
    state_file: Annotated[
        Path, typer.Option(help="The state file of the running `kauppa run`", hidden=True)
    ] = STATE_FILE,
    summary_json: Annotated[
        Path | None, typer.Option(help="Also write the summary as JSON here")
    ] = None,
) -> None:
    """Play a realistic scenario against a running `kauppa run` (events and HTTP APIs only):
    leads from three sources of different quality, verdicts, deals, closes, confirmations,
    deliveries, feedback calls and a segment campaign."""
    from kauppa.cli.demo import DemoError, run_demo

    try:
        facts = run_demo(console, state_file, leads, seed, followup_wait, timeout, digest_wait)
    except DemoError as exc:
        console.print(f"[red]Demo stopped:[/] {exc}")
        raise typer.Exit(1) from exc
    if summary_json is not None:
        summary_json.write_text(json.dumps(facts, indent=2, default=str))


def _kafka_settings() -> Any:
    from kauppa.servicekit.settings import KafkaSettings

    env = _infra_env()
    if env:
        return KafkaSettings(
            bootstrap_servers=env["KAFKA_BOOTSTRAP_SERVERS"],
            profile=env.get("KAUPPA_PROFILE", "local"),
        )
    return KafkaSettings()


@dlq_app.command("list")
def dlq_list(
    service: str,
    org: Annotated[
        str | None, typer.Option("--org", help="only letters of this organisation")
    ] = None,
) -> None:
    """Show the dead letters of SERVICE."""
    from kauppa.servicekit.deadletters import read_dead_letters

    letters = asyncio.run(read_dead_letters(_kafka_settings(), service))
    if org is not None:
        letters = [d for d in letters if d.organisation_id == org]
    table = Table("partition@offset", "reason", "origin", "type", "dead-lettered at")
    for d in letters:
        s = d.summary()
        table.add_row(
            f"{s['partition']}@{s['offset']}",
            f"{s['reason_kind']}: {s['reason'][:80]}"
            + (
                f" (truncated; full bytes in the database: {s['full_ref']})"
                if s["full_ref"]
                else ""
            ),
            s["origin"],
            str(s["ce_type"]),
            s["dead_lettered_at"],
        )
    console.print(table)
    console.print(f"{len(letters)} dead letter(s)")


@dlq_app.command("replay")
def dlq_replay(
    service: str,
    offset: Annotated[list[str] | None, typer.Option(help="partition@offset; repeatable")] = None,
    reason: Annotated[str | None, typer.Option(help="only this reason kind")] = None,
    org: Annotated[
        str | None, typer.Option("--org", help="only letters of this organisation")
    ] = None,
    force: Annotated[
        bool,
        typer.Option(help="replay letters of erased customers too (brings their data back)"),
    ] = False,
    database: Annotated[
        str | None, typer.Option(help="the service's database (default kauppa_SERVICE)")
    ] = None,
) -> None:
    """Re-publish SERVICE's dead letters (all, or those chosen) to their origin topics.
    A letter naming a customer erased since (customer id, business id or email, checked
    against the erasures on the privacy topic) is refused unless --force, and named.
    A letter stored truncated (too large for the topic) is replayed with its full bytes,
    read from the service's database."""
    from kauppa.servicekit.deadletters import replay_unless_erased
    from kauppa.servicekit.erasures import read_erasures
    from kauppa.servicekit.mongo import connect
    from kauppa.servicekit.settings import MongoSettings

    chosen = set(offset or [])

    def select(d: Any) -> bool:
        if chosen and f"{d.record.partition}@{d.record.offset}" not in chosen:
            return False
        if org is not None and d.organisation_id != org:
            return False
        return not (reason and d.reason_kind != reason)

    uri = _infra_env().get("MONGODB_URI")
    mongo = MongoSettings(uri=uri) if uri else MongoSettings()
    kafka = _kafka_settings()

    async def run() -> Any:
        client = connect(mongo)
        try:
            db = client[database or f"kauppa_{service}"]
            erasures = await read_erasures(kafka)
            return await replay_unless_erased(kafka, service, select, erasures, force=force, db=db)
        finally:
            await client.close()

    done = asyncio.run(run())
    for d, matched in done.refused:
        console.print(
            f"refused {d.record.partition}@{d.record.offset} ({d.ce_type}): it names an "
            f"erased customer (by {', '.join(matched)}); --force replays it anyway"
        )
    console.print(f"replayed {len(done.replayed)} dead letter(s)")
    if done.refused:
        console.print(f"refused {len(done.refused)} dead letter(s) of erased customers")


if __name__ == "__main__":
    app()


def read_proposal(file: Path) -> dict[str, Any]:
    """A what-if proposal from a JSON or YAML file (``.yaml``/``.yml``: YAML)."""
    text = file.read_text()
    try:
        if file.suffix.lower() in (".yaml", ".yml"):
            try:
                import yaml
            except ImportError as exc:
                raise ValueError("reading YAML needs PyYAML; or use JSON") from exc
            doc = yaml.safe_load(text)
        else:
            doc = json.loads(text)
    except Exception as exc:
        raise ValueError(f"{file} is not valid {file.suffix.lstrip('.') or 'JSON'}: {exc}") from exc
    if not isinstance(doc, dict):
        raise ValueError(f"{file} must hold one object (sellers, remove, weeks, ...)")
    return doc


def what_if_tables(result: dict[str, Any]) -> list[Table]:
    """The what-if answer as tables: per seller, then the totals side by side."""
    per_seller = Table(
        "seller", "actual", "proposed", "change", "assignments (actual → proposed)",
        title=f"Leads per seller ({result['leads']} leads, {result['since'][:10]} → "
        f"{result['until'][:10]}{', truncated' if result['truncated'] else ''})",
    )  # fmt: skip
    for row in result["sellers"]:
        delta = row["proposed"] - row["actual"]
        per_seller.add_row(
            row["seller_id"],
            str(row["actual"]),
            str(row["proposed"]),
            f"{delta:+d}" if delta else "",
            f"{row['actual_assignments']} → {row['proposed_assignments']}",
        )
    actual, proposed = result["actual"], result["proposed"]

    def reasons(counts: dict[str, int]) -> str:
        return ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "-"

    totals = Table("", "actual", "proposed", title="Totals")
    for label, key in (
        ("spread (min-max, stdev)", "spread"),
        ("waited for a seller", "queued"),
        ("nobody holds at the end", "waiting"),
        ("SLA reminders", "reminders"),
        ("reassignments", "reassignments"),
    ):
        if key == "spread":
            a, p = actual["spread"], proposed["spread"]
            totals.add_row(
                label,
                f"{a['min']}-{a['max']}, {a['stdev']}",
                f"{p['min']}-{p['max']}, {p['stdev']}",
            )
        else:
            totals.add_row(label, str(actual[key]), str(proposed[key]))
    totals.add_row("why nobody", reasons(actual["waiting_by_reason"]), reasons(
        proposed["waiting_by_reason"]
    ))  # fmt: skip
    totals.add_row("leads that change owner", "", str(result["owner_changed"]))
    return [per_seller, totals]


@routing_app.command("what-if")
def routing_what_if(
    file: Annotated[Path, typer.Argument(exists=True, readable=True, help="JSON or YAML")],
    org: Annotated[
        str | None, typer.Option("--org", help="the organisation (else the file's)")
    ] = None,
    token: Annotated[
        str | None,
        typer.Option(envvar="KAUPPA_TOKEN", help="an ops token (default: a local one)"),
    ] = None,
    url: Annotated[str, typer.Option(help="handoff's URL")] = SERVICES[0].url,
    as_json: Annotated[bool, typer.Option("--json", help="print the answer as JSON")] = False,
) -> None:
    """Replay the organisation's leads of the last weeks against a proposed roster
    (sellers added, changed or removed; see services/handoff/README.md) and show what
    would have changed beside what happened. Writes nothing."""
    from kauppa.servicekit.auth import issue_token

    try:
        proposal = read_proposal(file)
    except ValueError as exc:
        console.print(f"[red]{exc}[/]")
        raise typer.Exit(2) from exc
    if org:
        proposal["organisation_id"] = org
    if token is None:
        token = issue_token(
            _settings(), "ops-local", ["ops"], organisation_id=proposal.get("organisation_id")
        )
    try:
        r = httpx.post(
            f"{url}/what-if",
            json=proposal,
            headers={"Authorization": f"Bearer {token}"},
            timeout=120,
        )
    except httpx.HTTPError as exc:
        console.print(f"[red]handoff not reachable at {url}:[/] {type(exc).__name__}")
        raise typer.Exit(1) from exc
    if r.status_code != 200:
        console.print(f"[red]{r.status_code}:[/] {r.text}")
        raise typer.Exit(1)
    result = r.json()
    if as_json:
        print(json.dumps(result, indent=2))
        return
    if result.get("not_on_roster"):
        console.print(f"[yellow]not on the roster (ignored):[/] {result['not_on_roster']}")
    for table in what_if_tables(result):
        console.print(table)
    for change in result["changes"][:20]:
        to = change["proposed"] or f"nobody ({change['proposed_reason']})"
        console.print(f"  {change['lead_id']}: {change['actual'] or 'nobody'} → {to}")
    console.print(f"replayed in {result['seconds']} s")
