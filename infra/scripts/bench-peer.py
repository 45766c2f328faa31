#!/usr/bin/env python3
"""The peer benchmark's runner (started by infra/scripts/bench-peer.sh; stdlib only).

Starts the Dataverse emulator (``--seed contacts:N``) and the Insider emulator as their own
processes, then for each page size runs, one after the other against those same emulators:

* the Airbyte connector's ``read`` of the ``contact`` stream (full refresh, every column, as
  the connector always reads; its ``odata_maxpagesize`` is the page size; its records go to
  a file and are counted), and
* ``dynsync run`` of 20,000 contacts (extract, map, upsert to the Insider emulator) with the
  same page size and the default concurrency, in a fresh state folder.

Each client is started through GNU time (``measure``): CPU = ru_utime + ru_stime as
``os.wait4`` reports them, peak RSS = the client's own ru_maxrss as GNU time reports it,
wall time around spawn..reap. The emulators and this runner are not counted.

The connector's token URL: ``source_microsoft_dataverse.dataverse.get_auth`` builds it as
``https://login.microsoftonline.com/{tenant_id}/oauth2/v2.0/token`` (no config field, no
environment variable, no authority setting; the host is a literal and the tenant only fills
the path). What it does read is the standard ``requests`` environment, so the connector is
run unchanged with ``HTTPS_PROXY`` pointing at a small CONNECT proxy in this runner that
terminates TLS for login.microsoftonline.com with a throw-away certificate (trusted through
``REQUESTS_CA_BUNDLE``) and forwards the plain request to the emulator's token endpoint
(same path: ``/{tenant}/oauth2/v2.0/token``). ``NO_PROXY`` keeps the Web API calls direct.
No package file, import hook or monkeypatch is involved.
"""

import argparse
import json
import os
import re
import select
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time

ENTRA_HOST = "login.microsoftonline.com"
INSIDER_TOKEN = "bench-peer-insider-token"
TARGET_MEMORY = {5000: 1 / 3, 500: 1 / 5}
TARGET_CPU = 1 / 10
GNU_TIME = "/usr/bin/time"


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--connector", required=True)
    p.add_argument("--dynsync", required=True)
    p.add_argument("--dataverse-emulator", required=True)
    p.add_argument("--insider-emulator", required=True)
    p.add_argument("--contacts", type=int, default=20000)
    p.add_argument("--rounds", type=int, default=1)
    p.add_argument("--concurrency", type=int, default=4)
    p.add_argument("--page-sizes", type=int, nargs="+", default=[5000, 500])
    p.add_argument(
        "--dynsync-only", action="store_true",
        help="run only `dynsync run` (no connector; the scale benchmark): records/s and peak RSS",
    )
    return p.parse_args()


def start_emulator(binary, args, keys):
    """Starts an emulator binary on a free port; returns (process, {key: value}) read from
    the lines it prints before 'Ctrl-C to stop.'."""
    proc = subprocess.Popen(
        [binary, *args], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    found = {}
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        for key in keys:
            m = re.match(rf"\s*{re.escape(key)}:\s*(\S+)", line)
            if m:
                found[key] = m.group(1)
        if line.startswith("Ctrl-C"):
            break
    missing = [k for k in keys if k not in found]
    if missing:
        proc.kill()
        sys.exit(f"{binary} did not print {missing}")
    # Keep draining its stdout so it never blocks on a full pipe.
    threading.Thread(target=lambda: [None for _ in proc.stdout], daemon=True).start()
    return proc, found


def make_certificate(folder):
    cert = os.path.join(folder, "entra.pem")
    key = os.path.join(folder, "entra.key")
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            "-subj", f"/CN={ENTRA_HOST}", "-addext", f"subjectAltName=DNS:{ENTRA_HOST}",
            "-keyout", key, "-out", cert,
        ],
        check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    return cert, key


def pipe(a, b):
    """Copies bytes both ways until either side closes."""
    socks = [a, b]
    try:
        while True:
            readable, _, _ = select.select(socks, [], [], 30)
            if not readable:
                return
            for s in readable:
                data = s.recv(65536)
                if not data:
                    return
                (b if s is a else a).sendall(data)
    except OSError:
        return
    finally:
        for s in socks:
            try:
                s.close()
            except OSError:
                pass


