//! Argument layouts: what a structured optname's argument looks like, so a set gets past
//! the module's own checks (a magic number, a command in range, a length that agrees with
//! the data) and reaches the code behind them.
//!
//! A layout is data, from a `[[fuzz.layout]]` table: the optnames that take it and its
//! fields, packed in order (no implicit padding), each an integer (`u8` … `u64`, or
//! big-endian `be16` … `be64`) with enumerated `values`, a `range`, or `len_of` another
//! field; `bytes` of a fixed `size`; or a NUL-padded `string` of a fixed `size`, with
//! optional `values`. The idea is syzkaller's descriptions (`sys/linux/netfilter_ipvs.txt`:
//! `ip_vs_service_user` with `int32[0:4]`, `string[ipvs_sched_names, …]`, `int32be[0:128]`,
//! and the call's `len[val]`), as a table instead of a language.
//!
//! A set on such an optname keeps its op ([`crate::lang::sockopt::Op::Set`]); its `fill`
//! bytes are read as choices, one field after the other ([`Layout::build`]): mostly valid
//! values (an enumerated value, a value in range, the length the other field really has),
//! one choice in sixteen a mutation (just out of range, all ones, a length one too long, a
//! string without its NUL). Bytes that run out choose the first valid value, so short and
//! shrunk fills are valid structs. The same fill always builds the same struct. The set's
//! stated length still varies: lengths relative to the capacity are relative to the
//! struct's size instead ([`crate::lang::sockopt::Target::for_opt`]).

use std::fmt::Write as _;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

/// The largest struct a layout may describe: a set's buffer holds its fill pattern in its
/// first 4 KiB.
pub const MAX_SIZE: usize = 4096;

/// One struct: the optnames whose argument it is, and its fields in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Layout {
    /// Set (and get) optnames taking this struct.
    pub optnames: Vec<i32>,
    pub fields: Vec<Field>,
}

/// One field of a [`Layout`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Field {
    pub name: String,
    #[serde(rename = "type")]
    pub ty: Type,
    /// The values it may hold (integers, or strings for a `string`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<Value>,
    /// The integers it may hold, first and last.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub range: Option<[i64; 2]>,
    /// The field whose length in bytes it holds (a `bytes` field's used bytes, a
    /// `string`'s length without its NUL).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub len_of: Option<String>,
    /// Bytes of a `bytes` or `string` field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<usize>,
}

/// A field's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Type {
    U8,
    U16,
    U32,
    U64,
    Be16,
    Be32,
    Be64,
    Bytes,
    String,
}

impl Type {
    /// Bytes of an integer type (`None`: not an integer).
    fn int_width(self) -> Option<usize> {
        Some(match self {
            Type::U8 => 1,
            Type::U16 | Type::Be16 => 2,
            Type::U32 | Type::Be32 => 4,
            Type::U64 | Type::Be64 => 8,
            Type::Bytes | Type::String => return None,
        })
    }

    fn big_endian(self) -> bool {
        matches!(self, Type::Be16 | Type::Be32 | Type::Be64)
    }
}

/// An enumerated value: an integer, or a string's text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Value {
    Int(i64),
    Text(String),
}

/// The layouts of one target, shared by every copy of its [`crate::lang::sockopt::Target`]
/// (which stays `Copy`: the executor copies it per op). Interned: a process keeps one copy
/// of each distinct set of layouts it reads, for its lifetime.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Layouts(&'static [Layout]);

static INTERNED: Mutex<Vec<&'static [Layout]>> = Mutex::new(Vec::new());

impl Layouts {
    /// No layouts: every optname's argument is its fill.
    pub const NONE: Layouts = Layouts(&[]);

    pub fn new(layouts: Vec<Layout>) -> Self {
        if layouts.is_empty() {
            return Layouts::NONE;
        }
        let mut all = INTERNED.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(known) = all.iter().find(|l| ***l == layouts[..]) {
            return Layouts(known);
        }
        let leaked: &'static [Layout] = Box::leak(layouts.into_boxed_slice());
        all.push(leaked);
        Layouts(leaked)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> std::slice::Iter<'static, Layout> {
        self.0.iter()
    }

