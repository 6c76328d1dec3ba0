//! Middleware that looks at a request before the handler and at its
//! response after: the one style of middleware of every route group (the
//! layers every request passes in `middleware`, the read group's
//! `compression`, the admin group's operator check).
//!
//! `axum::middleware::from_fn` does the same for any async function, at a
//! price paid on every request: it clones the whole inner service (the rest
//! of the stack), boxes it again as `Next`, and boxes two futures. With three
//! such layers that was a large part of what a 304 cost over a bare hello
//! (BENCHMARKS.md). An `Around` layer calls its inner service in place and
//! boxes nothing.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use axum::body::{Body, HttpBody};
use axum::extract::Request;
use axum::http;
use axum::response::Response;
use bytes::Bytes;
use pin_project_lite::pin_project;
use tower::{Layer, Service};

/// What a middleware does around a request.
pub trait Around: Clone + Send + Sync + 'static {
    /// What `before` learned about the request and hands to `after`.
    type ForAfter: Send + 'static;

    /// Look at the request: answer it at once (`Err`, boxed: refusals are
    /// rare and the answer is large), or let it through and keep what
    /// `after` needs.
    fn before(&self, request: &Request) -> Result<Self::ForAfter, Box<Response>>;

    /// Look at (and change) the handler's response.
    fn after(&self, for_after: Self::ForAfter, response: Response) -> Response;
}

/// The layer of an `Around`.
#[derive(Clone)]
pub struct AroundLayer<A>(pub A);

impl<A: Clone, S> Layer<S> for AroundLayer<A> {
    type Service = AroundService<A, S>;

    fn layer(&self, inner: S) -> Self::Service {
        AroundService { around: self.0.clone(), inner }
    }
}

#[derive(Clone)]
pub struct AroundService<A, S> {
    around: A,
    inner: S,
}

impl<A, S, B> Service<Request> for AroundService<A, S>
where
    A: Around,
    S: Service<Request, Response = http::Response<B>, Error = Infallible>,
    B: HttpBody<Data = Bytes> + Send + 'static,
    B::Error: Into<axum::BoxError>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = AroundFuture<A, S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        match self.around.before(&request) {
            Err(answer) => AroundFuture::Answered { answer: Some(answer) },
            // Called in place: `poll_ready` above readied this very service.
            Ok(for_after) => AroundFuture::Waiting {
                response: self.inner.call(request),
                around: self.around.clone(),
                for_after: Some(for_after),
            },
        }
    }
}

pin_project! {
    /// The inner service's future, then `after`; or the answer `before` gave.
    /// Not boxed: moving the inner future into a box cost more than the
    /// rest of the layer.
    #[project = AroundProjection]
    pub enum AroundFuture<A: Around, F> {
        Answered { answer: Option<Box<Response>> },
        Waiting { #[pin] response: F, around: A, for_after: Option<A::ForAfter> },
    }
}

impl<A, F, B> Future for AroundFuture<A, F>
where
    A: Around,
    F: Future<Output = Result<http::Response<B>, Infallible>>,
    B: HttpBody<Data = Bytes> + Send + 'static,
    B::Error: Into<axum::BoxError>,
{
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project() {
            // Taken once; a future is not polled again once ready.
            AroundProjection::Answered { answer } => answer.take().map_or(Poll::Pending, |a| Poll::Ready(Ok(*a))),
            AroundProjection::Waiting { response, around, for_after } => {
                let Ok(response) = ready!(response.poll(cx));
                match for_after.take() {
                    Some(for_after) => Poll::Ready(Ok(around.after(for_after, response.map(Body::new)))),
                    None => Poll::Pending,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::Router;
    use axum::http::{HeaderValue, StatusCode};
    use axum::response::IntoResponse;
    use axum::routing::get;
    use tower::ServiceExt;

    /// Refuses `/refused`, and marks every other response with the path it
    /// kept from the request.
    #[derive(Clone)]
    struct Marker;

    impl Around for Marker {
        type ForAfter = String;

        fn before(&self, request: &Request) -> Result<String, Box<Response>> {
            match request.uri().path() {
                "/refused" => Err(Box::new(StatusCode::FORBIDDEN.into_response())),
                path => Ok(path.to_owned()),
            }
        }

        fn after(&self, for_after: String, mut response: Response) -> Response {
            response.headers_mut().insert("x-seen", HeaderValue::from_str(&for_after).unwrap());
            response
        }
    }

    #[tokio::test]
    async fn answers_early_or_sees_the_response() {
        let router = Router::new()
            .route("/hello", get(|| async { "hi" }))
            .route("/refused", get(|| async { "never" }))
            .layer(AroundLayer(Marker));
        let response = router.clone().oneshot(Request::get("/hello").body(Body::empty()).unwrap()).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()["x-seen"], "/hello");
        let response = router.oneshot(Request::get("/refused").body(Body::empty()).unwrap()).await.unwrap();
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        assert!(response.headers().get("x-seen").is_none(), "the handler never ran");
    }
}
