#!/usr/bin/env python3
"""Compare our output with Cassandra's.

  diffcheck.py sstabledump OURS THEIRS [--exclude-key K]   parsed JSON documents, exactly
  diffcheck.py rows OURS THEIRS                            JSON Lines, as multisets of rows
  diffcheck.py schema OURS THEIRS                          our `schema --format json` vs system_schema.columns rows

Exit status 1 on any difference, printing the first few.
"""
import json
import sys
from collections import Counter


YEAR_SIGN = False  # set by --cassandra-3.11


def norm(v):
    """Cassandra 3.11 prints dates past 9999 without the '+' that 4.0+ (and we) print."""
    if YEAR_SIGN and isinstance(v, str) and len(v) > 6 and v[0] == "+" and v[1:6].isdigit():
        return v[1:]
    if isinstance(v, dict):
        return {k: norm(x) for k, x in v.items()}
    if isinstance(v, list):
        return [norm(x) for x in v]
    return v


def canon(v):
    return json.dumps(v, sort_keys=True, ensure_ascii=False)


def diff_values(a, b, path, out):
    if type(a) != type(b) and not (isinstance(a, (int, float)) and isinstance(b, (int, float))):
        out.append(f"{path}: ours {canon(a)[:120]} theirs {canon(b)[:120]}")
    elif isinstance(a, dict):
        for k in sorted(set(a) | set(b)):
            if k not in a or k not in b:
                out.append(f"{path}/{k}: only in {'ours' if k in a else 'theirs'}")
            else:
                diff_values(a[k], b[k], f"{path}/{k}", out)
    elif isinstance(a, list):
        if len(a) != len(b):
            out.append(f"{path}: {len(a)} items in ours, {len(b)} in theirs")
        for i, (x, y) in enumerate(zip(a, b)):
            diff_values(x, y, f"{path}[{i}]", out)
    elif a != b:
        out.append(f"{path}: ours {canon(a)[:120]} theirs {canon(b)[:120]}")


def load_lines(p):
    with open(p, encoding="utf-8") as f:
        return [json.loads(l) for l in f if l.strip()]


def main():
    global YEAR_SIGN
    mode, ours, theirs = sys.argv[1:4]
    rest = sys.argv[4:]
    YEAR_SIGN = "--cassandra-3.11" in rest
    out = []
    if mode == "sstabledump":
        a = json.load(open(ours, encoding="utf-8"))
        b = json.load(open(theirs, encoding="utf-8"))
        if "--exclude-key" in rest:
            k = rest[rest.index("--exclude-key") + 1]
            a = [p for p in a if p["partition"]["key"] != [k]]
            b = [p for p in b if p["partition"]["key"] != [k]]
            # sstabledump -x leaves the reader behind the skipped partition, so
            # the partition after it reports a stale position: ignore those.
            for p in a + b:
                p["partition"].pop("position", None)
        diff_values(norm(a), norm(b), "", out)
    elif mode == "rows":
        drop = lambda r: False
        if "--exclude-row" in rest:
            f, v = rest[rest.index("--exclude-row") + 1].split("=", 1)
            drop = lambda r: str(r.get(f)) == v
        a = Counter(canon(norm(r)) for r in load_lines(ours) if not drop(r))
        b = Counter(canon(norm(r)) for r in load_lines(theirs))
        for r, n in (a - b).items():
            out.append(f"only ours (x{n}): {r[:300]}")
        for r, n in (b - a).items():
            out.append(f"only theirs (x{n}): {r[:300]}")
    elif mode == "schema":
        a = json.load(open(ours, encoding="utf-8"))
        b = load_lines(theirs)
        key = lambda c: (c["kind"], c["position"], c["column_name"])
        theirs_cols = sorted(({"column_name": c["column_name"], "kind": c["kind"], "position": c["position"],
                               "type": c["type"], "clustering_order": c["clustering_order"]} for c in b), key=key)
        ours_cols = sorted(a["columns"], key=key)
        if a.get("placeholder_keys"):
            for cols in (ours_cols, theirs_cols):
                for c in cols:
                    if c["kind"] in ("partition_key", "clustering"):
                        c["column_name"] = f"<{c['kind']} {c['position']}>"
        diff_values(ours_cols, theirs_cols, "", out)
    else:
        sys.exit(f"unknown mode {mode}")
    if out:
        print(f"{len(out)} difference(s) between {ours} and {theirs}:")
        for line in out[:15]:
            print("  " + line)
        sys.exit(1)


if __name__ == "__main__":
    main()
