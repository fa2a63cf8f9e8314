//! Cost–quality plots (SVG and PNG) of one dataset: the multi-model λ sweep (quality over
//! mean cost per prompt, log-scaled) and the two-model threshold sweep (quality over the
//! fraction of strong-model calls), one panel each where the view exists.

use std::path::Path;

use plotters::coord::Shift;
use plotters::coord::ranged1d::{AsRangedCoord, Ranged, ValueFormatter};
use plotters::prelude::*;

/// How a series is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// Connected operating points (a router's sweep).
    Line,
    /// Isolated operating points (single models, random).
    Points,
}

/// One named series of (x, y) points.
#[derive(Debug, Clone)]
pub struct Series {
    pub label: String,
    pub style: Style,
    pub points: Vec<(f64, f64)>,
}

/// One chart: its x axis is a cost in USD (log scale) or a fraction of strong calls.
#[derive(Debug, Clone)]
pub struct Panel {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub log_x: bool,
    pub series: Vec<Series>,
}

/// Plot failures carry the backend's message (fonts, file system).
#[derive(Debug, thiserror::Error)]
#[error("plot {path}: {message}")]
pub struct PlotError {
    pub path: String,
    pub message: String,
}

const SIZE: (u32, u32) = (1400, 620);

/// Draws `panels` side by side into an SVG file.
pub fn write_svg(path: &Path, panels: &[Panel]) -> Result<(), PlotError> {
    let root = SVGBackend::new(path, SIZE).into_drawing_area();
    draw_all(&root, panels).map_err(|message| PlotError {
        path: path.display().to_string(),
        message,
    })
}

/// Draws `panels` side by side into a PNG file.
pub fn write_png(path: &Path, panels: &[Panel]) -> Result<(), PlotError> {
    let root = BitMapBackend::new(path, SIZE).into_drawing_area();
    draw_all(&root, panels).map_err(|message| PlotError {
        path: path.display().to_string(),
        message,
    })
}

fn draw_all<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    panels: &[Panel],
) -> Result<(), String> {
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let areas = root.split_evenly((1, panels.len().max(1)));
    for (area, panel) in areas.iter().zip(panels) {
        let (x0, x1, y0, y1) = bounds(panel);
        if panel.log_x {
            draw_panel(area, panel, (x0..x1).log_scale(), y0..y1)?;
        } else {
            draw_panel(area, panel, x0..x1, y0..y1)?;
        }
    }
    root.present().map_err(|e| e.to_string())
}

/// Axis bounds with a margin; positive x for a log axis.
fn bounds(panel: &Panel) -> (f64, f64, f64, f64) {
    let pts = panel.series.iter().flat_map(|s| s.points.iter());
    let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for &(x, y) in pts {
        if !x.is_finite() || !y.is_finite() || (panel.log_x && x <= 0.0) {
            continue;
        }
        x0 = x0.min(x);
        x1 = x1.max(x);
        y0 = y0.min(y);
        y1 = y1.max(y);
    }
    if x0 > x1 {
        (x0, x1, y0, y1) = (0.1, 1.0, 0.0, 1.0);
    }
    if panel.log_x {
        (x0 / 1.3, x1 * 1.3, y0 - 0.03, y1 + 0.03)
    } else {
        let pad = ((x1 - x0) * 0.02).max(1e-6);
        (x0 - pad, x1 + pad, y0 - 0.03, y1 + 0.03)
    }
}

fn draw_panel<DB, X>(
    area: &DrawingArea<DB, Shift>,
    panel: &Panel,
    x_range: X,
    y_range: std::ops::Range<f64>,
) -> Result<(), String>
where
    DB: DrawingBackend,
    X: AsRangedCoord<Value = f64>,
    X::CoordDescType: Ranged<ValueType = f64> + ValueFormatter<f64>,
{
    let mut chart = ChartBuilder::on(area)
        .caption(&panel.title, ("sans-serif", 22))
        .margin(12)
        .x_label_area_size(45)
        .y_label_area_size(60)
        .build_cartesian_2d(x_range, y_range)
        .map_err(|e| e.to_string())?;
    chart
        .configure_mesh()
        .x_desc(panel.x_label.as_str())
        .y_desc(panel.y_label.as_str())
        .x_label_formatter(&|x| format_tick(*x))
        .draw()
        .map_err(|e| e.to_string())?;

    let visible =
        |&(x, y): &(f64, f64)| x.is_finite() && y.is_finite() && (!panel.log_x || x > 0.0);
    for (i, series) in panel.series.iter().enumerate() {
        let color = color_for(&series.label, i);
        let points: Vec<(f64, f64)> = series.points.iter().copied().filter(visible).collect();
        match series.style {
            Style::Line => {
                chart
                    .draw_series(LineSeries::new(points.clone(), color.stroke_width(2)))
                    .map_err(|e| e.to_string())?
                    .label(series.label.as_str())
                    .legend(move |(x, y)| {
                        PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
                    });
                if points.len() <= 80 {
                    chart
                        .draw_series(points.iter().map(|&p| Circle::new(p, 2, color.filled())))
                        .map_err(|e| e.to_string())?;
                }
            }
            Style::Points => {
                chart
                    .draw_series(points.iter().map(|&p| Circle::new(p, 5, color.filled())))
                    .map_err(|e| e.to_string())?
                    .label(series.label.as_str())
                    .legend(move |(x, y)| Circle::new((x + 9, y), 5, color.filled()));
            }
        }
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
        .map_err(|e| e.to_string())
}

/// One colour per method across every panel and dataset.
fn color_for(label: &str, i: usize) -> RGBAColor {
    match label {
        "router" => RGBColor(31, 119, 180).to_rgba(),
        "oracle" => RGBColor(44, 160, 44).to_rgba(),
        "random" => RGBColor(127, 127, 127).to_rgba(),
        "category_prior" => RGBColor(255, 127, 14).to_rgba(),
        "knn" => RGBColor(148, 103, 189).to_rgba(),
        "single models" => RGBColor(0, 0, 0).mix(0.55),
        _ => Palette99::pick(i).to_rgba(),
    }
}

fn format_tick(x: f64) -> String {
    if x != 0.0 && (x.abs() < 0.01 || x.abs() >= 1000.0) {
        format!("{x:.0e}")
    } else {
        format!("{x:.2}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_svg_with_both_panel_kinds() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.svg");
        let panels = vec![
            Panel {
                title: "multi".into(),
                x_label: "cost".into(),
                y_label: "quality".into(),
                log_x: true,
                series: vec![
                    Series {
                        label: "router".into(),
                        style: Style::Line,
                        points: vec![(1e-4, 0.5), (1e-3, 0.7), (1e-2, 0.8)],
                    },
                    Series {
                        label: "single".into(),
                        style: Style::Points,
                        points: vec![(2e-4, 0.4)],
                    },
                ],
            },
            Panel {
                title: "pair".into(),
                x_label: "strong calls".into(),
                y_label: "quality".into(),
                log_x: false,
                series: vec![Series {
                    label: "router".into(),
                    style: Style::Line,
                    points: vec![(0.0, 0.6), (1.0, 0.8)],
                }],
            },
        ];
        write_svg(&path, &panels).unwrap();
        let svg = std::fs::read_to_string(&path).unwrap();
        assert!(svg.contains("<svg") && svg.contains("router"));
    }
}
