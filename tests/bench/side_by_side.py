#!/usr/bin/env python3
"""Helper of tests/bench/side_by_side.sh (run with the stack's venv python,
which has boto3 from moto's install).

  snap EMULATOR_URL OUT             GET /_emulator/stats and /bodies → OUT (JSON)
  download EMULATOR_URL RANGES GZIP POST /_emulator/download (honoured|ignored)
  boto3-ship ...                    the boto3 loop over the paged portion API
  verify ...                        inflate what a tool put in S3 and compare it
                                    with the audit files; JSON on stdout
  report DIR                        the Markdown section, from DIR's results
"""
import argparse
import datetime
import gzip
import hashlib
import json
import os
import platform
import sys
import urllib.request
import zlib


def die(msg):
    print(f"side_by_side: {msg}", file=sys.stderr)
    sys.exit(1)


# ---------------------------------------------------------------- emulator

def http(method, url, body=None):
    req = urllib.request.Request(url, data=body, method=method)
    if body is not None:
        req.add_header("content-type", "application/json")
    with urllib.request.urlopen(req, timeout=30) as r:
        return r.read()


def cmd_snap(a):
    base = a.emulator.rstrip("/")
    snap = {
        "stats": json.loads(http("GET", base + "/_emulator/stats")),
        "bodies": json.loads(http("GET", base + "/_emulator/bodies")),
    }
    with open(a.out, "w") as f:
        json.dump(snap, f)


def cmd_download(a):
    body = json.dumps({"ranges": a.ranges, "gzip": a.gzip}).encode()
    out = http("POST", a.emulator.rstrip("/") + "/_emulator/download", body)
    if out.strip() != b"ok":
        die(f"emulator refused download behaviour {body!r}: {out!r}")


# ---------------------------------------------------------------- boto3 loop

def clients(a):
    import boto3
    rds = boto3.client("rds", endpoint_url=a.rds, region_name=a.region)
    s3 = boto3.client("s3", endpoint_url=a.s3, region_name=a.region)
    return rds, s3


def cmd_boto3_ship(a):
    rds, s3 = clients(a)
    names = []
    for page in rds.get_paginator("describe_db_log_files").paginate(DBInstanceIdentifier=a.instance):
        names += [f["LogFileName"] for f in page.get("DescribeDBLogFiles", [])]
    calls = 0
    for name in names:
        marker, parts = "0", []
        while True:
            r = rds.download_db_log_file_portion(DBInstanceIdentifier=a.instance, LogFileName=name, Marker=marker)
            calls += 1
            parts.append(r.get("LogFileData", "").encode("utf-8"))
            marker = r.get("Marker", marker)
            if not r.get("AdditionalDataPending"):
                break
        key = f"{a.prefix}/{name.split('/', 1)[-1]}.gz"
        s3.put_object(Bucket=a.bucket, Key=key, Body=gzip.compress(b"".join(parts), compresslevel=6))
    print(json.dumps({"files": len(names), "portion_calls": calls}))


# ---------------------------------------------------------------- verify

def list_objects(s3, bucket, prefix):
    out = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix.rstrip("/") + "/"):
        out += page.get("Contents", [])
    return out


def inflate(s3, bucket, key):
    raw = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    try:
        return raw, gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as e:
        die(f"s3://{bucket}/{key} is not valid gzip: {e}")


def source_files(d):
    """{sha256: bytes} of the non-empty regular files in d, and their total size."""
    out, total, count = {}, 0, 0
    for n in sorted(os.listdir(d)):
        p = os.path.join(d, n)
        if not os.path.isfile(p):
            continue
        with open(p, "rb") as f:
            data = f.read()
        if data:
            out[hashlib.sha256(data).hexdigest()] = len(data)
            total += len(data)
            count += 1
    return out, total, count


