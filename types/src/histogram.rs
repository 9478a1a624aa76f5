//! Fixed-bucket histograms, counted the way Prometheus exposes them: a
//! count per bucket and the sum of what was observed. The dataplane counts
//! session lifetimes into them as sessions end, the appliance counts each
//! service's new connections per second; both cross the control socket as
//! they are and become `_bucket`/`_sum`/`_count` series in `/metrics`.
//!
//! Buckets are fixed per kind ([`Buckets`]), so histograms of one kind from
//! every worker add up bucket by bucket, and the label set of `/metrics`
//! stays bounded (one series per bucket and service).

/// The buckets of one kind of histogram: inclusive upper bounds (`le`) in
/// the unit values are counted in, ascending, and how many of that unit
/// make the exposed unit (1000 for milliseconds exposed as seconds). One
/// more bucket, above every bound, is `+Inf`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Buckets {
    pub bounds: &'static [u64],
    pub per_exposed_unit: u64,
}

/// How long sessions lived in the table, from creation to removal, in
/// milliseconds (exposed in seconds): from 100 ms, the table's tick, to a
/// day. A session removed by its timer lived its last idle timeout too.
pub const SESSION_LIFETIME_MS: Buckets = Buckets {
    bounds: &[
        100, 1_000, 5_000, 10_000, 30_000, 60_000, 120_000, 300_000, 900_000, 3_600_000,
        14_400_000, 86_400_000,
    ],
    per_exposed_unit: 1000,
};

/// A service's new connections in one second, sampled once a second.
pub const NEW_CONNECTIONS_PER_SECOND: Buckets = Buckets {
    bounds: &[0, 1, 10, 100, 1_000, 10_000, 100_000, 1_000_000],
    per_exposed_unit: 1,
};

/// Observations by bucket. `counts` has one entry per bound of its
/// [`Buckets`] plus one for `+Inf` (not cumulative: each value is counted
/// once, in the first bucket whose bound it does not exceed).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Histogram {
    pub counts: Vec<u64>,
    /// The sum of every value observed, in the counted unit.
    pub sum: u64,
}

impl Histogram {
    /// An empty histogram with room for `buckets` (the only allocation:
    /// [`observe`](Self::observe) never allocates).
    pub fn new(buckets: &Buckets) -> Histogram {
        Histogram {
            counts: vec![0; buckets.bounds.len() + 1],
            sum: 0,
        }
    }

    /// Counts `value`. A histogram not made for `buckets` (another length)
    /// counts nothing rather than grow.
    #[inline]
    pub fn observe(&mut self, buckets: &Buckets, value: u64) {
        let i = buckets.bounds.partition_point(|&bound| bound < value);
        if self.counts.len() == buckets.bounds.len() + 1 {
            if let Some(n) = self.counts.get_mut(i) {
                *n += 1;
                self.sum = self.sum.saturating_add(value);
            }
        }
    }

    /// Observations in all.
    pub fn count(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// Adds another histogram of the same buckets into this one (an empty
    /// one takes the other's length).
    pub fn add(&mut self, other: &Histogram) {
        if self.counts.len() < other.counts.len() {
            self.counts.resize(other.counts.len(), 0);
        }
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a += b;
        }
        self.sum = self.sum.saturating_add(other.sum);
    }

    /// Empties it, keeping its buckets.
    pub fn clear(&mut self) {
        self.counts.iter_mut().for_each(|n| *n = 0);
        self.sum = 0;
    }

    /// Prometheus' cumulative buckets: (`le` text in the exposed unit,
    /// observations at or below it), ending with `+Inf` and the count.
    pub fn cumulative(&self, buckets: &Buckets) -> Vec<(String, u64)> {
        let mut total = 0;
        let mut out = Vec::with_capacity(buckets.bounds.len() + 1);
        for (i, &bound) in buckets.bounds.iter().enumerate() {
            total += self.counts.get(i).copied().unwrap_or(0);
            out.push((exposed(bound, buckets.per_exposed_unit), total));
        }
        out.push(("+Inf".to_string(), self.count()));
        out
    }
}

/// `value / per` as exact decimal text ("0.1", "5", "1.25"), with no
/// floating-point noise in label values; `per` is a power of ten.
pub fn exposed(value: u64, per: u64) -> String {
    let per = per.max(1);
    let (whole, mut rest) = (value / per, value % per);
    if rest == 0 {
        return whole.to_string();
    }
    let mut digits = String::new();
    let mut scale = per;
    while rest != 0 && scale > 1 {
        scale /= 10;
        if scale == 0 {
            break;
        }
        digits.push(char::from(b'0' + (rest / scale) as u8));
        rest %= scale;
    }
    format!("{whole}.{digits}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_lands_in_the_first_bucket_whose_bound_it_does_not_exceed() {
        let b = SESSION_LIFETIME_MS;
        let mut h = Histogram::new(&b);
        for v in [0, 100, 101, 1_000, 86_400_000, 86_400_001, u64::MAX] {
            h.observe(&b, v);
        }
        assert_eq!(h.counts[0], 2, "0 and 100 are <= 0.1 s");
        assert_eq!(h.counts[1], 2, "101 and 1000 are in (0.1, 1]");
        assert_eq!(h.counts[11], 1, "a day exactly is in the last bound");
        assert_eq!(h.counts[12], 2, "beyond a day is +Inf");
        assert_eq!(h.count(), 7);
        assert_eq!(h.sum, u64::MAX, "the sum saturates");
    }

    #[test]
    fn cumulative_buckets_end_with_inf_and_the_count() {
        let b = NEW_CONNECTIONS_PER_SECOND;
        let mut h = Histogram::new(&b);
        for v in [0, 0, 5, 50, 2_000_000] {
            h.observe(&b, v);
        }
        let c = h.cumulative(&b);
        assert_eq!(c[0], ("0".to_string(), 2));
        assert_eq!(c[1], ("1".to_string(), 2));
        assert_eq!(c[2], ("10".to_string(), 3));
        assert_eq!(c[3], ("100".to_string(), 4));
        assert_eq!(c[7], ("1000000".to_string(), 4));
        assert_eq!(c[8], ("+Inf".to_string(), 5));
        assert_eq!(h.sum, 2_000_055);
    }

    #[test]
    fn histograms_add_bucket_by_bucket_and_clear() {
        let b = SESSION_LIFETIME_MS;
        let (mut x, mut y) = (Histogram::new(&b), Histogram::new(&b));
        x.observe(&b, 50);
        y.observe(&b, 50);
        y.observe(&b, 7_000);
        let mut total = Histogram::default();
        total.add(&x);
        total.add(&y);
        assert_eq!(total.counts.len(), 13);
        assert_eq!((total.counts[0], total.counts[3], total.sum), (2, 1, 7_100));
        total.clear();
        assert_eq!((total.count(), total.sum, total.counts.len()), (0, 0, 13));
    }

    #[test]
    fn a_histogram_of_other_buckets_counts_nothing() {
        let mut h = Histogram::default();
        h.observe(&SESSION_LIFETIME_MS, 5);
        assert_eq!((h.count(), h.sum, h.counts.len()), (0, 0, 0));
    }

    #[test]
    fn exposed_values_are_exact_decimals() {
        assert_eq!(exposed(100, 1000), "0.1");
        assert_eq!(exposed(1_250, 1000), "1.25");
        assert_eq!(exposed(86_400_000, 1000), "86400");
        assert_eq!(exposed(7, 1), "7");
        assert_eq!(exposed(5, 1000), "0.005");
    }
}
