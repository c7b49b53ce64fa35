"""The simulated kubelet: schedules Pods, executes the init container's download
contract, runs simulated containers (image-name conventions) and serves a Runtime
Interface Emulator stand-in per running Pod. All work runs on one timer thread, a
bounded worker pool and one asyncio thread for every RIE server."""
import asyncio
import base64
import concurrent.futures
import heapq
import io
import ipaddress
import json
import math
import random
import socket
import tarfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
import zipfile

from ksim_store import now_rfc3339

RIE_PATH = "/2015-03-31/functions/function/invocations"
NODE_NAME = "kubesim-node"


# ---------------------------------------------------------------- timer + pool
class Scheduler:
    def __init__(self, workers=8):
        self.heap, self.seq = [], 0
        self.cv = threading.Condition()
        self.stopped = False
        self.pool = concurrent.futures.ThreadPoolExecutor(workers, thread_name_prefix="kubelet")
        self.thread = threading.Thread(target=self._run, name="kubelet-timer", daemon=True)
        self.thread.start()

    def at(self, delay_s, fn, *args):
        with self.cv:
            if self.stopped:
                return
            self.seq += 1
            heapq.heappush(self.heap, (time.monotonic() + max(0.0, delay_s), self.seq, fn, args))
            self.cv.notify()

    def _run(self):
        while True:
            with self.cv:
                if self.stopped:
                    return
                if not self.heap:
                    self.cv.wait(1.0)
                    continue
                due = self.heap[0][0] - time.monotonic()
                if due > 0:
                    self.cv.wait(min(due, 1.0))
                    continue
                _, _, fn, args = heapq.heappop(self.heap)
            try:
                self.pool.submit(self._safe, fn, args)
            except RuntimeError:
                return

    @staticmethod
    def _safe(fn, args):
        try:
            fn(*args)
        except Exception:  # a simulated kubelet bug must not kill the worker
            import traceback
            traceback.print_exc()

    def stop(self):
        with self.cv:
            self.stopped = True
            self.heap.clear()
            self.cv.notify_all()
        self.thread.join(5)
        self.pool.shutdown(wait=False, cancel_futures=True)


# ---------------------------------------------------------------- RIE servers
class RieHost:
    """One asyncio loop thread hosting every Pod's RIE stand-in server."""

    def __init__(self):
        self.loop = asyncio.new_event_loop()
        self.servers = {}
        self.thread = threading.Thread(target=self._run, name="kubesim-rie", daemon=True)
        self.thread.start()

    def _run(self):
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def start(self, ip, port, run):
        async def mk():
            return await asyncio.start_server(lambda r, w: self._conn(r, w, run), ip, port,
                                              reuse_address=True)
        srv = asyncio.run_coroutine_threadsafe(mk(), self.loop).result(5)
        self.servers[id(srv)] = (srv, run)
        return srv

    def close(self, srv, run):
        def _close():
            srv.close()
            for w in list(run.rie_writers):
                w.close()
        self.servers.pop(id(srv), None)
        try:
            self.loop.call_soon_threadsafe(_close)
        except RuntimeError:
            pass

    def stop(self):
        for srv, run in list(self.servers.values()):
            self.close(srv, run)
        try:
            self.loop.call_soon_threadsafe(self.loop.stop)
        except RuntimeError:
            pass
        self.thread.join(5)

    async def _conn(self, r, w, run):
        run.rie_writers.add(w)
        try:
            for _ in range(100000):
                line = await asyncio.wait_for(r.readline(), 300)
                if not line:
                    break
                parts = line.decode("latin-1").split()
                if len(parts) < 2:
                    break
                headers = {}
                for _ in range(200):
                    h = await asyncio.wait_for(r.readline(), 30)
                    if h in (b"\r\n", b"\n", b""):
                        break
                    k, _, v = h.decode("latin-1").partition(":")
                    headers[k.strip().lower()] = v.strip()
                body = b""
                if "chunked" in headers.get("transfer-encoding", "").lower():
                    for _ in range(100000):
                        sz = int((await asyncio.wait_for(r.readline(), 30)).split(b";")[0], 16)
                        if sz == 0:
                            await asyncio.wait_for(r.readline(), 30)
                            break
                        body += await asyncio.wait_for(r.readexactly(sz + 2), 30)
                        body = body[:-2]
                        if len(body) > 8 << 20:
                            break
                else:
                    n = int(headers.get("content-length", "0") or 0)
                    if n > 8 << 20:
                        break
                    if n:
                        body = await asyncio.wait_for(r.readexactly(n), 30)
                path = parts[1].split("?")[0]
                extra = ""
                if parts[0] == "POST" and path == RIE_PATH:
                    event = _event_of(body)
                    sleep_ms = event.get("kubesim_sleep_ms") if isinstance(event, dict) else None
                    if isinstance(sleep_ms, (int, float)) and sleep_ms > 0:
                        await asyncio.sleep(min(float(sleep_ms), 60000.0) / 1000.0)
                    code, doc = 200, run.rie_response(body)
                    if isinstance(event, dict) and isinstance(event.get("kubesim_error"), str):
                        # a function error: Lambda's Invoke answer (200 + X-Amz-Function-Error)
                        doc = {"errorMessage": event["kubesim_error"], "errorType": "Error",
                               "stackTrace": []}
                        extra = "X-Amz-Function-Error: Unhandled\r\n"
                    payload = json.dumps(doc).encode()
                else:
                    code, payload = 404, b'{"errorMessage":"not found"}'
                reason = "OK" if code == 200 else "Not Found"
                close = (headers.get("connection", "").lower() == "close"
                         or parts[-1] == "HTTP/1.0")
                w.write(("HTTP/1.1 %d %s\r\nContent-Type: application/json\r\n"
                         "Content-Length: %d\r\n%s%s\r\n" % (
                             code, reason, len(payload), extra,
                             "Connection: close\r\n" if close else "")).encode() + payload)
                await w.drain()
                if close:
                    break
        except Exception:
            pass
        finally:
            run.rie_writers.discard(w)
            try:
                w.close()
            except Exception:
                pass


