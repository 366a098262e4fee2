#!/usr/bin/python3
"""check_metrics.py METRICS TRACE: parse a --metrics file with Prometheus's
own client parser and check its figures against the same cycle's --trace
line. Prints one line per finding; exits 1 on any."""
import json
import sys

from prometheus_client.parser import text_string_to_metric_families


def main():
    metrics_path, trace_path = sys.argv[1:3]
    with open(metrics_path, encoding="utf-8") as f:
        families = {family.name: family for family in text_string_to_metric_families(f.read())}
    with open(trace_path, encoding="utf-8") as f:
        cycle = json.loads(f.read().splitlines()[-1])
    values = {}
    for family in families.values():
        for sample in family.samples:
            key = (sample.name, sample.labels.get("guest"), sample.labels.get("direction"))
            values[key] = sample.value
    wrong = []

    def expect(name, guest, want, direction=None):
        got = values.get(("mem_coordinator_" + name, guest, direction))
        if got != want:
            wrong.append(f"{name}{{{guest},{direction}}} is {got}, the trace says {want}")

    expect("cycles_total", None, cycle["cycle"])
    expect("host_free_bytes", None, cycle["host_free_kib"] * 1024)
    expect("host_pressure_ratio", None, cycle["host_pressure"])
    for guest in cycle["guests"]:
        name = guest["name"]
        expect("guest_balloon_bytes", name, guest["actual_kib"] * 1024)
        expect("guest_target_bytes", name, guest["target_kib"] * 1024)
        expect("guest_max_bytes", name, guest["max_kib"] * 1024)
        expect("guest_unmet_need_bytes", name, guest["unmet_kib"] * 1024)
        expect("guest_shares", name, guest["shares"])
        if guest["unused_kib"] is not None:
            expect("guest_unused_bytes", name, guest["unused_kib"] * 1024)
            starved = guest["unused_kib"] + guest["coming_kib"] < cycle["starve_kib"]
            expect("guest_starved", name, 1 if starved else 0)
    for family in ("guest_resizes_total", "failed_cycles_total", "reconnects_total",
                   "unresponsive_guests", "last_cycle_timestamp_seconds"):
        if "mem_coordinator_" + family.removesuffix("_total") not in families:
            wrong.append(f"no {family} family")
    for line in wrong:
        print(line)
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main())
