//! Fetch: the bytes of an audit file, through DownloadCompleteDBLogFile.
//!
//! No AWS SDK exposes this call: it is a SigV4-signed
//! `GET /v13/downloadCompleteLogFile/{instance}/{file}` whose body is the raw
//! file, streamed. It is the only read the worker ships bytes from; the paged
//! DownloadDBLogFilePortion truncates long lines, garbles non-ASCII and
//! skips or repeats lines (rds-log-facts.md).
//!
//! What the endpoint does with a `Range` or an `Accept-Encoding` header is
//! not documented, so both are asked for and each answer checked, never
//! assumed: a `206` counts only with the `Content-Range` asked for (the
//! pipeline then checks the overlap against the checkpoint's tail hash), a
//! `200` is the whole file; a `Content-Encoding: gzip` body is inflated as
//! it comes (its CRC checked at the end), and a body that says gzip and is
//! not makes this run ask for identity bytes from then on. `Transfer`
//! counts what the endpoint did, per instance, for the run's metrics.

use crate::error::Failure;
use crate::instance::InstanceId;
pub use crate::report::Transfer;
use crate::retry::Retry;
use crate::signer::{sign_get, AwsIdentity, Placement};
use crate::BoxFuture;
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};
use tokio_util::sync::CancellationToken;

type HttpsClient = Client<hyper_rustls::HttpsConnector<HttpConnector>, Empty<Bytes>>;

/// The socket receive buffer of head reads.
const HEAD_RECEIVE_BUFFER: usize = 64 * 1024;

/// A client over the same rustls provider as the SDK; `receive_buffer`
/// sets the sockets' receive buffer.
fn https_client(receive_buffer: Option<usize>) -> Result<HttpsClient, Failure> {
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_recv_buffer_size(receive_buffer);
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_provider_and_native_roots(rustls::crypto::aws_lc_rs::default_provider())
        .map_err(|e| Failure::needs_person(format!("cannot load the system's CA certificates: {e}")))?
        .https_or_http()
        .enable_http1()
        .wrap_connector(http);
    Ok(Client::builder(TokioExecutor::new()).build(https))
}

/// Characters kept as they are in a path segment (RFC 3986 unreserved).
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

/// Why a file could not be opened.
#[derive(Debug)]
pub enum FetchError {
    /// 404: the name no longer exists (rotated away or instance gone).
    Gone,
    Failed(Failure),
}

impl From<Failure> for FetchError {
    fn from(f: Failure) -> Self {
        FetchError::Failed(f)
    }
}

/// Which bytes of a file a read asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Span {
    /// All of it (compressed on the wire if the endpoint will).
    Whole,
    /// From this offset to the end, if the endpoint honours ranges; else
    /// all of it (the stream's `start` says which).
    From(u64),
    /// The first bytes only: a head read, which hangs up once it has
    /// them. It asks for no range: nothing could check that a `206` for
    /// the file's start holds it (a range read's overlap is checked
    /// against the checkpoint; a head has nothing to be checked against).
    Head,
}

/// Each instance's `Transfer` so far, shared by its streams.
#[derive(Default)]
pub struct Transfers(Mutex<BTreeMap<String, Arc<Mutex<Transfer>>>>);

impl Transfers {
    /// The counters an instance's streams add to (looked up once per
    /// download, not per chunk).
    pub fn of(&self, instance: &str) -> Counted {
        Counted(self.0.lock().unwrap().entry(instance.to_string()).or_default().clone())
    }

    /// What was counted for the instance, which starts again from zero.
    pub fn take(&self, instance: &str) -> Transfer {
        self.0.lock().unwrap().get(instance).map(|t| std::mem::take(&mut *t.lock().unwrap())).unwrap_or_default()
    }
}

/// The counters one instance's streams add to.
#[derive(Clone, Default)]
pub struct Counted(Arc<Mutex<Transfer>>);

impl Counted {
    pub fn note(&self, change: impl FnOnce(&mut Transfer)) {
        change(&mut self.0.lock().unwrap());
    }
}