def _event_of(body):
    """The invocation's event as JSON, or its text."""
    try:
        return json.loads(body.decode("utf-8")) if body else None
    except Exception:
        return body.decode("utf-8", "replace")


# ---------------------------------------------------------------- shell contract
def expand_k8s(s, env):
    """Kubernetes $(VAR) expansion of command/args/env values ($$ escapes $)."""
    out, i, n = [], 0, len(s)
    while i < n:
        c = s[i]
        if c == "$" and i + 1 < n:
            if s[i + 1] == "$":
                out.append("$")
                i += 2
                continue
            if s[i + 1] == "(":
                j = s.find(")", i + 2)
                if j > 0:
                    name = s[i + 2:j]
                    if name in env:
                        out.append(env[name])
                    else:
                        out.append(s[i:j + 1])
                    i = j + 1
                    continue
        out.append(c)
        i += 1
    return "".join(out)


def sh_commands(script, env):
    """Split a POSIX sh script into simple commands (lists of expanded words). Supports
    quoting, $VAR/${VAR}/${VAR:-def} expansion (not inside single quotes), comments,
    line continuations, ; && || | separators and redirections (dropped)."""
    cmds, cur, word = [], [], None
    skip_word = False
    i, n = 0, len(script)

    def end_word():
        nonlocal word, skip_word
        if word is not None:
            if skip_word:
                skip_word = False
            else:
                cur.append(word)
        word = None

    def end_cmd():
        nonlocal cur
        end_word()
        if cur:
            cmds.append(cur)
        cur = []

    def expand(j):
        """Expand a $ at script[j]; returns (text, next index)."""
        if j + 1 < n and script[j + 1] == "{":
            k = script.find("}", j + 2)
            if k < 0:
                return "$", j + 1
            inner = script[j + 2:k]
            if ":-" in inner:
                nm, dflt = inner.split(":-", 1)
                return (env.get(nm) or dflt), k + 1
            return env.get(inner, ""), k + 1
        k = j + 1
        if k < n and (script[k].isalpha() or script[k] == "_"):
            while k < n and (script[k].isalnum() or script[k] == "_"):
                k += 1
            return env.get(script[j + 1:k], ""), k
        if k < n and script[k] in "?$#!@*0123456789-":
            return "", k + 1
        return "$", j + 1

    while i < n:
        c = script[i]
        if c == "#" and word is None:
            while i < n and script[i] != "\n":
                i += 1
            continue
        if c in " \t\r":
            end_word()
            i += 1
        elif c in "\n;&|":
            end_cmd()
            i += 2 if script[i:i + 2] in ("&&", "||", ";;") else 1
        elif c in "<>":
            if word is not None and word.isdigit():
                word = None
            end_word()
            i += 1
            while i < n and script[i] in ">&":
                i += 1
            while i < n and script[i] in " \t":
                i += 1
            skip_word = True
            if i < n and script[i].isdigit() and script[i - 1] == "&":
                while i < n and script[i].isdigit():
                    i += 1
                skip_word = False
        elif c == "\\":
            if i + 1 < n and script[i + 1] == "\n":
                i += 2
            else:
                word = (word or "") + (script[i + 1] if i + 1 < n else "")
                i += 2
        elif c == "'":
            k = script.find("'", i + 1)
            k = n if k < 0 else k
            word = (word or "") + script[i + 1:k]
            i = k + 1
        elif c == '"':
            word = word or ""
            i += 1
            while i < n and script[i] != '"':
                if script[i] == "\\" and i + 1 < n and script[i + 1] in '$`"\\\n':
                    if script[i + 1] != "\n":
                        word += script[i + 1]
                    i += 2
                elif script[i] == "$":
                    t, i = expand(i)
                    word += t
                else:
                    word += script[i]
                    i += 1
            i += 1
        elif c == "$":
            t, i = expand(i)
            word = (word or "") + t
        else:
            word = (word or "") + c
            i += 1
    end_cmd()
    return cmds


_SHELL_KEYWORDS = {"if", "then", "else", "elif", "fi", "do", "done", "while", "until", "!",
                   "exec", "command", "busybox", "time"}


