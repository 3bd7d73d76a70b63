//! What the generated document says beyond each operation's own annotation: the links from an
//! answer to the operations its values lead to (OpenAPI `links`, which clients and
//! Schemathesis's stateful phase follow), and the refusals a schema cannot express.

use serde_json::{json, Value};

/// A link: from the operation, on its 200 answer, to the target operation, with each of the
/// target's parameters taken from a runtime expression of the source's request or answer.
type Link = (
    &'static str,
    &'static str,
    &'static [(&'static str, &'static str)],
);

/// Every link of the document.
const LINKS: &[Link] = &[
    ("getTipHash", "getBlock", &[("hash", "$response.body")]),
    ("getBlocks", "getBlock", &[("hash", "$response.body#/0/id")]),
    (
        "getBlocksFrom",
        "getBlock",
        &[("hash", "$response.body#/0/id")],
    ),
    (
        "getBlockAtHeight",
        "getBlock",
        &[("hash", "$response.body")],
    ),
    (
        "getBlock",
        "getBlockStatus",
        &[("hash", "$response.body#/id")],
    ),
    ("getBlock", "getBlockTxs", &[("hash", "$response.body#/id")]),
    (
        "getBlock",
        "getBlockTxids",
        &[("hash", "$response.body#/id")],
    ),
    ("getBlock", "getBlockRaw", &[("hash", "$response.body#/id")]),
    (
        "getBlock",
        "getAddress",
        &[("address", "$response.body#/miner")],
    ),
    (
        "getBlockTxs",
        "getTx",
        &[("txid", "$response.body#/0/txid")],
    ),
    ("getBlockTxids", "getTx", &[("txid", "$response.body#/0")]),
    ("getTx", "getTxStatus", &[("txid", "$response.body#/txid")]),
    ("getTx", "getTxRaw", &[("txid", "$response.body#/txid")]),
    (
        "getTx",
        "getTxMerkleProof",
        &[("txid", "$response.body#/txid")],
    ),
    (
        "getTx",
        "getAddress",
        &[("address", "$response.body#/from")],
    ),
    (
        "getTx",
        "getAddressTxs",
        &[("address", "$response.body#/to")],
    ),
    (
        "getTxMerkleProof",
        "getBlock",
        &[("hash", "$response.body#/block_hash")],
    ),
    (
        "getAddressTxs",
        "getAddressTxsChain",
        &[
            ("address", "$request.path.address"),
            ("last_seen_txid", "$response.body#/0/txid"),
        ],
    ),
    ("getMempoolTxids", "getTx", &[("txid", "$response.body#/0")]),
    (
        "getMempoolRecent",
        "getTx",
        &[("txid", "$response.body#/0/txid")],
    ),
    ("postTx", "getTxStatus", &[("txid", "$response.body")]),
];

/// The extension naming refusals beyond the schema: a list of `{status, error, why}`.
pub const BEYOND_SCHEMA: &str = "x-refused-beyond-schema";

/// Adds [`LINKS`] to the 200 answers of `doc`'s operations, by operation id.
pub(super) fn add_links(doc: &mut Value) {
    for (from, to, params) in LINKS {
        let Some(op) = operation_mut(doc, from) else {
            continue;
        };
        let parameters: serde_json::Map<String, Value> = params
            .iter()
            .map(|(name, expr)| ((*name).to_owned(), json!(expr)))
            .collect();
        let response = &mut op["responses"]["200"];
        if let Some(r) = response.as_object_mut() {
            let links = r.entry("links").or_insert_with(|| json!({}));
            links[*to] = json!({"operationId": to, "parameters": parameters});
        }
    }
}

/// Marks every operation that answers 400 for a value its schema allows: each one with an
/// `address` path parameter (the bech32m checksum), and `POST /api/tx` (whether the transfer
/// decodes, is signed for this chain and passes the mempool's rules).
pub(super) fn mark_beyond_schema(doc: &mut Value) {
    let checksum = json!({
        "status": 400,
        "error": "invalid_address",
        "why": "an address's 6-character bech32m checksum, which no pattern can check",
    });
    if let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) {
        for op in paths
            .values_mut()
            .filter_map(Value::as_object_mut)
            .flat_map(|m| m.values_mut())
        {
            let takes_address = op["parameters"]
                .as_array()
                .is_some_and(|ps| ps.iter().any(|p| p["name"] == "address"));
            if takes_address {
                op[BEYOND_SCHEMA] = json!([checksum]);
            }
        }
    }
    if let Some(op) = operation_mut(doc, "postTx") {
        op[BEYOND_SCHEMA] = json!([
            {"status": 400, "error": "invalid_tx",
             "why": "whether the 152 bytes decode as a signed transfer (a valid public key)"},
            {"status": 400, "error": "rejected",
             "why": "the signature, the chain it is signed for, and the mempool's rules (rule names in docs/http.md)"},
        ]);
    }
}

/// The operation with `id`.
fn operation_mut<'a>(doc: &'a mut Value, id: &str) -> Option<&'a mut Value> {
    let paths = doc.get_mut("paths")?.as_object_mut()?;
    paths
        .values_mut()
        .filter_map(Value::as_object_mut)
        .flat_map(|m| m.values_mut())
        .find(|op| op["operationId"] == id)
}
