#!/usr/bin/env python3
"""Random tables and random writes, for differential tests against a real node.

  random_tables.py OUTDIR [--seed N] [--tables N] [--batches N] [--ops N] [--version V] [--keyspace KS]

Writes OUTDIR/schema.cql (keyspace rand_ks, or --keyspace: a UDT and --tables tables of random
key, static and regular columns of every CQL type the version has, a counter
table, two COMPACT STORAGE tables on 2.x and 3.x (and on 2.x one with no
value column), and a table of wide partitions) and OUTDIR/batch-1.cql .. batch-N.cql: --ops random writes per
table and batch. The caller runs each batch through the node and flushes after
it, so each table gets several sstables that overlap.

The writes mix what makes reconciliation hard: overwrites from small key
pools, explicit timestamps from a narrow range (so writes and deletions tie),
TTLs (some of 1 s, expired by the time the table is read), row, partition,
range and column deletions, collection appends, removals and element
deletions, UDT field updates and static-only writes. Everything is a function
of the seed.
"""
import argparse
import os
import random
import uuid

SIMPLE = [
    "ascii", "bigint", "blob", "boolean", "date", "decimal", "double", "float",
    "inet", "int", "smallint", "text", "time", "timestamp", "timeuuid",
    "tinyint", "uuid", "varint",
]
WORDS = ["alpha", "bravo", "héllo", "日本語", "it's", "", "x y", "zulu", "ünï", "quote'd"]


