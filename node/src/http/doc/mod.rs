//! The OpenAPI 3.1 document, generated: the answer types' schemas come from `ferrite-api`,
//! each operation from its handler's `#[utoipa::path]`, and the router is built from the same
//! annotations (`mod.rs`), so a route cannot go undocumented. What is fixed for the whole
//! document (title, tags, shared responses and headers) is here; what depends on the chain
//! (the address pattern) is filled in when the node starts.

mod links;

pub use links::BEYOND_SCHEMA;

use ferrite_api::ErrorBody;
use serde_json::Value;
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::openapi::{KnownFormat, RefOr, SchemaFormat};
use utoipa::{OpenApi, PartialSchema, ToResponse, ToSchema};

/// A fixed part of the document.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Ferrite node HTTP API",
        description = "A read-mostly explorer API over a Ferrite node, shaped like Esplora's \
            (docs/http.md).\n\n\
            - Hashes are 64 hex digits in the hash's byte order (answers use lower case; paths \
            take either), addresses bech32m with the chain's prefix. Integers that can exceed \
            2^53 (amounts, the block nonce, the difficulty) are decimal strings.\n\
            - Errors are `{\"error\": CODE, \"field\": PARAM-OR-NULL, \"message\": TEXT}`. An \
            unknown route answers 404 with that object, a query parameter an operation does \
            not declare 400 `unknown_parameter`, any route 408 when a request takes over 10 s, \
            and a known route 405 for a method it does not serve.\n\
            - What a schema cannot say: an address's bech32m checksum (a well-formed address \
            with a wrong checksum gets 400 `invalid_address`), and whether a transfer's \
            signature, chain and nonce are valid (`POST /api/tx` answers 400 `rejected` with the \
            rule). Every operation's description names the cases it refuses beyond its schema.\n\
            - CORS: any origin may GET.",
        license(name = "MIT OR Apache-2.0")
    ),
    servers((url = "/")),
    tags(
        (name = "blocks", description = "Blocks and the tip."),
        (name = "transactions", description = "Transfers: lookup, proofs, submission."),
        (name = "addresses", description = "Accounts and their history."),
        (name = "mempool", description = "Pending transfers and fees."),
        (name = "node", description = "The node, its peers and its events."),
        (name = "operations", description = "Health, readiness and metrics."),
    ),
    components(
        schemas(
            ferrite_api::HashHex,
            ferrite_api::TipEvent,
            ferrite_api::TxEvent,
            ferrite_api::LaggedEvent,
        ),
        responses(BadRequest, NotFound, Internal, ServiceUnavailable, PayloadTooLarge),
    )
)]
pub struct Fixed;

/// A parameter or the body does not parse or was refused (`field` names it).
#[derive(ToResponse)]
#[allow(dead_code)]
pub struct BadRequest(ErrorBody);

/// The node does not know the object, or the page is past the end.
#[derive(ToResponse)]
#[allow(dead_code)]
pub struct NotFound(ErrorBody);

/// The node failed to read its store; details are in its log.
#[derive(ToResponse)]
#[allow(dead_code)]
pub struct Internal(ErrorBody);

/// Too many event streams are open (`too_many_streams`), or the node is at its connection cap
/// (`too_many_connections`).
#[derive(ToResponse)]
#[allow(dead_code)]
pub struct ServiceUnavailable(ErrorBody);

/// The body is over 16 KiB (`too_large`).
#[derive(ToResponse)]
#[allow(dead_code)]
pub struct PayloadTooLarge(ErrorBody);

/// The schema of a raw encoding (`application/octet-stream`).
pub struct RawBytes;

impl PartialSchema for RawBytes {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Binary)))
            .into()
    }
}

impl ToSchema for RawBytes {}

/// The schema of `POST /api/tx`'s body: a signed transfer's 152 bytes in hex, either case,
/// with ASCII white space around it allowed (it is trimmed).
pub struct SignedTxHex;

impl PartialSchema for SignedTxHex {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .pattern(Some(r"^[ \t\r\n\f]*[0-9a-fA-F]{304}[ \t\r\n\f]*$"))
            .into()
    }
}

impl ToSchema for SignedTxHex {}

