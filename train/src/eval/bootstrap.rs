//! Paired bootstrap intervals of the evaluation's figures.
//!
//! One resample draws the evaluated prompts of a dataset with replacement (`n` draws out
//! of `n`); every method and both views are measured on that same resample, so a
//! router-minus-baseline difference is paired. Resampling prompts never changes a
//! prompt's choice at a given λ or its place in a threshold ranking, so the per-prompt
//! pieces (realised quality and cost of the choice at each λ, strong/weak outcomes in
//! score order) are computed once and a resample only re-weights them: a prompt drawn
//! `k` times weighs `k`.
//!
//! Intervals are percentile intervals (2.5% and 97.5% of the resampled figure). A figure
//! that can be "never" (CPT, cost to match the best single model) counts as +∞ in a
//! resample where it is never reached, so an upper bound can be "never"; a figure that is
//! undefined in a resample (APGR without a strong–weak gap) leaves that resample out of
//! its interval, and the number left out is recorded.
//!
//! Resample `b` is drawn from its own generator seeded by (seed, dataset, b): the result
//! does not depend on threads or on which datasets are evaluated.

use rayon::prelude::*;
use serde::Serialize;

use super::metrics::{
    CostQuality, MultiSummary, PairOutcome, PairSummary, first_crossing, summarize_multi, trapezoid,
};

/// Default number of resamples.
pub const DEFAULT_RESAMPLES: usize = 1000;
/// Default seed of the resampling.
pub const DEFAULT_SEED: u64 = 0x5EED_B007;
/// Coverage of the intervals.
pub const LEVEL: f64 = 0.95;

/// The training loop's generator (SplitMix64), also drawing the resamples' prompt indices.
pub use crate::training::SplitMix64;

/// FNV-1a of a dataset key: a stable per-dataset salt of the seed.
fn salt(key: &str) -> u64 {
    key.bytes().fold(0xCBF2_9CE4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01B3)
    })
}

/// How many times each of `n` prompts is drawn in resample `b`.
pub fn resample_counts(seed: u64, key: &str, b: usize, n: usize) -> Vec<u32> {
    let mut rng =
        SplitMix64::new(seed ^ salt(key) ^ (b as u64).wrapping_mul(0xA24B_AED4_963E_E407));
    let mut counts = vec![0u32; n];
    for _ in 0..n {
        counts[rng.below(n)] += 1;
    }
    counts
}

/// Settings of a bootstrap run.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Settings {
    /// Resamples (0: no intervals).
    pub resamples: usize,
    pub seed: u64,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            resamples: DEFAULT_RESAMPLES,
            seed: DEFAULT_SEED,
        }
    }
}

/// What a missing value means for a figure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Missing {
    /// Never reached: +∞ in the ordering (CPT, cost to match).
    Never,
    /// Undefined: the resample is left out of this figure's interval.
    Undefined,
}

/// A percentile interval. `None` bounds: `hi = None` is "never" (the figure is not reached
/// in more than 2.5% of the resamples); both `None` when no resample defines the figure.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Interval {
    pub lo: Option<f64>,
    pub hi: Option<f64>,
    /// Resamples where the figure was never reached (counted as +∞) or undefined (left out).
    pub missing: usize,
}

/// Percentile interval of `values` (one per resample).
pub fn percentile_interval(values: &[Option<f64>], missing: Missing) -> Interval {
    let mut v: Vec<f64> = match missing {
        Missing::Never => values
            .iter()
            .map(|x| x.filter(|x| x.is_finite()).unwrap_or(f64::INFINITY))
            .collect(),
        Missing::Undefined => values
            .iter()
            .filter_map(|x| x.filter(|x| x.is_finite()))
            .collect(),
    };
    let missing_count = values
        .iter()
        .filter(|x| x.is_none_or(|x| !x.is_finite()))
        .count();
    if v.is_empty() {
        return Interval {
            lo: None,
            hi: None,
            missing: missing_count,
        };
    }
    v.sort_by(f64::total_cmp);
    let alpha = (1.0 - LEVEL) / 2.0;
    let q = |p: f64| {
        // Linear interpolation between order statistics (numpy's default).
        let pos = p * (v.len() - 1) as f64;
        let (i, frac) = (pos.floor() as usize, pos - pos.floor());
        let (a, b) = (v[i], v[(i + 1).min(v.len() - 1)]);
        let x = if frac == 0.0 || a == b {
            a
        } else {
            a + frac * (b - a)
        };
        x.is_finite().then_some(x)
    };
    Interval {
        lo: q(alpha),
        hi: q(1.0 - alpha),
        missing: missing_count,
    }
}

