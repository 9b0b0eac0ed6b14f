//! MODE E, GridFTP's extended block mode (OGF GFD.20; the Grid Community Toolkit's
//! `globus_gridftp_protocol_extensions.dox`), without I/O.
//!
//! Every data connection carries blocks: a 17-byte header (descriptor, 64-bit byte count,
//! 64-bit file offset, big-endian) and `count` bytes of the file at `offset`. Blocks may
//! arrive on any connection in any order, which is what lets one file travel over several
//! TCP streams. A sender ends each connection with an EOD block (descriptor bit 8, usually
//! empty); exactly one connection also carries EOF (bit 64), whose header has no payload
//! and whose *offset* field holds how many EODs the receiver must count before the file is
//! complete (counting open connections is not enough: one may still be in flight). Bit 4
//! says the sender closes the connection after the block; without it the connection may be
//! cached for the next transfer.
//!
//! Also here: the `111 Range Marker` restart ranges (which REST takes in MODE E), the
//! `112-Perf Marker` reply, and the `OPTS RETR Parallelism=n,n,n;` argument.

/// Bytes in one block header.
pub const HEADER_LEN: usize = 17;

/// Descriptor bit: end of record (legacy, ignored).
pub const DESC_EOR: u8 = 0x80;
/// Descriptor bit: end of file; the offset field carries the EOD count and there is no
/// payload.
pub const DESC_EOF: u8 = 0x40;
/// Descriptor bit: the sender suspects errors in this block.
pub const DESC_ERRORS: u8 = 0x20;
/// Descriptor bit: the block is an (opaque) restart marker, not file data.
pub const DESC_RESTART: u8 = 0x10;
/// Descriptor bit: end of data on this connection.
pub const DESC_EOD: u8 = 0x08;
/// Descriptor bit: the sender closes this connection after this block.
pub const DESC_CLOSE: u8 = 0x04;

/// One block header as it is on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Bit flags (`DESC_*`).
    pub descriptor: u8,
    /// Payload bytes following the header (unused, and zero, with EOF).
    pub count: u64,
    /// File offset of the payload, or the expected EOD count with EOF.
    pub offset: u64,
}

/// What one header means, once the descriptor is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Block {
    /// `len` bytes of the file at `offset` follow (`len` may be 0, e.g. a bare EOD).
    Data {
        /// Where the bytes go in the file.
        offset: u64,
        /// How many payload bytes follow.
        len: u64,
    },
    /// End of file: `eod_count` EODs make the whole transfer. No payload follows.
    Eof {
        /// EODs the receiver must count, over all connections.
        eod_count: u64,
    },
    /// An opaque restart marker (`len` payload bytes to be skipped); GridFTP uses 111
    /// replies instead, so receivers only skip these.
    Restart {
        /// Payload bytes to skip.
        len: u64,
    },
}

/// Why a header is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeaderError {
    /// `offset + count` does not fit in 64 bits.
    Overflow,
}

impl Header {
    /// A data block of `len` bytes at `offset`.
    pub fn data(offset: u64, len: u64) -> Self {
        Header {
            descriptor: 0,
            count: len,
            offset,
        }
    }

    /// An empty block that ends data on this connection (`close`: and closes it).
    pub fn eod(close: bool) -> Self {
        Header {
            descriptor: DESC_EOD | if close { DESC_CLOSE } else { 0 },
            count: 0,
            offset: 0,
        }
    }

    /// The EOF block (also this connection's EOD) announcing `eod_count` EODs in all.
    pub fn eof(eod_count: u64, close: bool) -> Self {
        Header {
            descriptor: DESC_EOF | DESC_EOD | if close { DESC_CLOSE } else { 0 },
            count: 0,
            offset: eod_count,
        }
    }

