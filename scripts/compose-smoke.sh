#!/usr/bin/env bash
# Smoke test of the Compose stack without Docker: runs the Ringside services of
# docker-compose.yml (pbx-sim, ingestor, state, provisioning, gateway) as local
# processes, with the `command` and `environment` the Compose file gives them,
# against the local NATS (127.0.0.1:4222) and PostgreSQL (127.0.0.1:5432,
# database test), and checks the end-to-end path:
#   - every service stays up and answers /metrics (its metrics listener, or
#     the gateway's HTTP port) with Prometheus text;
#   - the ingestor publishes the simulator's events (`ringside events tail`);
#   - after logging in, the gateway's REST `/api/v1/live/calls` shows a live
#     call of the simulated PBX.
#
# Compose's host names and ports are rewritten for one machine: nats →
# 127.0.0.1:4222, postgres → $SMOKE_DATABASE_URL, pbx-sim → a free local port,
# every 0.0.0.0 listener → 127.0.0.1 on a free port. The bus gets a random
# prefix (RINGSIDE__BUS__PREFIX) so nothing else on that NATS is touched; its
# streams are deleted at the end. The OTLP endpoint is dropped (no collector
# here) unless SMOKE_OTLP_ENDPOINT is set.
#
# Knobs (environment):
#   RINGSIDE_BIN          the binary (default: target/debug/ringside, built with
#                         `cargo build -p ringside` unless SMOKE_NO_BUILD=1)
#   SMOKE_SERVICES        which services to run (default: all five, in order)
#   SMOKE_CHECKS          which checks (default: "metrics events calls")
#   SMOKE_DATABASE_URL    default postgres://postgres@127.0.0.1:5432/test
#   SMOKE_NATS_URL        default nats://127.0.0.1:4222
#   SMOKE_USER / SMOKE_PASSWORD   gateway login (default: admin and the
#                         Compose file's RINGSIDE__PROVISIONING__ADMIN_PASSWORD)
#   SMOKE_UNSET           env keys (prefixes) dropped from the Compose
#                         environment, e.g. "RINGSIDE__TELEMETRY__" for a binary
#                         that does not know that section yet
#   SMOKE_TIMEOUT         seconds to wait for each check (default 30)
#   SMOKE_DRY_RUN=1       print the commands and environment, run nothing
# Logs of every process are kept in a temporary directory, printed on failure.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$(repo_root)"

require python3 "install Python 3"
python3 -c 'import yaml' 2>/dev/null || die "python3 needs PyYAML (pip install pyyaml)"

if [[ -z "${RINGSIDE_BIN:-}" ]]; then
    RINGSIDE_BIN="$PWD/target/debug/ringside"
    if [[ "${SMOKE_NO_BUILD:-0}" != 1 && "${SMOKE_DRY_RUN:-0}" != 1 ]]; then
        step "cargo build -p ringside"
        cargo build -p ringside
    fi
fi
export RINGSIDE_BIN

exec python3 - docker-compose.yml <<'PY'
import json, os, random, re, secrets, signal, socket, subprocess, sys, tempfile, time
import urllib.error, urllib.request
import yaml

COMPOSE = sys.argv[1]
BIN = os.environ["RINGSIDE_BIN"]
ALL = ["pbx-sim", "ingestor", "state", "provisioning", "gateway"]
SERVICES = os.environ.get("SMOKE_SERVICES", " ".join(ALL)).split()
CHECKS = os.environ.get("SMOKE_CHECKS", "metrics events calls").split()
DB_URL = os.environ.get("SMOKE_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/test")
NATS_URL = os.environ.get("SMOKE_NATS_URL", "nats://127.0.0.1:4222")
UNSET = os.environ.get("SMOKE_UNSET", "").split()
TIMEOUT = float(os.environ.get("SMOKE_TIMEOUT", "30"))
DRY_RUN = os.environ.get("SMOKE_DRY_RUN") == "1"
PREFIX = "smoke" + secrets.token_hex(4)

def fail(msg):
    print(f"FAIL: {msg}", file=sys.stderr)
    raise SystemExit(1)

# ---- the Compose file --------------------------------------------------------------
INTERP = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::?-([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)")

def interpolate(value):
    """Compose's ${VAR:-default} / ${VAR} / $VAR, from this environment."""
    if not isinstance(value, str):
        return value
    def sub(m):
        name = m.group(1) or m.group(3)
        default = m.group(2)
        got = os.environ.get(name)
        return got if got not in (None, "") else (default or "")
    return INTERP.sub(sub, value.replace("$$", "\0")).replace("\0", "$")

def as_env(environment):
    if environment is None:
        return {}
    if isinstance(environment, list):
        out = {}
        for item in environment:
            k, _, v = item.partition("=")
            out[k] = v
        return out
    return {str(k): "" if v is None else str(v) for k, v in environment.items()}

with open(COMPOSE) as f:
    compose = yaml.safe_load(f)
services = compose.get("services", {})
for name in SERVICES:
    if name not in services:
        fail(f"{COMPOSE} has no service {name!r}")

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]