class Gen:
    def __init__(self, rng, version):
        self.r = rng
        self.v5 = version.startswith("5")
        # 2.x: UDTs and tuples only frozen, no duration, no range or
        # clustering-prefix deletions; 2.1 also lacks date, time, smallint
        # and tinyint.
        self.legacy = version.startswith("2.")
        self.simple_types = SIMPLE
        if version.startswith("2.1"):
            self.simple_types = [t for t in SIMPLE if t not in ("date", "time", "smallint", "tinyint")]

    # ---- types
    def simple(self, key=False, clustering=False):
        types = self.simple_types
        if clustering and self.legacy:
            # 2.2 compares an empty tinyint or smallint (a range bound's
            # missing component) and fails the flush
            types = [t for t in types if t not in ("tinyint", "smallint")]
        t = self.r.choice(types)
        if not key and self.r.random() < 0.08 and not self.legacy:
            return "duration"
        return t

    def elem(self):
        """A type inside a collection (frozen when not simple)."""
        x = self.r.random()
        if x < 0.8:
            return self.simple(key=True)
        if x < 0.9:
            return "frozen<list<int>>"
        return "frozen<addr>"

    def column_type(self):
        x = self.r.random()
        if x < 0.45:
            return self.simple()
        if x < 0.55:
            return f"list<{self.elem()}>"
        if x < 0.65:
            return f"set<{self.simple(key=True)}>"
        if x < 0.75:
            return f"map<{self.simple(key=True)}, {self.elem()}>"
        if x < 0.85:
            return "frozen<addr>" if x >= 0.8 or self.legacy else "addr"
        if x < 0.9:
            tup = f"tuple<{self.simple(key=True)}, {self.simple()}>"
            return f"frozen<{tup}>" if self.legacy else tup
        if x < 0.95:
            return self.r.choice(["frozen<list<text>>", "frozen<map<int, text>>", "frozen<set<bigint>>"])
        if self.v5:
            return "vector<float, 3>"
        return self.simple()

    # ---- values (CQL literals)
    def value(self, t):
        r = self.r
        if t.startswith("frozen<") and t.endswith(">"):
            return self.value(t[7:-1])
        if t.startswith("list<"):
            return "[" + ", ".join(self.value(t[5:-1]) for _ in range(r.randint(0, 3))) + "]"
        if t.startswith("set<"):
            return "{" + ", ".join(sorted({self.value(t[4:-1]) for _ in range(r.randint(0, 3))})) + "}"
        if t.startswith("map<"):
            k, v = split_pair(t[4:-1])
            keys = sorted({self.value(k) for _ in range(r.randint(0, 3))})
            return "{" + ", ".join(f"{x}: {self.value(v)}" for x in keys) + "}"
        if t.startswith("tuple<"):
            a, b = split_pair(t[6:-1])
            return f"({self.value(a)}, {self.value(b)})"
        if t.startswith("vector<"):
            return "[" + ", ".join(self.value("float") for _ in range(3)) + "]"
        if t == "addr":
            tags = self.value("set<text>")
            return f"{{street: {self.value('text')}, num: {self.value('int')}, tags: {tags}}}"
        return self.scalar(t)

    def scalar(self, t):
        r = self.r
        if t in ("text", "ascii"):
            w = r.choice(WORDS)
            if t == "ascii":
                w = w.encode("ascii", "ignore").decode()
            return "'" + (w + str(r.randint(0, 9))).replace("'", "''") + "'"
        if t == "blob":
            return "0x" + bytes(r.randrange(256) for _ in range(r.randint(1, 6))).hex()
        if t == "boolean":
            return r.choice(["true", "false"])
        if t == "tinyint":
            return str(r.randint(-128, 127))
        if t == "smallint":
            return str(r.randint(-32768, 32767))
        if t == "int":
            return str(r.choice([0, -1, 1, 2**31 - 1, -(2**31), r.randint(-1000, 1000)]))
        if t == "bigint":
            return str(r.choice([0, 2**63 - 1, -(2**63), r.randint(-10**12, 10**12)]))
        if t == "varint":
            return str(r.choice([0, -1, 10**30 + 7, -(2**70), r.randint(-10**6, 10**6)]))
        if t == "decimal":
            return r.choice(["0", "-1.5", "3.14159", "1E+10", "-0.0001", "12345678901234567890.123", str(r.randint(-999, 999))])
        if t in ("float", "double"):
            return r.choice(["0.0", "-1.5", "3.25", "0.1", "1e10", "-2.5e-3", "123456.78", str(r.randint(-100, 100))])
        if t == "date":
            return f"'{r.randint(1900, 2100)}-{r.randint(1, 12):02d}-{r.randint(1, 28):02d}'"
        if t == "time":
            return f"'{r.randint(0, 23):02d}:{r.randint(0, 59):02d}:{r.randint(0, 59):02d}.{r.randint(0, 999999999):09d}'"
        if t == "timestamp":
            return f"'{r.randint(1970, 2100)}-{r.randint(1, 12):02d}-{r.randint(1, 28):02d} {r.randint(0, 23):02d}:{r.randint(0, 59):02d}:{r.randint(0, 59):02d}.{r.randint(0, 999):03d}+0000'"
        if t == "uuid":
            return str(uuid.UUID(int=r.getrandbits(128), version=4))
        if t == "timeuuid":
            ts = r.randint(0x01B21DD213814000, 0x01B21DD213814000 + 10**17)
            fields = (ts & 0xFFFFFFFF, (ts >> 32) & 0xFFFF, ((ts >> 48) & 0x0FFF) | 0x1000,
                      0x80 | r.randint(0, 63), r.randint(0, 255), r.getrandbits(48))
            return str(uuid.UUID(fields=fields))
        if t == "inet":
            return r.choice(["'127.0.0.1'", "'10.1.2.3'", "'::1'", "'2001:db8::ff00:42:8329'", "'255.255.255.255'"])
        if t == "duration":
            return r.choice(["1h2m3s", "-5d", "1y2mo", "3mo4d5h6m7s8ms9us10ns", "0s", "89h4m48s"])
        raise ValueError(t)


def split_pair(s):
    """'a, b' at the top level of angle brackets."""
    depth = 0
    for i, c in enumerate(s):
        depth += (c == "<") - (c == ">")
        if c == "," and depth == 0:
            return s[:i].strip(), s[i + 1:].strip()
    raise ValueError(s)


