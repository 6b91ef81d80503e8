//! Reading the backfill input: pieces of whole lines parsed in parallel,
//! results consumed in input order.
//!
//! [`Pieces`] cuts the input into pieces of at least `read_size` bytes at
//! line boundaries. Each piece is parsed on its own, so it is prefixed with
//! the metadata lines of the family in progress (the parser needs the
//! family's type) and, unless it is the last, suffixed with `# EOF`.
//! [`for_each_sample`] hands pieces to worker threads, which parse them into
//! compact records, and calls its consumer on the records piece by piece in
//! input order, so results and errors are exactly those of a sequential
//! parse. At most two pieces per worker are in flight, and their buffers
//! are recycled, so memory stays bounded.

use std::collections::{BTreeMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};
use std::io::{Read, Seek, SeekFrom};
use std::sync::mpsc;
use std::sync::Mutex;

use ember_exposition::{Entry, OpenMetricsParser, ParserOptions};
use ember_model::Labels;

use crate::error::TsdbError;

/// One sample line of a piece.
pub(super) struct Rec {
    /// Where the series text (`name{labels}`) is in the piece.
    off: u32,
    len: u32,
    t: i64,
    v: f64,
    /// The labels, for the first line of each series text a worker sees.
    labels: Option<Box<Result<Labels, String>>>,
}

/// A sample as the consumer sees it.
pub(super) struct Sample<'a> {
    rec: &'a Rec,
    piece: &'a Piece,
}

impl<'a> Sample<'a> {
    /// The series text as written.
    pub(super) fn series_bytes(&self) -> &'a [u8] {
        let start = self.rec.off as usize;
        &self.piece.buf[start..start + self.rec.len as usize]
    }

    /// Timestamp in ms.
    pub(super) fn t(&self) -> i64 {
        self.rec.t
    }

    /// Value.
    pub(super) fn v(&self) -> f64 {
        self.rec.v
    }

    /// The labels, if this record carries them (see [`Rec::labels`]).
    pub(super) fn labels(&self) -> Option<&'a Result<Labels, String>> {
        self.rec.labels.as_deref()
    }

    /// The input line of the sample.
    pub(super) fn line(&self) -> u64 {
        let in_buf = count_newlines(&self.piece.buf[..self.rec.off as usize]) + 1;
        map_line(self.piece, in_buf)
    }

    /// An error about this sample's line.
    pub(super) fn error(&self, message: String) -> TsdbError {
        TsdbError::Parse {
            line: self.line(),
            column: None,
            message,
        }
    }
}

fn map_line(p: &Piece, in_buf: u64) -> u64 {
    p.first_line + in_buf.saturating_sub(1 + p.prefix_lines)
}

/// Turns the buffer line of a worker's parse error into an input line.
fn remap(e: TsdbError, p: &Piece) -> TsdbError {
    match e {
        TsdbError::Parse {
            line,
            column,
            message,
        } => TsdbError::Parse {
            line: map_line(p, line),
            column,
            message,
        },
        other => other,
    }
}

type TextSet = HashSet<Box<[u8]>, BuildHasherDefault<FxHasher>>;

/// Counts the piece's lines, then parses it into records. Every sample
/// must have a timestamp. On error, `recs` holds the samples before it and
/// the error's line is counted in the piece's buffer (see [`remap`]).
fn parse_piece(p: &mut Piece, seen: &mut TextSet, recs: &mut Vec<Rec>) -> Result<(), TsdbError> {
    recs.clear();
    p.lines = count_newlines(&p.buf[p.prefix_len..p.prefix_len + p.body_len]);
    let p = &*p;
    let base = p.buf.as_ptr() as usize;
    let mut parser = OpenMetricsParser::new(&p.buf, ParserOptions::default());
    loop {
        match parser.next() {
            Ok(Some(Entry::Series(s))) => {
                let raw = s.series_bytes();
                let off = (raw.as_ptr() as usize).wrapping_sub(base);
                let (Ok(off), Ok(len)) = (u32::try_from(off), u32::try_from(raw.len())) else {
                    return Err(TsdbError::InvalidInput(
                        "input piece larger than 4 GiB".into(),
                    ));
                };
                let labels = if seen.contains(raw) {
                    None
                } else {
                    seen.insert(raw.into());
                    Some(Box::new(
                        s.to_labels().map_err(|e| format!("invalid labels: {e}")),
                    ))
                };
                let Some(t) = s.timestamp else {
                    let name = match s.to_labels() {
                        Ok(l) => l.to_string(),
                        Err(_) => String::from_utf8_lossy(raw).into_owned(),
                    };
                    return Err(TsdbError::Parse {
                        line: count_newlines(&p.buf[..off as usize]) + 1,
                        column: None,
                        message: format!("expected timestamp for series {name}, got none"),
                    });
                };
                recs.push(Rec {
                    off,
                    len,
                    t,
                    v: s.value,
                    labels,
                });
            }
            Ok(Some(_)) => {}
            Ok(None) => return Ok(()),
            Err(e) => {
                return Err(TsdbError::Parse {
                    line: e.line as u64,
                    column: Some(e.column as u64),
                    message: e.kind.to_string(),
                })
            }
        }
    }
}

