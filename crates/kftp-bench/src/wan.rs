//! A long fat network on one machine: two network namespaces made here, joined through a
//! user-space delay line, with htb for the rate.
//!
//! This kernel has no netem and no fq qdisc, so the delay and the loss are done here:
//! each namespace gets a TUN device (`kftpw0`, opened from a thread that entered the
//! namespace, so the device is born there and nothing of it shows in the root namespace);
//! one thread per direction reads IP packets from one TUN fd, holds each until
//! `arrival + delay` and writes it to the other. The delay is the same for every packet,
//! so due times are in arrival order and a FIFO is the queue ordered by due time; it is
//! bounded in bytes (a full queue drops, like a router's). Loss is a seeded RNG draw per
//! packet, so a run is repeatable. htb on each TUN's egress sets the rate.
//!
//! Side A (`10.77.0.1`) is the client's, side B (`10.77.0.2`) the server's. Everything is
//! torn down when the [`Wan`] drops (panics included); [`teardown_all`] does it from a
//! Ctrl-C handler, and [`Wan::start`] removes namespaces left by a killed earlier run.

use std::collections::VecDeque;
use std::fs::File;
use std::io;
use std::net::Ipv4Addr;
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Where `ip netns` keeps its named namespaces.
const NETNS_DIR: &str = "/var/run/netns";
/// Per-namespace files `ip netns exec` mounts over /etc.
const ETC_NETNS: &str = "/etc/netns";
/// Prefix of every namespace made here: `kftpb-a-<pidns>-<pid>-<n>`, `kftpb-b-…`, where
/// `<pidns>` names the PID namespace `<pid>` is counted in ([`pid_ns`]).
const PREFIX: &str = "kftpb-";
/// The TUN device's name inside each namespace.
const DEV: &str = "kftpw0";
/// Largest packet a TUN read returns without GSO (`IFF_VNET_HDR` is not used).
const MAX_PACKET: usize = 65536;
/// How long a forwarding thread sleeps at most before it looks at its stop flag.
const TICK: Duration = Duration::from_millis(20);
/// Default socket buffer ceiling (bytes) set in both namespaces, so one TCP stream can fill a
/// 50 ms RTT at a few hundred Mbit/s, as on a tuned data transfer node.
const TCP_MEM_MAX: u64 = 32 << 20;

/// Names of namespaces alive in this process, for [`teardown_all`].
static LIVE: Mutex<Vec<String>> = Mutex::new(Vec::new());
/// Numbers the emulators of this process.
static SERIAL: AtomicU64 = AtomicU64::new(0);

/// One end of the emulated link.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// The client's namespace, `10.77.0.1`.
    A,
    /// The server's namespace, `10.77.0.2`.
    B,
}

impl Side {
    fn index(self) -> usize {
        match self {
            Side::A => 0,
            Side::B => 1,
        }
    }
}

/// What the link does to packets.
#[derive(Clone, Debug)]
pub struct WanConfig {
    /// One-way delay (the RTT is twice this).
    pub delay: Duration,
    /// Fraction of packets dropped in each direction (0.0001 = 0.01 %).
    pub loss: f64,
    /// htb rate in Mbit/s on each direction, or none (the delay line's own speed).
    pub rate_mbit: Option<u64>,
    /// RNG seed of the loss draws.
    pub seed: u64,
    /// MTU of both TUN devices.
    pub mtu: u32,
    /// Bytes the delay line holds per direction before it drops.
    pub queue_bytes: usize,
    /// Ceiling of the TCP receive and send buffers (`tcp_rmem`/`tcp_wmem` max) in both
    /// namespaces: what one stream's window can grow to, for every client and server.
    pub tcp_buffer: u64,
}

impl Default for WanConfig {
    fn default() -> Self {
        WanConfig {
            delay: Duration::ZERO,
            loss: 0.0,
            rate_mbit: None,
            seed: 1,
            mtu: 1500,
            queue_bytes: 64 << 20,
            tcp_buffer: TCP_MEM_MAX,
        }
    }
}