    /// The layout of optname `opt`'s argument.
    #[inline]
    pub fn of(&self, opt: i32) -> Option<&'static Layout> {
        if self.0.is_empty() {
            return None;
        }
        self.0.iter().find(|l| l.optnames.contains(&opt))
    }

    /// Checks the set: each layout ([`Layout::check`]) and no optname in two of them.
    pub fn check(&self) -> Result<(), String> {
        for (i, l) in self.0.iter().enumerate() {
            l.check()?;
            for o in &l.optnames {
                if self.0[..i].iter().any(|p| p.optnames.contains(o)) {
                    return Err(format!("optname {o} has two layouts"));
                }
            }
        }
        Ok(())
    }
}

impl Default for Layouts {
    fn default() -> Self {
        Layouts::NONE
    }
}

impl std::fmt::Debug for Layouts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.0).finish()
    }
}

impl Serialize for Layouts {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

impl<'de> Deserialize<'de> for Layouts {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Layouts::new(Vec::deserialize(d)?))
    }
}

impl Layout {
    /// The struct's size in bytes.
    pub fn size(&self) -> usize {
        self.fields.iter().map(Field::size).sum()
    }

    /// Whether the layout describes a struct: names unique, each field's constraints fit
    /// its type, `len_of` names a `bytes` or `string` field, values fit their width.
    pub fn check(&self) -> Result<(), String> {
        if self.optnames.is_empty() {
            return Err("optnames = []: name the optnames that take this struct".into());
        }
        if self.fields.is_empty() {
            return Err("fields = []: a struct needs a field".into());
        }
        for (i, f) in self.fields.iter().enumerate() {
            if self.fields[..i].iter().any(|p| p.name == f.name) {
                return Err(format!("two fields are named {:?}", f.name));
            }
            f.check(self)
                .map_err(|e| format!("field {:?}: {e}", f.name))?;
        }
        let size = self.size();
        if size > MAX_SIZE {
            return Err(format!("the struct is {size} bytes; at most {MAX_SIZE}"));
        }
        Ok(())
    }

    /// The struct `fill` chooses: each field's value, in order (see the module's doc).
    pub fn build<'a>(&'a self, fill: &'a [u8]) -> Built<'a> {
        let mut c = Cursor(fill);
        let mut values: Vec<Built1> = self.fields.iter().map(|f| f.choose(self, &mut c)).collect();
        // Lengths last: the fields they measure may come after them.
        for (i, f) in self.fields.iter().enumerate() {
            let Some(target) = &f.len_of else { continue };
            let n = self
                .fields
                .iter()
                .position(|t| &t.name == target)
                .map_or(0, |t| values[t].content_len());
            if let Built1::Int { v, mutated, .. } = &mut values[i] {
                let width = f.ty.int_width().unwrap_or(8);
                let limit = self.fields.iter().find(|t| &t.name == target);
                *v = match mutated {
                    None => n as u64,
                    Some(m) => len_mutation(*m, n, limit.map_or(n, Field::size), width),
                } & mask(width);
            }
        }
        Built { values }
    }
}

/// The bytes a set's fill stands for on an optname with layout `l`.
pub fn encode(l: &Layout, fill: &[u8]) -> Vec<u8> {
    l.build(fill).bytes(l)
}

impl Field {
    fn size(&self) -> usize {
        self.ty.int_width().unwrap_or(self.size.unwrap_or(0))
    }

