"""Random differential cases for nightshift-sentiment, scored by the reference implementation.

    pip install vaderSentiment==3.3.2
    python3 generate_cases.py OUT.jsonl [COUNT] [SEED]
    NIGHTSHIFT_VADER_CASES=OUT.jsonl cargo test -p nightshift-sentiment --test it -- --ignored reference_cases

Each line is {"text": ..., "neg": ..., "neu": ..., "pos": ..., "compound": ...}. The texts stress the rules
(negation, boosters, capitals, but, least, idioms, emoji, punctuation, Unicode case and spaces).
"""
import json
import random
import sys

from vaderSentiment.vaderSentiment import BOOSTER_DICT, NEGATE, SentimentIntensityAnalyzer

analyzer = SentimentIntensityAnalyzer()
lexicon = sorted(analyzer.lexicon)
emojis = sorted(analyzer.emojis)
rule_words = ["no", "or", "nor", "never", "so", "this", "without", "doubt", "least", "at", "very",
              "kind", "of", "but", "BUT", "But", "the", "shit", "bomb", "bad", "ass", "bus", "stop",
              "yeah", "right", "kiss", "death", "to", "die", "for", "beating", "heart", "just", "enough",
              "sort", "not", "isn't", "don't", "DON'T", "won't", "cannot"]
plain = ["book", "movie", "it", "was", "is", "I", "we", "plot", "and", "a", "an", "with", "day"]
odd = ["o\u212a", "\u0130yi", "ÉTÉ", "ПРИВЕТ", "Привет", "日本", "\u01c5ungla", "naïve", "café", "über",
       ":)", ":-(", ":D", "<3", "(:", "xD", "''", "--", "...", "!", "?", "??", "!!!", "?!?", "&", "'s"]
spaces = [" "] * 30 + ["  ", "\t", "\n", "\u00a0", "\u2003", "\u3000", "\x1c", "\u200b", "\u0085"]
wrappers = [("", "")] * 12 + [("", ","), ("", "."), ("", "!"), ("", "?"), ("'", "'"), ('"', '"'),
                              ("(", ")"), ("", "!!"), ("", "..."), ("*", "*"), ("", "'s"), ("#", "")]


def word(rng):
    r = rng.random()
    if r < 0.35:
        w = rng.choice(lexicon)
    elif r < 0.50:
        w = rng.choice(list(BOOSTER_DICT))
    elif r < 0.60:
        w = rng.choice(NEGATE)
    elif r < 0.78:
        w = rng.choice(rule_words)
    elif r < 0.88:
        w = rng.choice(plain)
    elif r < 0.95:
        w = rng.choice(odd)
    else:
        w = rng.choice(emojis)
    c = rng.random()
    if c < 0.15:
        w = w.upper()
    elif c < 0.22:
        w = w.capitalize()
    pre, post = rng.choice(wrappers)
    return pre + w + post


def text(rng):
    n = rng.choice([0, 1, 2, 3, 4, 5, 6, 8, 10, 12, 16, 24, 40, 150])
    parts = []
    for _ in range(n):
        parts.append(word(rng))
        parts.append(rng.choice(spaces))
    if rng.random() < 0.1 and parts:
        # glue a word to an emoji or punctuation without a space
        parts.insert(rng.randrange(len(parts)), rng.choice(emojis + ["!", "?"]))
    return "".join(parts).rstrip(" ") if rng.random() < 0.8 else "".join(parts)


def main():
    out = sys.argv[1]
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 20000
    rng = random.Random(int(sys.argv[3]) if len(sys.argv) > 3 else 7)
    with open(out, "w", encoding="utf-8") as f:
        for _ in range(count):
            t = text(rng)
            s = analyzer.polarity_scores(t)
            f.write(json.dumps({"text": t, **s}, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
