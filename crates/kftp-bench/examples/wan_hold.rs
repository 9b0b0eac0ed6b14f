//! Holds an emulated WAN ([`kftp_bench::wan`]) up for experiments by hand (`ss -tmi`,
//! `strace`, clients run with `ip netns exec`), until stdin closes or a line is read.
//!
//! ```sh
//! wan_hold DELAY_MS LOSS_PCT RATE_MBIT TCP_BUFFER_BYTES
//! ```
//! prints the client's and the server's namespace (`10.77.0.1`, `10.77.0.2`).

use kftp_bench::wan::{Side, Wan, WanConfig};
use std::time::Duration;

fn main() -> std::io::Result<()> {
    let a: Vec<f64> = std::env::args()
        .skip(1)
        .map(|s| {
            s.parse()
                .expect("numbers: DELAY_MS LOSS_PCT RATE_MBIT TCP_BUFFER")
        })
        .collect();
    let arg = |i: usize, d: f64| a.get(i).copied().unwrap_or(d);
    let rate = arg(2, 300.0) as u64;
    let cfg = WanConfig {
        delay: Duration::from_secs_f64(arg(0, 25.0) / 1e3),
        loss: arg(1, 0.01) / 100.0,
        rate_mbit: (rate > 0).then_some(rate),
        tcp_buffer: arg(3, 256.0 * 1024.0) as u64,
        ..Default::default()
    };
    let wan = Wan::start(cfg)?;
    println!("{} {}", wan.ns(Side::A), wan.ns(Side::B));
    let mut line = String::new();
    let _ = std::io::stdin().read_line(&mut line);
    let s = wan.stats();
    eprintln!(
        "forwarded {} lost {} overflow {}",
        s.forwarded, s.lost, s.overflow
    );
    Ok(())
}
