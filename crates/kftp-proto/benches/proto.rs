//! Micro-benchmarks for the hot pure functions: the command parser and the listing formatter.
use criterion::{black_box, criterion_group, criterion_main, Criterion};
use kftp_proto::listing::{format_facts, format_list_line, Entry, Kind, Perms};
use kftp_proto::parse_line;

fn parser(c: &mut Criterion) {
    let lines: &[&[u8]] = &[
        b"RETR some/long/path/to/a/file.bin",
        b"EPRT |2|::1|51234|",
        b"PORT 127,0,0,1,200,10",
        b"LIST -la /pub",
        b"XSHA256 \"file name\" 0 1048576",
    ];
    c.bench_function("parse_line mix", |b| {
        b.iter(|| {
            for l in lines {
                black_box(parse_line(black_box(l)).ok());
            }
        })
    });
}

fn listing(c: &mut Criterion) {
    let entries: Vec<Entry> = (0..1000)
        .map(|i| Entry {
            name: format!("file-{i:05}.dat"),
            kind: if i % 10 == 0 { Kind::Dir } else { Kind::File },
            size: i * 4096,
            mtime: 1_700_000_000 + i as i64,
            mode: 0o644,
            nlink: 1,
            dev: 2049,
            ino: 1_000_000 + i,
        })
        .collect();
    let perms = Perms {
        read: true,
        write: true,
        append: true,
        delete: true,
        rename: true,
    };
    c.bench_function("LIST 1000 entries", |b| {
        let mut s = String::with_capacity(128 * 1024);
        b.iter(|| {
            s.clear();
            for e in &entries {
                format_list_line(e, 1_700_000_500, &mut s);
                s.push_str("\r\n");
            }
            black_box(s.len())
        })
    });
    c.bench_function("MLSD 1000 entries", |b| {
        let mut s = String::with_capacity(128 * 1024);
        b.iter(|| {
            s.clear();
            for e in &entries {
                format_facts(e, perms, &mut s);
                s.push_str("\r\n");
            }
            black_box(s.len())
        })
    });
}

criterion_group!(benches, parser, listing);
criterion_main!(benches);