    /// The 17 wire bytes.
    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let mut b = [0u8; HEADER_LEN];
        b[0] = self.descriptor;
        b[1..9].copy_from_slice(&self.count.to_be_bytes());
        b[9..17].copy_from_slice(&self.offset.to_be_bytes());
        b
    }

    /// Reads a header from its 17 wire bytes.
    pub fn decode(b: &[u8; HEADER_LEN]) -> Self {
        let mut count = [0u8; 8];
        let mut offset = [0u8; 8];
        count.copy_from_slice(&b[1..9]);
        offset.copy_from_slice(&b[9..17]);
        Header {
            descriptor: b[0],
            count: u64::from_be_bytes(count),
            offset: u64::from_be_bytes(offset),
        }
    }

    /// True when this block ends data on its connection.
    pub fn is_eod(&self) -> bool {
        self.descriptor & DESC_EOD != 0
    }

    /// True when the sender closes the connection after this block.
    pub fn is_close(&self) -> bool {
        self.descriptor & DESC_CLOSE != 0
    }

    /// What the header means. EOF wins over data (its fields are reinterpreted, as the
    /// toolkit does); a data block whose end would pass 2^64 is refused.
    pub fn block(&self) -> Result<Block, HeaderError> {
        if self.descriptor & DESC_EOF != 0 {
            return Ok(Block::Eof {
                eod_count: self.offset,
            });
        }
        if self.descriptor & DESC_RESTART != 0 {
            return Ok(Block::Restart { len: self.count });
        }
        self.offset
            .checked_add(self.count)
            .ok_or(HeaderError::Overflow)?;
        Ok(Block::Data {
            offset: self.offset,
            len: self.count,
        })
    }
}

/// The receiver's end-of-file accounting over all of a transfer's connections.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct EodCounter {
    expected: Option<u64>,
    received: u64,
}

impl EodCounter {
    /// Counts one header; true once the transfer is complete (EOF seen and as many EODs
    /// counted as it announced).
    pub fn note(&mut self, h: &Header) -> bool {
        if h.descriptor & DESC_EOF != 0 {
            self.note_eof(h.offset);
        }
        if h.is_eod() {
            self.note_eod();
        }
        self.done()
    }

    /// Records EOF's announced EOD count.
    pub fn note_eof(&mut self, eod_count: u64) {
        self.expected = Some(eod_count);
    }

    /// Counts one connection's EOD.
    pub fn note_eod(&mut self) {
        self.received = self.received.saturating_add(1);
    }

    /// True once EOF was seen and its EOD count reached.
    pub fn done(&self) -> bool {
        self.expected.is_some_and(|n| self.received >= n)
    }

    /// The EOD count EOF announced, if it came.
    pub fn expected(&self) -> Option<u64> {
        self.expected
    }

    /// EODs counted so far.
    pub fn received(&self) -> u64 {
        self.received
    }
}

/// Most ranges one marker or REST argument may hold; more is refused rather than buffered.
pub const MAX_RANGES: usize = 256;

/// A set of byte ranges `[start, end)`, kept sorted and merged, at most [`MAX_RANGES`].
///
/// The text form is GridFTP's: `0-30,30-90`, where the end is the first byte *not*
/// covered. The protocol text's examples read as inclusive, but the toolkit's server,
/// which is what clients meet, writes `111 Range Marker 0-3000000` for a 3,000,000-byte
/// file, so kftp follows the implementation.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Ranges(Vec<(u64, u64)>);

impl Ranges {
    /// An empty set.
    pub fn new() -> Self {
        Ranges(Vec::new())
    }

    /// The ranges, sorted, disjoint and not adjacent.
    pub fn as_slice(&self) -> &[(u64, u64)] {
        &self.0
    }

    /// Adds `[start, end)`, merging with neighbours. False (and unchanged) when the set is
    /// full and the range would need a new entry. Empty ranges are ignored.
    pub fn insert(&mut self, start: u64, end: u64) -> bool {
        if start >= end {
            return true;
        }
        // Ranges before `lo` end before `start`; ranges from `hi` on start after `end`.
        let lo = self.0.partition_point(|&(_, e)| e < start);
        let hi = self.0.partition_point(|&(s, _)| s <= end);
        if lo == hi {
            if self.0.len() >= MAX_RANGES {
                return false;
            }
            self.0.insert(lo, (start, end));
        } else {
            let s = self.0[lo].0.min(start);
            let e = self.0[hi - 1].1.max(end);
            self.0.splice(lo..hi, [(s, e)]);
        }
        true
    }

    /// Bytes from 0 covered without a gap (what a plain offset restart could resume).
    pub fn prefix(&self) -> u64 {
        match self.0.first() {
            Some(&(0, e)) => e,
            _ => 0,
        }
    }

