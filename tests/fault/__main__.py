"""`python -m tests.fault`: run the fault harness and print its counts; exit 1 on any loss.

python -m tests.fault                  # short: 500 messages, one kill of each kind
python -m tests.fault --full           # 10,000 messages at 50 a second, three kills of each
python -m tests.fault --soak 30        # 30 minutes at 20 a second, RSS and latency each minute
"""

import argparse
import asyncio
import logging
import sys
from pathlib import Path

from tests.fault.harness import DEFAULT_POSTGRES, FaultConfig, run_fault
from tests.fault.report import report_lines

FULL = {"messages": 10_000, "rate": 50.0, "kills_each": 3}
SOAK_RATE = 20.0
DESCRIPTION = "Kill and restart components while traffic flows; exit 1 on any loss."


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tests.fault", description=DESCRIPTION)
    parser.add_argument("--full", action="store_true", help="10,000 messages at 50/s, 3 kills each")
    parser.add_argument("--soak", type=float, metavar="MINUTES", help="run this long at --rate")
    parser.add_argument("--messages", type=int, help="messages to send (default 500)")
    parser.add_argument("--rate", type=float, help="messages a second (default 20)")
    parser.add_argument("--kills", type=int, help="kills of each kind (default 1)")
    parser.add_argument("--database", choices=["postgresql", "sqlite"], default="postgresql")
    parser.add_argument("--postgres", default=DEFAULT_POSTGRES, help="admin URL of PostgreSQL")
    parser.add_argument("--sample-every", type=float, default=60.0, help="seconds between samples")
    parser.add_argument("--keep", type=Path, help="keep logs and data in this folder")
    parser.add_argument("--json", type=Path, help="also write the report as JSON here")
    parser.add_argument(
        "--quiet-timeout",
        type=float,
        help="seconds to wait after sending for every check to pass (default 600, 900 with "
        "--full or --soak)",
    )
    return parser.parse_args(argv)


def config_from(args: argparse.Namespace) -> FaultConfig:
    values: dict[str, float | int] = dict(FULL) if args.full else {}
    if args.soak:
        rate = args.rate or SOAK_RATE
        values.update(rate=rate, messages=int(rate * args.soak * 60))
    for key in ("messages", "rate"):
        if getattr(args, key) is not None:
            values[key] = getattr(args, key)
    if args.kills is not None:
        values["kills_each"] = args.kills
    return FaultConfig(
        messages=int(values.get("messages", 500)),
        rate=float(values.get("rate", 20.0)),
        kills_each=int(values.get("kills_each", 1)),
        database=args.database,
        postgres_admin_url=args.postgres,
        sample_every_s=args.sample_every,
        soak_minutes=args.soak or 0.0,
        quiet_timeout_s=args.quiet_timeout or (900.0 if args.full or args.soak else 600.0),
        keep_dir=args.keep,
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    report = asyncio.run(run_fault(config_from(args)))
    print("\n".join(report_lines(report)))
    if args.json:
        args.json.write_text(report.to_json())
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
