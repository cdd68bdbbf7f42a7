//! Fetch: the bytes of an audit file, through DownloadCompleteDBLogFile.
//!
//! No AWS SDK exposes this call: it is a SigV4-signed
//! `GET /v13/downloadCompleteLogFile/{instance}/{file}` whose body is the raw
//! file, streamed. It is the only read the worker ships bytes from; the paged
//! DownloadDBLogFilePortion truncates long lines, garbles non-ASCII and
//! skips or repeats lines (rds-log-facts.md).

use crate::error::Failure;
use crate::instance::InstanceId;
use crate::retry::Retry;
use crate::signer::{sign_get, AwsIdentity, Placement};
use crate::BoxFuture;
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio_util::sync::CancellationToken;

type HttpsClient = Client<hyper_rustls::HttpsConnector<HttpConnector>, Empty<Bytes>>;

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

/// Opens complete-file downloads, signing each with the run's credentials.
pub struct LogFetcher {
    client: HttpsClient,
    endpoint: String,
    identity: Arc<AwsIdentity>,
    max_attempts: u32,
    read_timeout: Duration,
}

impl LogFetcher {
    pub fn new(
        endpoint: Option<&str>,
        identity: Arc<AwsIdentity>,
        max_attempts: u32,
        read_timeout: Duration,
    ) -> Result<Self, Failure> {
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_native_roots(rustls::crypto::aws_lc_rs::default_provider())
            .map_err(|e| Failure::needs_person(format!("cannot load the system's CA certificates: {e}")))?
            .https_or_http()
            .enable_http1()
            .build();
        let endpoint = endpoint
            .map(|e| e.trim_end_matches('/').to_string())
            .unwrap_or_else(|| format!("https://rds.{}.amazonaws.com", identity.region()));
        Ok(LogFetcher {
            client: Client::builder(TokioExecutor::new()).build(https),
            endpoint,
            identity,
            max_attempts: max_attempts.max(1),
            read_timeout,
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

    /// Opens the file's body as a stream, retrying throttling, 5xx and
    /// connection failures with backoff.
    pub async fn open(&self, instance: &InstanceId, file: &str) -> Result<LogStream, FetchError> {
        let what = format!("{instance}/{file}");
        let mut retry = Retry::new(format!("download of {what}"), self.max_attempts);
        loop {
            match self.try_open(instance, file, &what).await {
                Err(FetchError::Failed(f)) if retry.again(&f).await => {}
                other => return other,
            }
        }
    }

    async fn try_open(&self, instance: &InstanceId, file: &str, what: &str) -> Result<LogStream, FetchError> {
        let url = self.url(instance, file);
        let request = self.signed_get(&url).await?;
        let waiting = crate::aws::Waiting::shared(format!("download of {what}"));
        let notice = crate::aws::say_while_waiting(waiting, self.read_timeout, self.max_attempts);
        let answer = tokio::time::timeout(self.read_timeout, self.client.request(request)).await;
        drop(notice);
        let response = match answer {
            Err(_) => {
                return Err(Failure::transient(format!("download of {what} timed out waiting for a response")).into())
            }
            Ok(Err(e)) => {
                return Err(match crate::aws::unreachable_endpoint(&e) {
                    Some(f) => f.context(format!("download of {what}")),
                    None => Failure::transient(format!("download of {what} failed: {}", crate::aws::error_chain(&e))),
                }
                .into())
            }
            Ok(Ok(r)) => r,
        };
        let status = response.status().as_u16();
        if status == 200 {
            return Ok(LogStream::new(Box::new(HttpBody(response.into_body())), what, self.read_timeout));
        }
        let body = tokio::time::timeout(self.read_timeout, response.into_body().collect())
            .await
            .ok()
            .and_then(Result::ok)
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        let code = error_code(&body);
        let detail = format!("HTTP {status}{}", code.as_deref().map(|c| format!(" {c}")).unwrap_or_default());
        Err(match (status, code.as_deref()) {
            (404, _) => FetchError::Gone,
            (429, _) | (500..=599, _) | (_, Some("Throttling" | "ThrottlingException" | "RequestLimitExceeded")) => {
                Failure::transient(format!("download of {what} failed: {detail}")).into()
            }
            (401 | 403, _) => Failure::needs_person(format!(
                "download of {what} refused ({detail}): check the credentials, the region, and that the role allows rds:DownloadCompleteDBLogFile"
            ))
            .into(),
            _ => Failure::needs_person(format!("download of {what} rejected ({detail})")).into(),
        })
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

/// Where a `LogStream`'s bytes come from: an HTTP response body in
/// production, a simulated file in the tests.
pub trait ChunkSource: Send {
    /// The next bytes; `None` at the end. An error is a broken-off body.
    fn next_chunk(&mut self) -> BoxFuture<'_, Result<Option<Bytes>, String>>;
}

/// The complete-file download's response body.
struct HttpBody(hyper::body::Incoming);

impl ChunkSource for HttpBody {
    fn next_chunk(&mut self) -> BoxFuture<'_, Result<Option<Bytes>, String>> {
        Box::pin(async move {
            loop {
                match self.0.frame().await {
                    None => return Ok(None),
                    Some(Err(e)) => return Err(crate::aws::error_chain(&e)),
                    Some(Ok(frame)) => {
                        if let Ok(data) = frame.into_data() {
                            if !data.is_empty() {
                                return Ok(Some(data));
                            }
                        }
                    }
                }
            }
        })
    }
}

/// A file's bytes as they arrive. Bytes can be pushed back (`unread`) so a
/// stage can look ahead without copying the file.
pub struct LogStream {
    body: Box<dyn ChunkSource>,
    unread: Vec<Bytes>,
    offset: u64,
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
            body_chunks: 0,
            end: None,
            what: what.to_string(),
            read_timeout,
            stop: CancellationToken::new(),
            deadline: None,
        }
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

    #[test]
    fn error_code_from_xml_body() {
        let body = b"<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error></ErrorResponse>";
        assert_eq!(error_code(body).as_deref(), Some("Throttling"));
        assert_eq!(error_code(b"not xml"), None);
    }
}
