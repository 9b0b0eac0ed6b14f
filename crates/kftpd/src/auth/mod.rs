//! Who may log in, and what they may do: the users file and Argon2id verification.

pub mod hasher;
pub mod users;

pub use users::{Perms, User, Users};