/// Packet counters of both directions together.
#[derive(Clone, Copy, Debug, Default)]
pub struct WanStats {
    /// Packets written to the far side.
    pub forwarded: u64,
    /// Packets dropped by the loss draw.
    pub lost: u64,
    /// Packets dropped because the queue was full (or the far TUN refused them).
    pub overflow: u64,
}

#[derive(Default)]
struct Counters {
    forwarded: AtomicU64,
    lost: AtomicU64,
    overflow: AtomicU64,
}

/// A running emulated WAN; dropping it stops the delay line and deletes the namespaces.
pub struct Wan {
    ns: [String; 2],
    stop: Arc<AtomicBool>,
    counters: Arc<Counters>,
    threads: Vec<JoinHandle<()>>,
    cfg: WanConfig,
}

impl Wan {
    /// Makes the namespaces, the TUN devices, the htb classes and the delay line.
    pub fn start(cfg: WanConfig) -> io::Result<Wan> {
        if !(0.0..1.0).contains(&cfg.loss) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "loss must be in [0, 1)",
            ));
        }
        remove_stale();
        let n = SERIAL.fetch_add(1, Ordering::Relaxed);
        let (pidns, pid) = (pid_ns(), std::process::id());
        let ns = [
            format!("{PREFIX}a-{pidns}-{pid}-{n}"),
            format!("{PREFIX}b-{pidns}-{pid}-{n}"),
        ];
        let mut wan = Wan {
            ns,
            stop: Arc::new(AtomicBool::new(false)),
            counters: Arc::default(),
            threads: Vec::new(),
            cfg,
        };
        // From here on, Drop undoes whatever part was made.
        for name in &wan.ns {
            run("ip", &["netns", "add", name])?;
            if let Ok(mut live) = LIVE.lock() {
                live.push(name.clone());
            }
        }
        // `ip netns exec` mounts /etc/netns/NAME/hosts over /etc/hosts: the GridFTP tools
        // resolve their host name and their peer's address, with no DNS reachable inside.
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
        for side in [Side::A, Side::B] {
            let etc = Path::new(ETC_NETNS).join(wan.ns(side));
            std::fs::create_dir_all(&etc)?;
            std::fs::write(
                etc.join("hosts"),
                format!(
                    "127.0.0.1 localhost\n{} {}\n{} kftp-wan-a\n{} kftp-wan-b\n",
                    Self::addr(side),
                    host.trim(),
                    Self::addr(Side::A),
                    Self::addr(Side::B)
                ),
            )?;
        }
        let tun_a = wan.in_ns(Side::A, open_tun)??;
        let tun_b = wan.in_ns(Side::B, open_tun)??;
        for side in [Side::A, Side::B] {
            wan.configure(side)?;
        }
        let tun_a = Arc::new(tun_a);
        let tun_b = Arc::new(tun_b);
        for (from, to, seed) in [
            (tun_a.clone(), tun_b.clone(), wan.cfg.seed),
            (tun_b, tun_a, wan.cfg.seed ^ 0x9e37_79b9_7f4a_7c15),
        ] {
            let line = DelayLine {
                from,
                to,
                delay: wan.cfg.delay,
                loss: wan.cfg.loss,
                rng: fastrand::Rng::with_seed(seed),
                cap: wan.cfg.queue_bytes,
                stop: wan.stop.clone(),
                counters: wan.counters.clone(),
            };
            let t = std::thread::Builder::new()
                .name("kftp-wan".into())
                .spawn(move || line.run())?;
            wan.threads.push(t);
        }
        Ok(wan)
    }

    /// Addresses, link, sysctls and htb of one side.
    fn configure(&self, side: Side) -> io::Result<()> {
        let ns = self.ns(side);
        let addr = format!("{}/24", Self::addr(side));
        let mtu = self.cfg.mtu.to_string();
        run("ip", &["-n", ns, "link", "set", "lo", "up"])?;
        run("ip", &["-n", ns, "addr", "add", &addr, "dev", DEV])?;
        run("ip", &["-n", ns, "link", "set", DEV, "mtu", &mtu, "up"])?;
        let max = self.cfg.tcp_buffer.max(16384);
        let mem = format!("net.ipv4.tcp_rmem=4096 {} {max}", max.min(131072));
        let wmem = format!("net.ipv4.tcp_wmem=4096 16384 {max}");
        run(
            "ip",
            &["netns", "exec", ns, "sysctl", "-q", "-w", &mem, &wmem],
        )?;
        if let Some(rate) = self.cfg.rate_mbit {
            let rate = format!("{}mbit", rate.max(1));
            run(
                "tc",
                &[
                    "-n", ns, "qdisc", "add", "dev", DEV, "root", "handle", "1:", "htb", "default",
                    "1",
                ],
            )?;
            run(
                "tc",
                &[
                    "-n", ns, "class", "add", "dev", DEV, "parent", "1:", "classid", "1:1", "htb",
                    "rate", &rate, "ceil", &rate,
                ],
            )?;
        }
        Ok(())
    }

    /// The namespace of `side` (for `ip netns exec`).
    pub fn ns(&self, side: Side) -> &str {
        &self.ns[side.index()]
    }

    /// The address of `side` on the emulated link.
    pub fn addr(side: Side) -> Ipv4Addr {
        match side {
            Side::A => Ipv4Addr::new(10, 77, 0, 1),
            Side::B => Ipv4Addr::new(10, 77, 0, 2),
        }
    }

    /// What the link does.
    pub fn config(&self) -> &WanConfig {
        &self.cfg
    }

    /// Runs `f` on a thread that entered `side`'s network namespace: sockets it makes live
    /// there (and can be used from any thread afterwards).
    pub fn in_ns<T: Send>(&self, side: Side, f: impl FnOnce() -> T + Send) -> io::Result<T> {
        let ns = File::open(Path::new(NETNS_DIR).join(self.ns(side)))?;
        std::thread::scope(|s| {
            s.spawn(|| {
                rustix::thread::move_into_link_name_space(
                    ns.as_fd(),
                    Some(rustix::thread::LinkNameSpaceType::Network),
                )?;
                Ok(f())
            })
            .join()
            .map_err(|_| io::Error::other("thread in the namespace panicked"))?
        })
    }

    /// `program` to run inside `side`'s namespace (`ip netns exec NS program`, which execs:
    /// the child's pid is the program's).
    pub fn command(&self, side: Side, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", self.ns(side)]).arg(program);
        c
    }

    /// Packets forwarded and dropped so far.
    pub fn stats(&self) -> WanStats {
        WanStats {
            forwarded: self.counters.forwarded.load(Ordering::Relaxed),
            lost: self.counters.lost.load(Ordering::Relaxed),
            overflow: self.counters.overflow.load(Ordering::Relaxed),
        }
    }
}

