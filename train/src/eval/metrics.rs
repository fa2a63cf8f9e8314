//! Pure metric functions of the offline evaluation: no I/O, no model.
//!
//! Two views, as in the literature:
//! - **Two-model view** (RouteLLM): a router gives every prompt a score (how much the
//!   strong model is expected to beat the weak one); routing the top fraction `f` of
//!   prompts by score to the strong model traces a quality curve over `f ∈ [0, 1]`.
//!   The performance gap recovered, `PGR(f) = (q(f) − q_weak) / (q_strong − q_weak)`,
//!   gives `APGR` (area under PGR over `f`) and `CPT(x)` (smallest `f` with `PGR ≥ x`).
//! - **Multi-model view** (RouterBench): a sweep of the cost weight λ gives
//!   (mean cost, mean quality) points; mixing two operating points prompt by prompt
//!   realises any point on the segment between them, so the achievable quality at a
//!   budget is the non-decreasing upper convex hull of the points. `AIQ` is its mean
//!   over the cost range between the cheapest and the most expensive single model.

use serde::Serialize;

/// Gaps smaller than this are treated as "no gap" (PGR undefined).
const GAP_EPS: f64 = 1e-12;

/// Realised normalised scores of the two models on one prompt.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PairOutcome {
    pub strong: f64,
    pub weak: f64,
}

/// Quality curve of a two-model threshold sweep: `quality[k]` is the mean realised
/// quality when the `k` highest-scored prompts go to the strong model, `fraction[k] = k/n`.
#[derive(Debug, Clone, PartialEq)]
pub struct PairCurve {
    pub fraction: Vec<f64>,
    pub quality: Vec<f64>,
}

/// APGR and CPT of a two-model router; `None` where the strong model does not beat the
/// weak one on these prompts (PGR undefined).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct PairSummary {
    pub apgr: Option<f64>,
    pub cpt50: Option<f64>,
    pub cpt80: Option<f64>,
}

/// Threshold sweep of a router's scores (higher = more worth sending to the strong model).
///
/// Prompts with equal scores cannot be told apart by a threshold, so within a tie group
/// the curve takes the expected value of a random order (the group's mean gain per
/// prompt): a constant router is exactly the random straight line. NaN scores rank last.
pub fn pair_curve(scores: &[f64], outcomes: &[PairOutcome]) -> PairCurve {
    let n = scores.len().min(outcomes.len());
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| rank_key(scores[b]).total_cmp(&rank_key(scores[a])));

    let base: f64 = outcomes[..n].iter().map(|o| o.weak).sum();
    let mut fraction = Vec::with_capacity(n + 1);
    let mut quality = Vec::with_capacity(n + 1);
    let denom = n.max(1) as f64;
    fraction.push(0.0);
    quality.push(base / denom);

    let mut cumulative_gain = 0.0;
    let mut start = 0;
    while start < n {
        let key = rank_key(scores[order[start]]);
        let mut end = start + 1;
        while end < n && rank_key(scores[order[end]]) == key {
            end += 1;
        }
        let group_gain: f64 = order[start..end]
            .iter()
            .map(|&i| outcomes[i].strong - outcomes[i].weak)
            .sum();
        let mean_gain = group_gain / (end - start) as f64;
        for taken in 1..=(end - start) {
            let k = start + taken;
            fraction.push(k as f64 / denom);
            quality.push((base + cumulative_gain + mean_gain * taken as f64) / denom);
        }
        cumulative_gain += group_gain;
        start = end;
    }
    PairCurve { fraction, quality }
}

/// NaN sorts below every real score.
fn rank_key(score: f64) -> f64 {
    if score.is_nan() {
        f64::NEG_INFINITY
    } else {
        score
    }
}

