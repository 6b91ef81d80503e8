//! Label sets: sorted, validated, stored in one shared buffer.

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use crate::ModelError;

/// The label that holds a series' metric name.
pub const METRIC_NAME: &str = "__name__";

/// One label of a [`Labels`] set, borrowed from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Label<'a> {
    /// The label name.
    pub name: &'a str,
    /// The label value, never empty.
    pub value: &'a str,
}

/// An immutable, sorted set of labels identifying a series.
///
/// All names and values live in one reference-counted `str` buffer, each
/// string preceded by its length, so a clone is a reference-count increment
/// and a series costs one allocation. Lengths are written in a variable
/// number of ASCII bytes (six payload bits each, `0x40` marks that more
/// follow), which keeps the whole buffer valid UTF-8 and lets names and
/// values be sliced out without unsafe code or re-validation.
///
/// Invariants, enforced at construction: names are non-empty and unique,
/// labels are sorted by name, and no value is empty (an empty value means
/// the label is absent, as in Prometheus).
#[derive(Clone)]
pub struct Labels {
    data: Arc<str>,
}

impl Default for Labels {
    fn default() -> Self {
        Self::empty()
    }
}

fn push_len(buf: &mut String, mut len: usize) {
    // Big-endian groups of six bits: every byte but the last has 0x40 set.
    let mut groups = [0u8; 11];
    let mut n = 0;
    loop {
        groups[n] = (len & 0x3f) as u8;
        n += 1;
        len >>= 6;
        if len == 0 {
            break;
        }
    }
    for i in (0..n).rev() {
        let more = if i > 0 { 0x40 } else { 0 };
        buf.push(char::from(groups[i] | more));
    }
}

fn read_len(bytes: &[u8], pos: &mut usize) -> Option<usize> {
    let mut len = 0usize;
    loop {
        let b = *bytes.get(*pos)?;
        *pos += 1;
        len = (len << 6) | usize::from(b & 0x3f);
        if b & 0x40 == 0 {
            return Some(len);
        }
    }
}

impl Labels {
    /// The empty label set.
    pub fn empty() -> Self {
        Labels {
            data: Arc::from(""),
        }
    }

    /// Builds a label set from name/value pairs in any order.
    ///
    /// Pairs with an empty value are dropped. Fails on an empty name or a
    /// name given twice.
    pub fn from_pairs<I, N, V>(pairs: I) -> Result<Self, ModelError>
    where
        I: IntoIterator<Item = (N, V)>,
        N: AsRef<str>,
        V: AsRef<str>,
    {
        let mut v: Vec<(N, V)> = pairs
            .into_iter()
            .filter(|(_, v)| !v.as_ref().is_empty())
            .collect();
        v.sort_by(|a, b| a.0.as_ref().cmp(b.0.as_ref()));
        Self::from_sorted(v.iter().map(|(n, v)| (n.as_ref(), v.as_ref())))
    }

    /// Builds a label set from pairs already sorted by name with non-empty
    /// values; checks both and fails on empty or duplicate names.
    pub fn from_sorted<'a, I>(pairs: I) -> Result<Self, ModelError>
    where
        I: IntoIterator<Item = (&'a str, &'a str)>,
    {
        let mut buf = String::new();
        let mut prev: Option<&str> = None;
        let mut sorted = true;
        let mut all: Vec<(&str, &str)> = Vec::new();
        for (n, v) in pairs {
            if n.is_empty() {
                return Err(ModelError::EmptyLabelName);
            }
            if let Some(p) = prev {
                match p.cmp(n) {
                    Ordering::Equal => return Err(ModelError::DuplicateLabelName(n.to_string())),
                    Ordering::Greater => sorted = false,
                    Ordering::Less => {}
                }
            }
            prev = Some(n);
            if !v.is_empty() {
                all.push((n, v));
            }
        }
        if !sorted {
            all.sort_by(|a, b| a.0.cmp(b.0));
            for w in all.windows(2) {
                if w[0].0 == w[1].0 {
                    return Err(ModelError::DuplicateLabelName(w[0].0.to_string()));
                }
            }
        }
        for (n, v) in all {
            push_len(&mut buf, n.len());
            buf.push_str(n);
            push_len(&mut buf, v.len());
            buf.push_str(v);
        }
        Ok(Labels {
            data: Arc::from(buf),
        })
    }

    /// Number of labels.
    pub fn len(&self) -> usize {
        self.iter().count()
    }