/// What the bench's `--only wan` measured of the emulator itself.
#[derive(Clone, Debug)]
pub struct Capacity {
    /// Bytes one TCP stream moved from A to B.
    pub bytes: u64,
    /// Over this many seconds.
    pub secs: f64,
    /// TCP connect time from A to B (one round trip).
    pub connect: Duration,
    /// Average `ping` RTT from A to B, if `ping` is installed.
    pub ping_ms: Option<f64>,
    /// Packets forwarded and dropped meanwhile.
    pub stats: WanStats,
}

impl Wan {
    /// One plain TCP stream from A to B for `secs` seconds, iperf-like: what the link
    /// (delay line + htb) sustains. Also the connect RTT and, if installed, ping's RTT.
    pub fn measure(&self, secs: f64) -> io::Result<Capacity> {
        let listener = self.in_ns(Side::B, || {
            std::net::TcpListener::bind((Self::addr(Side::B), 0))
        })??;
        let to = std::net::SocketAddr::from((Self::addr(Side::B), listener.local_addr()?.port()));
        let sink = std::thread::spawn(move || -> io::Result<u64> {
            let (mut s, _) = listener.accept()?;
            io::copy(&mut s, &mut io::sink())
        });
        let (connect, stream) = self.in_ns(Side::A, || {
            let t0 = Instant::now();
            let s = std::net::TcpStream::connect_timeout(&to, Duration::from_secs(10));
            (t0.elapsed(), s)
        })?;
        let mut stream = stream?;
        let buf = vec![0x5au8; 1 << 20];
        let t0 = Instant::now();
        let limit = Duration::from_secs_f64(secs.max(0.1));
        while t0.elapsed() < limit {
            io::Write::write_all(&mut stream, &buf)?;
        }
        stream.shutdown(std::net::Shutdown::Write)?;
        // Counted at the receiver, when everything sent has arrived.
        let bytes = sink
            .join()
            .map_err(|_| io::Error::other("receiver panicked"))??;
        let secs = t0.elapsed().as_secs_f64();
        Ok(Capacity {
            bytes,
            secs,
            connect,
            ping_ms: self.ping_ms(),
            stats: self.stats(),
        })
    }