def cmd_verify(a):
    _, s3 = clients(a)
    objs = list_objects(s3, a.bucket, a.prefix)
    res = {"objects": 0, "gz_bytes": 0, "inflated_bytes": 0, "file_bytes": 0, "files": 0, "files_exact": 0}
    if a.layout == "plain":
        # prefix/NAME.gz ↔ DIR/NAME; the portion API may have changed the bytes.
        by_name = {o["Key"].rsplit("/", 1)[-1][:-3]: o for o in objs if o["Key"].endswith(".gz")}
        for n in sorted(os.listdir(a.dir)):
            p = os.path.join(a.dir, n)
            if not os.path.isfile(p) or os.path.getsize(p) == 0:
                continue
            with open(p, "rb") as f:
                want = f.read()
            res["files"] += 1
            res["file_bytes"] += len(want)
            if n not in by_name:
                die(f"{a.prefix}: no object for {n}")
            raw, got = inflate(s3, a.bucket, by_name[n]["Key"])
            res["objects"] += 1
            res["gz_bytes"] += len(raw)
            res["inflated_bytes"] += len(got)
            res["files_exact"] += got == want
        print(json.dumps(res))
        return
    # auditship: {prefix}/{loc}/{instance}/dt=…/{file-id}/{start:020}.log.gz;
    # a file's objects, in offset order, must inflate to exactly one audit
    # file of the instance, and every audit file must be there.
    groups = {}
    for o in objs:
        k = o["Key"]
        if "/_state/" in k or not k.endswith(".log.gz"):
            continue
        parts = k.split("/")
        instance, file_id, start = parts[-4], parts[-2], int(parts[-1][: -len(".log.gz")])
        groups.setdefault(instance, {}).setdefault(file_id, []).append((start, k))
    instances = [a.dir] if not a.per_instance else sorted(
        os.path.join(a.dir, n) for n in os.listdir(a.dir) if os.path.isdir(os.path.join(a.dir, n)))
    for d in instances:
        want, total, count = source_files(d)
        res["file_bytes"] += total
        res["files"] += count
        inst = os.path.basename(d) if a.per_instance else a.instance
        got_files = groups.pop(inst, {})
        seen = set()
        for file_id, parts in sorted(got_files.items()):
            data, offset = [], 0
            for start, key in sorted(parts):
                if start != offset:
                    die(f"{inst} {file_id}: object at {start}, expected {offset} (hole or overlap)")
                raw, body = inflate(s3, a.bucket, key)
                res["objects"] += 1
                res["gz_bytes"] += len(raw)
                res["inflated_bytes"] += len(body)
                data.append(body)
                offset += len(body)
            sha = hashlib.sha256(b"".join(data)).hexdigest()
            if sha not in want:
                die(f"{inst} {file_id}: its objects ({offset} bytes) are not the bytes of any audit file")
            seen.add(sha)
        missing = set(want) - seen
        if missing:
            die(f"{inst}: {len(missing)} of {count} audit files not shipped whole")
        res["files_exact"] += len(seen)
    if groups:
        die(f"objects for unexpected instances: {sorted(groups)[:5]}")
    print(json.dumps(res))


# ---------------------------------------------------------------- report

def load(d, name, default=None):
    p = os.path.join(d, name)
    if not os.path.exists(p):
        if default is not None:
            return default
        die(f"missing result {p}")
    with open(p) as f:
        txt = f.read()
    return json.loads(txt) if name.endswith(".json") else txt


def timing(d, name):
    secs, rss = load(d, name + ".time").split()[-2:]
    return float(secs), int(rss)


def delta(d, name):
    """(RDS calls by action, bodies summed over instances, bodies per instance) of one measurement."""
    b, a = load(d, name + ".before.json"), load(d, name + ".after.json")
    calls = {k: v - b["stats"].get(k, 0) for k, v in a["stats"].items() if v - b["stats"].get(k, 0)}
    per = {}
    for inst, c in a["bodies"].items():
        was = b["bodies"].get(inst, {})
        dc = {f: c.get(f, 0) - was.get(f, 0) for f in ("started", "finished", "bytes", "file_bytes")}
        if any(dc.values()):
            per[inst] = dc
    tot = {f: sum(x[f] for x in per.values()) for f in ("started", "finished", "bytes", "file_bytes")}
    return calls, tot, per


def shipped(d, name):
    """Bytes shipped, summed over the run's summary lines."""
    total = 0
    for line in load(d, name + ".out").splitlines():
        if " bytes shipped" in line:
            total += int(line.split(" bytes shipped")[0].rsplit(" ", 1)[-1])
    return total


