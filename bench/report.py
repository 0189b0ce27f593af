"""Turn bench/run.sh's measurements into Markdown tables, with the targets
that issue 3 sets.

    report.py compare TIMES SIZE SERVE_RSS   the 1 GiB comparison (medians)
    report.py parts PARTS_JSONL              resume, memory, concurrency, small, tree, compress

The tree part's targets are issue 11's; the compress part's are issue 13's.
"""
import json
import os
import statistics
import sys
from collections import defaultdict

MIB = 1 << 20


def compare(times_path, size, serve_rss):
    runs = defaultdict(list)
    for line in open(times_path):
        name, secs, rss = line.split()
        runs[name].append((float(secs), int(rss)))

    med = {name: statistics.median(s for s, _ in v) for name, v in runs.items()}
    rss = {name: max(r for _, r in v) for name, v in runs.items()}
    mib = size / MIB
    print(f"File: {mib:.0f} MiB random data; medians of {len(runs['openssl'])} rounds; tools alternated.\n")
    print("| what | median s | MiB/s | peak RSS MiB |")
    print("|---|---:|---:|---:|")
    for name in runs:
        print(f"| {name} | {med[name]:.3f} | {mib / med[name]:.0f} | {rss[name] / 1024:.1f} |")
    print(f"| wsresume serve (whole run) | | | {serve_rss / 1024:.1f} |")
    print()

    def ratio(a, b, target):
        value = med[a] / med[b]
        verdict = "met" if value <= target else "not met"
        return f"| {a} / {b} | {value:.2f} | ≤ {target} | {verdict} |"

    print("| ratio | value | target | |")
    print("|---|---:|---:|---|")
    print(ratio("wsresume_get_cold", "curl", 0.8))
    print(ratio("wsresume_get_cold", "websocat", 1.2))
    print(ratio("wsresume_get_warm", "websocat", 1.0))
    print(ratio("wsresume_send", "websocat_send", 1.3))
    print(ratio("wsresume_get_cold", "openssl", 1.35))
    print()


def verdict(ok):
    return "met" if ok else "not met"


def failures(rows):
    for row in rows:
        if "error" in row:
            print(f"**Failed:** {row['error']}\n")


def resume(rows):
    print("## Resume of a 50 % partial\n")
    failures(rows)
    for r in (r for r in rows if "error" not in r):
        size, chunk = r["bytes"], r["chunk"]
        resumed_from = r["resumed_json"].get("resumed_from", 0)
        left = (size - resumed_from) / size
        ratio = r["resumed_s"] / r["fresh_s"]
        reread = r["part_read_bytes"]
        print(
            f"File: {size / MIB:.0f} MiB random data, chunk {chunk // 1024} KiB; the partial: a get "
            f"interrupted (SIGINT) once half its chunks were logged; each get against a freshly "
            f"started server (cold). One run.\n"
        )
        print("| what | value |")
        print("|---|---:|")
        print(f"| verified in the partial | {r['verified_chunks']} of {r['chunks']} chunks |")
        print(f"| `resumed_from` (--json) | {resumed_from} bytes ({100 * resumed_from / size:.1f} %) |")
        print(f"| resumed get, s | {r['resumed_s']:.2f} |")
        print(f"| fresh get, s | {r['fresh_s']:.2f} |")
        print(f"| resumed / fresh | {ratio:.2f} |")
        print(f"| fraction left to fetch | {left:.2f} |")
        print(
            f"| part file bytes re-read by the resumed client (strace) | {reread} "
            f"({reread / chunk:.2f} chunks, {r['part_read_calls']} read calls) |"
        )
        print(f"| chunk log bytes read by the resumed client | {r['log_read_bytes']} |")
        print(
            f"| server bytes read during the resumed get (rchar) | {r['server_rchar']} "
            f"({r['server_rchar'] / max(size - resumed_from, 1):.3f} × the bytes left) |"
        )
        print(
            f"| client peak RSS resumed / fresh, MiB | {r['resumed_rss_kb'] / 1024:.1f} / "
            f"{r['fresh_rss_kb'] / 1024:.1f} |"
        )
        print("| SHA-256 of both outputs (and a traced copy) | match the source |")
        print()
        print("| target | value | | |")
        print("|---|---:|---|---|")
        print(
            f"| resumed / fresh ≈ fraction left ({left:.2f}), within 10 % | {ratio:.2f} | "
            f"≤ {1.1 * left:.2f} | {verdict(ratio <= 1.1 * left)} |"
        )
        if reread == 0:
            status = "met"
        elif reread <= chunk:
            status = "not met: the last verified chunk is re-hashed (PROTOCOL.md §11), nothing before it"
        else:
            status = "not met"
        print(f"| prefix bytes re-read by the client | {reread} | 0 | {status} |")
        print()