/// PGR at every point of the curve; `None` when the strong model is not better overall.
pub fn pgr(curve: &PairCurve) -> Option<Vec<f64>> {
    let (&q_weak, &q_strong) = (curve.quality.first()?, curve.quality.last()?);
    let gap = q_strong - q_weak;
    if gap <= GAP_EPS {
        return None;
    }
    Some(curve.quality.iter().map(|q| (q - q_weak) / gap).collect())
}

/// Trapezoidal area under `y(x)`.
pub fn trapezoid(x: &[f64], y: &[f64]) -> f64 {
    x.windows(2)
        .zip(y.windows(2))
        .map(|(xs, ys)| (xs[1] - xs[0]) * (ys[0] + ys[1]) / 2.0)
        .sum()
}

/// Smallest `x` at which the piecewise-linear `y(x)` reaches `target` (linear
/// interpolation inside the crossing segment); `None` if it never does.
pub fn first_crossing(x: &[f64], y: &[f64], target: f64) -> Option<f64> {
    let first = *y.first()?;
    if first >= target {
        return x.first().copied();
    }
    for i in 1..x.len().min(y.len()) {
        if y[i] >= target {
            let (x0, x1, y0, y1) = (x[i - 1], x[i], y[i - 1], y[i]);
            let t = if y1 > y0 {
                (target - y0) / (y1 - y0)
            } else {
                1.0
            };
            return Some(x0 + t * (x1 - x0));
        }
    }
    None
}

/// APGR, CPT(50%) and CPT(80%) of a threshold-sweep curve.
pub fn summarize_pair(curve: &PairCurve) -> PairSummary {
    match pgr(curve) {
        None => PairSummary {
            apgr: None,
            cpt50: None,
            cpt80: None,
        },
        Some(p) => PairSummary {
            apgr: Some(trapezoid(&curve.fraction, &p)),
            cpt50: first_crossing(&curve.fraction, &p, 0.5),
            cpt80: first_crossing(&curve.fraction, &p, 0.8),
        },
    }
}

/// Expected summary of random routing: in expectation a random order recovers the gap
/// linearly (`PGR(f) = f`), so APGR = 0.5 and CPT(x) = x.
pub fn random_pair_summary(curve_of_any_router: &PairCurve) -> PairSummary {
    if pgr(curve_of_any_router).is_none() {
        return summarize_pair(curve_of_any_router);
    }
    PairSummary {
        apgr: Some(0.5),
        cpt50: Some(0.5),
        cpt80: Some(0.8),
    }
}

/// One operating point: mean cost (USD per prompt) and mean realised quality.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct CostQuality {
    pub cost: f64,
    pub quality: f64,
}

/// Multi-model summary of a set of operating points (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct MultiSummary {
    /// Mean of the achievable quality over the normalised cost range `[0, 1]`
    /// (cheapest single model → most expensive); budgets below the cheapest point count 0.
    pub aiq: Option<f64>,
    /// Achievable quality at the best single model's mean cost.
    pub quality_at_best_single_cost: Option<f64>,
    /// Cost at which the best single model's quality is first matched, as a fraction of
    /// that model's cost; `None` if never matched.
    pub cost_to_match_best_single: Option<f64>,
    /// Quality of the quality-only operating point (λ = 0).
    pub quality_max: f64,
}

/// Non-decreasing upper convex hull of operating points, sorted by cost.
///
/// Dominated points (no cheaper than another point and no better) are dropped first;
/// the rest are strictly increasing in cost and quality, and the upper hull of those is
/// concave and non-decreasing.
pub fn upper_hull(points: &[CostQuality]) -> Vec<CostQuality> {
    let mut sorted: Vec<CostQuality> = points
        .iter()
        .copied()
        .filter(|p| p.cost.is_finite() && p.quality.is_finite())
        .collect();
    sorted.sort_by(|a, b| {
        a.cost
            .total_cmp(&b.cost)
            .then(b.quality.total_cmp(&a.quality))
    });

    let mut frontier: Vec<CostQuality> = Vec::with_capacity(sorted.len());
    for p in sorted {
        if frontier.last().is_none_or(|last| p.quality > last.quality) {
            frontier.push(p);
        }
    }

    let mut hull: Vec<CostQuality> = Vec::with_capacity(frontier.len());
    for p in frontier {
        while hull.len() >= 2 {
            let (a, b) = (hull[hull.len() - 2], hull[hull.len() - 1]);
            // Drop b when it lies on or below the chord a→p.
            let cross = (b.cost - a.cost) * (p.quality - a.quality)
                - (b.quality - a.quality) * (p.cost - a.cost);
            if cross >= 0.0 {
                hull.pop();
            } else {
                break;
            }
        }
        hull.push(p);
    }
    hull
}

