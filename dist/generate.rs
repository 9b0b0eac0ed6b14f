//! `kftpd generate-dist DIR` and `kftp generate-dist DIR`: write the manual pages and shell
//! completions made from the clap definitions, for packages (dist/deb.sh). Not a clap
//! subcommand, so it shows in no help text, page or completion: `DIR/man/*.8` (or `.1`),
//! `DIR/bash/NAME`, `DIR/zsh/_NAME`, `DIR/fish/NAME.fish`. Both binaries include this one
//! file (`#[path]` in their main.rs).

use clap_complete::Shell;
use std::ffi::OsString;
use std::path::Path;
use std::process::ExitCode;

/// The word that asks for it, as the first argument.
const WORD: &str = "generate-dist";

/// If the command line is `NAME generate-dist DIR`, writes everything and returns the exit
/// code; otherwise `None` and the program runs as usual.
pub fn requested(cmd: impl FnOnce() -> clap::Command, section: &str) -> Option<ExitCode> {
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    if args.first().is_none_or(|a| a != WORD) {
        return None;
    }
    let cmd = cmd();
    let name = cmd.get_name().to_string();
    let [_, dir] = args.as_slice() else {
        eprintln!("usage: {name} {WORD} DIR");
        return Some(ExitCode::from(2));
    };
    match write_all(cmd, section, Path::new(dir)) {
        Ok(()) => Some(ExitCode::SUCCESS),
        Err(e) => {
            eprintln!("{name}: {WORD}: {e}");
            Some(ExitCode::FAILURE)
        }
    }
}

fn write_all(cmd: clap::Command, section: &str, dir: &Path) -> std::io::Result<()> {
    let name = cmd.get_name().to_string();
    let mut cmd = cmd.disable_help_subcommand(true);
    cmd.build();
    let man = dir.join("man");
    std::fs::create_dir_all(&man)?;
    write_man(cmd.clone(), section, &man)?;
    for (shell, sub, file) in [
        (Shell::Bash, "bash", name.clone()),
        (Shell::Zsh, "zsh", format!("_{name}")),
        (Shell::Fish, "fish", format!("{name}.fish")),
    ] {
        std::fs::create_dir_all(dir.join(sub))?;
        let mut out = std::fs::File::create(dir.join(sub).join(file))?;
        clap_complete::generate(shell, &mut cmd, name.clone(), &mut out);
    }
    Ok(())
}

/// One page per command and visible subcommand (`kftpd.8`, `kftpd-user-add.8`, `kftp-get.1`...).
fn write_man(cmd: clap::Command, section: &str, dir: &Path) -> std::io::Result<()> {
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()).cloned() {
        write_man(sub, section, dir)?;
    }
    let page = clap_mangen::Man::new(cmd)
        .section(section)
        .source(concat!("kftp ", env!("CARGO_PKG_VERSION")))
        .manual("kftp");
    page.generate_to(dir)?;
    Ok(())
}