/// Progress callback: input bytes consumed so far.
pub(super) type OnProgress<'a> = dyn FnMut(u64) + 'a;

/// Reads the whole input from the start and calls `f` for every sample in
/// input order, parsing pieces on `workers` threads (at least one). The
/// first error in input order ends the pass.
pub(super) fn for_each_sample<R: Read + Seek + Send>(
    input: &mut R,
    read_size: usize,
    workers: usize,
    on_progress: &mut OnProgress<'_>,
    mut f: impl FnMut(&Sample<'_>) -> Result<(), TsdbError>,
) -> Result<(), TsdbError> {
    let io = |e| TsdbError::io("<input>", e);
    input.seek(SeekFrom::Start(0)).map_err(io)?;
    let workers = workers.max(1);
    let max_in_flight = 2 * workers;
    let (job_tx, job_rx) = mpsc::sync_channel::<(u64, Piece, Vec<Rec>)>(max_in_flight);
    let job_rx = Mutex::new(job_rx);
    type Done = (u64, Piece, Vec<Rec>, Result<(), TsdbError>);
    let (done_tx, done_rx) = mpsc::channel::<Done>();
    std::thread::scope(|scope| {
        for _ in 0..workers {
            let done_tx = done_tx.clone();
            let job_rx = &job_rx;
            scope.spawn(move || {
                let mut seen = TextSet::default();
                loop {
                    let job = match job_rx.lock() {
                        Ok(rx) => rx.recv(),
                        Err(poisoned) => poisoned.into_inner().recv(),
                    };
                    let Ok((seq, mut piece, mut recs)) = job else {
                        break;
                    };
                    let res = parse_piece(&mut piece, &mut seen, &mut recs);
                    if done_tx.send((seq, piece, recs, res)).is_err() {
                        break;
                    }
                }
            });
        }
        drop(done_tx);
        let job_tx = job_tx;
        let mut pieces = Pieces::new(input, read_size);
        let mut free: Vec<(Vec<u8>, Vec<Rec>)> = Vec::new();
        let mut pending: BTreeMap<u64, Done> = BTreeMap::new();
        let (mut sent, mut consumed) = (0u64, 0u64);
        let mut input_done = false;
        let mut next_line = 1u64;
        loop {
            while !input_done && sent - consumed < max_in_flight as u64 {
                let (buf, recs) = free.pop().unwrap_or_default();
                match pieces.next(buf).map_err(io)? {
                    Some(p) => {
                        if job_tx.send((sent, p, recs)).is_err() {
                            return Err(TsdbError::InvalidInput(
                                "input parser threads stopped".into(),
                            ));
                        }
                        sent += 1;
                    }
                    None => input_done = true,
                }
            }
            if sent == consumed {
                return Ok(());
            }
            let Ok(d) = done_rx.recv() else {
                return Err(TsdbError::InvalidInput(
                    "input parser threads stopped".into(),
                ));
            };
            pending.insert(d.0, d);
            while let Some((_, mut piece, recs, res)) = pending.remove(&consumed) {
                consumed += 1;
                piece.first_line = next_line;
                next_line += piece.lines;
                // The samples before a parse error come first, as in a
                // sequential parse.
                for rec in &recs {
                    f(&Sample { rec, piece: &piece })?;
                }
                res.map_err(|e| remap(e, &piece))?;
                on_progress(piece.end_offset);
                free.push((piece.buf, recs));
            }
        }
    })
}

/// A piece of the input ready to parse: carried metadata lines, whole
/// lines of the input, and `# EOF` unless it is the last piece.
pub(super) struct Piece {
    pub(super) buf: Vec<u8>,
    /// Bytes of carried metadata before the input's lines.
    prefix_len: usize,
    /// Bytes of the input's lines.
    body_len: usize,
    /// Lines of carried metadata before the input's lines.
    pub(super) prefix_lines: u64,
    /// Newlines in the input's lines (counted by the worker).
    lines: u64,
    /// Input line number of the piece's first own line (set when the
    /// piece is consumed, in input order).
    pub(super) first_line: u64,
    /// Input offset just past the piece.
    pub(super) end_offset: u64,
}

/// Cuts the input into pieces at line boundaries.
pub(super) struct Pieces<'r, R> {
    r: &'r mut R,
    read_size: usize,
    /// A partial line read past the end of the previous piece.
    carry: Vec<u8>,
    /// The metadata lines (`# HELP`, `# TYPE`, `# UNIT`) of the family in
    /// progress at the end of the previous piece.
    meta: Vec<u8>,
    /// Whether the previous piece ended inside a run of metadata lines.
    meta_open: bool,
    eof: bool,
    offset: u64,
}

