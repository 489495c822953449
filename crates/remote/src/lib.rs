//! Prometheus remote write (1.0 and 2.0) and remote read for Narthex.
//!
//! What it is:
//!
//! - [`codec`]: the wire messages ([`pb`], hand-written [`prost`] messages matching
//!   Prometheus's `prompb`), snappy block compression, the headers of both protocol
//!   versions, and a version-independent [`WriteRequest`] with native histograms mapped
//!   to and from [`narthex_model::Histogram`] and [`narthex_model::FloatHistogram`].
//!   Decoding never panics on untrusted bytes.
//! - [`view`]: a borrowing decoder that validates a request once and then iterates its
//!   labels and samples without allocating (what the receiver decodes with; 1.0 at
//!   about 1.5 GB/s of uncompressed protobuf).
//! - [`receiver`]: an axum [`router`] serving `POST /api/v1/write` into any
//!   [`narthex_storage::Appendable`] (Prometheus's status codes and partial-write rules),
//!   and [`read_router`] serving `POST /api/v1/read` (`SAMPLES` and
//!   `STREAMED_XOR_CHUNKS` responses) over any [`narthex_storage::Queryable`].
//! - [`queue`]: a [`QueueManager`] per `remote_write` endpoint that tails a TSDB's WAL,
//!   relabels, batches, shards, retries with exponential backoff, and remembers how far it
//!   got (see the module docs for the position file).
//!
//! What it is not: a YAML configuration layer (`narthex-config` builds
//! [`RemoteWriteOptions`]), an HTTP client layer (`narthex-http` builds the client from
//! [`RemoteWriteOptions::http`]: TLS, credentials, proxies), or a remote read *client*
//! merged into queries.
//!
//! # Example
//!
//! ```
//! use narthex_model::{labels, Sample};
//! use narthex_remote::codec::{self, Protocol, TimeSeries, WriteRequest};
//!
//! let req = WriteRequest {
//!     timeseries: vec![TimeSeries {
//!         labels: labels!("__name__" => "up", "job" => "node"),
//!         samples: vec![Sample { timestamp: 1_700_000_000_000, value: 1.0 }],
//!         ..Default::default()
//!     }],
//!     metadata: vec![],
//! };
//! for protocol in [Protocol::V1, Protocol::V2] {
//!     // The body a sender POSTs with `Content-Encoding: snappy` and
//!     // `Content-Type: protocol.content_type()`.
//!     let body = codec::encode_compressed(&req, protocol);
//!     let back = codec::decode_compressed(&body, protocol, 1 << 20).unwrap();
//!     assert_eq!(back, req);
//! }
//! // Garbage is an error, never a panic.
//! assert!(codec::decode_compressed(b"\xff\x00garbage", Protocol::V2, 1 << 20).is_err());
//! ```
//!
//! Serving writes into a TSDB is `axum::serve(listener, narthex_remote::router(db))`
//! with `db: Arc<narthex_tsdb::Db>`.
//!
//! # Design notes and limits
//!
//! - [`codec::encode`] and [`codec::decode`] go straight between model types and wire
//!   bytes (decoding interns label strings per request); [`codec::encode_prost`] and
//!   [`codec::decode_prost`] go through the `prost` messages and are the reference:
//!   property tests check the direct encoder writes `prost`'s exact bytes and the direct
//!   decoder returns `prost`'s result. See `benches/codec.rs` for throughput.
//! - 1.0 writes are all-or-nothing on out-of-order samples (400, nothing kept), as
//!   Prometheus's 1.0 handler; 2.0 writes are partial (the good samples are kept, 400 names
//!   the rejected ones, the `X-Prometheus-Remote-Write-*-Written` headers count what was
//!   written).
//! - The sender takes metadata from the WAL's metadata records: attached to each series
//!   in 2.0, sent periodically as metadata-only requests in 1.0 (family name = the
//!   series' metric name, where Prometheus uses the scraped family). Its series map follows the TSDB's checkpoints
//!   (series dropped from the head are forgotten), as Prometheus's WAL watcher does.
//! - A sender that falls behind by more than a checkpoint loses the samples of the
//!   segments the TSDB deleted (as in Prometheus); it logs and skips ahead.
//! - Remote read answers `SAMPLES` and `STREAMED_XOR_CHUNKS` (chosen as Prometheus does:
//!   the first type in the client's list the server supports). Streamed responses
//!   re-encode samples into XOR and (float) histogram chunks of up to 120 samples; they
//!   are built in memory, bounded by the sample limit, then sent as one body.

pub mod codec;
mod enc;
mod fast;
pub mod pb;
pub mod queue;
pub mod receiver;
mod tail;
pub mod view;

pub use codec::{Error, HistogramSample, HistogramValue, Protocol, TimeSeries, WriteRequest};
pub use queue::{QueueConfig, QueueManager, RemoteWriteOptions, SendError, Stats};
pub use receiver::{ReceiverOptions, read_router, router, router_with};
pub use tail::WalPosition;