    fn check(&self, l: &Layout) -> Result<(), String> {
        let set = |b: bool, what: &'static str| if b { vec![what] } else { vec![] };
        let given: Vec<&str> = [
            set(!self.values.is_empty(), "values"),
            set(self.range.is_some(), "range"),
            set(self.len_of.is_some(), "len_of"),
            set(self.size.is_some(), "size"),
        ]
        .concat();
        let Some(width) = self.ty.int_width() else {
            return self.check_array(&given);
        };
        if given.len() > 1 || given == ["size"] {
            return Err(format!(
                "an integer takes one of values, range or len_of (given: {})",
                given.join(", ")
            ));
        }
        let fits =
            |v: i64| width == 8 || (v >= -(1i64 << (width * 8 - 1)) && v < 1i64 << (width * 8));
        for v in &self.values {
            match v {
                Value::Int(n) if fits(*n) => {}
                Value::Int(n) => return Err(format!("value {n} does not fit {width} bytes")),
                Value::Text(t) => return Err(format!("value {t:?}: an integer field")),
            }
        }
        if let Some([a, b]) = self.range {
            if a > b || !fits(a) || !fits(b) {
                return Err(format!(
                    "range = [{a}, {b}]: want [first, last] within {width} bytes"
                ));
            }
        }
        if let Some(t) = &self.len_of {
            match l.fields.iter().find(|f| &f.name == t) {
                Some(f) if matches!(f.ty, Type::Bytes | Type::String) => {}
                Some(_) => return Err(format!("len_of = {t:?}: not a bytes or string field")),
                None => return Err(format!("len_of = {t:?}: no such field")),
            }
        }
        Ok(())
    }

    /// A `bytes` or `string` field: a size, and strings for a string's values.
    fn check_array(&self, given: &[&str]) -> Result<(), String> {
        let size = match self.size {
            Some(n) if (1..=MAX_SIZE).contains(&n) => n,
            _ => return Err(format!("{:?} needs size = 1..={MAX_SIZE}", self.ty)),
        };
        let allowed: &[&str] = match self.ty {
            Type::String => &["values", "size"],
            _ => &["size"],
        };
        if let Some(bad) = given.iter().find(|g| !allowed.contains(g)) {
            return Err(format!("{bad} does not apply to {:?}", self.ty));
        }
        for v in &self.values {
            match v {
                Value::Text(t) if t.len() < size && !t.contains('\0') => {}
                Value::Text(t) => {
                    return Err(format!("value {t:?} and its NUL exceed size {size}"))
                }
                Value::Int(n) => return Err(format!("value {n}: a string field")),
            }
        }
        Ok(())
    }

    /// This field's value from the cursor (a length field's comes later, from its target).
    fn choose<'a>(&'a self, l: &Layout, c: &mut Cursor<'a>) -> Built1<'a> {
        match self.ty.int_width() {
            Some(width) => self.choose_int(c, width),
            None => {
                let size = self.size.unwrap_or(0);
                let measured = l
                    .fields
                    .iter()
                    .any(|f| f.len_of.as_ref() == Some(&self.name));
                if self.ty == Type::String {
                    self.choose_string(c, size)
                } else {
                    // A measured array uses part of its room (all of it when the fill ran
                    // out); an unmeasured one is all content.
                    let used = if measured {
                        size - c.up_to(size as u64) as usize
                    } else {
                        size
                    };
                    Built1::Bytes {
                        got: c.take(used),
                        used,
                        size,
                    }
                }
            }
        }
    }

    fn choose_int<'a>(&self, c: &mut Cursor, width: usize) -> Built1<'a> {
        let choice = c.next().unwrap_or(0);
        let mutated = choice.checked_sub(MUTATE);
        let v = if self.len_of.is_some() {
            0 // Set once its target is chosen.
        } else if let Some(m) = mutated {
            self.int_mutation(m, c, width)
        } else if !self.values.is_empty() {
            self.nth_value(usize::from(choice))
        } else if let Some([a, b]) = self.range {
            a.wrapping_add(c.up_to(b.wrapping_sub(a) as u64) as i64) as u64
        } else {
            c.int(width)
        };
        Built1::Int {
            v: v & mask(width),
            mutated,
        }
    }

    fn nth_value(&self, n: usize) -> u64 {
        match &self.values[n % self.values.len()] {
            Value::Int(v) => *v as u64,
            Value::Text(_) => 0,
        }
    }