def start_entra_proxy(cert, key, upstream_port):
    """A CONNECT proxy: login.microsoftonline.com:443 is answered with TLS here and
    forwarded to 127.0.0.1:upstream_port in plain HTTP; other hosts are refused."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    proxied = {"connects": 0}

    def handle(client):
        try:
            head = b""
            while b"\r\n\r\n" not in head and len(head) < 8192:
                chunk = client.recv(4096)
                if not chunk:
                    client.close()
                    return
                head += chunk
            first = head.split(b"\r\n", 1)[0].decode("latin-1")
            if first != f"CONNECT {ENTRA_HOST}:443 HTTP/1.1" and first != f"CONNECT {ENTRA_HOST}:443 HTTP/1.0":
                client.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
                client.close()
                return
            proxied["connects"] += 1
            client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            tls = context.wrap_socket(client, server_side=True)
            upstream = socket.create_connection(("127.0.0.1", upstream_port))
            pipe(tls, upstream)
        except (OSError, ssl.SSLError):
            try:
                client.close()
            except OSError:
                pass

    def serve():
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=handle, args=(client,), daemon=True).start()

    threading.Thread(target=serve, daemon=True).start()
    return listener.getsockname()[1], proxied


def measure(argv, env, stdout, cwd=None):
    """Runs argv; returns (exit status, cpu seconds, wall seconds, peak RSS in MB, stderr).

    The client is started through GNU time (``/usr/bin/time``), which reports the client's
    own peak RSS. Not ``os.wait4`` on a child this runner forks: Linux carries the forking
    process's resident set into the child's ``ru_maxrss`` at ``exec`` (``exec_mmap`` keeps
    the old address space's high-water mark), so every client would read at least this
    runner's RSS (~24 MB after the connector's records are counted), a floor that hid
    dynsync's figure at page size 500. GNU time's own RSS (~2 MB) is the floor instead. CPU
    is ``ru_utime + ru_stime`` of the GNU time process as ``wait4`` reports it, which counts
    the client it waited for (and GNU time's own few milliseconds)."""
    with tempfile.NamedTemporaryFile(mode="r", suffix=".rss") as report:
        started = time.monotonic()
        proc = subprocess.Popen(
            [GNU_TIME, "--quiet", "-f", "%M", "-o", report.name, *argv],
            env=env, stdout=stdout, stderr=subprocess.PIPE, cwd=cwd,
        )
        errors = []
        drain = threading.Thread(target=lambda: errors.append(proc.stderr.read()), daemon=True)
        drain.start()
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.monotonic() - started
        drain.join()
        proc.returncode = os.waitstatus_to_exitcode(status)
        cpu = usage.ru_utime + usage.ru_stime
        lines = report.read().split()
    peak_kb = int(lines[-1]) if lines and lines[-1].isdigit() else 0
    return proc.returncode, cpu, wall, peak_kb / 1024, errors[0] if errors else b""


def airbyte_read(args, folder, base, proxy_port, cert, page_size):
    config = {
        "url": base,
        "tenant_id": TENANT,
        "client_id": CLIENT_ID,
        "client_secret_value": CLIENT_SECRET,
        "odata_maxpagesize": page_size,
    }
    config_path = os.path.join(folder, f"airbyte-config-{page_size}.json")
    with open(config_path, "w") as f:
        json.dump(config, f)
    env = dict(os.environ)
    env.update(
        {
            "HTTPS_PROXY": f"http://127.0.0.1:{proxy_port}",
            "https_proxy": f"http://127.0.0.1:{proxy_port}",
            "NO_PROXY": "127.0.0.1,localhost",
            "no_proxy": "127.0.0.1,localhost",
            "REQUESTS_CA_BUNDLE": cert,
        }
    )
    catalog_path = os.path.join(folder, "airbyte-catalog.json")
    if not os.path.exists(catalog_path):
        discovered = subprocess.run(
            [args.connector, "discover", "--config", config_path],
            env=env, capture_output=True, text=True, check=False,
        )
        stream = None
        for line in discovered.stdout.splitlines():
            try:
                message = json.loads(line)
            except ValueError:
                continue
            if message.get("type") == "CATALOG":
                for s in message["catalog"]["streams"]:
                    if s["name"] == "contact":
                        stream = s
        if stream is None:
            # The emulator serves EntityDefinitions without `$expand=Attributes`, which the
            # connector's discover needs; build the same stream from the attributes
            # endpoint with the connector's own type mapping instead.
            stream = contact_stream(base)
        catalog = {
            "streams": [
                {
                    "stream": stream,
                    "sync_mode": "full_refresh",
                    "destination_sync_mode": "overwrite",
                }
            ]
        }
        with open(catalog_path, "w") as f:
            json.dump(catalog, f)
    out_path = os.path.join(folder, f"airbyte-out-{page_size}.jsonl")
    with open(out_path, "wb") as out:
        code, cpu, wall, rss, err = measure(
            [args.connector, "read", "--config", config_path, "--catalog", catalog_path],
            env, out,
        )
    records = 0
    with open(out_path, "rb") as f:
        for line in f:
            if line.startswith(b'{"type": "RECORD"') or b'"type": "RECORD"' in line[:40]:
                records += 1
    os.remove(out_path)
    if code != 0 or records != args.contacts:
        sys.exit(f"the connector's read exited {code} with {records} records:\n{err.decode(errors='replace')[-2000:]}")
    return cpu, wall, rss, records


# The connector's `convert_dataverse_type` (source_microsoft_dataverse/dataverse.py).
AIRBYTE_TYPES = {
    "String": {"type": ["null", "string"]},
    "Uniqueidentifier": {"type": ["null", "string"]},
    "DateTime": {"type": ["null", "string"], "format": "date-time", "airbyte_type": "timestamp_with_timezone"},
    "Integer": {"type": ["null", "integer"]},
    "BigInt": {"type": ["null", "integer"]},
    "Money": {"type": ["null", "number"]},
    "Boolean": {"type": ["null", "boolean"]},
    "Double": {"type": ["null", "number"]},
    "Decimal": {"type": ["null", "number"]},
    "Status": {"type": ["null", "integer"]},
    "State": {"type": ["null", "integer"]},
    "Picklist": {"type": ["null", "integer"]},
    "Lookup": {"type": ["null", "string"]},
}


def contact_stream(base):
    """The connector's discovered `contact` stream, from the emulator's attribute metadata."""
    import urllib.parse
    import urllib.request

    form = urllib.parse.urlencode(
        {
            "grant_type": "client_credentials",
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "scope": f"{base}/.default",
        }
    ).encode()
    with urllib.request.urlopen(f"{base}/{TENANT}/oauth2/v2.0/token", data=form) as reply:
        token = json.load(reply)["access_token"]
    request = urllib.request.Request(
        f"{base}/api/data/v9.2/EntityDefinitions(LogicalName='contact')/Attributes?$select=LogicalName,AttributeType",
        headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
    )
    with urllib.request.urlopen(request) as reply:
        attributes = json.load(reply)["value"]
    properties = {}
    for attribute in attributes:
        kind = attribute.get("AttributeType")
        name = attribute["LogicalName"]
        if kind == "Virtual":
            continue
        if kind == "Lookup":
            name = f"_{name}_value"
        properties[name] = AIRBYTE_TYPES.get(kind, {"type": ["null", "string"]})
    return {
        "name": "contact",
        "json_schema": {"properties": properties},
        "supported_sync_modes": ["full_refresh"],
        "source_defined_primary_key": [["contactid"]],
    }


# The mapping every benchmark syncs (tests/src/bench.rs includes the same file).
with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "fixtures", "contact-mapping.yaml")) as f:
    CONTACT_MAPPING = f.read()
