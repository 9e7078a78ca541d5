#!/usr/bin/env python3
"""Check a DynamoDB table, item by item, against the rows Cassandra itself
returned (SELECT JSON, one row per line), by the mapping rules in the README:

  * one item per row; pk = the partition-key values joined with '#'
    (native when the only key column is itself named pk), sk = the
    order-preserving clustering encoding;
  * every column is an attribute of its own name (a non-key column named
    pk/sk becomes pk_/sk_); null and empty values are omitted, empty sets too;
  * numbers N (NaN/Infinity and out-of-range numbers S), timestamps ISO-8601
    S, blobs B, booleans BOOL, lists/tuples/vectors L, sets SS/NS/BS, maps
    with text keys M (others L of [key, value]), UDTs M of their non-null
    fields.

It also checks the sort order: a Query on each pk returns the partition's
items in the order Cassandra's SELECT returned the rows.

  dynamo_check.py --endpoint URL --table T --expected rows.jsonl --schema schema.json
                  [--exclude-row col=value]...

schema.json is `sstable-migrate schema --format json` of the source. The
exit status is 0 when every row has exactly one equal item and nothing else.
"""
import argparse
import json
import math
import re
import sys
from decimal import Decimal

import boto3


def parse_type(s):
    """'map<text, frozen<list<int>>>' -> ('map', [('text', []), ('list', [('int', [])])])."""
    s = s.strip()
    if s.startswith("frozen<") and s.endswith(">"):
        return parse_type(s[7:-1])
    if "<" not in s:
        return (s.strip('"'), [])
    name, rest = s.split("<", 1)
    rest = rest[:-1]
    args, depth, cur = [], 0, ""
    for ch in rest:
        if ch == "<":
            depth += 1
        elif ch == ">":
            depth -= 1
        if ch == "," and depth == 0:
            args.append(cur)
            cur = ""
        else:
            cur += ch
    if cur.strip():
        args.append(cur)
    return (name.strip(), [parse_type(a) for a in args])


INTS = {"int", "bigint", "smallint", "tinyint", "varint", "counter"}
FLOATS = {"float", "double"}


def canon_json(t, v):
    """Canonical form of a SELECT JSON value of type t (None = absent)."""
    name, args = t
    if v is None:
        return None
    if v == "" and name not in ("text", "ascii", "varchar", "blob"):
        return None  # an empty value of a non-text type: omitted
    if name in INTS:
        return ("n", Decimal(int(v)))
    if name == "decimal":
        return ("n", Decimal(str(v)).normalize())
    if name in FLOATS:
        # + 0.0: DynamoDB has no negative zero (-0.0 is the number 0)
        f = float(v) + 0.0
        return ("f", "nan" if math.isnan(f) else f)
    if name == "timestamp":
        return ("s", v.replace(" ", "T", 1).lstrip("+"))
    if name == "date":
        return ("s", v.lstrip("+"))  # Cassandra 3.11 prints years past 9999 without '+'
    if name == "boolean":
        return ("b", bool(v))
    if name in ("list", "vector"):
        return ("l", [canon_json(args[0], x) for x in v])
    if name == "tuple":
        return ("l", [canon_json(args[i], x) if i < len(args) else None for i, x in enumerate(v)])
    if name == "set":
        if not v:
            return None
        # As a set: distinct elements may be one value in DynamoDB (-0.0, 0.0)
        return ("set", sorted({json.dumps(canon_json(args[0], x), default=str) for x in v}))
    if name == "map":
        kt, vt = args
        out = []
        for k, x in v.items():
            if kt[0] in ("text", "ascii", "varchar"):
                kv = k
            else:
                try:
                    kv = json.loads(k, parse_float=Decimal)
                except ValueError:
                    kv = k
            out.append((json.dumps(canon_json(kt, kv), default=str), canon_json(vt, x)))
        return ("map", sorted(out, key=lambda e: e[0]))
    if isinstance(v, (dict, list)):  # a UDT: field types unknown here
        return untyped_json(v)
    return ("s", str(v))


TS = re.compile(r"^-?\+?\d{4,}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d+)?Z$")