/// Opens complete-file downloads, signing each with the run's credentials.
pub struct LogFetcher {
    client: HttpsClient,
    /// For head reads: a small socket receive buffer bounds what crosses
    /// the wire before the read hangs up (TCP's window is the buffer).
    head_client: HttpsClient,
    endpoint: String,
    identity: Arc<AwsIdentity>,
    max_attempts: u32,
    read_timeout: Duration,
    pub transfers: Arc<Transfers>,
    /// Cleared for the rest of the run when a body said gzip and was not.
    ask_gzip: Arc<AtomicBool>,
    /// Set for the rest of the run when the endpoint answered a range read
    /// with the whole file: range reads are then whole reads from the
    /// start (gzip-encoded where it will).
    ranges_ignored: AtomicBool,
}

impl LogFetcher {
    pub fn new(
        endpoint: Option<&str>,
        identity: Arc<AwsIdentity>,
        max_attempts: u32,
        read_timeout: Duration,
        gzip: bool,
    ) -> Result<Self, Failure> {
        let endpoint = endpoint
            .map(|e| e.trim_end_matches('/').to_string())
            .unwrap_or_else(|| format!("https://rds.{}.amazonaws.com", identity.region()));
        Ok(LogFetcher {
            client: https_client(None)?,
            head_client: https_client(Some(HEAD_RECEIVE_BUFFER))?,
            endpoint,
            identity,
            max_attempts: max_attempts.max(1),
            read_timeout,
            transfers: Arc::default(),
            ask_gzip: Arc::new(AtomicBool::new(gzip)),
            ranges_ignored: AtomicBool::new(false),
        })
    }

    /// The download URL. The `/` in `audit/…` stays a path separator.
    pub fn url(&self, instance: &InstanceId, file: &str) -> String {
        let file: Vec<String> = file.split('/').map(|s| utf8_percent_encode(s, SEGMENT).to_string()).collect();
        format!(
            "{}/v13/downloadCompleteLogFile/{}/{}",
            self.endpoint,
            utf8_percent_encode(&instance.0, SEGMENT),
            file.join("/")
        )
    }

    /// Opens the bytes of the file that `span` asks for as a stream,
    /// retrying throttling, 5xx and connection failures with backoff. A
    /// range the endpoint cannot give as asked is read whole instead.
    pub async fn open(&self, instance: &InstanceId, file: &str, span: Span) -> Result<LogStream, FetchError> {
        let what = format!("{instance}/{file}");
        let counted = self.transfers.of(&instance.0);
        let mut retry = Retry::new(format!("download of {what}"), self.max_attempts);
        let mut span = match span {
            Span::From(_) if self.ranges_ignored.load(Ordering::Relaxed) => {
                counted.note(|t| t.ranges_ignored += 1);
                Span::Whole
            }
            other => other,
        };
        loop {
            match self.try_open(instance, file, &what, span, &counted).await {
                Err(Opened::Failed(FetchError::Failed(f))) if retry.again(&f).await => {}
                Err(Opened::Failed(e)) => return Err(e),
                Err(Opened::ReadWhole(why)) => {
                    tracing::info!(file = %what, span = ?span, "{why}: reading the whole file instead");
                    span = Span::Whole;
                }
                Ok(stream) => return Ok(stream),
            }
        }
    }

