"""TPC-H side by side: DuckDB, raw DataFusion (its Python bindings, the release nightshift is built on) and
nightshift, on the same Parquet files, the same SQL (queries/tpch/qN.sql) and the same thread count, in one run.

usage: compare.py DATA_DIR --nightshift BIN [--config nightshift.toml] [--threads 2] [--runs 2] [--queries 1-22]
       compare.py DATA_DIR --nightshift BIN --check [--queries 1-22] [--cluster standalone]

DATA_DIR holds one folder per table, as `nightshift bench tpch --data DATA_DIR` (or tpchgen-cli) writes them.
Timing mode prints, per query, the best-of-runs seconds of each engine after one warm-up run (nightshift as a
whole `BIN --config CONFIG --lake DATA_DIR sql -f qN.sql` process, as a user runs it), the row counts, and
nightshift's ratio to DuckDB and to DataFusion; then totals. When DATA_DIR was written by `nightshift bench tpch`
(it holds `_tpch.json`), the same run also times `BIN bench tpch` over the same queries in one process (best of
runs after a warm-up, as DuckDB and DataFusion run in theirs), and prints that column and its ratio to DuckDB. --check compares nightshift's answers with DuckDB's,
value by value after rounding numbers to 2 decimals, and exits 1 on any difference; with --cluster URL, nightshift
runs each query on that Apache DataFusion Ballista cluster (`standalone`: a scheduler and an executor in its process).

Needs `pip install duckdb datafusion==55.0.0 pyarrow` (--check needs only duckdb).
"""
import argparse, csv, io, math, os, subprocess, sys, time
from decimal import Decimal
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
QUERIES = REPO / "queries" / "tpch"
TABLES = ["customer", "lineitem", "nation", "orders", "part", "partsupp", "region", "supplier"]


def statements(n):
    text = "\n".join(l for l in (QUERIES / f"q{n}.sql").read_text().splitlines() if not l.strip().startswith("--"))
    return [s.strip() for s in text.split(";") if s.strip()]


def query_numbers(text):
    out = []
    for part in text.split(","):
        a, _, b = part.partition("-")
        out += range(int(a), int(b or a) + 1)
    return out


def duckdb_engine(data, threads):
    import duckdb
    con = duckdb.connect()
    con.execute(f"SET threads={threads}")
    for t in TABLES:
        con.execute(f"CREATE VIEW {t} AS SELECT * FROM read_parquet('{data}/{t}/*.parquet')")

    def run(n):
        rows = None
        for s in statements(n):
            r = con.execute(s).fetchall()
            if s.lower().startswith("select"):
                rows = r
        return rows
    return run


def datafusion_engine(data, threads):
    from datafusion import SessionConfig, SessionContext
    ctx = SessionContext(SessionConfig().with_target_partitions(threads))
    for t in TABLES:
        ctx.register_parquet(t, f"{data}/{t}/")

    def run(n):
        rows = None
        for s in statements(n):
            batches = ctx.sql(s).collect()
            if s.lower().startswith("select"):
                rows = [None] * sum(b.num_rows for b in batches)
        return rows
    return run


def nightshift_engine(data, binary, config, threads, cluster=None):
    def run(n):
        # The thread count, as DuckDB's `SET threads`; nightshift picks its partitions from it as it
        # does by default (the threads plus as many again up to 4).
        args = [binary, "--lake", data, "--threads", str(threads)]
        if config:
            args += ["--config", config]
        if cluster:
            args += ["--cluster", cluster]
        args += ["sql", "--format", "csv", "-f", str(QUERIES / f"q{n}.sql")]
        out = subprocess.run(args, cwd=REPO, capture_output=True, text=True)
        if out.returncode != 0:
            raise RuntimeError((out.stderr.strip().splitlines() or [f"exit {out.returncode}"])[-1])
        # q15 prints its view's creation and drop too: the answer is the CSV with a header and rows.
        blocks = [b for b in out.stdout.strip().split("\n\n") if b.strip()]
        rows = list(csv.reader(io.StringIO(blocks[-1] if blocks else "")))
        return rows[1:]
    return run


def normal(v):
    """A value as both engines' answers compare: numbers rounded to 2 decimals, the rest as text."""
    if v is None or v == "" or v == "NULL":
        return ""
    if isinstance(v, (int, float, Decimal)):
        return f"{round(float(v), 2):.2f}"
    s = str(v)
    try:
        f = float(s)
        if math.isfinite(f):
            return f"{round(f, 2):.2f}"
    except ValueError:
        pass
    return s.strip()


