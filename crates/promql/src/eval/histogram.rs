//! The little native-histogram arithmetic the float engine needs: native
//! histogram math is not implemented yet, histograms are only carried
//! through selectors and simple operators.

use ember_model::FloatHistogram;

/// Multiplies every count and the sum by `factor`.
pub(crate) fn scale(h: &mut FloatHistogram, factor: f64) {
    h.count *= factor;
    h.sum *= factor;
    h.zero_count *= factor;
    for b in h
        .positive_buckets
        .iter_mut()
        .chain(h.negative_buckets.iter_mut())
    {
        *b *= factor;
    }
}