    /// Whether the set has no labels.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// Iterates the labels in name order.
    pub fn iter(&self) -> LabelsIter<'_> {
        LabelsIter {
            data: &self.data,
            pos: 0,
        }
    }

    /// The value of label `name`, if present.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.iter().find(|l| l.name == name).map(|l| l.value)
    }

    /// Whether label `name` is present.
    pub fn contains(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// The metric name (`__name__`), if present.
    pub fn metric_name(&self) -> Option<&str> {
        self.get(METRIC_NAME)
    }

    /// A builder that starts from this set.
    pub fn to_builder(&self) -> LabelsBuilder {
        LabelsBuilder {
            pairs: self
                .iter()
                .map(|l| (l.name.to_string(), l.value.to_string()))
                .collect(),
        }
    }

    /// A copy keeping only the labels for which `keep(name)` is true.
    pub fn retain(&self, mut keep: impl FnMut(&str) -> bool) -> Labels {
        let mut buf = String::with_capacity(self.data.len());
        let mut changed = false;
        for l in self.iter() {
            if keep(l.name) {
                push_len(&mut buf, l.name.len());
                buf.push_str(l.name);
                push_len(&mut buf, l.value.len());
                buf.push_str(l.value);
            } else {
                changed = true;
            }
        }
        if changed {
            Labels {
                data: Arc::from(buf),
            }
        } else {
            self.clone()
        }
    }

    /// This set without its metric name.
    pub fn without_metric_name(&self) -> Labels {
        self.retain(|n| n != METRIC_NAME)
    }

    /// The compact encoding, stable for the life of the process; equal sets
    /// have equal bytes, so it serves as a map key or hash input.
    pub fn as_key(&self) -> &str {
        &self.data
    }

    /// Bytes of heap memory this set holds (shared between clones).
    pub fn heap_size(&self) -> usize {
        self.data.len() + 2 * std::mem::size_of::<usize>()
    }
}

/// Iterator over the labels of a [`Labels`] set.
#[derive(Clone)]
pub struct LabelsIter<'a> {
    data: &'a str,
    pos: usize,
}

impl<'a> Iterator for LabelsIter<'a> {
    type Item = Label<'a>;

    fn next(&mut self) -> Option<Label<'a>> {
        let bytes = self.data.as_bytes();
        let nl = read_len(bytes, &mut self.pos)?;
        let name = self.data.get(self.pos..self.pos + nl)?;
        self.pos += nl;
        let vl = read_len(bytes, &mut self.pos)?;
        let value = self.data.get(self.pos..self.pos + vl)?;
        self.pos += vl;
        Some(Label { name, value })
    }
}

impl<'a> IntoIterator for &'a Labels {
    type Item = Label<'a>;
    type IntoIter = LabelsIter<'a>;
    fn into_iter(self) -> LabelsIter<'a> {
        self.iter()
    }
}

impl PartialEq for Labels {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.data, &other.data) || self.data == other.data
    }
}

impl Eq for Labels {}

impl Hash for Labels {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.data.hash(state)
    }
}

impl Ord for Labels {
    /// Prometheus' order: label by label, name first then value; a prefix
    /// sorts first.
    fn cmp(&self, other: &Self) -> Ordering {
        let mut a = self.iter();
        let mut b = other.iter();
        loop {
            match (a.next(), b.next()) {
                (None, None) => return Ordering::Equal,
                (None, Some(_)) => return Ordering::Less,
                (Some(_), None) => return Ordering::Greater,
                (Some(x), Some(y)) => {
                    let c = x.name.cmp(y.name).then_with(|| x.value.cmp(y.value));
                    if c != Ordering::Equal {
                        return c;
                    }
                }
            }
        }
    }
}

impl PartialOrd for Labels {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Debug for Labels {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for Labels {
    /// Prometheus' `Labels.String()`: `{__name__="up", job="x"}`, values
    /// quoted like Go's `%q`, names quoted when they are not legacy names.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("{")?;
        for (i, l) in self.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            if is_valid_legacy_label_name(l.name) {
                f.write_str(l.name)?;
            } else {
                f.write_str(&go_quote(l.name))?;
            }
            f.write_str("=")?;
            f.write_str(&go_quote(l.value))?;
        }
        f.write_str("}")
    }
}

/// A mutable set of labels that builds a [`Labels`].
#[derive(Debug, Clone, Default)]
pub struct LabelsBuilder {
    pairs: Vec<(String, String)>,
}

impl LabelsBuilder {
    /// An empty builder.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `name` to `value`; an empty value removes the label.
    pub fn set(&mut self, name: impl Into<String>, value: impl Into<String>) -> &mut Self {
        let name = name.into();
        let value = value.into();
        match self.pairs.iter_mut().find(|(n, _)| *n == name) {
            Some(p) => p.1 = value,
            None => self.pairs.push((name, value)),
        }
        self
    }

    /// Removes label `name`.
    pub fn del(&mut self, name: &str) -> &mut Self {
        self.pairs.retain(|(n, _)| n != name);
        self
    }

