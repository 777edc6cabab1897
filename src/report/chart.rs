//! The hand-written SVG charts of `report.html`, on one time axis (seconds from load start):
//! request latency and outcome with the windows of disturbance shaded and restarts marked,
//! the health polls as a strip per service, and each service tree's memory.
//!
//! Plain string building: the page's CSS colours the classes, so a chart carries only
//! geometry. Every size is bounded whatever the run's length: request dots are thinned per
//! outcome ([`MAX_REQUESTS`], [`MAX_DOTS`]), health polls merge into at most one mark per pixel
//! column, memory lines keep at most [`MAX_POINTS`] bucket medians.

use super::junit::esc;
use crate::metrics::trend;
use crate::record::{Outcome, RequestRecord, Sample, What};
use crate::verdict::stability::{self, Quantity};
use crate::verdict::{Cause, Course, RunRecords};
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// Width of every chart, pixels.
const WIDTH: f64 = 1000.0;
/// Left margin (the y axis' labels), pixels.
const LEFT: f64 = 64.0;
/// Right margin, pixels.
const RIGHT: f64 = 16.0;
/// Height of the latency chart's plot area, pixels.
const PLOT_H: f64 = 280.0;
/// Top margin, pixels.
const TOP: f64 = 8.0;
/// Bottom margin (the x axis' labels), pixels.
const BOTTOM: f64 = 34.0;
/// Above this many requests, each outcome is thinned.
pub const MAX_REQUESTS: usize = 20_000;
/// The most dots of one outcome once thinned.
pub const MAX_DOTS: usize = 5_000;
/// Most points of one memory line.
const MAX_POINTS: usize = 400;
/// Height of one service's health strip, pixels.
const STRIP_H: f64 = 16.0;

/// The time axis all charts share: seconds from load start, `from_s` to `to_s`.
#[derive(Debug, Clone, Copy)]
pub struct Axis {
    /// Load start, ms after `t0`: time zero of the charts.
    t0_ms: f64,
    from_s: f64,
    to_s: f64,
}

impl Axis {
    /// The span of everything drawn: requests, windows, restarts and samples; `None` when
    /// the run recorded none of them.
    pub fn of(r: &RunRecords, course: &Course) -> Option<Axis> {
        let t0_ms = course.load_start_ms.unwrap_or(r.timeline.load_start_ms);
        let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
        let mut see = |t: f64| {
            if t.is_finite() {
                (lo, hi) = (lo.min(t), hi.max(t));
            }
        };
        for q in &r.requests {
            see(q.start_ms());
            see(q.done_ms);
        }
        for w in &course.windows {
            see(w.start_ms);
            see(w.end_ms);
        }
        for s in &r.samples {
            see(s.t_ms());
        }
        if lo > hi {
            return None;
        }
        let from_s = ((lo - t0_ms) / 1e3).min(0.0);
        let to_s = ((hi - t0_ms) / 1e3).max(from_s + 1e-3);
        Some(Axis {
            t0_ms,
            from_s,
            to_s,
        })
    }

    /// The x pixel of an instant, ms after `t0`.
    fn x(&self, t_ms: f64) -> f64 {
        let s = (t_ms - self.t0_ms) / 1e3;
        LEFT + (s - self.from_s) / (self.to_s - self.from_s) * (WIDTH - LEFT - RIGHT)
    }

    /// Ticks and grid lines of the x axis below a plot area `top..bottom`.
    fn draw(&self, svg: &mut String, top: f64, bottom: f64) {
        for s in ticks(self.from_s, self.to_s) {
            let x = self.x(self.t0_ms + s * 1e3);
            let _ = write!(
                svg,
                r#"<line class="grid" x1="{x:.1}" y1="{top:.1}" x2="{x:.1}" y2="{bottom:.1}"/><text class="tick" x="{x:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
                bottom + 14.0,
                number(s)
            );
        }
        let _ = write!(
            svg,
            r#"<text class="label" x="{:.1}" y="{:.1}" text-anchor="end">s from load start</text>"#,
            WIDTH - RIGHT,
            bottom + 30.0
        );
    }
}