const EOF_LINE: &[u8] = b"# EOF\n";

impl<'r, R: Read> Pieces<'r, R> {
    pub(super) fn new(r: &'r mut R, read_size: usize) -> Self {
        Pieces {
            r,
            read_size,
            carry: Vec::new(),
            meta: Vec::new(),
            meta_open: false,
            eof: false,
            offset: 0,
        }
    }

    /// The next piece, built in `buf` (a recycled buffer; its contents
    /// are discarded).
    pub(super) fn next(&mut self, mut buf: Vec<u8>) -> std::io::Result<Option<Piece>> {
        if self.eof && self.carry.is_empty() {
            return Ok(None);
        }
        buf.clear();
        let b = &mut buf;
        b.extend_from_slice(&self.meta);
        let prefix_len = b.len();
        let prefix_lines = count_newlines(&self.meta);
        b.append(&mut self.carry);
        // The piece is the shortest run of whole lines of at least
        // read_size bytes (or the rest of the input).
        let target = prefix_len + self.read_size;
        let step = self.read_size.min(1 << 16);
        let mut scanned = (target - 1).max(prefix_len);
        let cut = loop {
            if let Some(i) = b
                .get(scanned..)
                .and_then(|rest| rest.iter().position(|&c| c == b'\n'))
            {
                break scanned + i + 1;
            }
            scanned = scanned.max(b.len());
            if self.eof {
                break b.len();
            }
            let want = target.saturating_sub(b.len()).max(step);
            let old = b.len();
            b.resize(old + want, 0);
            let n = self.r.read(&mut b[old..])?;
            b.truncate(old + n);
            if n == 0 {
                self.eof = true;
            }
        };
        self.carry.extend_from_slice(&b[cut..]);
        b.truncate(cut);
        if self.carry.is_empty() && !self.eof {
            // Find out whether this is the last piece.
            let mut probe = [0u8; 4096];
            let n = self.r.read(&mut probe)?;
            if n == 0 {
                self.eof = true;
            }
            self.carry.extend_from_slice(&probe[..n]);
        }
        let body_len = buf.len() - prefix_len;
        self.offset += body_len as u64;
        self.update_meta(&buf[prefix_len..]);
        let last = self.eof && self.carry.is_empty();
        if !last {
            buf.extend_from_slice(EOF_LINE);
        }
        Ok(Some(Piece {
            buf,
            prefix_len,
            body_len,
            prefix_lines,
            lines: 0,
            first_line: 0,
            end_offset: self.offset,
        }))
    }

