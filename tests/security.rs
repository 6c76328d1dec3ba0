//! Safe on the public internet: per-client quotas from distinct addresses,
//! forwarded headers only from trusted proxies, stream caps, a bad-input
//! suite of 100+ malformed requests, the authorization matrix, and the
//! `WWW-Authenticate` challenge on a 401.

mod common;

use std::time::Duration;

use common::*;
use reqwest::{Method, StatusCode};
use serde_json::json;
use uuid::Uuid;

/// Send `request` until refused; return the 429 response and how many passed.
async fn exhaust(request: impl Fn() -> reqwest::RequestBuilder) -> (reqwest::Response, usize) {
    for passed in 0..1000 {
        let response = request().send().await.unwrap();
        if response.status() == StatusCode::TOO_MANY_REQUESTS {
            return (response, passed);
        }
    }
    panic!("never limited");
}

async fn assert_429(response: reqwest::Response) -> u64 {
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(response.headers()["content-type"], "application/problem+json");
    let retry: u64 = response.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!(retry >= 1, "never told to retry after 0 s");
    assert!(response.headers().contains_key("ratelimit-policy"));
    assert!(response.headers().contains_key("ratelimit"));
    retry
}

#[tokio::test]
async fn each_client_address_has_its_own_read_write_and_stream_quotas() {
    let app = TestApp::spawn_with(&[
        "--read-burst",
        "5",
        "--read-per-second",
        "2",
        "--write-burst",
        "3",
        "--write-per-second",
        "1",
        "--stream-burst",
        "2",
        "--stream-per-second",
        "1",
    ])
    .await;
    let pid = app.provider(0).id;
    let a = client_from("127.0.0.2");
    let b = client_from("127.0.0.3");
    let read = |c: &reqwest::Client| c.get(app.url(&format!("/api/v1/providers/{pid}/availability")));

    let (refused, passed) = exhaust(|| read(&a)).await;
    assert_eq!(passed, 5, "the burst");
    let retry = assert_429(refused).await;
    assert_eq!(read(&b).send().await.unwrap().status(), StatusCode::OK, "B is still served");
    tokio::time::sleep(Duration::from_secs(retry)).await;
    assert_eq!(read(&a).send().await.unwrap().status(), StatusCode::OK, "A is served again after Retry-After");

    // Writes: their own quota (A's reads are spent, its writes are not).
    let write = |c: &reqwest::Client| {
        c.post(app.url(&format!("/api/v1/bookings/{}/cancel", Uuid::new_v4()))).bearer_auth("bk_x")
    };
    let (refused, passed) = exhaust(|| write(&a)).await;
    assert_eq!(passed, 3);
    let retry = assert_429(refused).await;
    assert_eq!(write(&b).send().await.unwrap().status(), StatusCode::NOT_FOUND, "B's writes pass the limiter");
    tokio::time::sleep(Duration::from_secs(retry)).await;
    assert_eq!(write(&a).send().await.unwrap().status(), StatusCode::NOT_FOUND);

    // Stream connections.
    let stream = |c: &reqwest::Client| c.get(stream_url(&app.base, pid, ""));
    let mut open = Vec::new();
    loop {
        let response = stream(&a).send().await.unwrap();
        if response.status() == StatusCode::TOO_MANY_REQUESTS {
            assert_429(response).await;
            break;
        }
        assert_eq!(response.status(), StatusCode::OK);
        open.push(response);
        assert!(open.len() <= 2, "stream burst is 2");
    }
    assert_eq!(open.len(), 2);
    assert_eq!(stream(&b).send().await.unwrap().status(), StatusCode::OK);
}

