#!/usr/bin/env python3
"""Merge the bench programs' JSON into bench/results/latest.{json,md} and print the table.

Usage: report.py --mode quick|full --out-dir DIR [--k8s F] [--footprint F] [--docker F]
                 [--k8s-zip F]
       report.py --rerender bench/results/latest.json --out-dir DIR   (same run, new layout)
Every figure is baseline (the reference's algorithm) vs ours, measured in the same run;
ratio = baseline / ours (higher is better for us). See docs/bench.md.
"""
import argparse
import datetime
import json
import math
import os
import platform
import subprocess
import sys


def load(path):
    if not path or not os.path.exists(path):
        return {}
    try:
        with open(path) as f:
            doc = json.load(f)
        return doc if isinstance(doc, dict) else {}
    except (OSError, ValueError) as e:
        print("report.py: %s: %s (figures from it show n/a)" % (path, e), file=sys.stderr)
        return {}


def dig(d, *keys):
    for k in keys:
        if not isinstance(d, dict) or k not in d:
            return None
        d = d[k]
    return d


def machine():
    cpu = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem_kib = None
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    mem_kib = int(line.split()[1])
    except OSError:
        pass
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

    def git(*a):
        try:
            return subprocess.run(["git", "-C", root] + list(a), capture_output=True, text=True,
                                  timeout=10).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""
    load = None
    try:
        with open("/proc/loadavg") as f:
            load = " ".join(f.read().split()[:3])
    except OSError:
        pass
    return {"loadavg_1_5_15": load, "cpu": cpu, "cores": os.cpu_count(), "kernel": platform.release(),
            "memory_gib": round(mem_kib / 1048576, 1) if mem_kib else None,
            "os": platform.platform(), "python": platform.python_version(),
            "commit": git("rev-parse", "--short", "HEAD"),
            "dirty": bool(git("status", "--porcelain", "--untracked-files=no")),
            "date_utc": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}


def fmt(v, unit="", digits=None):
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "n/a"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if digits is None:
        digits = 0 if abs(v) >= 100 else (1 if abs(v) >= 10 else (2 if abs(v) >= 1 else 3))
    return ("%.*f" % (digits, v)) + unit


def ratio(b, o):
    if b is None or o is None:
        return None
    if o == 0:
        return math.inf if b > 0 else None
    return b / o


# kubesim stamps rie_ready from another thread just after its listener is up;
# overheads below this are within that stamp's resolution (docs/bench.md).
RESOLUTION_MS = 1.0


def floored(v):
    """Ours for a ratio: never below the clock resolution (favours the baseline)."""
    return None if v is None else max(v, RESOLUTION_MS)


def fmt_ratio(r):
    if r is None:
        return "n/a"
    if math.isinf(r):
        return "∞"
    return "%s×" % fmt(r)


def runs_note(side, key, unit):
    """' (median of 3 runs: 0.91, 0.89, 0.98 s)' for a figure run more than once."""
    runs = dig(side, key + "_runs")
    if not isinstance(runs, list) or len(runs) < 2:
        return ""
    return " (median of %d runs: %s%s)" % (len(runs), ", ".join(fmt(v, "", 2) for v in runs),
                                           unit)