ami_port = free_port()
nats_hostport = re.sub(r"^nats://", "", NATS_URL)

def localize(key, value):
    """Compose network names and listeners → this machine."""
    value = value.replace("nats://nats:4222", NATS_URL)
    value = re.sub(r"postgres(ql)?://[^\s]*@postgres:5432/[^\s?]*", DB_URL, value)
    value = value.replace("@pbx-sim:5038", f"@127.0.0.1:{ami_port}")
    if re.fullmatch(r"0\.0\.0\.0:\d+", value):
        value = f"127.0.0.1:{free_port()}"
    return value

plan = []
for name in SERVICES:
    svc = services[name]
    command = svc.get("command") or []
    if isinstance(command, str):
        command = command.split()
    args = [interpolate(str(a)) for a in command]
    # The simulator's AMI port is the one the ingestor's --pbx URL points at.
    args = [f"127.0.0.1:{ami_port}" if (name == "pbx-sim" and a == "0.0.0.0:5038") else localize("", a)
            for a in args]
    env = {}
    for k, v in as_env(svc.get("environment")).items():
        if any(k.startswith(p) for p in UNSET):
            continue
        env[k] = localize(k, interpolate(v))
    env.pop("OTEL_EXPORTER_OTLP_ENDPOINT", None)
    if os.environ.get("SMOKE_OTLP_ENDPOINT"):
        env["OTEL_EXPORTER_OTLP_ENDPOINT"] = os.environ["SMOKE_OTLP_ENDPOINT"]
    if name != "pbx-sim":
        env["RINGSIDE__BUS__PREFIX"] = PREFIX
    metrics_addr = env.get("RINGSIDE__TELEMETRY__METRICS_LISTEN") or env.get("RINGSIDE__GATEWAY__LISTEN")
    plan.append({"name": name, "args": args, "env": env, "metrics": metrics_addr})

def show(p):
    keys = sorted(p["env"])
    masked = {k: ("***" if re.search(r"SECRET|PASSWORD|DATABASE_URL", k) else p["env"][k]) for k in keys}
    return f"ringside {' '.join(p['args'])}\n    " + "\n    ".join(f"{k}={v}" for k, v in masked.items())

if DRY_RUN:
    for p in plan:
        print(f"[{p['name']}] {show(p)}")
    raise SystemExit(0)

# ---- NATS: the smoke run's streams are deleted at the end -------------------------------
def nats_request(subject, payload=b"{}", timeout=5.0):
    host, _, port = nats_hostport.rpartition(":")
    with socket.create_connection((host or "127.0.0.1", int(port)), timeout=timeout) as s:
        f = s.makefile("rb")
        f.readline()  # INFO
        inbox = "_INBOX.smoke." + secrets.token_hex(6)
        s.sendall(b'CONNECT {"verbose":false,"pedantic":false}\r\n')
        s.sendall(f"SUB {inbox} 1\r\n".encode())
        s.sendall(f"PUB {subject} {inbox} {len(payload)}\r\n".encode() + payload + b"\r\nPING\r\n")
        while True:
            line = f.readline()
            if not line:
                raise RuntimeError("NATS closed the connection")
            if line.startswith(b"MSG"):
                size = int(line.split()[-1])
                data = f.read(size + 2)[:size]
                return json.loads(data)
            if line.startswith(b"-ERR"):
                raise RuntimeError(line.decode().strip())

def cleanup_streams():
    try:
        names = nats_request("$JS.API.STREAM.NAMES").get("streams") or []
        for stream in names:
            if PREFIX in stream:
                nats_request(f"$JS.API.STREAM.DELETE.{stream}")
    except Exception as e:  # cleanup must not hide the result
        print(f"note: could not delete the smoke streams ({e})", file=sys.stderr)

# ---- processes ----------------------------------------------------------------------------
logdir = tempfile.mkdtemp(prefix="ringside-smoke-")
procs = []

def start(p):
    log = open(os.path.join(logdir, f"{p['name']}.log"), "wb")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RINGSIDE__", "OTEL_"))}
    env.update(p["env"])
    proc = subprocess.Popen([BIN] + p["args"], env=env, stdout=log, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL)
    procs.append((p["name"], proc))
    print(f"started {p['name']} (pid {proc.pid}): {show(p)}", file=sys.stderr)