/// The auth scheme is case-insensitive (RFC 9110 §11.1): a verified provider
/// key sent as `bearer pk_…` or `BEARER pk_…` is a client of its own for
/// the rate limiter, as with `Bearer`, not its peer address.
#[tokio::test]
async fn a_key_sent_with_a_lowercase_scheme_has_its_own_quota() {
    let app = TestApp::spawn_with(&["--write-burst", "3", "--write-per-second", "0.01"]).await;
    let provider = app.provider(0).clone();
    let a = client_from("127.0.0.8");
    let webhooks = app.url(&format!("/api/v1/providers/{}/webhooks", provider.id));
    // Verified once (counted against the address, as it is not yet known).
    let verified = a.get(&webhooks).header("authorization", format!("Bearer {}", provider.key)).send().await.unwrap();
    assert_eq!(verified.status(), StatusCode::OK);
    let (refused, _) =
        exhaust(|| a.post(app.url(&format!("/api/v1/bookings/{}/cancel", Uuid::new_v4()))).bearer_auth("bk_x")).await;
    assert_429(refused).await;
    for scheme in ["bearer", "BEARER", "Bearer"] {
        let response =
            a.get(&webhooks).header("authorization", format!("{scheme} {}", provider.key)).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "`{scheme}`: the key's own quota, not the spent address's");
    }
}

#[tokio::test]
async fn forwarded_for_counts_only_from_a_trusted_proxy() {
    let app =
        TestApp::spawn_with(&["--read-burst", "2", "--read-per-second", "0.1", "--trusted-proxies", "127.0.0.4"]).await;
    let url = app.url("/api/v1/providers");
    // Untrusted peer: XFF ignored, so rotating it does not dodge the limit.
    let untrusted = client_from("127.0.0.5");
    let statuses: Vec<StatusCode> = futures_util::future::join_all(
        (0..3).map(|n| untrusted.get(&url).header("x-forwarded-for", format!("203.0.113.{n}")).send()),
    )
    .await
    .into_iter()
    .map(|r| r.unwrap().status())
    .collect();
    assert_eq!(statuses.iter().filter(|s| **s == StatusCode::TOO_MANY_REQUESTS).count(), 1);

    // Trusted proxy: each forwarded client has its own quota.
    let proxy = client_from("127.0.0.4");
    for n in 0..3 {
        for _ in 0..2 {
            let r = proxy.get(&url).header("x-forwarded-for", format!("198.51.100.{n}")).send().await.unwrap();
            assert_eq!(r.status(), StatusCode::OK, "forwarded client {n}");
        }
        let r = proxy.get(&url).header("x-forwarded-for", format!("198.51.100.{n}")).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS, "forwarded client {n} has its own limit");
    }
}

