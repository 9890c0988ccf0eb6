"""The comparison run's table and goals: one block per case, one row per side, each judged against the
raw ASGI loop (``asgi``) measured in the same run by the same server."""

from __future__ import annotations

from typing import Any

from bench.common import fmt, ratio

CEILING = "asgi"


def case(results: dict[str, Any], name: str, **match: Any) -> dict[str, Any]:
    """The sides' figures of the case of scenario ``name`` whose figures match (``{}`` when not run)."""
    for row in results.get(name, []):
        first = next(iter(row.values()))
        if all(first.get(key) == value for key, value in match.items()):
            return row
    return {}


def value(row: dict[str, Any], side: str, key: str) -> Any:
    return row.get(side, {}).get(key)


def goals(results: dict[str, Any], plan: Any) -> list[dict[str, Any]]:
    """The goals of the speed issue, each checked against this run (``None``: a side was not run)."""
    echo50 = (results.get("echo") or [{}])[-1]  # the most clients
    big = max(plan.fanout_members)
    saturate = next((r for r in results.get("fanout", []) if value(r, next(iter(r)), "members") == big
                     and value(r, next(iter(r)), "mode") == "saturate"), {})  # fmt: skip
    rate = next((r for r in results.get("fanout", []) if value(r, next(iter(r)), "members") == big
                 and value(r, next(iter(r)), "mode") == "rate"), {})  # fmt: skip
    connects = (results.get("connects") or [{}])[0]
    idle = (results.get("idle") or [{}])[0]
    echo_key, fan_key = "round_trips_per_s", "deliveries_per_s"
    clients = plan.echo_clients[-1]
    found: list[tuple[str, Any, bool]] = []

    def against(label: str, row: dict[str, Any], key: str, other: str, at_least: float) -> None:
        measured = ratio(value(row, "hub", key), value(row, other, key))
        found.append((label, measured, measured is not None and measured >= at_least))

    against(f"echo ({clients} clients) >= 0.5x raw ASGI loop", echo50, echo_key, CEILING, 0.5)
    against(f"fan-out to {big:,} members (saturating) >= 0.8x raw ASGI loop", saturate, fan_key, CEILING, 0.8)
    against(f"echo ({clients} clients) >= 1.5x aiosignalr", echo50, echo_key, "aiosignalr", 1.5)
    against(f"fan-out to {big:,} members (saturating) >= 1.5x aiosignalr", saturate, fan_key, "aiosignalr", 1.5)
    kb = value(idle, "hub-app", "kb_per_connection")
    found.append(("idle memory <= 22 KB per connection, realistic app (session + auth, no presence)", kb,
                  kb is not None and kb <= 22))  # fmt: skip
    per_s = value(connects, "hub", "connects_per_s")
    open_count = value(connects, "hub", "already_open")
    found.append((f">= 1,000 connects/s (negotiate, upgrade, handshake) with {open_count or 0:,} open", per_s,
                  per_s is not None and per_s >= 1000 and not value(connects, "hub", "failed")))  # fmt: skip
    p99 = value(rate, "hub", "p99_ms")
    found.append((f"p99 < 50 ms, {big:,} members @ {plan.offered_deliveries:,.0f} deliveries/s, no loss", p99,
                  p99 is not None and p99 < 50 and value(rate, "hub", "lost") == 0))  # fmt: skip
    wrong = problems(results)
    found.append(("every row correct: no wrong answer, no loss, no failed call or connect", len(wrong), not wrong))
    return [{"goal": goal, "value": measured, "met": met} for goal, measured, met in found]


def problems(results: dict[str, Any]) -> list[str]:
    """Wrong answers, losses, failed broadcasts and connects, on any side of any row."""
    found = []
    for name in ("echo", "fanout", "connects"):
        for row in results.get(name, []):
            for side, figures in row.items():
                for key in ("wrong_answers", "lost", "sender_errors", "failed"):
                    if figures.get(key):
                        found.append(f"{name} {side}: {key} {figures[key]}")
    for side, figures in ((results.get("idle") or [{}])[0]).items():
        if figures["opened"] != figures["connections"]:
            found.append(f"idle {side}: opened {figures['opened']} of {figures['connections']}")
    return found


def cpu(figures: dict[str, Any]) -> str:
    limit = "client" if figures.get("client_bound") else "cores" if figures.get("machine_bound") else ""
    return (f"{figures['server_cpu_pct']:>4.0f} {figures['client_cpu_pct']:>4.0f} "
            f"({figures['busiest_client_cpu_pct']:>3.0f}) {figures['others_cpu_pct']:>4.0f} {limit:>6}")  # fmt: skip