// --- Two-model view -------------------------------------------------------------------

/// One method's threshold ranking, ready to be re-weighted: tie groups in score order,
/// each a list of (evaluated-prompt position, outcome).
#[derive(Debug, Clone, Default)]
pub struct PairRanking {
    groups: Vec<Vec<(usize, PairOutcome)>>,
}

impl PairRanking {
    /// From a method's router scores and outcomes (as [`super::sweep::pair_inputs`] gives
    /// them) and the evaluated-prompt position of each. The order and tie rule are
    /// [`super::metrics::pair_curve`]'s.
    pub fn new(positions: &[usize], scores: &[f64], outcomes: &[PairOutcome]) -> Self {
        let n = positions.len().min(scores.len()).min(outcomes.len());
        let key = |s: f64| if s.is_nan() { f64::NEG_INFINITY } else { s };
        let mut order: Vec<usize> = (0..n).collect();
        order.sort_by(|&a, &b| key(scores[b]).total_cmp(&key(scores[a])));
        let mut groups: Vec<Vec<(usize, PairOutcome)>> = Vec::new();
        let mut last = None;
        for i in order {
            let k = key(scores[i]);
            if last != Some(k) || groups.is_empty() {
                groups.push(Vec::new());
                last = Some(k);
            }
            if let Some(g) = groups.last_mut() {
                g.push((positions[i], outcomes[i]));
            }
        }
        Self { groups }
    }

    /// APGR and CPTs with prompt weights `w` (by evaluated-prompt position). With unit
    /// weights this is `summarize_pair(&pair_curve(scores, outcomes))`: inside a tie
    /// group the curve is a straight line, so its end points carry the same area and the
    /// same crossings.
    pub fn summary(&self, w: &[u32]) -> PairSummary {
        let weight = |p: usize| f64::from(w.get(p).copied().unwrap_or(0));
        let mut n = 0.0;
        let mut base = 0.0;
        for g in &self.groups {
            for &(p, o) in g {
                n += weight(p);
                base += weight(p) * o.weak;
            }
        }
        let undefined = PairSummary {
            apgr: None,
            cpt50: None,
            cpt80: None,
        };
        if n <= 0.0 {
            return undefined;
        }
        let mut fraction = vec![0.0];
        let mut quality = vec![base / n];
        let (mut taken, mut gain) = (0.0, 0.0);
        for g in &self.groups {
            let gw: f64 = g.iter().map(|&(p, _)| weight(p)).sum();
            if gw == 0.0 {
                continue;
            }
            taken += gw;
            gain += g
                .iter()
                .map(|&(p, o)| weight(p) * (o.strong - o.weak))
                .sum::<f64>();
            fraction.push(taken / n);
            quality.push((base + gain) / n);
        }
        let (q_weak, q_strong) = (quality[0], quality[quality.len() - 1]);
        let gap = q_strong - q_weak;
        if gap <= 1e-12 {
            return undefined;
        }
        let pgr: Vec<f64> = quality.iter().map(|q| (q - q_weak) / gap).collect();
        PairSummary {
            apgr: Some(trapezoid(&fraction, &pgr)),
            cpt50: first_crossing(&fraction, &pgr, 0.5),
            cpt80: first_crossing(&fraction, &pgr, 0.8),
        }
    }
}

// --- Multi-model view -----------------------------------------------------------------

/// Realised (quality, cost) per evaluated prompt; `None` where nothing was chosen or the
/// model is not labelled.
pub type Outcomes = Vec<Option<(f64, f64)>>;

/// Weighted mean operating point of `outcomes`; `None` when no drawn prompt has one.
pub fn weighted_point(outcomes: &[Option<(f64, f64)>], w: &[u32]) -> Option<CostQuality> {
    let (mut q, mut c, mut n) = (0.0, 0.0, 0.0);
    for (o, &k) in outcomes.iter().zip(w) {
        if let (Some((quality, cost)), true) = (o, k > 0) {
            let k = f64::from(k);
            q += k * quality;
            c += k * cost;
            n += k;
        }
    }
    (n > 0.0).then(|| CostQuality {
        cost: c / n,
        quality: q / n,
    })
}