    /// The gaps in `[0, len)`: what remains to be sent after a restart.
    pub fn missing(&self, len: u64) -> Vec<(u64, u64)> {
        let mut out = Vec::new();
        let mut at = 0;
        for &(s, e) in &self.0 {
            if s >= len {
                break;
            }
            if s > at {
                out.push((at, s));
            }
            at = at.max(e);
        }
        if at < len {
            out.push((at, len));
        }
        out
    }

    /// Parses `a-b[,c-d...]` (REST's argument in MODE E, a marker's list). None for any
    /// malformed or empty range, or more than [`MAX_RANGES`] ranges.
    pub fn parse(s: &str) -> Option<Self> {
        let mut r = Ranges::new();
        for (i, part) in s.trim().split(',').enumerate() {
            if i >= MAX_RANGES {
                return None;
            }
            let (a, b) = part.trim().split_once('-')?;
            let (a, b) = (number(a)?, number(b)?);
            if a >= b || !r.insert(a, b) {
                return None;
            }
        }
        Some(r)
    }

    /// The end of the last range (0 when empty): how long a file holding them all is at
    /// least.
    pub fn end(&self) -> u64 {
        self.0.last().map_or(0, |&(_, e)| e)
    }

    /// Bytes the ranges cover.
    pub fn covered(&self) -> u64 {
        self.0.iter().map(|(s, e)| e - s).sum()
    }

    /// The list form, `0-29,60-89`.
    pub fn format(&self) -> String {
        let parts: Vec<String> = self.0.iter().map(|(s, e)| format!("{s}-{e}")).collect();
        parts.join(",")
    }
}

/// REST's argument. A plain offset is RFC 3659's REST STREAM; in MODE E GridFTP also takes
/// the byte ranges the receiver already has (`REST 0-1000,2000-3000`, as in `111` range
/// markers), and reads a plain `REST n` as the range `0-n` (what the toolkit's server
/// does), so one type serves both.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Restart {
    /// `REST n`: the first `n` bytes are there.
    Offset(u64),
    /// `REST a-b,c-d`: these ranges are there (sorted, merged, at most [`MAX_RANGES`]).
    Ranges(Ranges),
}

impl Default for Restart {
    fn default() -> Self {
        Restart::Offset(0)
    }
}

impl Restart {
    /// Parses REST's argument: digits (an offset) or a range list; None for anything else
    /// (signs, spaces inside, empty or reversed ranges, more than [`MAX_RANGES`] ranges).
    pub fn parse(s: &str) -> Option<Self> {
        let s = s.trim();
        if s.contains('-') {
            Ranges::parse(s).map(Restart::Ranges)
        } else {
            number(s).map(Restart::Offset)
        }
    }

    /// True for `REST 0` (or no REST): nothing to skip.
    pub fn is_none(&self) -> bool {
        *self == Restart::Offset(0)
    }

    /// The stream offset this restart amounts to: `n`, or the end of a single range that
    /// starts at 0; None for a range list with a gap, which only MODE E can honour.
    pub fn offset(&self) -> Option<u64> {
        match self {
            Restart::Offset(n) => Some(*n),
            Restart::Ranges(r) => match r.as_slice() {
                [(0, end)] => Some(*end),
                _ => None,
            },
        }
    }

    /// The ranges the receiver has (`REST n` is `0-n`).
    pub fn ranges(&self) -> Ranges {
        match self {
            Restart::Offset(n) => {
                let mut r = Ranges::new();
                r.insert(0, *n);
                r
            }
            Restart::Ranges(r) => r.clone(),
        }
    }

    /// The argument as it goes on the wire.
    pub fn format(&self) -> String {
        match self {
            Restart::Offset(n) => n.to_string(),
            Restart::Ranges(r) => r.format(),
        }
    }
}

