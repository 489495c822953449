//! `narthex query`: a client of Prometheus's HTTP API printing results as `promtool
//! query` does (or the raw JSON data with `-o json`).

use serde_json::Value;

use crate::cli::QueryCommand;

type Error = Box<dyn std::error::Error>;

fn now_secs() -> String {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    format!("{}.{:03}", ms / 1000, ms % 1000)
}

fn get(server: &str, path: &str, params: &[(&str, String)]) -> Result<Value, Error> {
    let url = format!("{}{path}", server.trim_end_matches('/'));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let client = narthex_http::default_client()?;
    let body: Value = rt.block_on(async {
        let resp = client.get(&url).query(params).send().await?;
        resp.json::<Value>().await
    })?;
    if body["status"] != "success" {
        return Err(format!(
            "query error: {}: {}",
            body["errorType"].as_str().unwrap_or("unknown"),
            body["error"].as_str().unwrap_or("")
        )
        .into());
    }
    Ok(body["data"].clone())
}

/// A label set as Prometheus's `model.Metric` prints it: the name, then the other labels
/// sorted, `name="value"` separated by `, ` in braces.
fn metric(m: &Value) -> String {
    let mut pairs: Vec<(&str, &str)> = m
        .as_object()
        .map(|o| {
            o.iter()
                .map(|(k, v)| (k.as_str(), v.as_str().unwrap_or("")))
                .collect()
        })
        .unwrap_or_default();
    pairs.sort();
    let name = pairs
        .iter()
        .find(|(k, _)| *k == "__name__")
        .map(|(_, v)| *v)
        .unwrap_or("");
    let rest: Vec<String> = pairs
        .iter()
        .filter(|(k, _)| *k != "__name__")
        .map(|(k, v)| format!("{k}={}", narthex_model::go_quote(v)))
        .collect();
    if rest.is_empty() && !name.is_empty() {
        return name.to_string();
    }
    format!("{name}{{{}}}", rest.join(", "))
}

/// A label set as `model.LabelSet` prints it: every label (name included), sorted.
fn label_set(m: &Value) -> String {
    let mut pairs: Vec<String> = m
        .as_object()
        .map(|o| {
            o.iter()
                .map(|(k, v)| format!("{k}={}", narthex_model::go_quote(v.as_str().unwrap_or(""))))
                .collect()
        })
        .unwrap_or_default();
    pairs.sort();
    format!("{{{}}}", pairs.join(", "))
}

fn point(p: &Value) -> String {
    format!("{} @[{}]", p[1].as_str().unwrap_or(""), p[0])
}

fn print_result(data: &Value) {
    match data["resultType"].as_str() {
        Some("vector") => {
            let lines: Vec<String> = data["result"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|s| format!("{} => {}", metric(&s["metric"]), point(&s["value"])))
                .collect();
            println!("{}", lines.join("\n"));
        }
        Some("matrix") => {
            let blocks: Vec<String> = data["result"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|s| {
                    let pts: Vec<String> = s["values"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(point)
                        .collect();
                    format!("{} =>\n{}", metric(&s["metric"]), pts.join("\n"))
                })
                .collect();
            println!("{}", blocks.join("\n"));
        }
        Some("scalar") | Some("string") => println!("{}", point(&data["result"])),
        _ => println!("{data}"),
    }
}

/// Runs a `narthex query` subcommand.
pub(crate) fn run(q: QueryCommand) -> Result<(), Error> {
    match q {
        QueryCommand::Instant {
            server,
            expr,
            time,
            format,
        } => {
            let data = get(
                &server,
                "/api/v1/query",
                &[("query", expr), ("time", time.unwrap_or_else(now_secs))],
            )?;
            if format == "json" {
                println!("{}", data["result"]);
            } else {
                print_result(&data);
            }
        }
        QueryCommand::Range {
            server,
            expr,
            start,
            end,
            step,
            format,
        } => {
            let end = end.unwrap_or_else(now_secs);
            let end_s: f64 = end.parse().unwrap_or(0.0);
            let start = start.unwrap_or_else(|| format!("{}", end_s - 300.0));
            if start.parse::<f64>().is_ok_and(|s| s >= end_s) {
                return Err("start time is not before end time".into());
            }
            let step = match step {
                Some(s) => s,
                None => {
                    // promtool: the range over 250 points, at least a second.
                    let start_s: f64 = start.parse().unwrap_or(end_s - 300.0);
                    format!("{}", ((end_s - start_s) / 250.0).max(1.0).floor())
                }
            };
            let data = get(
                &server,
                "/api/v1/query_range",
                &[
                    ("query", expr),
                    ("start", start),
                    ("end", end),
                    ("step", step),
                ],
            )?;
            if format == "json" {
                println!("{}", data["result"]);
            } else {
                print_result(&data);
            }
        }
        QueryCommand::Series {
            server,
            matches,
            start,
            end,
            format,
        } => {
            let mut params: Vec<(&str, String)> =
                matches.into_iter().map(|m| ("match[]", m)).collect();
            if let Some(s) = start {
                params.push(("start", s));
            }
            if let Some(e) = end {
                params.push(("end", e));
            }
            let data = get(&server, "/api/v1/series", &params)?;
            if format == "json" {
                println!("{data}");
            } else {
                for s in data.as_array().into_iter().flatten() {
                    println!("{}", label_set(s));
                }
            }
        }
        QueryCommand::Labels {
            server,
            name,
            matches,
            format,
        } => {
            let params: Vec<(&str, String)> = matches.into_iter().map(|m| ("match[]", m)).collect();
            let path = match &name {
                Some(n) => format!("/api/v1/label/{n}/values"),
                None => "/api/v1/labels".to_string(),
            };
            let data = get(&server, &path, &params)?;
            if format == "json" {
                println!("{data}");
            } else {
                for v in data.as_array().into_iter().flatten() {
                    println!("{}", v.as_str().unwrap_or(""));
                }
            }
        }
    }
    Ok(())
}
