//! The soak's plot (`stability.svg`): each sampled series against time (memory per process
//! and per tree, GPU memory, descriptors, threads) with its fitted slope and interval over the
//! judged span, then latency percentiles and throughput per slice of the load.
//!
//! Drawn with plotters' SVG backend and no font feature: text is SVG `<text>`, laid out by
//! plotters' estimate, so nothing needs system fonts at build or run time. Each line is cut
//! to at most [`MAX_POINTS`] bucket medians, so the file stays small whatever the soak's length.

use crate::metrics::{self, percentile, trend};
use crate::record::{RequestRecord, files};
use crate::verdict::stability::{self, Quantity, Span};
use crate::verdict::{Course, RunRecords};
use plotters::prelude::*;
use std::path::Path;

/// Most points of one drawn line.
const MAX_POINTS: usize = 400;
/// Slices of the load that latency and throughput are computed over.
const SLICES: usize = 60;
/// Height of one panel, pixels.
const PANEL_H: u32 = 260;
/// Width of the plot, pixels.
const WIDTH: u32 = 1000;

type Line = (String, Vec<(f64, f64)>);

/// One panel: a title, the unit of its y axis, its lines, and fitted lines drawn dashed.
struct Panel {
    title: String,
    unit: &'static str,
    lines: Vec<Line>,
    fits: Vec<Line>,
}

/// Draw a soak's plot into `dir` and return its file name; `None` when the run is no soak
/// or has nothing to draw.
pub fn write(dir: &Path, r: &RunRecords, course: &Course) -> std::io::Result<Option<String>> {
    let Some(st) = &r.stability else {
        return Ok(None);
    };
    let t0 = course.load_start_ms.unwrap_or(r.timeline.load_start_ms);
    let span = Span::of(r, course, st).ok();
    let mut panels = series_panels(r, st, span, t0);
    panels.extend(request_panels(r, course, t0));
    if panels.is_empty() {
        return Ok(None);
    }
    let svg = draw(
        &panels,
        span.map(|s| (t0, s.from_ms))
            .map(|(a, b)| (0.0, (b - a) / 1e3)),
    )
    .map_err(std::io::Error::other)?;
    std::fs::write(dir.join(files::STABILITY_SVG), svg)?;
    Ok(Some(files::STABILITY_SVG.to_string()))
}

/// A panel per sampled quantity: every series, and the fitted line of each tree (and of each
/// series that grows) with its interval, over the judged span.
fn series_panels(
    r: &RunRecords,
    st: &crate::suite::StabilitySpec,
    span: Option<Span>,
    t0: f64,
) -> Vec<Panel> {
    let all = stability::series(r);
    let quantities = [
        (Quantity::Memory, "MiB"),
        (Quantity::GpuMemory, "MiB"),
        (Quantity::Fds, "count"),
        (Quantity::Threads, "count"),
    ];
    let fits = span.map_or_else(Vec::new, |s| {
        stability::fits(r, st, s, &quantities.map(|q| q.0))
    });
    let mut panels = Vec::new();
    for (q, unit) in quantities {
        let scale = if unit == "MiB" { 1.0 / MIB } else { 1.0 };
        let lines: Vec<Line> = all
            .iter()
            .filter(|s| s.quantity == q)
            .map(|s| (s.name.clone(), to_plot(&s.points, t0, scale)))
            .collect();
        if lines.is_empty() {
            continue;
        }
        let mut fitted = Vec::new();
        for f in fits.iter().filter(|f| f.quantity == q) {
            let Some(s) = span else { continue };
            if !(f.grows || f.name.ends_with("(tree)") || f.name.ends_with("(GPU)")) {
                continue;
            }
            let t = f.trend;
            // The fit, and the interval's slopes through its middle.
            let mid = (s.from_ms + s.to_ms) / 2.0;
            let at_mid = t.intercept + t.slope * mid;
            let line = |slope: f64| {
                [s.from_ms, s.to_ms]
                    .map(|x| ((x - t0) / 1e3, (at_mid + slope * (x - mid)) * scale))
                    .to_vec()
            };
            let per_day = |v: f64| q.show(v * 86_400_000.0);
            fitted.push((
                format!("{} fit {}/24h", f.name, per_day(t.slope)),
                line(t.slope),
            ));
            fitted.push((
                format!("interval {} .. {} /24h", per_day(t.lower), per_day(t.upper)),
                line(t.lower),
            ));
            fitted.push((String::new(), line(t.upper)));
        }
        panels.push(Panel {
            title: q.word().to_string(),
            unit,
            lines,
            fits: fitted,
        });
    }
    panels
}

