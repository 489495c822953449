//! The receiving side: an axum router serving `POST /api/v1/write` (remote write 1.0 and
//! 2.0) into any [`Appendable`], and `POST /api/v1/read` (remote read) over any
//! [`Queryable`].

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use narthex_model::{Labels, MatchOp, Matcher, NameValidation};
use narthex_storage::{
    Appendable, Appender, HistogramSample as StorageHistogram, Queryable, SelectHints, SeriesRef,
    StorageError, ValueType,
};
use prost::Message;

use crate::codec::{
    self, CONTENT_ENCODING, EXEMPLARS_WRITTEN_HEADER, HISTOGRAMS_WRITTEN_HEADER, HistogramValue,
    Protocol, SAMPLES_WRITTEN_HEADER,
};
use crate::pb::v1;
use crate::view::{LabelCache, RequestView};

/// Options of the receiving endpoints.
#[derive(Clone, Debug)]
pub struct ReceiverOptions {
    /// Largest request body accepted, compressed (413 above) and decompressed (400 above).
    pub max_decoded_len: usize,
    /// Which protocols `/api/v1/write` accepts (Prometheus's
    /// `--web.remote-write-receiver.accepted-protobuf-messages`).
    pub accepted: Vec<Protocol>,
    /// Name validation applied to received label sets.
    pub name_validation: NameValidation,
    /// Largest number of samples a remote read query may return (0: no limit), as
    /// Prometheus's `--storage.remote.read-sample-limit`.
    pub read_sample_limit: usize,
}

impl Default for ReceiverOptions {
    fn default() -> Self {
        ReceiverOptions {
            max_decoded_len: codec::DEFAULT_MAX_DECODED_LEN,
            accepted: vec![Protocol::V1, Protocol::V2],
            name_validation: NameValidation::Utf8,
            read_sample_limit: 50_000_000,
        }
    }
}

struct WriteState {
    appendable: Arc<dyn Appendable + Send + Sync>,
    options: ReceiverOptions,
}

struct ReadState {
    queryable: Arc<dyn Queryable + Send + Sync>,
    options: ReceiverOptions,
}

/// A router serving `POST /api/v1/write` into `appendable`, accepting 1.0 and 2.0.
pub fn router(appendable: Arc<dyn Appendable + Send + Sync>) -> Router {
    router_with(appendable, ReceiverOptions::default())
}

/// [`router`] with options.
pub fn router_with(
    appendable: Arc<dyn Appendable + Send + Sync>,
    options: ReceiverOptions,
) -> Router {
    let limit = options.max_decoded_len;
    Router::new()
        .route("/api/v1/write", post(write_handler))
        .layer(axum::extract::DefaultBodyLimit::max(limit))
        .with_state(Arc::new(WriteState {
            appendable,
            options,
        }))
}

/// A router serving `POST /api/v1/read` (remote read, `SAMPLES` responses) over `queryable`.
pub fn read_router(
    queryable: Arc<dyn Queryable + Send + Sync>,
    options: ReceiverOptions,
) -> Router {
    let limit = options.max_decoded_len;
    Router::new()
        .route("/api/v1/read", post(read_handler))
        .layer(axum::extract::DefaultBodyLimit::max(limit))
        .with_state(Arc::new(ReadState { queryable, options }))
}

fn text(status: StatusCode, msg: impl Into<String>) -> Response {
    let mut m = msg.into();
    m.push('\n');
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        m,
    )
        .into_response()
}

fn header_str(h: &HeaderMap, name: header::HeaderName) -> &str {
    h.get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
}

/// What one write did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Written {
    samples: usize,
    histograms: usize,
    exemplars: usize,
}

enum WriteFailure {
    /// The request is wrong (out of order, invalid labels...): 400, do not retry.
    BadRequest(String),
    /// The storage failed: 500, retry.
    Internal(String),
}

fn is_bad_sample(e: &StorageError) -> bool {
    matches!(
        e,
        StorageError::OutOfOrderSample
            | StorageError::OutOfBounds
            | StorageError::DuplicateSampleForTimestamp
            | StorageError::TooOldSample
            | StorageError::InvalidHistogram(_)
            | StorageError::InvalidLabels(_)
    )
}

