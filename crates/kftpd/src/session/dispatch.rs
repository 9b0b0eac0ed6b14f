//! The single exhaustive match from [`Command`] to its handler in [`crate::commands`].

use super::Session;
use crate::commands::*;
use kftp_proto::{Command, Reply};

/// Runs one command that policy has allowed. `None` means the handler already replied.
pub async fn dispatch(s: &mut Session, cmd: Command) -> Option<Reply> {
    use Command as C;
    let r: Answer = match cmd {
        C::User(name) => login::user(s, name).await,
        C::Pass(pw) => login::pass(s, pw).await,
        C::Acct(_) => login::acct(s),
        C::Rein => login::rein(s),
        C::Quit => login::quit(s),
        C::Host(h) => login::host(s, &h),
        C::Cwd(p) => cwd::cwd(s, &p).await,
        C::Cdup => cwd::cwd(s, "..").await,
        C::Pwd => cwd::pwd(s),
        C::Smnt(_) => Err(Reply::new(
            502,
            "SMNT not implemented: every user has a single root.",
        )),
        C::Type(t) => params::type_(s, t),
        C::Stru(c) => params::stru(c),
        C::Mode(c) => params::mode(s, c),
        C::Sbuf(n) => params::sbuf(s, n),
        C::Allo(_) => Ok(Reply::new(
            202,
            "ALLO not needed: storage is allocated as data arrives.",
        )),
        C::Rest(r) => params::rest(s, r),
        C::Port(addr) | C::Eprt(addr) => port::port(s, addr),
        C::Pasv => pasv::pasv(s).await,
        C::Spas => pasv::spas(s).await,
        C::Spor(targets) => port::spor(s, &targets),
        C::Epsv(arg) => pasv::epsv(s, arg).await,
        C::Retr(p) => return replied(retr::retr(s, &p).await),
        C::Stor(p) => return replied(stor::stor(s, &p, stor::Kind::Stor).await),
        C::Appe(p) => return replied(stor::stor(s, &p, stor::Kind::Appe).await),
        C::Eret { offset, size, path } => {
            return replied(extended::eret(s, offset, size, &path).await)
        }
        C::Esto { offset, path } => return replied(extended::esto(s, offset, &path).await),
        C::Stou(hint) => return replied(stor::stou(s, hint.as_deref()).await),
        C::List { path, all } => {
            return replied(list::list(s, path.as_deref(), all, list::Format::Long).await)
        }
        C::Nlst { path, all } => {
            return replied(list::list(s, path.as_deref(), all, list::Format::Names).await)
        }
        C::Mlsd(path) => {
            return replied(list::list(s, path.as_deref(), true, list::Format::Facts).await)
        }
        C::Mlst(path) => list::mlst(s, path.as_deref()).await,
        C::Stat(Some(path)) => list::stat_path(s, &path).await,
        C::Stat(None) => info::stat(s),
        C::Dele(p) => files::dele(s, &p).await,
        C::Rmd(p) => files::rmd(s, &p).await,
        C::Mkd(p) => files::mkd(s, &p).await,
        C::Rnfr(p) => files::rnfr(s, &p).await,
        C::Rnto(p) => files::rnto(s, &p).await,
        C::Size(p) => files::size(s, &p).await,
        C::Mdtm(p) => files::mdtm(s, &p).await,
        C::Mfmt(t, p) => files::mfmt(s, t, &p).await,
        C::Hash(p) => return replied(hash::hash(s, &p).await),
        C::Rang(a, b) => hash::rang(s, a, b),
        C::XHash(algo, p, range) => return replied(hash::xhash(s, algo, &p, range).await),
        C::Cksm(algo, range, p) => return replied(hash::cksm(s, algo, &p, range).await),
        C::Avbl(p) => quota::avbl(s, p.as_deref()).await,
        C::Site(args) => site::site(s, &args).await,
        C::Syst => Ok(Reply::new(215, "UNIX Type: L8")),
        C::Help(verb) => info::help(verb.as_deref()),
        C::Noop => info::noop(s),
        C::Feat => info::feat(s),
        C::Opts(name, arg) => info::opts(s, &name, arg.as_deref()),
        C::Abor => info::abor(s).await,
        C::Auth(mech) => return replied(tls::auth(s, &mech).await),
        C::Pbsz(n) => tls::pbsz(s, n),
        C::Prot(p) => tls::prot(s, p),
        C::Ccc => Err(Reply::new(
            534,
            "CCC refused: the control connection stays encrypted.",
        )),
    };
    Some(r.unwrap_or_else(|refusal| refusal))
}

/// A handler that sends its own replies: nothing more to send, or its refusal.
fn replied(r: Replied) -> Option<Reply> {
    r.err()
}
