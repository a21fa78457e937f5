"""Prints the table of bench/compare.sh and draws its plot.

Usage: compare_report.py RESULTS.tsv LIMITS.txt PLOT.png
RESULTS.tsv lines: scenario TAB tool TAB "wall_s cpu_s peak_kib bytes_written".
"""

import statistics
import sys
from collections import defaultdict

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def read_results(path):
    runs = defaultdict(list)
    for line in open(path):
        scenario, tool, numbers = line.rstrip("\n").split("\t")
        wall, cpu, rss, written = numbers.split()
        runs[(scenario, tool)].append((float(wall), float(cpu), int(rss), int(written)))
    medians = {}
    for key, values in runs.items():
        medians[key] = tuple(statistics.median(column) for column in zip(*values))
    return medians


def read_limits(path):
    limits = defaultdict(list)
    for line in open(path):
        name, *values = line.split()
        limits[name].append(values)
    return limits


def print_table(medians):
    scenarios = sorted({scenario for scenario, _ in medians})
    tools = sorted({tool for _, tool in medians}, key=lambda t: (t != "haven", t))
    print(f"{'scenario':24} {'tool':7} {'wall s':>8} {'cpu s':>8} {'peak MiB':>9} "
          f"{'written MB':>11} {'wall / haven':>13}")
    for scenario in scenarios:
        haven_wall = medians.get((scenario, "haven"), (None,))[0]
        for tool in tools:
            if (scenario, tool) not in medians:
                continue
            wall, cpu, rss, written = medians[(scenario, tool)]
            ratio = f"{wall / haven_wall:.2f}" if haven_wall else "-"
            print(f"{scenario:24} {tool:7} {wall:8.2f} {cpu:8.2f} {rss / 1024:9.0f} "
                  f"{written / 1e6:11.1f} {ratio:>13}")
    return scenarios, tools


def print_limits(limits):
    aead = float(limits["aead_mb_s"][0][0])
    blake3 = float(limits["blake3_mb_s"][0][0])
    zstd = float(limits["zstd3_mb_s"][0][0])
    print(f"\nmachine limits, one core: ChaCha20-Poly1305 {aead:.0f} MB/s, "
          f"BLAKE3 {blake3:.0f} MB/s, zstd -3 compression {zstd:.0f} MB/s, "
          f"disk read {' '.join(limits['disk_read'][0])}")
    raw = limits["haven_raw"]
    walls = [float(wall) for wall, _cpu, _rss, _size in raw]
    throughput = int(raw[0][3]) / statistics.median(walls) / 1e6
    # Incompressible data is hashed and encrypted but not compressed, so the limit
    # for one core is the time of both steps in a row.
    one_core = 1 / (1 / aead + 1 / blake3)
    runs = ", ".join(f"{wall:.2f}" for wall in walls)
    print(f"Haven backup of incompressible data, median of {len(walls)} runs "
          f"({runs} s): {throughput:.0f} MB/s; hashing plus encryption on one core "
          f"allows {one_core:.0f} MB/s ({throughput / one_core:.0%} of it)")


def plot(medians, scenarios, tools, path):
    figure, axis = plt.subplots(figsize=(10, 4.5))
    width = 0.8 / len(tools)
    for i, tool in enumerate(tools):
        walls = [medians.get((s, tool), (0,))[0] for s in scenarios]
        axis.bar([x + i * width for x in range(len(scenarios))], walls, width, label=tool)
    axis.set_xticks([x + width * (len(tools) - 1) / 2 for x in range(len(scenarios))])
    axis.set_xticklabels(scenarios, rotation=15)
    axis.set_ylabel("median wall time (s)")
    names = ["Haven" if tool == "haven" else tool for tool in tools]
    listed = ", ".join(names[:-1]) + " and " + names[-1] if len(names) > 1 else names[0]
    axis.set_title(f"{listed} on the same data (lower is better)")
    axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=100)


def main():
    medians = read_results(sys.argv[1])
    scenarios, tools = print_table(medians)
    print_limits(read_limits(sys.argv[2]))
    plot(medians, scenarios, tools, sys.argv[3])


if __name__ == "__main__":
    main()
