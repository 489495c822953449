//! The active query log: `queries.active` in the data directory, as Prometheus keeps it.
//! Every running query occupies a fixed-size slot of the file while it runs; a query still
//! in the file when the server starts was running when the last process died, and is
//! reported (a query that crashes or exhausts the server can be found this way).

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use parking_lot::Mutex;

/// Bytes per slot: a query's JSON entry, padded with spaces.
const ENTRY: usize = 1000;

/// The log file and its free slots.
#[derive(Debug)]
pub struct ActiveQueryLog {
    path: PathBuf,
    file: Mutex<File>,
    used: Mutex<Vec<bool>>,
}

/// A slot taken by a running query; dropping it clears the slot.
#[derive(Debug)]
pub struct ActiveQuery<'a> {
    log: &'a ActiveQueryLog,
    slot: Option<usize>,
}

impl Drop for ActiveQuery<'_> {
    fn drop(&mut self) {
        if let Some(slot) = self.slot {
            self.log.write_slot(slot, "");
            self.log.used.lock()[slot] = false;
        }
    }
}

fn entry_json(query: &str, ts: i64) -> String {
    let entry = serde_json::json!({"query": query, "timestamp_sec": ts}).to_string();
    if entry.len() < ENTRY {
        return entry;
    }
    // Too long for a slot: keep a prefix of the query (on a character boundary).
    let mut q = query;
    while serde_json::json!({"query": q, "timestamp_sec": ts})
        .to_string()
        .len()
        + 1
        > ENTRY
    {
        let mut cut = q.len().saturating_sub(64);
        while !q.is_char_boundary(cut) {
            cut -= 1;
        }
        q = &q[..cut];
    }
    serde_json::json!({"query": q, "timestamp_sec": ts}).to_string()
}

impl ActiveQueryLog {
    /// Opens `dir/queries.active` for `slots` concurrent queries. Returns the log and the
    /// queries the previous file still held (each as its JSON object text).
    pub fn open(dir: &Path, slots: usize) -> std::io::Result<(ActiveQueryLog, Vec<String>)> {
        let path = dir.join("queries.active");
        let mut previous = Vec::new();
        if let Ok(mut f) = File::open(&path) {
            let mut text = String::new();
            if f.read_to_string(&mut text).is_ok() {
                let inner = text.trim().trim_start_matches('[').trim_end_matches(']');
                for chunk in inner.split("},") {
                    let c = chunk.trim().trim_end_matches(',');
                    if c.is_empty() {
                        continue;
                    }
                    let obj = if c.ends_with('}') {
                        c.to_string()
                    } else {
                        format!("{c}}}")
                    };
                    if serde_json::from_str::<serde_json::Value>(&obj).is_ok() {
                        previous.push(obj);
                    }
                }
            }
        }
        let slots = slots.max(1);
        let mut f = OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .read(true)
            .open(&path)?;
        let mut init = vec![b' '; 2 + slots * ENTRY];
        init[0] = b'[';
        init[1 + slots * ENTRY] = b']';
        f.write_all(&init)?;
        f.sync_all()?;
        Ok((
            ActiveQueryLog {
                path,
                file: Mutex::new(f),
                used: Mutex::new(vec![false; slots]),
            },
            previous,
        ))
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn write_slot(&self, slot: usize, text: &str) {
        let mut buf = vec![b' '; ENTRY];
        let b = text.as_bytes();
        let n = b.len().min(ENTRY - 1);
        buf[..n].copy_from_slice(&b[..n]);
        if n > 0 {
            buf[n] = b',';
        }
        let mut f = self.file.lock();
        let _ = f
            .seek(SeekFrom::Start((1 + slot * ENTRY) as u64))
            .and_then(|_| f.write_all(&buf));
    }

    /// Records a starting query; the slot is freed when the returned guard drops. When all
    /// slots are taken (more queries than `slots`), the query is not logged.
    pub fn insert(&self, query: &str) -> ActiveQuery<'_> {
        let slot = {
            let mut used = self.used.lock();
            let free = used.iter().position(|u| !u);
            if let Some(i) = free {
                used[i] = true;
            }
            free
        };
        if let Some(s) = slot {
            let ts = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs() as i64)
                .unwrap_or(0);
            self.write_slot(s, &entry_json(query, ts));
        }
        ActiveQuery { log: self, slot }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unfinished_queries_are_found_on_the_next_open() {
        let dir = tempfile::tempdir().unwrap();
        let (log, prev) = ActiveQueryLog::open(dir.path(), 3).unwrap();
        assert!(prev.is_empty());
        let a = log.insert("sum(rate(http_requests_total[5m]))");
        let b = log.insert("up{job=\"x\"}");
        drop(a);
        std::mem::forget(log.insert(&"x".repeat(5000)));
        std::mem::forget(b); // still running when the process dies
        drop(log);
        let (_log, prev) = ActiveQueryLog::open(dir.path(), 3).unwrap();
        assert_eq!(prev.len(), 2, "{prev:?}");
        assert!(
            prev.iter().any(|p| p.contains("up{job=\\\"x\\\"}")),
            "{prev:?}"
        );
        assert!(prev.iter().all(|p| p.contains("timestamp_sec")), "{prev:?}");
        let (_log, prev) = ActiveQueryLog::open(dir.path(), 3).unwrap();
        assert!(prev.is_empty(), "a clean start resets the file");
    }
}
