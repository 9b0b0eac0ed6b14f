//! `--data-path auto`: the faster path for each direction, measured at run time.
//!
//! Which path wins depends on the machine: on the development VM splice beat read/write for
//! socket -> file (probe.rs), on another VM `curl -T` into kftpd ran 568-850 MB/s with the
//! copy loop against 358-537 MB/s with splice. So `auto` measures instead of believing.
//!
//! Each direction (sends: sendfile or copy; receives: splice or copy) has a [`Lane`]:
//!
//! 1. **Probe**: transfers take the kernel path and the copy loop in turn until each has
//!    [`PROBE_SAMPLES`] measurements. A measurement is the throughput of one transfer of at
//!    least [`MIN_SAMPLE_BYTES`] that ended cleanly without a rate limit: bytes per second
//!    of the data thread's CPU time when it ran on one (`thread.rs`: every such transfer
//!    unless `KFTP_DATA_THREAD=0`), else bytes per wall-clock second inside the data path.
//!    CPU time is what the path costs the server, and other processes hardly disturb it:
//!    on the shared 2-core VM wall-clock medians of copy and sendfile swapped from run to
//!    run while sendfile's CPU per GiB stayed a fraction of the copy loop's (BENCHMARKS.md,
//!    session 5). Smaller transfers say more about latency than about the path, so they
//!    are not counted (they still run on the path the lane picks). A send on the data
//!    thread probes the path the lane is not settled on with its first [`PROBE_SLICE`]
//!    bytes only and sends the rest on the settled one (the kernel's before any
//!    decision); both parts count as samples ([`Ticket::plan`]).
//! 2. **Decide**: the path with the higher median of its last [`KEEP`] measurements. Once
//!    decided, the other path must beat it by [`SWITCH_MARGIN`] to take over, so noise
//!    does not flip the choice back and forth.
//! 3. **Re-probe**: after [`REPROBE_EVERY`] measured transfers or [`REPROBE_AFTER`],
//!    whichever comes first, the losing path runs twice more (and the winner once), so a
//!    change of load, kernel or storage is noticed.
//!
//! On loopback the two send paths differ most, and not in the path's own cost: vsftpd,
//! curl and lftp keep their receive window at 65-700 KB under sendfile's packets and open
//! it to megabytes under the copy loop's, so there the copy loop ran a RETR 1.5-2x faster,
//! and sendfile's CPU per byte moved 4x between transfers with whose thread did the
//! receiver's TCP work (BENCHMARKS.md, "sendfile and the receiver's window on loopback",
//! session 9). The window's course is set by the first path a connection uses, so
//! neither a switch within a transfer nor a clock-rate probe on a 16 MiB slice told the
//! two apart; both were tried there and not kept.
//!
//! **Alone or crowded.** Each direction has two lanes: one for transfers that ran with
//! fewer transfers at once than the machine has CPUs, one for those that ran with at least
//! as many ([`Ticket`]). Which path is cheaper changes with the load, and the crowded case is
//! where the server's CPU is what runs out: 16 curl RETRs at once on the 2-core VM cost
//! kftpd 0.35 s of CPU per GiB on the copy loop against 0.11 on sendfile (the copy loop
//! takes on the receivers' TCP work there), while one RETR alone ran cheaper on the copy
//! loop. With one lane, what single transfers had measured chose the copy loop for the
//! crowd too (BENCHMARKS.md, session 11). Only transfers large enough to measure take a
//! [`Ticket`] and count: lftp's eight sessions of 4 KiB files are not a crowd whose
//! choice should carry over to the next large transfer.
//!
//! Concurrent transfers of one class share its lane; the state is a few numbers under a
//! mutex taken twice per transfer (pick and record). Every change of choice is logged at
//! INFO with both estimates and the class. `KFTP_AUTO_PATH=kernel|copy` still pins the
//! choice (probe.rs).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// Smallest transfer that counts as a measurement.
pub const MIN_SAMPLE_BYTES: u64 = 4 << 20;
/// How much of a large send a probe of the losing path takes ([`Ticket::plan`]).
pub const PROBE_SLICE: u64 = 16 << 20;
/// Measurements of each path before the first decision.
pub const PROBE_SAMPLES: u8 = 3;
/// Measurements kept per path; the estimate is their median.
pub const KEEP: usize = 3;
/// Measured transfers between re-probes.
pub const REPROBE_EVERY: u32 = 64;
/// Longest time between re-probes.
pub const REPROBE_AFTER: Duration = Duration::from_secs(600);
/// How much faster the other path must be to replace a decided one.
pub const SWITCH_MARGIN: f64 = 1.05;