def memory(rows):
    print("## Peak memory against file size\n")
    failures(rows)
    rows = [r for r in rows if "error" not in r]
    if not rows:
        return
    print("Peak RSS from GNU time; a freshly started server for each transfer (cold).\n")
    print("| op | file | s | client peak RSS MiB | server peak RSS MiB |")
    print("|---|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['op']} | {r['bytes'] / MIB:.0f} MiB | {r['seconds']:.2f} | "
            f"{r['client_rss_kb'] / 1024:.1f} | {r['server_rss_kb'] / 1024:.1f} |"
        )
    print()
    print("| target | value | | |")
    print("|---|---:|---|---|")
    peak = max(max(r["client_rss_kb"], r["server_rss_kb"]) for r in rows) / 1024
    print(f"| largest peak RSS, MiB | {peak:.1f} | < 64 | {verdict(peak < 64)} |")
    for op in ("get", "send"):
        mine = sorted((r for r in rows if r["op"] == op), key=lambda r: r["bytes"])
        if len(mine) < 2:
            continue
        small, large = mine[0], mine[-1]
        label = f"{large['bytes'] / MIB:.0f} MiB / {small['bytes'] / MIB:.0f} MiB"
        for side in ("client", "server"):
            value = large[f"{side}_rss_kb"] / small[f"{side}_rss_kb"]
            print(f"| {op} {side} peak RSS, {label} | {value:.2f} | ≤ 1.10 | {verdict(value <= 1.10)} |")
    print()


def concurrency(rows):
    print("## Concurrent downloads\n")
    failures(rows)
    for r in (r for r in rows if "error" not in r):
        g = r["loadgen"]
        ttfb = g["ttfb_ms"]
        print(
            f"{g['connections']} downloads of a {r['size']} file started at once against one "
            f"freshly started server (examples/loadgen.rs); time to first byte from the start "
            f"of each TCP connect to its first data frame. Open-file limit {r['nofile']}.\n"
        )
        print("| what | value |")
        print("|---|---:|")
        print(f"| verified ok / failed | {g['ok']} / {g['failed']} |")
        print(f"| TTFB p50 / p99 / max, ms | {ttfb['p50']} / {ttfb['p99']} / {ttfb['max']} |")
        print(f"| wall time, s | {g['wall_s']} |")
        print(f"| aggregate MiB/s | {g['mib_s']} |")
        print(f"| server peak RSS, MiB | {r['server_rss_kb'] / 1024:.1f} |")
        print(f"| loadgen peak RSS, MiB | {r['loadgen_rss_kb'] / 1024:.1f} |")
        print(f"| server listen backlog (ss Send-Q) | {r['backlog']} |")
        print(f"| listen-queue overflows meanwhile (TcpExt ListenOverflows, whole host) | {r['listen_overflows']} |")
        if r.get("errors"):
            print(f"| loadgen errors (first) | {r['errors'].splitlines()[0]} |")
        print()
        if r["listen_overflows"] > 0:
            print(
                "A connection attempt that overflows the listen queue has its SYN dropped; the "
                "client retransmits it after 1 s (then 3 s, ...), which shows in the TTFB tail.\n"
            )
        print("| target | value | | |")
        print("|---|---:|---|---|")
        all_ok = g["ok"] == g["connections"] and g["failed"] == 0
        print(f"| all {g['connections']} verified | {g['ok']} | {g['connections']} | {verdict(all_ok)} |")
        print()


def small(rows):
    print("## Small files, one process per transfer\n")
    failures(rows)
    for r in (r for r in rows if "error" not in r):
        n = r["count"]
        ws, curl = r["wsresume_us"] / 1e6, r["curl_us"] / 1e6
        print(
            f"{n} sequential `wsresume get` of a {r['size']} file, each into a new file, against "
            f"{n} `curl` from nginx; alternating blocks of 100; every output checked.\n"
        )
        print("| tool | total s | ms per transfer |")
        print("|---|---:|---:|")
        print(f"| wsresume get | {ws:.2f} | {1000 * ws / n:.2f} |")
        print(f"| curl | {curl:.2f} | {1000 * curl / n:.2f} |")
        print(f"| wsresume get / curl | {ws / curl:.2f} | |")
        print()


TREE_OPS = (("get", "get -r"), ("noop_get", "no-op get -r"), ("send", "send -r"), ("noop_send", "no-op send -r"))
LINKS = {"loopback": "loopback", "delay": "through the delay proxy"}


