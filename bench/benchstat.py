# SPDX-License-Identifier: GPL-2.0-or-later
"""The tables the bench/run-* scripts print: one row per measured series, and issue 16's verdict on two
eGPUs attached at once."""
import statistics

HEADER = f"{'':8} {'runs':>5} {'median ms':>10} {'p90 ms':>10} {'worst ms':>10} {'best ms':>10}"


def summary(name, ts):
    """A row: how many runs, median, 90th percentile, worst and best, in ms."""
    ts = sorted(ts)
    p90 = ts[min(len(ts) - 1, int(round(0.9 * (len(ts) - 1))))]
    return f"{name:8} {len(ts):5d} {statistics.median(ts):10.1f} {p90:10.1f} {ts[-1]:10.1f} {ts[0]:10.1f}"


def two_at_once(ts, singles, note=""):
    """The verdict on ts["both"] against the slower of the singles' medians (target: at most 20% more,
    since the two attach in parallel), with twice the single floor and two floors at once beside it."""
    slower = max(statistics.median(ts[n]) for n in singles)
    both = statistics.median(ts["both"])
    return (f"both at once: {both:.1f} ms; the slower single attach {slower:.1f} ms (target <= {1.2 * slower:.1f} "
            f"ms, +20%): {'met' if both <= 1.2 * slower else 'NOT met'}; twice the single floor "
            f"{2 * statistics.median(ts['floor']):.1f} ms; two floors at once "
            f"{statistics.median(ts['floor-2']):.1f} ms{note}")
