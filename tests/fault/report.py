"""The fault run's report as lines of text."""

from tests.fault.harness import FaultReport, Sample


def report_lines(report: FaultReport) -> list[str]:
    """Return the counts of a report as aligned lines of text."""
    c = report.counts
    kills = sum(report.kills.values())
    return [
        f"accepted messages      {c.accepted} (unconfirmed {report.unconfirmed}, "
        f"publish retries {report.publish_retries})",
        f"stored                 directives {c.directives_stored}, leads {c.leads_stored} "
        f"({c.leads_folded} folded into an open task)",
        f"tasks                  {c.tasks}",
        f"lost or doubled        messages missing {c.missing_messages}, stored twice "
        f"{c.messages_stored_twice}, without task {c.records_without_task}, "
        f"tasks twice {c.tasks_twice}, second open tasks about a subject {c.open_tasks_twice}",
        f"notifications          {c.notifications}, delivered {c.delivered}, "
        f"Bot API sends {c.bot_api_sends}",
        f"notification problems  unpublished {c.unpublished_outbox}, undelivered "
        f"{c.missing_deliveries}, not on server {c.missing_on_server}, "
        f"not_delivered {c.not_delivered}",
        f"duplicate sends        {c.duplicate_sends} (kills {kills}, at most one each)",
        *(f"  duplicate: {example}" for example in c.duplicate_examples),
        f"escalation steps       due {c.steps_due}, fired {c.steps_fired}, "
        f"missing {c.steps_missing}, twice {c.steps_twice}",
        f"kills                  {report.kills}",
        f"unplanned exits        {report.unplanned_exits}",
        f"timing                 sending {report.send_seconds} s, "
        f"quiet {report.quiet_seconds} s later",
        *(sample_line(sample) for sample in report.samples),
        "result                 " + ("OK" if report.ok else "LOSS: " + "; ".join(c.losses)),
    ]


def sample_line(sample: Sample) -> str:
    return (
        f"sample {sample.at_s:>7.0f} s  deliveries {sample.deliveries:>5}  latency "
        f"p50/p95/max {sample.latency_p50_s}/{sample.latency_p95_s}/{sample.latency_max_s} s  "
        f"RSS MiB {sample.rss_mib}"
    )
