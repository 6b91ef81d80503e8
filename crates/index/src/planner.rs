//! The one matcher planner, shared by the on-disk reader and the head's
//! [`MemPostings`](crate::MemPostings): both implement [`PostingsSource`],
//! and [`postings_for_matchers`], [`label_names_for_matchers`] and
//! [`label_values_for_matchers`] work on either.
//!
//! The plan follows Prometheus' `PostingsForMatchers`. A matcher that
//! rejects the empty string forces its label to be set. Every matcher is
//! then either *intersecting* (the series it accepts, all of which have the
//! label) or *subtracting* (it accepts a missing label, so the series it
//! rejects are removed: those whose value it does not match). Intersecting
//! matchers are evaluated cheapest first (equality, literal sets, "label is
//! set", prefix ranges, then full value scans) and stop at the first empty
//! result; subtracting matchers are removed from that result, or from all
//! series when nothing intersects. `=~".*"` costs nothing, `=~".+"` and
//! `!=""` are "label is set" (no regex runs), literal alternations are
//! unions of direct look-ups, and `prefix.*` scans only the values in the
//! prefix's range.

use std::borrow::Cow;

use ember_model::{MatchOp, Matcher};
use roaring::RoaringBitmap;

use crate::IndexError;

/// What the planner needs from an index: postings as bitmaps of series IDs
/// and label names and values. A missing name or value has empty postings;
/// the empty value is never indexed (it means the label is absent).
pub trait PostingsSource {
    /// Every series.
    fn all_postings(&self) -> Result<Cow<'_, RoaringBitmap>, IndexError>;

    /// The series with label `name` = `value`.
    fn postings_bitmap(
        &self,
        name: &str,
        value: &str,
    ) -> Result<Cow<'_, RoaringBitmap>, IndexError>;

    /// The series whose `name` is one of `values` (sorted, deduplicated).
    fn postings_for_values(
        &self,
        name: &str,
        values: &[String],
    ) -> Result<RoaringBitmap, IndexError>;

    /// The series that have label `name`, whatever its value.
    fn postings_for_label(&self, name: &str) -> Result<Cow<'_, RoaringBitmap>, IndexError>;

    /// The series whose `name` has a value that starts with `prefix` and is
    /// accepted by `accept`; only values in the prefix's range are visited.
    fn postings_matching(
        &self,
        name: &str,
        prefix: &str,
        accept: &dyn Fn(&str) -> bool,
    ) -> Result<RoaringBitmap, IndexError>;

    /// All label names, sorted.
    fn label_names(&self) -> Result<Vec<String>, IndexError>;

    /// All values of label `name`, sorted.
    fn label_values(&self, name: &str) -> Result<Vec<String>, IndexError>;

    /// The sorted names of the labels that at least one series of `set` has.
    fn label_names_within(&self, set: &RoaringBitmap) -> Result<Vec<String>, IndexError>;

    /// The sorted values of `name` accepted by `accept` that at least one
    /// series of `set` has.
    fn label_values_within(
        &self,
        name: &str,
        accept: &dyn Fn(&str) -> bool,
        set: &RoaringBitmap,
    ) -> Result<Vec<String>, IndexError>;
}

/// A set of values of one label, derived from a matcher.
enum Selection<'m> {
    Nothing,
    AnyValue,
    Value(&'m str),
    Values(&'m [String]),
    Range {
        prefix: &'m str,
        accept: Box<dyn Fn(&str) -> bool + 'm>,
    },
}

impl Selection<'_> {
    /// Rough cost rank, cheapest first.
    fn cost(&self) -> u8 {
        match self {
            Selection::Nothing => 0,
            Selection::Value(_) => 1,
            Selection::Values(_) => 2,
            Selection::AnyValue => 3,
            Selection::Range { prefix, .. } if !prefix.is_empty() => 4,
            Selection::Range { .. } => 5,
        }
    }
}

/// The non-empty values `v` of `m`'s label with `m.matches(v) == matching`.
fn select(m: &Matcher, matching: bool) -> Selection<'_> {
    let value = m.value();
    let any_but = move |v: &str| v != value;
    match (m.op(), matching) {
        (MatchOp::Equal, true) | (MatchOp::NotEqual, false) if value.is_empty() => {
            Selection::Nothing
        }
        (MatchOp::Equal, true) | (MatchOp::NotEqual, false) => Selection::Value(value),
        (MatchOp::Equal, false) | (MatchOp::NotEqual, true) if value.is_empty() => {
            Selection::AnyValue
        }
        (MatchOp::Equal, false) | (MatchOp::NotEqual, true) => Selection::Range {
            prefix: "",
            accept: Box::new(any_but),
        },
        (op, _) => {
            // Values the regex itself matches (`want`) or does not match.
            let want = matching == (op == MatchOp::Regex);
            if value == ".*" || value == ".+" {
                // Every non-empty value matches both.
                return if want {
                    Selection::AnyValue
                } else {
                    Selection::Nothing
                };
            }
            if let Some(set) = m.set_matches() {
                return if want {
                    Selection::Values(set)
                } else if set.iter().all(|s| s.is_empty()) {
                    Selection::AnyValue
                } else {
                    Selection::Range {
                        prefix: "",
                        accept: Box::new(move |v| {
                            set.binary_search_by(|s| s.as_str().cmp(v)).is_err()
                        }),
                    }
                };
            }
            if let Some(p) = m.prefix() {
                return if want {
                    Selection::Range {
                        prefix: p,
                        accept: Box::new(|_| true),
                    }
                } else {
                    Selection::Range {
                        prefix: "",
                        accept: Box::new(move |v| !v.starts_with(p)),
                    }
                };
            }
            Selection::Range {
                prefix: "",
                accept: Box::new(move |v| m.matches(v) == matching),
            }
        }
    }
}

