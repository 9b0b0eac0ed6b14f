//! The authentication cache: a script that logs in once per file pays Argon2id once per
//! `--auth-cache-ttl`, not once per login (the idea of Dovecot's auth cache).
//!
//! After a successful Argon2id verification the cache remembers, per user name,
//! `HMAC-SHA256(key, user || 0 || password)`, the user's PHC string at the time and an
//! expiry. A later login is answered from the cache only if all of these hold:
//!
//! - the entry has not expired (`--auth-cache-ttl`, default 300 s; 0 turns the cache off);
//! - the user's *current* PHC string (from the users file as loaded now) equals the stored
//!   one, so a changed password or a removed account invalidates the entry at once, even
//!   before the SIGHUP that reloads the file clears the whole cache;
//! - the MAC of the offered credentials equals the stored MAC, compared in constant time.
//!
//! The key is 32 bytes from the OS RNG, made when the process starts and never written
//! anywhere: whoever reads the process memory gets keyed MACs, not passwords, and cannot
//! test guesses against them offline without also finding the key (SECURITY.md).
//!
//! Failures are never cached: a wrong password misses (its MAC differs) and pays the full
//! Argon2id cost on the hashing pool, then the failed-login delay and ban logic of
//! [`crate::limits`]; an unknown user has no entry and costs the same as a wrong password,
//! as before. A hit needs no hashing thread: it is answered on the session's task.
//!
//! The cache is bounded ([`MAX_ENTRIES`]): when full, expired entries are dropped first,
//! then the one that expires soonest.

use super::{hasher, User, Users};
use ring::hmac;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Most users remembered at once.
pub const MAX_ENTRIES: usize = 10_000;

/// Longest TTL honoured (a larger `--auth-cache-ttl` is cut to this): one day.
pub const MAX_TTL: Duration = Duration::from_secs(86_400);

/// The keyed MAC of one user name and password.
#[derive(Clone, Copy)]
pub struct Mac([u8; 32]);

impl Mac {
    /// Constant time in the position of the first differing byte.
    fn equals(&self, other: &Mac) -> bool {
        let diff = self
            .0
            .iter()
            .zip(other.0.iter())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b));
        std::hint::black_box(diff) == 0
    }
}

struct Entry {
    mac: Mac,
    phc: String,
    expires: Instant,
}

/// Recently verified logins; see the module documentation.
pub struct AuthCache {
    /// `None`: the cache is off (TTL 0, or no key could be made).
    key: Option<hmac::Key>,
    ttl: Duration,
    max: usize,
    entries: Mutex<HashMap<String, Entry>>,
}

impl std::fmt::Debug for AuthCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthCache")
            .field("enabled", &self.key.is_some())
            .field("ttl", &self.ttl)
            .field("len", &self.len())
            .finish_non_exhaustive()
    }
}

impl AuthCache {
    /// A cache whose entries live `ttl` (zero: off), keyed from the OS RNG.
    pub fn new(ttl: Duration) -> Self {
        Self::with_capacity(ttl, MAX_ENTRIES)
    }

