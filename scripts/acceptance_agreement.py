"""Share of samples whose parsed predictions agree between two eval runs (the GPU acceptance run's HF-vs-vLLM check).

    python scripts/acceptance_agreement.py HF/predictions.jsonl VLLM/predictions.jsonl --min 0.8

Rows are matched by (dataset, id); the `prediction` objects are compared as JSON. Exits 1 below `--min`.
"""

from __future__ import annotations

import argparse
import json
import sys


def read(path: str) -> dict[tuple[str, str], str]:
    with open(path, encoding="utf-8") as f:
        rows = [json.loads(line) for line in f if line.strip()]
    return {(r["dataset"], str(r["id"])): json.dumps(r.get("prediction"), sort_keys=True) for r in rows}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("a")
    p.add_argument("b")
    p.add_argument("--min", type=float, default=0.8)
    args = p.parse_args(argv)
    a, b = read(args.a), read(args.b)
    keys = sorted(set(a) & set(b))
    if not keys or len(keys) != len(a) or len(keys) != len(b):
        print(f"the runs cover different samples: {len(a)} vs {len(b)} rows, {len(keys)} shared")
        return 1
    same = sum(a[k] == b[k] for k in keys)
    print(f"{same}/{len(keys)} parsed predictions equal ({same / len(keys):.3f}, minimum {args.min})")
    return 0 if same / len(keys) >= args.min else 1


if __name__ == "__main__":
    sys.exit(main())
