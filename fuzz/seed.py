#!/usr/bin/env python3
"""Seed the fuzz corpora from ../shared/corpus and any directories given as
arguments, into fuzz/corpus/ (git-ignored) or the directory `--out DIR` names.
Usage: seed.py [--out DIR] [SEED_DIR...]"""
import os, struct, sys, glob

root = os.path.dirname(os.path.abspath(__file__))
args = sys.argv[1:]
out = os.path.join(root, "corpus")
if args[:1] == ["--out"] and len(args) >= 2:
    out, args = args[1], args[2:]
roots = [os.path.join(root, "..", "..", "shared", "corpus")] + args
versions = ["ma", "mb", "mc", "md", "me", "na", "nb", "nc", "oa", "la", "da"]
names = ["Data.db", "Statistics.db", "CompressionInfo.db", "Index.db", "Summary.db", "Filter.db", "CRC.db", "Digest.crc32"]
prefixes = {"mc": 0, "na": 1, "nb": 2, "oa": 3, "la": 4, "da": 5}

def data_files(suffix="Data.db"):
    return sorted(f for r in roots for f in glob.glob(os.path.join(r, "**", "*-" + suffix), recursive=True))

def put(target, name, data):
    d = os.path.join(out, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)

n = 0
for data_path in data_files():
    base = os.path.basename(data_path)
    prefix = base[: -len("Data.db")]
    v = prefix[:2] if prefix[2] == "-" else None
    if v not in versions:
        continue
    d = os.path.dirname(data_path)
    comp = lambda c: open(os.path.join(d, prefix + c), "rb").read() if os.path.exists(os.path.join(d, prefix + c)) else None
    tag = f"{n:04d}"
    n += 1
    st = comp("Statistics.db")
    if st:
        put("statistics", tag, bytes([versions.index(v)]) + st)
    ci = comp("CompressionInfo.db")
    data = comp("Data.db") or b""
    if ci and len(data) < 65536:
        put("compression_info", tag, bytes([0 if v < "na" else 1]) + struct.pack("<H", len(ci)) + ci + data)
    ix = comp("Index.db")
    if ix and len(ix) < 65536:
        put("index", tag, bytes([0 if v != "oa" else 1]) + ix)
    sm = comp("Summary.db")
    if sm:
        put("summary", tag, sm)
    if v in prefixes and len(data) < 65536:
        rec = bytes([prefixes[v]])
        for i, c in enumerate(names):
            b = comp(c)
            if b is not None:
                rec += bytes([i]) + struct.pack("<I", len(b)) + b
        put("sstable", tag, rec)
print(f"seeded from {n} sstables into {out}", file=sys.stderr)

# Row decoder seeds: header component + uncompressed Data.db.
m = 0
for data_path in data_files():
    base = os.path.basename(data_path)
    prefix = base[: -len("Data.db")]
    d = os.path.dirname(data_path)
    if not prefix.startswith(("mc-", "md-", "me-")) or not os.path.exists(os.path.join(d, prefix + "CRC.db")):
        continue
    st = open(os.path.join(d, prefix + "Statistics.db"), "rb").read()
    (count,) = struct.unpack(">i", st[:4])
    entries = [struct.unpack(">ii", st[4 + 8 * i: 12 + 8 * i]) for i in range(count)]
    offs = sorted(o for _, o in entries) + [len(st)]
    hdr = [o for t, o in entries if t == 3]
    if not hdr:
        continue
    h = st[hdr[0]: offs[offs.index(hdr[0]) + 1]]
    data = open(data_path, "rb").read()
    if len(data) > 65536:
        continue
    put("rows", f"{m:04d}", bytes([0]) + struct.pack("<H", len(h)) + h + data)
    m += 1
print(f"{m} row seeds", file=sys.stderr)

# Legacy atom seeds: the Data.db of uncompressed 2.x sstables.
k = 0
for data_path in data_files():
    base = os.path.basename(data_path)
    d = os.path.dirname(data_path)
    prefix = base[: -len("Data.db")]
    is_legacy = "-ka-" in base or base.startswith("la-") or "-la-" in base
    if not is_legacy or not os.path.exists(os.path.join(d, prefix + "CRC.db")):
        continue
    data = open(data_path, "rb").read()
    if len(data) > 65536:
        continue
    # Skip the partition header (u16 key length, key, 12-byte deletion time).
    (klen,) = struct.unpack(">H", data[:2])
    put("legacy_atoms", f"{k:04d}", bytes([1 if "la-" in base else 0]) + data[2 + klen + 12:])
    put("legacy_rows", f"{k:04d}", bytes([1 if "la-" in base else 0]) + data)
    k += 1
print(f"{k} legacy atom seeds", file=sys.stderr)

# BTI seeds: Partitions.db (selector 0) and Rows.db with an entry offset (selector 1).
b = 0
for pdb in data_files("Partitions.db"):
    put("bti", f"p{b:03d}", bytes([0]) + open(pdb, "rb").read())
    rdb = pdb[: -len("Partitions.db")] + "Rows.db"
    if os.path.exists(rdb) and os.path.getsize(rdb) > 0:
        put("bti", f"r{b:03d}", bytes([1]) + struct.pack("<H", 0) + open(rdb, "rb").read())
    b += 1
print(f"{b} bti seeds", file=sys.stderr)

# DDL seeds: the project's own schema files (fixtures and test data).
repo = os.path.join(root, "..")
k = 0
for p in sorted(glob.glob(os.path.join(repo, "fixtures", "**", "*.cql"), recursive=True)):
    put("ddl", f"{k:04d}", open(p, "rb").read())
    k += 1
print(f"seeded ddl from {k} schema files", file=sys.stderr)
