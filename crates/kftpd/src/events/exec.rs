//! `--event-exec PROGRAM`: one run of the program per event, the event's JSON on its
//! standard input, at most `--event-timeout` seconds (then killed).

use super::Event;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;

/// Runs `program` for each event of `rx`, one at a time, in order.
pub async fn worker(program: PathBuf, timeout: Duration, mut rx: mpsc::Receiver<Arc<Event>>) {
    while let Some(ev) = rx.recv().await {
        let kind = ev.event;
        let Some(line) = ev.json_line() else { continue };
        let run = async {
            let mut child = tokio::process::Command::new(&program)
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::null())
                .kill_on_drop(true)
                .spawn()?;
            if let Some(mut stdin) = child.stdin.take() {
                // A program that does not read its input is its own business.
                let _ = stdin.write_all(&line).await;
            }
            child.wait().await
        };
        match tokio::time::timeout(timeout, run).await {
            Ok(Ok(st)) if st.success() => {}
            Ok(Ok(st)) => {
                tracing::warn!(event = kind, status = %st, program = %program.display(), "event program failed")
            }
            Ok(Err(e)) => {
                tracing::warn!(event = kind, error = %e, program = %program.display(), "cannot run the event program")
            }
            Err(_) => {
                tracing::warn!(event = kind, secs = timeout.as_secs(), program = %program.display(), "event program timed out: killed")
            }
        }
    }
}
