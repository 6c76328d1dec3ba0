//! The outgoing HTTP(S) client: hyper-util's pooled client over rustls
//! (`ring`, webpki roots), HTTP/1.1, no proxy, no redirects (a redirect could
//! lead anywhere), with a resolver that applies the SSRF guard. The address
//! checked is the address connected to: no second lookup happens between.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::connect::dns::Name;
use hyper_util::rt::TokioExecutor;

use crate::app::webhooks::target;

/// Resolves names with the system resolver, keeping only the addresses the
/// guard allows (and failing if it refuses any, as at subscription time).
#[derive(Clone)]
pub struct GuardedResolver {
    allow_private: bool,
}

impl tower::Service<Name> for GuardedResolver {
    type Response = std::vec::IntoIter<SocketAddr>;
    type Error = std::io::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, name: Name) -> Self::Future {
        let allow_private = self.allow_private;
        Box::pin(async move {
            // The connector sets the port on the addresses it is handed.
            target::resolve(name.as_str(), 0, allow_private)
                .await
                .map(Vec::into_iter)
                .map_err(|e| std::io::Error::new(std::io::ErrorKind::PermissionDenied, e.to_string()))
        })
    }
}

/// The most of a receiver's answer that is read. Only the status counts; a
/// small answer is read whole so the connection goes back to the pool, a
/// larger one is dropped unread (closing its connection), so memory stays
/// bounded whatever a receiver sends.
const ANSWER_READ_LIMIT: usize = 4 * 1024;

type Connector = hyper_rustls::HttpsConnector<HttpConnector<GuardedResolver>>;

/// A cheap-clone client for webhook deliveries.
#[derive(Clone)]
pub struct WebhookClient {
    client: Client<Connector, Full<Bytes>>,
    allow_private: bool,
    timeout: Duration,
}

/// How one attempt ended, short of a 2xx.
#[derive(Debug, thiserror::Error)]
pub enum AttemptError {
    #[error("answered {0}")]
    Status(u16),
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    #[error("{0}")]
    Refused(String),
    #[error("{0}")]
    Transport(String),
}

impl AttemptError {
    /// The `outcome` label of `slotstream_webhook_deliveries_total`.
    pub fn outcome(&self) -> &'static str {
        match self {
            AttemptError::Status(_) => "rejected",
            AttemptError::Timeout(_) => "timeout",
            AttemptError::Refused(_) => "refused",
            AttemptError::Transport(_) => "unreachable",
        }
    }
}

impl WebhookClient {
    pub fn new(timeout: Duration, allow_private: bool) -> Result<WebhookClient, String> {
        let mut http = HttpConnector::new_with_resolver(GuardedResolver { allow_private });
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(timeout));
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_webpki_roots(rustls::crypto::ring::default_provider())
            .map_err(|e| format!("TLS setup: {e}"))?
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        let client = Client::builder(TokioExecutor::new()).pool_idle_timeout(Duration::from_secs(30)).build(https);
        Ok(WebhookClient { client, allow_private, timeout })
    }

    /// POST `body` with `headers` to `url`; Ok on a 2xx within the timeout,
    /// whatever the answer's body (at most [`ANSWER_READ_LIMIT`] of it is read).
    pub async fn post(&self, url: &str, headers: &[(&'static str, String)], body: Bytes) -> Result<(), AttemptError> {
        let uri: hyper::Uri = url.parse().map_err(|_| AttemptError::Refused(format!("{url} is not a URL")))?;
        // Address literals never reach the resolver: check them here.
        let literal = uri.host().map(|host| host.trim_start_matches('[').trim_end_matches(']'));
        if let Some(Ok(ip)) = literal.map(str::parse)
            && !self.allow_private
            && !target::is_public(ip)
        {
            return Err(AttemptError::Refused(target::TargetError::NotPublic(ip).to_string()));
        }
        let mut request = hyper::Request::post(uri)
            .header(hyper::header::CONTENT_TYPE, "application/json")
            .header(hyper::header::USER_AGENT, concat!("slotstream-webhooks/", env!("CARGO_PKG_VERSION")));
        for (name, value) in headers {
            request = request.header(*name, value.as_str());
        }
        let request = request.body(Full::new(body)).map_err(|e| AttemptError::Refused(e.to_string()))?;
        let attempt = async {
            let response = self.client.request(request).await.map_err(|e| AttemptError::Transport(describe(&e)))?;
            let status = response.status();
            // A longer answer fails the limit and is dropped here, unread.
            let _ = Limited::new(response.into_body(), ANSWER_READ_LIMIT).collect().await;
            match status.is_success() {
                true => Ok(()),
                false => Err(AttemptError::Status(status.as_u16())),
            }
        };
        tokio::time::timeout(self.timeout, attempt).await.map_err(|_| AttemptError::Timeout(self.timeout))?
    }
}

/// The error and its causes, one line (hyper's own message is terse).
fn describe(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
