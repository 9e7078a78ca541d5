#!/usr/bin/env python3
"""Compare our output with Cassandra's.

  diffcheck.py sstabledump OURS THEIRS [--exclude-key K]   parsed JSON documents, exactly
  diffcheck.py rows OURS THEIRS                            JSON Lines, as multisets of rows
      [--cassandra-3.11]   dates past 9999 without '+'
      [--cassandra-2.2.6]  SELECT JSON of 2.2.6: timestamps without the 'Z', NaN and
                           infinities as numbers (2.2.19 and we: null)
  diffcheck.py schema OURS THEIRS [--table-flags FLAGS]    our `schema --format json` vs system_schema.columns rows
                                                           (FLAGS: the table's system_schema.tables flags, for
                                                           the CQL view of COMPACT STORAGE tables)
  diffcheck.py ddl OURS THEIRS                             our `schema` (one CREATE TABLE) vs the same table's
                                                           CREATE TABLE in THEIRS (e.g. DESCRIBE output):
                                                           columns, types, static, keys, clustering order,
                                                           COMPACT STORAGE; table options are ignored

Exit status 1 on any difference, printing the first few.
"""
import json
import re
import sys
from collections import Counter


YEAR_SIGN = False  # set by --cassandra-3.11
OLD_JSON = False  # set by --cassandra-2.2.6
OLD_TIMESTAMP = re.compile(r"^-?\d{4,}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}$")


def norm(v):
    """Cassandra 3.11 prints dates past 9999 without the '+' that 4.0+ (and we) print.
    Cassandra 2.2.6 prints SELECT JSON timestamps as "yyyy-MM-dd HH:mm:ss.SSS" in the
    node's time zone (the harness runs 2.x nodes in UTC), and NaN, Infinity and
    -Infinity as such; 2.2.19 adds the "Z" and prints null."""
    if YEAR_SIGN and isinstance(v, str) and len(v) > 6 and v[0] == "+" and v[1:6].isdigit():
        return v[1:]
    if OLD_JSON and isinstance(v, str) and OLD_TIMESTAMP.match(v):
        return v + "Z"
    if OLD_JSON and isinstance(v, float) and (v != v or v in (float("inf"), float("-inf"))):
        return None
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


def split_top(text, sep=","):
    """Splits at sep outside (), <> and quotes."""
    parts, depth, cur, quote = [], 0, [], None
    for ch in text:
        if quote:
            cur.append(ch)
            if ch == quote:
                quote = None
            continue
        if ch in "'\"":
            quote = ch
        elif ch in "(<":
            depth += 1
        elif ch in ")>":
            depth -= 1
        elif ch == sep and depth == 0:
            parts.append("".join(cur).strip())
            cur = []
            continue
        cur.append(ch)
    if "".join(cur).strip():
        parts.append("".join(cur).strip())
    return parts


def ident(name):
    name = name.strip()
    return name[1:-1].replace('""', '"') if name.startswith('"') else name.lower()


def norm_type(t):
    """frozen<legacy_ks.phone> and frozen<phone> alike; no spaces, lower case."""
    t = re.sub(r"\s+", "", t).lower().replace('"', "")
    return re.sub(r"\b\w+\.", "", t)


