#!/usr/bin/env python3
"""Run kubesim with TCP_NODELAY on its API connections.

Python's http.server writes a response's headers and body in separate send()
calls; with Nagle's algorithm on, the body waits for the client's delayed ACK
(40 ms on Linux) on every keep-alive request. That artifact would add ~40 ms
to every API request of both sides and swamp what the benchmarks measure, so
the harness turns Nagle off (what real API servers, Go's net/http included, do).
Usage: kubesim_nodelay.py PATH/kubesim.py ARGS...
"""
import os
import runpy
import socketserver
import sys

socketserver.StreamRequestHandler.disable_nagle_algorithm = True
script = os.path.abspath(sys.argv[1])
sys.argv = [script] + sys.argv[2:]
sys.path.insert(0, os.path.dirname(script))
runpy.run_path(script, run_name="__main__")
