//! VPath::resolve: total, and its result is always absolute, normalised, free of `..`,
//! `.`, empty components and NUL, whatever the working directory and argument.
#![no_main]
use kftp_proto::path::VPath;
use libfuzzer_sys::fuzz_target;

fn check(p: &VPath) {
    let s = p.as_str();
    assert!(s.starts_with('/'), "{s:?} not absolute");
    assert!(!s.contains('\0'));
    if s != "/" {
        assert!(!s.ends_with('/'), "{s:?} trailing slash");
        for c in s[1..].split('/') {
            assert!(
                !c.is_empty() && c != "." && c != "..",
                "{s:?} not normalised"
            );
        }
    }
    // Resolving the result again from the root is the identity.
    let again = VPath::resolve(&VPath::root(), s).expect("a resolved path resolves");
    assert_eq!(again.as_str(), s);
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (cwd_arg, arg) = text.split_once('\n').unwrap_or(("/", &text));
    let Ok(cwd) = VPath::resolve(&VPath::root(), cwd_arg) else {
        return;
    };
    check(&cwd);
    if let Ok(p) = VPath::resolve(&cwd, arg) {
        check(&p);
    }
});