DEFINITION = """id: bench-peer
name: Peer benchmark
dynamics:
  web_api_url: {web}
  auth:
    method: client_credentials
    token_url: {token}
    scopes: ["{scope}"]
    client_id: {client}
    client_secret: {{ secret: bench/dynamics }}
  page_size: {page_size}
  request_timeout_ms: 30000
  retries: 5
{mapping}insider:
  api_url: {insider}
  partner: {partner}
  token: {{ secret: bench/insider }}
"""


def dynsync_run(args, folder, dv, insider, page_size, round_no):
    definition = os.path.join(folder, f"bench-peer-{page_size}.yaml")
    with open(definition, "w") as f:
        f.write(
            DEFINITION.format(
                web=dv["web api"], token=dv["token url"], scope=dv["scope"], client=CLIENT_ID,
                page_size=page_size, insider=insider["upsert url"], partner=insider["partner"],
                mapping=CONTACT_MAPPING,
            )
        )
    state = os.path.join(folder, f"state-{page_size}-{round_no}")
    env = dict(os.environ)
    env["DYNSYNC_SECRET_BENCH_DYNAMICS"] = CLIENT_SECRET
    env["DYNSYNC_SECRET_BENCH_INSIDER"] = INSIDER_TOKEN
    env.pop("RUST_LOG", None)
    with tempfile.TemporaryFile() as out:
        code, cpu, wall, rss, err = measure(
            [
                args.dynsync, "run", definition, "--state", state, "--json",
                "--concurrency", str(args.concurrency),
            ],
            env, out,
        )
        out.seek(0)
        text = out.read().decode(errors="replace")
    try:
        counters = json.loads(text)
        counters.get("records_read")
    except (ValueError, AttributeError):
        sys.exit(f"dynsync run exited {code} without its JSON summary:\n{text[-2000:]}\n{err.decode(errors='replace')[-2000:]}")
    if code != 0 or counters.get("records_read") != args.contacts or counters.get("upserted") != args.contacts:
        sys.exit(f"dynsync run exited {code}: {counters}\n{err.decode(errors='replace')[-2000:]}")
    return cpu, wall, rss, counters["records_read"]


def holds(ok):
    return "holds" if ok else "MISSED"