CPU_HEAD = f"{'srv':>4} {'cli':>4} {'(max)':>5} {'oth':>4} {'limit':>6}"


def block(title: str, head: str, rows: list[str]) -> list[str]:
    return ["", title, head, *rows]


def table(report: dict[str, Any]) -> str:
    results, plan, sides = report["results"], report["plan"], report["sides"]
    lines = [
        f"realtime bench — {report['date']} — server {report['server']} — {report['machine']['cpus']} cores — "
        f"{report['client_procs']} client processes" + (" — quick" if report["quick"] else ""),
        "CPU columns: % of one core in the measured window: server, all client processes (the busiest one), "
        "other processes; limit: client when the busiest client process was >= 90 %, cores when all cores were busy",
    ]
    for row in results.get("echo", []):
        clients = plan["echo_clients"][results["echo"].index(row)]
        rows = [f"  {sides[s]:<20} {fmt(f['round_trips_per_s']):>9} {fmt(f['p50_ms'], '.2f'):>7} "
                f"{fmt(f['p99_ms'], '.2f'):>7} {fmt(f['server_cpu_us_per_op']):>6} "
                f"{fmt(ratio(f['round_trips_per_s'], value(row, CEILING, 'round_trips_per_s')), '.2f'):>7} | {cpu(f)}"
                for s, f in row.items()]  # fmt: skip
        head = f"  {'side':<20} {'rt/s':>9} {'p50 ms':>7} {'p99 ms':>7} {'cpu µs':>6} {'vs asgi':>7} | {CPU_HEAD}"
        title = f"Echo, {clients} client{'s' if clients > 1 else ''}, closed loop, {plan['echo_seconds']:g} s"
        lines += block(title, head, rows)
    for row in results.get("fanout", []):
        first = next(iter(row.values()))
        rows = [f"  {sides[s]:<20} {fmt(f['deliveries_per_s']):>9} {fmt(f['p50_ms'], '.1f'):>7} "
                f"{fmt(f['p99_ms'], '.1f'):>7} {fmt(f['lost']):>5} {fmt(f['server_cpu_us_per_op']):>6} "
                f"{fmt(ratio(f['deliveries_per_s'], value(row, CEILING, 'deliveries_per_s')), '.2f'):>7} | {cpu(f)}"
                for s, f in row.items()]  # fmt: skip
        head = (f"  {'side':<20} {'del/s':>9} {'p50 ms':>7} {'p99 ms':>7} {'lost':>5} {'cpu µs':>6} {'vs asgi':>7} | "
                f"{CPU_HEAD}")  # fmt: skip
        what = (f"{plan['offered_deliveries']:,.0f} deliveries/s offered for {plan['rate_seconds']:g} s"
                if first["mode"] == "rate" else f"{plan['saturate_deliveries']:,} deliveries back to back")  # fmt: skip
        lines += block(f"Fan-out to {first['members']:,} members, {first['mode']}: {what}", head, rows)
    for row in results.get("connects", []):
        first = next(iter(row.values()))
        rows = [f"  {sides[s]:<20} {fmt(f['connects_per_s']):>10} {fmt(f['p50_ms'], '.1f'):>7} "
                f"{fmt(f['p99_ms'], '.1f'):>7} {fmt(f['failed']):>6} | {cpu(f)}" for s, f in row.items()]  # fmt: skip
        head = f"  {'side':<20} {'connects/s':>10} {'p50 ms':>7} {'p99 ms':>7} {'failed':>6} | {CPU_HEAD}"
        lines += block(f"Connects: {first['burst']:,} full connects with {first['already_open']:,} open", head, rows)
    for row in results.get("idle", []):
        first = next(iter(row.values()))
        rows = [f"  {sides[s]:<20} {f['kb_per_connection']:>8.1f} {f['kb_retained_per_connection']:>14.1f}"
                for s, f in row.items()]  # fmt: skip
        head = f"  {'side':<20} {'KB/conn':>8} {'kept after close':>14}"
        lines += block(f"Idle memory: server RSS growth per connection, {first['connections']:,} open (KB = 1,000 B)",
                       head, rows)  # fmt: skip
    lines += ["", "Goals (against the raw ASGI loop and aiosignalr of this run)"]
    for goal in report["goals"]:
        lines.append(f"  [{'met' if goal['met'] else 'NOT met':>7}] {goal['goal']}: {fmt(goal['value'], '.2f')}")
    found = problems(results)
    lines.append(
        "\nWARNING: " + "; ".join(found) if found else "\nNo wrong answer, no loss, no failed call or connect."
    )
    lines.append(f"\ntotal {report['elapsed_seconds']:.0f} s")
    return "\n".join(lines)