def untyped_json(v):
    """Canonical form of a value whose type is not known (UDT fields)."""
    if v is None or v == "":
        return None
    if isinstance(v, bool):
        return ("b", v)
    if isinstance(v, (int, Decimal)):
        return ("n", Decimal(v).normalize())
    if isinstance(v, float):
        return ("n", Decimal(repr(v)).normalize())
    if isinstance(v, str):
        return ("s", v.replace(" ", "T", 1) if TS.match(v) else v)
    if isinstance(v, list):
        # An empty set is omitted, an empty list kept as []; untyped, the two
        # look alike, so an empty array counts as absent on both sides.
        if not v:
            return None
        return ("l", sorted(json.dumps(untyped_json(x), default=str) for x in v))
    return ("udt", sorted((k, untyped_json(x)) for k, x in v.items() if untyped_json(x) is not None))


def untyped_attr(a):
    (k, v), = a.items()
    if k == "NULL":
        return None
    if k == "N":
        return ("n", Decimal(v).normalize())
    if k == "S":
        return ("s", v) if v != "" else None
    if k == "B":
        return ("s", "0x" + bytes(v).hex())
    if k == "BOOL":
        return ("b", v)
    if k == "L":
        if not v:
            return None  # as untyped_json
        return ("l", sorted(json.dumps(untyped_attr(x), default=str) for x in v))
    if k in ("SS", "NS", "BS"):
        kk = k[0]
        return ("l", sorted(json.dumps(untyped_attr({kk: x}), default=str) for x in v))
    return ("udt", sorted((kk, untyped_attr(x)) for kk, x in v.items() if untyped_attr(x) is not None))