def parse_wget(words):
    """Return dict(url, output, headers, quiet) if words is a wget invocation, else None."""
    i = 0
    while i < len(words) and words[i] in _SHELL_KEYWORDS:
        i += 1
    if i >= len(words) or words[i].rsplit("/", 1)[-1] != "wget":
        return None
    args = words[i + 1:]
    res = {"url": None, "output": None, "headers": [], "quiet": False, "prefix": None,
           "timeout": 10.0}
    takes = {"O": "output", "T": "timeout", "t": None, "U": "ua", "P": "prefix", "Y": None,
             "e": None}
    long_takes = {"--output-document": "output", "--header": "header", "--timeout": "timeout",
                  "--user-agent": "ua", "--directory-prefix": "prefix", "--tries": None,
                  "--post-data": None, "--post-file": None, "--proxy": None,
                  "--method": None, "--body-data": None}
    j = 0

    def put(key, val):
        if key == "header":
            res["headers"].append(val)
        elif key == "timeout":
            try:
                res["timeout"] = min(10.0, float(val))
            except ValueError:
                pass
        elif key:
            res[key] = val

    while j < len(args):
        a = args[j]
        if a.startswith("--"):
            name, eq, val = a.partition("=")
            if name in long_takes:
                if not eq:
                    j += 1
                    val = args[j] if j < len(args) else ""
                put(long_takes[name], val)
            elif name == "--quiet":
                res["quiet"] = True
        elif a.startswith("-") and len(a) > 1:
            k = 1
            while k < len(a):
                ch = a[k]
                if ch in takes:
                    val = a[k + 1:]
                    if not val:
                        j += 1
                        val = args[j] if j < len(args) else ""
                    put(takes[ch], val)
                    break
                if ch == "q":
                    res["quiet"] = True
                k += 1
        elif res["url"] is None:
            res["url"] = a
        j += 1
    return res


def _is_loopback_host(host):
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host) in ipaddress.ip_network("127.0.0.0/8")
    except ValueError:
        return False


class _NoRemoteRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        host = urllib.parse.urlsplit(newurl).hostname or ""
        if not _is_loopback_host(host):
            raise urllib.error.URLError("refusing redirect to non-loopback host %r" % host)
        return super().redirect_request(req, fp, code, msg, headers, newurl)


_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRemoteRedirect())


def do_wget(spec, log):
    """Perform one download (loopback only). Returns (output_path, bytes) or raises
    RuntimeError(message) with busybox-like wording."""
    url = spec["url"]
    if not url:
        raise RuntimeError("wget: missing URL")
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    if parts.scheme not in ("http", "https"):
        raise RuntimeError("wget: not an http or ftp url: %s" % url)
    if not _is_loopback_host(host):
        raise RuntimeError("wget: refusing to contact non-loopback host '%s' "
                           "(kubesim only reaches 127.0.0.0/8)" % host)
    out = spec["output"]
    if out is None:
        out = parts.path.rsplit("/", 1)[-1] or "index.html"
        if spec["prefix"]:
            out = spec["prefix"].rstrip("/") + "/" + out
    hostport = parts.netloc.rsplit("@", 1)[-1]
    log("Connecting to %s (%s)" % (hostport, hostport))
    req = urllib.request.Request(url, method="GET")
    req.add_header("User-Agent", "Wget")
    for h in spec["headers"]:
        k, _, v = h.partition(":")
        if k.strip():
            req.add_header(k.strip(), v.strip())
    try:
        with _OPENER.open(req, timeout=spec["timeout"]) as resp:
            data = resp.read(512 << 20)
    except urllib.error.HTTPError as e:
        raise RuntimeError("wget: server returned error: HTTP/1.1 %d %s" % (e.code, e.reason))
    except urllib.error.URLError as e:
        r = e.reason
        if isinstance(r, ConnectionRefusedError):
            raise RuntimeError("wget: can't connect to remote host (%s): Connection refused"
                               % host)
        if isinstance(r, (socket.timeout, TimeoutError)):
            raise RuntimeError("wget: download timed out")
        raise RuntimeError("wget: %s" % r)
    except (socket.timeout, TimeoutError):
        raise RuntimeError("wget: download timed out")
    except Exception as e:
        raise RuntimeError("wget: %s" % e)
    log("saving to '%s'" % out)
    log("'%s' saved" % out)
    return out, data


def archive_entries(data):
    """('zip'|'tar'|None, sorted entry names)."""
    bio = io.BytesIO(data)
    if zipfile.is_zipfile(bio):
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as z:
                return "zip", sorted(n for n in z.namelist() if not n.endswith("/"))
        except Exception:
            return None, []
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as t:
            return "tar", sorted(m.name for m in t.getmembers() if not m.isdir())
    except Exception:
        return None, []


# ---------------------------------------------------------------- per-pod state
class ConfigError(Exception):
    pass


class LogBuffer:
    """One container's log: (unix time ns, line) pairs, the newest MAX kept. `base` is
    the absolute index of lines[0], so a follower keeps its position across trims."""
    MAX = 10000

    def __init__(self):
        self.lines, self.base, self.ended = [], 0, False

    def end(self):
        return self.base + len(self.lines)

    def since(self, index):
        """Lines from absolute index `index` on (those trimmed away are skipped)."""
        return self.lines[max(0, index - self.base):]