    /// Average RTT of 5 pings from A to B (`rtt min/avg/max/mdev = a/b/c/d ms`).
    fn ping_ms(&self) -> Option<f64> {
        let out = self
            .command(Side::A, "ping")
            .args(["-c", "5", "-i", "0.2", "-q"])
            .arg(Self::addr(Side::B).to_string())
            .stderr(Stdio::null())
            .output()
            .ok()?;
        let text = String::from_utf8_lossy(&out.stdout);
        let stats = text.lines().find(|l| l.contains("min/avg/max"))?;
        stats
            .split('=')
            .nth(1)?
            .trim()
            .split('/')
            .nth(1)?
            .parse()
            .ok()
    }
}

impl Drop for Wan {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
        // The TUN fds closed with the threads; deleting the namespaces removes the rest.
        for name in &self.ns {
            delete_ns(name);
        }
    }
}

/// Whether a namespace of that name exists (the tests check nothing is left).
pub fn ns_exists(name: &str) -> bool {
    Path::new(NETNS_DIR).join(name).exists()
}

/// Deletes every namespace this process made and still holds: for a Ctrl-C handler that
/// exits right after (the delay-line threads die with the process).
pub fn teardown_all() {
    let names = LIVE.lock().map(|l| l.clone()).unwrap_or_default();
    for name in names {
        delete_ns(&name);
    }
}

fn delete_ns(name: &str) {
    let _ = Command::new("ip")
        .args(["netns", "del", name])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    let _ = std::fs::remove_dir_all(Path::new(ETC_NETNS).join(name));
    if let Ok(mut live) = LIVE.lock() {
        live.retain(|n| n != name);
    }
}

/// The inode of this process's PID namespace: network namespaces are shared by the whole
/// machine, PIDs are not, so a name says in which PID namespace its pid is counted.
fn pid_ns() -> u64 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self/ns/pid").map_or(0, |m| m.ino())
}

/// Deletes `kftpb-*-<pidns>-<pid>-<n>` namespaces whose process is gone (a run killed by
/// SIGKILL), only those made in this PID namespace: from inside another one (a CI run
/// under `unshare -p`) a live bench's pid is not in `/proc` and looked dead, and its
/// namespaces were deleted in the middle of its run.
fn remove_stale() {
    let Ok(rd) = std::fs::read_dir(NETNS_DIR) else {
        return;
    };
    let ours = pid_ns().to_string();
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(rest) = name.strip_prefix(PREFIX) else {
            continue;
        };
        let mut parts = rest.split('-').skip(1);
        let (Some(ns), Some(pid)) = (parts.next(), parts.next()) else {
            continue;
        };
        let Ok(pid) = pid.parse::<u32>() else {
            continue;
        };
        if ns == ours && pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists() {
            delete_ns(&name);
        }
    }
}