def build(args, previous=None):
    if previous:
        raw = previous.get("raw", {})
        k8s, foot, dock = raw.get("k8s", {}), raw.get("footprint", {}), raw.get("docker", {})
        kzip = raw.get("k8s_zip", {})
    else:
        k8s, foot, dock = load(args.k8s), load(args.footprint), load(args.docker)
        kzip = load(args.k8s_zip)
    cfg = k8s.get("k8s_config", {})
    boot = cfg.get("boot_ms", 300)
    rows = []   # (figure, metric, baseline, ours, ratio, target, met)

    def add(fig, metric, b, o, r, target, met, unit="", digits=None, show_ratio=True):
        rows.append({"figure": fig, "metric": metric, "baseline": b, "ours": o,
                     "ratio": r if show_ratio else None, "target": target,
                     "met": met, "unit": unit, "digits": digits})

    def err_of(side):
        return dig(side, "error") if isinstance(side, dict) else None

    seq = k8s.get("sequential", {})
    b, o = seq.get("baseline", {}), seq.get("ours", {})
    for p in ("p50", "p99"):
        bv, ov = dig(b, "launch_overhead", p + "_ms"), dig(o, "launch_overhead", p + "_ms")
        r = ratio(bv, floored(ov))
        met = None
        if p == "p50" and ov is not None and r is not None:
            met = ov <= 5 and r >= 100
        add("1", "launch overhead %s, RIE listening → launch returned (%d launches, boot %d ms)"
            % (p, dig(o, "launch_overhead", "n") or dig(b, "launch_overhead", "n") or 0, boot),
            bv, ov, r, "≤ 5 ms p50, ≥ 100×" if p == "p50" else "", met, " ms")
    bv, ov = dig(b, "requests", "per_launch_terminate"), dig(o, "requests", "per_launch_terminate")
    bp, op = dig(b, "requests", "polling_gets_per_launch"), dig(o, "requests", "polling_gets_per_launch")
    add("2", "API requests per launch + terminate", bv, ov, ratio(bv, ov),
        "≤ 3, 0 polling GETs",
        (ov <= 3 and op == 0) if ov is not None and op is not None else None, "", 1)
    add("2", "of which polling GETs", bp, op, None, "0", (op == 0) if op is not None else None,
        "", 1, False)

    zseq = kzip.get("sequential", {})
    if zseq:
        b, o = zseq.get("baseline", {}), zseq.get("ours", {})
        bv, ov = dig(b, "launch_overhead", "p50_ms"), dig(o, "launch_overhead", "p50_ms")
        r = ratio(bv, floored(ov))
        add("1", "Zip functions (init container fetches the code): launch overhead p50 (%d launches)"
            % (dig(o, "launch_overhead", "n") or dig(b, "launch_overhead", "n") or 0),
            bv, ov, r, "≤ 5 ms p50, ≥ 100×",
            (ov <= 5 and r >= 100) if ov is not None and r is not None else None, " ms")
        bv, ov = dig(b, "requests", "per_launch_terminate"), dig(o, "requests", "per_launch_terminate")
        op = dig(o, "requests", "polling_gets_per_launch")
        add("2", "Zip functions: API requests per launch + terminate", bv, ov, ratio(bv, ov),
            "≤ 3, 0 polling GETs",
            (ov <= 3 and op == 0) if ov is not None and op is not None else None, "", 1)

    conc = k8s.get("concurrency", {})
    b, o = conc.get("baseline", {}), conc.get("ours", {})
    n = cfg.get("concurrency", 200)
    bv, ov = dig(b, "success_rate"), dig(o, "success_rate")
    add("3", "%d concurrent launches: success" % n, bv * 100 if bv is not None else None,
        ov * 100 if ov is not None else None, None, "100 %",
        (ov == 1.0) if ov is not None else None, " %", 0, False)
    bv, ov = dig(b, "wall_s"), dig(o, "wall_s")
    add("3", "%d concurrent launches: wall time%s" % (n, runs_note(o, "wall_s", " s")),
        bv, ov, ratio(bv, ov),
        "≤ boot + 0.5 s = %.1f s" % (boot / 1000 + 0.5),
        (ov <= boot / 1000 + 0.5) if ov is not None else None, " s", 2)
    bv, ov = dig(b, "connections"), dig(o, "connections")
    add("3", "TCP connections to the API server", bv, ov, ratio(bv, ov), "≤ 4",
        (ov <= 4) if ov is not None else None, "", 0)
    bv, ov = dig(b, "tls_handshakes"), dig(o, "tls_handshakes")
    add("3", "TLS handshakes", bv, ov, ratio(bv, ov), "", None, "", 0)

    reap = k8s.get("reap", {})
    b, o = reap.get("baseline", {}), reap.get("ours", {})
    nf, no = cfg.get("reap_foreign", 0), cfg.get("reap_ours", 0)
    bv, ov = dig(b, "requests"), dig(o, "requests")
    add("4", "reap %d foreign Pods (%d of ours survive): requests" % (nf, no), bv, ov,
        ratio(bv, ov), "≤ 5",
        (ov <= 5 and dig(o, "correct") is True) if ov is not None else None, "", 0)
    bv, ov = dig(b, "seconds"), dig(o, "seconds")
    r = ratio(bv, ov)
    add("4", "reap: time%s" % runs_note(o, "seconds", " s"), bv, ov, r, "≥ 50×",
        (r >= 50 and dig(o, "correct") is True) if r is not None else None, " s", 3)
    bs, osim = dig(b, "simulator_seconds"), dig(o, "simulator_seconds")
    if osim is not None:
        add("4", "reap: of which the simulator handling the requests (its `handler_seconds`)",
            bs, osim, None, "", None, " s", 3, False)
        add("4", "reap: best ratio this simulator allows (baseline time / ours' simulator "
            "time: a client costing nothing)", None, None, ratio(bv, osim), "", None)

    d = dock.get("docker", {})
    b, o = d.get("baseline", {}), d.get("ours", {})
    bv, ov = dig(b, "ready_p50_ms"), dig(o, "ready_p50_ms")
    r = ratio(bv, ov)
    add("5", "docker launch → first invocation answered, p50 (%s launches)"
        % (dig(o, "n") or dig(b, "n") or 0), bv, ov, r, "≥ 5×",
        (r >= 5) if r is not None else None, " ms")
    bv, ov = dig(b, "ready_p99_ms"), dig(o, "ready_p99_ms")
    add("5", "docker launch → first invocation answered, p99", bv, ov, ratio(bv, ov), "", None,
        " ms")
    bv, ov = dig(b, "started_to_ready_p50_ms"), dig(o, "started_to_ready_p50_ms")
    add("5", "docker container started (State.StartedAt) → first invocation answered, p50",
        bv, ov, ratio(bv, ov), "", None, " ms")
    add("5", "of which `docker start` (dockerd's own work, both sides pay it; baseline mean)",
        dig(b, "mean_steps", "docker_start_ms"), None, None, "", None, " ms", None, False)
    fl = dig(d, "engine_floor", "create_start_p50_ms")
    if fl is not None:
        add("5", "engine floor: one create + one start straight on the Engine API, nothing "
            "else, p50 (no backend is ready sooner)", None, fl, None, "", None, " ms", None,
            False)
        add("5", "best ratio this engine allows (baseline p50 / engine floor p50)", None, None,
            ratio(dig(b, "ready_p50_ms"), fl), "", None)
        first = dig(d, "ours_first_of_deploy", "ready_p50_ms")
        later = dig(o, "ready_p50_ms")
        if first is not None:
            add("5", "ours, first cold start of a deploy (code uploaded into its volume) "
                "minus engine floor, p50", None, first - fl, None, "", None, " ms", None, False)
        if later is not None:
            add("5", "ours, second and later cold starts of a deploy (code volume mounted) "
                "minus engine floor, p50", None, later - fl, None, "≤ 20 ms",
                later - fl <= 20, " ms", None, False)

    fp = foot.get("footprint", {})
    add("6", "dlopen + descriptor check + init (p50 of 10)", None, dig(fp, "load_init_ms_p50"),
        None, "", None, " ms", None, False)
    add("6", "open (kubeconfig, TLS, watch, token Secret; p50 of 10)", None,
        dig(fp, "open_ms_p50"), None, "", None, " ms", None, False)
    v = dig(fp, "heap_per_warm_instance_bytes")
    add("6", "plugin heap per warm instance (counting allocator)", None, v, None, "", None,
        " B", 0, False)
    v = dig(fp, "heap_after_open_bytes")
    add("6", "plugin heap after open", None, v / 1024 if v is not None else None, None, "",
        None, " KiB", 1, False)
    v = dig(fp, "peak_rss_kib_warm")
    add("6", "peak RSS of the host process, %s warm instances" % (dig(fp, "warm_instances") or 0),
        None, v / 1024 if v is not None else None, None, "", None, " MiB", 1, False)

    errors = {}
    for name, doc in (("sequential", seq), ("concurrency", conc), ("reap", reap),
                      ("docker", d), ("zip sequential", zseq)):
        for side in ("baseline", "ours"):
            e = err_of(doc.get(side)) or dig(doc, side, "first_error")
            if e:
                errors["%s/%s" % (name, side)] = e
    if err_of(fp) or dig(fp, "first_error"):
        errors["footprint"] = err_of(fp) or dig(fp, "first_error")
    leaks = {}
    for name, doc in (("sequential", seq), ("concurrency", conc), ("reap", reap), ("docker", d),
                      ("zip sequential", zseq)):
        v = dig(doc, "ours", "leaked_bytes")
        if v:
            leaks[name] = v
    if dig(fp, "leaked_bytes"):
        leaks["footprint"] = fp["leaked_bytes"]
    m = dict(previous["machine"]) if previous else machine()
    m.setdefault("loadavg_1_5_15", None)
    m["dockerd"] = dig(d, "dockerd_version") or m.get("dockerd")
    return {"mode": args.mode, "machine": m, "config": cfg, "rows": rows,
            "errors": errors, "leaked_bytes": leaks,
            "raw": {"k8s": k8s, "footprint": foot, "docker": dock, "k8s_zip": kzip}}