    /// An integer outside its description (or, without one, at an edge).
    fn int_mutation(&self, m: u8, c: &mut Cursor, width: usize) -> u64 {
        let (lo, hi) = match (self.range, self.values.is_empty()) {
            (Some([a, b]), _) => (a as u64, b as u64),
            (None, false) => {
                let v = self.nth_value(usize::from(m));
                (v, v)
            }
            (None, true) => (0, mask(width)),
        };
        match m % 5 {
            0 => hi.wrapping_add(1),
            1 => lo.wrapping_sub(1),
            2 => mask(width),
            3 => 1 << (width * 8 - 1),
            _ => c.int(width),
        }
    }

    fn choose_string<'a>(&'a self, c: &mut Cursor<'a>, size: usize) -> Built1<'a> {
        let choice = c.next().unwrap_or(0);
        if choice >= MUTATE {
            // No NUL: the whole field is text.
            return Built1::Text {
                text: Text::Fill(c.take(size), size),
                mutated: true,
            };
        }
        let text = if self.values.is_empty() {
            let n = c.up_to(size as u64 - 1) as usize;
            Text::Fill(c.take(n), n)
        } else {
            match &self.values[usize::from(choice) % self.values.len()] {
                Value::Text(t) => Text::Value(t.as_bytes()),
                Value::Int(_) => Text::Value(b""),
            }
        };
        Built1::Text {
            text,
            mutated: false,
        }
    }
}

/// A choice byte at or above this mutates its field (1 in 16).
const MUTATE: u8 = 0xf0;

/// All ones in `width` bytes.
fn mask(width: usize) -> u64 {
    if width >= 8 {
        u64::MAX
    } else {
        (1 << (width * 8)) - 1
    }
}

/// A wrong length for content of `n` bytes in a field of `room` bytes.
fn len_mutation(m: u8, n: usize, room: usize, width: usize) -> u64 {
    match m % 5 {
        0 => n as u64 + 1,
        1 => (n as u64).wrapping_sub(1),
        2 => room as u64 + 1,
        3 => mask(width),
        _ => 1 << (width * 8 - 1),
    }
}

fn printable(b: u8) -> u8 {
    b'!' + b % 94
}

/// The fill's bytes, read one choice after another; zeros once they run out.
struct Cursor<'a>(&'a [u8]);

impl<'a> Cursor<'a> {
    fn next(&mut self) -> Option<u8> {
        let (b, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(*b)
    }

    /// Up to `n` bytes: fewer where the fill ends (the rest stand for zeros).
    fn take(&mut self, n: usize) -> &'a [u8] {
        let (got, rest) = self.0.split_at(n.min(self.0.len()));
        self.0 = rest;
        got
    }

    /// An integer of `width` bytes, little-endian.
    fn int(&mut self, width: usize) -> u64 {
        let mut b = [0u8; 8];
        let got = self.take(width);
        b[..got.len()].copy_from_slice(got);
        u64::from_le_bytes(b)
    }

    /// A number in `0..=max`, from as few bytes as `max` needs (0 once they run out).
    fn up_to(&mut self, max: u64) -> u64 {
        if max == 0 {
            return 0;
        }
        let bytes = (64 - max.leading_zeros()).div_ceil(8) as usize;
        let mut v = 0u64;
        for _ in 0..bytes {
            v = (v << 8) | u64::from(self.next().unwrap_or(0));
        }
        if max == u64::MAX {
            v
        } else {
            v % (max + 1)
        }
    }
}

/// A built struct: each field's value, in the layout's order (borrowing the fill and the
/// layout: building one allocates once).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Built<'a> {
    values: Vec<Built1<'a>>,
}

/// One field's value.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Built1<'a> {
    /// `mutated`: the mutation chosen, when it is outside its description.
    Int { v: u64, mutated: Option<u8> },
    /// `used` of its `size` bytes are content (a length field measures them): `got` from
    /// the fill, zeros for the rest of them where the fill ran out; zeros after.
    Bytes {
        got: &'a [u8],
        used: usize,
        size: usize,
    },
    /// Its text (NUL-padded in the struct, unless it fills the field: `mutated`).
    Text { text: Text<'a>, mutated: bool },
}