    async fn try_open(
        &self,
        instance: &InstanceId,
        file: &str,
        what: &str,
        span: Span,
        counted: &Counted,
    ) -> Result<LogStream, Opened> {
        let url = self.url(instance, file);
        let mut request = self.signed_get(&url).await.map_err(|f| Opened::Failed(f.into()))?;
        let ask_gzip = span == Span::Whole && self.ask_gzip.load(Ordering::Relaxed);
        let headers = request.headers_mut();
        match span {
            Span::Whole if ask_gzip => _ = headers.insert(http::header::ACCEPT_ENCODING, "gzip".parse().unwrap()),
            Span::Whole | Span::Head => _ = headers.insert(http::header::ACCEPT_ENCODING, "identity".parse().unwrap()),
            Span::From(start) => _ = headers.insert(http::header::RANGE, format!("bytes={start}-").parse().unwrap()),
        }
        let waiting = crate::aws::Waiting::shared(format!("download of {what}"));
        let notice = crate::aws::say_while_waiting(waiting, self.read_timeout, self.max_attempts);
        let client = if span == Span::Head { &self.head_client } else { &self.client };
        let answer = tokio::time::timeout(self.read_timeout, client.request(request)).await;
        drop(notice);
        let response = match answer {
            Err(_) => {
                return Err(Opened::transient(format!("download of {what} timed out waiting for a response")));
            }
            Ok(Err(e)) => {
                return Err(Opened::Failed(
                    match crate::aws::unreachable_endpoint(&e) {
                        Some(f) => f.context(format!("download of {what}")),
                        None => {
                            Failure::transient(format!("download of {what} failed: {}", crate::aws::error_chain(&e)))
                        }
                    }
                    .into(),
                ))
            }
            Ok(Ok(r)) => r,
        };
        counted.note(|t| {
            t.downloads += 1;
            t.ranges_asked += u64::from(matches!(span, Span::From(_)));
        });
        let status = response.status().as_u16();
        let range = content_range(response.headers());
        let gzip = response
            .headers()
            .get(http::header::CONTENT_ENCODING)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("gzip"));
        let body = |response: http::Response<hyper::body::Incoming>| -> Box<dyn ChunkSource> {
            Box::new(HttpBody { body: response.into_body(), counted: counted.clone() })
        };
        match (status, span) {
            // gzip-encoded whether or not it was asked for: inflated. A
            // body that says gzip and is not fails its read, and the run
            // stops asking for gzip.
            (200, _) if gzip => {
                if matches!(span, Span::From(_)) {
                    self.note_ranges_ignored(counted);
                }
                counted.note(|t| t.gzip_responses += 1);
                let inflated = GzipBody::new(body(response), counted.clone(), self.ask_gzip.clone(), what);
                return Ok(self.stream(Box::new(inflated), what, 0, counted));
            }
            (200, Span::From(_)) => {
                self.note_ranges_ignored(counted);
                if self.ask_gzip.load(Ordering::Relaxed) {
                    // Hang up at once: the whole file is better asked for
                    // gzip-encoded.
                    return Err(Opened::ReadWhole("the endpoint ignored the range".into()));
                }
                counted.note(|t| t.identity_responses += 1);
                return Ok(self.stream(body(response), what, 0, counted));
            }
            (200, _) => {
                if span == Span::Whole {
                    counted.note(|t| t.identity_responses += 1);
                }
                return Ok(self.stream(body(response), what, 0, counted));
            }
            (206, Span::From(start)) => match range {
                Some(r) if r.first == start && !gzip => {
                    counted.note(|t| t.ranges_honoured += 1);
                    return Ok(self.stream(body(response), what, start, counted));
                }
                _ => {
                    counted.note(|t| t.ranges_wrong += 1);
                    tracing::warn!(
                        file = %what, asked = start, answered = ?range,
                        "the download endpoint answered a range read with another range; this read is whole instead"
                    );
                    return Err(Opened::ReadWhole(format!("the endpoint answered bytes={start}- with {range:?}")));
                }
            },
            // The file is shorter than the range's start: a whole read
            // tells what it holds.
            (416, Span::From(_)) => {
                return Err(Opened::ReadWhole("the endpoint answered 416 (range not satisfiable)".into()))
            }
            _ => {}
        }
        let body = tokio::time::timeout(self.read_timeout, response.into_body().collect())
            .await
            .ok()
            .and_then(Result::ok)
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        let code = error_code(&body);
        let detail = format!("HTTP {status}{}", code.as_deref().map(|c| format!(" {c}")).unwrap_or_default());
        Err(Opened::Failed(match (status, code.as_deref()) {
            (404, _) => FetchError::Gone,
            (429, _) | (500..=599, _) | (_, Some("Throttling" | "ThrottlingException" | "RequestLimitExceeded")) => {
                Failure::transient(format!("download of {what} failed: {detail}")).into()
            }
            (401 | 403, _) => Failure::needs_person(format!(
                "download of {what} refused ({detail}): check the credentials, the region, and that the role allows rds:DownloadCompleteDBLogFile"
            ))
            .into(),
            _ => Failure::needs_person(format!("download of {what} rejected ({detail})")).into(),
        }))
    }

    fn note_ranges_ignored(&self, counted: &Counted) {
        counted.note(|t| t.ranges_ignored += 1);
        if !self.ranges_ignored.swap(true, Ordering::Relaxed) {
            tracing::info!(
                "the log download endpoint answers range reads with the whole file: this run reads files whole"
            );
        }
    }

    fn stream(&self, body: Box<dyn ChunkSource>, what: &str, start: u64, counted: &Counted) -> LogStream {
        let mut stream = LogStream::new(body, what, self.read_timeout).starting_at(start);
        stream.counted = Some(counted.clone());
        stream
    }

    async fn signed_get(&self, url: &str) -> Result<http::Request<Empty<Bytes>>, Failure> {
        let credentials = self.identity.credentials().await?;
        let uri: http::Uri =
            url.parse().map_err(|e| Failure::needs_person(format!("bad RDS endpoint URL {url}: {e}")))?;
        let host = uri
            .authority()
            .map(|a| a.as_str().to_string())
            .ok_or_else(|| Failure::needs_person(format!("RDS endpoint URL {url} has no host")))?;
        let mut request =
            http::Request::get(uri).header("host", host.as_str()).body(Empty::new()).expect("valid request");
        let instructions = sign_get(
            &credentials,
            self.identity.region(),
            "rds",
            url,
            &[("host", host.as_str())],
            Placement::Headers,
            SystemTime::now(),
        )?;
        instructions.apply_to_request_http1x(&mut request);
        Ok(request)
    }
}

