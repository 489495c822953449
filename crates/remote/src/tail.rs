//! Tailing a live WAL directory: records as they are written, segment after segment,
//! waiting (instead of failing) at a record the writer has not finished.
//!
//! `narthex_tsdb::wlog::RecordReader` reads finished WALs and reports a torn tail as
//! corruption; a tailer must treat the same bytes as "not yet". The page and fragment
//! layout is the one described in `narthex_tsdb::wlog`.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use narthex_tsdb::wlog::{PAGE_SIZE, RECORD_HEADER_SIZE, segment_name, segments};

const FULL: u8 = 1;
const FIRST: u8 = 2;
const MIDDLE: u8 = 3;
const LAST: u8 = 4;
const TYPE_MASK: u8 = 0b111;
const SNAPPY: u8 = 1 << 3;
const ZSTD: u8 = 1 << 4;

/// A position in a WAL: segment number and byte offset in it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct WalPosition {
    /// The segment.
    pub segment: u32,
    /// Byte offset in the segment.
    pub offset: u64,
}

/// What [`Tailer::next`] found.
#[derive(Debug)]
pub(crate) enum Next<'a> {
    /// A complete record, ending at the given position.
    Record(&'a [u8], WalPosition),
    /// Nothing new yet.
    Wait,
}

pub(crate) struct Tailer {
    dir: PathBuf,
    seg: u32,
    file: Option<File>,
    /// Bytes of the segment from offset `base`.
    data: Vec<u8>,
    base: usize,
    /// Offset in the segment of the next unread byte.
    pos: usize,
    rec: Vec<u8>,
    in_record: Option<u8>,
    rec_start: usize,
    out: Vec<u8>,
    /// Consecutive waits with a later segment present (for skipping a torn segment end).
    stuck: u32,
}

impl Tailer {
    /// A tailer starting at `from` (a record boundary).
    pub(crate) fn new(dir: &Path, from: WalPosition) -> Tailer {
        Tailer {
            dir: dir.to_path_buf(),
            seg: from.segment,
            file: None,
            data: Vec::new(),
            base: from.offset as usize,
            pos: from.offset as usize,
            rec: Vec::new(),
            in_record: None,
            rec_start: from.offset as usize,
            out: Vec::new(),
            stuck: 0,
        }
    }

    /// Where the next record starts.
    pub(crate) fn position(&self) -> WalPosition {
        WalPosition {
            segment: self.seg,
            offset: self.rec_start_or_pos() as u64,
        }
    }

    fn rec_start_or_pos(&self) -> usize {
        if self.in_record.is_some() {
            self.rec_start
        } else {
            self.pos
        }
    }

    fn later_segment(&self) -> Option<u32> {
        segments(&self.dir)
            .ok()
            .and_then(|v| v.into_iter().find(|s| *s > self.seg))
    }

    fn advance_to(&mut self, seg: u32) {
        self.seg = seg;
        self.file = None;
        self.data.clear();
        self.base = 0;
        self.pos = 0;
        self.rec.clear();
        self.in_record = None;
        self.rec_start = 0;
        self.stuck = 0;
    }