fn is_exemplar_error(e: &StorageError) -> bool {
    matches!(
        e,
        StorageError::OutOfOrderExemplar
            | StorageError::DuplicateExemplar
            | StorageError::ExemplarLabelsTooLong
            | StorageError::OutOfBounds
            | StorageError::TooOldSample
    )
}

/// Appends a histogram sample with start timestamp `st` (0: unknown).
fn append_hist(
    app: &mut dyn Appender,
    r: SeriesRef,
    l: &Labels,
    t: i64,
    st: i64,
    h: &HistogramValue,
) -> Result<SeriesRef, StorageError> {
    match h {
        HistogramValue::Int(h) => {
            app.append_histogram_with_st(r, l, t, st, StorageHistogram::Int(h))
        }
        HistogramValue::Float(h) => {
            app.append_histogram_with_st(r, l, t, st, StorageHistogram::Float(h))
        }
    }
}

/// A 2.0 series' created timestamp as the start timestamp of its sample at `t`: kept
/// when it is known and not after the sample (a later one cannot start its interval).
fn start_of(created: i64, t: i64) -> i64 {
    if created > 0 && created <= t {
        created
    } else {
        0
    }
}

/// 1.0: Prometheus's semantics. Series with invalid labels are skipped; the first sample
/// the storage rejects as out of order (or out of bounds, duplicate, too old) fails the
/// whole request with 400 and nothing is kept; exemplar errors are ignored; metadata is
/// ignored.
fn write_v1(
    appendable: &dyn Appendable,
    req: &RequestView<'_>,
    validation: NameValidation,
) -> Result<Written, WriteFailure> {
    let mut app = appendable.appender();
    let mut w = Written::default();
    let mut skipped = 0usize;
    let mut cache = LabelCache::new();
    let result = (|| {
        for ts in req.timeseries() {
            let labels = cache.labels(&ts);
            if labels.is_empty() || !labels.has_valid_names(validation) {
                skipped += 1;
                continue;
            }
            let mut r = SeriesRef::UNKNOWN;
            for s in ts.samples() {
                r = app.append(r, &labels, s.timestamp, s.value)?;
                w.samples += 1;
            }
            for h in ts.histograms() {
                let h = h.to_sample();
                r = append_hist(app.as_mut(), r, &labels, h.timestamp, 0, &h.value)?;
                w.histograms += 1;
            }
            for e in ts.exemplars() {
                let e = cache.exemplar(&e);
                match app.append_exemplar(r, &labels, &e) {
                    Ok(nr) => {
                        r = nr;
                        w.exemplars += 1;
                    }
                    Err(err) if is_exemplar_error(&err) => {
                        tracing::debug!(error = %err, "remote write: exemplar rejected");
                    }
                    Err(err) => return Err(err),
                }
            }
        }
        Ok(())
    })();
    if skipped > 0 {
        tracing::warn!(
            series = skipped,
            "remote write: invalid metric names or labels, series dropped"
        );
    }
    match result {
        Ok(()) => app
            .commit()
            .map(|()| w)
            .map_err(|e| WriteFailure::Internal(e.to_string())),
        Err(e) => {
            let _ = app.rollback();
            if is_bad_sample(&e) {
                Err(WriteFailure::BadRequest(e.to_string()))
            } else {
                Err(WriteFailure::Internal(e.to_string()))
            }
        }
    }
}