/// One method of the multi-model view: the realised outcome of its choice per λ.
#[derive(Debug, Clone)]
pub struct SweepOutcomes {
    pub method: String,
    /// `per_lambda[l][i]`: outcome of the choice for evaluated prompt `i` at the l-th λ.
    pub per_lambda: Vec<Outcomes>,
}

/// Everything the multi-model summaries are computed from, by evaluated prompt.
#[derive(Debug, Clone)]
pub struct MultiInputs {
    /// Single candidates (name, outcome per prompt where labelled).
    pub singles: Vec<(String, Outcomes)>,
    /// Expected outcome of a uniformly random labelled candidate per prompt.
    pub random: Outcomes,
    /// The methods' sweeps, in display order; `oracle` is followed by best_single,
    /// cheapest and zero_router, as in the point estimates.
    pub sweeps: Vec<SweepOutcomes>,
}

impl MultiInputs {
    /// The summaries of every method with prompt weights `w`, in the order and with the
    /// definitions of the point estimates (best and cheapest single re-chosen on the
    /// resample); `None` when fewer than three singles have a point here.
    pub fn summaries(&self, w: &[u32]) -> Option<Vec<(String, MultiSummary)>> {
        let singles: Vec<CostQuality> = self
            .singles
            .iter()
            .filter_map(|(_, o)| weighted_point(o, w))
            .collect();
        if singles.len() < 3 {
            return None;
        }
        let best = *singles.iter().max_by(|a, b| {
            a.quality
                .total_cmp(&b.quality)
                .then(b.cost.total_cmp(&a.cost))
        })?;
        let cheap = *singles.iter().min_by(|a, b| a.cost.total_cmp(&b.cost))?;
        let cost_lo = singles.iter().map(|s| s.cost).fold(f64::INFINITY, f64::min);
        let cost_hi = singles.iter().map(|s| s.cost).fold(0.0, f64::max);
        let mut out = Vec::new();
        for s in &self.sweeps {
            let points: Vec<CostQuality> = s
                .per_lambda
                .iter()
                .map(|o| {
                    weighted_point(o, w).unwrap_or(CostQuality {
                        cost: 0.0,
                        quality: 0.0,
                    })
                })
                .collect();
            let q_max = points.first().map_or(0.0, |p| p.quality);
            out.push((
                s.method.clone(),
                summarize_multi(&points, best, cost_lo, cost_hi, q_max),
            ));
            if s.method == "oracle" {
                out.push((
                    "best_single".into(),
                    summarize_multi(&[best], best, cost_lo, cost_hi, best.quality),
                ));
                out.push((
                    "cheapest".into(),
                    summarize_multi(&[cheap], best, cost_lo, cost_hi, cheap.quality),
                ));
                if let Some(r) = weighted_point(&self.random, w) {
                    out.push((
                        "random".into(),
                        summarize_multi(&[r], best, cost_lo, cost_hi, r.quality),
                    ));
                }
                out.push((
                    "zero_router".into(),
                    summarize_multi(&singles, best, cost_lo, cost_hi, best.quality),
                ));
            }
        }
        Some(out)
    }
}

// --- Figures and their intervals ------------------------------------------------------

/// Names of a two-model summary's figures, and whether "missing" means never.
pub const PAIR_FIGURES: [(&str, Missing); 3] = [
    ("apgr", Missing::Undefined),
    ("cpt50", Missing::Never),
    ("cpt80", Missing::Never),
];

/// Names of a multi-model summary's figures.
pub const MULTI_FIGURES: [(&str, Missing); 4] = [
    ("aiq", Missing::Undefined),
    ("quality_at_best_single_cost", Missing::Undefined),
    ("cost_to_match_best_single", Missing::Never),
    ("quality_max", Missing::Undefined),
];

pub fn pair_values(s: &PairSummary) -> [Option<f64>; 3] {
    [s.apgr, s.cpt50, s.cpt80]
}

