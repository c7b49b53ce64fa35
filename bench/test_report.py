#!/usr/bin/env python3
"""Self-test of bench/report.py: ratios, targets and lower bounds in the table."""
import json
import os
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import report  # noqa: E402


def k8s_doc(ours_p50, ours_reqs=2.0, ours_polls=0.0, ours_conns=3, correct=True):
    side = lambda p50, p99, reqs, polls: {  # noqa: E731
        "launch_overhead": {"n": 50, "failures": 0, "p50_ms": p50, "p99_ms": p99},
        "requests": {"per_launch_terminate": reqs, "polling_gets_per_launch": polls}}
    return {
        "k8s_config": {"boot_ms": 300, "concurrency": 200, "reap_foreign": 10000, "reap_ours": 1000},
        "sequential": {"baseline": side(1200.0, 1210.0, 5.0, 2.0),
                       "ours": side(ours_p50, 3.0, ours_reqs, ours_polls)},
        "concurrency": {"baseline": {"success_rate": 0.9, "wall_s": 30.0, "connections": 180},
                        "ours": {"success_rate": 1.0, "wall_s": 0.7, "connections": ours_conns}},
        "reap": {"baseline": {"requests": 10001, "seconds": 20.0},
                 "ours": {"requests": 2, "seconds": 0.2, "correct": correct}}}


class Args:
    mode = "test"
    k8s = footprint = docker = k8s_zip = None


def build(doc):
    with tempfile.TemporaryDirectory() as d:
        p = os.path.join(d, "k8s.json")
        with open(p, "w") as f:
            json.dump(doc, f)
        a = Args()
        a.k8s = p
        return report.build(a)


def row(res, fig, prefix):
    for r in res["rows"]:
        if r["figure"] == fig and r["metric"].startswith(prefix):
            return r
    raise AssertionError("no row %s %s" % (fig, prefix))


class ReportTest(unittest.TestCase):
    def test_ratio_is_baseline_over_ours(self):
        r = row(build(k8s_doc(4.0)), "1", "launch overhead p50")
        self.assertAlmostEqual(r["ratio"], 300.0)
        self.assertTrue(r["met"])

    def test_sub_resolution_overhead_gives_a_lower_bound_not_a_negative_ratio(self):
        r = row(build(k8s_doc(-0.4)), "1", "launch overhead p50")
        self.assertAlmostEqual(r["ratio"], 1200.0)
        self.assertEqual(r["ours"], -0.4, "the measured value is reported as is")

    def test_slow_ours_misses_the_target(self):
        self.assertFalse(row(build(k8s_doc(12.0)), "1", "launch overhead p50")["met"])

    def test_polling_gets_fail_figure_two(self):
        self.assertFalse(row(build(k8s_doc(1.0, ours_polls=1.0)), "2", "API requests")["met"])

    def test_connection_target_is_four(self):
        self.assertTrue(row(build(k8s_doc(1.0, ours_conns=4)), "3", "TCP connections")["met"])
        self.assertFalse(row(build(k8s_doc(1.0, ours_conns=5)), "3", "TCP connections")["met"])

    def test_reap_that_deleted_the_wrong_pods_is_not_met(self):
        self.assertTrue(row(build(k8s_doc(1.0)), "4", "reap: time")["met"])
        self.assertFalse(row(build(k8s_doc(1.0, correct=False)), "4", "reap: time")["met"])

    def test_repeated_runs_are_listed_and_the_simulator_bound_is_shown(self):
        doc = k8s_doc(1.0)
        doc["concurrency"]["ours"]["wall_s_runs"] = [0.9, 0.7, 0.75]
        doc["reap"]["ours"]["simulator_seconds"] = 0.1
        res = build(doc)
        self.assertEqual(row(res, "3", "200 concurrent launches: wall")["metric"],
                         "200 concurrent launches: wall time (median of 3 runs: "
                         "0.90, 0.70, 0.75 s)")
        self.assertAlmostEqual(row(res, "4", "reap: best ratio")["ratio"], 200.0)
        self.assertEqual(row(res, "4", "reap: of which")["ours"], 0.1)

    def test_docker_engine_floor_bounds_the_ratio(self):
        with tempfile.TemporaryDirectory() as d:
            p = os.path.join(d, "docker.json")
            with open(p, "w") as f:
                json.dump({"docker": {"baseline": {"ready_p50_ms": 1000.0, "n": 3},
                                      "ours": {"ready_p50_ms": 400.0, "n": 3},
                                      "engine_floor": {"create_start_p50_ms": 250.0}}}, f)
            a = Args()
            a.docker = p
            res = report.build(a)
        self.assertAlmostEqual(row(res, "5", "docker launch → first invocation answered, p50")
                               ["ratio"], 2.5)
        self.assertFalse(row(res, "5", "docker launch → first invocation answered, p50")["met"])
        self.assertAlmostEqual(row(res, "5", "best ratio this engine allows")["ratio"], 4.0)
        self.assertEqual(row(res, "5", "engine floor")["ours"], 250.0)

    def test_missing_side_is_not_judged(self):
        doc = k8s_doc(1.0)
        doc["sequential"]["baseline"] = {"error": "not run"}
        r = row(build(doc), "1", "launch overhead p50")
        self.assertIsNone(r["met"])
        self.assertIsNone(r["ratio"])

    def test_command_line_writes_markdown_and_json(self):
        with tempfile.TemporaryDirectory() as d:
            p = os.path.join(d, "k8s.json")
            with open(p, "w") as f:
                json.dump(k8s_doc(1.0), f)
            out = subprocess.run([sys.executable, os.path.join(HERE, "report.py"), "--mode",
                                  "quick", "--out-dir", d, "--k8s", p], capture_output=True,
                                 text=True, timeout=60)
            self.assertEqual(out.returncode, 0, out.stderr)
            self.assertIn("| 1 | launch overhead p50", out.stdout)
            with open(os.path.join(d, "latest.json")) as f:
                doc = json.load(f)
            self.assertEqual(doc["mode"], "quick")
            self.assertIn("cpu", doc["machine"])
            self.assertTrue(os.path.exists(os.path.join(d, "latest.md")))


if __name__ == "__main__":
    unittest.main()
