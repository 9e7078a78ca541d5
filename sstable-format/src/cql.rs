//! CQL identifier quoting.

/// Reserved words that must be quoted when used as identifiers (Cassandra 5.0's list).
const RESERVED: &[&str] = &[
    "add",
    "allow",
    "alter",
    "and",
    "apply",
    "asc",
    "authorize",
    "batch",
    "begin",
    "by",
    "columnfamily",
    "create",
    "default",
    "delete",
    "desc",
    "describe",
    "drop",
    "entries",
    "execute",
    "from",
    "full",
    "grant",
    "if",
    "in",
    "index",
    "infinity",
    "insert",
    "into",
    "is",
    "keyspace",
    "limit",
    "materialized",
    "mbean",
    "mbeans",
    "modify",
    "nan",
    "norecursive",
    "not",
    "null",
    "of",
    "on",
    "or",
    "order",
    "primary",
    "rename",
    "replace",
    "revoke",
    "schema",
    "select",
    "set",
    "table",
    "to",
    "token",
    "truncate",
    "unlogged",
    "unset",
    "update",
    "use",
    "using",
    "view",
    "where",
    "with",
];

/// Quote an identifier the way `ColumnIdentifier.maybeQuote` does: only
/// when it is not a lower-case unquoted identifier or is reserved.
pub fn maybe_quote(name: &str) -> String {
    let plain = !name.is_empty()
        && name.as_bytes()[0].is_ascii_lowercase()
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        && !RESERVED.contains(&name);
    if plain {
        name.to_string()
    } else {
        format!("\"{}\"", name.replace('"', "\"\""))
    }
}

/// Same as [`maybe_quote`] (identifiers in DDL).
pub fn quote_identifier(name: &str) -> String {
    maybe_quote(name)
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn quoting() {
        assert_eq!(maybe_quote("pk"), "pk");
        assert_eq!(maybe_quote("Pk"), "\"Pk\"");
        assert_eq!(maybe_quote("table"), "\"table\"");
        assert_eq!(maybe_quote("int"), "int");
        assert_eq!(maybe_quote("a\"b"), "\"a\"\"b\"");
        assert_eq!(maybe_quote("1a"), "\"1a\"");
    }
}
