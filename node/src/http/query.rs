//! Query parameters: no operation takes one it does not declare in the OpenAPI document, so a
//! misspelt or unsupported parameter (`?limit=2`) gets 400 `unknown_parameter` naming it
//! instead of being ignored. The document is the one list of what each route takes.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::{Api, ApiError};

/// Most parameter names quoted in one error message.
const MAX_NAMED: usize = 5;
/// Longest parameter name quoted (the rest is cut): the message stays one short line.
const MAX_NAME_CHARS: usize = 40;

/// The query parameters each route pattern declares.
#[derive(Debug, Default)]
pub(super) struct Declared(HashMap<String, BTreeSet<String>>);

impl Declared {
    /// Read from the document: the `in: query` parameters of each path's operations.
    pub(super) fn from_document(doc: &Value) -> Declared {
        let mut out: HashMap<String, BTreeSet<String>> = HashMap::new();
        let Some(paths) = doc.get("paths").and_then(Value::as_object) else {
            return Declared(out);
        };
        for (path, item) in paths {
            let names = out.entry(path.clone()).or_default();
            let ops = item.as_object().into_iter().flat_map(|m| m.values());
            let params = ops.filter_map(|op| op.get("parameters").and_then(Value::as_array));
            for p in params.flatten().filter(|p| p["in"] == "query") {
                if let Some(name) = p["name"].as_str() {
                    names.insert(name.to_owned());
                }
            }
        }
        Declared(out)
    }

    /// The names in `query` that `route` does not declare, in the order given, each once.
    pub(super) fn undeclared(&self, route: &str, query: &str) -> Vec<String> {
        let declared = self.0.get(route);
        let mut out: Vec<String> = Vec::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let raw = pair.split('=').next().unwrap_or(pair);
            let name = percent_decoded(raw);
            let known = declared.is_some_and(|d| d.contains(&name));
            if !known && !out.contains(&name) {
                out.push(name);
            }
        }
        out
    }
}

/// `s` with `+` as space and `%XX` escapes decoded (bytes that are not UTF-8 shown as U+FFFD).
pub(super) fn percent_decoded(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok());
        match (bytes[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b'+', _) => {
                out.push(b' ');
                i += 1;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The error for undeclared parameters: `field` is the first, the message names up to
/// [`MAX_NAMED`].
fn refusal(names: &[String]) -> ApiError {
    let shown: Vec<String> = names
        .iter()
        .take(MAX_NAMED)
        .map(|n| format!("{:?}", n.chars().take(MAX_NAME_CHARS).collect::<String>()))
        .collect();
    let more = names.len().saturating_sub(MAX_NAMED);
    let tail = if more > 0 {
        format!(" and {more} more")
    } else {
        String::new()
    };
    ApiError::bad_param(
        "query",
        "unknown_parameter",
        format!(
            "this operation takes no query parameter {}{tail}",
            shown.join(", ")
        ),
    )
}

/// The parameters of a page's query (`raw`), each name at most once, when every name is one of
/// `allowed`; the same 400 as the API's otherwise.
pub(super) fn page_params(
    raw: Option<&str>,
    allowed: &[&str],
) -> Result<Vec<(String, String)>, ApiError> {
    let mut out: Vec<(String, String)> = Vec::new();
    let mut unknown = Vec::new();
    for pair in raw.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let name = percent_decoded(name);
        if !allowed.contains(&name.as_str()) {
            if !unknown.contains(&name) {
                unknown.push(name);
            }
        } else if out.iter().any(|(n, _)| *n == name) {
            return Err(ApiError::bad_param(
                "query",
                "repeated_parameter",
                format!("query parameter {name:?} is given more than once"),
            ));
        } else {
            out.push((name, percent_decoded(value)));
        }
    }
    if unknown.is_empty() {
        Ok(out)
    } else {
        Err(refusal(&unknown))
    }
}

/// Middleware on every routed request: 400 for a query parameter the route does not declare.
pub(super) async fn refuse_undeclared(
    State(api): State<Arc<Api>>,
    req: Request,
    next: Next,
) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(MatchedPath::as_str);
    if let (Some(route), Some(query)) = (route, req.uri().query()) {
        let names = api.queries.undeclared(route, query);
        if !names.is_empty() {
            return refusal(&names).into_response();
        }
    }
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn declared() -> Declared {
        let doc = serde_json::json!({"paths": {
            "/a": {"get": {"parameters": [
                {"name": "limit", "in": "query"}, {"name": "id", "in": "path"}]}},
            "/b": {"get": {}},
        }});
        Declared::from_document(&doc)
    }

    #[test]
    fn a_page_takes_its_own_parameters_once_and_refuses_others() {
        let ok = page_params(Some("q=ab+c%2F&after="), &["q", "after"]).unwrap();
        assert_eq!(
            ok,
            [("q".into(), "ab c/".into()), ("after".into(), "".into())]
        );
        assert!(page_params(None, &[]).unwrap().is_empty());
        let e = page_params(Some("q=1&limit=2&x"), &["q"]).unwrap_err();
        assert_eq!((e.code, e.field), ("unknown_parameter", Some("query")));
        assert!(e.message.contains("\"limit\", \"x\""), "{}", e.message);
        let e = page_params(Some("q=1&q=2"), &["q"]).unwrap_err();
        assert_eq!(e.code, "repeated_parameter");
    }

    #[test]
    fn only_declared_query_parameters_pass() {
        let d = declared();
        assert!(d.undeclared("/a", "limit=2").is_empty());
        assert_eq!(d.undeclared("/a", "id=1&limit=2"), ["id"]);
        assert_eq!(d.undeclared("/b", "limit=2&x&limit=3"), ["limit", "x"]);
        assert!(d.undeclared("/b", "").is_empty());
        assert_eq!(d.undeclared("/unknown", "q=1"), ["q"]);
    }

    #[test]
    fn names_are_percent_decoded_and_the_message_names_them() {
        let d = declared();
        assert_eq!(
            d.undeclared("/a", "li%6Dit=1&a+b=2&%FF=3"),
            ["a b", "\u{fffd}"]
        );
        let e = refusal(&["x".into(), "y".into()]);
        assert_eq!((e.code, e.field), ("unknown_parameter", Some("query")));
        assert!(e.message.contains("\"x\", \"y\""), "{}", e.message);
        let many: Vec<String> = (0..9).map(|i| i.to_string()).collect();
        assert!(refusal(&many).message.ends_with("and 4 more"));
    }
}
