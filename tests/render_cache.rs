//! The render cache is bounded in bytes: many distinct queries over a dense
//! calendar grow the server's memory by no more than 1.25 × its budget
//! (issue 21 item 18).

mod common;

use std::time::Duration;

use common::*;
use reqwest::StatusCode;
use serde_json::json;
use slotstream::cli::seed::SeededProvider;

#[tokio::test]
async fn many_distinct_queries_on_a_dense_calendar_keep_memory_bounded() {
    let (url, providers) = seeded_database().await;
    const BUDGET: u64 = 32 * 1024 * 1024;
    let budget = BUDGET.to_string();
    let server = ServerProcess::start(&url, &["--render-cache-bytes", &budget]).await;
    let client = reqwest::Client::builder().timeout(Duration::from_secs(120)).build().unwrap();
    let provider = &providers[1];

    let today = dense_calendar(&server, &client, provider).await;

    let pid = server.pid();
    let get = |start: u64, days: u32| {
        let url = server.url(&format!(
            "/api/v1/providers/{}/availability?startDate={}&days={days}",
            provider.id,
            today + chrono::Days::new(start)
        ));
        let client = client.clone();
        async move {
            let response = client.get(url).send().await.unwrap();
            assert_eq!(response.status(), StatusCode::OK);
            response.bytes().await.unwrap().len()
        }
    };
    // Every pooled connection reads the calendar once before the baseline:
    // SQLite's page cache per connection is not the render cache, and
    // filled during the loop it made the growth 44 MiB on a loaded CI box.
    futures_util::future::join_all((1..=10).map(|start| get(start, 15))).await;
    let before = rss_kib(pid);
    let mut served = 0;
    for start in 1..=10 {
        for days in 16..=31 {
            served += get(start, days).await;
        }
    }
    assert!(served > 150 * 1024 * 1024, "the queries are large: {served} bytes served");
    // Freed pages leave after jemalloc's decay: wait for RSS to come within
    // the bound rather than sleeping a fixed time. Before the fix the cache's
    // doubled buffers, SQLite's page cache on each pooled connection and
    // jemalloc's dirty pages kept ~70 MiB.
    let bound_kib = BUDGET * 5 / 4 / 1024;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let mut grown_kib = rss_kib(pid).saturating_sub(before);
    while grown_kib > bound_kib && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
        grown_kib = rss_kib(pid).saturating_sub(before);
    }
    assert!(
        grown_kib <= bound_kib,
        "RSS grew by {} MiB with a {} MiB cache (bound {} MiB)",
        grown_kib >> 10,
        BUDGET >> 20,
        bound_kib >> 10
    );

    let cached = gauge(&client, &server.base, "slotstream_render_cache_bytes").await;
    assert!(cached <= BUDGET as f64, "cache holds {cached} bytes, budget {BUDGET}");
}

/// A document bigger than one shard's share of the budget was never cached
/// (quick_cache splits the budget over 4 shards per core: 1 MiB each of an
/// 8 MiB budget on two cores, less than one 31-day document).
#[tokio::test]
async fn the_largest_document_is_cached_within_a_small_budget() {
    let (url, providers) = seeded_database().await;
    let server = ServerProcess::start(&url, &["--render-cache-bytes", &(8 << 20).to_string()]).await;
    let client = reqwest::Client::builder().timeout(Duration::from_secs(120)).build().unwrap();
    let provider = &providers[1];
    let today = dense_calendar(&server, &client, provider).await;
    let url = server.url(&format!(
        "/api/v1/providers/{}/availability?startDate={}&days=31",
        provider.id,
        today + chrono::Days::new(1)
    ));
    let response = client.get(url).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let length = response.bytes().await.unwrap().len();
    assert!(length > 1 << 20, "a large document: {length} bytes");
    let cached = gauge(&client, &server.base, "slotstream_render_cache_bytes").await;
    assert!(cached >= length as f64, "the {length}-byte document is cached: the cache holds {cached} bytes");
}

/// Documents the budget cannot keep are counted as they go
/// (`slotstream_render_cache_evictions_total`, which the operator's alert on
/// a cache too small for what clients read watches), and none while they fit.
#[tokio::test]
async fn documents_the_budget_cannot_keep_are_counted_as_evictions() {
    let (url, providers) = seeded_database().await;
    const BUDGET: usize = 64 * 1024;
    let server = ServerProcess::start(&url, &["--render-cache-bytes", &BUDGET.to_string()]).await;
    let client = reqwest::Client::builder().timeout(Duration::from_secs(60)).build().unwrap();
    let today = chrono::Utc::now().date_naive();
    let mut served = 0;
    for start in 1..=12 {
        let url = server.url(&format!(
            "/api/v1/providers/{}/availability?startDate={}&days=7",
            providers[0].id,
            today + chrono::Days::new(start)
        ));
        let response = client.get(url).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        served += response.bytes().await.unwrap().len();
        if start == 1 {
            let evicted = counter(&client, &server.base, "slotstream_render_cache_evictions_total").await;
            assert_eq!(evicted, 0, "one document fits");
        }
    }
    assert!(served > 2 * BUDGET, "the documents are more than the budget: {served} bytes served");
    let evicted = counter(&client, &server.base, "slotstream_render_cache_evictions_total").await;
    assert!(evicted > 0, "{served} bytes of documents in a {BUDGET}-byte cache, none evicted");
    assert!(evicted < 12, "some documents are kept: {evicted} of 12 evicted");
    let cached = gauge(&client, &server.base, "slotstream_render_cache_bytes").await;
    assert!(cached <= BUDGET as f64, "cache holds {cached} bytes, budget {BUDGET}");
}

/// 31 days (from tomorrow) of 5-minute slots round the clock for `provider`:
/// about 1.7 MB per 31-day document. Returns today.
async fn dense_calendar(
    server: &ServerProcess,
    client: &reqwest::Client,
    provider: &SeededProvider,
) -> chrono::NaiveDate {
    let today = chrono::Utc::now().date_naive();
    let dates: Vec<String> = (1..=31).map(|n| (today + chrono::Days::new(n)).to_string()).collect();
    let created = client
        .post(server.url(&format!("/api/v1/providers/{}/slots", provider.id)))
        .bearer_auth(&provider.key)
        .json(&json!({ "dates": dates, "open": "00:00", "close": "24:00", "slotMinutes": 5 }))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::CREATED, "{}", created.text().await.unwrap());
    today
}
