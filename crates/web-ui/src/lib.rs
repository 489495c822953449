//! The Narthex web UI: a single-page application embedded in the binary, served by an
//! [axum] [`Router`].
//!
//! This crate **is** the browser side of a Narthex server: the expression browser
//! (a PromQL editor with autocompletion, table and graph views, several panels, the
//! state kept in the URL like Prometheus's classic UI: `/graph?g0.expr=up&g0.tab=1`)
//! and the pages for targets, service discovery, alerts, rules, configuration, flags,
//! runtime and build information and TSDB status. The HTML, JavaScript and CSS are built
//! from `web/ui/` in the repository and committed under `assets/`, then embedded here
//! with [`include_bytes!`], so building or installing the crate needs no npm.
//!
//! It is **not** an API: every page reads Prometheus's HTTP API v1 from the same origin
//! with relative URLs (`api/v1/...`), which `narthex-http-api` serves. This crate only
//! serves files: the application shell at each page's path and the assets under
//! `/assets/`, each with its content type, an `ETag` (a hash of the content, computed once)
//! honoured through `If-None-Match` with `304 Not Modified`, and
//! `Cache-Control: no-cache` (browsers revalidate, which costs a 304). The JavaScript and
//! CSS are also embedded gzip-compressed (by the build, so no compressor runs here) and
//! served with `Content-Encoding: gzip` to clients that accept it.
//!
//! ```
//! use axum::body::Body;
//! use axum::http::{Request, StatusCode, header};
//! use tower::ServiceExt;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! // Merge it with the API router in a real server: `api_router.merge(router())`.
//! let app: axum::Router = narthex_web_ui::router();
//! let response = app
//!     .oneshot(Request::get("/graph?g0.expr=up").body(Body::empty()).unwrap())
//!     .await
//!     .unwrap();
//! assert_eq!(response.status(), StatusCode::OK);
//! assert_eq!(response.headers()[header::CONTENT_TYPE], "text/html; charset=utf-8");
//! assert!(response.headers().contains_key(header::ETAG));
//! # }
//! ```
//!
//! Paths served: [`PAGES`] (the shell, `index.html`) and `/assets/<name>` for each of
//! [`ASSETS`]. Anything else under `/assets/` is a 404. The pages decide what to show from
//! `location.pathname`, so the same shell answers every page path.
#![warn(missing_docs)]

use std::sync::LazyLock;

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

/// One embedded file.
#[derive(Debug, Clone, Copy)]
pub struct Asset {
    /// The file name under `/assets/` (`app.js`).
    pub name: &'static str,
    /// The `Content-Type` it is served with.
    pub content_type: &'static str,
    /// The file's bytes.
    pub bytes: &'static [u8],
    /// The same bytes gzip-compressed, served to clients that accept gzip.
    pub gzip: Option<&'static [u8]>,
}

/// The application shell served at every page path.
pub const INDEX_HTML: Asset = Asset {
    name: "index.html",
    content_type: "text/html; charset=utf-8",
    bytes: include_bytes!("../assets/index.html"),
    gzip: None,
};

/// The files served under `/assets/`.
pub const ASSETS: [Asset; 3] = [
    Asset {
        name: "app.js",
        content_type: "text/javascript; charset=utf-8",
        bytes: include_bytes!("../assets/app.js"),
        gzip: Some(include_bytes!("../assets/app.js.gz")),
    },
    Asset {
        name: "app.css",
        content_type: "text/css; charset=utf-8",
        bytes: include_bytes!("../assets/app.css"),
        gzip: Some(include_bytes!("../assets/app.css.gz")),
    },
    Asset {
        name: "THIRD_PARTY_NOTICES.txt",
        content_type: "text/plain; charset=utf-8",
        bytes: include_bytes!("../assets/THIRD_PARTY_NOTICES.txt"),
        gzip: None,
    },
];

/// The page paths that answer with the application shell.
pub const PAGES: [&str; 11] = [
    "/",
    "/graph",
    "/query",
    "/targets",
    "/service-discovery",
    "/alerts",
    "/rules",
    "/config",
    "/flags",
    "/status",
    "/tsdb-status",
];

/// The `Cache-Control` of every response: store, but revalidate with the `ETag` first.
const CACHE_CONTROL: &str = "no-cache";

/// `ETag`s of [`INDEX_HTML`] followed by [`ASSETS`], in that order, computed on first use:
/// one for the plain bytes and one for the gzip variant (a different representation).
static ETAGS: LazyLock<Vec<(HeaderValue, Option<HeaderValue>)>> = LazyLock::new(|| {
    std::iter::once(&INDEX_HTML)
        .chain(ASSETS.iter())
        .map(|a| (etag_of(a.bytes), a.gzip.map(etag_of)))
        .collect()
});

/// A strong entity tag from the content: 64 bits of XXH3, quoted hex.
fn etag_of(bytes: &[u8]) -> HeaderValue {
    let tag = format!("\"{:016x}\"", xxhash_rust::xxh3::xxh3_64(bytes));
    // Quoted hex digits are always a valid header value.
    HeaderValue::from_str(&tag).unwrap_or(HeaderValue::from_static("\"0\""))
}