pub fn multi_values(s: &MultiSummary) -> [Option<f64>; 4] {
    [
        s.aiq,
        s.quality_at_best_single_cost,
        s.cost_to_match_best_single,
        Some(s.quality_max),
    ]
}

/// Methods the router is compared with (router − baseline), per view.
pub const PAIR_BASELINES: [&str; 2] = ["category_prior", "knn"];
pub const MULTI_BASELINES: [&str; 3] = ["category_prior", "knn", "best_single"];

/// A router-minus-baseline difference of one figure: the point estimate and its interval.
/// Resamples where either side is missing (never reached or undefined) are left out.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Difference {
    pub estimate: Option<f64>,
    pub ci95: Interval,
}

/// Intervals of one view: per method, per figure; and the differences per baseline, per
/// figure.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ViewIntervals {
    pub methods: Vec<(String, Vec<(&'static str, Interval)>)>,
    pub differences: Vec<(String, Vec<(&'static str, Difference)>)>,
}

impl ViewIntervals {
    pub fn of(&self, method: &str, figure: &str) -> Option<Interval> {
        self.methods
            .iter()
            .find(|(m, _)| m == method)
            .and_then(|(_, f)| f.iter().find(|(n, _)| *n == figure))
            .map(|(_, i)| *i)
    }

    pub fn difference(&self, baseline: &str, figure: &str) -> Option<Difference> {
        self.differences
            .iter()
            .find(|(m, _)| m == baseline)
            .and_then(|(_, f)| f.iter().find(|(n, _)| *n == figure))
            .map(|(_, d)| *d)
    }
}

/// Intervals of a dataset's two views.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DatasetIntervals {
    pub settings: Option<Settings>,
    pub pair: Option<ViewIntervals>,
    pub multi: Option<ViewIntervals>,
}

/// The per-resample figures of one view: `[method][figure]`.
type Figures = Vec<(String, Vec<Option<f64>>)>;

fn view_intervals(
    point: &Figures,
    resamples: &[Option<Figures>],
    names: &[(&'static str, Missing)],
    baselines: &[&str],
) -> ViewIntervals {
    let value = |figs: &Figures, method: &str, f: usize| -> Option<Option<f64>> {
        figs.iter()
            .find(|(m, _)| m == method)
            .map(|(_, v)| v.get(f).copied().flatten())
    };
    let mut out = ViewIntervals::default();
    for (method, _) in point {
        let figures = names
            .iter()
            .enumerate()
            .map(|(f, &(name, missing))| {
                let values: Vec<Option<f64>> = resamples
                    .iter()
                    .map(|r| r.as_ref().and_then(|r| value(r, method, f)).flatten())
                    .collect();
                (name, percentile_interval(&values, missing))
            })
            .collect();
        out.methods.push((method.clone(), figures));
    }
    let has = |m: &str| point.iter().any(|(n, _)| n == m);
    if !has("router") {
        return out;
    }
    for &base in baselines.iter().filter(|b| has(b)) {
        let figures = names
            .iter()
            .enumerate()
            .map(|(f, &(name, _))| {
                let diff = |figs: &Figures| -> Option<f64> {
                    Some(value(figs, "router", f)?? - value(figs, base, f)??)
                };
                let values: Vec<Option<f64>> = resamples
                    .iter()
                    .map(|r| r.as_ref().and_then(diff))
                    .collect();
                (
                    name,
                    Difference {
                        estimate: diff(point),
                        ci95: percentile_interval(&values, Missing::Undefined),
                    },
                )
            })
            .collect();
        out.differences.push((base.to_string(), figures));
    }
    out
}

/// Bootstraps a dataset's two views. `n` is the number of evaluated prompts (the
/// positions the rankings and outcomes refer to); `pair` is the methods' rankings of the
/// two-model view, `multi` the multi-model inputs.
pub fn bootstrap_dataset(
    settings: Settings,
    key: &str,
    n: usize,
    pair: Option<&[(String, PairRanking)]>,
    multi: Option<&MultiInputs>,
) -> DatasetIntervals {
    if settings.resamples == 0 || n == 0 {
        return DatasetIntervals::default();
    }
    let pair_figures = |w: &[u32]| -> Option<Figures> {
        Some(
            pair?
                .iter()
                .map(|(m, r)| (m.clone(), pair_values(&r.summary(w)).to_vec()))
                .collect(),
        )
    };
    let multi_figures = |w: &[u32]| -> Option<Figures> {
        Some(
            multi?
                .summaries(w)?
                .iter()
                .map(|(m, s)| (m.clone(), multi_values(s).to_vec()))
                .collect(),
        )
    };
    let ones = vec![1u32; n];
    let draws: Vec<(Option<Figures>, Option<Figures>)> = (0..settings.resamples)
        .into_par_iter()
        .map(|b| {
            let w = resample_counts(settings.seed, key, b, n);
            (pair_figures(&w), multi_figures(&w))
        })
        .collect();
    let (pair_draws, multi_draws): (Vec<_>, Vec<_>) = draws.into_iter().unzip();
    DatasetIntervals {
        settings: Some(settings),
        pair: pair_figures(&ones)
            .map(|p| view_intervals(&p, &pair_draws, &PAIR_FIGURES, &PAIR_BASELINES)),
        multi: multi_figures(&ones)
            .map(|p| view_intervals(&p, &multi_draws, &MULTI_FIGURES, &MULTI_BASELINES)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::metrics::{pair_curve, summarize_pair};

    fn toy_pair(n: usize, seed: u64) -> (Vec<f64>, Vec<PairOutcome>) {
        let mut rng = SplitMix64::new(seed);
        let mut scores = Vec::new();
        let mut outcomes = Vec::new();
        for _ in 0..n {
            let hard = rng.below(2) == 1;
            let strong = f64::from(u8::from(rng.below(10) < 9));
            let weak = f64::from(u8::from(rng.below(10) < if hard { 3 } else { 8 }));
            // A noisy router that mostly knows which prompts are hard; coarse ties.
            let noise = rng.below(4) as f64;
            scores.push(if hard { 2.0 } else { 0.0 } + noise);
            outcomes.push(PairOutcome { strong, weak });
        }
        (scores, outcomes)
    }

    fn close(a: Option<f64>, b: Option<f64>) -> bool {
        match (a, b) {
            (Some(a), Some(b)) => (a - b).abs() < 1e-9,
            (None, None) => true,
            _ => false,
        }
    }

    #[test]
    fn unit_weights_reproduce_the_point_estimate() {
        let (scores, outcomes) = toy_pair(300, 1);
        let positions: Vec<usize> = (0..300).collect();
        let ranking = PairRanking::new(&positions, &scores, &outcomes);
        let direct = summarize_pair(&pair_curve(&scores, &outcomes));
        let weighted = ranking.summary(&[1; 300]);
        assert!(close(direct.apgr, weighted.apgr), "{direct:?} {weighted:?}");
        assert!(close(direct.cpt50, weighted.cpt50));
        assert!(close(direct.cpt80, weighted.cpt80));
        // Weight 2 on a prompt = the prompt twice.
        let mut w = vec![1u32; 300];
        w[7] = 2;
        w[8] = 0;
        let (mut s2, mut o2) = (scores.clone(), outcomes.clone());
        s2.push(scores[7]);
        o2.push(outcomes[7]);
        s2.remove(8);
        o2.remove(8);
        let dup = summarize_pair(&pair_curve(&s2, &o2));
        assert!(close(dup.apgr, ranking.summary(&w).apgr));
    }

    #[test]
    fn resamples_are_deterministic_and_keep_n_draws() {
        let a = resample_counts(7, "mmlu", 3, 50);
        assert_eq!(a, resample_counts(7, "mmlu", 3, 50));
        assert_ne!(a, resample_counts(7, "mmlu", 4, 50));
        assert_ne!(a, resample_counts(7, "gsm8k", 3, 50));
        assert_ne!(a, resample_counts(8, "mmlu", 3, 50));
        assert_eq!(a.iter().sum::<u32>(), 50);
    }

    fn pair_intervals(n: usize, resamples: usize, seed: u64) -> ViewIntervals {
        let (scores, outcomes) = toy_pair(n, 11);
        let positions: Vec<usize> = (0..n).collect();
        let router = PairRanking::new(&positions, &scores, &outcomes);
        // The prior here is the same ranking: a zero difference on every resample.
        let rankings = vec![
            ("router".to_string(), router.clone()),
            ("category_prior".to_string(), router),
        ];
        bootstrap_dataset(
            Settings { resamples, seed },
            "toy",
            n,
            Some(&rankings),
            None,
        )
        .pair
        .unwrap()
    }

    #[test]
    fn intervals_contain_the_estimate_shrink_and_repeat() {
        let (scores, outcomes) = toy_pair(400, 11);
        let point = summarize_pair(&pair_curve(&scores, &outcomes))
            .apgr
            .unwrap();
        let small = pair_intervals(400, 300, 1);
        let apgr = small.of("router", "apgr").unwrap();
        let (lo, hi) = (apgr.lo.unwrap(), apgr.hi.unwrap());
        assert!(lo < point && point < hi, "{lo} {point} {hi}");
        assert!(hi - lo > 0.01);
        // Four times the prompts: about half the width.
        let large = pair_intervals(1600, 300, 1).of("router", "apgr").unwrap();
        let w_large = large.hi.unwrap() - large.lo.unwrap();
        assert!(w_large < 0.7 * (hi - lo), "{w_large} vs {}", hi - lo);
        // Same seed, same interval; another seed, another one.
        assert_eq!(pair_intervals(400, 300, 1), small);
        assert_ne!(pair_intervals(400, 300, 2), small);
        // Identical methods: a zero-width difference interval at zero.
        let d = small.difference("category_prior", "apgr").unwrap();
        assert_eq!(d.estimate, Some(0.0));
        assert_eq!((d.ci95.lo, d.ci95.hi), (Some(0.0), Some(0.0)));
        assert!(small.difference("knn", "apgr").is_none());
    }

    #[test]
    fn never_is_an_open_upper_bound() {
        let mut values: Vec<Option<f64>> = (0..90).map(|i| Some(f64::from(i) / 100.0)).collect();
        values.extend(std::iter::repeat_n(None, 10));
        let i = percentile_interval(&values, Missing::Never);
        assert_eq!(i.hi, None);
        assert!(i.lo.is_some_and(|lo| lo < 0.05));
        assert_eq!(i.missing, 10);
        let j = percentile_interval(&values, Missing::Undefined);
        assert!(j.hi.is_some_and(|hi| hi > 0.85 && hi < 0.9));
        assert_eq!(j.missing, 10);
        let none = percentile_interval(&[None, None], Missing::Undefined);
        assert_eq!((none.lo, none.hi, none.missing), (None, None, 2));
    }

    #[test]
    fn multi_summaries_with_unit_weights_are_the_point_estimates() {
        // Three singles over four prompts, a router that picks per λ.
        let o = |q: f64, c: f64| Some((q, c));
        let singles = vec![
            (
                "cheap".to_string(),
                vec![o(0.0, 0.1), o(1.0, 0.1), o(0.0, 0.1), o(0.0, 0.1)],
            ),
            (
                "mid".to_string(),
                vec![o(1.0, 1.0), o(0.0, 1.0), o(1.0, 1.0), o(0.0, 1.0)],
            ),
            (
                "best".to_string(),
                vec![o(1.0, 5.0), o(1.0, 5.0), o(1.0, 5.0), None],
            ),
        ];
        let router = vec![
            vec![o(1.0, 5.0), o(1.0, 5.0), o(1.0, 1.0), o(0.0, 1.0)],
            vec![o(1.0, 1.0), o(1.0, 0.1), o(1.0, 1.0), o(0.0, 0.1)],
        ];
        let inputs = MultiInputs {
            singles,
            random: vec![o(0.5, 1.0); 4],
            sweeps: vec![SweepOutcomes {
                method: "router".into(),
                per_lambda: router.clone(),
            }],
        };
        let got = inputs.summaries(&[1; 4]).unwrap();
        let best = CostQuality {
            cost: 5.0,
            quality: 1.0,
        };
        let points: Vec<CostQuality> = router
            .iter()
            .map(|r| weighted_point(r, &[1; 4]).unwrap())
            .collect();
        let expected = summarize_multi(&points, best, 0.1, 5.0, points[0].quality);
        assert_eq!(got, vec![("router".to_string(), expected)]);
        // A resample without the prompts where `best` is labelled has no best single point.
        assert!(inputs.summaries(&[0, 0, 0, 4]).is_none());
    }
}
