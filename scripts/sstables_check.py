#!/usr/bin/env python3
"""Checks of the sstables `sstable-migrate to-sstables` writes, for scripts/sstables-e2e.sh.

  sstables_check.py layout DIR FORMAT
      DIR (OUT/<keyspace>/<table>) holds one or more complete big-format sstables
      of FORMAT (nb, oa) and nothing else: every file is a component listed in the
      TOC.txt of its sstable, every listed component exists, and each sstable has
      Data.db, Index.db, Summary.db, Filter.db, Statistics.db, TOC.txt, Digest.crc32
      and CompressionInfo.db or CRC.db. (No partial or temporary file left behind.)

  sstables_check.py json FILE
      FILE is one JSON document that is a non-empty list (sstabledump's output).

  sstables_check.py cqlite DDL KEYSPACE TABLE DIR
      CQLite (pip cqlite-py) reads every sstable of DIR (a table directory: ours,
      or the node's data/<ks>/<table>-<id>) whole: `SELECT * FROM KEYSPACE.TABLE`
      streamed over each sstable on its own, with DDL as the schema. The rows it
      yields in total must not be 0 (CQLite answers 0 rows, without an error, when
      it finds no sstable where it looks). Needs the python of a venv with cqlite-py.

Exit status 0 when the check holds, 1 when it does not (the reason on stdout), 2 on
bad usage.
"""
import json
import os
import re
import shutil
import sys
import tempfile

COMPONENTS = {"Data.db", "Index.db", "Summary.db", "Filter.db", "Statistics.db", "TOC.txt", "Digest.crc32",
              "CompressionInfo.db", "CRC.db", "Partitions.db", "Rows.db"}
REQUIRED = ["Data.db", "Index.db", "Summary.db", "Filter.db", "Statistics.db", "TOC.txt", "Digest.crc32"]
# <format>-<generation>-big-<Component>; the generation is a number or a
# 4.1+ unique identifier (e.g. 3gw8_0oci_2ps6o2l7lsyxh8nbp2).
NAME = re.compile(r"^([a-z]{2})-([0-9a-z_]+)-big-(.+)$")


def layout(d, fmt):
    problems = []
    try:
        names = sorted(os.listdir(d))
    except OSError as e:
        return [f"cannot list {d}: {e}"]
    sstables = {}
    for n in names:
        p = os.path.join(d, n)
        if not os.path.isfile(p):
            problems.append(f"{n}: not a regular file")
            continue
        m = NAME.match(n)
        if not m:
            problems.append(f"{n}: not an sstable component (<format>-<generation>-big-<component>)")
            continue
        if m.group(1) != fmt:
            problems.append(f"{n}: format {m.group(1)}, not {fmt}")
        sstables.setdefault(f"{m.group(1)}-{m.group(2)}-big-", set()).add(m.group(3))
    if not sstables:
        problems.append(f"no sstable in {d}")
    for prefix, comps in sorted(sstables.items()):
        if "Data.db" not in comps:
            problems.append(f"{prefix}*: no Data.db (left over?): {sorted(comps)}")
            continue
        for c in REQUIRED:
            if c not in comps:
                problems.append(f"{prefix}{c}: missing")
        if "CompressionInfo.db" not in comps and "CRC.db" not in comps:
            problems.append(f"{prefix}*: neither CompressionInfo.db nor CRC.db")
        toc = set()
        if "TOC.txt" in comps:
            with open(os.path.join(d, prefix + "TOC.txt"), encoding="utf-8") as f:
                toc = {l.strip() for l in f if l.strip()}
            for c in sorted(toc - comps):
                problems.append(f"{prefix}{c}: listed in TOC.txt but missing")
            for c in sorted(comps - toc):
                problems.append(f"{prefix}{c}: not listed in TOC.txt")
        for c in sorted(comps):
            if c != "TOC.txt" and os.path.getsize(os.path.join(d, prefix + c)) == 0 and c != "Filter.db":
                problems.append(f"{prefix}{c}: empty file")
    return problems


def check_json(path):
    try:
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)
    except (OSError, ValueError) as e:
        return [f"{path}: not one JSON document: {e}"]
    if not isinstance(doc, list):
        return [f"{path}: JSON {type(doc).__name__}, not a list"]
    if not doc:
        return [f"{path}: an empty list (no partition)"]
    return []


