"""Turn bench/run.sh's timings into a Markdown table of medians and the
ratios issue 3 sets as targets."""
import statistics
import sys
from collections import defaultdict

times_path, size, serve_rss = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
runs = defaultdict(list)
for line in open(times_path):
    name, secs, rss = line.split()
    runs[name].append((float(secs), int(rss)))

med = {name: statistics.median(s for s, _ in v) for name, v in runs.items()}
rss = {name: max(r for _, r in v) for name, v in runs.items()}
mib = size / (1 << 20)
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
