//! Requests while the database is unreachable: answered `503
//! database-unavailable` (with `Retry-After`) within [`DEADLINE`], rather
//! than after the pool's acquire timeout, and reported to the instance's
//! health (`crate::health`) when they fail for want of the database.
//!
//! While the health says "reachable", a request passes untouched (what it
//! costs, when its handler is not ready at once: one atomic read and a place
//! among the health's outage waiters). Once it says "unreachable", a request
//! still tries (the database may just have come back; the prober would see
//! it within half a second), but with a deadline; one already waiting when
//! the outage is noticed is woken by the health (`next_outage`) and gets its
//! deadline from that moment, even if its handler waits on a hung socket
//! that would not wake it before the pool's acquire timeout. A request that
//! needs no database (a 304 from memory, `/readyz`, a document the render
//! cache answers) answers at once whatever the state.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, HttpBody};
use axum::extract::Request;
use axum::http;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use pin_project_lite::pin_project;
use tokio::sync::futures::OwnedNotified;
use tokio::time::Sleep;
use tower::{Layer, Service};

use super::error::{ApiError, DatabaseUnreachable};
use crate::app::AppError;
use crate::health::DatabaseHealth;

/// How long a request may wait while the database is unreachable.
pub const DEADLINE: Duration = Duration::from_millis(800);

/// The layer (`http::router` puts it on every route but the page's files).
#[derive(Clone)]
pub struct DatabaseDeadlineLayer(pub DatabaseHealth);

impl<S> Layer<S> for DatabaseDeadlineLayer {
    type Service = DatabaseDeadline<S>;

    fn layer(&self, inner: S) -> Self::Service {
        DatabaseDeadline { health: self.0.clone(), inner }
    }
}

#[derive(Clone)]
pub struct DatabaseDeadline<S> {
    health: DatabaseHealth,
    inner: S,
}

impl<S, B> Service<Request> for DatabaseDeadline<S>
where
    S: Service<Request, Response = http::Response<B>, Error = Infallible>,
    B: HttpBody<Data = Bytes> + Send + 'static,
    B::Error: Into<axum::BoxError>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = DeadlineFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        DeadlineFuture { response: self.inner.call(request), health: self.health.clone(), outage: None, deadline: None }
    }
}

pin_project! {
    /// The handler's response, or the 503 once [`DEADLINE`] has passed
    /// since the request was first seen waiting while the database was
    /// unreachable.
    pub struct DeadlineFuture<F> {
        #[pin]
        response: F,
        health: DatabaseHealth,
        // While reachable and waiting: woken when the database is marked
        // unreachable.
        #[pin]
        outage: Option<OwnedNotified>,
        #[pin]
        deadline: Option<Sleep>,
    }
}

