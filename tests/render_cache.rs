//! The render cache is bounded in bytes: many distinct queries over a dense
//! calendar cannot grow the server's memory without bound.

mod common;

use std::time::Duration;

use common::*;
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn many_distinct_queries_on_a_dense_calendar_keep_memory_bounded() {
    let (url, providers) = seeded_database().await;
    const BUDGET: u64 = 8 * 1024 * 1024;
    let budget = BUDGET.to_string();
    let server = ServerProcess::start(&url, &["--render-cache-bytes", &budget]).await;
    let client = reqwest::Client::builder().timeout(Duration::from_secs(120)).build().unwrap();
    let provider = &providers[1];

    // 31 days of 5-minute slots round the clock: about 1.7 MB per 31-day document.
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
    get(1, 31).await;
    let before = rss_kib(pid);
    let mut served = 0;
    for start in 1..=10 {
        for days in 16..=31 {
            served += get(start, days).await;
        }
    }
    let grown_mib = rss_kib(pid).saturating_sub(before) / 1024;
    assert!(served > 150 * 1024 * 1024, "the queries are large: {served} bytes served");
    // Unbounded, the 160 documents alone stay resident (~200 MiB).
    assert!(grown_mib < 100, "RSS grew by {grown_mib} MiB with a {} MiB cache", BUDGET >> 20);

    let cached = gauge(&client, &server.base, "slotstream_render_cache_bytes").await;
    assert!(cached <= BUDGET as f64, "cache holds {cached} bytes, budget {BUDGET}");
}