/// Grid lines and tick labels of a y axis at `values` (`y` maps a value to its pixel), and
/// its `unit` at the top left.
fn y_axis(
    svg: &mut String,
    values: impl IntoIterator<Item = f64>,
    y: &dyn Fn(f64) -> f64,
    unit: &str,
) {
    for v in values {
        let yv = y(v);
        let _ = write!(
            svg,
            r#"<line class="grid" x1="{LEFT}" y1="{yv:.1}" x2="{:.1}" y2="{yv:.1}"/><text class="tick" x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#,
            WIDTH - RIGHT,
            LEFT - 4.0,
            yv + 4.0,
            number(v)
        );
    }
    let _ = write!(
        svg,
        r#"<text class="label" x="4" y="{:.1}">{unit}</text>"#,
        TOP + 10.0
    );
}

/// About ten round ticks (1, 2 or 5 times a power of ten apart) within `lo..=hi`.
fn ticks(lo: f64, hi: f64) -> Vec<f64> {
    let raw = (hi - lo) / 8.0;
    if !(raw.is_finite() && raw > 0.0) {
        return vec![lo];
    }
    let p = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * p)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * p);
    let first = (lo / step).ceil() as i64;
    let last = (hi / step).floor() as i64;
    (first..=last).map(|i| i as f64 * step).collect()
}

