#!/usr/bin/env python3
"""Prints the rates and ratios of the last `cargo bench -p ferrite-core` run.

Reads criterion's estimates under target/criterion and reports, for each benchmark, the mean time
per iteration and the elements per second; then the ratios the project tracks, each against a
limit measured in the same run.
"""
import json
import os
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "target", "criterion")


def load(group, name):
    base = os.path.join(ROOT, group, name, "new")
    try:
        with open(os.path.join(base, "estimates.json")) as f:
            est = json.load(f)
        with open(os.path.join(base, "benchmark.json")) as f:
            meta = json.load(f)
    except FileNotFoundError:
        return None
    ns = est["mean"]["point_estimate"]
    elements = (meta.get("throughput") or {}).get("Elements", 1)
    return ns, elements / (ns * 1e-9)


def main():
    rows = {}
    if not os.path.isdir(ROOT):
        sys.exit("no criterion results: run `cargo bench -p ferrite-core` (and -p ferrite-node) first")
    for group in sorted(os.listdir(ROOT)):
        gdir = os.path.join(ROOT, group)
        if not os.path.isdir(gdir) or group == "report":
            continue
        for name in sorted(os.listdir(gdir)):
            r = load(group, name)
            if r:
                rows[f"{group}/{name}"] = r
    print(f"{'benchmark':48s} {'time/iter':>14s} {'per second':>14s}")
    for k, (ns, rate) in rows.items():
        print(f"{k:48s} {ns/1e3:11.1f} us {rate:14,.0f}")

    def rate(k):
        return rows[k][1] if k in rows else None

    print()
    ratios = [
        ("block validation / parallel batch verify (goal >= 0.70)",
         "block/validate_5000_transfers", "verify/parallel_batch_5000"),
        ("batch-1024 verify / single verify",
         "verify/batch_1024", "verify/single_zip215"),
        ("batch-64 verify / single verify",
         "verify/batch_64", "verify/single_zip215"),
        ("parallel batch verify / batch-1024 (core scaling)",
         "verify/parallel_batch_5000", "verify/batch_1024"),
        ("header hash / raw blake3 of 160 bytes",
         "hash/header", "hash/raw_blake3_160_bytes"),
        ("miner nonce search / raw blake3 header hashing (goal >= 0.90)",
         "mine/miner_search", "mine/raw_blake3_header"),
    ]
    for label, a, b in ratios:
        if rate(a) and rate(b):
            print(f"{label:60s} {rate(a)/rate(b):6.2f}")


if __name__ == "__main__":
    main()
