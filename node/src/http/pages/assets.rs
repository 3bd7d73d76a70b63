//! The explorer's static files, compiled into the binary: a stylesheet, one small script and
//! an icon. Each is served under a name carrying a digest of its content
//! (`/assets/style.1a2b3c4d.css`), so it can be cached for a year: a new build with a changed
//! file has a new name, and pages link to the name of the build that serves them.

use std::sync::LazyLock;

use axum::extract::Path;
use axum::http::header;
use axum::response::{IntoResponse, Response};

use crate::http::ApiError;

/// One embedded file.
pub struct Asset {
    /// The name pages link to, with the digest: `style.1a2b3c4d.css`.
    pub name: String,
    /// Its `Content-Type`.
    pub content_type: &'static str,
    /// Its bytes.
    pub body: &'static [u8],
}

impl Asset {
    fn new(stem: &str, ext: &str, content_type: &'static str, body: &'static [u8]) -> Asset {
        let digest = blake3::hash(body).to_hex();
        Asset {
            name: format!("{stem}.{}.{ext}", &digest[..8]),
            content_type,
            body,
        }
    }

    /// The path a page links to.
    pub fn path(&self) -> String {
        format!("/assets/{}", self.name)
    }
}

/// The stylesheet.
pub static STYLE: LazyLock<Asset> = LazyLock::new(|| {
    Asset::new(
        "style",
        "css",
        "text/css; charset=utf-8",
        include_bytes!("assets/style.css"),
    )
});
/// The script: ages that count up, and live parts of a page.
pub static SCRIPT: LazyLock<Asset> = LazyLock::new(|| {
    Asset::new(
        "live",
        "js",
        "text/javascript; charset=utf-8",
        include_bytes!("assets/live.js"),
    )
});
/// The icon.
pub static ICON: LazyLock<Asset> = LazyLock::new(|| {
    Asset::new(
        "icon",
        "svg",
        "image/svg+xml",
        include_bytes!("assets/favicon.svg"),
    )
});

/// `GET /assets/{name}`: a file by its digest name, cacheable for a year; 404 for any other
/// name (an old page asking for the file of an older build included).
pub(super) async fn asset(Path(name): Path<String>) -> Response {
    let all: [&Asset; 3] = [&STYLE, &SCRIPT, &ICON];
    match all.into_iter().find(|a| a.name == name) {
        Some(a) => (
            [
                (header::CONTENT_TYPE, a.content_type),
                (header::CACHE_CONTROL, "public, max-age=31536000, immutable"),
            ],
            a.body,
        )
            .into_response(),
        None => ApiError::not_found(format!("no asset {name:?} in this build")).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_carry_the_digest_of_the_content() {
        let digest = blake3::hash(STYLE.body).to_hex();
        assert_eq!(STYLE.name, format!("style.{}.css", &digest[..8]));
        assert!(SCRIPT.name.starts_with("live.") && SCRIPT.name.ends_with(".js"));
        assert_ne!(STYLE.name, SCRIPT.name);
    }
}