/// Routes for the UI: the shell at each of [`PAGES`] and the files under `/assets/`.
///
/// Generic over the state so it merges into any application router.
pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    let mut router = Router::new();
    for page in PAGES {
        router = router.route(page, get(index));
    }
    router.route("/assets/{*name}", get(asset))
}

async fn index(headers: HeaderMap) -> Response {
    serve(&INDEX_HTML, &ETAGS[0], &headers)
}

async fn asset(Path(name): Path<String>, headers: HeaderMap) -> Response {
    match ASSETS.iter().position(|a| a.name == name) {
        Some(i) => serve(&ASSETS[i], &ETAGS[i + 1], &headers),
        None => (
            StatusCode::NOT_FOUND,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            "404 page not found\n",
        )
            .into_response(),
    }
}

fn serve(
    asset: &Asset,
    etags: &(HeaderValue, Option<HeaderValue>),
    headers: &HeaderMap,
) -> Response {
    let (etag, bytes, gzip) = match (asset.gzip, &etags.1) {
        (Some(gz), Some(tag)) if accepts_gzip(headers) => (tag, gz, true),
        _ => (&etags.0, asset.bytes, false),
    };
    let mut response = if not_modified(headers, etag) {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let mut r = (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static(asset.content_type),
            )],
            bytes,
        )
            .into_response();
        if gzip {
            r.headers_mut()
                .insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        }
        r
    };
    let h = response.headers_mut();
    h.insert(header::ETAG, etag.clone());
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(CACHE_CONTROL),
    );
    if asset.gzip.is_some() {
        h.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
    }
    response
}

/// Whether `Accept-Encoding` lists `gzip` (or `*`) with a non-zero quality.
fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|item| {
            let mut parts = item.split(';').map(str::trim);
            let coding = parts.next().unwrap_or("");
            let zero = parts.any(|p| {
                p.strip_prefix("q=")
                    .and_then(|q| q.parse::<f32>().ok())
                    .is_some_and(|q| q == 0.0)
            });
            (coding.eq_ignore_ascii_case("gzip") || coding == "*") && !zero
        })
}

