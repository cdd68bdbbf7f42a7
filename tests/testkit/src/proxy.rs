//! A fault-injecting HTTP proxy in front of an S3 server.
//!
//! Requests pass through unchanged unless a rule matches (method, key
//! substring, n-th match): then the proxy answers an S3 error itself
//! (500, 503 SlowDown, 409 ConditionalRequestConflict, 403), holds the
//! request without answering (a crash window), or drops the connection.
//! Rules are added with `POST /_proxy/faults` (a JSON list of [`S3Fault`])
//! and removed with `DELETE /_proxy/faults`; `GET /_proxy/stats` counts
//! requests per method, `GET /_proxy/access_keys` per signing access key
//! id (which credentials a client used for S3).
//!
//! Requests on one key are forwarded one at a time. S3 writes an object
//! with its metadata, and checks `If-None-Match` / `If-Match`, in one
//! step; moto stores the object, then sets its metadata, and checks the
//! condition apart from the write, so a request that lands between sees
//! an object S3 never shows (one without metadata, or two creates that
//! both succeed).

use crate::body::{bind_and_announce, response, serve, AnyBody};
use auditship_testkit::faults::{S3Fault, S3FaultKind};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(clap::Args)]
pub struct Args {
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: String,
    /// The S3 server to forward to, e.g. http://127.0.0.1:5000
    #[arg(long)]
    upstream: String,
}

struct State {
    /// One lock per key (path), held while a request on it is forwarded.
    keys: BTreeMap<String, Arc<tokio::sync::Mutex<()>>>,
    upstream: String,
    rules: Vec<S3Fault>,
    counts: BTreeMap<String, u64>,
    access_keys: BTreeMap<String, u64>,
    client: Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>,
}

type Shared = Arc<Mutex<State>>;

pub async fn main(args: Args) -> anyhow::Result<()> {
    let client = Client::builder(TokioExecutor::new()).build_http();
    let state = Arc::new(Mutex::new(State {
        keys: BTreeMap::new(),
        upstream: args.upstream.trim_end_matches('/').to_string(),
        rules: Vec::new(),
        counts: BTreeMap::new(),
        access_keys: BTreeMap::new(),
        client,
    }));
    let listener = bind_and_announce(&args.listen).await?;
    serve(listener, move |req| handle(state.clone(), req)).await
}

fn s3_error(status: u16, code: &str, message: &str) -> http::Response<AnyBody> {
    response(
        status,
        "application/xml",
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>{code}</Code><Message>{message}</Message></Error>"
        ),
    )
}

async fn handle(state: Shared, req: http::Request<hyper::body::Incoming>) -> http::Response<AnyBody> {
    let (parts, body) = req.into_parts();
    let path = parts.uri.path().to_string();
    let query = parts.uri.query().unwrap_or("").to_string();
    let body = match body.collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => return s3_error(400, "IncompleteBody", "request body broke off"),
    };
    if let Some(control) = path.strip_prefix("/_proxy/") {
        return control_request(&state, parts.method.as_str(), control, &body);
    }
    let rule = {
        let mut s = state.lock().unwrap();
        *s.counts.entry(parts.method.to_string()).or_default() += 1;
        let key = access_key_id(&parts.headers).unwrap_or("(unsigned)");
        *s.access_keys.entry(key.to_string()).or_default() += 1;
        let mut hit = None;
        for r in s.rules.iter_mut() {
            let ok = (r.method == "*" || r.method == parts.method.as_str())
                && path.contains(&r.path_contains)
                && query.contains(&r.query_contains)
                && r.times > 0;
            if !ok {
                continue;
            }
            if r.skip > 0 {
                r.skip -= 1;
                continue;
            }
            r.times -= 1;
            hit = Some(r.kind);
            break;
        }
        hit
    };
    match rule {
        Some(S3FaultKind::InternalError) => return s3_error(500, "InternalError", "injected internal error"),
        Some(S3FaultKind::SlowDown) => return s3_error(503, "SlowDown", "Please reduce your request rate."),
        Some(S3FaultKind::Conflict) => {
            return s3_error(409, "ConditionalRequestConflict", "A conflicting conditional operation is in progress.")
        }
        Some(S3FaultKind::Forbidden) => return s3_error(403, "AccessDenied", "Access Denied"),
        Some(S3FaultKind::Stall) => {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            return s3_error(500, "InternalError", "stalled");
        }
        Some(S3FaultKind::Drop) => return dropped(),
        Some(S3FaultKind::ForeignAnswer) => {
            return response(
                200,
                "application/xml",
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?><SomethingElseResponse xmlns=\"urn:x\"><Name>x</Name>\
                 </SomethingElseResponse>"
                    .to_string(),
            )
        }
        _ => {}
    }
    let mut parts = parts;
    if rule == Some(S3FaultKind::IgnorePreconditions) {
        parts.headers.remove("if-match");
        parts.headers.remove("if-none-match");
    }
    let key_lock = state.lock().unwrap().keys.entry(path.clone()).or_default().clone();
    let forwarded = {
        let _one_at_a_time = key_lock.lock().await;
        forward(&state, parts, body).await
    };
    match rule {
        Some(S3FaultKind::ForwardThenDrop) => dropped(),
        Some(S3FaultKind::ForwardThenPreconditionFailed) => {
            s3_error(412, "PreconditionFailed", "At least one of the pre-conditions you specified did not hold")
        }
        _ => forwarded,
    }
}