def main():
    global TENANT, CLIENT_ID, CLIENT_SECRET
    args = parse_args()
    if not os.access(GNU_TIME, os.X_OK):
        sys.exit(f"{GNU_TIME} (GNU time) not found: install the Debian package `time` (infra/scripts/bench-peer.sh does)")
    folder = tempfile.mkdtemp(prefix="dynsync-bench-peer-")
    dv_proc, dv = start_emulator(
        args.dataverse_emulator, ["--seed", f"contacts:{args.contacts}"],
        ["web api", "token url", "scope", "tenant", "client id", "client secret", "contacts"],
    )
    ins_proc, insider = start_emulator(
        args.insider_emulator, ["--token", INSIDER_TOKEN], ["upsert url", "partner"]
    )
    try:
        TENANT, CLIENT_ID, CLIENT_SECRET = dv["tenant"], dv["client id"], dv["client secret"]
        base = dv["web api"].split("/api/data/")[0]
        port = int(base.rsplit(":", 1)[1])
        cert, key = make_certificate(folder)
        proxy_port, proxied = start_entra_proxy(cert, key, port)
        cpus = os.cpu_count()
        print(
            f"{'scale' if args.dynsync_only else 'peer'} benchmark: {args.contacts} contacts on the Dataverse emulator (pid {dv_proc.pid}), "
            f"Insider emulator (pid {ins_proc.pid}), both out of process; {cpus} CPUs; "
            f"dynsync --concurrency {args.concurrency}; {args.rounds} round(s), medians"
        )
        if not args.dynsync_only:
            print(
                "airbyte: airbyte-source-microsoft-dataverse 1.0.2 `read` (extract only, every column); "
                "dynsync: `dynsync run` (extract 6 columns, map, upsert to Insider)"
            )
        if args.dynsync_only:
            scale(args, folder, dv, insider)
            return
        rows = []
        for page_size in args.page_sizes:
            peer, ours = [], []
            for round_no in range(args.rounds):
                peer.append(airbyte_read(args, folder, base, proxy_port, cert, page_size))
                ours.append(dynsync_run(args, folder, dv, insider, page_size, round_no))
            rows.append((page_size, median_of(peer), median_of(ours)))
        if proxied["connects"] == 0:
            sys.exit("the connector never asked the proxy for a token")
        print()
        print(f"{'page':>5} {'client':<8} {'records':>8} {'CPU s':>7} {'wall s':>7} {'peak RSS MB':>12} {'CPU ms/1k rec':>14}")
        for page_size, peer, ours in rows:
            for name, (cpu, wall, rss, records) in (("airbyte", peer), ("dynsync", ours)):
                print(f"{page_size:>5} {name:<8} {records:>8} {cpu:>7.2f} {wall:>7.2f} {rss:>12.1f} {1000 * cpu / records * 1000:>14.1f}")
        print()
        print("ratios dynsync / airbyte (same run, same emulator):")
        all_hold = True
        for page_size, peer, ours in rows:
            mem = ours[2] / peer[2]
            cpu = (ours[0] / ours[3]) / (peer[0] / peer[3])
            wall = ours[1] / peer[1]
            mem_target = TARGET_MEMORY.get(page_size)
            line = f"  page {page_size:>5}: peak RSS {mem:.2f}"
            if mem_target is not None:
                ok = mem <= mem_target
                all_hold &= ok
                line += f" (target <= {mem_target:.2f}: {holds(ok)})"
            ok = cpu <= TARGET_CPU
            all_hold &= ok
            line += f"; CPU per record {cpu:.3f} (target <= {TARGET_CPU:.2f}: {holds(ok)}); wall {wall:.2f}"
            print(line)
        print("every target holds" if all_hold else "some targets are missed")
    finally:
        for proc in (dv_proc, ins_proc):
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()


def scale(args, folder, dv, insider):
    """`--dynsync-only`: `dynsync run` of every contact at each page size, `--rounds` times;
    prints records/s and peak RSS (the scale benchmark reads these lines)."""
    print(f"{'page':>5} {'records':>9} {'CPU s':>8} {'wall s':>8} {'records/s':>10} {'peak RSS MB':>12} {'CPU ms/1k rec':>14}")
    for page_size in args.page_sizes:
        runs = [dynsync_run(args, folder, dv, insider, page_size, r) for r in range(args.rounds)]
        cpu, wall, rss, records = median_of(runs)
        print(
            f"{page_size:>5} {records:>9} {cpu:>8.2f} {wall:>8.2f} {records / max(wall, 1e-9):>10.0f} "
            f"{rss:>12.1f} {1000 * cpu / records * 1000:>14.1f}",
            flush=True,
        )


def median_of(results):
    """The median round by CPU (its own wall and RSS, so a row is one real run)."""
    ordered = sorted(results, key=lambda r: r[0])
    return ordered[len(ordered) // 2]


TENANT = CLIENT_ID = CLIENT_SECRET = ""

if __name__ == "__main__":
    main()
