//! The served OpenAPI document against the answers themselves: every JSON operation is asked
//! with real ids from the fixture's chain, and its answer must validate against the schema the
//! document gives for that status (JSON Schema 2020-12, which OpenAPI 3.1 schemas are).

use serde_json::{json, Value};

use super::Fixture;
use ferrite_tests::http::get;

/// Resolves a local `#/a/b` reference in `doc`.
fn resolve<'a>(doc: &'a Value, reference: &str) -> &'a Value {
    let path = reference.strip_prefix("#/").unwrap_or(reference);
    path.split('/')
        .try_fold(doc, |v, part| v.get(part))
        .unwrap_or_else(|| panic!("unresolved {reference}"))
}

/// The JSON schema of `op`'s answer with `status`, if it answers JSON.
fn answer_schema<'a>(doc: &'a Value, op: &'a Value, status: u16) -> Option<&'a Value> {
    let mut response = op["responses"].get(status.to_string())?;
    if let Some(r) = response["$ref"].as_str() {
        response = resolve(doc, r);
    }
    response["content"]
        .get("application/json")
        .map(|c| &c["schema"])
}

/// Checks `answer` against `schema`, which may refer into `doc`'s components.
fn validate(doc: &Value, schema: &Value, answer: &Value, what: &str) {
    // The whole document is the root, so `#/components/...` references resolve; its other
    // keys are not schema keywords and are ignored.
    let mut root = doc.clone();
    root["$schema"] = json!("https://json-schema.org/draft/2020-12/schema");
    root["allOf"] = json!([schema]);
    let validator = jsonschema::validator_for(&root)
        .unwrap_or_else(|e| panic!("{what}: the document's schema does not compile: {e}"));
    let errors: Vec<String> = validator
        .iter_errors(answer)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "{what} answered\n{answer:#}\nagainst its schema: {errors:#?}"
    );
}

/// Checks the 200 answer of `GET pattern` (a path of the document, asked with real values)
/// against the document's schema for it.
pub(super) fn check_answer(f: &Fixture, pattern: &str, answer: &Value) {
    let doc = get(f.http, "/api/openapi.json").json();
    let op = &doc["paths"][pattern]["get"];
    let schema = answer_schema(&doc, op, 200).unwrap_or_else(|| panic!("{pattern}: no schema"));
    validate(&doc, schema, answer, pattern);
}

/// Real values for each path parameter: a block 20 deep and one of its transfers, its sender,
/// and a history cursor of that sender.
fn parameters(f: &Fixture) -> Vec<(&'static str, String)> {
    let p = super::prefix();
    let b = &f.blocks[9];
    let t = &b.txs[2];
    let sender = t.tx.sender_address();
    let first_page = get(
        f.http,
        &format!("/api/address/{}/txs", sender.to_bech32(&p)),
    )
    .json();
    let cursor = first_page[0]["txid"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    vec![
        ("hash", b.hash().to_string()),
        ("txid", t.id().to_string()),
        ("address", sender.to_bech32(&p)),
        ("height", b.header.height.to_string()),
        ("start_height", b.header.height.to_string()),
        ("start", "0".into()),
        ("last_seen_txid", cursor),
    ]
}

pub(super) fn every_answer_matches_its_schema(f: &Fixture) {
    let doc = get(f.http, "/api/openapi.json").json();
    let values = parameters(f);
    let mut checked = 0;
    for (pattern, item) in doc["paths"].as_object().unwrap() {
        let Some(op) = item.get("get") else { continue };
        let mut path = pattern.clone();
        for (name, value) in &values {
            path = path.replace(&format!("{{{name}}}"), value);
        }
        assert!(!path.contains('{'), "no value for a parameter of {pattern}");
        if pattern == "/api/events" {
            continue; // a stream that stays open; its events are checked in event_stream_*
        }
        let r = get(f.http, &path);
        let documented = op["responses"].get(r.status.to_string()).is_some();
        assert!(documented, "{path}: status {} is not documented", r.status);
        if let Some(schema) = answer_schema(&doc, op, r.status) {
            validate(&doc, schema, &r.json(), &path);
            checked += 1;
        }
    }
    // Every JSON GET but the event stream and /ready's 503 side.
    assert!(checked >= 20, "only {checked} answers checked");

    // Errors validate against the error schema too.
    let bad = get(f.http, "/api/block/zz");
    let op = &doc["paths"]["/api/block/{hash}"]["get"];
    let schema = answer_schema(&doc, op, 400).unwrap();
    validate(&doc, schema, &bad.json(), "/api/block/zz");
}

/// The check itself can fail: a block answer with the nonce as a number (as before it became a
/// string), or without its id, is refused by the document's schema.
pub(super) fn a_wrong_answer_fails_the_check(f: &Fixture) {
    let doc = get(f.http, "/api/openapi.json").json();
    let op = &doc["paths"]["/api/block/{hash}"]["get"];
    let schema = answer_schema(&doc, op, 200).unwrap();
    let good = get(f.http, &format!("/api/block/{}", f.blocks[3].hash())).json();
    validate(&doc, schema, &good, "a real block");
    let mut number_nonce = good.clone();
    number_nonce["nonce"] = json!(12345);
    let mut no_id = good;
    no_id.as_object_mut().unwrap().remove("id");
    for (what, bad) in [("a numeric nonce", number_nonce), ("no id", no_id)] {
        let failed = std::panic::catch_unwind(|| validate(&doc, schema, &bad, what)).is_err();
        assert!(failed, "{what} passed the document's schema");
    }
}