/// Latency (p50, p99) and throughput of successful requests per slice of the load.
fn request_panels(r: &RunRecords, course: &Course, t0: f64) -> Vec<Panel> {
    let end = r
        .requests
        .iter()
        .map(|q| q.start_ms())
        .fold(t0, f64::max)
        .min(course.cut.as_ref().map_or(f64::INFINITY, |c| c.at_ms));
    if end <= t0 || r.requests.is_empty() {
        return Vec::new();
    }
    let width = (end - t0) / SLICES as f64;
    let mut slices: Vec<Vec<&RequestRecord>> = vec![Vec::new(); SLICES];
    for q in r.requests.iter().filter(|q| q.outcome.is_ok()) {
        let i = ((q.start_ms() - t0) / width).floor();
        if (0.0..SLICES as f64).contains(&i) {
            slices[i as usize].push(q);
        }
    }
    let (mut p50, mut p99, mut rps) = (Vec::new(), Vec::new(), Vec::new());
    for (i, s) in slices.iter().enumerate() {
        let x = (i as f64 + 0.5) * width / 1e3;
        rps.push((x, s.len() as f64 / (width / 1e3)));
        let lat: Vec<f64> = s.iter().filter_map(|q| metrics::e2e_ms(q)).collect();
        if let (Some(a), Some(b)) = (percentile(&lat, 0.5), percentile(&lat, 0.99)) {
            p50.push((x, a));
            p99.push((x, b));
        }
    }
    vec![
        Panel {
            title: "end-to-end latency of successful requests".into(),
            unit: "ms",
            lines: vec![("p50".into(), p50), ("p99".into(), p99)],
            fits: Vec::new(),
        },
        Panel {
            title: "throughput".into(),
            unit: "requests/s",
            lines: vec![("successful requests sent".into(), rps)],
            fits: Vec::new(),
        },
    ]
}

const MIB: f64 = (1u64 << 20) as f64;

/// Points as the plot draws them: seconds from load start, value scaled, at most
/// [`MAX_POINTS`] bucket medians.
fn to_plot(points: &[(f64, f64)], t0: f64, scale: f64) -> Vec<(f64, f64)> {
    trend::reduce(points, MAX_POINTS)
        .into_iter()
        .map(|(t, v)| ((t - t0) / 1e3, v * scale))
        .collect()
}

/// The SVG of `panels`, stacked; `warmup` shaded (seconds from load start).
fn draw(panels: &[Panel], warmup: Option<(f64, f64)>) -> Result<String, String> {
    let err = |e: &dyn std::fmt::Display| e.to_string();
    let mut out = String::new();
    {
        let height = PANEL_H * panels.len() as u32;
        let root = SVGBackend::with_string(&mut out, (WIDTH, height)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| err(&e))?;
        let areas = root.split_evenly((panels.len(), 1));
        for (area, p) in areas.iter().zip(panels) {
            let pts = p.lines.iter().chain(&p.fits).flat_map(|(_, v)| v.iter());
            let (mut x0, mut x1, mut y0, mut y1) = (0.0f64, 1e-3f64, f64::MAX, f64::MIN);
            for &(x, y) in pts {
                (x0, x1, y0, y1) = (x0.min(x), x1.max(x), y0.min(y), y1.max(y));
            }
            if y0 > y1 {
                (y0, y1) = (0.0, 1.0);
            }
            let pad = ((y1 - y0) * 0.05).max(1e-6);
            let mut chart = ChartBuilder::on(area)
                .caption(&p.title, ("sans-serif", 16))
                .margin(8)
                .x_label_area_size(28)
                .y_label_area_size(64)
                .build_cartesian_2d(x0..x1, (y0 - pad)..(y1 + pad))
                .map_err(|e| err(&e))?;
            chart
                .configure_mesh()
                .x_desc("s from load start")
                .y_desc(p.unit)
                .light_line_style(WHITE)
                .draw()
                .map_err(|e| err(&e))?;
            if let Some((a, b)) = warmup {
                let shade = RGBColor(230, 230, 230).filled();
                chart
                    .draw_series(std::iter::once(Rectangle::new(
                        [(a, y0 - pad), (b, y1 + pad)],
                        shade,
                    )))
                    .map_err(|e| err(&e))?
                    .label("warm-up")
                    .legend(move |(x, y)| Rectangle::new([(x, y - 4), (x + 16, y + 4)], shade));
            }
            for (i, (name, pts)) in p.lines.iter().enumerate() {
                let color = Palette99::pick(i).to_rgba();
                chart
                    .draw_series(LineSeries::new(pts.iter().copied(), color.stroke_width(1)))
                    .map_err(|e| err(&e))?
                    .label(name.as_str())
                    .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], color));
            }
            for (name, pts) in &p.fits {
                let s = chart
                    .draw_series(DashedLineSeries::new(
                        pts.iter().copied(),
                        6,
                        4,
                        BLACK.stroke_width(1),
                    ))
                    .map_err(|e| err(&e))?;
                if !name.is_empty() {
                    s.label(name.as_str()).legend(|(x, y)| {
                        PathElement::new(vec![(x, y), (x + 16, y)], BLACK.stroke_width(1))
                    });
                }
            }
            chart
                .configure_series_labels()
                .position(SeriesLabelPosition::UpperLeft)
                .background_style(WHITE.mix(0.8))
                .border_style(BLACK)
                .label_font(("sans-serif", 11))
                .draw()
                .map_err(|e| err(&e))?;
        }
        root.present().map_err(|e| err(&e))?;
    }
    Ok(out)
}
