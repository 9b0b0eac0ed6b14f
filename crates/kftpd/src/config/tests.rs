//! Precedence (defaults < file < environment < flags) and the flag syntax, through the
//! real parser.

use super::*;
use clap::{Args, FromArgMatches};
use std::path::Path;
use std::time::Duration;

/// The settings the command line `args` gives (with the process environment).
fn flags(args: &[&str]) -> Settings {
    let cmd = flags_only(Settings::augment_args(clap::Command::new("kftpd")));
    let m = cmd
        .try_get_matches_from(std::iter::once("kftpd").chain(args.iter().copied()))
        .unwrap_or_else(|e| panic!("{args:?}: {e}"));
    Settings::from_arg_matches(&m).unwrap()
}

fn file(text: &str) -> Settings {
    file::parse(Path::new("k.toml"), text).unwrap()
}

#[test]
fn defaults_under_file_under_flags() {
    let c = resolve(flags(&[]), Settings::default()).unwrap();
    assert_eq!(c.max_per_ip, settings::MAX_PER_IP);
    assert_eq!(c.idle_timeout, Duration::from_secs(settings::IDLE_TIMEOUT));
    assert_eq!(c.data_path, kftp_datapath::PathChoice::Auto);
    assert_eq!(c.users_file, Path::new(".kftpd-state/users.toml"));
    assert_eq!(c.tls_sniff, Duration::ZERO, "no wait before the greeting");

    let f = "max_per_ip = 3\nidle_timeout = 7\ndata_path = \"copy\"\nstate_dir = \"/st\"\n";
    let c = resolve(flags(&[]), file(f)).unwrap();
    assert_eq!(c.max_per_ip, 3);
    assert_eq!(c.idle_timeout, Duration::from_secs(7));
    assert_eq!(c.data_path, kftp_datapath::PathChoice::Copy);
    assert_eq!(c.users_file, Path::new("/st/users.toml"));

    let c = resolve(
        flags(&["--max-per-ip", "5", "--data-path", "kernel"]),
        file(f),
    )
    .unwrap();
    assert_eq!(c.max_per_ip, 5, "the flag beats the file");
    assert_eq!(
        c.idle_timeout,
        Duration::from_secs(7),
        "the file still counts"
    );
    assert_eq!(c.data_path, kftp_datapath::PathChoice::Kernel);
}

#[test]
fn environment_between_file_and_flags() {
    // The only test that sets these variables (tests run in threads of one process).
    std::env::set_var("KFTPD_METRICS_LISTEN", "127.0.0.1:9002");
    std::env::set_var("KFTPD_S3_REGION", "from-env");
    let f = file("metrics_listen = \"127.0.0.1:9001\"\ns3_region = \"from-file\"\n");
    let c = resolve(flags(&[]), f.clone()).unwrap();
    assert_eq!(
        c.ops.metrics_listen,
        Some("127.0.0.1:9002".parse().unwrap())
    );
    assert_eq!(c.s3.region.as_deref(), Some("from-env"));
    let c = resolve(
        flags(&["--metrics-listen", "127.0.0.1:9003", "--s3-region", "flag"]),
        f.clone(),
    )
    .unwrap();
    assert_eq!(
        c.ops.metrics_listen,
        Some("127.0.0.1:9003".parse().unwrap())
    );
    assert_eq!(c.s3.region.as_deref(), Some("flag"));
    std::env::remove_var("KFTPD_METRICS_LISTEN");
    std::env::remove_var("KFTPD_S3_REGION");
    let c = resolve(flags(&[]), f).unwrap();
    assert_eq!(
        c.ops.metrics_listen,
        Some("127.0.0.1:9001".parse().unwrap())
    );
}

#[test]
fn bool_flags_and_their_file_keys() {
    let c = resolve(flags(&["--anonymous"]), Settings::default()).unwrap();
    assert!(c.anonymous);
    // A flag can turn off what the file turned on.
    let c = resolve(flags(&["--anonymous=false"]), file("anonymous = true\n")).unwrap();
    assert!(!c.anonymous);
    assert!(
        resolve(flags(&[]), Settings::default())
            .unwrap()
            .ops
            .sandbox
    );
    assert!(
        !resolve(flags(&[]), file("sandbox = false\n"))
            .unwrap()
            .ops
            .sandbox
    );
    let c = resolve(flags(&["--no-sandbox"]), file("sandbox = true\n")).unwrap();
    assert!(!c.ops.sandbox);
}

#[test]
fn tls_policy_flag_beats_file() {
    let policy = |a: &[&str], f: &str| resolve(flags(a), file(f)).unwrap().tls_policy;
    assert_eq!(policy(&[], ""), TlsPolicy::NonLoopback);
    assert_eq!(policy(&[], "require_tls = true\n"), TlsPolicy::Always);
    assert_eq!(
        policy(&["--no-tls-required"], "require_tls = true\n"),
        TlsPolicy::Never
    );
    assert_eq!(
        policy(&["--require-tls"], "no_tls_required = true\n"),
        TlsPolicy::Always
    );
    assert_eq!(policy(&["--no-tls"], ""), TlsPolicy::Never);
    assert_eq!(
        policy(&["--tls-required", "always"], "no_tls_required = true\n"),
        TlsPolicy::Always
    );
    assert_eq!(policy(&[], "tls_required = \"never\"\n"), TlsPolicy::Never);
    assert_eq!(
        policy(&[], "tls_required = \"non-loopback\"\n"),
        TlsPolicy::NonLoopback
    );
}

#[test]
fn flag_values_parse_like_the_file() {
    let c = resolve(
        flags(&[
            "--rate-user",
            "2M",
            "--upload-mode",
            "0600",
            "--passive-ports",
            "30000-30009",
            "--log-format",
            "json",
        ]),
        Settings::default(),
    )
    .unwrap();
    assert_eq!(c.abuse.rate_user, 2_000_000);
    assert_eq!(c.abuse.anonymous_upload_max_bytes, 100 << 20);
    assert_eq!(c.upload_mode, 0o600);
    assert_eq!(c.passive_ports, Some(30000..=30009));
    assert_eq!(c.ops.log_format, LogFormat::Json);
    let cmd = flags_only(Settings::augment_args(clap::Command::new("kftpd")));
    let e = cmd
        .try_get_matches_from(["kftpd", "--data-path", "warp"])
        .unwrap_err()
        .to_string();
    assert!(e.contains("possible values: kernel, copy, auto"), "{e}");
}

#[test]
fn help_shows_the_defaults_the_parser_does_not_apply() {
    let mut cmd = flags_only(Settings::augment_args(clap::Command::new("kftpd")));
    let help = cmd.render_help().to_string();
    assert!(help.contains("[default: 2000]"), "{help}");
    assert!(help.contains("[default: auto]"), "{help}");
    assert!(help.contains("--anonymous[=<ANONYMOUS>]"), "{help}");
    assert_eq!(flags(&[]).max_sessions, None);
}

#[test]
fn conflicting_settings_are_refused() {
    let e = resolve(flags(&["--proxy-protocol"]), Settings::default()).unwrap_err();
    assert!(e.to_string().contains("--proxy-trusted"), "{e}");
    let e = resolve(
        flags(&["--event-exec", "/bin/true"]),
        file("seccomp = true\n"),
    )
    .unwrap_err();
    assert!(e.to_string().contains("--seccomp"), "{e}");
}