def human_size(n):
    for unit, size in (("GiB", 1 << 30), ("MiB", MIB), ("KiB", 1 << 10)):
        if n >= size and n % size == 0:
            return f"{n // size} {unit}"
    return f"{n / MIB:.1f} MiB"


def tree_label(meta):
    small_n, small_b, big_n, big_b = (int(x) for x in str(meta["spec"]).split())
    label = f"{small_n:,} × {human_size(small_b)}"
    if big_n:
        label = f"{big_n} × {human_size(big_b)} + {label}"
    return label


class TreeRuns:
    """The tree part's rows: medians of the finished runs, or why there are none."""

    def __init__(self, rows):
        self.runs = defaultdict(list)
        for r in rows:
            if r.get("kind") == "run":
                self.runs[(r["link"], r["set"], r["op"], r["tool"])].append(r)

    def median(self, *key):
        done = [r["seconds"] for r in self.runs.get(key, []) if r["status"] == "ok"]
        return statistics.median(done) if done else None

    def cell(self, *key):
        rows = self.runs.get(key)
        if not rows:
            return ""
        value = self.median(*key)
        if value is not None:
            return f"{value:.2f}"
        status = rows[0]["status"]
        return f"timeout (> {rows[0].get('timeout_s')} s)" if status == "timeout" else status

    def ratio(self, link, set_, op, tool):
        mine, rsync = self.median(link, set_, op, tool), self.median(link, set_, op, "rsync")
        if mine is None or not rsync:
            timed_out = [r for r in self.runs.get((link, set_, op, tool), []) if r["status"] == "timeout"]
            if timed_out and rsync:
                return f"> {timed_out[0].get('timeout_s', 60) / rsync:.0f}"
            return ""
        value = mine / rsync
        return f"{value:.2f}" if value < 10 else f"{value:.0f}"

    def curl_connections(self, link, set_):
        found = [r["detail"] for r in self.runs.get((link, set_, "get", "curl"), []) if r["status"] == "ok"]
        return found[0].split(": ")[-1] if found else ""


def tree(rows):
    print("## Trees: get -r and send -r against rsync and curl\n")
    config = next((r for r in rows if r.get("kind") == "config"), {})
    sets = {r["set"]: r for r in rows if r.get("kind") == "set"}
    timeouts = f"{config.get('timeout_s', '?')} s on loopback, {config.get('delay_timeout_s', '?')} s through the delay"
    parallel = config.get("parallel") or "not passed (the default)"
    print(
        f"Peers side by side in one run: {config.get('rsync', 'rsync')} as a daemon (`rsync -a` "
        f"through rsync://), {config.get('curl', 'curl')} fetching every file of the tree on one "
        f"keep-alive connection from nginx {config.get('nginx', '')} (get only), `wsresume get -r` / "
        f"`send -r` against `wsresume serve` (started afresh for each tree; `--parallel`: {parallel}). "
        f"The delay proxy (bench/delay_proxy.py) delivers every byte {config.get('delay_ms')} ms late "
        f"in each direction. No-op: the same command again into the finished tree. Every output's "
        f"sha256sum manifest equals the source's. Times in seconds, "
        f"{'one run' if config.get('runs', 1) == 1 else 'medians of %s runs' % config.get('runs')}; × rsync: wsresume's time over rsync's; each run capped at "
        f"{timeouts}. Tree scale {config.get('scale', 1)}. {config.get('wsresume', '')}.\n"
    )
    load = next((r for r in rows if r.get("kind") == "load"), None)
    if load:
        print(
            f"Load average (1, 5, 15 min) at the start: {config.get('load_start')}; at the end: "
            f"{load['load_end']} ({os.cpu_count()} CPUs).\n"
        )
    for r in rows:
        if r.get("status") in ("failed", "wrong"):
            where = " ".join(str(r.get(k, "")) for k in ("link", "set", "op", "tool"))
            print(f"**Failed:** {where}: {r['status']} {r.get('detail', '')}\n")
    runs = TreeRuns(rows)
    for link, title in LINKS.items():
        present = [s for s in sets if any(k[0] == link and k[1] == s for k in runs.runs)]
        if not present:
            continue
        print(f"### {title.capitalize()}\n")
        print("| tree | files | MiB | op | rsync | curl | wsresume | wsresume × rsync | curl × rsync |")
        print("|---|---:|---:|---|---:|---:|---:|---:|---:|")
        for s in present:
            meta = sets[s]
            for i, (op, label) in enumerate(TREE_OPS):
                head = f"{tree_label(meta)} | {meta['files']:,} | {meta['bytes'] / MIB:.1f}" if i == 0 else " | |"
                print(
                    f"| {head} | {label} | {runs.cell(link, s, op, 'rsync')} | {runs.cell(link, s, op, 'curl')} | "
                    f"{runs.cell(link, s, op, 'wsresume')} | {runs.ratio(link, s, op, 'wsresume')} | "
                    f"{runs.ratio(link, s, op, 'curl')} |"
                )
        notes = sorted({f"{tree_label(sets[k[1]])} {dict(TREE_OPS)[k[2]]} by {k[3]}: {r['note']}"
                        for k, rs in runs.runs.items() for r in rs if k[0] == link and r.get("note")})
        for note in notes:
            print(f"\n* {note}.")
        conns = {s: runs.curl_connections(link, s) for s in present}
        conns = ", ".join(f"{s}: {c}" for s, c in conns.items() if c)
        if conns:
            print(f"\ncurl's TCP connections per tree (`%{{num_connects}}` summed): {conns}.")
        print()
    tree_singles(rows, config)
    tree_targets(runs, rows, sets)