/// 2.0: partial writes. Samples the storage rejects as bad are skipped and reported; the
/// rest is committed; the response is 400 naming the first problems when anything was
/// rejected, with the written counts in the response headers either way.
fn write_v2(
    appendable: &dyn Appendable,
    req: &RequestView<'_>,
    validation: NameValidation,
) -> (Written, Result<(), WriteFailure>) {
    let mut app = appendable.appender();
    let mut w = Written::default();
    let mut bad: Vec<String> = Vec::new();
    let mut bad_count = 0usize;
    let mut note = |msg: String, bad: &mut Vec<String>| {
        bad_count += 1;
        if bad.len() < 10 {
            bad.push(msg);
        }
    };
    let mut cache = LabelCache::new();
    let result: Result<(), StorageError> = (|| {
        for ts in req.timeseries() {
            let labels = cache.labels(&ts);
            if labels.is_empty() || !labels.has_valid_names(validation) {
                note(format!("invalid labels for series: {labels}"), &mut bad);
                continue;
            }
            let mut r = SeriesRef::UNKNOWN;
            // The series' created timestamp becomes its samples' start timestamp.
            let created = ts.created_timestamp();
            for s in ts.samples() {
                let st = start_of(created, s.timestamp);
                match app.append_with_st(r, &labels, s.timestamp, st, s.value) {
                    Ok(nr) => {
                        r = nr;
                        w.samples += 1;
                    }
                    Err(e) if is_bad_sample(&e) => note(
                        format!("{e} for series {labels} at {}", s.timestamp),
                        &mut bad,
                    ),
                    Err(e) => return Err(e),
                }
            }
            for h in ts.histograms() {
                let h = h.to_sample();
                let st = start_of(created, h.timestamp);
                match append_hist(app.as_mut(), r, &labels, h.timestamp, st, &h.value) {
                    Ok(nr) => {
                        r = nr;
                        w.histograms += 1;
                    }
                    Err(e) if is_bad_sample(&e) => note(
                        format!("{e} for series {labels} at {}", h.timestamp),
                        &mut bad,
                    ),
                    Err(e) => return Err(e),
                }
            }
            for e in ts.exemplars() {
                let e = cache.exemplar(&e);
                match app.append_exemplar(r, &labels, &e) {
                    Ok(nr) => {
                        r = nr;
                        w.exemplars += 1;
                    }
                    Err(err) if is_exemplar_error(&err) || is_bad_sample(&err) => {
                        tracing::debug!(error = %err, "remote write: exemplar rejected");
                    }
                    Err(err) => return Err(err),
                }
            }
            if let Some(m) = ts.metadata()
                && let Err(e) = app.update_metadata(r, &labels, &m.to_metadata())
            {
                tracing::debug!(error = %e, "remote write: metadata rejected");
            }
        }
        Ok(())
    })();
    match result {
        Ok(()) => {
            if let Err(e) = app.commit() {
                return (
                    Written::default(),
                    Err(WriteFailure::Internal(e.to_string())),
                );
            }
            if bad.is_empty() {
                (w, Ok(()))
            } else {
                let mut msg = bad.join("; ");
                if bad_count > bad.len() {
                    msg.push_str(&format!(" (and {} more)", bad_count - bad.len()));
                }
                (w, Err(WriteFailure::BadRequest(msg)))
            }
        }
        Err(e) => {
            let _ = app.rollback();
            (
                Written::default(),
                Err(WriteFailure::Internal(e.to_string())),
            )
        }
    }
}