OWN = ("downloads", "bytes_downloaded", "file_bytes_read", "ranges_asked", "ranges_honoured", "ranges_ignored",
       "gzip_responses", "identity_responses")


def own(d, name):
    """auditship's own transfer counters (its 'instance shipped' log lines), summed."""
    tot = dict.fromkeys(OWN, 0)
    for line in load(d, name + ".log").splitlines():
        try:
            e = json.loads(line)
        except ValueError:
            continue
        if e.get("message") == "instance shipped":
            for k in OWN:
                tot[k] += e.get(k, 0)
    return tot


def per(n, of):
    return f"{n / of:.3f}" if of else "-"


def mib(n):
    return n / 1048576


def fmt_calls(calls):
    return ", ".join(f"{k} {v}" for k, v in sorted(calls.items())) or "none"


def machine():
    cpu = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as f:
        mem = next(int(line.split()[1]) for line in f if line.startswith("MemTotal"))
    return cpu, mem / 1048576


def report_one_instance(p, d, meta, c, what):
    """Part 1's table and notes for one corpus (measurements named c_TOOL)."""
    one_bytes = meta[f"{c}_bytes"]
    gz_secs, _ = timing(d, f"{c}_gzip")
    gz = load(d, f"{c}_gzip.verify.json")
    p(f"### One instance, every file new: {mib(one_bytes):.1f} MiB of real audit log in {meta[f'{c}_files']} files, {c} payloads")
    p("")
    p(f"A MariaDB server wrote {meta['MB']} MB of audit log (~700-byte lines, rotating every {meta['ROTATE_MB']} MB) "
      f"for {what}; `gzip -6` compresses it {one_bytes / gz['gz_bytes']:.1f} : 1. Each tool reads all of its files "
      "once and puts them in S3 gzip-compressed. Wall time includes listing the files.")
    p("")
    p("| tool | wall time (s) | throughput (MiB/s of log) | throughput vs gzip -6 | peak RSS (MiB) | RDS calls | bytes in S3 (gzip) | bytes after inflating | files exact |")
    p("|---|---|---|---|---|---|---|---|---|")
    rows = [("GNU `gzip -6` of the concatenated files (one core, the floor)", "gzip"),
            ("AWS CLI: `download-db-log-file-portion --starting-token 0 --output text \\| gzip \\| aws s3 cp -`", "cli"),
            ("boto3: `download_db_log_file_portion` loop, `gzip.compress(6)`, `put_object`", "boto3"),
            ("auditship `run` (cold), the emulator gzipping downloads on the same cores", "auditship"),
            ("auditship `run` (cold), identity downloads", "auditship_identity")]
    for label, tool in rows:
        name = f"{c}_{tool}"
        secs, rss = timing(d, name)
        v = load(d, name + ".verify.json")
        calls = "-" if tool == "gzip" else str(sum(delta(d, name)[0].values()))
        tput = mib(one_bytes) / secs if secs > 0 else float("inf")
        p(f"| {label} | {secs:.2f} | {tput:.1f} | {gz_secs / secs:.2f}× | {rss / 1024:.0f} | {calls} | "
          f"{v['gz_bytes']} | {v['inflated_bytes']} | {v['files_exact']}/{v['files']} |")
    p("")
    runs = [(label, meta.get(f"{c}_{tool}_runs")) for label, tool in
            (("gzip -6", "gzip"), ("auditship", "auditship"), ("auditship, identity downloads", "auditship_identity"))]
    if all(r for _, r in runs):
        p("gzip and auditship ran " + str(len(runs[0][1].split())) + " times each (auditship cold, each run into "
          "a prefix of its own); the table shows the run of median wall time. All wall times (s): "
          + "; ".join(f"{label} {r}" for label, r in runs) + ".")
        p("")
    calls, tot, _ = delta(d, f"{c}_auditship")
    sh, o = shipped(d, f"{c}_auditship"), own(d, f"{c}_auditship")
    p(f"auditship's RDS API calls (cold): {fmt_calls(calls)} (the emulator counts each complete-file download "
      f"as a `DownloadCompleteDBLogFile` call). Download bodies (emulator, `GET /_emulator/bodies`): "
      f"{tot['started']} started, {tot['finished']} finished, {tot['bytes']} bytes handed to the connection "
      f"holding {tot['file_bytes']} file bytes, for {sh} bytes shipped: **{per(tot['bytes'], sh)} bytes downloaded "
      f"per byte shipped** ({per(tot['file_bytes'], sh)} file bytes per byte shipped). auditship's own count "
      f"(its `instance shipped` log line): {o['downloads']} downloads, {o['bytes_downloaded']} bytes read off the "
      f"wire ({per(o['bytes_downloaded'], sh)} per byte shipped), {o['file_bytes_read']} file bytes, "
      f"{o['gzip_responses']} gzip-encoded answers.")
    for tool, label in (("cli", "AWS CLI"), ("boto3", "boto3")):
        calls, _, _ = delta(d, f"{c}_{tool}")
        v = load(d, f"{c}_{tool}.verify.json")
        diff = v["inflated_bytes"] - v["file_bytes"]
        p(f"{label}: RDS calls {fmt_calls(calls)}; its objects inflate to {v['inflated_bytes']} bytes for "
          f"{v['file_bytes']} file bytes ({diff:+d}), {v['files_exact']} of {v['files']} files byte-exact.")
    p("")
    p("Every output was checked: gzip's inflates to exactly the concatenated files; auditship's objects, "
      "file by file in offset order, inflate to exactly the audit files (and `auditship run` exited 0); "
      "the AWS CLI's and boto3's objects are valid gzip, and their byte counts are reported as they are "
      "(the portion API is lossy by design).")
    p("")


