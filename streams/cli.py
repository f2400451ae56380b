"""The `servicepulse` command line."""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from servicepulse.streams.settings import Settings, SettingsError, load_settings

cli = typer.Typer(
    help="servicepulse: customer-feedback stream processor for public-service agencies.",
    no_args_is_help=True,
    add_completion=False,
)
# soft_wrap: an error stays one line in a supervisor's log, whatever the terminal width.
err_console = Console(stderr=True, soft_wrap=True)


def _settings_or_exit() -> Settings:
    try:
        return load_settings()
    except SettingsError as err:
        err_console.print(f"[red]error:[/red] {err}")
        raise typer.Exit(2) from None


@cli.command()
def broker(
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1 to listen and advertise on")] = 9092,
    storage: Annotated[
        str,
        typer.Option(
            help="'memory' (a restart starts empty), or a directory: topics, records and "
            "committed offsets kept there through a SeaweedFS S3 server on 127.0.0.1 "
            "(needs servicepulse[durable])"
        ),
    ] = "memory",
) -> None:
    """Run the embedded Tansu Kafka broker (memory or directory storage) in the foreground."""
    from servicepulse.devtools.broker import BrokerStartError, EmbeddedBroker

    directory = None if storage == "memory" else Path(storage).resolve()
    embedded = EmbeddedBroker(port, quiet=False, storage=directory)

    def stop(signum: int, frame: object) -> None:
        # Unwinds out of start() or wait(): stopping from inside the handler would wait on
        # the Popen whose wait() it interrupted, and that deadlocks.
        raise _BrokerStop

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    code = 0
    try:
        embedded.start()
        kept = "in memory" if directory is None else f"in {directory}"
        err_console.print(
            f"Tansu broker listening on {embedded.bootstrap}, storage {kept} (Ctrl-C stops it)"
        )
        code = embedded.wait()
    except BrokerStartError as err:
        err_console.print(f"[red]error:[/red] {err}")
        code = 1
    except _BrokerStop:
        pass
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        embedded.stop()  # the S3 store too, when Tansu exits by itself
    raise typer.Exit(code)


class _BrokerStop(Exception):
    pass


@cli.command()
def worker() -> None:
    """Run a Faust worker (settings from SERVICEPULSE_* environment variables).

    Creates the topics it needs if absent, serves /metrics on SERVICEPULSE_WEB_PORT.
    """
    settings = _settings_or_exit()
    from servicepulse.processors.standards import StandardsFileError
    from servicepulse.streams.app import MissingPseudonymKey
    from servicepulse.streams.startup import StartupError
    from servicepulse.streams.worker import run_worker

    try:
        run_worker(settings)
    except StartupError as err:
        err_console.print(f"[red]error:[/red] {err}")
        raise typer.Exit(err.exit_code) from None
    except StandardsFileError as err:
        err_console.print(f"[red]error:[/red] standards file: {err}")
        raise typer.Exit(2) from None
    except MissingPseudonymKey as err:
        err_console.print(f"[red]error:[/red] {err}")
        raise typer.Exit(2) from None


@cli.command()
def publish(
    file: Annotated[str, typer.Argument(help="JSON Lines file of events, or - for stdin")],
    event_type: Annotated[
        str | None,
        typer.Option(
            "--type",
            help="feedback or interaction; default: from CloudEvents type or the event's fields",
        ),
    ] = None,
) -> None:
    """Validate events from a JSON Lines file and publish the valid ones to their input topic."""
    from servicepulse.schemas.models import FEEDBACK_TYPE, INTERACTION_TYPE
    from servicepulse.streams.publish import publish_lines

    settings = _settings_or_exit()
    types = {"feedback": FEEDBACK_TYPE, "interaction": INTERACTION_TYPE, None: None}
    if event_type not in types:
        err_console.print("[red]error:[/red] --type must be feedback or interaction")
        raise typer.Exit(2)
    if file == "-":
        lines = list(sys.stdin.buffer)
    else:
        path = Path(file)
        if not path.is_file():
            err_console.print(f"[red]error:[/red] {file}: no such file")
            raise typer.Exit(2)
        lines = path.read_bytes().splitlines()
    summary = asyncio.run(publish_lines(lines, settings, types[event_type], total=len(lines)))
    for number, reason in summary.rejected:
        err_console.print(f"line {number}: rejected: {reason}")
    topics = ", ".join(f"{count} to {topic}" for topic, count in summary.by_topic.items())
    err_console.print(
        f"accepted {summary.accepted} ({topics or 'none'}), rejected {len(summary.rejected)}"
    )
    raise typer.Exit(1 if summary.rejected else 0)


@cli.command()
def demo(
    duration: Annotated[
        float | None, typer.Option(help="Seconds to run; default until Ctrl-C")
    ] = None,
    rate: Annotated[float, typer.Option(help="Generated events per second")] = 50.0,
    port: Annotated[int, typer.Option(help="Embedded broker port (0: any free port)")] = 0,
    web_port: Annotated[int, typer.Option(help="Worker /metrics port")] = 6066,
) -> None:
    """Embedded broker + worker + realistic generator, with a live terminal summary."""
    from servicepulse.devtools.demo import run_demo

    raise typer.Exit(run_demo(duration=duration, rate=rate, port=port, web_port=web_port))


@cli.command()
def rules(
    standards: Annotated[
        Path, typer.Option(help="Standards YAML file the error budgets come from")
    ] = Path("deploy/standards.example.yaml"),
    out: Annotated[
        Path, typer.Option(help="Directory for servicepulse.rules.yml and prometheus.yml")
    ] = Path("deploy/prometheus"),
    runbook_url: Annotated[
        str,
        typer.Option(
            help="Where deploy/README.md (the runbook) is served; alerts link "
            "to its headings, e.g. <url>#servicepulseerrorbudgetburn"
        ),
    ] = "https://servicepulse.dev/runbook",
    long_interval: Annotated[
        str, typer.Option(help="Evaluation interval of the long-window and 30-day SLO groups")
    ] = "1m",
    watermark_stalled_after: Annotated[
        str,
        typer.Option(
            help="A stage's watermark unchanged this long while its inputs are "
            "not idle raises ServicePulseWatermarkStalled"
        ),
    ] = "10m",
    inputs_idle_for: Annotated[
        str, typer.Option(help="Every input partition idle this long raises ServicePulseInputsIdle")
    ] = "30m",
) -> None:
    """Generate Prometheus recording rules, burn-rate alerts and prometheus.yml."""
    from servicepulse.processors.standards import StandardsFileError
    from servicepulse.rulegen.prometheus_rules import RuleOptions
    from servicepulse.rulegen.rules_files import write_rules

    options = RuleOptions(
        runbook_url=runbook_url, long_interval=long_interval,
        watermark_stalled_after=watermark_stalled_after, inputs_idle_for=inputs_idle_for,
    )  # fmt: skip
    try:
        written = write_rules(standards, out, options)
    except StandardsFileError as err:
        err_console.print(f"[red]error:[/red] {err}")
        raise typer.Exit(2) from None
    for path in written:
        err_console.print(f"wrote {path}")


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