async fn write_handler(
    State(st): State<Arc<WriteState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let ct = header_str(&headers, header::CONTENT_TYPE);
    let Some(protocol) = Protocol::from_content_type(ct) else {
        return text(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("unsupported content type {ct:?}"),
        );
    };
    if !st.options.accepted.contains(&protocol) {
        return text(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!(
                "{} is not accepted by this receiver",
                protocol.message_name()
            ),
        );
    }
    let enc = header_str(&headers, header::CONTENT_ENCODING);
    if !enc.is_empty() && !enc.eq_ignore_ascii_case(CONTENT_ENCODING) {
        return text(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("unsupported content encoding {enc:?}, only snappy is supported"),
        );
    }
    // Decompressing, validating (a borrowed view of the message: nothing is copied per
    // label or sample) and appending all run off the async threads. A body that does not
    // decode is refused before anything is appended.
    let st2 = st.clone();
    let joined = tokio::task::spawn_blocking(move || {
        let raw =
            codec::decompress(&body, st2.options.max_decoded_len).map_err(|e| e.to_string())?;
        let req = RequestView::new(&raw, protocol).map_err(|e| e.to_string())?;
        let validation = st2.options.name_validation;
        Ok::<_, String>(match protocol {
            Protocol::V1 => {
                let r = write_v1(st2.appendable.as_ref(), &req, validation);
                (r.as_ref().map(|w| *w).unwrap_or_default(), r.map(|_| ()))
            }
            Protocol::V2 => write_v2(st2.appendable.as_ref(), &req, validation),
        })
    })
    .await;
    let (written, result) = match joined {
        Ok(Ok(x)) => x,
        Ok(Err(e)) => {
            tracing::debug!(error = %e, "remote write: bad request");
            return text(StatusCode::BAD_REQUEST, e);
        }
        Err(e) => (
            Written::default(),
            Err(WriteFailure::Internal(format!("append task failed: {e}"))),
        ),
    };
    let mut resp = match result {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(WriteFailure::BadRequest(m)) => text(StatusCode::BAD_REQUEST, m),
        Err(WriteFailure::Internal(m)) => text(StatusCode::INTERNAL_SERVER_ERROR, m),
    };
    if protocol == Protocol::V2 {
        let h = resp.headers_mut();
        for (name, n) in [
            (SAMPLES_WRITTEN_HEADER, written.samples),
            (HISTOGRAMS_WRITTEN_HEADER, written.histograms),
            (EXEMPLARS_WRITTEN_HEADER, written.exemplars),
        ] {
            h.insert(name, HeaderValue::from(n as u64));
        }
    }
    resp
}

// ---------------------------------------------------------------------------------------
// Remote read.

/// Converts a wire matcher.
pub fn matcher_from_wire(m: &v1::LabelMatcher) -> Result<Matcher, String> {
    let op = match m.r#type {
        0 => MatchOp::Equal,
        1 => MatchOp::NotEqual,
        2 => MatchOp::RegexMatch,
        3 => MatchOp::RegexNoMatch,
        t => return Err(format!("invalid matcher type {t}")),
    };
    Matcher::new(op, m.name.clone(), m.value.clone()).map_err(|e| e.to_string())
}

/// Answers one remote read request with `SAMPLES` results. Errors are 400-class
/// (`Err(String)` from the request) or storage failures.
pub fn answer_read(
    queryable: &dyn Queryable,
    req: &v1::ReadRequest,
    sample_limit: usize,
) -> Result<v1::ReadResponse, (StatusCode, String)> {
    let mut results = Vec::with_capacity(req.queries.len());
    let mut total = 0usize;
    for q in &req.queries {
        let matchers = q
            .matchers
            .iter()
            .map(matcher_from_wire)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| (StatusCode::BAD_REQUEST, e))?;
        let hints = q.hints.as_ref().map(|h| SelectHints {
            start: h.start_ms,
            end: h.end_ms,
            step: h.step_ms,
            func: (!h.func.is_empty()).then(|| h.func.clone()),
            grouping: h.grouping.clone(),
            by: h.by,
            range: h.range_ms,
        });
        let (mint, maxt) = (q.start_timestamp_ms, q.end_timestamp_ms);
        let internal = |e: StorageError| (StatusCode::INTERNAL_SERVER_ERROR, e.to_string());
        let querier = queryable.querier(mint, maxt).map_err(internal)?;
        let set = querier
            .select(true, hints.as_ref(), &matchers)
            .map_err(internal)?;
        let mut timeseries = Vec::new();
        for s in set {
            let s = s.map_err(internal)?;
            let mut ts = v1::TimeSeries {
                labels: codec::labels_to_wire(s.labels()),
                ..Default::default()
            };
            let mut it = s.iter();
            let mut vt = it.seek(mint);
            while vt != ValueType::None {
                let t = it.at_t();
                if t > maxt {
                    break;
                }
                match vt {
                    ValueType::Float => {
                        let (t, v) = it.at();
                        ts.samples.push(v1::Sample {
                            value: v,
                            timestamp: t,
                        });
                    }
                    ValueType::Histogram => {
                        let (t, h) = it.at_histogram();
                        ts.histograms
                            .push(codec::histogram_to_wire(t, &HistogramValue::Int(h)));
                    }
                    ValueType::FloatHistogram => {
                        let (t, h) = it.at_float_histogram();
                        ts.histograms
                            .push(codec::histogram_to_wire(t, &HistogramValue::Float(h)));
                    }
                    ValueType::None => break,
                }
                total += 1;
                if sample_limit > 0 && total > sample_limit {
                    return Err((
                        StatusCode::BAD_REQUEST,
                        format!("exceeded sample limit ({sample_limit})"),
                    ));
                }
                vt = it.next();
            }
            if let Some(e) = it.err() {
                return Err(internal(e.clone()));
            }
            if !ts.samples.is_empty() || !ts.histograms.is_empty() {
                timeseries.push(ts);
            }
        }
        results.push(v1::QueryResult { timeseries });
    }
    Ok(v1::ReadResponse { results })
}