class PodRun:
    def __init__(self, pod):
        m = pod["metadata"]
        self.uid, self.ns, self.name = m["uid"], m["namespace"], m["name"]
        self.logs = {}
        self.lock = threading.Lock()
        # log writers notify followers (pods/log?follow=true) through this condition
        self.cv = threading.Condition(self.lock)
        self.ip = None
        self.shown_ip = None  # the podIP reported (differs from ip with --hide-pod-ips)
        self.rie = None
        self.rie_writers = set()
        self.rie_ready = None
        self.running_at = None
        self.downloads = {}
        self.code_files, self.layer_files = [], []
        self.env_main = {}
        self.main_container = None
        self.handler = None
        self.image = None
        self.invocations = 0
        self.gone = False

    def log(self, container, line):
        with self.cv:
            self.log_locked(container, line)

    def log_locked(self, container, line):
        """log() with self.cv held."""
        buf = self.logs.setdefault(container, LogBuffer())
        buf.lines.append((time.time_ns(), line))
        if len(buf.lines) > LogBuffer.MAX:
            drop = len(buf.lines) - LogBuffer.MAX
            del buf.lines[:drop]
            buf.base += drop
        self.cv.notify_all()

    def end_log(self, container):
        """The container terminated: followers of its log finish."""
        with self.cv:
            self.logs.setdefault(container, LogBuffer()).ended = True
            self.cv.notify_all()

    def end_all_logs(self):
        with self.cv:
            for buf in self.logs.values():
                buf.ended = True
            self.cv.notify_all()

    def rie_response(self, body):
        """One invocation, logged like the RIE does: START, the function's own lines
        (an event's "kubesim_log" list), END and REPORT (Init Duration on the first)."""
        t0 = time.monotonic()
        self.invocations += 1
        rid = str(uuid.uuid4())
        cname = self.main_container or "main"
        env = self.env_main or {}
        self.log(cname, "START RequestId: %s Version: %s"
                 % (rid, env.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")))
        event = _event_of(body)
        if isinstance(event, dict) and isinstance(event.get("kubesim_log"), list):
            for line in event["kubesim_log"][:1000]:
                self.log(cname, str(line)[:16384])
        resp = {"event": event, "handler": self.handler, "image": self.image,
                "env": self.env_main, "code_files": self.code_files,
                "layer_files": self.layer_files, "pod": self.name, "request_id": rid}
        ms = (time.monotonic() - t0) * 1000.0
        init = ""
        if self.invocations == 1 and self.rie_ready and self.running_at:
            init = "Init Duration: %.2f ms\t" % ((self.rie_ready - self.running_at) * 1000.0)
        mem = env.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "3008")
        self.log(cname, "END RequestId: %s" % rid)
        self.log(cname, "REPORT RequestId: %s\t%sDuration: %.2f ms\tBilled Duration: %.f ms\t"
                 "Memory Size: %s MB\tMax Memory Used: %s MB\t"
                 % (rid, init, ms, math.ceil(ms), mem, mem))
        return resp


def _cond(typ, status, reason=None, message=None):
    c = {"type": typ, "status": status, "lastProbeTime": None,
         "lastTransitionTime": now_rfc3339()}
    if reason:
        c["reason"] = reason
    if message:
        c["message"] = message
    return c


def _set_cond(pod, typ, status, reason=None, message=None):
    conds = pod["status"].setdefault("conditions", [])
    for i, c in enumerate(conds):
        if c["type"] == typ:
            if c.get("status") != status or c.get("reason") != reason:
                conds[i] = _cond(typ, status, reason, message)
            return
    conds.append(_cond(typ, status, reason, message))


def _cstatus(ct, state, ready=False, started=None, cid=None):
    s = {"name": ct["name"], "image": ct.get("image", ""), "imageID": "",
         "containerID": "", "ready": ready, "restartCount": 0, "state": state,
         "lastState": {}}
    if started is not None:
        s["started"] = started
    if cid:
        s["containerID"] = cid
        s["imageID"] = "docker-pullable://%s@sha256:%s" % (ct.get("image", ""), "0" * 64)
    return s


def _image_problem(image):
    low = (image or "").lower()
    if "invalidimagename" in low:
        return ("InvalidImageName",
                'Failed to apply default image tag "%s": couldn\'t parse image reference '
                '"%s": invalid reference format' % (image, image))
    if "errimagepull" in low:
        return ("ErrImagePull",
                'rpc error: code = NotFound desc = failed to pull and unpack image "%s": '
                'failed to resolve reference "%s": not found' % (image, image))
    return None


class Kubelet:
    def __init__(self, sim):
        self.sim = sim
        self.store = sim.store
        self.runs = {}
        self.lock = threading.Lock()
        self.sched = Scheduler(sim.args.kubelet_workers)
        self.rie = RieHost()
        self.ip_in_use = set()
        # Start at a random /16 so simulators running side by side (parallel
        # tests) do not hand out the same podIPs: a Pod whose RIE never
        # listens must not find another simulator's RIE at its address.
        self.ip_next = int(ipaddress.ip_address(
            "127.%d.0.1" % random.SystemRandom().randint(1, 254)))
        self.ip_last = int(ipaddress.ip_address("127.254.255.254"))
        # --hide-pod-ips: the podIP reported -> where the RIE really listens
        self.hidden = {}
        self.hidden_next = 1
        hook = self._hook_fn()
        self.store.hooks.append(hook)
        self.stopped = False

    # -- bookkeeping
    def _hook(self, typ, res, obj, old):
        if res != "pods" or self.stopped:
            return
        if typ == "ADDED":
            if obj["metadata"].get("annotations", {}).get("kubesim/bulk") == "true":
                return
            run = PodRun(obj)
            with self.lock:
                self.runs[run.uid] = run
            self.sched.at(0, self._schedule, run)
        elif typ == "DELETED":
            with self.lock:
                run = self.runs.pop(obj["metadata"]["uid"], None)
            if run:
                self._cleanup(run)

    def _hook_fn(self):
        def hook(typ, res, obj, old):
            self._hook(typ, res, obj, old)

        def many(typ, res, pairs):
            if res != "pods" or self.stopped:
                return
            if typ != "DELETED":
                for obj, old in pairs:
                    self._hook(typ, res, obj, old)
                return
            with self.lock:
                runs = [self.runs.pop(obj["metadata"]["uid"], None) for obj, _old in pairs]
            for run in runs:
                if run is not None:
                    self._cleanup(run)
        hook.many = many
        return hook

    def _cleanup(self, run):
        run.gone = True
        run.end_all_logs()
        if run.rie is not None:
            self.rie.close(run.rie, run)
            run.rie = None
        if run.ip is not None:
            with self.lock:
                self.ip_in_use.discard(run.ip)
                self.hidden.pop(run.shown_ip, None)
            run.ip = None

    def run_for(self, uid):
        with self.lock:
            return self.runs.get(uid)

    def stop(self):
        self.stopped = True
        self.sched.stop()
        with self.lock:
            runs = list(self.runs.values())
            self.runs.clear()
        for r in runs:
            self._cleanup(r)
        self.rie.stop()

    def pod_stats(self):
        with self.lock:
            runs = list(self.runs.values())
        out = {}
        for r in runs:
            out["%s/%s" % (r.ns, r.name)] = {
                "uid": r.uid, "pod_ip": r.ip, "rie_ready_monotonic": r.rie_ready,
                "running_monotonic": r.running_at, "invocations": r.invocations,
                "code_files": r.code_files, "layer_files": r.layer_files}
        return out

    def _alloc_ip(self):
        """Next free pod IP whose RIE port can be bound. The candidate is reserved under
        the lock and probed outside it, so concurrent Pods do not queue behind one
        another's bind() probes."""
        port = self.sim.args.rie_port
        first = int(ipaddress.ip_address("127.1.0.1"))
        span = self.ip_last - first + 1
        for _ in range(min(span, 4096)):
            with self.lock:
                cand = self.ip_next
                self.ip_next = cand + 1 if cand < self.ip_last else first
                ip = str(ipaddress.ip_address(cand))
                if cand & 0xff in (0, 255) or ip in self.ip_in_use:
                    continue
                self.ip_in_use.add(ip)
            s = socket.socket()
            try:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                s.bind((ip, port))
            except OSError:
                with self.lock:
                    self.ip_in_use.discard(ip)
                continue
            finally:
                s.close()
            return ip
        return None

    # -- helpers
    def _pod(self, run):
        if run.gone or self.stopped:
            return None
        p = self.store.find("pods", run.ns, run.name)
        if p is None or p["metadata"]["uid"] != run.uid:
            return None
        return p

    def _mutate(self, run, fn, parts=("status",)):
        """The kubelet writes the status (and, when binding, spec.nodeName): only those
        parts of the stored Pod are copied and encoded again."""
        if run.gone or self.stopped:
            return None
        return self.store.mutate("pods", run.ns, run.name, fn, uid=run.uid, parts=parts)

    def _delay_ms(self, pod, key, default):
        v = (pod["metadata"].get("annotations") or {}).get(key)
        try:
            return max(0.0, float(v)) / 1000.0 if v is not None else default / 1000.0
        except ValueError:
            return default / 1000.0

    def resolve_env(self, pod, ct, ip=None):
        env = {}
        ns = pod["metadata"]["namespace"]
        for ef in ct.get("envFrom") or []:
            pre = ef.get("prefix", "")
            if "secretRef" in ef:
                ref = ef["secretRef"] or {}
                sec = self.store.find("secrets", ns, ref.get("name", ""))
                if sec is None:
                    if ref.get("optional"):
                        continue
                    raise ConfigError('secret "%s" not found' % ref.get("name", ""))
                for k, v in (sec.get("data") or {}).items():
                    env[pre + k] = base64.b64decode(v).decode("utf-8", "replace")
            elif "configMapRef" in ef:
                ref = ef["configMapRef"] or {}
                if not ref.get("optional"):
                    raise ConfigError('configmap "%s" not found' % ref.get("name", ""))
        for e in ct.get("env") or []:
            name = e.get("name", "")
            vf = e.get("valueFrom")
            if vf:
                if "secretKeyRef" in vf:
                    ref = vf["secretKeyRef"] or {}
                    sname, key = ref.get("name", ""), ref.get("key", "")
                    sec = self.store.find("secrets", ns, sname)
                    if sec is None:
                        if ref.get("optional"):
                            continue
                        raise ConfigError('secret "%s" not found' % sname)
                    data = sec.get("data") or {}
                    if key not in data:
                        if ref.get("optional"):
                            continue
                        raise ConfigError("couldn't find key %s in Secret %s/%s"
                                          % (key, ns, sname))
                    env[name] = base64.b64decode(data[key]).decode("utf-8", "replace")
                elif "configMapKeyRef" in vf:
                    ref = vf["configMapKeyRef"] or {}
                    if ref.get("optional"):
                        continue
                    raise ConfigError('configmap "%s" not found' % ref.get("name", ""))
                elif "fieldRef" in vf:
                    fp = (vf["fieldRef"] or {}).get("fieldPath", "")
                    m = pod["metadata"]
                    vals = {"metadata.name": m["name"], "metadata.namespace": m["namespace"],
                            "metadata.uid": m["uid"], "spec.nodeName": NODE_NAME,
                            "spec.serviceAccountName": pod["spec"].get("serviceAccountName",
                                                                       "default"),
                            "status.hostIP": "127.0.0.1", "status.podIP": ip or "",
                            "status.podIPs": ip or "", "status.hostIPs": "127.0.0.1"}
                    if fp.startswith("metadata.labels['"):
                        env[name] = (m.get("labels") or {}).get(fp[17:-2], "")
                    elif fp.startswith("metadata.annotations['"):
                        env[name] = (m.get("annotations") or {}).get(fp[22:-2], "")
                    else:
                        env[name] = vals.get(fp, "")
                else:
                    env[name] = "0"
            else:
                env[name] = expand_k8s(e.get("value", ""), env)
        return env

    # -- lifecycle steps (each runs on the worker pool)
    def _schedule(self, run):
        pod = self._pod(run)
        if pod is None:
            return
        spec = pod["spec"]
        inits = spec.get("initContainers") or []
        conts = spec.get("containers") or []
        if any("unschedulable" in (c.get("image") or "").lower() for c in inits + conts):
            def unsched(p):
                _set_cond(p, "PodScheduled", "False", "Unschedulable",
                          "0/1 nodes are available: 1 Insufficient memory.")
            self._mutate(run, unsched)
            return

        def bind(p):
            p["spec"]["nodeName"] = NODE_NAME
            st = p["status"]
            st["hostIP"] = "127.0.0.1"
            st["hostIPs"] = [{"ip": "127.0.0.1"}]
            st["startTime"] = now_rfc3339()
            _set_cond(p, "PodReadyToStartContainers", "False")
            if inits:
                _set_cond(p, "Initialized", "False", "ContainersNotInitialized",
                          "containers with incomplete status: [%s]"
                          % " ".join(c["name"] for c in inits))
            else:
                _set_cond(p, "Initialized", "True")
            names = " ".join(c["name"] for c in conts)
            _set_cond(p, "Ready", "False", "ContainersNotReady",
                      "containers with unready status: [%s]" % names)
            _set_cond(p, "ContainersReady", "False", "ContainersNotReady",
                      "containers with unready status: [%s]" % names)
            _set_cond(p, "PodScheduled", "True")
            if inits:
                st["initContainerStatuses"] = [
                    _cstatus(c, {"waiting": {"reason": "PodInitializing"}}) for c in inits]
            wait_reason = "PodInitializing" if inits else "ContainerCreating"
            st["containerStatuses"] = [
                _cstatus(c, {"waiting": {"reason": wait_reason}}, started=False) for c in conts]
        if self._mutate(run, bind, ("spec", "status")) is None:
            return
        self.sched.at(0, self._init_step, run, 0)

    def _waiting(self, run, kind, idx, reason, message):
        def f(p):
            lst = p["status"].get(kind) or []
            if idx < len(lst):
                w = {"reason": reason}
                if message:
                    w["message"] = message
                if lst[idx]["state"].get("waiting") == w:
                    return False
                lst[idx]["state"] = {"waiting": w}
        return self._mutate(run, f)

    def _image_gate(self, run, kind, idx, ct, retry):
        prob = _image_problem(ct.get("image"))
        if prob is None:
            return True
        self._waiting(run, kind, idx, prob[0], prob[1])
        if prob[0] == "ErrImagePull":
            self.sched.at(1.0, self._waiting, run, kind, idx, "ImagePullBackOff",
                          'Back-off pulling image "%s"' % ct.get("image"))
        return False

    def _init_step(self, run, i):
        pod = self._pod(run)
        if pod is None:
            return
        inits = pod["spec"].get("initContainers") or []
        if i >= len(inits):
            self._main_start(run)
            return
        ct = inits[i]
        if not self._image_gate(run, "initContainerStatuses", i, ct, True):
            return
        try:
            env = self.resolve_env(pod, ct)
        except ConfigError as e:
            self._waiting(run, "initContainerStatuses", i, "CreateContainerConfigError", str(e))
            self.sched.at(self.sim.args.config_retry_ms / 1000.0, self._init_step, run, i)
            return
        started = now_rfc3339()
        cid = "containerd://%s-%s" % (run.uid, ct["name"])

        def running(p):
            p["status"]["initContainerStatuses"][i]["state"] = {"running": {"startedAt": started}}
            p["status"]["initContainerStatuses"][i]["containerID"] = cid
            _set_cond(p, "PodReadyToStartContainers", "True")
        if self._mutate(run, running) is None:
            return
        err, code = self._exec_init(run, pod, ct, env)
        finished = now_rfc3339()
        if err is None:
            def done(p):
                s = p["status"]["initContainerStatuses"][i]
                s["state"] = {"terminated": {"exitCode": 0, "reason": "Completed",
                                             "startedAt": started, "finishedAt": finished,
                                             "containerID": cid}}
                s["ready"] = True
                if i + 1 == len(inits):
                    _set_cond(p, "Initialized", "True")
            run.end_log(ct["name"])
            if self._mutate(run, done) is None:
                return
            self.sched.at(0, self._init_step, run, i + 1)
        else:
            run.log(ct["name"], err)
            run.end_log(ct["name"])

            def failed(p):
                s = p["status"]["initContainerStatuses"][i]
                term = {"exitCode": code, "reason": "Error", "startedAt": started,
                        "finishedAt": finished, "containerID": cid}
                if p["spec"].get("restartPolicy", "Always") == "Never":
                    s["state"] = {"terminated": term}
                    p["status"]["phase"] = "Failed"
                    _set_cond(p, "Ready", "False", "PodFailed")
                    _set_cond(p, "ContainersReady", "False", "PodFailed")
                else:
                    s["state"] = {"waiting": {
                        "reason": "CrashLoopBackOff",
                        "message": "back-off 10s restarting failed container=%s pod=%s_%s(%s)"
                                   % (ct["name"], run.name, run.ns, run.uid)}}
                    s["lastState"] = {"terminated": term}
                    s["restartCount"] = 1
                for c in p["status"].get("containerStatuses") or []:
                    if p["status"]["phase"] == "Failed":
                        c["state"] = {"waiting": {"reason": "PodInitializing"}}
            self._mutate(run, failed)

    def _exec_init(self, run, pod, ct, env):
        """Execute an init container's effect. Returns (None, 0) or (message, exitCode)."""
        if "crash" in (ct.get("image") or "").lower():
            return "simulated crash: exit code 3", 3
        words = [expand_k8s(w, env) for w in (ct.get("command") or []) + (ct.get("args") or [])]
        script = None
        for k, w in enumerate(words):
            if w == "-c" and k + 1 < len(words) and k >= 1 and \
                    words[k - 1].rsplit("/", 1)[-1] in ("sh", "bash", "ash"):
                script = words[k + 1]
                break
        cmds = sh_commands(script, env) if script is not None else ([words] if words else [])
        for cmd in cmds[:1000]:
            spec = parse_wget(cmd)
            if spec is not None:
                try:
                    out, data = do_wget(spec, lambda line: run.log(ct["name"], line))
                except RuntimeError as e:
                    return str(e), 1
                run.downloads[out] = data
                continue
            prog = next((w for w in cmd if w not in _SHELL_KEYWORDS), "")
            prog = prog.rsplit("/", 1)[-1]
            if prog in ("unzip", "tar"):
                for w in cmd[1:]:
                    data = run.downloads.get(w)
                    if not data:
                        continue
                    kind, _ = archive_entries(data)
                    if prog == "unzip" and kind != "zip":
                        return "unzip: %s: not ZIP file" % w, 1
                    if prog == "tar" and kind != "tar":
                        return "tar: %s: invalid tar magic" % w, 1
            elif prog in ("false", "exit") and (prog == "false" or cmd[-1:] != ["0"]):
                code = 1
                if prog == "exit" and len(cmd) > 1 and cmd[-1].isdigit():
                    code = int(cmd[-1])
                return "exit code %d" % code, code
        for path, data in sorted(run.downloads.items()):
            kind, names = archive_entries(data)
            if "layer" in path.lower() or kind == "tar":
                if kind:
                    run.layer_files = sorted(set(run.layer_files) | set(names))
            elif kind == "zip":
                run.code_files = sorted(set(run.code_files) | set(names))
        return None, 0

    def _main_start(self, run):
        pod = self._pod(run)
        if pod is None:
            return
        conts = pod["spec"].get("containers") or []
        for i, ct in enumerate(conts):
            if not self._image_gate(run, "containerStatuses", i, ct, True):
                return
        try:
            envs = [self.resolve_env(pod, ct) for ct in conts]
        except ConfigError as e:
            self._waiting(run, "containerStatuses", 0, "CreateContainerConfigError", str(e))
            self.sched.at(self.sim.args.config_retry_ms / 1000.0, self._main_start, run)
            return

        def creating(p):
            for c in p["status"].get("containerStatuses") or []:
                if c["state"].get("waiting", {}).get("reason") != "ContainerCreating":
                    c["state"] = {"waiting": {"reason": "ContainerCreating"}}
                    return
            return False
        self._mutate(run, creating)
        main = conts[0]
        run.env_main = envs[0]
        run.main_container = main["name"]
        run.image = main.get("image")
        args = main.get("args") or []
        run.handler = args[0] if args else None
        boot = self._delay_ms(pod, "kubesim/boot-ms", self.sim.faults.get("boot_ms"))
        self.sched.at(boot, self._main_running, run)

    def _main_running(self, run):
        pod = self._pod(run)
        if pod is None:
            return
        ip = self._alloc_ip()
        if ip is None:
            self._waiting(run, "containerStatuses", 0, "ContainerCreating",
                          "kubesim: no free pod IP")
            return
        run.ip = ip
        run.shown_ip = shown = self._shown_ip(ip)
        conts = pod["spec"].get("containers") or []
        try:
            run.env_main = self.resolve_env(pod, conts[0], shown)
        except ConfigError:
            pass
        started = now_rfc3339()
        image = (run.image or "").lower()

        def running(p):
            st = p["status"]
            st["phase"] = "Running"
            st["podIP"] = shown
            st["podIPs"] = [{"ip": shown}]
            _set_cond(p, "PodReadyToStartContainers", "True")
            _set_cond(p, "Initialized", "True")
            for c, ct in zip(st.get("containerStatuses") or [], conts):
                c["state"] = {"running": {"startedAt": started}}
                c["started"] = True
                c["containerID"] = "containerd://%s-%s" % (run.uid, ct["name"])
                c["imageID"] = "docker-pullable://%s@sha256:%s" % (ct.get("image", ""), "0" * 64)
        if self._mutate(run, running) is None:
            self._cleanup_ip(run)
            return
        run.running_at = time.monotonic()
        cname = conts[0]["name"]
        run.log(cname, "START RIE (kubesim) image=%s handler=%s" % (run.image, run.handler))
        if "crash" in image:
            self.sched.at(0.05, self._terminate_main, run, 3, "Error",
                          "simulated crash: exit code 3", started)
        elif "succeed" in image:
            self.sched.at(0.05, self._terminate_main, run, 0, "Completed",
                          "simulated success: exit code 0", started)
        elif "norie" in image:
            run.log(cname, "RIE disabled by image name (norie): never listening")
        else:
            delay = self._delay_ms(pod, "kubesim/rie-delay-ms",
                                   self.sim.faults.get("rie_delay_ms"))
            self.sched.at(delay, self._rie_listen, run, cname)

    def _cleanup_ip(self, run):
        if run.ip:
            with self.lock:
                self.ip_in_use.discard(run.ip)
                self.hidden.pop(run.shown_ip, None)
            run.ip = None

    def _shown_ip(self, ip):
        """The podIP to report for a runtime listening on IP: IP itself, or with
        --hide-pod-ips an address of 127.255.0.0/16 where nothing listens (kubesim
        never binds there), remembered for pods/proxy."""
        if not self.sim.args.hide_pod_ips:
            return ip
        with self.lock:
            for _ in range(65536):
                n = self.hidden_next
                self.hidden_next = n % 65534 + 1
                shown = "127.255.%d.%d" % (n >> 8, n & 0xff)
                if n & 0xff not in (0, 255) and shown not in self.hidden:
                    self.hidden[shown] = ip
                    return shown
        return ip

    def reachable_ip(self, shown):
        """Where pods/proxy sends a request for a Pod whose podIP is SHOWN."""
        with self.lock:
            return self.hidden.get(shown, shown)

    def _terminate_main(self, run, code, reason, line, started):
        pod = self._pod(run)
        if pod is None:
            return
        names = [c["name"] for c in pod["spec"]["containers"]]
        run.log(names[0], line)
        finished = now_rfc3339()

        def term(p):
            st = p["status"]
            st["phase"] = "Succeeded" if code == 0 else "Failed"
            for c in st.get("containerStatuses") or []:
                c["state"] = {"terminated": {"exitCode": code, "reason": reason,
                                             "startedAt": started, "finishedAt": finished,
                                             "containerID": c.get("containerID", "")}}
                c["ready"] = False
                c["started"] = False
            why = "PodCompleted" if code == 0 else "PodFailed"
            _set_cond(p, "Ready", "False", why)
            _set_cond(p, "ContainersReady", "False", why)
        self._mutate(run, term)
        for name in names:
            run.end_log(name)

    def _rie_listen(self, run, cname):
        if self._pod(run) is None or run.ip is None:
            return
        port = self.sim.args.rie_port
        # The log lock is held from before the server listens until its line is written,
        # so a first invocation (which logs too) cannot come before "listening" in the log.
        with run.cv:
            try:
                run.rie = self.rie.start(run.ip, port, run)
            except Exception as e:
                run.log_locked(cname, "RIE failed to listen on %s:%d: %s" % (run.ip, port, e))
                return
            run.rie_ready = time.monotonic()
            if not run.gone:
                run.log_locked(cname, "START RIE listening on %s:%d" % (run.ip, port))
        if run.gone:
            self.rie.close(run.rie, run)
            run.rie = None
            return

        def ready(p):
            for c in p["status"].get("containerStatuses") or []:
                c["ready"] = True
            _set_cond(p, "Ready", "True")
            _set_cond(p, "ContainersReady", "True")
        self._mutate(run, ready)
