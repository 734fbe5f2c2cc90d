"""The serving benchmark's tables (markdown), from the samples of every round: medians, and the
spread of req/s across rounds (max - min over the median) as the noise of this run."""

from __future__ import annotations

import argparse
import math
import statistics

from serving_load import Sample
from serving_servers import CLIENT_CPU, SERVER_CPU

Results = dict[tuple[str, str, str, str], list[Sample]]
GOAL_P50_MS, GOAL_P99_MS = 1.0, 3.0


def median(samples: list[Sample]) -> Sample:
    return Sample(*(statistics.median(getattr(s, f) for s in samples)
                    for f in Sample.__dataclass_fields__))  # fmt: skip


def spread(samples: list[Sample]) -> str:
    rates = [s.rps for s in samples]
    middle = statistics.median(rates)
    return f"{(max(rates) - min(rates)) / middle * 100:.0f}%" if middle else "-"


def _failed(sample: Sample) -> str:
    return f" ({sample.errors:.0f} failed or unanswered)" if sample.errors else ""


def _f(value: float, digits: int = 2) -> str:
    return "-" if math.isnan(value) else f"{value:.{digits}f}"


def report(
    results: Results,
    facts: dict[tuple[str, str], str],
    args: argparse.Namespace,
    notes: list[str],
) -> None:
    medians = {key: median(samples) for key, samples in results.items()}
    print(f"\n{args.rounds} interleaved rounds x {args.seconds}s; servers on CPU {SERVER_CPU} "
          f"(section 3: as stated), load generators on CPU {CLIENT_CPU}; medians, and the "
          "spread of req/s over the rounds.\n")  # fmt: skip
    kinds(results, medians, facts)
    protocols(results, medians)
    workers(results, medians)
    for note in notes:
        print(f"- {note}")


def kinds(
    results: Results, medians: dict[tuple[str, str, str, str], Sample],
    facts: dict[tuple[str, str], str],
) -> None:  # fmt: skip
    """facts: (kind, label) -> "engine | status for a bad shape" """
    if not any(section == "kinds" for section, *_ in medians):
        return
    print("### 1. Model kinds, one core each: saturation (wrk -c32), then open loop at half of "
          "that server's own peak\n")  # fmt: skip
    print(
        "| model | server | engine | bad shape | req/s | spread | p50 ms | p99 ms | CPU-µs/req | "
        "half-peak rate | p50 ms | p99 ms | generator lag p99 ms | hey -q p50 | hey -q p99 |"
    )
    print("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")  # fmt: skip
    rows = [(k, label) for (section, k, label, load) in medians
            if section == "kinds" and load == "saturation"]  # fmt: skip
    for kind, label in rows:
        peak = medians[("kinds", kind, label, "saturation")]
        half = medians[("kinds", kind, label, "half peak")]
        hey = medians.get(("kinds", kind, label, "half peak, hey"))
        print(f"| {kind} | {label} | {facts.get((kind, label), ' | ')} | {peak.rps:.0f} | "
              f"{spread(results[('kinds', kind, label, 'saturation')])} | {_f(peak.p50_ms)} | "
              f"{_f(peak.p99_ms)} | {peak.cpu_us:.0f} | {half.rps:.0f} | {_f(half.p50_ms)} | "
              f"{_f(half.p99_ms)} | {_f(half.lag_p99_ms)}{_failed(half)} | "
              f"{_f(hey.p50_ms) if hey else '-'} | {_f(hey.p99_ms) if hey else '-'} |")  # fmt: skip
    print()
    for kind in dict.fromkeys(k for k, _ in rows):
        ours = medians.get(("kinds", kind, "modelship", "saturation"))
        theirs = {label: medians[("kinds", kind, label, "saturation")]
                  for k, label in rows if k == kind and label.startswith("MLServer")}  # fmt: skip
        if ours and theirs:
            best_label, best = max(theirs.items(), key=lambda item: item[1].rps)
            print(f"- {kind}: modelship / best MLServer ({best_label}) = {ours.rps / best.rps:.1f}x"
                  f" req/s, {best.cpu_us / ours.cpu_us:.1f}x less CPU per request")  # fmt: skip
        off = medians.get(("kinds", kind, "modelship, ONNX off", "saturation"))
        if ours and off:
            print(f"- {kind}: ONNX path on / off = {ours.rps / off.rps:.2f}x req/s")
    lr = medians.get(("kinds", "logistic_regression", "modelship", "half peak"))
    if lr:
        met = lr.p50_ms <= GOAL_P50_MS and lr.p99_ms <= GOAL_P99_MS
        print(f"- open-loop goal (p50 <= {GOAL_P50_MS} ms, p99 <= {GOAL_P99_MS} ms at half peak, "
              f"logistic regression): p50 {lr.p50_ms:.2f}, p99 {lr.p99_ms:.2f}: "
              f"{'met' if met else 'NOT met'}")  # fmt: skip
        constant = results.get(("floor", "logistic_regression", "constant answer", "half peak"))
        if constant:
            p50s, p99s = [c.p50_ms for c in constant], [c.p99_ms for c in constant]
            print(f"- the machine's floor at that rate (machine_floor.py: a constant answer, no "
                  f"serving work, same CPU, generator and rate): p50 {statistics.median(p50s):.2f} "
                  f"({min(p50s):.2f}-{max(p50s):.2f}), p99 {statistics.median(p99s):.2f} "
                  f"({min(p99s):.2f}-{max(p99s):.2f}) ms over the rounds")  # fmt: skip
    print()