/// The last few throughputs of one path, bytes per second.
#[derive(Clone, Copy, Debug, Default)]
struct Samples {
    v: [f64; KEEP],
    n: usize,
    next: usize,
}

impl Samples {
    fn push(&mut self, x: f64) {
        self.v[self.next] = x;
        self.next = (self.next + 1) % KEEP;
        self.n = (self.n + 1).min(KEEP);
    }

    /// The median of what is kept (the mean of the two middle values of an even count).
    fn estimate(&self) -> Option<f64> {
        if self.n == 0 {
            return None;
        }
        let mut v = self.v;
        let v = &mut v[..self.n];
        v.sort_by(f64::total_cmp);
        let mid = self.n / 2;
        Some(if self.n % 2 == 1 {
            v[mid]
        } else {
            (v[mid - 1] + v[mid]) / 2.0
        })
    }
}

/// One direction's measurements and choice. `kernel == true` names sendfile/splice.
#[derive(Clone, Debug)]
pub struct Lane {
    kernel: Samples,
    copy: Samples,
    /// Measurements still wanted in the current probe round, per path.
    want_kernel: u8,
    want_copy: u8,
    /// The decided path, once there is one.
    best: Option<bool>,
    /// Measured transfers since the last probe round ended.
    since_probe: u32,
    /// When the last probe round ended.
    decided_at: Option<Instant>,
    /// What to use before any decision, for transfers too small to measure.
    default_kernel: bool,
}

/// A change of choice, for the log.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Decision {
    /// The path now chosen (true: kernel).
    pub kernel: bool,
    /// Median throughput of the kernel path, bytes/s.
    pub kernel_rate: f64,
    /// Median throughput of the copy loop, bytes/s.
    pub copy_rate: f64,
}

impl Lane {
    /// A lane that has measured nothing yet.
    pub const fn new(default_kernel: bool) -> Lane {
        Lane {
            kernel: Samples {
                v: [0.0; KEEP],
                n: 0,
                next: 0,
            },
            copy: Samples {
                v: [0.0; KEEP],
                n: 0,
                next: 0,
            },
            want_kernel: PROBE_SAMPLES,
            want_copy: PROBE_SAMPLES,
            best: None,
            since_probe: 0,
            decided_at: None,
            default_kernel,
        }
    }

    fn probing(&self) -> bool {
        self.want_kernel > 0 || self.want_copy > 0
    }

    /// The path for the next transfer: `true` for the kernel path.
    pub fn pick(&self) -> bool {
        if self.probing() {
            // The path that still wants more measurements; the kernel path first on a tie.
            return self.want_kernel >= self.want_copy;
        }
        self.best.unwrap_or(self.default_kernel)
    }

    /// [`Ticket::plan`] on this lane.
    pub fn plan(&self, len: u64) -> Plan {
        let settled = self.best.unwrap_or(self.default_kernel);
        if len < MIN_SAMPLE_BYTES {
            return Plan {
                first: settled,
                slice: len,
                rest: settled,
            };
        }
        let first = self.pick();
        if first != settled && len >= PROBE_SLICE + MIN_SAMPLE_BYTES {
            return Plan {
                first,
                slice: PROBE_SLICE,
                rest: settled,
            };
        }
        Plan {
            first,
            slice: len,
            rest: first,
        }
    }

    /// The decided path, if the lane has decided.
    pub fn best(&self) -> Option<bool> {
        self.best
    }