/// Achievable quality at budget `cost` on a hull from [`upper_hull`]: `None` below the
/// cheapest point, flat beyond the most expensive one.
pub fn hull_quality_at(hull: &[CostQuality], cost: f64) -> Option<f64> {
    let first = hull.first()?;
    if cost < first.cost {
        return None;
    }
    for w in hull.windows(2) {
        if cost <= w[1].cost {
            let t = (cost - w[0].cost) / (w[1].cost - w[0].cost);
            return Some(w[0].quality + t * (w[1].quality - w[0].quality));
        }
    }
    hull.last().map(|p| p.quality)
}

/// Smallest budget at which the hull reaches `quality`; `None` if it never does.
pub fn hull_cost_for(hull: &[CostQuality], quality: f64) -> Option<f64> {
    let costs: Vec<f64> = hull.iter().map(|p| p.cost).collect();
    let qualities: Vec<f64> = hull.iter().map(|p| p.quality).collect();
    first_crossing(&costs, &qualities, quality - GAP_EPS)
}

/// Mean achievable quality over the budget range `[cost_lo, cost_hi]` (normalised to
/// `[0, 1]`); budgets below the hull's cheapest point achieve 0. `None` for an empty
/// hull or an empty range.
pub fn aiq(hull: &[CostQuality], cost_lo: f64, cost_hi: f64) -> Option<f64> {
    let first = hull.first()?;
    let width = cost_hi - cost_lo;
    if width <= 0.0 || !width.is_finite() {
        return None;
    }
    let mut cuts: Vec<f64> = vec![cost_lo, cost_hi];
    cuts.extend(
        hull.iter()
            .map(|p| p.cost)
            .filter(|&c| c > cost_lo && c < cost_hi),
    );
    cuts.sort_by(f64::total_cmp);
    let mut area = 0.0;
    for w in cuts.windows(2) {
        let (a, b) = (w[0], w[1]);
        if (a + b) / 2.0 < first.cost {
            continue;
        }
        let (qa, qb) = (
            hull_quality_at(hull, a).unwrap_or(first.quality),
            hull_quality_at(hull, b).unwrap_or(first.quality),
        );
        area += (b - a) * (qa + qb) / 2.0;
    }
    Some(area / width)
}

/// Multi-model summary of a router's (or baseline's) operating points.
///
/// `best_single` is the best single model's point; `[cost_lo, cost_hi]` the cost range
/// of the single models; `quality_max` the quality of the λ = 0 point.
pub fn summarize_multi(
    points: &[CostQuality],
    best_single: CostQuality,
    cost_lo: f64,
    cost_hi: f64,
    quality_max: f64,
) -> MultiSummary {
    let hull = upper_hull(points);
    let match_cost = hull_cost_for(&hull, best_single.quality);
    MultiSummary {
        aiq: aiq(&hull, cost_lo, cost_hi),
        quality_at_best_single_cost: hull_quality_at(&hull, best_single.cost),
        cost_to_match_best_single: match_cost
            .and_then(|c| (best_single.cost > 0.0).then_some(c / best_single.cost)),
        quality_max,
    }
}