    /// Finds the metadata lines in force at the end of the piece: the run
    /// of `#` lines (`# EOF` aside) ending at the last one, and whether
    /// samples follow it.
    fn update_meta(&mut self, body: &[u8]) {
        let is_meta = |at: usize| body[at] == b'#' && !body[at..].starts_with(b"# EOF");
        // The last metadata line.
        let mut end = body.len();
        let last = loop {
            match rfind_byte(&body[..end], b'#') {
                None => break None,
                Some(q) if (q == 0 || body[q - 1] == b'\n') && is_meta(q) => break Some(q),
                Some(q) => end = q,
            }
        };
        let Some(last) = last else {
            // No metadata: the family in progress continues.
            if !body.is_empty() {
                self.meta_open = false;
            }
            return;
        };
        let run_end = body[last..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(body.len(), |i| last + i + 1);
        let mut run_start = last;
        while run_start > 0 {
            let prev = body[..run_start - 1]
                .iter()
                .rposition(|&b| b == b'\n')
                .map_or(0, |i| i + 1);
            if !is_meta(prev) {
                break;
            }
            run_start = prev;
        }
        let mut run = body[run_start..run_end].to_vec();
        if !run.ends_with(b"\n") {
            run.push(b'\n');
        }
        if run_start == 0 && self.meta_open {
            // The run continues the one carried in.
            self.meta.extend_from_slice(&run);
        } else {
            self.meta = run;
        }
        self.meta_open = run_end == body.len();
    }
}

/// The position of the last `needle` in `hay`, checking 32 bytes at a time.
fn rfind_byte(hay: &[u8], needle: u8) -> Option<usize> {
    let mut end = hay.len();
    while end >= 32 {
        let chunk = &hay[end - 32..end];
        if chunk.iter().fold(false, |acc, &b| acc | (b == needle)) {
            return chunk
                .iter()
                .rposition(|&b| b == needle)
                .map(|i| end - 32 + i);
        }
        end -= 32;
    }
    hay[..end].iter().rposition(|&b| b == needle)
}

/// Number of newlines in `b`, counted in blocks the compiler vectorises.
pub(super) fn count_newlines(b: &[u8]) -> u64 {
    let mut total = 0u64;
    for block in b.chunks(255 * 32) {
        let mut acc = [0u8; 32];
        let mut lanes = block.chunks_exact(32);
        for c in &mut lanes {
            for (a, &x) in acc.iter_mut().zip(c) {
                *a += u8::from(x == b'\n');
            }
        }
        total += acc.iter().map(|&x| u64::from(x)).sum::<u64>();
        total += lanes.remainder().iter().filter(|&&x| x == b'\n').count() as u64;
    }
    total
}

/// A fast non-cryptographic hasher for series texts (the rustc "Fx" hash).
#[derive(Default, Clone, Copy)]
pub(super) struct FxHasher {
    hash: u64,
}

const FX_SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl FxHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(FX_SEED);
    }
}

impl Hasher for FxHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            self.add(u64::from_le_bytes([
                c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7],
            ]));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut last = [0u8; 8];
            last[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(last));
        }
    }

    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }

    #[inline]
    fn finish(&self) -> u64 {
        self.hash
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn pieces(input: &str, size: usize) -> Vec<(String, u64, u64)> {
        let mut c = Cursor::new(input.as_bytes());
        let mut p = Pieces::new(&mut c, size);
        let mut out = Vec::new();
        let mut line = 1;
        while let Some(mut x) = p.next(Vec::new()).unwrap() {
            x.first_line = line;
            line += count_newlines(&x.buf[x.prefix_len..x.prefix_len + x.body_len]);
            out.push((
                String::from_utf8(x.buf.to_vec()).unwrap(),
                x.prefix_lines,
                x.first_line,
            ));
        }
        out
    }

    #[test]
    fn byte_helpers() {
        let text = b"a\n#b\n".repeat(100);
        assert_eq!(count_newlines(&text), 200);
        assert_eq!(count_newlines(b""), 0);
        assert_eq!(rfind_byte(&text, b'#'), Some(text.len() - 3));
        assert_eq!(rfind_byte(&text[..3], b'#'), Some(2));
        assert_eq!(rfind_byte(&[b'x'; 100], b'#'), None);
    }

    #[test]
    fn pieces_carry_family_metadata() {
        let input = "# HELP a A.\n# TYPE a counter\na_total 1 1\na_total 2 2\n# TYPE b gauge\nb 1 1\n# EOF\n";
        // One piece when it fits.
        assert_eq!(pieces(input, 1 << 20), [(input.to_string(), 0, 1)]);
        // Tiny pieces: every line its own piece, with the family's
        // metadata carried and # EOF added.
        let got = pieces(input, 1);
        let texts: Vec<&str> = got.iter().map(|p| p.0.as_str()).collect();
        assert_eq!(
            texts,
            [
                "# HELP a A.\n# EOF\n",
                "# HELP a A.\n# TYPE a counter\n# EOF\n",
                "# HELP a A.\n# TYPE a counter\na_total 1 1\n# EOF\n",
                "# HELP a A.\n# TYPE a counter\na_total 2 2\n# EOF\n",
                "# HELP a A.\n# TYPE a counter\n# TYPE b gauge\n# EOF\n",
                "# TYPE b gauge\nb 1 1\n# EOF\n",
                "# TYPE b gauge\n# EOF\n",
            ]
        );
        let lines: Vec<(u64, u64)> = got.iter().map(|p| (p.1, p.2)).collect();
        assert_eq!(
            lines,
            [(0, 1), (1, 2), (2, 3), (2, 4), (2, 5), (1, 6), (1, 7)]
        );
    }
}