/// The access key id a SigV4 `Authorization` header names
/// (`... Credential=AKID/date/region/service/aws4_request, ...`).
fn access_key_id(headers: &http::HeaderMap) -> Option<&str> {
    let auth = headers.get(http::header::AUTHORIZATION)?.to_str().ok()?;
    let credential = auth.split_once("Credential=")?.1;
    credential.split('/').next()
}

/// A response whose body fails at once: hyper then closes the connection
/// without a complete answer.
fn dropped() -> http::Response<AnyBody> {
    let (tx, rx) = tokio::sync::mpsc::channel(1);
    let _ = tx.try_send(Err("injected connection drop".into()));
    http::Response::builder().status(200).header("content-length", "100").body(AnyBody::Channel(rx)).unwrap()
}

async fn forward(state: &Shared, parts: http::request::Parts, body: Bytes) -> http::Response<AnyBody> {
    let (upstream, client) = {
        let s = state.lock().unwrap();
        (s.upstream.clone(), s.client.clone())
    };
    let pq = parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let uri: http::Uri = match format!("{upstream}{pq}").parse() {
        Ok(u) => u,
        Err(e) => return s3_error(500, "InternalError", &format!("bad upstream uri: {e}")),
    };
    let mut builder = http::Request::builder().method(parts.method.clone()).uri(uri);
    for (k, v) in parts.headers.iter() {
        builder = builder.header(k, v);
    }
    let request = builder.body(Full::new(body)).expect("valid request");
    match client.request(request).await {
        Ok(resp) => {
            let (parts, body) = resp.into_parts();
            let mut bytes = body.collect().await.map(|b| b.to_bytes()).unwrap_or_default();
            // moto answers CompleteMultipartUpload and GetBucketVersioning
            // with roots S3 does not use (and the SDK's parser rejects).
            for (moto, s3) in [
                ("CompleteMultipartUploadResponse", "CompleteMultipartUploadResult"),
                ("GetBucketVersioningResponse", "VersioningConfiguration"),
            ] {
                let open = format!("<{moto}");
                if bytes.windows(open.len()).any(|w| w == open.as_bytes()) {
                    bytes = Bytes::from(String::from_utf8_lossy(&bytes).replace(moto, s3));
                }
            }
            let mut parts = parts;
            parts.headers.remove("content-length");
            let mut out = http::Response::from_parts(parts, AnyBody::full(bytes));
            out.headers_mut().remove("transfer-encoding");
            out
        }
        Err(e) => s3_error(502, "InternalError", &format!("upstream unreachable: {e}")),
    }
}

fn control_request(state: &Shared, method: &str, path: &str, body: &[u8]) -> http::Response<AnyBody> {
    let mut s = state.lock().unwrap();
    match (method, path) {
        ("POST", "faults") => match serde_json::from_slice::<Vec<S3Fault>>(body) {
            Ok(rules) => {
                s.rules.extend(rules);
                response(200, "text/plain", "ok")
            }
            Err(e) => response(400, "text/plain", format!("bad rules: {e}")),
        },
        ("DELETE", "faults") => {
            s.rules.clear();
            response(200, "text/plain", "ok")
        }
        ("GET", "stats") => response(200, "application/json", serde_json::to_vec(&s.counts).unwrap()),
        ("GET", "access_keys") => response(200, "application/json", serde_json::to_vec(&s.access_keys).unwrap()),
        _ => response(404, "text/plain", "unknown control endpoint"),
    }
}