/// The `<Code>` of an AWS XML error body, if there is one.
pub fn error_code(body: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(body).ok()?;
    let start = text.find("<Code>")? + "<Code>".len();
    let end = text[start..].find("</Code>")? + start;
    Some(text[start..end].to_string())
}

/// Why an attempt to open a download gave no stream.
enum Opened {
    Failed(FetchError),
    /// The span asked for cannot be read as asked: read the whole file.
    ReadWhole(String),
}

impl Opened {
    fn transient(message: String) -> Self {
        Opened::Failed(Failure::transient(message).into())
    }
}

/// A `Content-Range: bytes first-last/total` header (`total` may be `*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContentRange {
    pub first: u64,
    pub last: u64,
    pub total: Option<u64>,
}

pub fn content_range(headers: &http::HeaderMap) -> Option<ContentRange> {
    parse_content_range(headers.get(http::header::CONTENT_RANGE)?.to_str().ok()?)
}

fn parse_content_range(value: &str) -> Option<ContentRange> {
    let (range, total) = value.trim().strip_prefix("bytes ")?.split_once('/')?;
    let (first, last) = range.split_once('-')?;
    let (first, last) = (first.trim().parse().ok()?, last.trim().parse().ok()?);
    let total = match total.trim() {
        "*" => None,
        t => Some(t.parse().ok()?),
    };
    (first <= last).then_some(ContentRange { first, last, total })
}

/// Where a `LogStream`'s bytes come from: an HTTP response body in
/// production, a simulated file in the tests.
pub trait ChunkSource: Send {
    /// The next bytes; `None` at the end. An error is a broken-off body.
    fn next_chunk(&mut self) -> BoxFuture<'_, Result<Option<Bytes>, String>>;
}

/// The complete-file download's response body.
struct HttpBody {
    body: hyper::body::Incoming,
    counted: Counted,
}