#[tokio::test]
async fn the_stream_cap_refuses_one_more_and_a_closed_stream_frees_a_place() {
    let app = TestApp::spawn_with(&["--max-streams-per-client", "3"]).await;
    let pid = app.provider(0).id;
    let a = client_from("127.0.0.6");
    let mut open = Vec::new();
    for _ in 0..3 {
        open.push(SseClient::connect(&a, &stream_url(&app.base, pid, ""), None).await);
    }
    let refused = a.get(stream_url(&app.base, pid, "")).send().await.unwrap();
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS, "refused before the stream starts");
    assert_eq!(refused.headers()["content-type"], "application/problem+json");
    let other = client_from("127.0.0.7");
    assert_eq!(other.get(stream_url(&app.base, pid, "")).send().await.unwrap().status(), StatusCode::OK);
    open.pop();
    let mut reopened = StatusCode::TOO_MANY_REQUESTS;
    for _ in 0..50 {
        reopened = a.get(stream_url(&app.base, pid, "")).send().await.unwrap().status();
        if reopened == StatusCode::OK {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(reopened, StatusCode::OK, "closing one frees a place");
}

/// One malformed request.
struct Bad {
    method: Method,
    path: String,
    headers: Vec<(&'static str, String)>,
    body: Option<String>,
}

fn bad(method: Method, path: impl Into<String>) -> Bad {
    Bad { method, path: path.into(), headers: Vec::new(), body: None }
}

impl Bad {
    fn header(mut self, name: &'static str, value: impl Into<String>) -> Bad {
        self.headers.push((name, value.into()));
        self
    }
    fn json(mut self, body: impl Into<String>) -> Bad {
        self.body = Some(body.into());
        self.header("content-type", "application/json")
    }
}

#[tokio::test]
async fn a_hundred_malformed_requests_get_4xx_problems_and_change_nothing() {
    let app = TestApp::spawn().await;
    let provider = app.provider(0);
    let pid = provider.id;
    let service = service_with(&app.client, &app.base, pid, 30).await;
    let doc = availability(&app.client, &app.base, pid, "", None).await;
    let (slot, start) = doc.free_slots()[0].clone();
    let (_, booking) = book(&app.client, &app.base, pid, service, &start).await;
    let bid = booking["id"].as_str().unwrap().to_owned();
    let token = booking["token"].as_str().unwrap().to_owned();
    let before = dump(&app.db).await;
    let unknown = Uuid::new_v4();
    let avail = format!("/api/v1/providers/{pid}/availability");
    let valid = serde_json::to_string(&booking_body(pid, service, &start)).unwrap();

    let mut cases: Vec<Bad> = Vec::new();
    // Bad ids in every path.
    for id in ["x", "123", "00000000-0000-0000-0000", "%00", "..%2f..", "' OR 1=1 --", "🙂"] {
        cases.push(bad(Method::GET, format!("/api/v1/providers/{id}/availability")));
        cases.push(bad(Method::GET, format!("/api/v1/providers/{id}/availability/stream")));
        cases.push(
            bad(Method::POST, format!("/api/v1/bookings/{id}/cancel"))
                .header("authorization", format!("Bearer {token}")),
        );
        cases.push(
            bad(Method::POST, format!("/api/v1/providers/{id}/slots/{slot}/block"))
                .header("authorization", format!("Bearer {}", provider.key)),
        );
    }
    // Dates, days, unknown parameters.
    for q in [
        "startDate=2026-02-30",
        "startDate=30-11-2026",
        "startDate=",
        "startDate=2026-11-27T00:00",
        "days=0",
        "days=32",
        "days=abc",
        "days=1.5",
        "days=-3",
        "days=99999999999",
        "startDate=9999-12-31",
        "startDate=0001-01-01",
        "foo=bar",
        "days=7&days=8",
    ] {
        cases.push(bad(Method::GET, format!("{avail}?{q}")));
        cases.push(bad(Method::GET, format!("{avail}/stream?{q}")));
    }
    // Booking bodies.
    let mut bodies: Vec<String> = vec![
        "".into(),
        "{".into(),
        "[]".into(),
        "null".into(),
        "42".into(),
        "\"text\"".into(),
        "{\"providerId\":1}".into(),
        valid.replace("\"customer\"", "\"client\""),
        valid.replace(&start, "2026-11-30"),
        valid.replace(&start, "not a time"),
        valid.replace(&start, "2026-11-30T25:00:00Z"),
        valid.replace("ada@example.com", ""),
        valid.replace("ada@example.com", "a@b"),
        valid.replace("Ada Lovelace", &"x".repeat(300)),
        valid.replace("Ada Lovelace", "bell\\u0007"),
        valid.replace(&pid.to_string(), &unknown.to_string()),
        valid.replace(&service.to_string(), &unknown.to_string()),
        format!("{}{}", "[".repeat(200), "]".repeat(200)),
    ];
    bodies.push(json!({"providerId": pid, "serviceId": service, "startTime": start, "customer": {"name": "A", "email": "a@b.co", "vip": true}}).to_string());
    for body in bodies {
        cases.push(bad(Method::POST, "/api/v1/bookings").json(body));
    }
    // Content types and sizes.
    cases.push(bad(Method::POST, "/api/v1/bookings").header("content-type", "text/plain").json(valid.clone()));
    cases.push(Bad {
        body: Some(valid.clone()),
        ..bad(Method::POST, "/api/v1/bookings").header("content-type", "application/xml")
    });
    cases.push(Bad { body: Some(valid.clone()), ..bad(Method::POST, "/api/v1/bookings") });
    cases.push(bad(Method::POST, "/api/v1/bookings").json("x".repeat(1 << 20)));
    cases.push(bad(Method::POST, "/api/v1/bookings").json(valid.clone()).header("idempotency-key", ""));
    cases.push(bad(Method::POST, "/api/v1/bookings").json(valid.clone()).header("idempotency-key", "k".repeat(300)));
    // Bad tokens and keys.
    for auth in [
        "",
        "Bearer",
        "Bearer ",
        "Basic dXNlcjpwYXNz",
        "bk_only",
        "Bearer not-a-token",
        "Bearer pk_wrong",
        &format!("Bearer {}", "a".repeat(400)),
    ] {
        cases.push(bad(Method::POST, format!("/api/v1/bookings/{bid}/cancel")).header("authorization", auth));
        cases.push(
            bad(Method::POST, format!("/api/v1/providers/{pid}/slots/{slot}/block")).header("authorization", auth),
        );
        cases.push(bad(Method::GET, format!("/api/v1/bookings/{bid}")).header("authorization", auth));
    }
    // Reschedule and slot bodies.
    for body in [
        "{}",
        "{\"startTime\": 5}",
        "{\"startTime\": \"yesterday\"}",
        "{\"startTime\": \"2026-11-30T10:00:00Z\", \"x\": 1}",
    ] {
        cases.push(
            bad(Method::POST, format!("/api/v1/bookings/{bid}/reschedule"))
                .header("authorization", format!("Bearer {token}"))
                .json(body),
        );
    }
    for body in [
        json!({}),
        json!({"dates": [], "open": "09:00", "close": "10:00", "slotMinutes": 30}),
        json!({"dates": ["2027-01-01"], "open": "9am", "close": "10:00", "slotMinutes": 30}),
        json!({"dates": ["2027-01-01"], "open": "10:00", "close": "09:00", "slotMinutes": 30}),
        json!({"dates": ["2027-01-01"], "open": "09:00", "close": "10:00", "slotMinutes": 0}),
        json!({"dates": ["2027-01-01"], "open": "09:00", "close": "10:00", "slotMinutes": 100000}),
        json!({"dates": (0..40).map(|d| format!("2027-01-{:02}", d % 28 + 1)).collect::<Vec<_>>(), "open": "09:00", "close": "10:00", "slotMinutes": 30}),
        json!({"dates": ["2027-02-30"], "open": "09:00", "close": "10:00", "slotMinutes": 30}),
    ] {
        cases.push(
            bad(Method::POST, format!("/api/v1/providers/{pid}/slots"))
                .header("authorization", format!("Bearer {}", provider.key))
                .json(body.to_string()),
        );
    }
    // Odd headers and methods.
    cases.push(bad(Method::GET, &avail).header("if-none-match", "\"unterminated"));
    cases.push(bad(Method::GET, format!("{avail}/stream")).header("last-event-id", "-5"));
    cases.push(bad(Method::GET, format!("{avail}?{}", "a".repeat(3000))));
    cases.push(bad(Method::GET, &avail).header("x-padding", "p".repeat(7_000)));
    cases.push(bad(Method::DELETE, &avail));
    cases.push(bad(Method::PUT, "/api/v1/bookings"));
    cases.push(bad(Method::PATCH, format!("/api/v1/bookings/{bid}")));
    cases.push(bad(Method::GET, "/api/v2/providers"));
    cases.push(bad(Method::GET, "/api/v1/providers/../../etc/passwd"));

    assert!(cases.len() >= 100, "{} cases", cases.len());
    let mut tally = std::collections::BTreeMap::new();
    for case in &cases {
        let mut request = app.client.request(case.method.clone(), app.url(&case.path));
        for (name, value) in &case.headers {
            request = request.header(*name, value);
        }
        if let Some(body) = &case.body {
            request = request.body(body.clone());
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let what = format!(
            "{} {} {:?}",
            case.method,
            case.path.chars().take(120).collect::<String>(),
            case.headers.iter().map(|(k, v)| (k, v.chars().take(40).collect::<String>())).collect::<Vec<_>>()
        );
        // A malformed If-None-Match or Last-Event-ID is ignored (RFC 9110 lets
        // a server do so): the request is otherwise fine.
        if case.headers.iter().any(|(k, _)| *k == "if-none-match" || *k == "last-event-id") {
            assert_eq!(status, StatusCode::OK, "{what}");
            continue;
        }
        assert!(status.is_client_error(), "{what} → {status}");
        assert_eq!(
            response.headers().get("content-type").map(|v| v.to_str().unwrap()),
            Some("application/problem+json"),
            "{what}"
        );
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["status"], status.as_u16(), "{what}");
        *tally.entry(status.as_u16()).or_insert(0) += 1;
    }
    eprintln!("{} malformed requests: {tally:?}", cases.len());
    assert_eq!(dump(&app.db).await, before, "the database is unchanged");
}

#[tokio::test]
async fn every_write_endpoint_refuses_the_wrong_credential_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let (p0, p1) = (app.provider(0).clone(), app.provider(1).clone());
    let service = service_with(&app.client, &app.base, p0.id, 30).await;
    let free = availability(&app.client, &app.base, p0.id, "?days=14", None).await.free_slots();
    let (_, mine) = book(&app.client, &app.base, p0.id, service, &free[0].1).await;
    let (_, other) = book(&app.client, &app.base, p0.id, service, &free[1].1).await;
    let (bid, my_token, other_token) = (
        mine["id"].as_str().unwrap().to_owned(),
        mine["token"].as_str().unwrap().to_owned(),
        other["token"].as_str().unwrap().to_owned(),
    );
    let slot = free[5].0.clone();

    struct Endpoint {
        name: &'static str,
        path: String,
        body: Option<serde_json::Value>,
        right: String,
        expect: StatusCode,
    }
    let endpoints = vec![
        Endpoint {
            name: "reschedule",
            path: format!("/api/v1/bookings/{bid}/reschedule"),
            body: Some(json!({"startTime": free[3].1})),
            right: my_token.clone(),
            expect: StatusCode::OK,
        },
        Endpoint {
            name: "block",
            path: format!("/api/v1/providers/{}/slots/{slot}/block", p0.id),
            body: None,
            right: p0.key.clone(),
            expect: StatusCode::OK,
        },
        Endpoint {
            name: "unblock",
            path: format!("/api/v1/providers/{}/slots/{slot}/unblock", p0.id),
            body: None,
            right: p0.key.clone(),
            expect: StatusCode::OK,
        },
        Endpoint {
            name: "create slots",
            path: format!("/api/v1/providers/{}/slots", p0.id),
            body: Some(json!({"dates": ["2027-06-01"], "open": "09:00", "close": "10:00", "slotMinutes": 30})),
            right: p0.key.clone(),
            expect: StatusCode::CREATED,
        },
        Endpoint {
            name: "cancel",
            path: format!("/api/v1/bookings/{bid}/cancel"),
            body: None,
            right: my_token.clone(),
            expect: StatusCode::OK,
        },
    ];
    // Well-formed, but issued by nobody: a 401, where a real credential of
    // someone else is a 403.
    let (unknown_key, unknown_token) = (format!("pk_{}", "A".repeat(43)), format!("bk_{}", "A".repeat(43)));
    for endpoint in endpoints {
        let wrong: [(Option<&str>, StatusCode, &str); 5] = [
            (None, StatusCode::UNAUTHORIZED, "no credential"),
            (Some(&p1.key), StatusCode::FORBIDDEN, "another provider's key"),
            (Some(&other_token), StatusCode::FORBIDDEN, "another booking's token"),
            (Some(&unknown_key), StatusCode::UNAUTHORIZED, "a provider key nobody issued"),
            (Some(&unknown_token), StatusCode::UNAUTHORIZED, "a booking token nobody issued"),
        ];
        for (credential, expected, what) in wrong {
            let before = dump(&app.db).await;
            let mut request = app.client.post(app.url(&endpoint.path));
            if let Some(secret) = credential {
                request = request.bearer_auth(secret);
            }
            if let Some(body) = &endpoint.body {
                request = request.json(body);
            }
            let response = request.send().await.unwrap();
            assert_eq!(response.status(), expected, "{} with {what}", endpoint.name);
            if credential.is_some() && expected == StatusCode::UNAUTHORIZED {
                let challenge = &response.headers()["www-authenticate"];
                assert_eq!(challenge, r#"Bearer error="invalid_token""#, "{} with {what}", endpoint.name);
            }
            assert_eq!(dump(&app.db).await, before, "{} with {what} changed nothing", endpoint.name);
        }
        let mut request = app.client.post(app.url(&endpoint.path)).bearer_auth(&endpoint.right);
        if let Some(body) = &endpoint.body {
            request = request.json(body);
        }
        assert_eq!(
            request.send().await.unwrap().status(),
            endpoint.expect,
            "{} with the right credential",
            endpoint.name
        );
    }
}

#[tokio::test]
async fn a_401_carries_a_bearer_challenge_and_names_a_malformed_token() {
    let app = TestApp::spawn().await;
    let pid = app.provider(0).id;
    let service = service_with(&app.client, &app.base, pid, 30).await;
    let free = availability(&app.client, &app.base, pid, "", None).await.free_slots();
    let (_, booking) = book(&app.client, &app.base, pid, service, &free[0].1).await;
    let cancel = app.url(&format!("/api/v1/bookings/{}/cancel", booking["id"].as_str().unwrap()));
    let block = app.url(&format!("/api/v1/providers/{pid}/slots/{}/block", free[1].0));
    let long = format!("Bearer {}", "x".repeat(300));
    // (url, Authorization, the challenge): RFC 6750 §3.1 names no error when
    // no credential (or another scheme) was presented.
    let cases = [
        (&cancel, None, "Bearer"),
        (&block, None, "Bearer"),
        (&cancel, Some("Basic dXNlcjpwYXNz"), "Bearer"),
        (&cancel, Some(long.as_str()), r#"Bearer error="invalid_token""#),
    ];
    for (url, authorization, challenge) in cases {
        let mut request = app.client.post(url.as_str());
        if let Some(value) = authorization {
            request = request.header("authorization", value);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{url} with {authorization:?}");
        assert_eq!(response.headers()["www-authenticate"], challenge, "{url} with {authorization:?}");
        assert_eq!(response.headers()["content-type"], "application/problem+json");
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(
            (body["status"].as_u64(), body["type"].as_str()),
            (Some(401), Some("urn:slotstream:problem:unauthorized"))
        );
    }
    // A well-formed token that exists nowhere is no credential either (issue
    // 21 item 16): a 401 `invalid_token` tells the client to get a new one.
    let refused = app.client.post(&cancel).bearer_auth("bk_wrong").send().await.unwrap();
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED, "a well-formed unknown token");
    assert_eq!(refused.headers()["www-authenticate"], r#"Bearer error="invalid_token""#);
    assert_eq!(refused.headers()["content-type"], "application/problem+json");
}

/// Issue 21 item 16 on the hold and calendar routes: a token nobody issued
/// is a 401 `invalid_token`; a real token of another hold, or another
/// provider's key, stays a 403.
#[tokio::test]
async fn an_unknown_token_is_a_401_and_another_holders_token_a_403_on_holds_and_calendars() {
    let app = TestApp::spawn().await;
    let (provider, stranger) = (app.provider(0).clone(), app.provider(1).clone());
    let service = service_with(&app.client, &app.base, provider.id, 30).await;
    let free = availability(&app.client, &app.base, provider.id, "", None).await.free_slots();
    let hold_at = |start: &str| json!({ "providerId": provider.id, "serviceId": service, "startTime": start });
    let (status, mine) = post_json(&app.client, &app.url("/api/v1/holds"), &hold_at(&free[0].1)).await;
    assert_eq!(status, StatusCode::CREATED, "{mine}");
    let (_, theirs) = post_json(&app.client, &app.url("/api/v1/holds"), &hold_at(&free[1].1)).await;
    let (_, booking) = book(&app.client, &app.base, provider.id, service, &free[2].1).await;
    let hold_url = app.url(&format!("/api/v1/holds/{}", mine["id"].as_str().unwrap()));
    let ics = app.url(&format!("/api/v1/bookings/{}/calendar.ics", booking["id"].as_str().unwrap()));
    let unknown = format!("hd_{}", "Z".repeat(43));
    let requests: [(&str, reqwest::RequestBuilder); 3] = [
        ("renew", app.client.post(format!("{hold_url}/renew"))),
        ("release", app.client.delete(&hold_url)),
        ("calendar", app.client.get(&ics)),
    ];
    for (what, request) in requests {
        let response = request.try_clone().unwrap().bearer_auth(&unknown).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{what} with a token nobody issued");
        assert_eq!(response.headers()["www-authenticate"], r#"Bearer error="invalid_token""#, "{what}");
        assert_eq!(response.headers()["content-type"], "application/problem+json", "{what}");
        for (other, whose) in
            [(theirs["token"].as_str().unwrap(), "another hold's token"), (&stranger.key, "another provider's key")]
        {
            let response = request.try_clone().unwrap().bearer_auth(other).send().await.unwrap();
            assert_eq!(response.status(), StatusCode::FORBIDDEN, "{what} with {whose}");
        }
    }
    assert_eq!(
        app.client
            .post(format!("{hold_url}/renew"))
            .bearer_auth(mine["token"].as_str().unwrap())
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK,
        "the hold is untouched"
    );
}

/// Issue 21 item 16: a page on an allowed origin can read the headers it
/// needs: conditional requests, quotas, when to retry, why it was refused.
#[tokio::test]
async fn cors_exposes_the_headers_a_cross_origin_page_needs() {
    let app = TestApp::spawn_with(&["--cors-origins", "https://shop.example"]).await;
    let response =
        app.client.get(app.url("/api/v1/providers")).header("origin", "https://shop.example").send().await.unwrap();
    let exposed = response.headers()["access-control-expose-headers"].to_str().unwrap().to_ascii_lowercase();
    let exposed: Vec<&str> = exposed.split(',').map(str::trim).collect();
    for name in
        ["etag", "last-modified", "location", "retry-after", "ratelimit", "ratelimit-policy", "www-authenticate"]
    {
        assert!(exposed.contains(&name), "{name} is not exposed: {exposed:?}");
    }
}

#[tokio::test]
async fn public_answers_carry_no_customer_data() {
    let app = TestApp::spawn().await;
    let pid = app.provider(0).id;
    let service = service_with(&app.client, &app.base, pid, 30).await;
    let start = availability(&app.client, &app.base, pid, "", None).await.free_slots()[0].1.clone();
    let mut stream = SseClient::connect(&app.client, &stream_url(&app.base, pid, ""), None).await;
    let (_, booking) = book(&app.client, &app.base, pid, service, &start).await;
    let event = stream.take(1, Duration::from_secs(5)).await.remove(0);
    let public = [
        availability(&app.client, &app.base, pid, "", None).await.body,
        app.client.get(app.url("/api/v1/providers")).send().await.unwrap().text().await.unwrap(),
        event.data,
        scrape(&app.client, &app.base).await,
    ];
    for text in public {
        for secret in
            ["Ada Lovelace", "ada@example.com", booking["token"].as_str().unwrap(), booking["id"].as_str().unwrap()]
        {
            assert!(!text.contains(secret), "{secret} leaked");
        }
    }
}

#[tokio::test]
async fn cors_is_same_origin_by_default_and_lists_allowed_origins() {
    let app = TestApp::spawn().await;
    let r = app.client.get(app.url("/api/v1/providers")).header("origin", "https://evil.example").send().await.unwrap();
    assert!(r.headers().get("access-control-allow-origin").is_none());
    let app = TestApp::spawn_with(&["--cors-origins", "https://shop.example"]).await;
    let pid = app.provider(0).id;
    let r =
        app.client.get(stream_url(&app.base, pid, "")).header("origin", "https://shop.example").send().await.unwrap();
    assert_eq!(r.headers()["access-control-allow-origin"], "https://shop.example");
    let r = app.client.get(app.url("/api/v1/providers")).header("origin", "https://evil.example").send().await.unwrap();
    assert!(r.headers().get("access-control-allow-origin").is_none());
}