/// A string field's text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Text<'a> {
    /// One of its `values`.
    Value(&'a [u8]),
    /// `n` printable characters made from these fill bytes (zeros where it ran out).
    Fill(&'a [u8], usize),
}

impl Text<'_> {
    fn len(self) -> usize {
        match self {
            Text::Value(t) => t.len(),
            Text::Fill(_, n) => n,
        }
    }

    fn write(self, out: &mut Vec<u8>) {
        match self {
            Text::Value(t) => out.extend_from_slice(t),
            Text::Fill(got, n) => out.extend(
                got.iter()
                    .copied()
                    .chain(std::iter::repeat(0))
                    .take(n)
                    .map(printable),
            ),
        }
    }
}

impl Built1<'_> {
    /// What a length field of it measures.
    fn content_len(&self) -> usize {
        match self {
            Built1::Int { .. } => 0,
            Built1::Bytes { used, .. } => *used,
            Built1::Text { text, .. } => text.len(),
        }
    }

    fn mutated(&self) -> bool {
        matches!(
            self,
            Built1::Int {
                mutated: Some(_),
                ..
            } | Built1::Text { mutated: true, .. }
        )
    }
}

impl Built<'_> {
    /// Whether every field holds a value its description allows.
    pub fn valid(&self) -> bool {
        !self.values.iter().any(Built1::mutated)
    }

    /// The integer value of field `name` (tests, descriptions).
    pub fn int(&self, l: &Layout, name: &str) -> Option<u64> {
        let i = l.fields.iter().position(|f| f.name == name)?;
        match self.values[i] {
            Built1::Int { v, .. } => Some(v),
            _ => None,
        }
    }

    /// What a length field of field `name` would say it holds.
    pub fn content_len(&self, l: &Layout, name: &str) -> Option<usize> {
        let i = l.fields.iter().position(|f| f.name == name)?;
        Some(self.values[i].content_len())
    }

    /// The struct's bytes.
    pub fn bytes(&self, l: &Layout) -> Vec<u8> {
        let mut out = Vec::with_capacity(l.size());
        for (f, v) in l.fields.iter().zip(&self.values) {
            match v {
                Built1::Int { v, .. } => {
                    let w = f.size();
                    let le = v.to_le_bytes();
                    if f.ty.big_endian() {
                        out.extend(le[..w].iter().rev());
                    } else {
                        out.extend_from_slice(&le[..w]);
                    }
                }
                Built1::Bytes { got, size, .. } => {
                    let start = out.len();
                    out.extend_from_slice(got);
                    out.resize(start + size, 0);
                }
                Built1::Text { text, .. } => {
                    let start = out.len();
                    text.write(&mut out);
                    out.resize(start + f.size(), 0);
                }
            }
        }
        out
    }

    /// The fields by name: `{magic=0x4b534f43 op=2 len=33! data=[5: 6162636465] name="rr"}`;
    /// `!` marks a value outside its field's description.
    pub fn describe(&self, l: &Layout) -> String {
        let mut s = String::from("{");
        for (i, (f, v)) in l.fields.iter().zip(&self.values).enumerate() {
            if i > 0 {
                s.push(' ');
            }
            let _ = write!(s, "{}=", f.name);
            match v {
                Built1::Int { v, .. } if *v > 0xffff => {
                    let _ = write!(s, "{v:#x}");
                }
                Built1::Int { v, .. } => {
                    let _ = write!(s, "{v}");
                }
                Built1::Bytes { got, used, .. } => {
                    let shown: String = got
                        .iter()
                        .copied()
                        .chain(std::iter::repeat(0))
                        .take((*used).min(16))
                        .map(|b| format!("{b:02x}"))
                        .collect();
                    let more = if *used > 16 { "…" } else { "" };
                    let _ = write!(s, "[{used}: {shown}{more}]");
                }
                Built1::Text { text, .. } => {
                    let mut t = Vec::new();
                    text.write(&mut t);
                    let _ = write!(s, "{:?}", String::from_utf8_lossy(&t));
                }
            }
            if v.mutated() {
                s.push('!');
            }
        }
        s.push('}');
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of the docs: a magic, a command in range, a length of the data, the
    /// data, a name.
    pub(crate) fn ctl() -> Layout {
        serde_json::from_value(serde_json::json!({
            "optnames": [128],
            "fields": [
                { "name": "magic", "type": "u32", "values": [0x4b53_4f43] },
                { "name": "op", "type": "u16", "range": [0, 3] },
                { "name": "len", "type": "u16", "len_of": "data" },
                { "name": "data", "type": "bytes", "size": 32 },
                { "name": "name", "type": "string", "size": 16, "values": ["rr", "wrr"] },
                { "name": "port", "type": "be16" },
            ]
        }))
        .unwrap()
    }

    /// Fill `i` of a deterministic stream, of 0..40 bytes.
    fn fill(i: u64) -> Vec<u8> {
        let mut s = i.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
        let mut next = move || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            s
        };
        let n = (next() % 40) as usize;
        (0..n).map(|_| next() as u8).collect()
    }

    #[test]
    fn a_layout_checks_and_its_size_is_the_sum_of_its_fields() {
        let l = ctl();
        l.check().unwrap();
        assert_eq!(l.size(), 4 + 2 + 2 + 32 + 16 + 2);
        let mut bad = l.clone();
        bad.fields[2].len_of = Some("nope".into());
        assert!(bad
            .check()
            .unwrap_err()
            .contains("field \"len\": len_of = \"nope\""));
        let mut bad = l.clone();
        bad.fields[1].range = Some([0, 70_000]);
        assert!(bad.check().unwrap_err().contains("range = [0, 70000]"));
        let mut bad = l.clone();
        bad.fields[3].size = None;
        assert!(bad.check().unwrap_err().contains("needs size"));
        let twice = Layouts::new(vec![l.clone(), l.clone()]);
        assert!(twice
            .check()
            .unwrap_err()
            .contains("optname 128 has two layouts"));
    }

    #[test]
    fn fills_build_valid_structs_most_of_the_time_with_consistent_lengths() {
        let l = ctl();
        let n = 2000;
        let mut valid = 0;
        let mut ops = std::collections::BTreeSet::new();
        let mut lens = std::collections::BTreeSet::new();
        for i in 0..n {
            let f = fill(i);
            let b = l.build(&f);
            let bytes = b.bytes(&l);
            assert_eq!(bytes.len(), l.size());
            assert_eq!(b.bytes(&l), l.build(&f).bytes(&l), "deterministic");
            if b.valid() {
                valid += 1;
                assert_eq!(&bytes[..4], &0x4b53_4f43u32.to_le_bytes());
                let op = b.int(&l, "op").unwrap();
                assert!(op <= 3);
                ops.insert(op);
                let len = b.int(&l, "len").unwrap();
                assert_eq!(len as usize, b.content_len(&l, "data").unwrap(), "len_of");
                assert_eq!(u16::from_le_bytes([bytes[6], bytes[7]]) as u64, len);
                lens.insert(len);
                let name = &bytes[40..56];
                assert!(name.starts_with(b"rr\0") || name.starts_with(b"wrr\0"));
            }
        }
        assert!(valid * 10 > n * 6, "valid {valid} of {n}");
        assert!(valid < n, "some structs are mutated");
        assert_eq!(ops.len(), 4, "every op in range: {ops:?}");
        assert!(lens.len() > 5, "lengths vary: {lens:?}");
        // An empty (or shrunk) fill is the first valid struct, data all used.
        let first = l.build(&[]);
        assert!(first.valid());
        assert_eq!(first.int(&l, "len"), Some(32));
    }

    #[test]
    fn mutations_leave_the_description() {
        let l = ctl();
        // magic mutated (its choice byte), then op, then len.
        let b = l.build(&[0xf0]);
        assert!(!b.valid());
        assert_ne!(b.int(&l, "magic"), Some(0x4b53_4f43));
        let b = l.build(&[0, 0xf0]);
        assert_eq!(b.int(&l, "op"), Some(4), "just past the range");
        let b = l.build(&[0, 0, 0, 0xf0]);
        assert_eq!(b.int(&l, "len"), Some(33), "one longer than the data");
        // No data used (its length 0), then a big-endian port, most significant byte first.
        let b = l.build(&[0, 0, 0, 0, 32, 0, 0, 0x12, 0x34]);
        assert_eq!(b.int(&l, "len"), Some(0));
        assert_eq!(b.int(&l, "port"), Some(0x3412));
        assert_eq!(&b.bytes(&l)[56..], &[0x34, 0x12]);
    }

    #[test]
    fn descriptions_name_the_fields() {
        let l = ctl();
        let d = l.build(&[0, 0, 2, 0, 0]).describe(&l);
        assert!(
            d.starts_with("{magic=0x4b534f43 op=2 len=32 data=[32: 0000"),
            "{d}"
        );
        assert!(d.ends_with("name=\"rr\" port=0}"), "{d}");
        let d = l.build(&[0, 0xf0]).describe(&l);
        assert!(d.contains("op=4!"), "{d}");
    }

    #[test]
    fn a_set_on_a_layout_optname_writes_its_struct_at_lengths_relative_to_it() {
        use crate::lang::sockopt::{describe, Len, Op, Opt, Place, Target};
        let t = Target {
            layouts: Layouts::new(vec![ctl()]),
            ..Target::KSOCK_SOCKOPT
        };
        let set = |len, fill: &[u8]| Op::Set {
            opt: Opt::Served(0),
            len,
            fill: fill.to_vec(),
            place: Place::Guarded,
        };
        assert_eq!(Len::Capacity.resolve(&t.for_opt(128)), 58);
        assert_eq!(Len::CapacityMinus1.resolve(&t.for_opt(128)), 57);
        assert_eq!(
            Len::Capacity.resolve(&t.for_opt(127)),
            64,
            "no layout there"
        );
        assert_eq!(t.set_value(128, &[0xf0]).len(), 58);
        assert_eq!(&*t.set_value(127, b"ab"), b"ab");
        let text = describe(&[set(Len::CapacityPlus1, &[0, 0, 2])], &t);
        assert!(
            text.starts_with(
                "  1. set opt=Served(0) len=CapacityPlus1 {magic=0x4b534f43 op=2 len=32 data=[32:"
            ),
            "{text}"
        );
        assert!(
            text.ends_with("buffer=Guarded  (optname 128, 59 bytes)"),
            "{text}"
        );
        // Ops decoded from bytes on such a target: their sets are mostly valid structs.
        let ops: Vec<Op> = (0..100)
            .flat_map(|i| crate::lang::sockopt::generate(3, i, 16))
            .collect();
        let sets: Vec<&Vec<u8>> = ops
            .iter()
            .filter_map(|o| match o {
                Op::Set { fill, .. } => Some(fill),
                _ => None,
            })
            .collect();
        let valid = sets.iter().filter(|f| ctl().build(f).valid()).count();
        assert!(
            valid * 10 > sets.len() * 8,
            "{valid} of {} valid",
            sets.len()
        );
    }

    #[test]
    fn layouts_survive_json_and_are_interned() {
        let a = Layouts::new(vec![ctl()]);
        let json = serde_json::to_string(&a).unwrap();
        let b: Layouts = serde_json::from_str(&json).unwrap();
        assert_eq!(a, b);
        assert!(std::ptr::eq(a.0, b.0), "one copy per distinct set");
        assert_eq!(a.of(128).map(Layout::size), Some(58));
        assert_eq!(a.of(129), None);
        assert!(Layouts::default().of(128).is_none());
    }
}