/// Whether `If-None-Match` matches `etag` (RFC 9110 §13.1.2: weak comparison; `*`).
fn not_modified(headers: &HeaderMap, etag: &HeaderValue) -> bool {
    let ours = etag.as_bytes();
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .any(|tag| tag == "*" || tag.strip_prefix("W/").unwrap_or(tag).as_bytes() == ours)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::{Body, to_bytes};
    use axum::http::Request;
    use tower::ServiceExt;

    async fn get_with(path: &str, if_none_match: Option<&str>) -> Response {
        let mut req = Request::get(path);
        if let Some(tag) = if_none_match {
            req = req.header(header::IF_NONE_MATCH, tag);
        }
        router::<()>()
            .oneshot(req.body(Body::empty()).unwrap())
            .await
            .unwrap()
    }

    async fn body(resp: Response) -> Vec<u8> {
        to_bytes(resp.into_body(), usize::MAX)
            .await
            .unwrap()
            .to_vec()
    }

    #[tokio::test]
    async fn pages_serve_the_shell() {
        for page in PAGES {
            let resp = get_with(page, None).await;
            assert_eq!(resp.status(), StatusCode::OK, "{page}");
            assert_eq!(
                resp.headers()[header::CONTENT_TYPE],
                "text/html; charset=utf-8"
            );
            assert_eq!(resp.headers()[header::CACHE_CONTROL], CACHE_CONTROL);
            let html = String::from_utf8(body(resp).await).unwrap();
            assert!(html.contains("assets/app.js"), "{page}: {html}");
            assert!(html.contains("assets/app.css"), "{page}: {html}");
        }
        // Query strings reach the same shell.
        let resp = get_with("/graph?g0.expr=up&g0.tab=1", None).await;
        assert_eq!(resp.status(), StatusCode::OK);
    }

    #[tokio::test]
    async fn assets_have_their_content_types() {
        let cases = [
            ("/assets/app.js", "text/javascript; charset=utf-8"),
            ("/assets/app.css", "text/css; charset=utf-8"),
            (
                "/assets/THIRD_PARTY_NOTICES.txt",
                "text/plain; charset=utf-8",
            ),
        ];
        for (path, ct) in cases {
            let resp = get_with(path, None).await;
            assert_eq!(resp.status(), StatusCode::OK, "{path}");
            assert_eq!(resp.headers()[header::CONTENT_TYPE], ct, "{path}");
            let name = path.trim_start_matches("/assets/");
            let asset = ASSETS.iter().find(|a| a.name == name).unwrap();
            assert_eq!(body(resp).await, asset.bytes, "{path}");
        }
    }

    #[tokio::test]
    async fn etag_and_304() {
        let resp = get_with("/assets/app.js", None).await;
        let etag = resp.headers()[header::ETAG].to_str().unwrap().to_owned();
        assert!(etag.starts_with('"') && etag.ends_with('"') && etag.len() == 18);
        assert_eq!(etag, etag_of(ASSETS[0].bytes).to_str().unwrap());

        let resp = get_with("/assets/app.js", Some(&etag)).await;
        assert_eq!(resp.status(), StatusCode::NOT_MODIFIED);
        assert_eq!(resp.headers()[header::ETAG], etag.as_str());
        assert!(body(resp).await.is_empty());

        // A list containing ours, a weak form of ours, and a wildcard all match.
        let list = format!("\"nope\", {etag}");
        let weak = format!("W/{etag}");
        for tag in [list.as_str(), weak.as_str(), "*"] {
            let resp = get_with("/assets/app.js", Some(tag)).await;
            assert_eq!(resp.status(), StatusCode::NOT_MODIFIED, "{tag}");
        }
        // Another file's tag or a stale one does not.
        let css_tag = get_with("/assets/app.css", None).await.headers()[header::ETAG].clone();
        assert_ne!(css_tag, etag.as_str());
        for tag in [css_tag.to_str().unwrap(), "\"0000000000000000\""] {
            let resp = get_with("/assets/app.js", Some(tag)).await;
            assert_eq!(resp.status(), StatusCode::OK, "{tag}");
        }
        // The shell has its own tag and answers 304 too.
        let shell_tag = get_with("/targets", None).await.headers()[header::ETAG].clone();
        let resp = get_with("/graph", shell_tag.to_str().ok()).await;
        assert_eq!(resp.status(), StatusCode::NOT_MODIFIED);
    }

    async fn get_gzip(path: &str, accept: &str, if_none_match: Option<&str>) -> Response {
        let mut req = Request::get(path).header(header::ACCEPT_ENCODING, accept);
        if let Some(tag) = if_none_match {
            req = req.header(header::IF_NONE_MATCH, tag);
        }
        router::<()>()
            .oneshot(req.body(Body::empty()).unwrap())
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn gzip_variants() {
        for asset in ASSETS.iter().filter(|a| a.gzip.is_some()) {
            let gz = asset.gzip.unwrap();
            // The compressed copy belongs to this build of the file: gzip magic, and the
            // trailer's ISIZE is the plain length.
            assert_eq!(&gz[..2], &[0x1f, 0x8b], "{}", asset.name);
            let isize = u32::from_le_bytes(gz[gz.len() - 4..].try_into().unwrap());
            assert_eq!(isize as usize, asset.bytes.len(), "{} is stale", asset.name);
            assert!(gz.len() < asset.bytes.len() / 2, "{}", asset.name);

            let path = format!("/assets/{}", asset.name);
            let resp = get_gzip(&path, "gzip, deflate, br", None).await;
            assert_eq!(resp.status(), StatusCode::OK);
            assert_eq!(resp.headers()[header::CONTENT_ENCODING], "gzip");
            assert_eq!(resp.headers()[header::VARY], "Accept-Encoding");
            assert_eq!(resp.headers()[header::CONTENT_TYPE], asset.content_type);
            let tag = resp.headers()[header::ETAG].clone();
            assert_eq!(body(resp).await, gz);

            // The plain representation has another tag, and each revalidates on its own.
            let plain = get_gzip(&path, "identity", None).await;
            assert!(!plain.headers().contains_key(header::CONTENT_ENCODING));
            assert_eq!(plain.headers()[header::VARY], "Accept-Encoding");
            let plain_tag = plain.headers()[header::ETAG].clone();
            assert_ne!(tag, plain_tag);
            assert_eq!(body(plain).await, asset.bytes);
            let resp = get_gzip(&path, "gzip", tag.to_str().ok()).await;
            assert_eq!(resp.status(), StatusCode::NOT_MODIFIED);
            let resp = get_gzip(&path, "gzip", plain_tag.to_str().ok()).await;
            assert_eq!(resp.status(), StatusCode::OK);

            // gzip;q=0 refuses gzip; `*` accepts it.
            let resp = get_gzip(&path, "gzip;q=0, identity", None).await;
            assert!(!resp.headers().contains_key(header::CONTENT_ENCODING));
            let resp = get_gzip(&path, "*", None).await;
            assert_eq!(resp.headers()[header::CONTENT_ENCODING], "gzip");
        }
        // Files without a compressed copy are served plain to everyone.
        let resp = get_gzip("/graph", "gzip", None).await;
        assert!(!resp.headers().contains_key(header::CONTENT_ENCODING));
        assert!(!resp.headers().contains_key(header::VARY));
    }

    #[tokio::test]
    async fn unknown_paths_are_404() {
        for path in [
            "/assets/nope.js",
            "/assets/",
            "/assets/../Cargo.toml",
            "/assets/app.js/x",
            "/nope",
        ] {
            let resp = get_with(path, None).await;
            assert_eq!(resp.status(), StatusCode::NOT_FOUND, "{path}");
        }
    }
}
