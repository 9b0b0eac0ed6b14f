//! Session settings (PBSZ and PROT, OPTS UTF8, TYPE, MODE E, OPTS RETR Parallelism) and
//! how they are sent: together, where the server takes pipelined commands.
//!
//! A setting's success changes nothing kftp sends after it, and a refusal ends the
//! operation, so nothing needs its reply before the next command goes out. Sent together
//! (and with the command that follows them: EPRT, EPSV), settings cost one round trip
//! between them instead of one each: on a long fat network, the login's PBSZ, PROT,
//! OPTS UTF8 and TYPE I are one round trip, and a MODE E get's MODE E, OPTS RETR and EPRT
//! another (BENCHMARKS.md, HPC run 9; issue #17).
//!
//! Which servers: those that announce PARALLEL in FEAT, i.e. GridFTP's
//! (globus-gridftp-server) and kftpd. They read the control connection as a stream of
//! lines, which `globus-url-copy -pp` and [`crate::pipeline`] rely on already. Everywhere
//! else (vsftpd, proftpd, pure-ftpd...) each setting goes alone, as before: RFC 959 does
//! not promise that a server reads a command sent before the last one was answered.
//!
//! Every reply is still read and checked, in order. A refused setting gives the error it
//! gave alone (its name and the server's reply), after the rest of the batch's replies
//! were read, so the control connection stays in step for whatever the caller does next.

use crate::client::Client;
use crate::error::{Error, ErrorKind, Result};
use kftp_proto::{Command, Reply, TransferType};

/// What a setting's success tells the client about the server's state.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Effect {
    /// Nothing kftp tracks.
    None,
    /// `TYPE`.
    Type(TransferType),
    /// `MODE E`.
    ModeE,
    /// `OPTS RETR Parallelism=n,n,n;`.
    Parallelism(u32),
}

/// How a refusal is reported.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Check {
    /// A refusal is an error, named by the setting's `what`.
    Required,
    /// A refusal is a TLS error (PROT P: without it data would go in clear).
    Tls,
    /// The reply does not matter (OPTS UTF8 ON: names are sent as UTF-8 either way).
    Ignored,
}

/// One settings command, what names it in an error, and what its success means.
#[derive(Debug)]
pub(crate) struct Setting {
    cmd: Command,
    what: String,
    check: Check,
    effect: Effect,
}

impl Setting {
    /// A setting that must succeed; `what` names it in the error.
    pub(crate) fn required(cmd: Command, what: impl Into<String>, effect: Effect) -> Setting {
        Setting {
            cmd,
            what: what.into(),
            check: Check::Required,
            effect,
        }
    }

    /// A setting whose refusal is a TLS error.
    pub(crate) fn tls(cmd: Command, what: impl Into<String>) -> Setting {
        Setting {
            cmd,
            what: what.into(),
            check: Check::Tls,
            effect: Effect::None,
        }
    }

    /// A setting whose reply is read and let go.
    pub(crate) fn ignored(cmd: Command) -> Setting {
        Setting {
            what: cmd.verb().to_string(),
            cmd,
            check: Check::Ignored,
            effect: Effect::None,
        }
    }
}

impl Client {
    /// Whether settings go out together on this session (the module's doc says why these
    /// servers).
    pub(crate) fn pipelines_settings(&self) -> bool {
        self.features.parallel
    }

    /// Sends `settings`, together where the server takes pipelined commands, else one at
    /// a time, and checks each reply: the first refusal is the error.
    pub(crate) async fn settle(&mut self, settings: Vec<Setting>) -> Result<()> {
        if !self.pipelines_settings() || settings.len() < 2 {
            for s in settings {
                let r = self.ctl.cmd(&s.cmd).await?;
                self.apply(s, r)?;
            }
            return Ok(());
        }
        let cmds: Vec<Command> = settings.iter().map(|s| s.cmd.clone()).collect();
        self.ctl.send_all(&cmds).await?;
        match self.read_settled(settings).await? {
            Some(refused) => Err(refused),
            None => Ok(()),
        }
    }

    /// [`Client::settle`], then `then` (a command answered with one reply, returned
    /// whatever its code) in the same write. A refused setting is the error once `then`'s
    /// reply has been read too.
    pub(crate) async fn settle_then(
        &mut self,
        settings: Vec<Setting>,
        then: &Command,
    ) -> Result<Reply> {
        if !self.pipelines_settings() || settings.is_empty() {
            self.settle(settings).await?;
            return self.ctl.cmd(then).await;
        }
        let mut cmds: Vec<Command> = settings.iter().map(|s| s.cmd.clone()).collect();
        cmds.push(then.clone());
        self.ctl.send_all(&cmds).await?;
        let refused = self.read_settled(settings).await?;
        let r = self.ctl.read_reply().await?;
        match refused {
            Some(refused) => Err(refused),
            None => Ok(r),
        }
    }

    /// Reads and checks the replies to `settings`, sent already: all of them, so that the
    /// connection stays in step. `Ok(Some(e))`: the first refusal.
    async fn read_settled(&mut self, settings: Vec<Setting>) -> Result<Option<Error>> {
        let mut refused = None;
        for s in settings {
            let r = self.ctl.read_reply().await?;
            if let Err(e) = self.apply(s, r) {
                refused.get_or_insert(e);
            }
        }
        Ok(refused)
    }

    /// Checks one setting's reply and notes its effect.
    fn apply(&mut self, s: Setting, r: Reply) -> Result<()> {
        match s.check {
            Check::Ignored => return Ok(()),
            _ if r.is_success() => {}
            Check::Required => return Err(Error::reply(s.what, r)),
            Check::Tls => {
                let e = Error::reply(s.what, r);
                return Err(Error::new(ErrorKind::Tls, e.to_string()));
            }
        }
        match s.effect {
            Effect::None => {}
            Effect::Type(t) => self.ty = t,
            Effect::ModeE => self.mode_e = true,
            Effect::Parallelism(n) => self.mode_e_cache.retr_parallelism = Some(n),
        }
        Ok(())
    }
}
