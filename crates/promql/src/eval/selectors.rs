//! Reading selected series: instant vector selectors with lookback and
//! staleness, `smoothed` interpolation, range windows.

use std::sync::Arc;

use ember_model::is_stale_nan;
use ember_storage::{SampleIterator, Series as StorageSeries, ValueType};

use super::annotations;
use super::engine::Evaluator;
use super::plan::Selector;
use super::types::{FPoint, HPoint, Hist, Matrix, Series};
use super::QueryError;

/// How many steps a loop runs between checks for cancellation.
pub(crate) const CHECK_EVERY: usize = 4096;

/// A sample's value.
#[derive(Debug, Clone)]
pub(crate) enum SampleVal {
    Float(f64),
    Hist(Hist),
}

impl SampleVal {
    fn is_stale(&self) -> bool {
        match self {
            SampleVal::Float(f) => is_stale_nan(*f),
            SampleVal::Hist(h) => is_stale_nan(h.sum),
        }
    }
}

fn storage_error(e: &ember_storage::StorageError) -> QueryError {
    QueryError::Storage(e.to_string())
}

/// Reads the current sample of an iterator.
fn read(it: &dyn SampleIterator, vt: ValueType) -> Option<(i64, SampleVal)> {
    match vt {
        ValueType::None => None,
        ValueType::Float => {
            let (t, f) = it.at();
            Some((t, SampleVal::Float(f)))
        }
        ValueType::Histogram | ValueType::FloatHistogram => {
            let (t, h) = it.at_float_histogram();
            Some((t, SampleVal::Hist(h)))
        }
    }
}

/// Looks up instant values of one series at increasing times.
pub(crate) struct LookbackReader<'a> {
    it: Box<dyn SampleIterator + 'a>,
    last: Option<(i64, SampleVal, i64)>,
    pending: Option<(i64, SampleVal, i64)>,
    started: bool,
    exhausted: bool,
}

impl<'a> LookbackReader<'a> {
    /// A reader over `s`.
    pub fn new(s: &'a dyn StorageSeries) -> Self {
        LookbackReader {
            it: s.iter(),
            last: None,
            pending: None,
            started: false,
            exhausted: false,
        }
    }

    /// The newest sample in `(ref_time - lookback, ref_time]` with its
    /// timestamp and start timestamp (0 when unknown), unless it is a
    /// staleness marker. `ref_time` must not decrease between calls.
    pub fn value_at(
        &mut self,
        ref_time: i64,
        lookback: i64,
    ) -> Result<Option<(i64, SampleVal, i64)>, QueryError> {
        let lo = ref_time.saturating_sub(lookback);
        loop {
            match &self.pending {
                Some((t, _, _)) if *t <= ref_time => self.last = self.pending.take(),
                Some(_) => break,
                None if self.exhausted => break,
                None => {
                    let seek = !self.started || self.last.as_ref().is_none_or(|l| l.0 <= lo);
                    let vt = if seek {
                        self.it.seek(lo.saturating_add(1))
                    } else {
                        self.it.next()
                    };
                    self.started = true;
                    match read(&*self.it, vt) {
                        Some((t, v)) => {
                            self.pending = Some((t, v, self.it.at_start().unwrap_or(0)));
                        }
                        None => {
                            if let Some(e) = self.it.error() {
                                return Err(storage_error(e));
                            }
                            self.exhausted = true;
                        }
                    }
                }
            }
        }
        Ok(match &self.last {
            Some((t, v, st)) if *t > lo && !v.is_stale() => Some((*t, v.clone(), *st)),
            _ => None,
        })
    }
}

impl LookbackReader<'_> {
    /// After [`Self::value_at`] found nothing: the earliest time a later
    /// lookup can find a value at, or `None` if none can.
    pub fn next_useful(&self) -> Option<i64> {
        if !self.started {
            return Some(i64::MIN);
        }
        self.pending.as_ref().map(|p| p.0)
    }
}

/// The non-stale samples of `s` in `(mint, maxt]`, appended to the buffers.
pub(crate) fn load_range(
    s: &dyn StorageSeries,
    mint: i64,
    maxt: i64,
    floats: &mut Vec<FPoint>,
    hists: &mut Vec<HPoint>,
) -> Result<(), QueryError> {
    load_range_st(s, mint, maxt, floats, hists, None)
}

/// [`load_range`], also collecting the start timestamp (0 when unknown) of
/// each float sample.
pub(crate) fn load_range_st(
    s: &dyn StorageSeries,
    mint: i64,
    maxt: i64,
    floats: &mut Vec<FPoint>,
    hists: &mut Vec<HPoint>,
    mut sts: Option<&mut Vec<i64>>,
) -> Result<(), QueryError> {
    if maxt <= mint {
        return Ok(());
    }
    let mut it = s.iter();
    let mut vt = it.seek(mint.saturating_add(1));
    while let Some((t, v)) = read(&*it, vt) {
        if t > maxt {
            break;
        }
        if t > mint && !v.is_stale() {
            match v {
                SampleVal::Float(f) => {
                    floats.push(FPoint { t, f });
                    if let Some(sts) = sts.as_deref_mut() {
                        sts.push(it.at_start().unwrap_or(0));
                    }
                }
                SampleVal::Hist(h) => hists.push(HPoint { t, h }),
            }
        }
        vt = it.next();
    }
    if let Some(e) = it.error() {
        return Err(storage_error(e));
    }
    Ok(())
}

