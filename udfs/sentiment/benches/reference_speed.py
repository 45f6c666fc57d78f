"""Speed of the reference vaderSentiment 3.3.2 on the shared corpora, one core, texts/s.

    pip install vaderSentiment==3.3.2 pyarrow
    python3 udfs/sentiment/benches/reference_speed.py [--repeat N]

Reads the same files as benches/sentiment.rs ($NIGHTSHIFT_SHARED, else ../shared beside the workspace).
"""
import argparse
import os
import pathlib
import sys
import time

import pyarrow.parquet as pq
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer


def shared_dir():
    env = os.environ.get("NIGHTSHIFT_SHARED")
    if env:
        return pathlib.Path(env)
    return pathlib.Path(__file__).resolve().parents[4] / "shared"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3, help="runs per corpus; the best is reported")
    args = parser.parse_args()
    analyzer = SentimentIntensityAnalyzer()
    print(f"python {sys.version.split()[0]}, vaderSentiment 3.3.2")
    for name in ["movie_reviews", "tweets"]:
        path = shared_dir() / "datasets" / "vader" / f"{name}.parquet"
        texts = pq.read_table(path, columns=["text"]).column("text").to_pylist()
        best = float("inf")
        for _ in range(args.repeat):
            start = time.perf_counter()
            for text in texts:
                analyzer.polarity_scores(text)
            best = min(best, time.perf_counter() - start)
        print(f"{name}: {len(texts)} texts in {best:.3f} s = {len(texts) / best:,.0f} texts/s")


if __name__ == "__main__":
    main()