/// Digits only (no sign, no spaces), as a u64.
fn number(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// The text of a `111` restart marker reply for `ranges` (`Range Marker 0-89`).
pub fn format_range_marker(ranges: &Ranges) -> String {
    format!("Range Marker {}", ranges.format())
}

/// The ranges of a `111` reply's text, if it is a range marker.
pub fn parse_range_marker(text: &str) -> Option<Ranges> {
    Ranges::parse(text.trim().strip_prefix("Range Marker")?)
}

/// One `112` performance marker: bytes moved so far on one stripe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PerfMarker {
    /// Seconds since the epoch, in tenths.
    pub timestamp_tenths: u64,
    /// Which stripe (0 for a non-striped server).
    pub stripe: u32,
    /// Bytes moved on that stripe.
    pub bytes: u64,
    /// Stripes in the transfer.
    pub stripes: u32,
}

impl PerfMarker {
    /// The marker of a single-stripe transfer that has moved `bytes` by `at`.
    pub fn single_stripe(at: std::time::SystemTime, bytes: u64) -> Self {
        let since = at.duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        PerfMarker {
            timestamp_tenths: since.as_secs() * 10 + u64::from(since.subsec_millis() / 100),
            stripe: 0,
            bytes,
            stripes: 1,
        }
    }

    /// The lines of the multi-line `112` reply, first line to last (`Perf Marker` ...
    /// `End.`), ready for a multi-line reply encoder.
    pub fn lines(&self) -> Vec<String> {
        vec![
            "Perf Marker".to_string(),
            format!(
                " Timestamp: {}.{}",
                self.timestamp_tenths / 10,
                self.timestamp_tenths % 10
            ),
            format!(" Stripe Index: {}", self.stripe),
            format!(" Stripe Bytes Transferred: {}", self.bytes),
            format!(" Total Stripe Count: {}", self.stripes),
            "End.".to_string(),
        ]
    }

    /// Reads a marker from a `112` reply's text lines; facts it does not know are ignored,
    /// missing ones are refused.
    pub fn parse<'a>(lines: impl IntoIterator<Item = &'a str>) -> Option<Self> {
        let (mut ts, mut stripe, mut bytes, mut stripes) = (None, None, None, None);
        for line in lines {
            let Some((k, v)) = line.split_once(':') else {
                continue;
            };
            let v = v.trim();
            match k.trim() {
                "Timestamp" => {
                    let (s, t) = v.split_once('.').unwrap_or((v, "0"));
                    let tenth = t.bytes().next().filter(u8::is_ascii_digit)? - b'0';
                    ts = number(s)?.checked_mul(10)?.checked_add(u64::from(tenth));
                }
                "Stripe Index" => stripe = number(v).and_then(|n| u32::try_from(n).ok()),
                "Stripe Bytes Transferred" => bytes = number(v),
                "Total Stripe Count" => stripes = number(v).and_then(|n| u32::try_from(n).ok()),
                _ => {}
            }
        }
        Some(PerfMarker {
            timestamp_tenths: ts?,
            stripe: stripe?,
            bytes: bytes?,
            stripes: stripes?,
        })
    }
}

/// `OPTS RETR Parallelism=start,min,max;`: the number of streams asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Parallelism {
    /// Streams to start with.
    pub start: u32,
    /// Fewest streams the sender may drop to.
    pub min: u32,
    /// Most streams the sender may grow to.
    pub max: u32,
}

/// Parses the argument of `OPTS RETR` (e.g. `Parallelism=4,4,4;`, possibly with a
/// `StripeLayout=...;` option, which is accepted and ignored as there is one stripe).
/// None when it is malformed or asks for no stream at all.
pub fn parse_retr_opts(arg: &str) -> Option<Option<Parallelism>> {
    let mut par = None;
    for opt in arg.split(';').map(str::trim).filter(|o| !o.is_empty()) {
        let (k, v) = opt.split_once('=')?;
        match k.trim().to_ascii_lowercase().as_str() {
            "parallelism" => {
                let mut it = v.split(',').map(|n| number(n.trim()));
                let start = u32::try_from(it.next()??).ok()?;
                let min = it.next().map_or(Some(start as u64), |n| n)?;
                let max = it.next().map_or(Some(start as u64), |n| n)?;
                if it.next().is_some() || start == 0 {
                    return None;
                }
                par = Some(Parallelism {
                    start,
                    min: u32::try_from(min).ok()?,
                    max: u32::try_from(max).ok()?,
                });
            }
            "stripelayout" | "blocksize" => {}
            _ => return None,
        }
    }
    Some(par)
}

