#!/usr/bin/env python3
"""Build a plugin outside the tree against the *installed* ABI and load it.

Usage: out_of_tree.py MODE BUILD_DIR PREFIX HOST_EXE SOURCE
  MODE oot:    SOURCE is tests/host/out-of-tree/oot_plugin.c; `backends` must list
               it and `invoke` must return its answer.
  MODE readme: SOURCE is docs/writing-a-plugin.md; its first ```c block is
               compiled; `backends` must list it, `reap` must work and `invoke`
               must fail with the plugin's own message.

Steps: `meson install --destdir` into a temporary directory, pkg-config
against the staged fakecloud-backend.pc (--cflags, --variable=version_script),
cc the plugin (and, for oot, also build tests/host/out-of-tree/meson.build),
check its exports, run the already-built host. Everything
lives in a temporary directory removed at the end, pass or fail.
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))


def run(cmd, env=None, cwd=None, expect=0):
    p = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, timeout=120)
    if expect is not None and p.returncode != expect:
        raise SystemExit(f"FAIL: {' '.join(cmd)} exited {p.returncode} (wanted {expect})\n"
                         f"stdout: {p.stdout}\nstderr: {p.stderr}")
    return p


def main(mode, build_dir, prefix, host, source):
    tmp = tempfile.mkdtemp(prefix="fcb-oot-")
    try:
        dest = os.path.join(tmp, "dest")
        run(["meson", "install", "-C", build_dir, "--no-rebuild", "--destdir", dest, "--quiet"])
        staged = dest + prefix
        pcs = [os.path.join(d, f) for d, _, fs in os.walk(staged) for f in fs
               if f == "fakecloud-backend.pc"]
        if not pcs:
            raise SystemExit(f"FAIL: no fakecloud-backend.pc installed under {staged}")
        # A copy of the .pc whose prefix points into the staging tree, so plain
        # `pkg-config` and meson's dependency() both see the staged ABI.
        pcdir = os.path.join(tmp, "pkgconfig")
        os.mkdir(pcdir)
        text = open(pcs[0], encoding="utf-8").read()
        text = re.sub(r"^prefix=.*$", f"prefix={staged}", text, count=1, flags=re.M)
        with open(os.path.join(pcdir, "fakecloud-backend.pc"), "w", encoding="utf-8") as f:
            f.write(text)
        env = dict(os.environ, PKG_CONFIG_PATH=pcdir)
        pc = ["pkg-config"]
        cflags = run(pc + ["--cflags", "fakecloud-backend"], env=env).stdout.split()
        script = run(pc + ["--variable=version_script", "fakecloud-backend"], env=env).stdout.strip()
        if not os.path.isfile(script):
            raise SystemExit(f"FAIL: version_script {script} does not exist")
        header = os.path.join(staged, "include", "fakecloud", "backend_plugin.h")
        if not os.path.isfile(header):
            raise SystemExit(f"FAIL: header not installed at {header}")

        plugins = os.path.join(tmp, "plugins")
        os.mkdir(plugins)
        if mode == "readme":
            text = open(source, encoding="utf-8").read()
            m = re.search(r"```c\n(.*?)```", text, re.S)
            if not m:
                raise SystemExit(f"FAIL: no ```c block in {source}")
            src = os.path.join(tmp, "hello.c")
            with open(src, "w", encoding="utf-8") as f:
                f.write(m.group(1))
            name = "hello"
        else:
            src = source
            name = "oot"
        so = os.path.join(plugins, f"fakecloud-backend-{name}.so")
        run(["cc", "-std=c11", "-Wall", "-Wextra", "-Werror", "-shared", "-fPIC",
             "-fvisibility=hidden"] + cflags +
            [src, "-o", so, "-pthread", f"-Wl,--version-script={script}", "-Wl,--no-undefined"])
        run([sys.executable, os.path.join(HERE, "check_exports.py"), so])
        if mode == "oot":
            # The same plugin through its own meson project (what docs show).
            mbuild = os.path.join(tmp, "meson-build")
            srcdir = os.path.dirname(os.path.abspath(source))
            run(["meson", "setup", mbuild, srcdir, "--werror"], env=env)
            run(["meson", "compile", "-C", mbuild], env=env)
            run([sys.executable, os.path.join(HERE, "check_exports.py"),
                 os.path.join(mbuild, "fakecloud-backend-oot.so")])

        # The already-built host loads it.
        henv = {"PATH": "/usr/bin:/bin", "FAKECLOUD_BACKEND_PATH": plugins,
                "FAKECLOUD_LOG_LEVEL": "warn"}
        if "ASAN_OPTIONS" in os.environ:
            henv["ASAN_OPTIONS"] = os.environ["ASAN_OPTIONS"]
        listing = json.loads(run([host, "backends", "--json"], env=henv).stdout)
        mine = [b for b in listing["backends"] if b["name"] == name]
        if not mine or not mine[0]["accepted"] or mine[0]["abi"] != "1.1":
            raise SystemExit(f"FAIL: backends does not accept {name}: {listing}")

        with open(os.path.join(tmp, "fn.json"), "w") as f:
            json.dump({"FunctionName": "my-fn", "Runtime": "python3.12",
                       "Handler": "app.handler", "PackageType": "Zip"}, f)
        with zipfile.ZipFile(os.path.join(tmp, "code.zip"), "w") as z:
            z.writestr("app.py", "def handler(e, c):\n    return e\n")
        invoke = [host, "invoke", "--backend", name, "--function", "fn.json", "--code",
                  "code.zip", "--payload", '{"a":1}']
        if mode == "readme":
            out = run([host, "reap", "--backend", name], env=henv).stdout
            if out.strip() != "reaped 0":
                raise SystemExit(f"FAIL: reap printed {out!r}")
            p = run(invoke, env=henv, cwd=tmp, expect=1)
            if "hello: cannot run my-fn yet" not in p.stderr:
                raise SystemExit(f"FAIL: invoke did not relay the plugin's error: {p.stderr}")
        else:
            p = run(invoke + ["--json"], env=henv, cwd=tmp)
            doc = json.loads(p.stdout)
            want = {"oot": True, "function": "my-fn", "bytes": 7}
            if doc.get("response") != want or doc.get("status") != 200:
                raise SystemExit(f"FAIL: invoke answered {doc}, wanted response {want}")
        print(f"ok: {mode}: {so} built out of tree, listed and run by {host}")
        return 0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    if len(sys.argv) != 6 or sys.argv[1] not in ("oot", "readme"):
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    sys.exit(main(*sys.argv[1:]))
