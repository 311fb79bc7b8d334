"""Rows of bench/ablate.py and bench/sampling_sweep.py as one markdown table (docs/results.md style).

    python bench/ablate_table.py runs/ablate/rung1.jsonl
    python bench/ablate_table.py runs/ablate/rung1.jsonl runs/sweep/rung1.jsonl --sort quick --categories

A column that no row has is left out (sampling rows have no training FLOPs; arms benched without
--no-bench have no bench). The quick score is facts passed / judged with its Wilson 95 % interval
(eval/intervals.py): two arms whose intervals overlap are not told apart by these runs. val_loss is the
held-out flow-matching loss at the last step, over all bands of t and per band (t0 = [0, .25) ... t3 =
[.75, 1], train/validation.py): lower is better, and only arms of one recipe and data compare.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from patchflow.eval.intervals import rate_with_interval  # noqa: E402


def read_rows(paths: list[str]) -> list[dict]:
    rows = []
    for path in paths:
        for n, line in enumerate(Path(path).read_text().splitlines(), 1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as e:
                    raise SystemExit(f"{path}:{n}: not a JSON row ({e})") from None
    return rows


def budget_text(row: dict) -> str:
    budget = row.get("budget")
    if not budget:
        return ""
    value = budget["value"]
    return {"steps": f"{value} steps", "flops": f"{value:.2g} FLOPs", "minutes": f"{value:g} min"}[budget["kind"]]


def number(value, digits: int = 4) -> str:
    return "" if value is None else f"{value:.{digits}g}"


def quick_text(row: dict) -> str:
    bench = row.get("bench")
    return rate_with_interval(bench["passed"], bench["judged"]) if bench else ""


# header -> cell of a row; a column whose cells are all empty is dropped
COLUMNS = {
    "arm": lambda r: r["name"],
    "overrides": lambda r: " ".join(f"`{o}`" for o in r.get("overrides", [])
                                    if not o.startswith(("train.vae_path=", "data.latents="))),
    "budget": budget_text,
    "steps": lambda r: str(r["steps"]) + (" (stopped)" if r.get("stopped_early") else "") if "steps" in r else "",
    "Mtokens": lambda r: number(r["tokens"] / 1e6, 3) if "tokens" in r else "",
    "PFLOP": lambda r: number(r["flops"] / 1e15, 3) if "flops" in r else "",
    "train min": lambda r: number(r.get("train_minutes"), 3),
    "loss": lambda r: number(r.get("loss")),
    "val_loss": lambda r: number(r.get("val_loss")),
    **{f"t{k}": (lambda r, k=k: number(r.get(f"val_loss_t{k}"))) for k in range(4)},
    "quick [95%]": quick_text,
    "pop-ins/min": lambda r: number(r["bench"]["appearances_per_min"], 3) if r.get("bench") else "",
}

SORTS = {"quick": lambda r: -(r.get("bench") or {}).get("overall", -1.0),
         "val_loss": lambda r: r.get("val_loss", float("inf"))}


def table(rows: list[dict], categories: bool = False) -> str:
    columns = dict(COLUMNS)
    if categories:  # one column per bench category, in the order the rows first name them
        names = list(dict.fromkeys(c for r in rows for c in (r.get("bench") or {}).get("categories", {})))
        for name in names:
            columns[name] = (lambda r, name=name: rate_with_interval(
                r["bench"]["categories"][name]["passed"], r["bench"]["categories"][name]["judged"])
                if name in (r.get("bench") or {}).get("categories", {}) else "")
    cells = {header: [cell(r) for r in rows] for header, cell in columns.items()}
    shown = [h for h in columns if any(cells[h])]
    right = {h for h in shown if h not in ("arm", "overrides", "budget")}
    lines = ["| " + " | ".join(shown) + " |", "| " + " | ".join("---:" if h in right else "---" for h in shown) + " |"]
    lines += ["| " + " | ".join(cells[h][i] for h in shown) + " |" for i in range(len(rows))]
    return "\n".join(lines)


def main(argv=None) -> str:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("paths", nargs="+", help="JSONL files of bench/ablate.py or bench/sampling_sweep.py")
    ap.add_argument("--sort", choices=sorted(SORTS), help="best first; default: the order of the files")
    ap.add_argument("--categories", action="store_true", help="a column per bench category")
    args = ap.parse_args(argv)
    rows = read_rows(args.paths)
    if args.sort:
        rows.sort(key=SORTS[args.sort])
    text = table(rows, args.categories)
    print(text)
    return text


if __name__ == "__main__":
    main()
