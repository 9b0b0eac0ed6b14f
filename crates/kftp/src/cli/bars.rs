//! Progress bars (indicatif) when stderr is a terminal; nothing otherwise.

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use kftp::Progress;
use std::collections::HashMap;
use std::io::IsTerminal;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Bars for concurrent transfers, one per file.
pub struct Bars {
    multi: Option<MultiProgress>,
    live: Mutex<HashMap<String, ProgressBar>>,
}

impl Bars {
    /// Bars on stderr if it is a terminal and `quiet` is off.
    pub fn new(quiet: bool) -> Arc<Bars> {
        let on = !quiet && std::io::stderr().is_terminal();
        Arc::new(Bars {
            multi: on.then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr())),
            live: Mutex::new(HashMap::new()),
        })
    }

    /// Prints a line above the bars (or plainly when there are none).
    pub fn println(&self, msg: &str) {
        match &self.multi {
            Some(m) => {
                let _ = m.println(msg);
            }
            None => eprintln!("{msg}"),
        }
    }
}

fn style() -> ProgressStyle {
    ProgressStyle::with_template(
        "{msg:30!} {bar:30.cyan/blue} {bytes:>10}/{total_bytes:<10} {binary_bytes_per_sec:>12} ETA {eta}",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar())
    .progress_chars("=> ")
}

impl Progress for Bars {
    fn begin(&self, name: &str, total: Option<u64>, done: u64) -> Arc<AtomicU64> {
        let counter = Arc::new(AtomicU64::new(0));
        let Some(multi) = &self.multi else {
            return counter;
        };
        let bar = multi.add(ProgressBar::new(total.unwrap_or(0)));
        bar.set_style(style());
        bar.set_message(name.rsplit('/').next().unwrap_or(name).to_string());
        bar.set_position(done);
        // A ticker copies the counter into the bar; it ends when the bar is finished.
        let (b, c) = (bar.clone(), counter.clone());
        std::thread::spawn(move || {
            while !b.is_finished() {
                b.set_position(done + c.load(Ordering::Relaxed));
                std::thread::sleep(Duration::from_millis(100));
            }
        });
        self.live
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(name.to_string(), bar);
        counter
    }

    fn end(&self, name: &str, error: Option<&str>) {
        let bar = self
            .live
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(name);
        if let Some(bar) = bar {
            match error {
                None => bar.finish_and_clear(),
                Some(_) => bar.abandon(),
            }
        }
    }

    fn message(&self, msg: &str) {
        self.println(msg);
    }
}
