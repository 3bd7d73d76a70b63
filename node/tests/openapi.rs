//! The served OpenAPI document matches the router: every route is documented with its method,
//! nothing documented is missing from the router, path parameters are declared, and every
//! schema reference resolves.

use std::collections::BTreeSet;

use ferrite_node::http::{routes, OPENAPI};
use serde_json::Value;

fn doc() -> Value {
    serde_json::from_str(OPENAPI).expect("openapi.json is JSON")
}

/// Resolves a local `#/a/b` reference.
fn resolve<'a>(doc: &'a Value, reference: &str) -> Option<&'a Value> {
    let path = reference.strip_prefix("#/")?;
    path.split('/').try_fold(doc, |v, part| v.get(part))
}

fn collect_refs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            if let Some(Value::String(r)) = m.get("$ref") {
                out.push(r.clone());
            }
            m.values().for_each(|v| collect_refs(v, out));
        }
        Value::Array(a) => a.iter().for_each(|v| collect_refs(v, out)),
        _ => {}
    }
}

#[test]
fn document_is_openapi_3_of_this_version() {
    let d = doc();
    assert!(d["openapi"].as_str().unwrap().starts_with("3."));
    assert_eq!(d["info"]["version"], ferrite_node::VERSION);
}

#[test]
fn every_route_is_documented_and_nothing_else() {
    let d = doc();
    let routed: BTreeSet<(String, String)> = routes()
        .iter()
        .map(|r| (r.path.to_string(), r.method.as_str().to_lowercase()))
        .collect();
    let mut documented = BTreeSet::new();
    for (path, item) in d["paths"].as_object().unwrap() {
        for method in ["get", "post", "put", "delete", "patch", "head", "options"] {
            if item.get(method).is_some() {
                documented.insert((path.clone(), method.to_string()));
            }
        }
    }
    let missing: Vec<_> = routed.difference(&documented).collect();
    let stale: Vec<_> = documented.difference(&routed).collect();
    assert!(
        missing.is_empty(),
        "routes missing from openapi.json: {missing:?}"
    );
    assert!(stale.is_empty(), "documented but not routed: {stale:?}");
}

#[test]
fn path_parameters_are_declared_and_operations_answer() {
    let d = doc();
    for (path, item) in d["paths"].as_object().unwrap() {
        let in_path: BTreeSet<&str> = path
            .split('/')
            .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .collect();
        for (method, op) in item.as_object().unwrap() {
            if method == "parameters" {
                continue;
            }
            let mut declared = BTreeSet::new();
            for p in item["parameters"]
                .as_array()
                .into_iter()
                .chain(op["parameters"].as_array())
                .flatten()
            {
                let p = match p.get("$ref").and_then(Value::as_str) {
                    Some(r) => resolve(&d, r).unwrap(),
                    None => p,
                };
                if p["in"] == "path" {
                    assert_eq!(p["required"], true, "{method} {path}");
                    declared.insert(p["name"].as_str().unwrap());
                }
            }
            assert_eq!(declared, in_path, "{method} {path}");
            let responses = op["responses"].as_object().unwrap();
            assert!(responses.contains_key("200"), "{method} {path}");
        }
    }
}

#[test]
fn every_reference_resolves() {
    let d = doc();
    let mut refs = Vec::new();
    collect_refs(&d, &mut refs);
    assert!(!refs.is_empty());
    for r in refs {
        assert!(resolve(&d, &r).is_some(), "unresolved {r}");
    }
}