/// λ grid of the cost sweep: 0, then `points − 1` log-spaced values in `[lo, hi]`.
pub fn lambda_grid(points: usize, lo: f64, hi: f64) -> Vec<f64> {
    let mut grid = vec![0.0];
    let rest = points.saturating_sub(1);
    if rest == 0 || lo <= 0.0 || hi <= 0.0 {
        return grid;
    }
    let (l0, l1) = (lo.ln(), hi.max(lo).ln());
    for i in 0..rest {
        let t = if rest == 1 {
            0.0
        } else {
            i as f64 / (rest - 1) as f64
        };
        grid.push((l0 + t * (l1 - l0)).exp());
    }
    grid
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcomes(pairs: &[(f64, f64)]) -> Vec<PairOutcome> {
        pairs
            .iter()
            .map(|&(strong, weak)| PairOutcome { strong, weak })
            .collect()
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    fn toy() -> Vec<PairOutcome> {
        // Gains: +1, 0, +1, −1, 0, +1 → strong mean 4/6, weak mean 2/6.
        outcomes(&[
            (1.0, 0.0),
            (1.0, 1.0),
            (1.0, 0.0),
            (0.0, 1.0),
            (0.0, 0.0),
            (1.0, 0.0),
        ])
    }

    fn gains(o: &[PairOutcome]) -> Vec<f64> {
        o.iter().map(|p| p.strong - p.weak).collect()
    }

    #[test]
    fn perfect_router_matches_oracle() {
        let o = toy();
        let oracle = summarize_pair(&pair_curve(&gains(&o), &o));
        // A router that ranks prompts in the same order with different values.
        let perfect: Vec<f64> = gains(&o).iter().map(|g| 10.0 * g + 3.0).collect();
        let router = summarize_pair(&pair_curve(&perfect, &o));
        assert_eq!(router, oracle);
        // Hand-computed oracle: PGR over f = 0..6/6 is 0, .5, 1, 1.5, 1.5, 1.5, 1.
        // Trapezoid segments of width 1/6: .25, .75, 1.25, 1.5, 1.5, 1.25.
        let expected = (0.25 + 0.75 + 1.25 + 1.5 + 1.5 + 1.25) / 6.0;
        assert!(close(oracle.apgr.unwrap(), expected));
        assert!(close(oracle.cpt50.unwrap(), 1.0 / 6.0));
        assert!(close(oracle.cpt80.unwrap(), 1.0 / 6.0 + 0.6 / 6.0));
    }

    #[test]
    fn random_router_apgr_is_half_in_expectation() {
        // Average APGR over every ordering of five prompts with distinct scores equals
        // the analytic expectation 0.5.
        let o = outcomes(&[(1.0, 0.0), (1.0, 1.0), (0.0, 1.0), (1.0, 0.0), (0.3, 0.1)]);
        let mut perms = Vec::new();
        permutations(&mut vec![0.0, 1.0, 2.0, 3.0, 4.0], 0, &mut perms);
        assert_eq!(perms.len(), 120);
        let mean: f64 = perms
            .iter()
            .map(|s| summarize_pair(&pair_curve(s, &o)).apgr.unwrap())
            .sum::<f64>()
            / perms.len() as f64;
        assert!(close(mean, 0.5), "mean APGR {mean}");
        let random = random_pair_summary(&pair_curve(&perms[0], &o));
        assert_eq!(random.apgr, Some(0.5));
        // A constant router is a tie everywhere: exactly the random line.
        let constant = summarize_pair(&pair_curve(&[0.0; 5], &o));
        assert!(close(constant.apgr.unwrap(), 0.5));
        assert!(close(constant.cpt80.unwrap(), 0.8));
    }

    fn permutations(v: &mut Vec<f64>, k: usize, out: &mut Vec<Vec<f64>>) {
        if k == v.len() {
            out.push(v.clone());
            return;
        }
        for i in k..v.len() {
            v.swap(k, i);
            permutations(v, k + 1, out);
            v.swap(k, i);
        }
    }

    #[test]
    fn cpt_on_toy_curve() {
        let x = [0.0, 0.25, 0.5, 0.75, 1.0];
        let y = [0.0, 0.2, 0.6, 0.9, 1.0];
        assert!(close(first_crossing(&x, &y, 0.5).unwrap(), 0.4375));
        assert!(close(
            first_crossing(&x, &y, 0.8).unwrap(),
            0.75 - 0.25 / 3.0
        ));
        assert!(close(first_crossing(&x, &y, 0.0).unwrap(), 0.0));
        assert_eq!(first_crossing(&x, &y, 1.1), None);
    }

    #[test]
    fn pgr_is_undefined_without_a_gap() {
        let o = outcomes(&[(0.0, 1.0), (1.0, 1.0)]);
        let s = summarize_pair(&pair_curve(&[1.0, 0.0], &o));
        assert_eq!(s.apgr, None);
        assert_eq!(random_pair_summary(&pair_curve(&[1.0, 0.0], &o)).apgr, None);
    }

    fn cq(cost: f64, quality: f64) -> CostQuality {
        CostQuality { cost, quality }
    }

    #[test]
    fn hull_drops_dominated_and_concave_points() {
        let hull = upper_hull(&[
            cq(1.0, 0.5),
            cq(2.0, 0.55), // under the chord (1,.5)→(3,.8): dropped
            cq(3.0, 0.8),
            cq(4.0, 0.7), // dominated: dropped
            cq(5.0, 0.9),
        ]);
        assert_eq!(hull, vec![cq(1.0, 0.5), cq(3.0, 0.8), cq(5.0, 0.9)]);
    }

    #[test]
    fn aiq_on_toy_hull() {
        let hull = upper_hull(&[cq(1.0, 0.5), cq(3.0, 0.8), cq(5.0, 0.9)]);
        // Range [0, 5]: 0 on [0,1), trapezoids (1→3): 2·.65 = 1.3, (3→5): 2·.85 = 1.7.
        assert!(close(aiq(&hull, 0.0, 5.0).unwrap(), 3.0 / 5.0));
        // Range [1, 7]: 1.3 + 1.7 + flat .9 over (5→7) = 1.8 → 4.8 / 6.
        assert!(close(aiq(&hull, 1.0, 7.0).unwrap(), 0.8));
        assert_eq!(aiq(&hull, 2.0, 2.0), None);
        assert!(close(hull_quality_at(&hull, 2.0).unwrap(), 0.65));
        assert_eq!(hull_quality_at(&hull, 0.5), None);
        assert!(close(hull_quality_at(&hull, 9.0).unwrap(), 0.9));
    }

    #[test]
    fn never_reaching_best_single_is_null() {
        let best = cq(4.0, 0.95);
        let s = summarize_multi(
            &[cq(1.0, 0.5), cq(3.0, 0.8), cq(5.0, 0.9)],
            best,
            1.0,
            5.0,
            0.9,
        );
        assert_eq!(s.cost_to_match_best_single, None);
        assert!(close(s.quality_at_best_single_cost.unwrap(), 0.85));

        let reached = summarize_multi(&[cq(1.0, 0.5), cq(3.0, 0.8)], cq(4.0, 0.65), 1.0, 4.0, 0.8);
        // 0.65 is reached halfway between cost 1 and 3: cost 2, i.e. half of 4.
        assert!(close(reached.cost_to_match_best_single.unwrap(), 0.5));
    }

    #[test]
    fn lambda_grid_starts_at_zero_and_is_log_spaced() {
        let g = lambda_grid(4, 1.0, 100.0);
        assert_eq!(g.len(), 4);
        assert_eq!(g[0], 0.0);
        assert!(close(g[1], 1.0) && close(g[2], 10.0) && close(g[3], 100.0));
    }
}