    /// Reads whatever the writer appended since the last call. Returns false when the
    /// segment file does not exist (yet).
    fn fill(&mut self) -> std::io::Result<bool> {
        if self.file.is_none() {
            let p = self.dir.join(segment_name(self.seg));
            match File::open(&p) {
                Ok(mut f) => {
                    f.seek(SeekFrom::Start((self.base + self.data.len()) as u64))?;
                    self.file = Some(f);
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
                Err(e) => return Err(e),
            }
        }
        // Drop consumed bytes so memory stays around one page plus the unread tail.
        let keep_from = self.rec_start_or_pos().min(self.pos);
        let consumed = keep_from.saturating_sub(self.base);
        if consumed > 4 * PAGE_SIZE {
            self.data.drain(..consumed);
            self.base += consumed;
        }
        if let Some(f) = self.file.as_mut() {
            f.read_to_end(&mut self.data)?;
        }
        Ok(true)
    }

    fn end(&self) -> usize {
        self.base + self.data.len()
    }

    fn byte(&self, at: usize) -> u8 {
        self.data[at - self.base]
    }

    /// The next complete record, or [`Next::Wait`].
    pub(crate) fn next(&mut self) -> std::io::Result<Next<'_>> {
        // Read from the file only when the buffered bytes run out.
        let mut filled = false;
        loop {
            if !filled && self.file.is_none() {
                if !self.fill()? {
                    // The segment does not exist: maybe it was truncated away.
                    if let Some(s) = self.later_segment() {
                        tracing::warn!(from = self.seg, to = s, "WAL segment gone, skipping ahead");
                        self.advance_to(s);
                        continue;
                    }
                    return Ok(Next::Wait);
                }
                filled = true;
            }
            let pos = self.pos;
            let page_end = (pos / PAGE_SIZE + 1) * PAGE_SIZE;
            let end = self.end();
            if pos >= end {
                {
                    if !filled {
                        filled = true;
                        self.fill()?;
                        continue;
                    }
                    return self.at_end();
                }
            }
            let ty = self.byte(pos);
            if ty == 0 || page_end - pos < RECORD_HEADER_SIZE {
                if end >= page_end {
                    self.pos = page_end;
                    continue;
                }
                {
                    if !filled {
                        filled = true;
                        self.fill()?;
                        continue;
                    }
                    return self.at_end();
                }
            }
            if end - pos < RECORD_HEADER_SIZE {
                {
                    if !filled {
                        filled = true;
                        self.fill()?;
                        continue;
                    }
                    return self.at_end();
                }
            }
            let len = u16::from_be_bytes([self.byte(pos + 1), self.byte(pos + 2)]) as usize;
            let crc = u32::from_be_bytes([
                self.byte(pos + 3),
                self.byte(pos + 4),
                self.byte(pos + 5),
                self.byte(pos + 6),
            ]);
            let body = pos + RECORD_HEADER_SIZE;
            if body + len > end {
                {
                    if !filled {
                        filled = true;
                        self.fill()?;
                        continue;
                    }
                    return self.at_end();
                }
            }
            let part = &self.data[body - self.base..body + len - self.base];
            if body + len > page_end || crc32c::crc32c(part) != crc {
                // Corrupt or torn: wait in case it is still being written, skip the
                // rest of the segment once a later one exists.
                {
                    if !filled {
                        filled = true;
                        self.fill()?;
                        continue;
                    }
                    return self.at_end();
                }
            }
            let kind = ty & TYPE_MASK;
            let flags = ty & !TYPE_MASK;
            match (kind, self.in_record) {
                (FULL | FIRST, None) => {
                    self.rec.clear();
                    self.rec_start = pos;
                    self.in_record = Some(flags);
                }
                (MIDDLE | LAST, Some(_)) => {}
                _ => {
                    tracing::warn!(
                        segment = self.seg,
                        offset = pos,
                        "unexpected WAL fragment, dropping the partial record"
                    );
                    self.in_record = None;
                    self.pos = body + len;
                    continue;
                }
            }
            self.rec.extend_from_slice(part);
            self.pos = body + len;
            if kind == FULL || kind == LAST {
                let flags = self.in_record.take().unwrap_or(0);
                let at = WalPosition {
                    segment: self.seg,
                    offset: self.pos as u64,
                };
                self.stuck = 0;
                if flags & ZSTD != 0 {
                    tracing::warn!(
                        segment = self.seg,
                        "zstd-compressed WAL records are not supported, skipped"
                    );
                    continue;
                }
                if flags & SNAPPY != 0 {
                    let n = match snap::raw::decompress_len(&self.rec) {
                        Ok(n) => n,
                        Err(e) => {
                            tracing::warn!(error = %e, "bad snappy WAL record skipped");
                            continue;
                        }
                    };
                    self.out.resize(n, 0);
                    if let Err(e) = snap::raw::Decoder::new().decompress(&self.rec, &mut self.out) {
                        tracing::warn!(error = %e, "bad snappy WAL record skipped");
                        continue;
                    }
                    return Ok(Next::Record(&self.out, at));
                }
                return Ok(Next::Record(&self.rec, at));
            }
        }
    }