/// Runs a setup command; its stderr becomes the error.
fn run(program: &str, args: &[&str]) -> io::Result<()> {
    let out = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| io::Error::new(e.kind(), format!("running {program}: {e}")))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(io::Error::other(format!(
            "{program} {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}

/// `struct ifreq` as TUNSETIFF reads it: the name, then the flags (a `short`) at the
/// start of the 24-byte union.
#[repr(C)]
struct IfReq {
    name: [u8; 16],
    flags: i16,
    _pad: [u8; 22],
}

/// `_IOW('T', 202, int)`: the kernel declares the argument as an int though it reads an
/// `ifreq`, so the opcode's size is 4.
const TUNSETIFF: rustix::ioctl::Opcode = rustix::ioctl::opcode::write::<i32>(b'T', 202);
const IFF_TUN: i16 = 0x0001;
const IFF_NO_PI: i16 = 0x1000;

/// Creates the TUN device `DEV` in the calling thread's network namespace: raw IP packets,
/// no packet-info header. Non-blocking, for the delay line's poll loop.
#[allow(unsafe_code)] // the TUNSETIFF ioctl: no safe wrapper in rustix.
fn open_tun() -> io::Result<OwnedFd> {
    use rustix::fs::{Mode, OFlags};
    let fd = rustix::fs::open(
        "/dev/net/tun",
        OFlags::RDWR | OFlags::NONBLOCK | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    let mut req = IfReq {
        name: [0; 16],
        flags: IFF_TUN | IFF_NO_PI,
        _pad: [0; 22],
    };
    req.name[..DEV.len()].copy_from_slice(DEV.as_bytes());
    // SAFETY: TUNSETIFF reads a `struct ifreq` (name, then a short of flags in the union),
    // which `IfReq` lays out with repr(C) at the kernel's size (40 bytes); the kernel only
    // reads it during the call, and `fd` is an open /dev/net/tun.
    unsafe {
        let set = rustix::ioctl::Setter::<TUNSETIFF, IfReq>::new(req);
        rustix::ioctl::ioctl(&fd, set)?;
    }
    Ok(fd)
}

/// One direction of the link.
struct DelayLine {
    from: Arc<OwnedFd>,
    to: Arc<OwnedFd>,
    delay: Duration,
    loss: f64,
    rng: fastrand::Rng,
    cap: usize,
    stop: Arc<AtomicBool>,
    counters: Arc<Counters>,
}

impl DelayLine {
    fn run(mut self) {
        // Due time and packet, in arrival order (= due order: the delay is constant).
        let mut queue: VecDeque<(Instant, Vec<u8>)> = VecDeque::new();
        let mut queued = 0usize;
        // Packet buffers are recycled: no allocation per packet once warm.
        let mut spare: Vec<Vec<u8>> = Vec::new();
        let mut scratch = vec![0u8; MAX_PACKET];
        while !self.stop.load(Ordering::Relaxed) {
            let wait = queue
                .front()
                .map(|(due, _)| due.saturating_duration_since(Instant::now()))
                .unwrap_or(TICK)
                .min(TICK);
            let mut fds = [rustix::event::PollFd::new(
                &*self.from,
                rustix::event::PollFlags::IN,
            )];
            let ts = rustix::time::Timespec {
                tv_sec: wait.as_secs() as i64,
                tv_nsec: wait.subsec_nanos() as i64,
            };
            match rustix::event::poll(&mut fds, Some(&ts)) {
                Ok(_) | Err(rustix::io::Errno::INTR) => {}
                Err(_) => return,
            }
            // Take what has arrived (a bounded batch, so sending keeps up).
            for _ in 0..256 {
                match rustix::io::read(&*self.from, &mut scratch[..]) {
                    Ok(n) if n > 0 => {
                        if self.loss > 0.0 && self.rng.f64() < self.loss {
                            self.counters.lost.fetch_add(1, Ordering::Relaxed);
                        } else if queued + n > self.cap {
                            self.counters.overflow.fetch_add(1, Ordering::Relaxed);
                        } else {
                            let mut buf = spare.pop().unwrap_or_default();
                            buf.clear();
                            buf.extend_from_slice(&scratch[..n]);
                            queued += n;
                            queue.push_back((Instant::now() + self.delay, buf));
                        }
                    }
                    Ok(_) | Err(rustix::io::Errno::AGAIN) => break,
                    Err(rustix::io::Errno::INTR) => {}
                    Err(_) => return,
                }
            }
            // Send what is due.
            let now = Instant::now();
            while queue.front().is_some_and(|(due, _)| *due <= now) {
                let Some((_, pkt)) = queue.pop_front() else {
                    break;
                };
                queued -= pkt.len();
                match rustix::io::write(&*self.to, &pkt) {
                    Ok(_) => self.counters.forwarded.fetch_add(1, Ordering::Relaxed),
                    Err(_) => self.counters.overflow.fetch_add(1, Ordering::Relaxed),
                };
                if spare.len() < 1024 {
                    spare.push(pkt);
                }
            }
        }
    }
}