def split_top(s, sep=","):
    """Split s at sep outside <> and ()."""
    out, depth, cur = [], 0, ""
    for ch in s:
        if ch in "<(":
            depth += 1
        elif ch in ">)":
            depth -= 1
        if ch == sep and depth == 0:
            out.append(cur)
            cur = ""
        else:
            cur += ch
    out.append(cur)
    return out


def cqlite_ddl(ddl):
    """The DDL for CQLite. A column declared `frozen<tuple<...>>` (what `schema
    --replication` prints) makes CQLite 0.17 misread the columns after it ("UDT
    column ... field-index cell_path must be 2 bytes, got 0"), even on Cassandra's
    own sstables; `tuple<...>` (tuples are always frozen in CQL) reads fine. So the
    outermost frozen<> of a column whose type is a tuple is dropped."""
    out = []
    for stmt in split_top(ddl, ";"):
        m = re.match(r"(?s)(\s*CREATE\s+TABLE\s[^(]*\()(.*)(\).*)$", stmt)
        if not m:
            out.append(stmt)
            continue
        cols = []
        for col in split_top(m.group(2)):
            col = re.sub(r"^(\s*\S+\s+)frozen\s*<\s*(tuple\s*<.*>)\s*>(\s*(?:static)?\s*)$", r"\1\2\3", col, flags=re.S)
            cols.append(col)
        out.append(m.group(1) + ",".join(cols) + m.group(3))
    return ";".join(out)


def cqlite_read(ddl_path, ks, table, d):
    try:
        import cqlite
    except ImportError as e:
        return [f"cannot import cqlite: {e}"], ""
    with open(ddl_path, encoding="utf-8") as f:
        ddl = cqlite_ddl(f.read())
    try:
        datas = sorted(n for n in os.listdir(d) if n.endswith("-Data.db"))
    except OSError as e:
        return [f"cannot list {d}: {e}"], ""
    if not datas:
        return [f"no *-Data.db in {d}"], ""
    problems, notes, total = [], [], 0
    tmp = tempfile.mkdtemp(prefix="sstables-e2e-cqlite.")
    try:
        schema = os.path.join(tmp, "schema.cql")
        with open(schema, "w", encoding="utf-8") as f:
            f.write(ddl)
        for data in datas:
            prefix = data[: -len("Data.db")]
            # a root of its own, <root>/<ks>/<table>/ holding this sstable only
            root = os.path.join(tmp, prefix.rstrip("-"))
            tdir = os.path.join(root, ks, table)
            os.makedirs(tdir)
            for n in os.listdir(d):
                if n.startswith(prefix) and n[len(prefix):] in COMPONENTS and os.path.isfile(os.path.join(d, n)):
                    os.symlink(os.path.abspath(os.path.join(d, n)), os.path.join(tdir, n))
            n = 0
            try:
                with cqlite.open(root, schema=schema) as db:
                    for row in db.execute_streaming(f"SELECT * FROM {ks}.{table}"):
                        row.to_dict()
                        n += 1
            except Exception as e:  # CqliteError, and conversion errors (OverflowError...)
                problems.append(f"{data}: {type(e).__name__}: {str(e)[:600]}")
                continue
            total += n
            notes.append(f"{data}: {n} rows")
        if not problems and total == 0:
            problems.append(f"CQLite yields 0 rows from {len(datas)} sstable(s) (did it find them?)")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return problems, "; ".join(notes + [f"cqlite-py {cqlite.__version__}"])


def main():
    a = sys.argv[1:]
    if len(a) == 3 and a[0] == "layout":
        problems, note = layout(a[1], a[2]), ""
    elif len(a) == 2 and a[0] == "json":
        problems, note = check_json(a[1]), ""
    elif len(a) == 5 and a[0] == "cqlite":
        problems, note = cqlite_read(a[1], a[2], a[3], a[4])
    else:
        print(__doc__, file=sys.stderr)
        return 2
    for p in problems[:20]:
        print(p)
    if len(problems) > 20:
        print(f"... {len(problems) - 20} more")
    if note:
        print(note)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
