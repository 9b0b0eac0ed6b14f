//! Password checks on a small fixed pool of threads, each with one reused Argon2 buffer.
//!
//! Argon2id needs m_cost KiB of memory per check (19 MiB with the default parameters).
//! Hashing on tokio's blocking pool let glibc keep those buffers in per-thread arenas, and a
//! burst of logins left the server with megabytes per session long after it was idle
//! (measured by `kftp-bench`: 10.4 MiB per idle session). Here a fixed number of threads
//! each keep one buffer for the life of the process, which also bounds the CPU a login
//! flood can take: extra checks wait in the queue.

//!
//! The queue is fair across sources: each client key (an IPv4 address or an IPv6 /64, see
//! [`crate::limits::client_key`]) has its own line, and the threads serve the lines in
//! turn, one check each. An address that floods PASS waits behind its own checks, not
//! everybody else's: a login from another address waits for at most about one check per
//! other busy address.

use super::{User, Users};
use argon2::password_hash::PasswordHash;
use argon2::{Algorithm, Argon2, Block, Params, Version};
use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::{Arc, Condvar, Mutex, OnceLock};

type Job = Box<dyn FnOnce() + Send>;

/// Checks waiting, one line per client key, and the keys with checks waiting in the order
/// they are served (round robin).
#[derive(Default)]
struct Queues {
    lines: HashMap<IpAddr, VecDeque<Job>>,
    turn: VecDeque<IpAddr>,
}

impl Queues {
    fn push(&mut self, key: IpAddr, job: Job) {
        let line = self.lines.entry(key).or_default();
        if line.is_empty() {
            self.turn.push_back(key);
        }
        line.push_back(job);
    }

    /// The next check: the first of the key whose turn it is; that key goes to the back
    /// of the turn if it has more.
    fn pop(&mut self) -> Option<Job> {
        let key = self.turn.pop_front()?;
        let line = self.lines.get_mut(&key)?;
        let job = line.pop_front();
        if line.is_empty() {
            self.lines.remove(&key);
        } else {
            self.turn.push_back(key);
        }
        job
    }
}

struct Pool {
    queues: Mutex<Queues>,
    ready: Condvar,
}

fn pool() -> &'static Pool {
    static POOL: OnceLock<Pool> = OnceLock::new();
    static STARTED: std::sync::Once = std::sync::Once::new();
    let p = POOL.get_or_init(|| Pool {
        queues: Mutex::new(Queues::default()),
        ready: Condvar::new(),
    });
    STARTED.call_once(|| {
        let n = std::thread::available_parallelism().map_or(2, |n| n.get().min(4));
        for i in 0..n {
            let spawned = std::thread::Builder::new()
                .name(format!("kftpd-argon2-{i}"))
                .spawn(move || loop {
                    let job = {
                        let mut q = p.queues.lock().unwrap_or_else(|e| e.into_inner());
                        loop {
                            if let Some(job) = q.pop() {
                                break job;
                            }
                            q = p.ready.wait(q).unwrap_or_else(|e| e.into_inner());
                        }
                    };
                    job();
                });
            if let Err(e) = spawned {
                tracing::error!(error = %e, "cannot start a password-hashing thread");
            }
        }
    });
    p
}

/// Checks `password` for `name` on the hashing pool, in the line of client key `key`.
/// `None` for a wrong password or an unknown user (which costs the same time).
pub async fn verify(
    users: Arc<Users>,
    name: String,
    password: String,
    key: IpAddr,
) -> Option<User> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let job: Job = Box::new(move || {
        let _ = tx.send(users.verify(&name, &password));
    });
    let p = pool();
    p.queues
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(key, job);
    p.ready.notify_one();
    rx.await.ok().flatten()
}

thread_local! {
    /// This thread's Argon2 working memory, grown once to the largest m_cost seen.
    static BLOCKS: RefCell<Vec<Block>> = const { RefCell::new(Vec::new()) };
}

/// Verifies `password` against an Argon2id PHC string, in this thread's reused buffer.
pub fn verify_phc(phc: &str, password: &[u8]) -> bool {
    let Ok(h) = PasswordHash::new(phc) else {
        return false;
    };
    let (Ok(params), Some(salt), Some(expected)) = (Params::try_from(&h), h.salt, h.hash) else {
        return false;
    };
    let Ok(algorithm) = Algorithm::try_from(h.algorithm) else {
        return false;
    };
    let version = match h.version.map(Version::try_from) {
        None => Version::default(),
        Some(Ok(v)) => v,
        Some(Err(_)) => return false,
    };
    let mut salt_buf = [0u8; 64];
    let Ok(salt) = salt.decode_b64(&mut salt_buf) else {
        return false;
    };
    let expected = expected.as_bytes();
    let mut out = vec![0u8; expected.len()];
    let blocks_needed = params.block_count();
    let argon = Argon2::new(algorithm, version, params);
    let ok = BLOCKS.with(|b| {
        let mut b = b.borrow_mut();
        if b.len() < blocks_needed {
            b.resize(blocks_needed, Block::default());
        }
        argon
            .hash_password_into_with_memory(password, salt, &mut out, &mut b[..blocks_needed])
            .is_ok()
    });
    // Constant time in the position of the first differing byte.
    ok && out.len() == expected.len()
        && out
            .iter()
            .zip(expected)
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_library_verifier() {
        let phc = super::super::users::hash_password("correct horse").unwrap();
        assert!(verify_phc(&phc, b"correct horse"));
        assert!(!verify_phc(&phc, b"correct horsE"));
        assert!(!verify_phc("$argon2id$garbage", b"x"));
    }

    #[test]
    fn lines_are_served_in_turn() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static ORDER: Mutex<Vec<u8>> = Mutex::new(Vec::new());
        let mut q = Queues::default();
        let flood: IpAddr = [203, 0, 113, 1].into();
        let other: IpAddr = [198, 51, 100, 9].into();
        let ran = Arc::new(AtomicUsize::new(0));
        for _ in 0..40 {
            let r = ran.clone();
            q.push(
                flood,
                Box::new(move || {
                    r.fetch_add(1, Ordering::Relaxed);
                    ORDER.lock().unwrap().push(b'f');
                }),
            );
        }
        q.push(other, Box::new(|| ORDER.lock().unwrap().push(b'o')));
        while let Some(job) = q.pop() {
            job();
        }
        let order = ORDER.lock().unwrap().clone();
        assert_eq!(ran.load(Ordering::Relaxed), 40);
        assert_eq!(&order[..3], b"fof", "{order:?}");
        assert!(q.lines.is_empty() && q.turn.is_empty());
    }
}
