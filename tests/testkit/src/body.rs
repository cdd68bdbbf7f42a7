//! Response bodies: whole, or streamed from a channel so a sender can
//! stall or break a body half way.

use bytes::Bytes;
use hyper::body::{Body, Frame};
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::sync::mpsc;

pub type BodyError = Box<dyn std::error::Error + Send + Sync>;

pub enum AnyBody {
    Full(Option<Bytes>),
    Channel(mpsc::Receiver<Result<Bytes, BodyError>>),
}

impl AnyBody {
    pub fn full(b: impl Into<Bytes>) -> Self {
        AnyBody::Full(Some(b.into()))
    }
}

impl Body for AnyBody {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        match &mut *self {
            AnyBody::Full(b) => Poll::Ready(b.take().map(|b| Ok(Frame::data(b)))),
            AnyBody::Channel(rx) => rx.poll_recv(cx).map(|o| o.map(|r| r.map(Frame::data))),
        }
    }

    /// Whole bodies have a known length, so they are sent with
    /// Content-Length rather than chunked.
    fn size_hint(&self) -> hyper::body::SizeHint {
        match self {
            AnyBody::Full(b) => hyper::body::SizeHint::with_exact(b.as_ref().map_or(0, |b| b.len() as u64)),
            AnyBody::Channel(_) => hyper::body::SizeHint::default(),
        }
    }

    fn is_end_stream(&self) -> bool {
        matches!(self, AnyBody::Full(None))
    }
}

pub fn response(status: u16, content_type: &str, body: impl Into<Bytes>) -> http::Response<AnyBody> {
    http::Response::builder()
        .status(status)
        .header("content-type", content_type)
        .body(AnyBody::full(body))
        .expect("valid response")
}

/// Serves `handler` on an already-bound listener, one task per connection.
pub async fn serve<F, Fut>(listener: tokio::net::TcpListener, handler: F) -> anyhow::Result<()>
where
    F: Fn(http::Request<hyper::body::Incoming>) -> Fut + Clone + Send + Sync + 'static,
    Fut: std::future::Future<Output = http::Response<AnyBody>> + Send + 'static,
{
    loop {
        let (stream, _) = listener.accept().await?;
        let handler = handler.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| {
                let handler = handler.clone();
                async move { Ok::<_, std::convert::Infallible>(handler(req).await) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                .await;
        });
    }
}

/// Binds a loopback listener and prints its URL on stdout's first line,
/// which is how the test harness learns the port.
pub async fn bind_and_announce(listen: &str) -> anyhow::Result<tokio::net::TcpListener> {
    let listener = tokio::net::TcpListener::bind(listen).await?;
    let addr = listener.local_addr()?;
    anyhow::ensure!(addr.ip().is_loopback(), "refusing to listen on {addr}: the rig stays on loopback");
    println!("listening on http://{addr}");
    use std::io::Write;
    std::io::stdout().flush()?;
    Ok(listener)
}
