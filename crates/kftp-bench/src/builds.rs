//! The kftpd builds under test: `--kftpd [NAME=]PATH`, once by default, or several times
//! to measure builds side by side in one run. A change is then measured against the build
//! before it and the peers in the same interleaved reps, on the same page cache and load,
//! which is how BENCHMARKS.md's before/after ratios are made.
//!
//! Each build runs every `--paths` entry. With one build a server is labelled by its data
//! path (`kftpd (auto)`); with several by `NAME:PATH` (`kftpd (before:auto)`).

use std::path::{Path, PathBuf};

/// One kftpd binary.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Build {
    /// The NAME of `NAME=PATH` (required when there are several builds).
    pub name: Option<String>,
    pub bin: PathBuf,
}

/// One kftpd to start: a build with one `--data-path`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Instance<'a> {
    pub bin: &'a Path,
    /// kftpd's `--data-path`.
    pub data_path: &'a str,
    /// The label in tables, logs and state directories (module docs).
    pub label: String,
    /// `--kftpd-arg`s: more flags for every kftpd.
    pub extra: &'a [String],
}

/// Parses the `--kftpd` values; none means `default()` (the kftpd next to the bench).
pub fn parse(
    specs: &[String],
    default: impl FnOnce() -> Result<PathBuf, String>,
) -> Result<Vec<Build>, String> {
    if specs.is_empty() {
        return Ok(vec![Build {
            name: None,
            bin: default()?,
        }]);
    }
    let builds: Vec<Build> = specs.iter().map(|s| parse_one(s)).collect();
    if builds.len() > 1 {
        let mut seen = Vec::new();
        for (b, spec) in builds.iter().zip(specs) {
            let Some(name) = &b.name else {
                return Err(format!(
                    "--kftpd {spec}: with several builds each needs a name (NAME=PATH)"
                ));
            };
            if seen.contains(&name) {
                return Err(format!("--kftpd: the name '{name}' is given twice"));
            }
            seen.push(name);
        }
    }
    Ok(builds)
}

/// `NAME=PATH` when what comes before the first `=` is a name (letters, digits, `-`, `_`,
/// `.`), else the whole value is the path (a path may hold `=`).
fn parse_one(spec: &str) -> Build {
    if let Some((name, path)) = spec.split_once('=') {
        let is_name = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        if is_name && !path.is_empty() {
            return Build {
                name: Some(name.into()),
                bin: path.into(),
            };
        }
    }
    Build {
        name: None,
        bin: spec.into(),
    }
}

/// Every build with every data path, build by build, each with the `extra` flags.
pub fn instances<'a>(
    builds: &'a [Build],
    paths: &'a [String],
    extra: &'a [String],
) -> Vec<Instance<'a>> {
    let several = builds.len() > 1;
    builds
        .iter()
        .flat_map(|b| {
            paths.iter().map(move |p| Instance {
                bin: &b.bin,
                data_path: p,
                label: match (&b.name, several) {
                    (Some(n), true) => format!("{n}:{p}"),
                    _ => p.clone(),
                },
                extra,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn specs(s: &[&str]) -> Vec<String> {
        s.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn one_build_is_labelled_by_its_path() {
        let b = parse(&[], || Ok("/x/kftpd".into())).unwrap();
        assert_eq!(b[0].bin, PathBuf::from("/x/kftpd"));
        let paths = specs(&["auto", "copy"]);
        let i = instances(&b, &paths, &[]);
        assert_eq!(
            i.iter().map(|x| x.label.as_str()).collect::<Vec<_>>(),
            ["auto", "copy"]
        );
        let named = parse(&specs(&["new=/y/kftpd"]), || unreachable!()).unwrap();
        assert_eq!(instances(&named, &paths, &[])[1].label, "copy");
        assert_eq!(named[0].bin, PathBuf::from("/y/kftpd"));
    }

    #[test]
    fn several_builds_need_distinct_names() {
        let b = parse(
            &specs(&["before=/a/kftpd", "after=/b/kftpd"]),
            || unreachable!(),
        )
        .unwrap();
        let paths = specs(&["auto"]);
        let extra = specs(&["--tls-strict-eof"]);
        let i = instances(&b, &paths, &extra);
        assert_eq!(i[1].extra, extra);
        assert_eq!(i[0].label, "before:auto");
        assert_eq!(i[1].label, "after:auto");
        assert_eq!(i[1].bin, Path::new("/b/kftpd"));
        assert!(parse(&specs(&["/a/kftpd", "after=/b/kftpd"]), || unreachable!()).is_err());
        assert!(parse(&specs(&["x=/a/kftpd", "x=/b/kftpd"]), || unreachable!()).is_err());
    }

    #[test]
    fn a_path_with_an_equals_sign_is_a_path() {
        assert_eq!(parse_one("/tmp/a=b/kftpd").name, None);
        assert_eq!(
            parse_one("/tmp/a=b/kftpd").bin,
            PathBuf::from("/tmp/a=b/kftpd")
        );
        assert_eq!(parse_one("=x").name, None);
        assert_eq!(parse_one("v1.2=x").name.as_deref(), Some("v1.2"));
    }
}
