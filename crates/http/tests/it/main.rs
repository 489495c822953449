//! The client against an in-process TLS server that requires a client certificate: trust
//! anchors, client certificates, `server_name`, `insecure_skip_verify`, versions, and the
//! credentials each request carries. (The server crate's tests do the same against
//! Debian's node exporter and Prometheus.)

mod tls;