def cmd_report(a):
    d = a.dir
    meta = load(d, "meta.json")
    cpu, mem = machine()
    out = []
    p = out.append
    p("## Side by side: auditship, gzip, the AWS CLI and boto3")
    p("")
    p(f"Produced by `{meta['command']}` on {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC.")
    p(f"Machine: `nproc` {os.cpu_count()} ({cpu}), {mem:.0f} GiB of memory, {platform.system()} "
      f"{platform.release()}. MariaDB, the RDS emulator (`auditship-testkit rds-emulator`), moto and every tool")
    p("share the machine, on loopback; auditship is the release build at commit "
      f"`{meta['commit']}`; {meta['aws_version']}; boto3 {meta['boto3_version']}; {meta['gzip_version']}.")
    p(f"The emulator's pages hold {meta['page_size']} records (DescribeDBInstances, DescribeDBLogFiles), it has no rate")
    p("limit, and its DownloadDBLogFilePortion pages are at most 10,000 lines or 1 MB, as RDS documents.")
    if meta.get("load"):
        p(f"Load average when the run began: {meta['load']} (other jobs on the machine share its cores).")
    p("")

    # ---- 1
    corpora = (("repeated", "the rig's traffic, one repeated payload in every statement"),
               ("varied", "`traffic --varied-payload`: words, numbers, e-mail addresses and ids that differ in every "
                          "statement, as an application's values do"))
    for c, what in corpora:
        report_one_instance(p, d, meta, c, what)

    # ---- 2
    size = meta["grow_bytes"]
    p(f"### A growing active file: {mib(size):.1f} MiB, not rotated, then ~1 MB more")
    p("")
    p(f"The server's rotate size is larger than the file ({meta['SIZE']} MB of traffic, no rotation). First run: "
      "the whole file is new; second run, after ~1 MB more traffic: only the end is. Each column is a separate "
      "checkpoint (its own prefix); wire bytes are the emulator's download body bytes (`GET /_emulator/bodies`) "
      "during that run.")
    p("")
    p("| emulator downloads | run | wall time (s) | peak RSS (MiB) | bytes shipped | bodies | wire bytes (emulator) | file bytes in bodies | wire bytes per byte shipped | auditship: downloads, bytes read | read per byte shipped |")
    p("|---|---|---|---|---|---|---|---|---|---|---|")
    for name, label in (("grow_h_cold", "ranges honoured, gzip honoured"), ("grow_h_inc", "ranges honoured, gzip honoured"),
                        ("grow_i_cold", "ranges ignored, gzip ignored"), ("grow_i_inc", "ranges ignored, gzip honoured")):
        secs, rss = timing(d, name)
        _, tot, _ = delta(d, name)
        sh, o = shipped(d, name), own(d, name)
        run = "first (whole file new)" if name.endswith("cold") else "second (+~1 MB)"
        p(f"| {label} | {run} | {secs:.2f} | {rss / 1024:.0f} | {sh} | {tot['started']} | {tot['bytes']} | "
          f"{tot['file_bytes']} | {per(tot['bytes'], sh)} | {o['downloads']}, {o['bytes_downloaded']} | "
          f"{per(o['bytes_downloaded'], sh)} |")
    p("")
    _, h, _ = delta(d, "grow_h_cold")
    _, i, _ = delta(d, "grow_i_cold")
    _, hi, _ = delta(d, "grow_h_inc")
    _, ii, _ = delta(d, "grow_i_inc")
    sh_h, sh_i = shipped(d, "grow_h_inc"), shipped(d, "grow_i_inc")
    oh, oi = own(d, "grow_h_cold"), own(d, "grow_i_cold")
    ohi, oii = own(d, "grow_h_inc"), own(d, "grow_i_inc")
    p(f"Whole-file read of the {mib(size):.1f} MiB file: {oh['bytes_downloaded']} bytes on the wire with gzip "
      f"honoured, {oi['bytes_downloaded']} with gzip ignored ({oi['bytes_downloaded'] / max(oh['bytes_downloaded'], 1):.1f}× "
      f"more), as auditship read them; the emulator's counts, head reads included: {h['bytes']} and {i['bytes']}. "
      f"The second run read {ohi['bytes_downloaded']} bytes for {sh_h} new bytes with ranges honoured "
      f"({per(ohi['bytes_downloaded'], sh_h)} per new byte; emulator: {per(hi['bytes'], sh_h)}) and "
      f"{oii['bytes_downloaded']} with ranges ignored ({per(oii['bytes_downloaded'], sh_i)} per new byte; "
      f"emulator: {per(ii['bytes'], sh_i)}).")
    p("The emulator's wire bytes count what it handed to the connection, also for bodies the client hangs up "
      "on: auditship's head read (a whole-file GET without `Range`, dropped after the first line) lets the emulator "
      "fill the loopback socket buffers (megabytes) before the hang-up is seen; over a real network that read-ahead "
      "is bounded by the TCP window instead. auditship's own count is what it read.")
    p("Both checkpoints' objects were checked to inflate, in offset order, to exactly the file.")
    p("")

    # ---- 3
    n = meta["fleet"]
    p(f"### A fleet of {n} small instances")
    p("")
    p(f"Each instance's audit directory holds its own copy of {meta['fleet_files']} real audit files "
      f"({meta['fleet_set_bytes']} bytes) that a MariaDB server wrote; `auditship run --tag fleet=bench` "
      f"(concurrency {meta['concurrency']}, the default) selects all {n}. Cold: every file new; idle: nothing new.")
    p("")
    p("| run | wall time (s) | peak RSS (MiB) | bytes shipped | RDS calls | RDS calls per instance | downloads started | downloads per instance | wire bytes (emulator) | bytes read (auditship) |")
    p("|---|---|---|---|---|---|---|---|---|---|")
    for name in ("fleet_cold", "fleet_idle"):
        secs, rss = timing(d, name)
        calls, tot, _ = delta(d, name)
        c = sum(calls.values())
        p(f"| {name.split('_')[1]} | {secs:.2f} | {rss / 1024:.0f} | {shipped(d, name)} | {c} | {c / n:.2f} | "
          f"{tot['started']} | {tot['started'] / n:.2f} | {tot['bytes']} | {own(d, name)['bytes_downloaded']} |")
    p("")
    for name in ("fleet_cold", "fleet_idle"):
        calls, _, _ = delta(d, name)
        p(f"RDS calls, {name.split('_')[1]} run: {fmt_calls(calls)}.")
    p("")
    p("The cold run's objects were checked to inflate to exactly each instance's files.")
    p("")

    # ---- 4
    p("### Peak memory and file size")
    p("")
    p("One rotated file made of the varied corpus's rotated files one after another (real audit lines), plus its "
      "active file; one cold run ships both with the default settings (32 MiB objects, 1 MiB gzip members "
      "compressed on every core, one object uploading while the next is read).")
    p("")
    p("| largest file (MiB) | bytes shipped | wall time (s) | throughput (MiB/s) | peak RSS (MiB) | objects exact |")
    p("|---|---|---|---|---|---|")
    for n in (1, 2):
        name = f"big{n}"
        secs, rss = timing(d, name)
        sh = shipped(d, name)
        v = load(d, name + ".verify.json")
        p(f"| {mib(meta[f'{name}_largest']):.0f} | {sh} | {secs:.2f} | {mib(sh) / secs:.1f} | {rss / 1024:.0f} | "
          f"{v['files_exact']}/{v['files']} files |")
    p("")
    notes = load(d, "notes.txt", default="").strip()
    if notes:
        p("")
        p("Observations:")
        p("")
        for line in notes.splitlines():
            p(f"- {line}")
    print("\n".join(out))