/// A tick label: no needless decimals.
fn number(v: f64) -> String {
    if v.fract().abs() < 1e-9 {
        format!("{v:.0}")
    } else {
        let s = format!("{v:.3}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

/// An `<svg>` of `height` pixels, its content written by `body`.
fn svg(class: &str, height: f64, label: &str, body: impl FnOnce(&mut String)) -> String {
    let mut s = format!(
        r#"<svg class="{class}" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" role="img" aria-label="{}">"#,
        esc(label)
    );
    body(&mut s);
    s.push_str("</svg>");
    s
}

/// The class of an outcome's dots (`o-http_5xx`).
pub fn outcome_class(o: Outcome) -> String {
    format!("o-{}", o.word())
}

/// The requests drawn, per outcome: every one, or every `k`th of an outcome (in record
/// order) with `k = ceil(count / MAX_DOTS)` once the run has more than [`MAX_REQUESTS`].
/// Returns each outcome's records drawn and its `k`.
pub fn thin(reqs: &[RequestRecord]) -> BTreeMap<Outcome, (Vec<&RequestRecord>, usize)> {
    let mut by: BTreeMap<Outcome, Vec<&RequestRecord>> = BTreeMap::new();
    for q in reqs {
        by.entry(q.outcome).or_default().push(q);
    }
    by.into_iter()
        .map(|(o, all)| {
            let k = if reqs.len() > MAX_REQUESTS {
                all.len().div_ceil(MAX_DOTS).max(1)
            } else {
                1
            };
            (o, (all.into_iter().step_by(k).collect(), k))
        })
        .collect()
}

/// Request latency (log scale) against start time, one dot per request coloured by
/// outcome; windows of disturbance shaded (faults and crashes apart), each fault's time in
/// force as a bar along the top, service restarts as vertical lines.
pub fn requests(r: &RunRecords, course: &Course, axis: &Axis) -> Option<String> {
    if r.requests.is_empty() {
        return None;
    }
    let latency = |q: &RequestRecord| q.latency_ms().max(0.0);
    let max = r.requests.iter().map(latency).fold(1.0, f64::max);
    let min = r
        .requests
        .iter()
        .map(latency)
        .filter(|v| *v > 0.0)
        .fold(max, f64::min);
    let (lo, hi) = (
        min.max(0.01).log10().floor(),
        max.log10().ceil().max(min.max(0.01).log10().floor() + 1.0),
    );
    let bottom = TOP + PLOT_H;
    let y = |ms: f64| bottom - (ms.max(10f64.powf(lo)).log10() - lo) / (hi - lo) * PLOT_H;
    Some(svg(
        "timeline",
        bottom + BOTTOM,
        "request latency and outcome over time",
        |s| {
            for w in &course.windows {
                let (class, title) = match w.cause {
                    Cause::Fault(i) => ("fault", fault_title(r, i)),
                    Cause::Crash(i) => ("crash", crash_title(course, i)),
                };
                let recovered = match w.recovered_ms {
                    Some(t) => format!("recovered after {:.1} s", (t - w.from_ms) / 1e3),
                    None => "no recovery seen".into(),
                };
                let (x0, x1) = (axis.x(w.start_ms), axis.x(w.end_ms));
                let _ = write!(
                    s,
                    r#"<rect class="window {class}" x="{x0:.1}" y="{TOP}" width="{:.1}" height="{PLOT_H}"><title>{}: {}</title></rect>"#,
                    (x1 - x0).max(1.0),
                    esc(&title),
                    esc(&recovered)
                );
                if let Cause::Fault(i) = w.cause {
                    in_force(s, r, axis, i);
                }
            }
            let decades = ((lo as i64)..=(hi as i64)).map(|d| 10f64.powi(d as i32));
            y_axis(s, decades, &y, "ms");
            axis.draw(s, TOP, bottom);
            for (o, (drawn, _)) in thin(&r.requests) {
                let _ = write!(s, r#"<path class="dots {}" d=""#, outcome_class(o));
                for q in drawn {
                    let _ = write!(s, "M{:.1} {:.1}h0", axis.x(q.start_ms()), y(latency(q)));
                }
                s.push_str(r#""/>"#);
            }
            for (t, service, generation) in restarts(r) {
                let x = axis.x(t);
                let _ = write!(
                    s,
                    r#"<line class="restart" x1="{x:.1}" y1="{TOP}" x2="{x:.1}" y2="{bottom:.1}"><title>{} restarted at {:.1} s (generation {generation})</title></line>"#,
                    esc(service),
                    (t - axis.t0_ms) / 1e3
                );
            }
        },
    ))
}

/// A fault's time in force, from its injection to its clearing (a thin mark for an
/// instant fault), along the top of the plot.
fn in_force(s: &mut String, r: &RunRecords, axis: &Axis, index: usize) {
    let (mut from, mut to) = (None, None);
    for e in r.fault_events(index) {
        match e.what {
            What::FaultInject { .. } => from = from.or(Some(e.t_ms)),
            What::FaultClear { .. } => to = to.or(Some(e.t_ms)),
            _ => {}
        }
    }
    let Some(from) = from else { return };
    let (x0, x1) = (axis.x(from), axis.x(to.unwrap_or(from)));
    let _ = write!(
        s,
        r#"<rect class="in-force" x="{x0:.1}" y="{TOP}" width="{:.1}" height="5"/>"#,
        (x1 - x0).max(2.0)
    );
}

/// `fault 0 process.kill on main: kill -9 the engine`.
fn fault_title(r: &RunRecords, index: usize) -> String {
    match r.timeline.faults.iter().find(|f| f.index == index) {
        Some(f) => format!("fault {index} {} on {}: {}", f.kind, f.service, f.describe),
        None => format!("fault {index}"),
    }
}

/// `main exited (exit code 1) at 3.2 s`.
fn crash_title(course: &Course, index: usize) -> String {
    match course.unplanned_exits.get(index) {
        Some(e) => format!("{} exited ({}) unplanned", e.service, e.status()),
        None => "an unplanned exit".into(),
    }
}

/// Every restart a service's policy made: when, which service, which generation.
pub fn restarts(r: &RunRecords) -> Vec<(f64, &str, u32)> {
    r.events
        .iter()
        .filter_map(|e| match e.what {
            What::ServiceRestart { generation, .. } => {
                Some((e.t_ms, e.service.as_deref().unwrap_or("?"), generation))
            }
            _ => None,
        })
        .collect()
}

/// One strip per service: where its health polls answered 2xx (`ok`) and where they did
/// not (`fail`: another status, or no answer). A pixel column with any failing poll is
/// failing; runs of equal columns merge into one mark.
pub fn health(r: &RunRecords, axis: &Axis) -> Option<String> {
    let columns = (WIDTH - LEFT - RIGHT) as usize;
    let mut polls: BTreeMap<&str, Vec<(f64, bool)>> = BTreeMap::new();
    for s in &r.samples {
        if let Sample::Health {
            t_ms,
            service,
            status,
            ..
        } = s
        {
            let ok = status.is_some_and(|s| (200..300).contains(&s));
            polls.entry(service).or_default().push((*t_ms, ok));
        }
    }
    let column = |t_ms: f64| ((axis.x(t_ms) - LEFT).max(0.0) as usize).min(columns - 1);
    let mut by: BTreeMap<&str, Vec<Option<bool>>> = BTreeMap::new();
    for (service, mut polls) in polls {
        polls.sort_by(|a, b| a.0.total_cmp(&b.0));
        let mut cells = vec![None; columns];
        // A poll's answer stands until the next poll of the service.
        for (i, &(t, ok)) in polls.iter().enumerate() {
            let to = polls.get(i + 1).map_or(column(t), |next| column(next.0));
            let from = column(t);
            for cell in &mut cells[from..=to.max(from)] {
                *cell = Some(cell.unwrap_or(true) && ok);
            }
        }
        by.insert(service, cells);
    }
    if by.is_empty() {
        return None;
    }
    let bottom = TOP + STRIP_H * by.len() as f64;
    Some(svg(
        "health",
        bottom + BOTTOM,
        "health polls over time",
        |s| {
            axis.draw(s, TOP, bottom);
            for (row, (service, cells)) in by.iter().enumerate() {
                let y = TOP + row as f64 * STRIP_H;
                let _ = write!(
                    s,
                    r#"<text class="tick" x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#,
                    LEFT - 4.0,
                    y + STRIP_H - 4.0,
                    esc(service)
                );
                let mut c = 0;
                while c < cells.len() {
                    let Some(ok) = cells[c] else {
                        c += 1;
                        continue;
                    };
                    let run = cells[c..].iter().take_while(|v| **v == Some(ok)).count();
                    let class = if ok { "ok" } else { "fail" };
                    let _ = write!(
                        s,
                        r#"<rect class="poll {class}" x="{:.1}" y="{:.1}" width="{run}" height="{:.1}"/>"#,
                        LEFT + c as f64,
                        y + 1.0,
                        STRIP_H - 2.0
                    );
                    c += run;
                }
            }
        },
    ))
}

/// Each service tree's memory (PSS summed over the tree, RSS where PSS could not be read)
/// against time, in MiB; the legend names `line-N` classes in order.
pub fn memory(r: &RunRecords, axis: &Axis) -> Option<(String, Vec<String>)> {
    let trees: Vec<(String, Vec<(f64, f64)>)> = stability::series(r)
        .into_iter()
        .filter(|s| s.quantity == Quantity::Memory && s.name.ends_with("(tree)"))
        .map(|s| {
            let mib = trend::reduce(&s.points, MAX_POINTS)
                .into_iter()
                .map(|(t, v)| (t, v / (1u64 << 20) as f64))
                .collect();
            (s.name, mib)
        })
        .collect();
    if trees.is_empty() {
        return None;
    }
    let max = trees
        .iter()
        .flat_map(|(_, p)| p.iter().map(|(_, v)| *v))
        .fold(1.0, f64::max)
        * 1.05;
    let h = PLOT_H * 0.6;
    let bottom = TOP + h;
    let y = |v: f64| bottom - v / max * h;
    let chart = svg(
        "memory",
        bottom + BOTTOM,
        "process-tree memory over time",
        |s| {
            y_axis(s, ticks(0.0, max), &y, "MiB");
            axis.draw(s, TOP, bottom);
            for (i, (_, points)) in trees.iter().enumerate() {
                let _ = write!(s, r#"<polyline class="line line-{}" points=""#, i % 6);
                for (t, v) in points {
                    let _ = write!(s, "{:.1},{:.1} ", axis.x(*t), y(*v));
                }
                s.push_str(r#""/>"#);
            }
        },
    );
    Some((chart, trees.into_iter().map(|(name, _)| name).collect()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_round_and_within_the_span() {
        assert_eq!(ticks(0.0, 10.0), vec![0.0, 2.0, 4.0, 6.0, 8.0, 10.0]);
        assert_eq!(ticks(-1.5, 3.0), vec![-1.0, 0.0, 1.0, 2.0, 3.0]);
        assert_eq!(
            ticks(0.0, 4.0),
            vec![0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0]
        );
        assert_eq!(number(0.5), "0.5");
        assert_eq!(number(20.0), "20");
    }

    #[test]
    fn thinning_keeps_every_outcome_and_bounds_each() {
        use crate::verdict::fixture::req;
        let mut reqs: Vec<RequestRecord> = (0..30_000)
            .map(|i| req(i, i as f64, 10.0, Outcome::Ok))
            .collect();
        reqs.push(req(30_000, 1.0, 10.0, Outcome::Http5xx));
        let drawn = thin(&reqs);
        let (ok, k) = &drawn[&Outcome::Ok];
        assert_eq!((ok.len(), *k), (5_000, 6));
        assert_eq!(ok[1].id, 6, "every 6th, in record order");
        assert_eq!(
            drawn[&Outcome::Http5xx].0.len(),
            1,
            "a rare outcome is drawn whole"
        );
        let few = thin(&reqs[..100]);
        assert_eq!((few[&Outcome::Ok].0.len(), few[&Outcome::Ok].1), (100, 1));
    }
}
