//! Password checks on a small fixed pool of threads, each with one reused Argon2 buffer.
//!
//! Argon2id needs m_cost KiB of memory per check (19 MiB with the default parameters).
//! Hashing on tokio's blocking pool let glibc keep those buffers in per-thread arenas, and a
//! burst of logins left the server with megabytes per session long after it was idle
//! (measured by `kftp bench`: 10.4 MiB per idle session). Here a fixed number of threads
//! each keep one buffer for the life of the process, which also bounds the CPU a login
//! flood can take: extra checks wait in the queue.

use super::{User, Users};
use argon2::password_hash::PasswordHash;
use argon2::{Algorithm, Argon2, Block, Params, Version};
use std::cell::RefCell;
use std::sync::mpsc;
use std::sync::{Arc, Mutex, OnceLock};

type Job = Box<dyn FnOnce() + Send>;

struct Pool {
    tx: Mutex<mpsc::Sender<Job>>,
}

fn pool() -> &'static Pool {
    static POOL: OnceLock<Pool> = OnceLock::new();
    POOL.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        let n = std::thread::available_parallelism().map_or(2, |n| n.get().min(4));
        for i in 0..n {
            let rx = rx.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("kftpd-argon2-{i}"))
                .spawn(move || loop {
                    let job = match rx.lock() {
                        Ok(guard) => guard.recv(),
                        Err(_) => return,
                    };
                    match job {
                        Ok(job) => job(),
                        Err(_) => return,
                    }
                });
            if let Err(e) = spawned {
                tracing::error!(error = %e, "cannot start a password-hashing thread");
            }
        }
        Pool { tx: Mutex::new(tx) }
    })
}

/// Checks `password` for `name` on the hashing pool. `None` for a wrong password or an
/// unknown user (which costs the same time).
pub async fn verify(users: Arc<Users>, name: String, password: String) -> Option<User> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let job: Job = Box::new(move || {
        let _ = tx.send(users.verify(&name, &password));
    });
    let sent = pool()
        .tx
        .lock()
        .map(|s| s.send(job).is_ok())
        .unwrap_or(false);
    if !sent {
        return None;
    }
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
}