def canon_attr(t, a):
    """Canonical form of a DynamoDB attribute holding a value of type t."""
    name, args = t
    if a is None:
        return None
    (k, v), = a.items()
    if k == "NULL":
        return None
    if name in INTS or name == "decimal":
        return ("n", Decimal(v).normalize() if name == "decimal" else Decimal(v))
    if name in FLOATS:
        f = float(v)
        return ("f", "nan" if math.isnan(f) else f)
    if k == "S":
        return ("s", v.lstrip("+") if name in ("date", "timestamp") else v)
    if k == "B":
        return ("s", "0x" + bytes(v).hex())
    if k == "BOOL":
        return ("b", v)
    if name in ("list", "vector"):
        return ("l", [canon_attr(args[0], x) for x in v])
    if name == "tuple":
        return ("l", [canon_attr(args[i], x) for i, x in enumerate(v)])
    if name == "set":
        if k == "L":
            elems = [canon_attr(args[0], x) for x in v]
        elif k == "SS":
            elems = [canon_attr(args[0], {"S": x}) for x in v]
        elif k == "NS":
            elems = [canon_attr(args[0], {"N": x}) for x in v]
        else:
            elems = [canon_attr(args[0], {"B": x}) for x in v]
        return ("set", sorted({json.dumps(e, default=str) for e in elems}))
    if name == "map":
        kt, vt = args
        if k == "M":
            out = [(json.dumps(canon_attr(kt, {"S": kk}), default=str), canon_attr(vt, x)) for kk, x in v.items()]
        else:
            out = [(json.dumps(canon_attr(kt, p["L"][0]), default=str), canon_attr(vt, p["L"][1])) for p in v]
        return ("map", sorted(out, key=lambda e: e[0]))
    if k in ("M", "L"):  # a UDT
        return untyped_attr(a)
    return ("s", str(v))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--endpoint", required=True)
    ap.add_argument("--table", required=True)
    ap.add_argument("--expected", required=True)
    ap.add_argument("--schema", required=True)
    ap.add_argument("--exclude-row", action="append", default=[])
    ap.add_argument("--summary", help="to-dynamodb's summary: rows it skipped as oversize may be missing")
    a = ap.parse_args()

    schema = json.load(open(a.schema))
    if isinstance(schema, list):
        schema = schema[0]
    cols = schema["columns"]
    types = {c["column_name"]: parse_type(c["type"]) for c in cols}
    pk = [c["column_name"] for c in sorted(cols, key=lambda c: c["position"]) if c["kind"] == "partition_key"]
    ck = [c["column_name"] for c in sorted(cols, key=lambda c: c["position"]) if c["kind"] == "clustering"]
    native = {"text", "ascii", "varchar", "int", "bigint", "smallint", "tinyint", "varint", "decimal", "blob"}
    pk_native = len(pk) == 1 and pk[0] == "pk" and types["pk"][0] in native
    sk_native = len(ck) == 1 and ck[0] == "sk" and types["sk"][0] in native and \
        next(c for c in cols if c["column_name"] == "sk")["clustering_order"] == "asc"

    key_attrs = {"pk", "sk"} if ck else {"pk"}

    def attr_name(col):
        if (col == "pk" and pk_native) or (col == "sk" and sk_native):
            return col
        return col + "_" if col in key_attrs else col

    excluded = [tuple(e.split("=", 1)) for e in a.exclude_row]
    expected = []
    for line in open(a.expected):
        line = line.strip()
        if not line:
            continue
        row = json.loads(line, parse_float=Decimal)
        if any(str(row.get(c)) == v for c, v in excluded):
            continue
        expected.append(row)

    ddb = boto3.client("dynamodb", endpoint_url=a.endpoint)
    items = []
    for page in ddb.get_paginator("scan").paginate(TableName=a.table):
        items.extend(page["Items"])

    def row_key(row):
        return json.dumps([canon_json(types[c], row.get(c)) for c in pk + ck], default=str)

    def item_key(item):
        return json.dumps([canon_attr(types[c], item.get(attr_name(c))) for c in pk + ck], default=str)

    oversize = json.load(open(a.summary)).get("oversize_skipped", 0) if a.summary else 0
    errors = []
    missing = []
    by_key = {}
    for it in items:
        k = item_key(it)
        if k in by_key:
            errors.append(f"two items for key {k}")
        by_key[k] = it
    seen = set()
    for row in expected:
        k = row_key(row)
        it = by_key.get(k)
        if it is None:
            missing.append(f"missing item for row {json.dumps(row, default=str)[:300]}")
            continue
        seen.add(k)
        for c, t in types.items():
            want = canon_json(t, row.get(c))
            got = canon_attr(t, it.get(attr_name(c)))
            if want is None and t[0] in FLOATS | {"list"} and got is not None:
                # Cassandra's SELECT JSON prints NaN and ±Infinity as null.
                want = None if t[0] in FLOATS else want
                if t[0] in FLOATS and got[1] in ("nan", float("inf"), float("-inf")):
                    continue
            if t[0] in ("list", "vector") and want and got and len(want[1]) == len(got[1]):
                want = ("l", [g if w is None and g is not None and g[0] == "f" and g[1] in ("nan", float("inf"), float("-inf")) else w
                              for w, g in zip(want[1], got[1])])
            if t[0] == "duration" and row.get(c) == "" and got in (None, ("s", "")):
                continue  # Cassandra prints a zero duration and an empty value alike
            if want != got:
                errors.append(f"{k}: column {c}: Cassandra {want!r} DynamoDB {got!r}")
        allowed = {attr_name(c) for c in types} | {"pk", "sk"}
        for name in it:
            if name not in allowed:
                errors.append(f"{k}: unexpected attribute {name}")
    for k, it in by_key.items():
        if k not in seen and not any(
            str(canon_attr(types[c], it.get(attr_name(c))) or "").find(v) >= 0 for c, v in excluded
        ):
            errors.append(f"extra item {k}")

    if len(missing) != oversize:
        errors.extend(missing)
        if oversize:
            errors.append(f"{len(missing)} rows missing, but {oversize} skipped as oversize")

    # Sort order: Query each partition, compare with Cassandra's row order.
    order_checked = 0
    if ck:
        parts = {}
        for row in expected:
            pkey = json.dumps([canon_json(types[c], row.get(c)) for c in pk], default=str)
            parts.setdefault(pkey, []).append(row_key(row))
        for pkey, keys in parts.items():
            some = by_key.get(keys[0])
            if some is None:
                continue
            got = []
            kwargs = dict(TableName=a.table, KeyConditionExpression="#p = :v",
                          ExpressionAttributeNames={"#p": "pk"}, ExpressionAttributeValues={":v": some["pk"]})
            for page in ddb.get_paginator("query").paginate(**kwargs):
                got.extend(item_key(i) for i in page["Items"])
            if got != [k for k in keys if k in by_key]:
                errors.append(f"partition {pkey}: Query order differs from Cassandra's clustering order")
            order_checked += 1

    print(f"{a.table}: {len(expected)} rows, {len(items)} items, {order_checked} partitions order-checked, {len(errors)} errors")
    for e in errors[:20]:
        print("  " + e)
    sys.exit(1 if errors else 0)


if __name__ == "__main__":
    main()
