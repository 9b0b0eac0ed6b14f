//! `--plot FILE.svg`: aggregate throughput against simultaneous transfers, one line per
//! server and path, as in the paper's figure. Two panels (plain FTP, FTPS); solid lines
//! for different files, dots on a thinner line for the same file; the raw ceiling R as
//! a grey line. plotters with its SVG backend only: text is emitted as SVG `<text>`, so
//! no font library is needed at build or run time.

use super::report::Report;
use plotters::prelude::*;
use std::path::Path;

type Series = (String, bool, Vec<(f64, f64)>);

/// Writes the SVG.
pub fn write_svg(path: &Path, r: &Report) -> Result<(), String> {
    let mut levels: Vec<usize> = r
        .rows
        .iter()
        .filter(|x| x.test.starts_with("concurrency"))
        .map(|x| x.connections)
        .collect();
    levels.sort_unstable();
    levels.dedup();
    if levels.is_empty() {
        return Err("no concurrency rows to plot (--only concurrency)".into());
    }
    // One colour per server/path, the same in both panels.
    let mut keys: Vec<String> = Vec::new();
    for x in r.rows.iter().filter(|x| x.test.starts_with("concurrency")) {
        let k = label(&x.server, &x.path);
        if !keys.contains(&k) {
            keys.push(k);
        }
    }
    let e = |e: &dyn std::fmt::Display| e.to_string();
    let root = SVGBackend::new(path, (1200, 520)).into_drawing_area();
    root.fill(&WHITE).map_err(|x| e(&x))?;
    let panels = root.split_evenly((1, 2));
    for (panel, tls) in panels.iter().zip([false, true]) {
        let mut series: Vec<Series> = Vec::new();
        for key in &keys {
            for same in [false, true] {
                let test = if same {
                    "concurrency-same"
                } else {
                    "concurrency-different"
                };
                let pts: Vec<(f64, f64)> = levels
                    .iter()
                    .enumerate()
                    .filter_map(|(i, &n)| {
                        r.rows
                            .iter()
                            .find(|x| {
                                x.test == test
                                    && x.tls == tls
                                    && x.connections == n
                                    && label(&x.server, &x.path) == *key
                            })
                            .and_then(|x| x.value)
                            .map(|v| (i as f64, v))
                    })
                    .collect();
                if !pts.is_empty() {
                    series.push((key.clone(), same, pts));
                }
            }
        }
        let ymax = series
            .iter()
            .flat_map(|s| s.2.iter().map(|p| p.1))
            .chain(r.ceiling_download_gbps.filter(|_| !tls))
            .fold(0.1f64, f64::max)
            * 1.15;
        let xmax = (levels.len() - 1).max(1) as f64;
        let caption = if tls {
            "explicit FTPS (PROT P)"
        } else {
            "plain FTP"
        };
        let mut chart = ChartBuilder::on(panel)
            .caption(caption, ("sans-serif", 20))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(55)
            .build_cartesian_2d(-0.2f64..xmax + 0.2, 0f64..ymax)
            .map_err(|x| e(&x))?;
        let lv = levels.clone();
        let fmt_x = move |x: &f64| {
            let i = x.round();
            if (x - i).abs() < 0.01 && i >= 0.0 {
                lv.get(i as usize)
                    .map(|n| n.to_string())
                    .unwrap_or_default()
            } else {
                String::new()
            }
        };
        chart
            .configure_mesh()
            .x_labels(levels.len() * 5)
            .x_label_formatter(&fmt_x)
            .x_desc("simultaneous transfers")
            .y_desc("aggregate GB/s")
            .disable_x_mesh()
            .draw()
            .map_err(|x| e(&x))?;
        if let (Some(c), false) = (r.ceiling_download_gbps, tls) {
            let grey = RGBColor(150, 150, 150);
            chart
                .draw_series(LineSeries::new(
                    vec![(-0.2, c), (xmax + 0.2, c)],
                    grey.stroke_width(1),
                ))
                .map_err(|x| e(&x))?
                .label(format!("raw ceiling R ({c:.2} GB/s)"))
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], grey));
        }
        for (key, same, pts) in &series {
            let i = keys.iter().position(|k| k == key).unwrap_or(0);
            let color = Palette99::pick(i).to_rgba();
            let style = color.stroke_width(if *same { 1 } else { 3 });
            let name = format!(
                "{key}, {}",
                if *same {
                    "same file"
                } else {
                    "different files"
                }
            );
            chart
                .draw_series(LineSeries::new(pts.clone(), style))
                .map_err(|x| e(&x))?
                .label(name)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style));
            if *same {
                chart
                    .draw_series(pts.iter().map(|p| Circle::new(*p, 3, color.filled())))
                    .map_err(|x| e(&x))?;
            }
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .label_font(("sans-serif", 11))
            .position(SeriesLabelPosition::LowerRight)
            .draw()
            .map_err(|x| e(&x))?;
    }
    root.present().map_err(|x| e(&x))
}

fn label(server: &str, path: &str) -> String {
    if path == "-" {
        server.to_string()
    } else {
        format!("{server} ({path})")
    }
}