def tree_singles(rows, config):
    small = defaultdict(list)
    for r in rows:
        if r.get("kind") == "single" and r["op"] == "small":
            small[r["tool"]].append(r["seconds"])
    if small:
        rtt = 2 * float(config.get("delay_ms", 25)) / 1000
        print(f"### One small file through the delay proxy ({rtt * 1000:.0f} ms round trip)\n")
        print(f"A 4 KiB file, a new process each, {len(small['curl'])} runs each alternated; medians.\n")
        print("| tool | s | round trips |")
        print("|---|---:|---:|")
        for tool in ("wsresume", "curl"):
            if small[tool]:
                m = statistics.median(small[tool])
                print(f"| {'wsresume get' if tool == 'wsresume' else 'curl'} | {m:.3f} | {m / rtt:.1f} |")
        print()


def tree_per_byte(runs, rows, sets):
    """(mixed tree MiB/s by get -r, single large get MiB/s), or None."""
    large = [r for r in rows if r.get("kind") == "single" and r["op"] == "large" and r.get("status") == "ok"]
    mixed = runs.median("loopback", "mixed", "get", "wsresume")
    if not large or mixed is None or "mixed" not in sets:
        return None
    single = statistics.median(r["bytes"] / r["seconds"] for r in large) / MIB
    return sets["mixed"]["bytes"] / mixed / MIB, single, large[0]["bytes"]


def tree_targets(runs, rows, sets):
    print("### Targets (issue 11)\n")
    print("| target | value | | |")
    print("|---|---:|---|---|")

    def line(text, link, set_, op, limit):
        if set_ not in sets:
            return
        value = runs.ratio(link, set_, op, "wsresume")
        if not value:
            return
        ok = not value.startswith(">") and float(value) <= limit
        print(f"| {text.format(tree_label(sets[set_]))} | {value} × rsync | ≤ {limit} | {verdict(ok)} |")

    for op, label in (("get", "get -r"), ("send", "send -r")):
        line(f"50 ms round trip, {{}}: `{label}`", "delay", "t300", op, 1.5)
    for op, label in (("get", "get -r"), ("send", "send -r")):
        line(f"loopback, {{}}: `{label}`", "loopback", "t10k", op, 1.5)
    for op, label in (("noop_get", "get -r"), ("noop_send", "send -r")):
        line(f"loopback, {{}}, no-op `{label}`", "loopback", "t10k", op, 1.0)
    per_byte = tree_per_byte(runs, rows, sets)
    if per_byte:
        mixed, single, size = per_byte
        print(
            f"| mixed tree `get -r` per byte vs a single {human_size(size)} `get` | {mixed:.0f} vs "
            f"{single:.0f} MiB/s | ≥ 1.0 × | {verdict(mixed >= single)} |"
        )
    print()


