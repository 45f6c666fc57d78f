#!/usr/bin/env python3
"""Prints the workspace's crate graph (normal dependencies between our own crates) and fails if a
dependency points the wrong way. The allowed direction is docs/architecture.md's:

    cli -> cluster, jobs -> core -> lake, udfs/*        (datasets and the test crates stand apart)

Run: python3 scripts/crate-graph.py            (text)
     python3 scripts/crate-graph.py --dot      (Graphviz)
"""
import json
import subprocess
import sys

# Each crate may depend on the crates of a lower layer only; the same layer never depends sideways.
LAYERS = {
    "nightshift-udf-common": 0,
    "nightshift-datasets": 0,
    "nightshift-lake": 1,
    "nightshift-sentiment": 1,
    "nightshift-fraud": 1,
    "nightshift-core": 2,
    "nightshift-jobs": 3,
    "nightshift-cluster": 3,
    "nightshift-cli": 4,
    "nightshift-tests": 4,
    "nightshift-test-support": 0,
}


def main() -> int:
    meta = json.loads(
        subprocess.check_output(["cargo", "metadata", "--format-version", "1", "--no-deps", "--offline"])
    )
    ours = {p["name"] for p in meta["packages"]}
    edges = []
    for p in sorted(meta["packages"], key=lambda p: p["name"]):
        for d in p["dependencies"]:
            if d["name"] in ours and d.get("kind") is None:
                edges.append((p["name"], d["name"]))
    if "--dot" in sys.argv:
        print("digraph nightshift {")
        for a, b in edges:
            print(f'  "{a}" -> "{b}";')
        print("}")
    else:
        for name in sorted(ours, key=lambda n: (-LAYERS.get(n, 0), n)):
            deps = sorted(b for a, b in edges if a == name)
            print(f"{name} -> {', '.join(deps) if deps else '(none of ours)'}")
    bad = []
    for a, b in edges:
        if a not in LAYERS or b not in LAYERS:
            bad.append(f"{a} -> {b}: add the crate to LAYERS in scripts/crate-graph.py")
        elif LAYERS[b] >= LAYERS[a]:
            bad.append(f"{a} -> {b}: a crate may depend only on lower layers (docs/architecture.md)")
    for b in bad:
        print(f"error: {b}", file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
