//! The generated OpenAPI document is whole: it is OpenAPI 3.1 of this version, every path
//! parameter is declared, every schema reference resolves, integers beyond 2^53 are strings,
//! and the address pattern is the chain's. (The router and the document come from the same
//! annotations; `tests/tests/http.rs` checks real answers against the schemas.)

use std::collections::BTreeSet;

use serde_json::Value;

fn doc() -> Value {
    ferrite_node::http::document("tfr")
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
    assert!(d["openapi"].as_str().unwrap().starts_with("3.1"));
    assert_eq!(d["info"]["version"], ferrite_node::VERSION);
}

#[test]
fn every_operation_is_there_with_an_id_a_tag_and_a_summary() {
    let d = doc();
    let mut ids = BTreeSet::new();
    let mut count = 0;
    for (path, item) in d["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            count += 1;
            let id = op["operationId"]
                .as_str()
                .unwrap_or_else(|| panic!("{method} {path}"));
            assert!(ids.insert(id.to_owned()), "operation id {id} twice");
            assert!(op["tags"][0].is_string(), "{method} {path}");
            assert!(op["summary"].is_string(), "{method} {path}");
        }
    }
    // Every route of docs/http.md: 26 under /api, and /metrics, /healthy, /ready.
    assert_eq!(count, 30);
    for path in ["/api/block/{hash}", "/api/tx", "/api/events", "/ready"] {
        assert!(d["paths"].get(path).is_some(), "{path}");
    }
}

#[test]
fn integers_beyond_2_53_are_strings() {
    let d = doc();
    let schemas = &d["components"]["schemas"];
    for (schema, field) in [
        ("Block", "nonce"),
        ("Block", "difficulty"),
        ("Tx", "amount"),
        ("Tx", "fee"),
        ("Address", "balance"),
    ] {
        let prop = &schemas[schema]["properties"][field];
        let prop = match prop["$ref"].as_str() {
            Some(r) => resolve(&d, r).unwrap(),
            None => prop,
        };
        assert_eq!(prop["type"], "string", "{schema}.{field}: {prop}");
    }
}

#[test]
fn the_address_parameter_has_the_chains_pattern_and_heights_their_bounds() {
    let d = doc();
    let params = d["paths"]["/api/address/{address}"]["get"]["parameters"]
        .as_array()
        .unwrap();
    let pattern = params[0]["schema"]["pattern"].as_str().unwrap();
    assert_eq!(pattern, ferrite_node::http::address_pattern("tfr"));
    assert!(pattern.starts_with("^(tfr1"), "{pattern}");
    let height = &d["paths"]["/api/block-height/{height}"]["get"]["parameters"][0]["schema"];
    assert_eq!(height["maximum"], serde_json::json!(u64::MAX), "{height}");
    assert_eq!(height["minimum"], 0);
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

/// Every operation by id, with its path.
fn operations(d: &Value) -> Vec<(String, String, Value)> {
    let mut out = Vec::new();
    for (path, item) in d["paths"].as_object().unwrap() {
        for op in item.as_object().unwrap().values() {
            let id = op["operationId"].as_str().unwrap().to_owned();
            out.push((id, path.clone(), op.clone()));
        }
    }
    out
}

#[test]
fn every_link_leads_to_an_operation_and_fills_exactly_its_path_parameters() {
    let d = doc();
    let ops = operations(&d);
    let mut links = 0;
    for (id, _, op) in &ops {
        let Some(found) = op["responses"]["200"]["links"].as_object() else {
            continue;
        };
        for link in found.values() {
            links += 1;
            let target = link["operationId"].as_str().unwrap();
            let (_, path, _) = ops
                .iter()
                .find(|(i, _, _)| i == target)
                .unwrap_or_else(|| panic!("{id} links to unknown {target}"));
            let wanted: BTreeSet<&str> = path
                .split('/')
                .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
                .collect();
            let given: BTreeSet<&str> = link["parameters"]
                .as_object()
                .unwrap()
                .keys()
                .map(String::as_str)
                .collect();
            assert_eq!(given, wanted, "{id} -> {target}");
        }
    }
    assert!(links >= 20, "{links} links");
}

#[test]
fn refusals_a_schema_cannot_express_are_named_where_they_happen() {
    let d = doc();
    let key = ferrite_node::http::BEYOND_SCHEMA;
    let marked: BTreeSet<String> = operations(&d)
        .into_iter()
        .filter(|(_, _, op)| op[key].is_array())
        .map(|(id, _, _)| id)
        .collect();
    let want: BTreeSet<String> = [
        "getAddress",
        "getAddressTxs",
        "getAddressTxsChain",
        "postTx",
    ]
    .map(String::from)
    .into();
    assert_eq!(marked, want);
    let post = &d["paths"]["/api/tx"]["post"];
    assert_eq!(post[key][1]["error"], "rejected");
    let body = &post["requestBody"]["content"]["text/plain"]["schema"];
    let body = match body["$ref"].as_str() {
        Some(r) => resolve(&d, r).unwrap(),
        None => body,
    };
    let re = regex_lite::Regex::new(body["pattern"].as_str().unwrap()).unwrap();
    assert!(re.is_match(&format!("{}\n", "aB".repeat(152))));
    assert!(!re.is_match(&"ab".repeat(151)));
}