class Table:
    def __init__(self, g, name, counter=False, compact=False, keys_only=False):
        r = g.r
        self.name = name
        self.counter = counter
        self.compact = compact or keys_only
        self.keys_only = keys_only
        self.pk = [(f"p{i}", g.simple(key=True)) for i in range(r.choice([1, 1, 2]))]
        self.ck = [(f"c{i}", g.simple(key=True, clustering=True), r.choice(["ASC", "DESC"]))
                   for i in range(r.choice([0, 1, 1, 2, 3] if not counter else [0, 1, 2]))]
        if keys_only:
            # dense COMPACT STORAGE with no value column: each row is one
            # cell with an empty value (2.x deletes it with a cell tombstone)
            self.ck = self.ck or [("c0", g.simple(key=True, clustering=True), "ASC")]
            self.statics = []
            self.regulars = []
        elif counter:
            self.statics = []
            self.regulars = [(f"n{i}", "counter") for i in range(r.randint(1, 3))]
        elif compact:
            # COMPACT STORAGE (3.x): simple types; one value column when
            # there are clustering columns.
            self.statics = []
            n = 1 if self.ck else r.randint(1, 4)
            self.regulars = [(f"v{i}", g.simple(key=True)) for i in range(n)]
        else:
            self.statics = [(f"s{i}", g.column_type()) for i in range(r.choice([0, 1, 2]))] if self.ck else []
            self.regulars = [(f"v{i}", g.column_type()) for i in range(r.randint(1, 5))]
        # Small pools of key values, so that writes collide.
        self.pk_pool = [tuple(g.value(t) for _, t in self.pk) for _ in range(r.randint(2, 6))]
        self.ck_pool = [tuple(g.value(t) for _, t, _ in self.ck) for _ in range(r.randint(2, 8))]

    def ddl(self):
        cols = [f"{n} {t}" for n, t in self.pk]
        cols += [f"{n} {t}" for n, t, _ in self.ck]
        cols += [f"{n} {t} static" for n, t in self.statics]
        cols += [f"{n} {t}" for n, t in self.regulars]
        pk = ", ".join(n for n, _ in self.pk)
        key = f"({pk})" if len(self.pk) > 1 else pk
        if self.ck:
            key += ", " + ", ".join(n for n, _, _ in self.ck)
        s = f"CREATE TABLE rand_ks.{self.name} ({', '.join(cols)}, PRIMARY KEY ({key}))"
        opts = ["gc_grace_seconds = 864000"]
        if self.compact:
            opts.insert(0, "COMPACT STORAGE")
        if self.ck:
            order = ", ".join(f"{n} {o}" for n, _, o in self.ck)
            opts.insert(0, f"CLUSTERING ORDER BY ({order})")
        return s + " WITH " + " AND ".join(opts) + ";"


def where(t, pkv, ckv, n_ck=None):
    parts = [f"{n} = {v}" for (n, _), v in zip(t.pk, pkv)]
    n_ck = len(t.ck) if n_ck is None else n_ck
    parts += [f"{n} = {v}" for (n, _, _), v in zip(t.ck[:n_ck], ckv[:n_ck])]
    return " AND ".join(parts)


def using(g, ttl_ok=True):
    r = g.r
    bits = []
    if r.random() < 0.9:
        bits.append(f"TIMESTAMP {r.randint(1, 40) * 10}")
    if ttl_ok and r.random() < 0.15:
        bits.append(f"TTL {r.choice([1, 315360000])}")
    return (" USING " + " AND ".join(bits)) if bits else ""


def delete_using(g):
    """A deletion's USING clause: mostly an explicit timestamp from the
    narrow range the writes use, else the node's clock."""
    r = g.r
    return f" USING TIMESTAMP {r.randint(1, 40) * 10}" if r.random() < 0.9 else ""


