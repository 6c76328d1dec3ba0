//! The admin API as a test drives it: a server with an operator token (the
//! token in a scratch file), and requests with that token.

use reqwest::StatusCode;
use serde_json::Value;
use uuid::Uuid;

use super::server::TestApp;

/// A scratch directory removed on drop.
pub mod tempdir {
    use std::path::PathBuf;

    pub struct Dir(pub PathBuf);

    impl Dir {
        pub fn new() -> Dir {
            let dir = std::env::temp_dir().join(format!("slotstream-test-{}", uuid::Uuid::new_v4().simple()));
            std::fs::create_dir_all(&dir).unwrap();
            Dir(dir)
        }

        pub fn file(&self, name: &str, text: &str) -> PathBuf {
            let path = self.0.join(name);
            std::fs::write(&path, text).unwrap();
            path
        }
    }

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// A fresh operator token and the file holding it.
pub fn admin_token_file() -> (String, tempdir::Dir, String) {
    let dir = tempdir::Dir::new();
    let token = format!("admin_{}", Uuid::new_v4().simple());
    let path = dir.file("admin-token", &token).to_str().unwrap().to_owned();
    (token, dir, path)
}

/// A server with an operator token and `extra` flags; the token.
pub async fn admin_server_with(extra: &[&str]) -> (TestApp, String, tempdir::Dir) {
    let (token, dir, path) = admin_token_file();
    let mut flags = vec!["--admin-token-file", path.as_str()];
    flags.extend_from_slice(extra);
    let app = TestApp::spawn_with(&flags).await;
    (app, token, dir)
}

/// A server with an operator token; the token.
pub async fn admin_server() -> (TestApp, String, tempdir::Dir) {
    admin_server_with(&[]).await
}

/// `method path` with the operator token and a JSON body, on `base`.
pub async fn admin_at(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut request = client.request(method, format!("{base}{path}")).bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// `method path` on `app` with the operator token and a JSON body.
pub async fn admin(
    app: &TestApp,
    token: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    admin_at(&app.client, &app.base, token, method, path, body).await
}

/// `PUT path` on `app` with the operator token.
pub async fn put(app: &TestApp, token: &str, path: &str, body: Value) -> (StatusCode, Value) {
    admin(app, token, reqwest::Method::PUT, path, Some(body)).await
}