/// Linear interpolation between two points at `t`; for counters a
/// decrease counts as a reset from zero.
pub(crate) fn interpolate(p1: FPoint, p2: FPoint, t: i64, is_counter: bool) -> f64 {
    let mut y1 = p1.f;
    let y2 = p2.f;
    if is_counter && y2 < y1 {
        y1 = 0.0;
    }
    y1 + (y2 - y1) * (t - p1.t) as f64 / (p2.t - p1.t) as f64
}

/// Prometheus' `extendFloats`: the points of an `anchored` or `smoothed`
/// window, with synthetic points at both boundaries.
pub(crate) fn extend_floats(
    floats: &[FPoint],
    mint: i64,
    maxt: i64,
    smoothed: bool,
) -> Vec<FPoint> {
    if floats.is_empty() {
        return Vec::new();
    }
    let mut last = floats.len() - 1;
    let first = floats[..last]
        .partition_point(|p| p.t <= mint)
        .saturating_sub(1);
    if smoothed {
        last = floats[..last].partition_point(|p| p.t < maxt);
    }
    if floats[last].t <= mint {
        return Vec::new();
    }
    let left = pick_left(floats, first, mint, smoothed, false);
    let right = pick_right(floats, last, maxt, smoothed, false);
    let mut lo = first;
    if floats[lo].t <= mint {
        lo += 1;
    }
    let mut hi = last as i64;
    if floats[last].t >= maxt {
        hi -= 1;
    }
    let mut out = Vec::with_capacity(floats.len() + 2);
    out.push(FPoint { t: mint, f: left });
    if hi >= lo as i64 {
        out.extend_from_slice(&floats[lo..=hi as usize]);
    }
    out.push(FPoint { t: maxt, f: right });
    out
}

/// The value at the left boundary of a window.
pub(crate) fn pick_left(
    floats: &[FPoint],
    first: usize,
    range_start: i64,
    smoothed: bool,
    is_counter: bool,
) -> f64 {
    if smoothed && floats[first].t < range_start && first + 1 < floats.len() {
        return interpolate(floats[first], floats[first + 1], range_start, is_counter);
    }
    floats[first].f
}

/// The value at the right boundary of a window.
pub(crate) fn pick_right(
    floats: &[FPoint],
    last: usize,
    range_end: i64,
    smoothed: bool,
    is_counter: bool,
) -> f64 {
    if smoothed && last > 0 && floats[last].t > range_end {
        return interpolate(floats[last - 1], floats[last], range_end, is_counter);
    }
    floats[last].f
}

impl Evaluator<'_, '_> {
    /// Prometheus' `evalSeries`: the value of each selected series at each
    /// step, looking back at most the lookback delta.
    pub fn eval_series(&mut self, sel: &Selector) -> Result<Matrix, QueryError> {
        let offset = self.offset_of(sel.oid);
        let lookback = self.ctx.lookback;
        let steps = self.steps();
        let mut out = Vec::new();
        for s in self.selected(sel) {
            self.ctx.check_done(super::engine::EVAL_ENV)?;
            let mut r = LookbackReader::new(&**s);
            let mut ser = Series::new(s.labels().clone(), false);
            let mut steps = steps;
            let mut i = 0usize;
            while let Some(ts) = steps.next() {
                i += 1;
                if i.is_multiple_of(CHECK_EVERY) {
                    self.ctx.check_done(super::engine::EVAL_ENV)?;
                }
                let Some((_, v, _)) = r.value_at(ts.saturating_sub(offset), lookback)? else {
                    // Jump to the first step that can see the next sample.
                    match r.next_useful() {
                        Some(t) => steps.skip_to(t.saturating_add(offset)),
                        None => break,
                    }
                    continue;
                };
                self.add_samples(1)?;
                match v {
                    SampleVal::Float(f) => ser.floats.push(FPoint { t: ts, f }),
                    SampleVal::Hist(h) => ser.hists.push(HPoint { t: ts, h }),
                }
            }
            if ser.len() > 0 {
                out.push(ser);
            }
        }
        Ok(out)
    }