def stop_all():
    for _, proc in reversed(procs):
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    deadline = time.time() + 15
    for _, proc in reversed(procs):
        try:
            proc.wait(timeout=max(0.1, deadline - time.time()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

def dump_logs():
    for name, _ in procs:
        path = os.path.join(logdir, f"{name}.log")
        with open(path, "rb") as f:
            tail = f.read()[-4000:].decode(errors="replace")
        print(f"---- {name} ({path}), last lines ----\n{tail}", file=sys.stderr)

def alive():
    for name, proc in procs:
        if proc.poll() is not None:
            raise AssertionError(f"{name} exited with status {proc.returncode}")

def wait_for(what, probe):
    deadline = time.time() + TIMEOUT
    last = None
    while time.time() < deadline:
        alive()
        try:
            result = probe()
            if result:
                return result
        except Exception as e:
            last = e
        time.sleep(0.5)
    raise AssertionError(f"{what}: not within {TIMEOUT:.0f}s (last error: {last})")

def http(method, url, body=None, token=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status, r.headers.get("Content-Type", ""), r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type", ""), e.read().decode(errors="replace")

results = []
def check(name, fn):
    try:
        detail = fn()
        results.append((name, True, detail or ""))
        print(f"ok   {name} {detail or ''}", file=sys.stderr)
    except AssertionError as e:
        results.append((name, False, str(e)))
        print(f"FAIL {name}: {e}", file=sys.stderr)

try:
    for p in plan:
        start(p)
        if p["name"] == "pbx-sim":
            wait_for("pbx-sim AMI port", lambda: socket.create_connection(("127.0.0.1", ami_port), 1).close() or True)
    time.sleep(2)
    check("all processes up", lambda: alive())

    if "metrics" in CHECKS:
        for p in plan:
            if p["name"] == "pbx-sim":
                continue
            def metrics_ok(p=p):
                if not p["metrics"]:
                    raise AssertionError("no metrics listener in its Compose environment")
                def probe():
                    status, ctype, body = http("GET", f"http://{p['metrics']}/metrics")
                    return status == 200 and ctype.startswith("text/plain") and "ringside_" in body and body
                body = wait_for(f"{p['name']} /metrics", probe)
                return f"({len(body.splitlines())} lines at {p['metrics']})"
            check(f"{p['name']} /metrics", metrics_ok)

    ingestor = next((p for p in plan if p["name"] == "ingestor"), None)
    if "events" in CHECKS and ingestor:
        def events_ok():
            env = {k: v for k, v in os.environ.items() if not k.startswith(("RINGSIDE__", "OTEL_"))}
            env.update({k: v for k, v in ingestor["env"].items() if k.startswith("RINGSIDE__BUS__")})
            def probe():
                out = subprocess.run([BIN, "events", "tail", "--no-follow", "--since", "5m"], env=env,
                                     capture_output=True, timeout=20, text=True)
                lines = [l for l in out.stdout.splitlines() if l.strip()]
                if out.returncode != 0:
                    raise AssertionError(out.stderr.strip()[-300:])
                return len(lines) >= 10 and lines
            lines = wait_for("events on the bus", probe)
            return f"({len(lines)} events)"
        check("ingestor publishes events", events_ok)

    gateway = next((p for p in plan if p["name"] == "gateway"), None)
    if "calls" in CHECKS and gateway:
        def calls_ok():
            base = f"http://{gateway['env'].get('RINGSIDE__GATEWAY__LISTEN')}"
            user = os.environ.get("SMOKE_USER", "admin")
            password = os.environ.get("SMOKE_PASSWORD") or next(
                (p["env"][k] for p in plan for k in p["env"] if k.endswith("__ADMIN_PASSWORD")), "admin")
            def login():
                status, _, body = http("POST", f"{base}/api/v1/auth/login", {"username": user, "password": password})
                if status != 200:
                    raise AssertionError(f"login answered {status}: {body[:200]}")
                return json.loads(body)["access_token"]
            token = wait_for("gateway login", login)
            def calls():
                status, _, body = http("GET", f"{base}/api/v1/live/calls", token=token)
                if status != 200:
                    raise AssertionError(f"/api/v1/live/calls answered {status}: {body[:200]}")
                items = json.loads(body).get("items") or []
                return items
            items = wait_for("a live call in /api/v1/live/calls", calls)
            return f"({len(items)} live calls)"
        check("live call visible through the gateway", calls_ok)
finally:
    stop_all()
    cleanup_streams()

failed = [r for r in results if not r[1]]
if failed:
    dump_logs()
print(f"{len(results) - len(failed)} passed, {len(failed)} failed")
raise SystemExit(1 if failed else 0)
PY