def compress(rows):
    print("## Compression: `--compress auto` against `--compress off`\n")
    failures(rows)
    rows = [r for r in rows if "error" not in r]
    random = [r for r in rows if r["case"] == "random"]
    text = [r for r in rows if r["case"] == "text"]

    def median_s(case_rows, op, mode):
        values = [r["us"] for r in case_rows if r["op"] == op and r["mode"] == mode]
        return statistics.median(values) / 1e6 if values else None

    if random:
        size, runs = random[0]["bytes"], max(r["round"] for r in random)
        print(
            f"{human_size(size)} of random data on loopback, straight to the server; "
            f"medians of {runs} rounds, modes alternated; every output checked.\n"
        )
        print(
            "The machine is shared: other jobs come and go within a run, so each round's two "
            "runs (back to back) are compared with each other, and the verdict is on the "
            "median of those paired ratios; the fastest run of each mode is shown too.\n"
        )
        print("| op | off s (median) | auto s (median) | off s (best) | auto s (best) | auto / off, paired median | target ≤ 1.03 | client CPU s, off / auto (median) |")
        print("|---|---:|---:|---:|---:|---:|---|---|")
        for op in ("get", "send"):
            off, auto = median_s(random, op, "off"), median_s(random, op, "auto")
            by_round = defaultdict(dict)
            for r in random:
                if r["op"] == op:
                    by_round[r["round"]][r["mode"]] = r["us"]
            paired = [m["auto"] / m["off"] for m in by_round.values() if "auto" in m and "off" in m]
            if off and auto and paired:
                best = {
                    mode: min(r["us"] for r in random if r["op"] == op and r["mode"] == mode) / 1e6
                    for mode in ("off", "auto")
                }
                ratio = statistics.median(paired)
                cpu = {
                    mode: statistics.median(
                        [r.get("cpu", 0) for r in random if r["op"] == op and r["mode"] == mode]
                    )
                    for mode in ("off", "auto")
                }
                print(
                    f"| {op} | {off:.2f} | {auto:.2f} | {best['off']:.2f} | {best['auto']:.2f} | "
                    f"{ratio:.3f} | {verdict(ratio <= 1.03)} | {cpu['off']:.2f} / {cpu['auto']:.2f} |"
                )
        print()
    if text:
        size, rate = text[0]["bytes"], text[0]["rate"]
        print(
            f"A {human_size(size)} text log through bench/rate_proxy.py at {rate / 1e6:.0f} MB/s "
            f"each way (small socket buffers); one round; every output checked; bytes on the wire "
            f"counted by the proxy (both directions).\n"
        )
        print("| op | off s | auto s | off / auto | target ≥ 3 | wire off | wire auto | auto wire / size |")
        print("|---|---:|---:|---:|---|---:|---:|---:|")
        for op in ("get", "send"):
            by_mode = {r["mode"]: r for r in text if r["op"] == op}
            if "off" in by_mode and "auto" in by_mode:
                off, auto = by_mode["off"], by_mode["auto"]
                speedup = off["us"] / auto["us"]
                print(
                    f"| {op} | {off['us'] / 1e6:.2f} | {auto['us'] / 1e6:.2f} | {speedup:.2f} | "
                    f"{verdict(speedup >= 3)} | {off['wire']:,} | {auto['wire']:,} | "
                    f"{auto['wire'] / size:.3f} |"
                )
        print()
    tree = [r for r in rows if r["case"] == "tree"]
    if tree:
        size, rate, files = tree[0]["bytes"], tree[0]["rate"], tree[0]["files"]
        print(
            f"A tree of {files:,} text files of 4 KiB ({human_size(size)}; `get -r` and `send -r`, "
            f"its small files moved in sessions) through bench/rate_proxy.py at {rate / 1e6:.0f} MB/s; "
            f"one round; every copy checked; bytes on the wire both directions.\n"
        )
        print("| op | off s | auto s | on s | off / auto | wire off | wire auto | wire on | auto wire / size |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
        for op in ("get", "send"):
            m = {r["mode"]: r for r in tree if r["op"] == op}
            if all(mode in m for mode in ("off", "auto", "on")):
                print(
                    f"| {op} | {m['off']['us'] / 1e6:.2f} | {m['auto']['us'] / 1e6:.2f} | "
                    f"{m['on']['us'] / 1e6:.2f} | {m['off']['us'] / m['auto']['us']:.2f} | "
                    f"{m['off']['wire']:,} | {m['auto']['wire']:,} | {m['on']['wire']:,} | "
                    f"{m['auto']['wire'] / size:.3f} |"
                )
        print()


def parts(path):
    rows = defaultdict(list)
    for line in open(path):
        row = json.loads(line)
        rows[row["part"]].append(row)
    shows = (("resume", resume), ("memory", memory), ("concurrency", concurrency), ("small", small), ("tree", tree), ("compress", compress))
    for name, show in shows:
        if rows[name]:
            show(rows[name])


if __name__ == "__main__":
    if sys.argv[1] == "compare":
        compare(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    elif sys.argv[1] == "parts":
        parts(sys.argv[2])
    else:
        sys.exit(__doc__)