    /// At the readable end of the segment: move to the next segment when the writer has
    /// moved on (re-reading once so nothing written just before the switch is missed).
    fn at_end(&mut self) -> std::io::Result<Next<'_>> {
        let Some(next) = self.later_segment() else {
            return Ok(Next::Wait);
        };
        // The writer finished this segment before creating the next; one more read sees
        // everything. If still incomplete after that, the tail is torn: skip it.
        let before = self.end();
        self.fill()?;
        if self.end() != before {
            return Ok(Next::Wait); // new bytes: the caller loops straight back
        }
        let clean = self.in_record.is_none() && self.pos >= self.end();
        self.stuck += 1;
        if !clean && self.stuck < 3 {
            return Ok(Next::Wait);
        }
        if self.in_record.is_some() || self.pos < self.end() {
            tracing::warn!(
                segment = self.seg,
                offset = self.pos,
                "torn or corrupt WAL segment end skipped"
            );
        }
        self.advance_to(next);
        Ok(Next::Wait)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use narthex_tsdb::wlog::{Wal, WalOptions};

    fn record(i: u32) -> Vec<u8> {
        // Sizes from a few bytes to more than a page, compressible or not.
        let len = (i as usize * 7919) % 50_000 + 1;
        let mut v: Vec<u8> = (0..len)
            .map(|j| (j as u32 ^ i).wrapping_mul(2654435761) as u8)
            .collect();
        if i.is_multiple_of(3) {
            v.iter_mut().for_each(|b| *b = (i % 251) as u8);
        }
        v[..4.min(len)].copy_from_slice(&i.to_le_bytes()[..4.min(len)]);
        v
    }

    fn drain(t: &mut Tailer, out: &mut Vec<(Vec<u8>, WalPosition)>) {
        while let Ok(Next::Record(r, at)) = t.next() {
            out.push((r.to_vec(), at));
        }
    }

    #[test]
    fn tails_a_live_wal_across_segments_and_resumes() {
        let dir = tempfile::tempdir().unwrap();
        let wal_dir = dir.path().to_path_buf();
        let n = 400u32;
        let writer = {
            let wal_dir = wal_dir.clone();
            std::thread::spawn(move || {
                let mut w = Wal::open(
                    &wal_dir,
                    WalOptions {
                        segment_size: 4 * PAGE_SIZE,
                        compress: true,
                    },
                )
                .unwrap();
                for i in 0..n {
                    let r = record(i);
                    w.log(&[&r]).unwrap();
                    if i % 50 == 0 {
                        std::thread::sleep(std::time::Duration::from_millis(5));
                    }
                }
                w.close().unwrap();
            })
        };
        let mut t = Tailer::new(&wal_dir, WalPosition::default());
        let mut got = Vec::new();
        let start = std::time::Instant::now();
        while got.len() < n as usize && start.elapsed().as_secs() < 20 {
            drain(&mut t, &mut got);
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        writer.join().unwrap();
        assert_eq!(got.len(), n as usize);
        for (i, (r, _)) in got.iter().enumerate() {
            assert_eq!(*r, record(i as u32), "record {i}");
        }
        assert!(got.last().unwrap().1.segment > 3, "crossed segments");
        // Resuming from a recorded position yields exactly the records after it.
        let k = 123;
        let mut t = Tailer::new(&wal_dir, got[k].1);
        let mut rest = Vec::new();
        for _ in 0..1000 {
            drain(&mut t, &mut rest);
        }
        assert_eq!(rest.len(), n as usize - k - 1);
        assert_eq!(rest[0].0, record(k as u32 + 1));
    }
}