def cmd_observe(a):
    """Lines worth flagging, one a line (to notes.txt): downloads or more
    than 1.2 RDS calls per instance in an idle run, ranges that did not save
    bytes."""
    d, notes = a.dir, []
    n = load(d, "meta.json")["fleet"]
    calls, tot, _ = delta(d, "fleet_idle")
    c = sum(calls.values())
    if tot["started"]:
        notes.append(f"the idle fleet run started {tot['started']} downloads ({tot['bytes']} wire bytes): an idle run should read nothing")
    if c / n > 1.2:
        notes.append(f"the idle fleet run made {c / n:.2f} RDS calls per instance (above 1.2): {fmt_calls(calls)}")
    if shipped(d, "fleet_idle"):
        notes.append(f"the idle fleet run shipped {shipped(d, 'fleet_idle')} bytes")
    cold_calls, cold, _ = delta(d, "fleet_cold")
    files = load(d, "meta.json")["fleet_files"] * n
    if cold["started"] > files:
        notes.append(f"the cold fleet run opened {cold['started']} downloads for {files} new files "
                     f"({cold['started'] / files:.1f} per file: a head read, then the whole file again)")
    per_inst = {k: v / n for k, v in cold_calls.items()}
    notes.append("cold fleet run, RDS calls per instance: " + ", ".join(f"{k} {v:.2f}" for k, v in sorted(per_inst.items())))
    _, hi, _ = delta(d, "grow_h_inc")
    sh, o = shipped(d, "grow_h_inc"), own(d, "grow_h_inc")
    if sh and o["bytes_downloaded"] / sh > 1.5:
        notes.append(f"with ranges honoured the second run still read {o['bytes_downloaded'] / sh:.1f} bytes per new byte")
    for name in ("repeated_auditship", "varied_auditship", "grow_h_inc"):
        _, tot, _ = delta(d, name)
        o = own(d, name)
        if tot["bytes"] > 1.5 * o["bytes_downloaded"] + 65536:
            notes.append(f"{name}: the emulator handed {tot['bytes']} bytes to download connections, auditship read "
                         f"{o['bytes_downloaded']}: the rest is head reads (no `Range`) streaming ahead into socket "
                         f"buffers before the hang-up; a `Range: bytes=0-N` head read would bound it")
    print("\n".join(notes))


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("snap"); s.add_argument("emulator"); s.add_argument("out")
    s = sub.add_parser("download"); s.add_argument("emulator"); s.add_argument("ranges"); s.add_argument("gzip")
    for name in ("boto3-ship", "verify"):
        s = sub.add_parser(name)
        s.add_argument("--rds"); s.add_argument("--s3", required=True)
        s.add_argument("--region", default="us-east-1"); s.add_argument("--bucket", required=True)
        s.add_argument("--prefix", required=True); s.add_argument("--instance")
        if name == "verify":
            s.add_argument("--layout", choices=["plain", "auditship"], required=True)
            s.add_argument("--dir", required=True)
            s.add_argument("--per-instance", action="store_true", help="DIR holds one directory per instance")
    s = sub.add_parser("report"); s.add_argument("dir")
    s = sub.add_parser("observe"); s.add_argument("dir")
    a = ap.parse_args()
    {"snap": cmd_snap, "download": cmd_download, "boto3-ship": cmd_boto3_ship, "verify": cmd_verify,
     "report": cmd_report, "observe": cmd_observe}[a.cmd](a)


if __name__ == "__main__":
    main()
