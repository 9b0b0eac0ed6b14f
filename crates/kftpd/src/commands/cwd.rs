//! CWD, CDUP, PWD.

use super::storage;
use crate::session::Session;
use kftp_proto::listing::Kind;
use kftp_proto::Reply;

/// CWD (and CDUP as `CWD ..`): the target must be a directory inside the root.
pub async fn cwd(s: &mut Session, arg: &str) -> Reply {
    let fs = match storage(s) {
        Ok(f) => f,
        Err(r) => return r,
    };
    let p = match s.resolve(arg) {
        Ok(p) => p,
        Err(r) => return r,
    };
    match fs.stat(&p).await {
        Ok(e) if e.kind == Kind::Dir => {
            s.cwd = p;
            Reply::new(250, format!("Directory changed to {}.", s.cwd.quoted()))
        }
        Ok(_) => Reply::new(550, format!("{arg}: Not a directory.")),
        Err(e) => Reply::new(e.code(), format!("{arg}: {e}.")),
    }
}

/// PWD.
pub fn pwd(s: &Session) -> Reply {
    Reply::new(257, format!("{} is the current directory.", s.cwd.quoted()))
}
