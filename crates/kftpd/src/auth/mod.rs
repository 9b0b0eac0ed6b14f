//! Who may log in, and what they may do: the users file, Argon2id verification and the
//! cache of recent successful logins, and system accounts through PAM.

pub mod cache;
pub mod hasher;
pub mod pam;
pub mod users;

pub use users::{Perm, Perms, User, Users};