impl ChunkSource for HttpBody {
    fn next_chunk(&mut self) -> BoxFuture<'_, Result<Option<Bytes>, String>> {
        Box::pin(async move {
            loop {
                match self.body.frame().await {
                    None => return Ok(None),
                    Some(Err(e)) => return Err(crate::aws::error_chain(&e)),
                    Some(Ok(frame)) => {
                        if let Ok(data) = frame.into_data() {
                            if !data.is_empty() {
                                self.counted.note(|t| t.wire_bytes += data.len() as u64);
                                return Ok(Some(data));
                            }
                        }
                    }
                }
            }
        })
    }
}

/// A `Content-Encoding: gzip` body, inflated as it comes. Its end is the
/// file's end only once the gzip trailer's CRC and length match what was
/// inflated. A body that is not gzip makes the run ask for identity
/// bytes from then on (`ask_gzip`), so the retry that follows reads it.
pub struct GzipBody {
    inner: Box<dyn ChunkSource>,
    decoder: flate2::write::GzDecoder<Vec<u8>>,
    counted: Counted,
    ask_gzip: Arc<AtomicBool>,
    what: String,
    done: bool,
}

impl GzipBody {
    fn new(inner: Box<dyn ChunkSource>, counted: Counted, ask_gzip: Arc<AtomicBool>, what: &str) -> Self {
        GzipBody {
            inner,
            decoder: flate2::write::GzDecoder::new(Vec::new()),
            counted,
            ask_gzip,
            what: what.to_string(),
            done: false,
        }
    }

    fn not_gzip(&self, e: &std::io::Error) -> String {
        if self.decoder.header().is_some() {
            // It is gzip, cut short or damaged: read again as it is.
            return format!("its gzip body is cut short or damaged ({e})");
        }
        if self.ask_gzip.swap(false, Ordering::Relaxed) {
            self.counted.note(|t| t.gzip_wrong += 1);
            tracing::warn!(
                file = %self.what, error = %e,
                "the download endpoint said Content-Encoding: gzip but sent a body that is not gzip; \
                 this run reads identity bytes from now on"
            );
        }
        format!("its Content-Encoding: gzip body is not gzip ({e})")
    }
}

impl ChunkSource for GzipBody {
    fn next_chunk(&mut self) -> BoxFuture<'_, Result<Option<Bytes>, String>> {
        use std::io::Write;
        Box::pin(async move {
            while !self.done {
                match self.inner.next_chunk().await? {
                    Some(compressed) => {
                        if let Err(e) = self.decoder.write_all(&compressed) {
                            return Err(self.not_gzip(&e));
                        }
                    }
                    None => {
                        self.done = true;
                        if let Err(e) = self.decoder.try_finish() {
                            return Err(self.not_gzip(&e));
                        }
                    }
                }
                let inflated = std::mem::take(self.decoder.get_mut());
                if !inflated.is_empty() {
                    return Ok(Some(Bytes::from(inflated)));
                }
            }
            Ok(None)
        })
    }
}

/// A file's bytes as they arrive. Bytes can be pushed back (`unread`) so a
/// stage can look ahead without copying the file.
pub struct LogStream {
    body: Box<dyn ChunkSource>,
    unread: Vec<Bytes>,
    offset: u64,
    /// The offset of the first byte the body held.
    start: u64,
    counted: Option<Counted>,
    /// Chunks taken from the body (not pushed-back ones).
    body_chunks: u32,
    end: Option<u64>,
    what: String,
    read_timeout: Duration,
    stop: CancellationToken,
    deadline: Option<std::time::Instant>,
}

impl LogStream {
    /// A stream over `body`; `what` names the file in messages, and a read
    /// that waits longer than `read_timeout` for bytes is a stall.
    pub fn new(body: Box<dyn ChunkSource>, what: &str, read_timeout: Duration) -> Self {
        LogStream {
            body,
            unread: Vec::new(),
            offset: 0,
            start: 0,
            counted: None,
            body_chunks: 0,
            end: None,
            what: what.to_string(),
            read_timeout,
            stop: CancellationToken::new(),
            deadline: None,
        }
    }