    fn with_capacity(ttl: Duration, max: usize) -> Self {
        let ttl = ttl.min(MAX_TTL);
        let key = if ttl.is_zero() || max == 0 {
            None
        } else {
            match hmac::Key::generate(hmac::HMAC_SHA256, &ring::rand::SystemRandom::new()) {
                Ok(k) => Some(k),
                Err(_) => {
                    tracing::warn!("no random key for the authentication cache: cache off");
                    None
                }
            }
        };
        AuthCache {
            key,
            ttl,
            max,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// Whether logins are cached at all.
    pub fn enabled(&self) -> bool {
        self.key.is_some()
    }

    /// The MAC of `user` and `password` (`None` when the cache is off).
    pub fn mac(&self, user: &str, password: &str) -> Option<Mac> {
        let key = self.key.as_ref()?;
        let mut ctx = hmac::Context::with_key(key);
        ctx.update(user.as_bytes());
        ctx.update(&[0]);
        ctx.update(password.as_bytes());
        let tag = ctx.sign();
        let mut out = [0u8; 32];
        out.copy_from_slice(tag.as_ref());
        Some(Mac(out))
    }

    /// Whether `user` logged in with credentials of this MAC within the TTL, while their
    /// PHC string was `current_phc`.
    pub fn hit(&self, user: &str, mac: &Mac, current_phc: &str) -> bool {
        self.hit_at(user, mac, current_phc, Instant::now())
    }

    fn hit_at(&self, user: &str, mac: &Mac, current_phc: &str, now: Instant) -> bool {
        let mut map = self.lock();
        let Some(e) = map.get(user) else {
            return false;
        };
        if now >= e.expires || e.phc != current_phc {
            map.remove(user);
            return false;
        }
        e.mac.equals(mac)
    }

    /// Remembers a successful verification of `user` against `phc`.
    pub fn insert(&self, user: &str, mac: Mac, phc: &str) {
        self.insert_at(user, mac, phc, Instant::now())
    }

    fn insert_at(&self, user: &str, mac: Mac, phc: &str, now: Instant) {
        if !self.enabled() {
            return;
        }
        let mut map = self.lock();
        if map.len() >= self.max && !map.contains_key(user) {
            map.retain(|_, e| e.expires > now);
            if map.len() >= self.max {
                let soonest = map
                    .iter()
                    .min_by_key(|(_, e)| e.expires)
                    .map(|(k, _)| k.clone());
                if let Some(k) = soonest {
                    map.remove(&k);
                }
            }
        }
        map.insert(
            user.to_string(),
            Entry {
                mac,
                phc: phc.to_string(),
                expires: now.checked_add(self.ttl).unwrap_or(now),
            },
        );
    }

    /// Forgets everything (users file reloaded).
    pub fn clear(&self) {
        self.lock().clear();
    }

    /// Entries held (expired ones included until they are next touched).
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no entry is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Checks a login: from the cache when it holds these credentials, otherwise Argon2id on
/// the hashing pool in the line of client key `key` ([`hasher::verify`]), remembering a
/// success. `None` for a wrong password or an unknown user, which always pay Argon2id.
pub async fn verify(
    cache: &AuthCache,
    users: Arc<Users>,
    name: String,
    password: String,
    key: IpAddr,
) -> Option<User> {
    let mac = cache.mac(&name, &password);
    if let (Some(mac), Some(u)) = (&mac, users.get(&name)) {
        if cache.hit(&name, mac, u.phc()) {
            tracing::debug!(user = %name, "login verified from cache");
            return Some(u.clone());
        }
    }
    let verified = hasher::verify(users, name, password, key).await;
    if let (Some(u), Some(mac)) = (&verified, mac) {
        cache.insert(&u.name, mac, u.phc());
    }
    verified
}

#[cfg(test)]
mod tests {
    use super::*;

    const PHC_A: &str = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$aaaa";
    const PHC_B: &str = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$bbbb";

    #[test]
    fn hit_then_miss_after_ttl() {
        let c = AuthCache::new(Duration::from_secs(300));
        let t0 = Instant::now();
        let mac = c.mac("alice", "s3cret").unwrap();
        assert!(!c.hit_at("alice", &mac, PHC_A, t0), "empty cache");
        c.insert_at("alice", mac, PHC_A, t0);
        assert!(c.hit_at("alice", &mac, PHC_A, t0 + Duration::from_secs(299)));
        assert!(!c.hit_at("alice", &mac, PHC_A, t0 + Duration::from_secs(300)));
        assert!(c.is_empty(), "an expired entry is dropped when seen");
    }

    #[test]
    fn wrong_password_or_other_user_misses() {
        let c = AuthCache::new(Duration::from_secs(300));
        let t0 = Instant::now();
        c.insert_at("alice", c.mac("alice", "s3cret").unwrap(), PHC_A, t0);
        let wrong = c.mac("alice", "s3creT").unwrap();
        assert!(!c.hit_at("alice", &wrong, PHC_A, t0));
        // A miss is not remembered as anything: the right password still hits.
        let right = c.mac("alice", "s3cret").unwrap();
        assert!(c.hit_at("alice", &right, PHC_A, t0));
        // The MAC binds the name: bob with alice's password has no entry, and a MAC for
        // another name/password split does not match either.
        assert!(!c.hit_at("bob", &right, PHC_A, t0));
        let split = c.mac("alice\0s3", "cret").unwrap();
        assert!(!right.equals(&split));
    }

    #[test]
    fn phc_change_invalidates() {
        let c = AuthCache::new(Duration::from_secs(300));
        let t0 = Instant::now();
        let mac = c.mac("alice", "s3cret").unwrap();
        c.insert_at("alice", mac, PHC_A, t0);
        assert!(!c.hit_at("alice", &mac, PHC_B, t0), "password changed");
        assert!(
            !c.hit_at("alice", &mac, PHC_A, t0),
            "the stale entry is gone, even if the old PHC came back"
        );
    }

    #[test]
    fn keys_differ_per_cache_and_ttl_zero_disables() {
        let a = AuthCache::new(Duration::from_secs(1));
        let b = AuthCache::new(Duration::from_secs(1));
        assert!(!a.mac("u", "p").unwrap().equals(&b.mac("u", "p").unwrap()));
        let off = AuthCache::new(Duration::ZERO);
        assert!(!off.enabled() && off.mac("u", "p").is_none());
        off.insert("u", a.mac("u", "p").unwrap(), PHC_A);
        assert!(off.is_empty());
        let huge = AuthCache::new(Duration::from_secs(u64::MAX));
        assert_eq!(huge.ttl, MAX_TTL);
        huge.insert("u", huge.mac("u", "p").unwrap(), PHC_A);
        assert!(huge.hit("u", &huge.mac("u", "p").unwrap(), PHC_A));
    }

    #[test]
    fn bounded_drops_the_soonest_to_expire() {
        let c = AuthCache::with_capacity(Duration::from_secs(100), 3);
        let t0 = Instant::now();
        for (i, u) in ["a", "b", "c"].iter().enumerate() {
            c.insert_at(
                u,
                c.mac(u, "p").unwrap(),
                PHC_A,
                t0 + Duration::from_secs(i as u64),
            );
        }
        c.insert_at(
            "d",
            c.mac("d", "p").unwrap(),
            PHC_A,
            t0 + Duration::from_secs(5),
        );
        assert_eq!(c.len(), 3);
        let now = t0 + Duration::from_secs(6);
        assert!(!c.hit_at("a", &c.mac("a", "p").unwrap(), PHC_A, now));
        for u in ["b", "c", "d"] {
            assert!(c.hit_at(u, &c.mac(u, "p").unwrap(), PHC_A, now), "{u}");
        }
        c.clear();
        assert!(c.is_empty());
    }

    #[tokio::test]
    async fn failures_are_not_cached() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("users.toml");
        super::super::users::add_user(&p, "alice", "s3cret", None, None).unwrap();
        let users = Arc::new(Users::load(&p).unwrap());
        let c = AuthCache::new(Duration::from_secs(300));
        let ip: IpAddr = [192, 0, 2, 1].into();
        let v = |n: &str, pw: &str| verify(&c, users.clone(), n.into(), pw.into(), ip);
        assert!(v("alice", "wrong").await.is_none());
        assert!(v("nobody", "s3cret").await.is_none());
        assert!(c.is_empty(), "no failure is remembered");
        assert_eq!(v("alice", "s3cret").await.unwrap().name, "alice");
        assert_eq!(c.len(), 1);
        assert!(
            v("alice", "wrong").await.is_none(),
            "a cached user still fails"
        );
        assert!(v("alice", "s3cret").await.is_some());
        // The account as loaded after a password change: the entry no longer applies.
        super::super::users::add_user(&p, "alice", "n3w", None, None).unwrap();
        let changed = Arc::new(Users::load(&p).unwrap());
        let (mac, u) = (
            c.mac("alice", "s3cret").unwrap(),
            changed.get("alice").unwrap(),
        );
        assert!(!c.hit("alice", &mac, u.phc()));
        assert!(verify(&c, changed, "alice".into(), "s3cret".into(), ip)
            .await
            .is_none());
    }
}