impl<F, B> Future for DeadlineFuture<F>
where
    F: Future<Output = Result<http::Response<B>, Infallible>>,
    B: HttpBody<Data = Bytes> + Send + 'static,
    B::Error: Into<axum::BoxError>,
{
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        if let Poll::Ready(Ok(response)) = this.response.poll(cx) {
            if let Some(DatabaseUnreachable(why)) = response.extensions().get::<DatabaseUnreachable>() {
                this.health.mark_unreachable(why);
            }
            return Poll::Ready(Ok(response.map(Body::new)));
        }
        while this.deadline.is_none() {
            // Registered before the check, so a flip in between still wakes us.
            if this.outage.is_none() {
                this.outage.set(Some(this.health.next_outage()));
            }
            if !this.health.is_reachable() {
                this.outage.set(None);
                this.deadline.set(Some(tokio::time::sleep(DEADLINE)));
                break;
            }
            match this.outage.as_mut().as_pin_mut().map(|outage| outage.poll(cx)) {
                // Flipped (and perhaps back already): look again.
                Some(Poll::Ready(())) => this.outage.set(None),
                _ => return Poll::Pending,
            }
        }
        match this.deadline.as_pin_mut().map(|deadline| deadline.poll(cx)) {
            Some(Poll::Ready(())) => {
                metrics::counter!("slotstream_database_deadline_answers_total").increment(1);
                let error = AppError::DatabaseUnavailable("no answer within the deadline of an outage".into());
                Poll::Ready(Ok(ApiError::App(error).into_response()))
            }
            _ => Poll::Pending,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use axum::Router;
    use axum::http::StatusCode;
    use axum::routing::get;
    use tower::ServiceExt;

    use super::*;

    fn router(health: &DatabaseHealth) -> Router {
        Router::new()
            .route("/quick", get(|| async { "ok" }))
            .route("/stuck", get(std::future::pending::<&'static str>))
            .route(
                "/waits",
                get(|| async {
                    // A pool waiting for a connection: wakes now and then.
                    loop {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                    #[allow(unreachable_code)]
                    "never"
                }),
            )
            .route("/fails", get(|| async { ApiError::App(AppError::DatabaseUnavailable("refused".into())) }))
            .layer(DatabaseDeadlineLayer(health.clone()))
    }

    async fn answer(router: &Router, path: &str) -> (StatusCode, Duration) {
        let started = Instant::now();
        let request = Request::get(path).body(Body::empty()).unwrap();
        let response = tokio::time::timeout(Duration::from_secs(10), router.clone().oneshot(request))
            .await
            .expect("answered")
            .unwrap();
        (response.status(), started.elapsed())
    }

    #[tokio::test]
    async fn a_request_waits_only_while_the_database_is_down() {
        let health = DatabaseHealth::new();
        let router = router(&health);
        assert_eq!(answer(&router, "/quick").await.0, StatusCode::OK);
        let stuck = tokio::spawn({
            let router = router.clone();
            async move { answer(&router, "/stuck").await }
        });
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(!stuck.is_finished(), "no deadline while reachable");
        stuck.abort();

        health.mark_unreachable("test");
        assert_eq!(answer(&router, "/quick").await.0, StatusCode::OK, "what needs no database answers");
        let (status, took) = answer(&router, "/stuck").await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(took >= DEADLINE && took < DEADLINE * 3, "{took:?}");
    }

    #[tokio::test]
    async fn a_request_already_waiting_gets_its_deadline_when_the_outage_is_seen() {
        let health = DatabaseHealth::new();
        let router = router(&health);
        let waiting = tokio::spawn({
            let router = router.clone();
            async move { answer(&router, "/waits").await }
        });
        tokio::time::sleep(Duration::from_millis(100)).await;
        health.mark_unreachable("test");
        let (status, took) = waiting.await.unwrap();
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(took >= DEADLINE, "{took:?}");
    }

    /// A handler that never wakes by itself (a query on a hung socket) is
    /// woken by the health's flip and answers within the deadline of it.
    #[tokio::test]
    async fn a_request_stuck_on_a_hung_database_gets_its_deadline_from_the_flip() {
        let health = DatabaseHealth::new();
        let router = router(&health);
        let stuck = tokio::spawn({
            let router = router.clone();
            async move { answer(&router, "/stuck").await }
        });
        tokio::time::sleep(Duration::from_millis(200)).await;
        let flipped = Instant::now();
        health.mark_unreachable("test");
        let (status, _) = stuck.await.unwrap();
        let since_flip = flipped.elapsed();
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(since_flip >= DEADLINE && since_flip < DEADLINE + Duration::from_millis(400), "{since_flip:?}");
    }

    /// Down and up again before the request looked: it goes on waiting, and
    /// the next outage still wakes it.
    #[tokio::test]
    async fn a_flap_leaves_the_request_waiting_for_the_next_outage() {
        let health = DatabaseHealth::new();
        let router = router(&health);
        let stuck = tokio::spawn({
            let router = router.clone();
            async move { answer(&router, "/stuck").await }
        });
        tokio::time::sleep(Duration::from_millis(100)).await;
        health.mark_unreachable("test");
        health.mark_reachable();
        tokio::time::sleep(DEADLINE + Duration::from_millis(200)).await;
        assert!(!stuck.is_finished(), "no deadline while reachable again");
        let flipped = Instant::now();
        health.mark_unreachable("test");
        let (status, _) = stuck.await.unwrap();
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(flipped.elapsed() < DEADLINE + Duration::from_millis(400), "{:?}", flipped.elapsed());
    }

    #[tokio::test]
    async fn a_request_that_meets_the_outage_reports_it() {
        let health = DatabaseHealth::new();
        let router = router(&health);
        let response = router.clone().oneshot(Request::get("/fails").body(Body::empty()).unwrap()).await.unwrap();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()["retry-after"], "2");
        assert_eq!(response.headers()["content-type"], "application/problem+json");
        assert!(!health.is_reachable());
    }
}