def protocols(results: Results, medians: dict[tuple[str, str, str, str], Sample]) -> None:
    labels = list(dict.fromkeys(label for (s, _, label, _) in medians if s == "protocol"))
    if not labels:
        return
    print(
        "### 2. REST and gRPC, logistic regression, one core: one Python client for both "
        "(closed loop, 32 in flight; it may be the limit), then open loop at half of that\n"
    )
    print("| server | protocol | req/s | spread | p50 ms | p99 ms | server CPU-µs/req | "
          "half-peak rate | p50 ms | p99 ms |")  # fmt: skip
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for label in labels:
        for protocol in ("REST", "gRPC"):
            key = ("protocol", "logistic_regression", label, f"{protocol} saturation")
            if key not in medians:
                continue
            peak = medians[key]
            half = medians[("protocol", "logistic_regression", label, f"{protocol} half peak")]
            print(f"| {label} | {protocol} | {peak.rps:.0f} | {spread(results[key])} | "
                  f"{_f(peak.p50_ms)} | {_f(peak.p99_ms)} | {peak.cpu_us:.0f} | {half.rps:.0f} | "
                  f"{_f(half.p50_ms)} | {_f(half.p99_ms)} |")  # fmt: skip
        key = ("protocol", "logistic_regression", label, "gRPC, Triton client saturation")
        if key in medians:
            peak = medians[key]
            print(
                f"| {label} | gRPC, Triton client | {peak.rps:.0f} | {spread(results[key])} "
                f"| {_f(peak.p50_ms)} | {_f(peak.p99_ms)} | {peak.cpu_us:.0f} | - | - | - |"
            )
    print()
    for label in labels:
        rest = medians.get(("protocol", "logistic_regression", label, "REST saturation"))
        for client in ("gRPC", "gRPC, Triton client"):
            other = medians.get(("protocol", "logistic_regression", label, f"{client} saturation"))
            if rest and other:
                print(f"- {label}: server CPU per request, {client} / REST = "
                      f"{other.cpu_us / rest.cpu_us:.2f}x (goal for ours: <= 1.0x)")  # fmt: skip
    print()


def workers(results: Results, medians: dict[tuple[str, str, str, str], Sample]) -> None:
    labels = list(dict.fromkeys(label for (s, _, label, _) in medians if s == "workers"))
    if not labels:
        return
    print(
        "### 3. Workers, logistic regression: 1 worker on CPU 0 (plain, and with the workers' "
        "multiprocess metrics), 2 on CPU 0, 2 on CPUs 0-1 (wrk -c32 and the open-loop client on "
        "CPU 1, shared with the second worker); then one fixed open-loop rate for all\n"
    )
    print("| server | req/s | spread | p50 ms | p99 ms | server CPU-µs/req | "
          "req per server CPU-second | half-peak rate | p50 ms | p99 ms | fixed rate | "
          "p99 ms | server CPU-µs/req |")  # fmt: skip
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for label in labels:
        key = ("workers", "logistic_regression", label, "saturation")
        peak, half = medians[key], medians[("workers", "logistic_regression", label, "half peak")]
        fixed = medians.get(("workers", "logistic_regression", label, "fixed rate"))
        tail = (f"{fixed.rps:.0f} | {_f(fixed.p99_ms)} | {fixed.cpu_us:.0f}" if fixed
                else "- | - | -")  # fmt: skip
        print(f"| {label} | {peak.rps:.0f} | {spread(results[key])} | {_f(peak.p50_ms)} | "
              f"{_f(peak.p99_ms)} | {peak.cpu_us:.0f} | {1e6 / peak.cpu_us:.0f} | "
              f"{half.rps:.0f} | {_f(half.p50_ms)} | {_f(half.p99_ms)} | {tail} |")  # fmt: skip
    print()

    def at(label: str, load: str = "saturation") -> Sample | None:
        return medians.get(("workers", "logistic_regression", label, load))

    plain = "modelship, 1 worker(s), CPUs 0"
    shared = f"{plain}, multiprocess metrics"
    for load in ("saturation", "fixed rate"):
        a, b, c = at(plain, load), at(shared, load), at("modelship, 2 worker(s), CPUs 0,1", load)
        if a and b:
            cost = (b.cpu_us / a.cpu_us - 1) * 100
            print(f"- modelship, {load}: multiprocess metrics cost {cost:+.1f} % CPU per "
                  "request (goal <= 3 %)")  # fmt: skip
        if a and c:
            print(f"- modelship, {load}: 2 workers on 2 CPUs / 1 worker, CPU per request "
                  f"{c.cpu_us / a.cpu_us:.2f}x (goal <= 1.1x)")  # fmt: skip

    ml = "MLServer parallel_workers="
    pairs = [
        ("modelship", "modelship, 1 worker(s), CPUs 0", "modelship, 2 worker(s), CPUs 0,1"),
        ("MLServer", f"{ml}1, CPUs 0", f"{ml}2, CPUs 0,1"),
    ]
    for name, one, two in pairs:
        a, b = at(one), at(two)
        if a and b:
            print(f"- {name}: 2 workers on 2 CPUs / 1 on 1 = {b.rps / a.rps:.2f}x req/s measured; "
                  f"CPU per request {b.cpu_us / a.cpu_us:.2f}x of one worker's")  # fmt: skip
    a, b = at("modelship, 1 worker(s), CPUs 0"), at("modelship, 2 worker(s), CPUs 0")
    if a and b:
        print(
            f"- modelship: 2 workers on CPU 0 / 1 worker on CPU 0 = {b.rps / a.rps:.2f}x req/s, "
            f"CPU per request {b.cpu_us / a.cpu_us:.2f}x (the cost of being two workers)"
        )
    print()