    /// Records a transfer that ended cleanly on the kernel path (`kernel`) or the copy loop,
    /// moving `bytes` in `elapsed`. Returns the new choice when it changed.
    pub fn record(
        &mut self,
        kernel: bool,
        bytes: u64,
        elapsed: Duration,
        now: Instant,
    ) -> Option<Decision> {
        let secs = elapsed.as_secs_f64();
        if bytes < MIN_SAMPLE_BYTES || secs <= 0.0 {
            return None;
        }
        let rate = bytes as f64 / secs;
        if kernel {
            self.kernel.push(rate);
            self.want_kernel = self.want_kernel.saturating_sub(1);
        } else {
            self.copy.push(rate);
            self.want_copy = self.want_copy.saturating_sub(1);
        }
        if self.probing() {
            return None;
        }
        if self.decided_at.is_none() {
            return self.decide(now);
        }
        self.since_probe += 1;
        let stale = self
            .decided_at
            .is_some_and(|t| now.saturating_duration_since(t) >= REPROBE_AFTER);
        if self.since_probe >= REPROBE_EVERY || stale {
            // A short round: the loser twice, the winner once, then decide again.
            let best = self.best.unwrap_or(self.default_kernel);
            (self.want_kernel, self.want_copy) = if best { (1, 2) } else { (2, 1) };
            self.decided_at = None;
        }
        None
    }

    /// Ends a probe round: keeps or changes the choice. Returns it when it changed.
    fn decide(&mut self, now: Instant) -> Option<Decision> {
        self.since_probe = 0;
        self.decided_at = Some(now);
        let (Some(k), Some(c)) = (self.kernel.estimate(), self.copy.estimate()) else {
            return None;
        };
        let kernel = match self.best {
            None => k >= c,
            Some(true) => c <= k * SWITCH_MARGIN,
            Some(false) => k > c * SWITCH_MARGIN,
        };
        let changed = self.best != Some(kernel);
        self.best = Some(kernel);
        changed.then_some(Decision {
            kernel,
            kernel_rate: k,
            copy_rate: c,
        })
    }
}

/// Which way bytes move.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// File -> socket: sendfile or the copy loop.
    Send,
    /// Socket -> file: splice or the copy loop.
    Recv,
}

impl Direction {
    fn lane(self, load: Load) -> std::sync::MutexGuard<'static, Lane> {
        static LANES: [Mutex<Lane>; 4] = [
            Mutex::new(Lane::new(true)),
            Mutex::new(Lane::new(true)),
            Mutex::new(Lane::new(true)),
            Mutex::new(Lane::new(true)),
        ];
        let i = match self {
            Direction::Send => 0,
            Direction::Recv => 2,
        } + match load {
            Load::Alone => 0,
            Load::Crowded => 1,
        };
        // A poisoned lane still holds valid numbers.
        LANES[i].lock().unwrap_or_else(|p| p.into_inner())
    }

    fn kernel_name(self) -> &'static str {
        match self {
            Direction::Send => "sendfile",
            Direction::Recv => "splice",
        }
    }
}

/// How many transfers ran at once with one: which lane it belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Load {
    /// Fewer transfers at once than CPUs (or one).
    Alone,
    /// At least as many transfers at once as CPUs: the server's CPU is what they share.
    Crowded,
}

impl Load {
    /// The class of a moment with `running` transfers on a machine with `cpus` CPUs: a
    /// crowd when every CPU has a transfer (and there is more than one).
    pub fn of(running: usize, cpus: usize) -> Load {
        if running > 1 && running >= cpus {
            Load::Crowded
        } else {
            Load::Alone
        }
    }

    fn name(self) -> &'static str {
        match self {
            Load::Alone => "alone",
            Load::Crowded => "crowded",
        }
    }
}

/// Transfers with a [`Ticket`] now.
static RUNNING: AtomicUsize = AtomicUsize::new(0);