/// The schema of a plain-text decimal answer (the tip height).
pub struct DecimalText;

impl PartialSchema for DecimalText {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .pattern(Some(ferrite_api::DECIMAL_PATTERN))
            .into()
    }
}

impl ToSchema for DecimalText {}

/// The schema of a server-sent event stream's body.
pub struct EventStream;

impl PartialSchema for EventStream {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .description(Some(
                "`event: NAME` and `data: JSON` lines, a blank line after each event; the data \
                 of `tip` is a TipEvent, of `tx` a TxEvent, of `lagged` a LaggedEvent.",
            ))
            .into()
    }
}

impl ToSchema for EventStream {
    fn name() -> std::borrow::Cow<'static, str> {
        std::borrow::Cow::Borrowed("ServerSentEvent")
    }
}

/// The whole document for a chain with addresses under `prefix`: `routed` (what the router's
/// annotations gave) merged into the fixed part, with each `address` parameter's pattern made
/// exact for the chain (its prefix, and a lower- or upper-case body of the one length an
/// address has).
pub fn document(routed: utoipa::openapi::OpenApi, prefix: &str) -> Value {
    let mut doc = Fixed::openapi();
    doc.merge(routed);
    doc.info.version = crate::VERSION.to_owned();
    let mut json = serde_json::to_value(&doc).unwrap_or(Value::Null);
    set_address_patterns(&mut json, &address_pattern(prefix));
    links::add_links(&mut json);
    links::mark_beyond_schema(&mut json);
    json
}

/// Characters of an address after the prefix's `1`: 52 for the 32-byte hash, 6 of checksum.
const ADDRESS_DATA_CHARS: usize = 58;

/// The pattern of an address under `prefix`, in either case (bech32m forbids mixed case).
pub fn address_pattern(prefix: &str) -> String {
    const CHARSET: &str = "qpzry9x8gf2tvdw0s3jn54khce6mua7l";
    let lower = regex_escape(&prefix.to_ascii_lowercase());
    let upper = regex_escape(&prefix.to_ascii_uppercase());
    let upper_set = CHARSET.to_ascii_uppercase();
    format!(
        "^({lower}1[{CHARSET}]{{{n}}}|{upper}1[{upper_set}]{{{n}}})$",
        n = ADDRESS_DATA_CHARS
    )
}

/// `s` with the characters a regular expression gives a meaning escaped (a prefix is letters
/// and digits, so this is a guard, not a need).
fn regex_escape(s: &str) -> String {
    s.chars()
        .flat_map(|c| {
            let special = !c.is_ascii_alphanumeric();
            special.then_some('\\').into_iter().chain([c])
        })
        .collect()
}

/// Sets the pattern of every path parameter named `address`.
fn set_address_patterns(doc: &mut Value, pattern: &str) {
    let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) else {
        return;
    };
    for item in paths.values_mut() {
        let Some(ops) = item.as_object_mut() else {
            continue;
        };
        for op in ops.values_mut() {
            let Some(params) = op.get_mut("parameters").and_then(Value::as_array_mut) else {
                continue;
            };
            for p in params.iter_mut().filter(|p| p["name"] == "address") {
                if let Some(schema) = p.get_mut("schema").and_then(Value::as_object_mut) {
                    schema.insert("pattern".into(), pattern.into());
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_address_pattern_takes_this_chains_addresses_in_either_case_only() {
        let prefix = ferrite_core::AddressPrefix::new("tfr").unwrap();
        let a = ferrite_core::Address::from_public_key(
            &ferrite_core::SecretKey::from_bytes(&[7; 32]).public_key(),
        )
        .to_bech32(&prefix);
        let re = regex_lite::Regex::new(&address_pattern("tfr")).unwrap();
        assert!(re.is_match(&a), "{a}");
        assert!(re.is_match(&a.to_ascii_uppercase()));
        let mixed = format!("{}{}", &a[..10], a[10..].to_ascii_uppercase());
        assert!(!re.is_match(&mixed));
        assert!(!re.is_match(&a.replacen("tfr", "dfr", 1)));
        assert!(!re.is_match(&a[..a.len() - 1]));
    }
}