    /// A body that holds the file from `start` on.
    pub fn starting_at(mut self, start: u64) -> Self {
        self.start = start;
        self.offset = start;
        self
    }

    /// The offset of the first byte the body held: where a range read
    /// began, or 0 when the whole file came.
    pub fn start(&self) -> u64 {
        self.start
    }

    /// Makes reads give up as soon as `stop` is cancelled (a signal), rather
    /// than wait out a slow or stalled body.
    pub fn cancelled_by(mut self, stop: CancellationToken) -> Self {
        self.stop = stop;
        self
    }

    /// Makes reads give up at `deadline` too (the run's time limit).
    pub fn until(mut self, deadline: Option<std::time::Instant>) -> Self {
        self.deadline = deadline;
        self
    }

    /// The offset in the file of the next byte `next_chunk` returns.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// The next bytes, or `None` at the end of the file. A reset or stalled
    /// connection is a transient failure.
    pub async fn next_chunk(&mut self) -> Result<Option<Bytes>, Failure> {
        if let Some(b) = self.unread.pop() {
            self.offset += b.len() as u64;
            return Ok(Some(b));
        }
        let deadline = async {
            match self.deadline {
                Some(at) => tokio::time::sleep_until(at.into()).await,
                None => std::future::pending().await,
            }
        };
        let chunk = tokio::select! {
            biased;
            () = self.stop.cancelled() => {
                return Err(Failure::abandoned(format!(
                    "download of {} abandoned at byte {}: the run was told to stop",
                    self.what, self.offset
                )))
            }
            () = deadline => {
                return Err(Failure::abandoned(format!(
                    "download of {} abandoned at byte {}: the run's time limit (--max-run-seconds) was reached",
                    self.what, self.offset
                )))
            }
            chunk = tokio::time::timeout(self.read_timeout, self.body.next_chunk()) => chunk.map_err(|_| {
                Failure::transient(format!(
                    "download of {} stalled at byte {} for {}s",
                    self.what,
                    self.offset,
                    self.read_timeout.as_secs()
                ))
            })?,
        };
        match chunk {
            Ok(None) => {
                self.end = Some(self.offset);
                Ok(None)
            }
            Ok(Some(data)) => {
                self.offset += data.len() as u64;
                self.body_chunks += 1;
                if let Some(counted) = &self.counted {
                    counted.note(|t| t.file_bytes += data.len() as u64);
                }
                Ok(Some(data))
            }
            Err(e) => {
                Err(Failure::transient(format!("download of {} broke off at byte {}: {e}", self.what, self.offset)))
            }
        }
    }

    /// Consumes the next `n` bytes, handing them to `sink` as they come;
    /// false if the file ends first.
    pub async fn take(&mut self, mut n: u64, sink: &mut impl FnMut(&[u8])) -> Result<bool, Failure> {
        while n > 0 {
            let Some(chunk) = self.next_chunk().await? else {
                return Ok(false);
            };
            let take = (chunk.len() as u64).min(n) as usize;
            sink(&chunk[..take]);
            self.unread(chunk.slice(take..));
            n -= take as u64;
        }
        Ok(true)
    }

    /// Pushes bytes back; the next `next_chunk` returns them first.
    pub fn unread(&mut self, bytes: Bytes) {
        if !bytes.is_empty() {
            self.offset -= bytes.len() as u64;
            self.unread.push(bytes);
        }
    }

    /// Reads up to `max` leading bytes, stopping after the first newline,
    /// and pushes them back. Used for the identity prefix.
    pub async fn peek_head(&mut self, max: usize) -> Result<Bytes, Failure> {
        let mut head = Vec::new();
        while head.len() < max && !head.contains(&b'\n') {
            match self.next_chunk().await? {
                None => break,
                Some(c) => head.extend_from_slice(&c),
            }
        }
        let head = Bytes::from(head);
        self.unread(head.clone());
        Ok(head)
    }