fn cpus() -> usize {
    static CPUS: OnceLock<usize> = OnceLock::new();
    *CPUS.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// One large transfer that `auto` picks a path for, counted among the running ones for as
/// long as it lives. It picks (and plans) from the crowded lane when it begins with at
/// least as many transfers running as CPUs. What it measured goes to the crowded lane when
/// it began or ended among that many (a transfer that began first among many still ran in
/// the crowd), else to the lane of transfers alone.
#[derive(Debug)]
pub struct Ticket {
    dir: Direction,
    /// The class it began in, made crowded by a record that saw a crowd (picks and plans
    /// come before any record, so they see the class it began in).
    load: Load,
}

impl Ticket {
    /// Counts a transfer in `dir` from now on.
    pub fn begin(dir: Direction) -> Ticket {
        let running = RUNNING.fetch_add(1, Ordering::Relaxed) + 1;
        Ticket {
            dir,
            load: Load::of(running, cpus()),
        }
    }

    /// The class the transfer's measurements have now.
    pub fn load(&self) -> Load {
        match self.load {
            Load::Crowded => Load::Crowded,
            Load::Alone => Load::of(RUNNING.load(Ordering::Relaxed), cpus()),
        }
    }

    /// Like [`pick`], in this transfer's lane.
    pub fn pick(&self) -> bool {
        self.dir.lane(self.load).pick()
    }

    /// Where the `len` bytes of a send on the data thread go. A probe of the path the lane is
    /// not settled on takes only the first [`PROBE_SLICE`] bytes of a large file, and the
    /// settled path (the kernel's before any decision) the rest; the caller measures both
    /// parts as two samples. Probing a 1 GiB RETR with the copy loop cost the whole file at
    /// twice sendfile's CPU (BENCHMARKS.md, session 6); this way a probe costs 16 MiB of it.
    /// Asks this of the lane the transfer picks in.
    pub fn plan(&self, len: u64) -> Plan {
        self.dir.lane(self.load).plan(len)
    }

    /// Feeds a part of this transfer that moved `bytes` in `cost` (CPU or wall-clock time)
    /// on the kernel path (`kernel`) or the copy loop to its class's lane; logs a change of
    /// choice.
    pub fn record(&mut self, kernel: bool, bytes: u64, cost: Duration) {
        self.load = self.load();
        let d = self
            .dir
            .lane(self.load)
            .record(kernel, bytes, cost, Instant::now());
        if let Some(d) = d {
            log_decision(self.dir, self.load, d);
        }
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        RUNNING.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The path decided for transfers in `dir` that run alone (the default before any
/// decision): what one too small to measure takes, without a [`Ticket`].
pub fn settled(dir: Direction) -> bool {
    let l = dir.lane(Load::Alone);
    l.best().unwrap_or(l.default_kernel)
}

/// What this process's `auto` picks for the next transfer in `dir` when it runs alone:
/// `true` for the kernel path.
pub fn pick(dir: Direction) -> bool {
    dir.lane(Load::Alone).pick()
}

/// The paths of one send on the data thread (`true`: the kernel path).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Plan {
    /// The path of the first `slice` bytes.
    pub first: bool,
    /// How many bytes go on `first`.
    pub slice: u64,
    /// The path of the rest.
    pub rest: bool,
}

/// Logs a change of choice.
fn log_decision(dir: Direction, load: Load, d: Decision) {
    let kernel_name = dir.kernel_name();
    tracing::info!(
        direction = ?dir,
        load = load.name(),
        chosen = if d.kernel { kernel_name } else { "copy" },
        kernel_mb_s = format!("{:.0}", d.kernel_rate / 1e6),
        copy_mb_s = format!("{:.0}", d.copy_rate / 1e6),
        "data-path auto: measured, choosing"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1 << 20;

    /// Records one transfer of 64 MiB at `mb_s` MB/s on the path the lane picks.
    fn run(l: &mut Lane, now: Instant, rate_of: impl Fn(bool) -> f64) -> (bool, Option<Decision>) {
        let kernel = l.pick();
        let bytes = 64 * MIB;
        let secs = bytes as f64 / (rate_of(kernel) * 1e6);
        (
            kernel,
            l.record(kernel, bytes, Duration::from_secs_f64(secs), now),
        )
    }

    #[test]
    fn probes_alternately_then_picks_the_faster() {
        let mut l = Lane::new(true);
        let t = Instant::now();
        // Copy is faster here (the receive direction on the VM of issue #16).
        let rate = |k: bool| if k { 450.0 } else { 700.0 };
        let mut order = Vec::new();
        let mut decision = None;
        for _ in 0..6 {
            let (k, d) = run(&mut l, t, rate);
            order.push(k);
            decision = decision.or(d);
        }
        assert_eq!(order, [true, false, true, false, true, false]);
        let d = decision.expect("decided after three of each");
        assert!(!d.kernel);
        assert!((d.kernel_rate / 1e6 - 450.0).abs() < 1.0);
        assert!((d.copy_rate / 1e6 - 700.0).abs() < 1.0);
        for _ in 0..10 {
            assert!(!run(&mut l, t, rate).0, "stays on copy");
        }
    }

    #[test]
    fn kernel_wins_where_it_is_faster_and_ties_keep_the_kernel() {
        let mut l = Lane::new(true);
        let t = Instant::now();
        for _ in 0..6 {
            run(&mut l, t, |k| if k { 900.0 } else { 600.0 });
        }
        assert_eq!(l.best(), Some(true));
        let mut l = Lane::new(true);
        for _ in 0..6 {
            run(&mut l, t, |_| 500.0);
        }
        assert_eq!(l.best(), Some(true));
    }

    #[test]
    fn small_failed_or_instant_transfers_are_not_measurements() {
        let mut l = Lane::new(true);
        let t = Instant::now();
        for _ in 0..10 {
            assert!(l.pick(), "small transfers do not advance the probe");
            l.record(true, MIN_SAMPLE_BYTES - 1, Duration::from_millis(1), t);
            l.record(true, 64 * MIB, Duration::ZERO, t);
        }
        assert_eq!(l.kernel.n, 0);
        assert!(l.pick() && l.best().is_none());
    }

    #[test]
    fn one_outlier_does_not_flip_a_decision() {
        let mut l = Lane::new(true);
        let t = Instant::now();
        for _ in 0..6 {
            run(&mut l, t, |k| if k { 900.0 } else { 600.0 });
        }
        // A kernel transfer slowed down by a neighbour: the median of three holds.
        l.record(true, 64 * MIB, Duration::from_secs(10), t);
        assert!(l.pick());
        // Within the margin, a decided path is kept.
        assert!(l.kernel.estimate().unwrap() > 800e6);
    }

    #[test]
    fn reprobes_after_enough_transfers_and_follows_a_change() {
        let mut l = Lane::new(true);
        let t = Instant::now();
        for _ in 0..6 {
            run(&mut l, t, |k| if k { 900.0 } else { 600.0 });
        }
        assert_eq!(l.best(), Some(true));
        // The machine changes: copy is now much faster. Until the re-probe, the lane
        // stays on the kernel path (it only sees kernel measurements).
        let now_rate = |k: bool| if k { 300.0 } else { 800.0 };
        let mut picks = Vec::new();
        let mut changed = None;
        for _ in 0..(REPROBE_EVERY as usize + 6) {
            let (k, d) = run(&mut l, t, now_rate);
            picks.push(k);
            changed = changed.or(d);
        }
        let first_copy = picks.iter().position(|k| !k).expect("a re-probe ran copy");
        assert!(first_copy >= REPROBE_EVERY as usize - 1, "{first_copy}");
        let d = changed.expect("switched to copy after the re-probe");
        assert!(!d.kernel);
        assert!(!l.pick());
    }

    #[test]
    fn reprobes_after_time_too() {
        let mut l = Lane::new(true);
        let t = Instant::now();
        for _ in 0..6 {
            run(&mut l, t, |k| if k { 900.0 } else { 600.0 });
        }
        assert!(l.pick());
        run(&mut l, t + Duration::from_secs(1), |_| 900.0);
        assert!(l.pick(), "no re-probe yet");
        run(&mut l, t + REPROBE_AFTER, |_| 900.0);
        assert!(!l.pick(), "the loser is probed again");
    }

    #[test]
    fn a_probe_of_the_unsettled_path_takes_a_slice_only() {
        let mut l = Lane::new(true);
        let t = Instant::now();
        let big = 1 << 30;
        let ms = Duration::from_millis;
        let mut plans = Vec::new();
        while l.best().is_none() {
            let p = l.plan(big);
            plans.push(p);
            assert!(
                p.rest,
                "before any decision the rest is the kernel's: {p:?}"
            );
            if p.first {
                assert_eq!(p.slice, big);
                l.record(true, big, ms(100), t);
            } else {
                assert_eq!(p.slice, PROBE_SLICE, "a copy probe takes a slice: {p:?}");
                l.record(false, p.slice, ms(20), t);
                l.record(true, big - p.slice, ms(100), t);
            }
            assert!(plans.len() < 10, "{plans:?}");
        }
        assert!(
            plans.iter().any(|p| !p.first),
            "the copy loop was probed: {plans:?}"
        );
        assert_eq!(l.best(), Some(true));
        // Too small to split: a probe takes the whole file; too small to measure: the
        // settled path.
        let mut l = Lane::new(true);
        l.record(true, big, ms(100), t);
        let p = l.plan(PROBE_SLICE);
        assert_eq!((p.first, p.slice, p.rest), (false, PROBE_SLICE, false));
        assert_eq!(
            l.plan(MIB),
            Plan {
                first: true,
                slice: MIB,
                rest: true
            }
        );
        // Where the copy loop won, the kernel path is the one probed on a slice.
        let mut l = Lane::new(true);
        while l.best().is_none() {
            let k = l.pick();
            l.record(k, big, ms(if k { 300 } else { 100 }), t);
        }
        for _ in 0..REPROBE_EVERY {
            assert!(!l.plan(big).first);
            l.record(false, big, ms(100), t);
        }
        let p = l.plan(big);
        assert_eq!((p.first, p.slice, p.rest), (true, PROBE_SLICE, false));
    }

    #[test]
    fn as_many_transfers_as_cpus_is_a_crowd() {
        assert_eq!(Load::of(1, 2), Load::Alone);
        assert_eq!(Load::of(2, 2), Load::Crowded);
        assert_eq!(Load::of(3, 2), Load::Crowded);
        assert_eq!(Load::of(1, 1), Load::Alone);
        assert_eq!(Load::of(2, 1), Load::Crowded);
        assert_eq!(Load::of(3, 4), Load::Alone);
    }

    #[test]
    fn a_ticket_that_saw_a_crowd_stays_in_it() {
        // Other tests may hold tickets too: they can only make a crowd bigger.
        let mut first = Ticket::begin(Direction::Recv);
        let others: Vec<Ticket> = (0..cpus())
            .map(|_| Ticket::begin(Direction::Recv))
            .collect();
        assert_eq!(others.last().map(Ticket::load), Some(Load::Crowded));
        assert_eq!(first.load(), Load::Crowded, "the crowd came after it began");
        // A record too small to count still fixes the class.
        first.record(true, 1, Duration::from_millis(1));
        drop(others);
        assert_eq!(first.load(), Load::Crowded, "it ran in the crowd");
    }

    #[test]
    fn median_of_kept_samples() {
        let mut s = Samples::default();
        assert_eq!(s.estimate(), None);
        s.push(5.0);
        assert_eq!(s.estimate(), Some(5.0));
        s.push(1.0);
        assert_eq!(s.estimate(), Some(3.0));
        s.push(9.0);
        assert_eq!(s.estimate(), Some(5.0));
        s.push(7.0); // replaces 5.0: {7, 1, 9}
        assert_eq!(s.estimate(), Some(7.0));
    }
}