    /// Prometheus' `smoothSeries`: values interpolated between the samples
    /// around each step.
    pub fn smooth_series(&mut self, sel: &Selector) -> Result<Matrix, QueryError> {
        let offset = self.offset_of(sel.oid);
        let lb = self.ctx.lookback;
        let steps = self.steps();
        let (first, last) = match (steps.clone().next(), steps.last()) {
            (Some(f), Some(l)) => (f, l),
            _ => return Ok(Vec::new()),
        };
        let mut out = Vec::new();
        let mut floats = Vec::new();
        let mut hists = Vec::new();
        for s in self.selected(sel) {
            self.ctx.check_done(super::engine::EVAL_ENV)?;
            floats.clear();
            hists.clear();
            load_range(
                &**s,
                first.saturating_sub(offset).saturating_sub(lb),
                last.saturating_sub(offset).saturating_add(lb),
                &mut floats,
                &mut hists,
            )?;
            let name = s.labels().metric_name().unwrap_or("").to_string();
            let mut ser = Series::new(s.labels().clone(), false);
            for ts in steps {
                let data_ts = ts.saturating_sub(offset);
                let (lo, hi) = (data_ts.saturating_sub(lb), data_ts.saturating_add(lb));
                let f = window(&floats, lo, hi);
                let h = window_h(&hists, lo, hi);
                if f.is_empty() && h.is_empty() {
                    continue;
                }
                if !f.is_empty() && !h.is_empty() {
                    self.ctx
                        .annotate(annotations::mixed_floats_histograms(&name, sel.pos));
                    continue;
                }
                if !h.is_empty() {
                    let i = h.partition_point(|p| p.t < data_ts);
                    if i < h.len() && h[i].t == data_ts {
                        ser.hists.push(HPoint {
                            t: ts,
                            h: h[i].h.clone(),
                        });
                    } else if i > 0 {
                        let mut hh = (*h[i - 1].h).clone();
                        hh.counter_reset_hint = ember_model::CounterResetHint::Unknown;
                        ser.hists.push(HPoint {
                            t: ts,
                            h: Arc::new(hh),
                        });
                    }
                    continue;
                }
                let i = f.partition_point(|p| p.t < data_ts);
                if i < f.len() && f[i].t == data_ts {
                    ser.floats.push(FPoint { t: ts, f: f[i].f });
                } else if i > 0 && i < f.len() {
                    ser.floats.push(FPoint {
                        t: ts,
                        f: interpolate(f[i - 1], f[i], data_ts, false),
                    });
                } else if i > 0 {
                    ser.floats.push(FPoint {
                        t: ts,
                        f: f[i - 1].f,
                    });
                }
            }
            if ser.len() > 0 {
                out.push(ser);
            }
        }
        Ok(out)
    }

    /// Prometheus' `matrixSelector`: a range vector at the (single) step.
    pub fn matrix_selector(&mut self, sel: &Selector, range: i64) -> Result<Matrix, QueryError> {
        let offset = self.offset_of(sel.oid);
        let lb = self.ctx.lookback;
        let maxt0 = self.start.saturating_sub(offset);
        let mint0 = maxt0.saturating_sub(range);
        let (mut mint, mut maxt) = (mint0, maxt0);
        if sel.anchored {
            mint = mint.saturating_sub(lb);
        } else if sel.smoothed {
            mint = mint.saturating_sub(lb);
            maxt = maxt.saturating_add(lb);
        }
        let mut out = Vec::new();
        for s in self.selected(sel) {
            self.ctx.check_done(super::engine::EVAL_ENV)?;
            let mut ser = Series::new(s.labels().clone(), false);
            load_range(&**s, mint, maxt, &mut ser.floats, &mut ser.hists)?;
            self.add_samples(ser.len())?;
            if sel.anchored || sel.smoothed {
                if !ser.hists.is_empty() {
                    let which = if sel.anchored { "anchored" } else { "smoothed" };
                    return Err(QueryError::Evaluation(format!(
                        "{which} modifier is not supported with histograms"
                    )));
                }
                ser.floats = extend_floats(&ser.floats, mint0, maxt0, sel.smoothed);
            }
            if ser.len() > 0 {
                out.push(ser);
            }
        }
        Ok(out)
    }
}

/// The points in `(mint, maxt]`.
pub(crate) fn window(f: &[FPoint], mint: i64, maxt: i64) -> &[FPoint] {
    let lo = f.partition_point(|p| p.t <= mint);
    let hi = f.partition_point(|p| p.t <= maxt);
    &f[lo..hi.max(lo)]
}

/// The histogram points in `(mint, maxt]`.
pub(crate) fn window_h(h: &[HPoint], mint: i64, maxt: i64) -> &[HPoint] {
    let lo = h.partition_point(|p| p.t <= mint);
    let hi = h.partition_point(|p| p.t <= maxt);
    &h[lo..hi.max(lo)]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pts(v: &[(i64, f64)]) -> Vec<FPoint> {
        v.iter().map(|&(t, f)| FPoint { t, f }).collect()
    }

    #[test]
    fn extend() {
        let f = pts(&[(5, 1.0), (15, 2.0), (25, 3.0)]);
        // Anchored at 10..20 (the window holds no sample after 20): the
        // sample before the start is the left value, the last the right.
        assert_eq!(
            extend_floats(&f[..2], 10, 20, false),
            pts(&[(10, 1.0), (15, 2.0), (20, 2.0)])
        );
        // Smoothed: interpolated at both ends.
        assert_eq!(
            extend_floats(&f, 10, 20, true),
            pts(&[(10, 1.5), (15, 2.0), (20, 2.5)])
        );
    }
}
