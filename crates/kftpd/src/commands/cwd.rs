//! CWD, CDUP, PWD.

use super::{storage, Answer, OrReply};
use crate::session::Session;
use kftp_proto::listing::Kind;
use kftp_proto::Reply;

/// CWD (and CDUP as `CWD ..`): the target must be a directory inside the root.
pub async fn cwd(s: &mut Session, arg: &str) -> Answer {
    let fs = storage(s)?;
    let p = s.resolve(arg)?;
    if fs.stat(&p).await.or_reply(arg)?.kind != Kind::Dir {
        return Err(Reply::new(550, format!("{arg}: Not a directory.")));
    }
    s.cwd = p;
    Ok(Reply::new(
        250,
        format!("Directory changed to {}.", s.cwd.quoted()),
    ))
}

/// PWD.
pub fn pwd(s: &Session) -> Answer {
    Ok(Reply::new(
        257,
        format!("{} is the current directory.", s.cwd.quoted()),
    ))
}