def collection_update(g, n, t):
    """A SET clause changing part of a non-frozen collection or UDT, or None."""
    r = g.r
    if t.startswith("list<"):
        v = g.value(t)
        # (2.2 fails a removal from a null list with a NullPointerException)
        return r.choice([f"{n} = {n} + {v}", f"{n} = {v} + {n}"] + ([] if g.legacy else [f"{n} = {n} - {v}"]))
    if t.startswith("set<"):
        v = g.value(t)
        return r.choice([f"{n} = {n} + {v}", f"{n} = {n} - {v}"])
    if t.startswith("map<"):
        k, vt = split_pair(t[4:-1])
        return r.choice([f"{n} = {n} + {g.value(t)}", f"{n}[{g.value(k)}] = {g.value(vt)}",
                         f"{n} = {n} - {{{g.value(k)}}}"])
    if t == "addr":
        f = r.choice(["street", "num", "tags"])
        ft = {"street": "text", "num": "int", "tags": "set<text>"}[f]
        return f"{n}.{f} = {g.value(ft)}"
    return None


def op(g, t):
    r = g.r
    pkv = r.choice(t.pk_pool)
    ckv = r.choice(t.ck_pool) if t.ck else ()
    tbl = f"rand_ks.{t.name}"
    if t.counter:
        sets = ", ".join(f"{n} = {n} + {r.randint(-5, 9)}" for n, _ in t.regulars if r.random() < 0.7)
        sets = sets or f"{t.regulars[0][0]} = {t.regulars[0][0]} + 1"
        return f"UPDATE {tbl} SET {sets} WHERE {where(t, pkv, ckv)};"
    x = r.random()
    if t.keys_only:
        names = [n for n, _ in t.pk] + [n for n, _, _ in t.ck]
        if x < 0.55:
            return f"INSERT INTO {tbl} ({', '.join(names)}) VALUES ({', '.join(list(pkv) + list(ckv))}){using(g)};"
        ts = delete_using(g)
        if x < 0.9:
            return f"DELETE FROM {tbl}{ts} WHERE {where(t, pkv, ckv)};"
        return f"DELETE FROM {tbl}{ts} WHERE {where(t, pkv, ckv, 0)};"
    if x < 0.4:
        cols = [(n, tp) for n, tp in t.regulars + t.statics if r.random() < 0.6 or (t.compact and t.ck)]
        if t.compact and not cols:
            cols = [t.regulars[0]]  # a compact table's row needs a value
        names = [n for n, _ in t.pk] + [n for n, _, _ in t.ck] + [n for n, _ in cols]
        vals = list(pkv) + list(ckv) + [g.value(tp) for _, tp in cols]
        return f"INSERT INTO {tbl} ({', '.join(names)}) VALUES ({', '.join(vals)}){using(g)};"
    if x < 0.62:
        sets = []
        for n, tp in t.regulars:
            if r.random() < 0.5:
                c = collection_update(g, n, tp) if r.random() < 0.6 else None
                sets.append(c or f"{n} = {g.value(tp)}")
        if not sets:
            n, tp = t.regulars[0]
            sets.append(f"{n} = {g.value(tp)}")
        return f"UPDATE {tbl}{using(g)} SET {', '.join(sets)} WHERE {where(t, pkv, ckv)};"
    if x < 0.68 and t.statics:
        n, tp = r.choice(t.statics)
        c = collection_update(g, n, tp) if r.random() < 0.5 else None
        return f"UPDATE {tbl}{using(g)} SET {c or f'{n} = {g.value(tp)}'} WHERE {where(t, pkv, ckv, 0)};"
    ts = delete_using(g)
    if x < 0.8:
        return f"DELETE FROM {tbl}{ts} WHERE {where(t, pkv, ckv)};"
    if x < 0.88 and not (t.compact and t.ck):
        n, tp = r.choice(t.regulars)
        target = n
        if tp.startswith("map<") and r.random() < 0.5:
            target = f"{n}[{g.value(split_pair(tp[4:-1])[0])}]"
        elif tp == "addr" and r.random() < 0.5:
            target = f"{n}.{r.choice(['street', 'num', 'tags'])}"
        return f"DELETE {target} FROM {tbl}{ts} WHERE {where(t, pkv, ckv)};"
    if x < 0.96 and t.ck and not g.legacy:
        # A slice of the clustering: a prefix fixed, then a range on the next column.
        k = r.randrange(len(t.ck))
        n = t.ck[k][0]
        lo, hi = sorted([r.choice(t.ck_pool)[k], r.choice(t.ck_pool)[k]], key=lambda v: v)
        bound = r.choice([f"{n} > {lo}", f"{n} >= {lo}", f"{n} < {hi}", f"{n} <= {hi}",
                          f"{n} >= {lo} AND {n} <= {hi}", f"{n} > {lo} AND {n} < {hi}"])
        return f"DELETE FROM {tbl}{ts} WHERE {where(t, pkv, ckv, k)} AND {bound};"
    return f"DELETE FROM {tbl}{ts} WHERE {where(t, pkv, ckv, 0)};"


