//! Builds the page's files (`static/`) into the binary (memory-serve), so a
//! binary copied anywhere serves the page it was built with (`http::page`).
//! Embedded in every build, debug ones included, so the tests run what
//! ships; release builds also store them brotli-compressed. Cargo reruns
//! this when a file under `static/` changes.

fn main() {
    memory_serve::load_directory_with_embed("static", true);
}