    /// The current value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(n, v)| n == name && !v.is_empty())
            .map(|(_, v)| v.as_str())
    }

    /// Keeps only the labels for which `keep(name)` is true.
    pub fn retain(&mut self, mut keep: impl FnMut(&str) -> bool) -> &mut Self {
        self.pairs.retain(|(n, _)| keep(n));
        self
    }

    /// The label set; fails on an empty name.
    pub fn build(&self) -> Result<Labels, ModelError> {
        Labels::from_pairs(self.pairs.iter().map(|(n, v)| (n.as_str(), v.as_str())))
    }
}

/// Whether `name` matches the legacy metric name syntax
/// `[a-zA-Z_:][a-zA-Z0-9_:]*`.
pub fn is_valid_legacy_metric_name(name: &str) -> bool {
    let mut chars = name.bytes();
    match chars.next() {
        Some(c) if c.is_ascii_alphabetic() || c == b'_' || c == b':' => {}
        _ => return false,
    }
    chars.all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b':')
}

/// Whether `name` matches the legacy label name syntax `[a-zA-Z_][a-zA-Z0-9_]*`.
pub fn is_valid_legacy_label_name(name: &str) -> bool {
    let mut chars = name.bytes();
    match chars.next() {
        Some(c) if c.is_ascii_alphabetic() || c == b'_' => {}
        _ => return false,
    }
    chars.all(|c| c.is_ascii_alphanumeric() || c == b'_')
}

/// Quotes `s` the way Go's `strconv.Quote` (and `%q`) does: printable
/// characters kept, `\a \b \f \n \r \t \v \\ \"` escaped, other control
/// characters as `\xNN`, `\uNNNN` or `\UNNNNNNNN`.
pub fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{b}' => out.push_str("\\v"),
            c if is_go_printable(c) => out.push(c),
            c if (c as u32) < 0x80 => out.push_str(&format!("\\x{:02x}", c as u32)),
            c if (c as u32) < 0x10000 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push_str(&format!("\\U{:08x}", c as u32)),
        }
    }
    out.push('"');
    out
}

/// An approximation of Go's `unicode.IsPrint`: letters, marks, numbers,
/// punctuation, symbols and the ASCII space.
fn is_go_printable(c: char) -> bool {
    if c == ' ' {
        return true;
    }
    if c.is_control() || c.is_whitespace() {
        return false;
    }
    // Unassigned, private-use, surrogate and format characters are not
    // printable in Go; the common format characters are the ones that matter.
    !matches!(c as u32,
        0xad | 0x600..=0x605 | 0x61c | 0x6dd | 0x70f | 0x180e | 0x200b..=0x200f
        | 0x202a..=0x202e | 0x2060..=0x206f | 0xfeff | 0xfff9..=0xfffb
        | 0xe000..=0xf8ff | 0xf0000..=0x10ffff)
}

/// Builds a [`Labels`] from literal pairs, panicking on invalid input; for
/// tests and examples.
#[macro_export]
macro_rules! labels {
    ($($name:expr => $value:expr),* $(,)?) => {
        $crate::Labels::from_pairs([$(($name, $value)),*]).expect("valid literal labels")
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn sorted_and_deduped() {
        let l = Labels::from_pairs([("b", "2"), ("a", "1"), ("c", "")]).unwrap();
        let v: Vec<_> = l.iter().map(|l| (l.name, l.value)).collect();
        assert_eq!(v, [("a", "1"), ("b", "2")]);
        assert_eq!(l.len(), 2);
        assert_eq!(l.get("b"), Some("2"));
        assert_eq!(l.get("c"), None);
        assert!(Labels::from_pairs([("a", "1"), ("a", "2")]).is_err());
        assert!(Labels::from_pairs([("", "1")]).is_err());
    }

    #[test]
    fn long_values_and_order() {
        let long = "x".repeat(100_000);
        let l = Labels::from_pairs([("a", long.as_str()), ("é", "ü")]).unwrap();
        assert_eq!(l.get("a").unwrap().len(), 100_000);
        assert_eq!(l.get("é"), Some("ü"));
        let a = labels!("a" => "1");
        let ab = labels!("a" => "1", "b" => "1");
        let b = labels!("b" => "0");
        assert!(a < ab && ab < b);
    }

    #[test]
    fn display_like_prometheus() {
        let l = labels!("__name__" => "up", "job" => "a\"b\n", "x.y" => "é");
        assert_eq!(l.to_string(), r#"{__name__="up", job="a\"b\n", "x.y"="é"}"#);
        assert_eq!(go_quote("\u{1}\u{7f}"), r#""\x01\x7f""#);
    }

    proptest! {
        #[test]
        fn roundtrip(pairs in proptest::collection::btree_map("[a-z_é]{1,70}", ".{1,200}", 0..8)) {
            let l = Labels::from_pairs(pairs.iter()).unwrap();
            let back: Vec<(String, String)> =
                l.iter().map(|l| (l.name.to_string(), l.value.to_string())).collect();
            let want: Vec<(String, String)> = pairs.into_iter().collect();
            prop_assert_eq!(back, want);
        }
    }
}