def check(data, binary, config, threads, numbers, cluster=None):
    duck, ours = duckdb_engine(data, threads), nightshift_engine(data, binary, config, threads, cluster)
    bad = 0
    for n in numbers:
        theirs = [[normal(v) for v in r] for r in duck(n)]
        mine = [[normal(v) for v in r] for r in ours(n)]
        same = len(theirs) == len(mine) and all(a == b for a, b in zip(theirs, mine))
        if not same:
            # Ties in ORDER BY may come in either order: compare as multisets before failing.
            same = sorted(map(tuple, theirs)) == sorted(map(tuple, mine))
        print(f"q{n}\t{len(mine)} rows\t{'same as DuckDB' if same else 'DIFFERENT'}", flush=True)
        if not same:
            bad += 1
            for a, b in list(zip(theirs, mine))[:5]:
                print(f"  duckdb:     {a}\n  nightshift: {b}")
    return 1 if bad else 0


def nightshift_one_process(data, binary, config, threads, runs, numbers):
    """Per query, the best seconds of `BIN bench tpch` over `numbers` in one process; None when DATA_DIR was not
    written by it (bench tpch would generate the tables there)."""
    import json
    meta = Path(data) / "_tpch.json"
    if not meta.exists():
        return None
    m = json.loads(meta.read_text())
    args = [binary, "--threads", str(threads)] + (["--config", config] if config else []) + [
        "bench", "tpch", "--scale", str(m["scale"]), "--parts", str(m["parts"]), "--data", data,
        "--queries", ",".join(map(str, numbers)), "--repeat", str(runs)]
    out = subprocess.run(args, cwd=REPO, capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError((out.stderr.strip().splitlines() or [f"exit {out.returncode}"])[-1])
    best = {}
    for line in out.stdout.splitlines():
        cells = line.split()
        if len(cells) == 3 and cells[0].startswith("q") and cells[0][1:].isdigit():
            best[int(cells[0][1:])] = float(cells[1])
    return best


def timing(data, binary, config, threads, runs, numbers):
    engines = {"duckdb": duckdb_engine(data, threads), "datafusion": datafusion_engine(data, threads),
               "nightshift": nightshift_engine(data, binary, config, threads)}
    one = nightshift_one_process(data, binary, config, threads, runs, numbers)
    extra = "\tnightshift_1p_s\t1p_vs_duckdb" if one is not None else ""
    print("query\t" + "\t".join(f"{e}_s" for e in engines) + "\trows\tvs_duckdb\tvs_datafusion" + extra, flush=True)
    totals = dict.fromkeys(engines, 0.0)
    one_total = 0.0
    for n in numbers:
        best, rows = {}, {}
        for e, run in engines.items():
            run(n)  # warm-up: file metadata and the OS page cache
            best[e] = math.inf
            for _ in range(runs):
                t0 = time.perf_counter()
                rows[e] = len(run(n) or [])
                best[e] = min(best[e], time.perf_counter() - t0)
            totals[e] += best[e]
        counts = set(rows.values())
        shown = str(rows["duckdb"]) if len(counts) == 1 else "/".join(str(rows[e]) for e in engines)
        cells = ""
        if one is not None:
            one_total += one[n]
            cells = f"\t{one[n]:.3f}\t{one[n] / best['duckdb']:.2f}"
        print(f"q{n}\t" + "\t".join(f"{best[e]:.3f}" for e in engines)
              + f"\t{shown}\t{best['nightshift'] / best['duckdb']:.2f}\t{best['nightshift'] / best['datafusion']:.2f}"
              + cells, flush=True)
    cells = f"\t{one_total:.2f}\t{one_total / totals['duckdb']:.2f}" if one is not None else ""
    print("total\t" + "\t".join(f"{totals[e]:.2f}" for e in engines)
          + f"\t\t{totals['nightshift'] / totals['duckdb']:.2f}\t{totals['nightshift'] / totals['datafusion']:.2f}"
          + cells)
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("data")
    ap.add_argument("--nightshift", required=True, help="the nightshift binary")
    ap.add_argument("--config", default=str(REPO / "nightshift.toml"), help="settings for nightshift ('' for none)")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--runs", type=int, default=2)
    ap.add_argument("--queries", default="1-22")
    ap.add_argument("--check", action="store_true", help="compare nightshift's answers with DuckDB's")
    ap.add_argument("--cluster", help="with --check: run nightshift on this Ballista cluster (`standalone` for one in its process)")
    a = ap.parse_args()
    data = str(Path(a.data).resolve())
    numbers = query_numbers(a.queries)
    if a.check:
        return check(data, a.nightshift, a.config, a.threads, numbers, a.cluster)
    return timing(data, a.nightshift, a.config, a.threads, a.runs, numbers)


if __name__ == "__main__":
    sys.exit(main())
