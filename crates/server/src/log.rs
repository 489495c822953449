//! The log: `--log.level` and `--log.format`, on stderr.
//!
//! `logfmt` (the default) is the tracing text format: a timestamp, the level, the module,
//! the message and `key=value` fields on one line. `json` writes one JSON object per line
//! with the keys Prometheus's JSON log has (`time`, `level`, `source`, `msg`) and the
//! event's fields. `NARTHEX_LOG` (a tracing filter, `narthex_tsdb=debug,info`), when set,
//! takes the place of `--log.level`.

use std::fmt;

use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::{FormatTime, SystemTime};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// Installs the process's log subscriber (once; later calls do nothing).
pub(crate) fn init(level: &str, format: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("NARTHEX_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = if format == "json" {
        builder.event_format(Json).try_init()
    } else {
        builder
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .try_init()
    };
}

/// One JSON object per event.
struct Json;

impl<S, N> FormatEvent<S, N> for Json
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let meta = event.metadata();
        let mut time = String::new();
        SystemTime.format_time(&mut Writer::new(&mut time))?;
        let mut obj = serde_json::Map::new();
        obj.insert("time".into(), time.into());
        obj.insert("level".into(), meta.level().as_str().into());
        obj.insert("source".into(), meta.target().into());
        let mut fields = Fields(serde_json::Map::new());
        event.record(&mut fields);
        let msg = fields.0.remove("message").unwrap_or_default();
        obj.insert("msg".into(), msg);
        obj.extend(fields.0);
        let line = serde_json::to_string(&obj).map_err(|_| fmt::Error)?;
        writeln!(writer, "{line}")
    }
}

/// An event's fields as JSON values.
struct Fields(serde_json::Map<String, serde_json::Value>);

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0
            .insert(field.name().into(), format!("{value:?}").into());
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().into(), value.into());
    }
}