WIDE_ROWS = 400


def wide_ops(g, batch):
    """A table of a few wide partitions (about 200 KB each, so several
    promoted-index blocks), written whole in the first batch, then cut by
    range deletions (on 2.x, which has none, runs of row deletions) and
    rewritten in part, older and newer than them."""
    r = g.r
    out = []
    def payload():
        return "'" + ("wide " * r.randint(40, 140)) + str(r.randint(0, 9)) + "'"
    for p in range(3):
        if batch == 1:
            for c in range(WIDE_ROWS):
                out.append(f"INSERT INTO rand_ks.wide (pk, ck, v, n) VALUES ({p}, {c}, {payload()}, {c}) USING TIMESTAMP 100;")
            continue
        for _ in range(r.randint(1, 3)):
            a = r.randrange(WIDE_ROWS)
            b = min(WIDE_ROWS, a + r.randint(1, 150))
            ts = r.randint(5, 30) * 10
            lo = r.choice([">", ">="])
            hi = r.choice(["<", "<="])
            if g.legacy:
                out += [f"DELETE FROM rand_ks.wide USING TIMESTAMP {ts} WHERE pk = {p} AND ck = {c};"
                        for c in range(a, b)]
            else:
                out.append(f"DELETE FROM rand_ks.wide USING TIMESTAMP {ts} WHERE pk = {p} AND ck {lo} {a} AND ck {hi} {b};")
        for _ in range(r.randint(10, 60)):
            c = r.randrange(WIDE_ROWS)
            ts = r.randint(5, 30) * 10
            if r.random() < 0.8:
                out.append(f"INSERT INTO rand_ks.wide (pk, ck, v) VALUES ({p}, {c}, {payload()}) USING TIMESTAMP {ts};")
            else:
                out.append(f"DELETE FROM rand_ks.wide USING TIMESTAMP {ts} WHERE pk = {p} AND ck = {c};")
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--tables", type=int, default=6)
    ap.add_argument("--batches", type=int, default=3)
    ap.add_argument("--ops", type=int, default=40)
    ap.add_argument("--version", default="5.0")
    ap.add_argument("--keyspace", default="rand_ks")
    a = ap.parse_args()
    g = Gen(random.Random(a.seed), a.version)
    tables = [Table(g, f"t{i}") for i in range(a.tables)] + [Table(g, "counts", counter=True)]
    if a.version.startswith(("2.", "3.")):
        tables += [Table(g, f"compact{i}", compact=True) for i in range(2)]
    if a.version.startswith("2."):
        tables.append(Table(g, "keys_only", keys_only=True))
    os.makedirs(a.out, exist_ok=True)

    def write(name, lines):
        # every statement names rand_ks; no value contains it
        with open(os.path.join(a.out, name), "w") as f:
            f.write("".join(line + "\n" for line in lines).replace("rand_ks", a.keyspace))

    write("schema.cql", [
        f"-- random_tables.py --seed {a.seed} --tables {a.tables} --version {a.version}",
        "CREATE KEYSPACE rand_ks WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1};",
        "CREATE TYPE rand_ks.addr (street text, num int, tags frozen<set<text>>);",
    ] + [t.ddl() for t in tables] + [
        "CREATE TABLE rand_ks.wide (pk int, ck int, v text, n int, PRIMARY KEY (pk, ck));",
    ])
    for b in range(1, a.batches + 1):
        lines = [op(g, t) for _ in range(a.ops) for t in tables]
        write(f"batch-{b}.cql", lines + wide_ops(g, b))


if __name__ == "__main__":
    main()
