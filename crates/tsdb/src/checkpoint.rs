//! WAL checkpoints (`wal/checkpoint.NNNNNNNN/`): the state the head still needs from WAL
//! segments up to N, so those segments can be deleted.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};

use crate::record::{self, Record, RefMetadata, RefSeries};
use crate::wlog::{RecordReader, Wal, WalError, WalOptions, io_err};

const PREFIX: &str = "checkpoint.";

/// The newest complete checkpoint in `wal_dir` and the last segment it covers.
pub fn last_checkpoint(wal_dir: &Path) -> Result<Option<(PathBuf, u32)>, WalError> {
    let mut best: Option<(PathBuf, u32)> = None;
    let entries = match fs::read_dir(wal_dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_err(wal_dir)(e)),
    };
    for e in entries.flatten() {
        let name = e.file_name();
        let Some(name) = name.to_str() else { continue };
        let Some(num) = name.strip_prefix(PREFIX) else {
            continue;
        };
        if num.len() != 8 || !e.path().is_dir() {
            continue; // `.tmp` directories are unfinished checkpoints.
        }
        if let Ok(n) = num.parse::<u32>()
            && best.as_ref().is_none_or(|(_, b)| n > *b)
        {
            best = Some((e.path(), n));
        }
    }
    Ok(best)
}

/// What a checkpoint keeps.
pub struct Keep<'k> {
    /// Whether a series (by reference) is still in the head.
    pub series: &'k dyn Fn(u64) -> bool,
    /// Samples, exemplars and tombstones older than this are dropped.
    pub mint: i64,
}

/// Writes `checkpoint.<to>` from the previous checkpoint and segments up to `to`, keeping
/// live series, their metadata, and data from `keep.mint` on; then removes older
/// checkpoints. The new checkpoint appears atomically (written as `.tmp`, synced, renamed).
pub fn create(wal_dir: &Path, to: u32, keep: &Keep<'_>) -> Result<PathBuf, WalError> {
    let tmp = wal_dir.join(format!("{PREFIX}{to:08}.tmp"));
    let _ = fs::remove_dir_all(&tmp);
    let mut out = Wal::open(&tmp, WalOptions::default())?;
    let mut sources: Vec<(PathBuf, u32, u32)> = Vec::new();
    let prev = last_checkpoint(wal_dir)?;
    let from = match &prev {
        Some((dir, n)) => {
            sources.push((dir.clone(), 0, u32::MAX));
            n + 1
        }
        None => 0,
    };
    sources.push((wal_dir.to_path_buf(), from, to));
    let mut metadata: HashMap<u64, RefMetadata> = HashMap::new();
    for (dir, first, last) in sources {
        let mut r = RecordReader::open_range(&dir, first, last)?;
        while let Some(rec) = r.next_record() {
            let rec = rec?;
            let Ok(decoded) = record::decode(rec) else {
                continue;
            };
            let mut buf = Vec::new();
            match decoded {
                Record::Series(v) => {
                    let v: Vec<RefSeries> = v.into_iter().filter(|s| (keep.series)(s.r)).collect();
                    if !v.is_empty() {
                        record::encode_series(&v, &mut buf);
                    }
                }
                Record::Samples(v) => {
                    let v: Vec<_> = v
                        .into_iter()
                        .filter(|s| s.t >= keep.mint && (keep.series)(s.r))
                        .collect();
                    // Start timestamps survive a checkpoint as they survive the WAL.
                    if v.iter().any(|s| s.st != 0) {
                        record::encode_samples_v2(&v, &mut buf);
                    } else if !v.is_empty() {
                        record::encode_samples(&v, &mut buf);
                    }
                }
                Record::Tombstones(v) => {
                    let v: Vec<_> = v
                        .into_iter()
                        .filter(|s| s.maxt >= keep.mint && (keep.series)(s.r))
                        .collect();
                    if !v.is_empty() {
                        record::encode_tombstones(&v, &mut buf);
                    }
                }
                Record::Exemplars(v) => {
                    let v: Vec<_> = v
                        .into_iter()
                        .filter(|s| s.t >= keep.mint && (keep.series)(s.r))
                        .collect();
                    if !v.is_empty() {
                        record::encode_exemplars(&v, &mut buf);
                    }
                }
                Record::Metadata(v) => {
                    for m in v {
                        if (keep.series)(m.r) {
                            metadata.insert(m.r, m);
                        }
                    }
                }
                Record::Histograms(v) => {
                    let v: Vec<_> = v
                        .into_iter()
                        .filter(|s| s.t >= keep.mint && (keep.series)(s.r))
                        .collect();
                    if v.iter().any(|s| s.st != 0) {
                        buf = record::encode_histograms_v2(&v);
                    } else {
                        for b in record::encode_histograms(&v) {
                            out.log(&[&b])?;
                        }
                    }
                }
                Record::FloatHistograms(v) => {
                    let v: Vec<_> = v
                        .into_iter()
                        .filter(|s| s.t >= keep.mint && (keep.series)(s.r))
                        .collect();
                    if v.iter().any(|s| s.st != 0) {
                        buf = record::encode_float_histograms_v2(&v);
                    } else {
                        for b in record::encode_float_histograms(&v) {
                            out.log(&[&b])?;
                        }
                    }
                }
                Record::MmapMarkers(_) | Record::Unknown(_) => {}
            }
            if !buf.is_empty() {
                out.log(&[&buf])?;
            }
        }
    }
    if !metadata.is_empty() {
        let mut v: Vec<RefMetadata> = metadata.into_values().collect();
        v.sort_by_key(|m| m.r);
        let mut buf = Vec::new();
        record::encode_metadata(&v, &mut buf);
        out.log(&[&buf])?;
    }
    out.close()?;
    let dst = wal_dir.join(format!("{PREFIX}{to:08}"));
    fs::rename(&tmp, &dst).map_err(io_err(&dst))?;
    if let Ok(d) = fs::File::open(wal_dir) {
        let _ = d.sync_all();
    }
    if let Some((old, _)) = prev {
        fs::remove_dir_all(&old).map_err(io_err(&old))?;
    }
    Ok(dst)
}