def markdown(res):
    m = res["machine"]
    out = ["# Benchmark results (%s mode)" % res["mode"], "",
           "Machine: %s, %s cores, %s GiB, kernel %s; load average %s (1/5/15 min, at the end "
           "of the run); %s; commit %s%s; dockerd %s."
           % (m["cpu"], m["cores"], m["memory_gib"], m["kernel"], m["loadavg_1_5_15"] or "n/a",
              m["date_utc"], m["commit"], " (dirty)" if m["dirty"] else "",
              m["dockerd"] or "n/a"),
           "Baseline = the reference's algorithm reproduced in C (bench/baseline_*.c) on the same "
           "simulator or daemon, same boot time, same run. Ratio = baseline / ours; for "
           "figure 1, ours counts as at least %.0f ms (kubesim's ready stamp resolution), so "
           "its ratios are lower bounds. How each figure is measured: docs/bench.md."
           % RESOLUTION_MS, "",
           "| # | measure | baseline (reference) | ours | ratio | target | met |",
           "|---|---|---:|---:|---:|---|---|"]
    for r in res["rows"]:
        u, dg = r["unit"], r["digits"]
        out.append("| %s | %s | %s | %s | %s | %s | %s |" % (
            r["figure"], r["metric"], fmt(r["baseline"], u, dg), fmt(r["ours"], u, dg),
            fmt_ratio(r["ratio"]) if r["ratio"] is not None else "", r["target"],
            "" if r["met"] is None else ("✅" if r["met"] else "❌")))
    if res["errors"]:
        out += ["", "Errors during the run:", ""]
        out += ["- %s: %s" % (k, v.replace("\n", " ")) for k, v in sorted(res["errors"].items())]
    if res["leaked_bytes"]:
        out += ["", "Plugin bytes outstanding after close (leaks): %s" % res["leaked_bytes"]]
    return "\n".join(out) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mode", default="quick")
    ap.add_argument("--out-dir", required=True)
    ap.add_argument("--k8s")
    ap.add_argument("--footprint")
    ap.add_argument("--docker")
    ap.add_argument("--k8s-zip", help="bench-k8s --package zip output (figures 1-2)")
    ap.add_argument("--rerender", help="re-render a previous latest.json (its raw data and machine)")
    args = ap.parse_args()
    previous = load(args.rerender) if args.rerender else None
    if previous:
        args.mode = previous.get("mode", args.mode)
    res = build(args, previous)
    os.makedirs(args.out_dir, exist_ok=True)
    md = markdown(res)
    with open(os.path.join(args.out_dir, "latest.md"), "w") as f:
        f.write(md)
    with open(os.path.join(args.out_dir, "latest.json"), "w") as f:
        json.dump(res, f, indent=1, sort_keys=True, allow_nan=False, default=str)
        f.write("\n")
    sys.stdout.write(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
