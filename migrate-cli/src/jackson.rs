//! A tiny JSON generator that reproduces the whitespace of Jackson's
//! `DefaultPrettyPrinter` with the compact indenters Cassandra's
//! `sstabledump` toggles, so our output matches it byte for byte.

use sstable_format::value::{json_quote_into, push_int, write_instant};

#[derive(Clone, Copy, PartialEq)]
enum Ctx {
    Root,
    Object,
    Array,
}

/// A container to resume in ([`Jackson::resume`]).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Container {
    Array,
    Object,
}

/// The generator. Output accumulates in `out`; the caller flushes it.
pub struct Jackson {
    pub out: String,
    stack: Vec<(Ctx, usize, bool)>, // (kind, entries, after field name)
    nesting: usize,
    pub object_compact: bool,
    pub array_compact: bool,
}

impl Default for Jackson {
    fn default() -> Self {
        Self::new()
    }
}

impl Jackson {
    pub fn new() -> Self {
        Jackson {
            out: String::new(),
            stack: vec![(Ctx::Root, 0, false)],
            nesting: 0,
            object_compact: false,
            array_compact: false,
        }
    }

    fn indent(&mut self, compact: bool) {
        if compact {
            self.out.push(' ');
        } else {
            self.out.push('\n');
            for _ in 0..self.nesting {
                self.out.push_str("  ");
            }
        }
    }

    fn before_value(&mut self) {
        let compact = self.array_compact;
        let Some(top) = self.stack.last_mut() else {
            return;
        };
        match top.0 {
            Ctx::Root => {
                if top.1 > 0 {
                    self.out.push(' ');
                }
                top.1 += 1;
            }
            Ctx::Array => {
                let first = top.1 == 0;
                top.1 += 1;
                if !first {
                    self.out.push(',');
                }
                self.indent(compact);
            }
            Ctx::Object => {
                top.2 = false;
                self.out.push_str(" : ");
            }
        }
    }

    pub fn start_object(&mut self) {
        self.before_value();
        self.out.push('{');
        self.nesting += 1;
        self.stack.push((Ctx::Object, 0, false));
    }

    pub fn end_object(&mut self) {
        let (_, entries, _) = self.stack.pop().unwrap_or((Ctx::Object, 0, false));
        self.nesting = self.nesting.saturating_sub(1);
        if entries > 0 {
            let c = self.object_compact;
            self.indent(c);
        } else {
            self.out.push(' ');
        }
        self.out.push('}');
    }

    pub fn start_array(&mut self) {
        self.before_value();
        self.out.push('[');
        self.nesting += 1;
        self.stack.push((Ctx::Array, 0, false));
    }

    /// Resume inside containers opened elsewhere (outermost first), each
    /// with a value already in it: output continues as it would there.
    pub fn resume(&mut self, path: &[Container]) {
        for c in path {
            self.stack.push((
                match c {
                    Container::Array => Ctx::Array,
                    Container::Object => Ctx::Object,
                },
                1,
                false,
            ));
            self.nesting += 1;
        }
    }

    /// Values so far in the innermost open container.
    pub fn entries(&self) -> usize {
        self.stack.last().map_or(0, |t| t.1)
    }

    /// Go on with the open array as if a value came before (the next one
    /// gets its comma).
    pub fn continue_array(&mut self) {
        if let Some(top) = self.stack.last_mut() {
            if top.0 == Ctx::Array {
                top.1 = top.1.max(1);
            }
        }
    }

    pub fn end_array(&mut self) {
        let (_, entries, _) = self.stack.pop().unwrap_or((Ctx::Array, 0, false));
        self.nesting = self.nesting.saturating_sub(1);
        if entries > 0 {
            let c = self.array_compact;
            self.indent(c);
        } else {
            self.out.push(' ');
        }
        self.out.push(']');
    }

    pub fn field(&mut self, name: &str) {
        let compact = self.object_compact;
        if let Some(top) = self.stack.last_mut() {
            let first = top.1 == 0;
            top.1 += 1;
            top.2 = true;
            if !first {
                self.out.push(',');
            }
            self.indent(compact);
        }
        json_quote_into(name, &mut self.out);
    }

    pub fn string(&mut self, s: &str) {
        self.before_value();
        json_quote_into(s, &mut self.out);
    }

    pub fn raw(&mut self, s: &str) {
        self.before_value();
        self.out.push_str(s);
    }

    pub fn number(&mut self, n: i64) {
        self.before_value();
        push_int(&mut self.out, n);
    }

    /// Start a value and return the output to write it to (already JSON).
    pub fn value_out(&mut self) -> &mut String {
        self.before_value();
        &mut self.out
    }

    /// An instant as a string, as `Instant.toString()` prints it
    /// (`units_per_sec`: 1 for seconds, 1_000_000 for microseconds).
    pub fn instant(&mut self, time: i64, units_per_sec: i64) {
        self.before_value();
        self.out.push('"');
        write_instant(time, units_per_sec, &mut self.out);
        self.out.push('"');
    }

    pub fn boolean(&mut self, b: bool) {
        self.before_value();
        self.out.push_str(if b { "true" } else { "false" });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn layout() {
        let mut j = Jackson::new();
        j.start_array();
        j.start_object();
        j.field("a");
        j.object_compact = true;
        j.array_compact = true;
        j.start_array();
        j.string("x");
        j.string("y");
        j.end_array();
        j.object_compact = false;
        j.array_compact = false;
        j.field("rows");
        j.start_array();
        j.end_array();
        j.end_object();
        j.end_array();
        assert_eq!(
            j.out,
            "[\n  {\n    \"a\" : [ \"x\", \"y\" ],\n    \"rows\" : [ ]\n  }\n]"
        );
    }
}