def parse_tables(text):
    """{ "ks.table": {columns, partition_key, clustering, order, compact} } of every CREATE TABLE in text."""
    text = re.sub(r"--[^\n]*", "", text)
    out = {}
    for m in re.finditer(r"CREATE\s+(?:TABLE|COLUMNFAMILY)\s+(?:IF\s+NOT\s+EXISTS\s+)?([\w.\"]+)\s*\(", text, re.I):
        i, depth = m.end(), 1
        while depth and i < len(text):
            depth += {"(": 1, ")": -1}.get(text[i], 0)
            i += 1
        body, rest = text[m.end():i - 1], text[i:]
        rest = rest[:rest.find(";")] if ";" in rest else rest
        name = ".".join(ident(p) for p in m.group(1).split("."))
        cols, pk = {}, None
        for item in split_top(body):
            pkm = re.match(r"PRIMARY\s+KEY\s*\((.*)\)\s*$", item, re.I | re.S)
            if pkm:
                pk = pkm.group(1)
                continue
            words = item.split(None, 1)
            col, typ = ident(words[0]), words[1]
            static = bool(re.search(r"\s+static\b", typ, re.I))
            inline_pk = bool(re.search(r"\s+primary\s+key\b", typ, re.I))
            typ = re.sub(r"\s+(static|primary\s+key)\b", "", typ, flags=re.I)
            cols[col] = {"type": norm_type(typ), "static": static}
            if inline_pk:
                pk = words[0]
        keys = split_top(pk or "")
        partition = [ident(k) for k in split_top(keys[0].strip()[1:-1])] if keys and keys[0].strip().startswith("(") \
            else [ident(k) for k in keys[:1]]
        clustering = [ident(k) for k in keys[1:]]
        order = {c: "asc" for c in clustering}
        om = re.search(r"CLUSTERING\s+ORDER\s+BY\s*\(([^)]*)\)", rest, re.I)
        if om:
            for part in split_top(om.group(1)):
                w = part.split()
                order[ident(w[0])] = w[1].lower() if len(w) > 1 else "asc"
        out[name] = {"columns": cols, "partition_key": partition, "clustering": clustering,
                     "clustering_order": order, "compact_storage": bool(re.search(r"COMPACT\s+STORAGE", rest, re.I))}
    return out


def load_lines(p):
    with open(p, encoding="utf-8") as f:
        return [json.loads(l) for l in f if l.strip()]


def main():
    global YEAR_SIGN, OLD_JSON
    mode, ours, theirs = sys.argv[1:4]
    rest = sys.argv[4:]
    YEAR_SIGN = "--cassandra-3.11" in rest
    OLD_JSON = "--cassandra-2.2.6" in rest
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
        if "--table-flags" in rest:
            # system_schema.tables' flags (3.x): a COMPACT STORAGE table's
            # CQL view differs from its system_schema.columns rows. A static
            # compact table (neither compound nor dense) hides its clustering
            # and value columns and lists its columns as static; a dense one
            # without a value column hides an empty-typed one.
            flags = [r.get("flags") or [] for r in load_lines(rest[rest.index("--table-flags") + 1])]
            flags = flags[0] if flags else ["compound"]
            if "compound" not in flags and "dense" not in flags:
                theirs_cols = [dict(c, kind="regular") if c["kind"] == "static" else c
                               for c in theirs_cols if c["kind"] not in ("clustering", "regular")]
            elif "compound" not in flags or "dense" in flags:
                theirs_cols = [c for c in theirs_cols if not (c["kind"] == "regular" and c["type"] == "empty")]
            theirs_cols.sort(key=key)
        ours_cols = sorted(a["columns"], key=key)
        if a.get("placeholder_keys"):
            for cols in (ours_cols, theirs_cols):
                for c in cols:
                    if c["kind"] in ("partition_key", "clustering"):
                        c["column_name"] = f"<{c['kind']} {c['position']}>"
        diff_values(ours_cols, theirs_cols, "", out)
    elif mode == "ddl":
        a = parse_tables(open(ours, encoding="utf-8").read())
        b = parse_tables(open(theirs, encoding="utf-8").read())
        if len(a) != 1:
            out.append(f"ours: {len(a)} CREATE TABLE statements, expected 1")
        else:
            (name, table), = a.items()
            if name not in b:
                out.append(f"{name}: no CREATE TABLE in theirs (has {', '.join(sorted(b)) or 'none'})")
            else:
                diff_values(table, b[name], name, out)
    else:
        sys.exit(f"unknown mode {mode}")
    if out:
        print(f"{len(out)} difference(s) between {ours} and {theirs}:")
        for line in out[:15]:
            print("  " + line)
        sys.exit(1)


if __name__ == "__main__":
    main()