/// Formats `OPTS RETR`'s argument for `n` streams.
pub fn format_retr_opts(n: u32) -> String {
    format!("Parallelism={n},{n},{n};")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn header_wire_layout_is_big_endian() {
        let h = Header::data(0x0102, 0x0a0b);
        let b = h.encode();
        assert_eq!(b[0], 0);
        assert_eq!(&b[1..9], &[0, 0, 0, 0, 0, 0, 0x0a, 0x0b]);
        assert_eq!(&b[9..17], &[0, 0, 0, 0, 0, 0, 0x01, 0x02]);
        assert_eq!(Header::decode(&b), h);
    }

    #[test]
    fn eof_carries_the_eod_count_in_the_offset_field() {
        let h = Header::eof(4, false);
        assert_eq!(h.encode()[0], 0x48);
        assert_eq!(h.block(), Ok(Block::Eof { eod_count: 4 }));
        assert!(h.is_eod() && !h.is_close());
        assert!(Header::eod(true).is_close());
    }

    #[test]
    fn overflowing_block_is_refused() {
        assert_eq!(
            Header::data(u64::MAX, 1).block(),
            Err(HeaderError::Overflow)
        );
        assert!(Header::data(u64::MAX - 1, 1).block().is_ok());
    }

    #[test]
    fn restart_blocks_are_skipped_not_written() {
        let h = Header {
            descriptor: DESC_RESTART,
            count: 9,
            offset: 0,
        };
        assert_eq!(h.block(), Ok(Block::Restart { len: 9 }));
    }

    #[test]
    fn eod_counter_waits_for_eof_and_every_eod() {
        let mut c = EodCounter::default();
        assert!(!c.note(&Header::eod(false)));
        assert!(!c.note(&Header::eod(false)));
        // Two EODs already, but EOF says three: one connection is still in flight.
        assert!(!c.note(&Header::eof(4, false)));
        assert!(!c.done());
        assert!(c.note(&Header::eod(false)));
        assert_eq!((c.expected(), c.received()), (Some(4), 4));
    }

    #[test]
    fn ranges_merge_and_report_gaps() {
        let mut r = Ranges::new();
        assert!(r.insert(30, 60));
        assert!(r.insert(0, 30));
        assert!(r.insert(90, 100));
        assert_eq!(r.format(), "0-60,90-100");
        assert_eq!(r.prefix(), 60);
        assert_eq!(r.missing(120), vec![(60, 90), (100, 120)]);
        assert!(r.insert(50, 95));
        assert_eq!(r.as_slice(), &[(0, 100)]);
        assert_eq!(Ranges::parse("30-60,0-30,60-90").unwrap().format(), "0-90");
    }

    #[test]
    fn range_markers_round_trip() {
        let r = Ranges::parse("0-3000000").unwrap();
        let t = format_range_marker(&r);
        assert_eq!(t, "Range Marker 0-3000000");
        assert_eq!(parse_range_marker(&t), Some(r));
        for bad in [
            "", "5", "9-3", "5-5", "a-b", "1-2,", "-1-2", "1 -2x", "1-2;3-4",
        ] {
            assert_eq!(Ranges::parse(bad), None, "{bad:?}");
        }
        let many: Vec<String> = (0..=MAX_RANGES as u64)
            .map(|i| format!("{}-{}", i * 10, i * 10 + 1))
            .collect();
        assert_eq!(Ranges::parse(&many.join(",")), None);
    }

    #[test]
    fn rest_takes_an_offset_or_a_range_list() {
        assert_eq!(Restart::parse("100"), Some(Restart::Offset(100)));
        let r = Restart::parse("30-59,0-30,60-89").unwrap();
        assert_eq!(r.format(), "0-59,60-89");
        assert_eq!(r.offset(), None);
        assert_eq!(r.ranges().missing(100), vec![(59, 60), (89, 100)]);
        assert_eq!(r.ranges().end(), 89);
        assert_eq!(r.ranges().covered(), 88);
        let prefix = Restart::parse("0-10,10-20").unwrap();
        assert_eq!(prefix.offset(), Some(20));
        assert_eq!(Restart::Offset(7).ranges().as_slice(), &[(0, 7)]);
        assert!(Restart::Offset(0).ranges().as_slice().is_empty());
        assert!(Restart::default().is_none() && !Restart::Offset(1).is_none());
        for bad in [
            "",
            "-1",
            "+1",
            "1 2",
            "0-",
            "5-1",
            "1-1",
            "0-18446744073709551616",
            "x-1",
            "1,2",
        ] {
            assert_eq!(Restart::parse(bad), None, "{bad:?}");
        }
        // The most ranges a control line can hold costs no more than MAX_RANGES entries.
        let many: Vec<String> = (0..2000u64)
            .map(|i| format!("{}-{}", 2 * i, 2 * i + 1))
            .collect();
        assert_eq!(Restart::parse(&many.join(",")), None);
    }

    #[test]
    fn perf_marker_round_trips_like_the_toolkit_writes_it() {
        let m = PerfMarker {
            timestamp_tenths: 17966160175,
            stripe: 0,
            bytes: 3_000_000,
            stripes: 1,
        };
        let lines = m.lines();
        assert_eq!(lines[1], " Timestamp: 1796616017.5");
        assert_eq!(PerfMarker::parse(lines.iter().map(String::as_str)), Some(m));
        // The toolkit's own spacing.
        let theirs = [
            "Perf Marker",
            " Timestamp:  1796616017.5",
            " Stripe Index: 0",
            " Stripe Bytes Transferred: 3000000",
            " Total Stripe Count: 1",
            "End.",
        ];
        assert_eq!(PerfMarker::parse(theirs), Some(m));
        assert_eq!(PerfMarker::parse(["Perf Marker"]), None);
        let at = std::time::UNIX_EPOCH + std::time::Duration::from_millis(1_796_616_017_543);
        assert_eq!(PerfMarker::single_stripe(at, 3_000_000), m);
    }

    #[test]
    fn ranges_stay_bounded_and_never_claim_a_left_out_range() {
        let mut r = Ranges::new();
        // Every other 10-byte block: each needs an entry of its own.
        for i in 0..(MAX_RANGES as u64 + 10) {
            r.insert(i * 20, i * 20 + 10);
        }
        assert_eq!(r.as_slice().len(), MAX_RANGES);
        let last = (MAX_RANGES as u64 - 1) * 20;
        assert_eq!(r.as_slice().last(), Some(&(last, last + 10)));
        // A block that joins two entries still merges when the set is full.
        assert!(r.insert(10, 20));
        assert_eq!(r.as_slice()[0], (0, 30));
        assert!(format_range_marker(&r).len() < MAX_RANGES * 48);
    }

    #[test]
    fn retr_opts() {
        let p = |start, min, max| Some(Some(Parallelism { start, min, max }));
        assert_eq!(parse_retr_opts("Parallelism=4,4,4;"), p(4, 4, 4));
        assert_eq!(parse_retr_opts("Parallelism=2,1,8"), p(2, 1, 8));
        assert_eq!(
            parse_retr_opts("StripeLayout=Blocked;BlockSize=1048576;Parallelism=3,3,3;"),
            p(3, 3, 3)
        );
        assert_eq!(parse_retr_opts(""), Some(None));
        for bad in [
            "Parallelism=0,0,0;",
            "Parallelism=x;",
            "Foo=1;",
            "Parallelism=1,2,3,4",
        ] {
            assert_eq!(parse_retr_opts(bad), None, "{bad:?}");
        }
        assert_eq!(parse_retr_opts(&format_retr_opts(8)), p(8, 8, 8));
    }

    proptest! {
        #[test]
        fn header_round_trips(d: u8, c: u64, o: u64) {
            let h = Header { descriptor: d, count: c, offset: o };
            prop_assert_eq!(Header::decode(&h.encode()), h);
        }

        #[test]
        fn ranges_stay_sorted_disjoint_and_bounded(v in proptest::collection::vec((0u64..10_000, 0u64..500), 0..400)) {
            let mut r = Ranges::new();
            for (s, l) in v {
                r.insert(s, s + l);
            }
            prop_assert!(r.as_slice().len() <= MAX_RANGES);
            prop_assert!(r.as_slice().windows(2).all(|w| w[0].1 < w[1].0));
            prop_assert_eq!(Ranges::parse(&r.format()).unwrap_or_default(), r);
        }
    }
}