    /// Reads up to `max` leading bytes and pushes them back; also whether
    /// they are all the file has. Used to tell apart files that share a
    /// first line.
    pub async fn peek_start(&mut self, max: usize) -> Result<(Bytes, bool), Failure> {
        let mut start = Vec::new();
        let mut ended = false;
        while start.len() <= max {
            match self.next_chunk().await? {
                None => {
                    ended = true;
                    break;
                }
                Some(c) => start.extend_from_slice(&c),
            }
        }
        let start = Bytes::from(start);
        self.unread(start.clone());
        Ok((start.slice(..start.len().min(max)), ended))
    }

    /// How many chunks have come from the body so far. A head that came in
    /// one chunk was read in one piece: no rotation can have spliced it.
    pub fn body_chunks(&self) -> u32 {
        self.body_chunks
    }

    /// The file's length, once its end has been read.
    pub fn end(&self) -> Option<u64> {
        self.end
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A body of fixed chunks.
    struct Chunks(Vec<Bytes>);

    impl ChunkSource for Chunks {
        fn next_chunk(&mut self) -> BoxFuture<'_, Result<Option<Bytes>, String>> {
            Box::pin(async move { Ok((!self.0.is_empty()).then(|| self.0.remove(0))) })
        }
    }

    async fn inflate(body: Vec<Bytes>, ask_gzip: &Arc<AtomicBool>) -> Result<Vec<u8>, String> {
        let counted = Counted::default();
        let mut gz = GzipBody::new(Box::new(Chunks(body)), counted, ask_gzip.clone(), "db-1/audit/x");
        let mut out = Vec::new();
        while let Some(c) = gz.next_chunk().await? {
            out.extend_from_slice(&c);
        }
        Ok(out)
    }

    /// A gzip body inflates to its bytes in any chunking; one cut short
    /// fails (the CRC trailer is missing) and keeps asking for gzip; one
    /// that says gzip and is not fails and stops the run asking.
    #[tokio::test]
    async fn a_gzip_body_is_inflated_checked_and_a_false_one_turns_gzip_off() {
        let text: Vec<u8> =
            (0..50_000u32).flat_map(|i| format!("20261201 00:00:00,h,u,{i},QUERY\n").into_bytes()).collect();
        let gzip = crate::compress::gzip_member(&text, 6);
        let ask = Arc::new(AtomicBool::new(true));
        let pieces: Vec<Bytes> = gzip.chunks(777).map(Bytes::copy_from_slice).collect();
        assert_eq!(inflate(pieces.clone(), &ask).await.unwrap(), text);
        let short = pieces[..pieces.len() - 1].to_vec();
        assert!(inflate(short, &ask).await.unwrap_err().contains("cut short"));
        assert!(ask.load(Ordering::Relaxed));
        let plain = vec![Bytes::from(text.clone())];
        assert!(inflate(plain, &ask).await.unwrap_err().contains("is not gzip"));
        assert!(!ask.load(Ordering::Relaxed));
    }

    #[test]
    fn content_range_is_read_or_refused() {
        let r = |v: &str| parse_content_range(v);
        assert_eq!(r("bytes 100-199/1000"), Some(ContentRange { first: 100, last: 199, total: Some(1000) }));
        assert_eq!(r("bytes 0-9/*"), Some(ContentRange { first: 0, last: 9, total: None }));
        for bad in ["bytes */1000", "bytes 9-0/10", "items 0-9/10", "bytes 0-9", ""] {
            assert_eq!(r(bad), None, "{bad}");
        }
    }

    #[test]
    fn error_code_from_xml_body() {
        let body = b"<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error></ErrorResponse>";
        assert_eq!(error_code(body).as_deref(), Some("Throttling"));
        assert_eq!(error_code(b"not xml"), None);
    }
}