fn postings_for<'s, S: PostingsSource + ?Sized>(
    ix: &'s S,
    name: &str,
    sel: &Selection<'_>,
) -> Result<Cow<'s, RoaringBitmap>, IndexError> {
    Ok(match sel {
        Selection::Nothing => Cow::Owned(RoaringBitmap::new()),
        Selection::AnyValue => ix.postings_for_label(name)?,
        Selection::Value(v) => ix.postings_bitmap(name, v)?,
        Selection::Values(vs) => Cow::Owned(ix.postings_for_values(name, vs)?),
        Selection::Range { prefix, accept } => {
            Cow::Owned(ix.postings_matching(name, prefix, accept.as_ref())?)
        }
    })
}

/// The IDs of the series that every matcher accepts, with Prometheus'
/// semantics (a missing label matches as the empty string). An empty
/// matcher list selects nothing, as in Prometheus.
pub fn postings_for_matchers<S: PostingsSource + ?Sized>(
    ix: &S,
    matchers: &[Matcher],
) -> Result<RoaringBitmap, IndexError> {
    if matchers.is_empty() {
        return Ok(RoaringBitmap::new());
    }
    let must_be_set = |name: &str| {
        matchers
            .iter()
            .any(|m| m.name() == name && !m.matches_empty())
    };
    let mut intersect: Vec<(&str, Selection<'_>)> = Vec::new();
    let mut subtract: Vec<(&str, Selection<'_>)> = Vec::new();
    for m in matchers {
        let is_not = matches!(m.op(), MatchOp::NotEqual | MatchOp::NotRegex);
        let subtracting = m.matches_empty() && (is_not || !must_be_set(m.name()));
        if subtracting {
            match select(m, false) {
                Selection::Nothing => {}
                sel => subtract.push((m.name(), sel)),
            }
        } else if !(m.op() == MatchOp::Regex && m.value() == ".*") {
            // `=~".*"` adds nothing: another matcher already forces the label.
            intersect.push((m.name(), select(m, true)));
        }
    }
    intersect.sort_by_key(|(_, sel)| sel.cost());

    let mut acc: Option<RoaringBitmap> = None;
    for (name, sel) in &intersect {
        let p = postings_for(ix, name, sel)?;
        let next = match acc {
            None => p.into_owned(),
            Some(mut a) => {
                a &= p.as_ref();
                a
            }
        };
        if next.is_empty() {
            return Ok(next);
        }
        acc = Some(next);
    }
    let mut acc = match acc {
        Some(a) => a,
        None => ix.all_postings()?.into_owned(),
    };
    subtract.sort_by_key(|(_, sel)| sel.cost());
    for (name, sel) in &subtract {
        if acc.is_empty() {
            break;
        }
        acc -= postings_for(ix, name, sel)?.as_ref();
    }
    Ok(acc)
}

/// The sorted label names of the series the matchers select; with no
/// matchers, every label name (the `/api/v1/labels` semantics).
pub fn label_names_for_matchers<S: PostingsSource + ?Sized>(
    ix: &S,
    matchers: &[Matcher],
) -> Result<Vec<String>, IndexError> {
    if matchers.is_empty() {
        return ix.label_names();
    }
    let set = postings_for_matchers(ix, matchers)?;
    if set.is_empty() {
        return Ok(Vec::new());
    }
    ix.label_names_within(&set)
}

/// The sorted values of label `name` among the series the matchers select;
/// with no matchers, every value (the `/api/v1/label/<name>/values`
/// semantics). As in Prometheus, matchers on `name` itself first filter the
/// values directly, and postings are consulted only when other labels are
/// matched too.
pub fn label_values_for_matchers<S: PostingsSource + ?Sized>(
    ix: &S,
    name: &str,
    matchers: &[Matcher],
) -> Result<Vec<String>, IndexError> {
    let accept = |v: &str| {
        matchers
            .iter()
            .filter(|m| m.name() == name)
            .all(|m| m.matches(v))
    };
    if matchers.iter().all(|m| m.name() == name) {
        let mut values = ix.label_values(name)?;
        values.retain(|v| accept(v));
        return Ok(values);
    }
    let set = postings_for_matchers(ix, matchers)?;
    if set.is_empty() {
        return Ok(Vec::new());
    }
    ix.label_values_within(name, &accept, &set)
}