async fn read_handler(
    State(st): State<Arc<ReadState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let enc = header_str(&headers, header::CONTENT_ENCODING);
    if !enc.is_empty() && !enc.eq_ignore_ascii_case(CONTENT_ENCODING) {
        return text(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("unsupported content encoding {enc:?}"),
        );
    }
    let raw = match codec::decompress(&body, st.options.max_decoded_len) {
        Ok(r) => r,
        Err(e) => return text(StatusCode::BAD_REQUEST, e.to_string()),
    };
    let req = match v1::ReadRequest::decode(raw.as_slice()) {
        Ok(r) => r,
        Err(e) => return text(StatusCode::BAD_REQUEST, e.to_string()),
    };
    // Prometheus's negotiation: the first type in the client's list this server supports;
    // SAMPLES when the list is empty.
    let streamed = if req.accepted_response_types.is_empty() {
        false
    } else {
        match req.accepted_response_types.iter().find(|t| {
            **t == v1::ResponseType::Samples as i32
                || **t == v1::ResponseType::StreamedXorChunks as i32
        }) {
            Some(t) => *t == v1::ResponseType::StreamedXorChunks as i32,
            None => {
                return text(
                    StatusCode::BAD_REQUEST,
                    format!(
                        "server does not support any of the requested response types: {:?}",
                        req.accepted_response_types
                    ),
                );
            }
        }
    };
    if streamed {
        let st2 = st.clone();
        let answer = tokio::task::spawn_blocking(move || {
            answer_read_streamed(st2.queryable.as_ref(), &req, st2.options.read_sample_limit)
        })
        .await;
        return match answer {
            Ok(Ok(body)) => (
                StatusCode::OK,
                [(header::CONTENT_TYPE, STREAMED_CONTENT_TYPE)],
                body,
            )
                .into_response(),
            Ok(Err((code, msg))) => text(code, msg),
            Err(e) => text(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
        };
    }
    let st2 = st.clone();
    let answer = tokio::task::spawn_blocking(move || {
        answer_read(st2.queryable.as_ref(), &req, st2.options.read_sample_limit)
    })
    .await;
    match answer {
        Ok(Ok(resp)) => (
            StatusCode::OK,
            [
                (header::CONTENT_TYPE, "application/x-protobuf"),
                (header::CONTENT_ENCODING, CONTENT_ENCODING),
            ],
            codec::compress(&resp.encode_to_vec()),
        )
            .into_response(),
        Ok(Err((code, msg))) => text(code, msg),
        Err(e) => text(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

/// `Content-Type` of a `STREAMED_XOR_CHUNKS` remote read response.
pub const STREAMED_CONTENT_TYPE: &str =
    "application/x-streamed-protobuf; proto=prometheus.ChunkedReadResponse";
/// Largest frame of a streamed response (Prometheus's
/// `--storage.remote.read-max-bytes-in-frame` default).
pub const MAX_BYTES_IN_FRAME: usize = 1 << 20;
/// Samples per XOR chunk in streamed responses (as Prometheus's head chunks).
const SAMPLES_PER_READ_CHUNK: usize = 120;

/// Appends one frame of a streamed response: the message length as a uvarint, the
/// CRC-32C of the message (big-endian), then the message.
pub fn write_frame(out: &mut Vec<u8>, msg: &[u8]) {
    let mut n = msg.len() as u64;
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
    out.extend_from_slice(&crc32c::crc32c(msg).to_be_bytes());
    out.extend_from_slice(msg);
}

/// Answers a remote read request as `STREAMED_XOR_CHUNKS`: for each query and series,
/// frames of `ChunkedReadResponse` holding that series' chunks (XOR for floats,
/// histogram and float histogram chunks for native histograms; up to 120 samples each),
/// each frame at most about [`MAX_BYTES_IN_FRAME`]. The frames are built in memory
/// (bounded by the sample limit) and sent as one body.
pub fn answer_read_streamed(
    queryable: &dyn Queryable,
    req: &v1::ReadRequest,
    sample_limit: usize,
) -> Result<Vec<u8>, (StatusCode, String)> {
    let mut out = Vec::new();
    let mut total = 0usize;
    let internal = |e: StorageError| (StatusCode::INTERNAL_SERVER_ERROR, e.to_string());
    for (qi, q) in req.queries.iter().enumerate() {
        let matchers = q
            .matchers
            .iter()
            .map(matcher_from_wire)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| (StatusCode::BAD_REQUEST, e))?;
        let (mint, maxt) = (q.start_timestamp_ms, q.end_timestamp_ms);
        let querier = queryable.querier(mint, maxt).map_err(internal)?;
        for s in querier.select(true, None, &matchers).map_err(internal)? {
            let s = s.map_err(internal)?;
            let labels = codec::labels_to_wire(s.labels());
            let emit = |out: &mut Vec<u8>, chunks: Vec<v1::Chunk>| {
                if chunks.is_empty() {
                    return;
                }
                let msg = v1::ChunkedReadResponse {
                    chunked_series: vec![v1::ChunkedSeries {
                        labels: labels.clone(),
                        chunks,
                    }],
                    query_index: qi as i64,
                };
                write_frame(out, &msg.encode_to_vec());
            };
            let mut samples: Vec<(i64, narthex_storage::SampleValue)> = Vec::new();
            let mut it = s.iter();
            let mut vt = it.seek(mint);
            while vt != ValueType::None {
                if it.at_t() > maxt {
                    break;
                }
                let v = match vt {
                    ValueType::Float => {
                        let (t, v) = it.at();
                        (t, narthex_storage::SampleValue::Float(v))
                    }
                    ValueType::Histogram => {
                        let (t, h) = it.at_histogram();
                        (t, narthex_storage::SampleValue::Histogram(Box::new(h)))
                    }
                    ValueType::FloatHistogram => {
                        let (t, h) = it.at_float_histogram();
                        (t, narthex_storage::SampleValue::FloatHistogram(Box::new(h)))
                    }
                    ValueType::None => break,
                };
                samples.push(v);
                total += 1;
                if sample_limit > 0 && total > sample_limit {
                    return Err((
                        StatusCode::BAD_REQUEST,
                        format!("exceeded sample limit ({sample_limit})"),
                    ));
                }
                vt = it.next();
            }
            if let Some(e) = it.err() {
                return Err(internal(e.clone()));
            }
            // The TSDB's own chunk encoder, cutting as the head cuts; frames of about
            // MAX_BYTES_IN_FRAME each.
            let encoded = narthex_tsdb::encode_samples(&samples, SAMPLES_PER_READ_CHUNK)
                .map_err(|e| (StatusCode::INTERNAL_SERVER_ERROR, e))?;
            let (mut frame, mut bytes) = (Vec::new(), 0usize);
            for c in encoded {
                let enc = match c.encoding {
                    2 => v1::ChunkEncoding::Histogram,
                    3 => v1::ChunkEncoding::FloatHistogram,
                    _ => v1::ChunkEncoding::Xor,
                };
                bytes += c.bytes.len();
                frame.push(v1::Chunk {
                    min_time_ms: c.mint,
                    max_time_ms: c.maxt,
                    r#type: enc as i32,
                    data: c.bytes,
                });
                if bytes >= MAX_BYTES_IN_FRAME {
                    emit(&mut out, std::mem::take(&mut frame));
                    bytes = 0;
                }
            }
            emit(&mut out, frame);
        }
    }
    Ok(out)
}
