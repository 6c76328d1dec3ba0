//! The page's files travel inside the binary: a binary copied alone to a
//! machine without the source tree serves the page it was built with, each
//! file with its type, its bytes, a tag for revalidation and its compressed
//! forms; `--static-dir` still serves a folder from disk instead.

mod common;

use std::path::{Path, PathBuf};

use common::*;
use reqwest::StatusCode;

/// The source tree's page folder, which the tests compare against.
fn source_static() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("static")
}

/// A new empty folder under the system's temporary directory, removed on drop.
struct TempFolder(PathBuf);

impl TempFolder {
    fn new(label: &str) -> TempFolder {
        let path = std::env::temp_dir().join(format!("slotstream-{label}-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&path).expect("create temporary folder");
        TempFolder(path)
    }
}

impl Drop for TempFolder {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[tokio::test]
async fn a_binary_copied_alone_to_an_empty_folder_serves_the_page_it_was_built_with() {
    let folder = TempFolder::new("alone");
    let binary = folder.0.join("slotstream");
    std::fs::copy(env!("CARGO_BIN_EXE_slotstream"), &binary).expect("copy the binary");
    let database_url = format!("sqlite://{}?mode=rwc", folder.0.join("slotstream.db").display());
    // Another machine has no source tree: the server runs in a mount
    // namespace of its own where the tree it was built from is an empty
    // tmpfs (a failed mount stops it before it starts).
    let mut command = tokio::process::Command::new("unshare");
    command
        .args(["--map-root-user", "--mount", "sh", "-c", r#"mount -t tmpfs tmpfs "$0" && exec "$@""#])
        .arg(env!("CARGO_MANIFEST_DIR"))
        .arg(&binary)
        .current_dir(&folder.0);
    let server = ServerProcess::start_command(command, &database_url, &[]).await;
    let client = reqwest::Client::builder().timeout(CLIENT_TIMEOUT).build().expect("client");

    for (path, file, content_type) in [
        ("/", "index.html", "text/html"),
        ("/slotstream.js", "slotstream.js", "text/javascript"),
        ("/providers.html", "providers.html", "text/html"),
        ("/favicon.ico", "favicon.ico", "image/x-icon"),
        ("/style.css", "style.css", "text/css"),
        ("/app/booking.js", "app/booking.js", "text/javascript"),
        // The client package's React hook, importable by URL (README, "TypeScript and React").
        ("/react/use-availability.js", "react/use-availability.js", "text/javascript"),
    ] {
        let expected = std::fs::read(source_static().join(file)).expect("read the source file");
        let response = client.get(server.url(path)).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        assert_eq!(response.headers()["content-type"], content_type, "{path}");
        assert_eq!(response.headers()["cache-control"], "no-cache", "{path}");
        let tag = response.headers().get("etag").unwrap_or_else(|| panic!("{path}: no ETag")).clone();
        assert!(response.bytes().await.unwrap() == expected, "{path}: other bytes than static/{file}");
        let again = client.get(server.url(path)).header("if-none-match", &tag).send().await.unwrap();
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED, "{path}");
        assert_eq!(again.headers()["etag"], tag, "{path}");
    }

    // Text files also come compressed, as the client asks; a tag names the
    // file in any encoding, so it is weak, and revalidates either form.
    for encoding in ["br", "gzip"] {
        let expected = std::fs::read(source_static().join("slotstream.js")).unwrap();
        let response =
            client.get(server.url("/slotstream.js")).header("accept-encoding", encoding).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{encoding}");
        assert_eq!(response.headers()["content-encoding"], encoding);
        assert_eq!(response.headers()["vary"], "accept-encoding");
        let tag = response.headers()["etag"].clone();
        assert!(tag.to_str().unwrap().starts_with("W/\""), "{encoding}: {tag:?}");
        let body = response.bytes().await.unwrap();
        assert!(body.len() < expected.len(), "{encoding}: not smaller");
        assert!(decode(encoding, &body) == expected, "{encoding}: other bytes than static/slotstream.js");
        let again = client
            .get(server.url("/slotstream.js"))
            .header("accept-encoding", encoding)
            .header("if-none-match", &tag)
            .send()
            .await
            .unwrap();
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED, "{encoding}");
    }

    // Neither a route nor a file: the API's 404.
    for path in ["/nope.js", "/app/", "/..%2fCargo.toml"] {
        let response = client.get(server.url(path)).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
        assert_eq!(response.headers()["content-type"], "application/problem+json", "{path}");
    }
}

#[tokio::test]
async fn static_dir_serves_the_page_from_disk_instead() {
    let folder = TempFolder::new("static-dir");
    for file in ["index.html", "slotstream.js", "favicon.ico"] {
        std::fs::copy(source_static().join(file), folder.0.join(file)).expect("copy a page file");
    }
    let mut changed = std::fs::read(folder.0.join("slotstream.js")).unwrap();
    changed.extend_from_slice(b"\n// changed on disk\n");
    std::fs::write(folder.0.join("slotstream.js"), &changed).unwrap();
    let dir = folder.0.display().to_string();
    let app = TestApp::spawn_with(&["--static-dir", &dir]).await;

    let response = app.client.get(app.url("/slotstream.js")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "text/javascript");
    assert_eq!(response.headers()["cache-control"], "no-cache");
    assert!(response.bytes().await.unwrap() == changed, "the folder's file, not the binary's");
    // Only the folder: a file the binary carries but the folder lacks is not there.
    let response = app.client.get(app.url("/providers.html")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let response = app.client.get(app.url("/")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.bytes().await.unwrap() == std::fs::read(source_static().join("index.html")).unwrap());
}
